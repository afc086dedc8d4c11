import { isFloatDType, type DType } from '../dtype.js';
import { MinnowError } from '../errors.js';
import { keep } from '../memory.js';
import type { PrimOp, PrimitiveAttrs } from '../ops/table.js';
import { Tensor } from '../tensor.js';

/**
 * The tape: every op on a tensor that requires grad records a GradNode while grad mode is on.
 * Nodes link to the nodes (or leaf tensors) of their inputs, so the tape is the graph; backward()
 * walks it in reverse recording order (`seq`), which is a topological order because a node is
 * always recorded after the nodes of its inputs.
 *
 * Memory: a node keeps its own handles (views sharing storage, exempt from every scope) on just the
 * forward values its gradient rule declares, so a scope may dispose the tensors it created while the
 * tape still holds what backward needs. Nodes are reference counted: one reference from the tensor
 * the op returned, one from each node recorded with it as an input, one held by backward() while it
 * runs. A node whose count reaches zero, or that backward() has consumed, is released: its handles
 * are disposed and its references on its inputs' nodes dropped. So a graph is freed either by
 * backward() or by disposing the tensors that lead to it, whichever comes first.
 */

/** Which forward values a gradient rule reads: only these are kept alive by the tape. */
export interface SaveSpec {
  readonly inputs: readonly number[];
  readonly output: boolean;
}

/** What a rule may ask for, given which inputs need a gradient (`needs[i]`). */
export type SavePolicy = (needs: readonly boolean[]) => SaveSpec;

export interface RuleSaves {
  readonly save: SavePolicy;
}

/** Supplied by gradients.ts when core loads (the rules need the ops, which import this file). */
let rulesTable: { readonly [K in PrimOp]: RuleSaves } | null = null;

export function installGradientRules(table: { readonly [K in PrimOp]: RuleSaves }): void {
  rulesTable = table;
}

let disabledDepth = 0;

/** Whether ops record onto the tape now (false inside noGrad). */
export function isGradEnabled(): boolean {
  return disabledDepth === 0;
}

/**
 * Runs `fn` without recording: nothing created inside requires grad through it. Nests; `fn` must be
 * synchronous (an async function would record again after its first await), so a Promise is refused.
 */
export function noGrad<T>(fn: () => T): T {
  disabledDepth++;
  let result: T;
  try {
    result = fn();
  } finally {
    disabledDepth--;
  }
  if (result instanceof Promise) {
    throw new MinnowError('ASYNC_IN_SCOPE', 'noGrad(fn): fn returned a Promise; noGrad is synchronous (await outside it)');
  }
  return result;
}

/** A leaf (a tensor the user marked requiresGrad), another node, or null for an input that needs no gradient. */
export type Edge = GradNode | Tensor | null;

let nextSeq = 0;

export class GradNode {
  readonly seq = nextSeq++;
  /** References: the output tensor, child nodes, a running backward(). */
  private refs = 1;
  private releasedFlag = false;
  readonly inputShapes: readonly (readonly number[])[];
  readonly inputDTypes: readonly DType[];
  readonly outputShape: readonly number[];
  readonly outputDType: DType;
  /** Edges to the inputs' producers; emptied on release. */
  parents: Edge[];
  readonly needs: readonly boolean[];
  private saved: (Tensor | null)[];
  private savedOutput: Tensor | null;

  constructor(
    readonly op: PrimOp,
    readonly attrs: PrimitiveAttrs[PrimOp],
    inputs: readonly Tensor[],
    output: Tensor,
    spec: SaveSpec,
  ) {
    this.inputShapes = inputs.map((t) => t.shape);
    this.inputDTypes = inputs.map((t) => t.dtype);
    this.outputShape = output.shape;
    this.outputDType = output.dtype;
    this.parents = inputs.map((t) => (t.gradNode ? t.gradNode.ref() : t.requiresGrad ? t : null));
    this.needs = this.parents.map((e) => e !== null);
    this.saved = inputs.map((t, i) => (spec.inputs.includes(i) ? handleOf(t) : null));
    this.savedOutput = spec.output ? handleOf(output) : null;
  }

  get released(): boolean {
    return this.releasedFlag;
  }

  /** A saved input; INTERNAL if the rule did not declare it. */
  input(i: number): Tensor {
    const t = this.saved[i];
    if (!t) throw new MinnowError('INTERNAL', `gradient of ${this.op}: input ${i} was not saved (declare it in the rule's save policy)`);
    return t;
  }

  output(): Tensor {
    if (!this.savedOutput) throw new MinnowError('INTERNAL', `gradient of ${this.op}: the output was not saved (declare it in the rule's save policy)`);
    return this.savedOutput;
  }

  /** Whether `t` is one of this node's own handles (so backward never takes ownership of it). */
  holds(t: Tensor): boolean {
    return t === this.savedOutput || this.saved.includes(t);
  }

  ref(): this {
    this.refs++;
    return this;
  }

  /** Drops a reference; at zero the node is released, and so on up the graph (iteratively: graphs can be deep). */
  unref(): void {
    const pending: GradNode[] = [this];
    while (pending.length > 0) {
      const node = pending.pop()!;
      if (--node.refs === 0 && !node.releasedFlag) pending.push(...node.releaseOwn());
    }
  }

  /** Frees the handles and drops this node's references on its parents (used by backward()). */
  release(): void {
    if (this.releasedFlag) return;
    for (const parent of this.releaseOwn()) parent.unref();
  }

  private releaseOwn(): GradNode[] {
    this.releasedFlag = true;
    for (const t of this.saved) t?.dispose();
    this.savedOutput?.dispose();
    this.saved = [];
    this.savedOutput = null;
    const parents = this.parents.filter((e): e is GradNode => e instanceof GradNode);
    this.parents = [];
    return parents;
  }
}

/** A view of `t` over the same storage, with no history, that no scope disposes: the tape's own reference. */
function handleOf(t: Tensor): Tensor {
  return keep(new Tensor(t.storage, t.shape, t.strides, t.offset));
}

/**
 * Records `op` onto the tape when grad mode is on, the output is floating point and any input
 * requires grad. Called by runKernel for every kernel op and by the view ops.
 */
export function recordOp<K extends PrimOp>(op: K, inputs: readonly Tensor[], attrs: PrimitiveAttrs[K], output: Tensor): void {
  if (disabledDepth > 0 || !isFloatDType(output.dtype) || !inputs.some((t) => t.requiresGrad)) return;
  if (!rulesTable) throw new MinnowError('INTERNAL', `${op}: gradient rules are not installed (import minnow through @minnow/core)`);
  const needs = inputs.map((t) => t.requiresGrad);
  output.gradNode = new GradNode(op, attrs, inputs, output, rulesTable[op].save(needs));
}
