import { MinnowError, formatShape } from '../errors.js';
import { keep, scope } from '../memory.js';
import { full } from '../ops/creation.js';
import { add } from '../ops/primitives.js';
import type { PrimOp } from '../ops/table.js';
import { shapesEqual } from '../shape.js';
import { Tensor, autogradHooks, type BackwardOptions } from '../tensor.js';
import { GRADIENTS, type GradientContext, type GradientRule } from './gradients.js';
import { GradNode, noGrad } from './graph.js';

/**
 * backward(): walks the tape from `root` in reverse recording order, runs each node's gradient
 * rule, sums the gradients reaching each node, and accumulates the ones reaching leaves into their
 * `.grad`. Every tensor made on the way is disposed except the `.grad` results, and every node
 * visited is released (its saved tensors freed) unless `retainGraph`.
 */
export function backward(root: Tensor, gradient: Tensor | undefined, options: BackwardOptions): void {
  const described = `tensor #${root.id} ${root.dtype}${formatShape(root.shape)}`;
  if (!root.requiresGrad) {
    throw new MinnowError('NO_GRAPH', `backward: ${described} does not require grad: no recorded op leads to it from a tensor that requires grad (requireGrad() the leaves, outside noGrad)`);
  }
  checkSeed(root, described, gradient);
  const nodes = root.gradNode ? collect(root.gradNode, described) : [];
  for (const node of nodes) node.ref(); // nothing on the walk is released before its turn
  const pending = new Map<GradNode, Tensor>();
  const leaves = new Map<Tensor, Tensor>();
  try {
    noGrad(() => {
      const seed = gradient ? gradient.detach() : full(root.shape, 1, { dtype: root.dtype, backend: root.backend.name });
      if (root.gradNode) pending.set(root.gradNode, seed);
      else leaves.set(root, seed);
      for (const node of nodes) {
        const g = pending.get(node);
        pending.delete(node);
        if (g) propagate(node, g, pending, leaves);
        if (!options.retainGraph) node.release();
      }
      for (const [leaf, g] of leaves) {
        leaves.delete(leaf);
        accumulate(leaf, g);
      }
    });
  } catch (error) {
    for (const t of pending.values()) t.dispose();
    for (const t of leaves.values()) t.dispose();
    throw error;
  } finally {
    for (const node of nodes) node.unref();
  }
}

autogradHooks.backward = backward;

function checkSeed(root: Tensor, described: string, gradient: Tensor | undefined): void {
  if (gradient === undefined) {
    if (root.size !== 1) {
      throw new MinnowError('INVALID_SHAPE', `backward: ${described} is not a scalar; pass a gradient of shape ${formatShape(root.shape)}`);
    }
    return;
  }
  if (!(gradient instanceof Tensor)) throw new MinnowError('INVALID_ARGUMENT', `backward: gradient must be a Tensor, got ${gradient === null ? 'null' : typeof gradient}`);
  gradient.view(); // DISPOSED
  if (!shapesEqual(gradient.shape, root.shape)) {
    throw new MinnowError('SHAPE_MISMATCH', `backward: gradient of shape ${formatShape(gradient.shape)} for ${described}`);
  }
  if (gradient.dtype !== root.dtype) throw new MinnowError('DTYPE_MISMATCH', `backward: gradient is ${gradient.dtype} but ${described}`);
  if (gradient.backend !== root.backend) {
    throw new MinnowError('BACKEND_MISMATCH', `backward: gradient lives on "${gradient.backend.name}" but ${described} on "${root.backend.name}"`);
  }
}

/** Every node reachable from `start`, latest first (a topological order of the reverse pass). */
function collect(start: GradNode, described: string): GradNode[] {
  const seen = new Set<GradNode>([start]);
  const stack = [start];
  while (stack.length > 0) {
    const node = stack.pop()!;
    if (node.released) {
      throw new MinnowError(
        'GRAPH_FREED',
        `backward: the graph behind ${described} (at a ${node.op} node) was already freed by an earlier backward(); pass { retainGraph: true } to that one to run backward through it again`,
      );
    }
    for (const parent of node.parents) {
      if (parent instanceof GradNode && !seen.has(parent)) {
        seen.add(parent);
        stack.push(parent);
      }
    }
  }
  return [...seen].sort((a, b) => b.seq - a.seq);
}

/** Runs `node`'s rule on its output gradient `g` (consumed) and hands the input gradients on. */
function propagate(node: GradNode, g: Tensor, pending: Map<GradNode, Tensor>, leaves: Map<Tensor, Tensor>): void {
  const rule = GRADIENTS[node.op] as unknown as GradientRule<PrimOp>;
  const ctx: GradientContext<PrimOp> = {
    attrs: node.attrs,
    grad: g,
    inputShapes: node.inputShapes,
    inputDTypes: node.inputDTypes,
    outputShape: node.outputShape,
    needs: node.needs,
    input: (i) => node.input(i),
    output: () => node.output(),
  };
  let results: readonly (Tensor | null)[];
  try {
    results = scope(() => rule.backward(ctx));
  } catch (error) {
    g.dispose();
    throw error;
  }
  // A result that is g itself, another result or a saved value gets its own view, so that every
  // gradient has exactly one owner.
  const owned = new Set<Tensor>();
  const grads = node.parents.map((parent, i) => {
    const r = results[i] ?? null;
    if (!r || !parent) return null;
    const own = r === g || owned.has(r) || node.holds(r) ? r.detach() : r;
    owned.add(own);
    return own;
  });
  for (const r of results) if (r && !owned.has(r) && r !== g && !node.holds(r)) r.dispose();
  g.dispose();
  grads.forEach((gi, i) => {
    if (!gi) return;
    const expected = node.inputShapes[i];
    if (!shapesEqual(gi.shape, expected) || gi.dtype !== node.inputDTypes[i]) {
      for (const t of grads) t?.dispose();
      throw new MinnowError('INTERNAL', `gradient of ${node.op}: input ${i} is ${node.inputDTypes[i]}${formatShape(expected)} but its rule returned ${gi.dtype}${formatShape(gi.shape)}`);
    }
  });
  grads.forEach((gi, i) => {
    const parent = node.parents[i];
    if (!gi || !parent) return;
    if (parent instanceof GradNode) pending.set(parent, sum2(pending.get(parent), gi));
    else leaves.set(parent, sum2(leaves.get(parent), gi));
  });
}

/** before + g, consuming both (before may be absent). */
function sum2(before: Tensor | undefined, g: Tensor): Tensor {
  if (!before) return g;
  const total = add(before, g);
  before.dispose();
  g.dispose();
  return total;
}

/** Adds `g` (consumed) into `leaf.grad`, which is exempt from scopes: the leaf owns it. */
function accumulate(leaf: Tensor, g: Tensor): void {
  if (leaf.isDisposed) {
    g.dispose();
    return;
  }
  const old = leaf.grad;
  if (!old) {
    leaf.setGrad(keep(g));
    return;
  }
  const total = keep(add(old, g));
  g.dispose();
  leaf.setGrad(total);
}
