import { cast, contiguous, expand, matmul, permute, reshape, slice, sum, type Tensor } from '@minnow/core';
import type { OperatorDefinition, OpContext } from '../../operator.js';

/**
 * Einsum as transposes, diagonals, sums and batched matmuls: each operand first takes the
 * diagonal of any label it repeats and sums the labels no one else reads; then the operands are
 * folded left to right, each pair contracted by one matmul over [shared kept labels (batch),
 * left-only labels, summed labels] x [batch, summed, right-only]; the result is permuted to the
 * output's order. Ellipsis dims become labels of their own, right-aligned and broadcast.
 */

interface Operand {
  readonly t: Tensor;
  /** One label per dim: a letter, or '.k' for the k-th (right-aligned) ellipsis dim. */
  readonly labels: readonly string[];
}

interface Equation {
  readonly inputs: string[][];
  readonly output: string[];
}

const LETTER = /^[A-Za-z]$/;

function parseTerm(ctx: OpContext, term: string, what: string): { before: string[]; after: string[]; ellipsis: boolean } {
  const parts = term.split('...');
  if (parts.length > 2) throw ctx.error('INVALID_MODEL', `${what} '${term}' has more than one ellipsis`);
  const letters = parts.map((p) => [...p]);
  for (const l of letters.flat()) if (!LETTER.test(l)) throw ctx.error('INVALID_MODEL', `${what} '${term}' holds '${l}'; labels are letters`);
  return { before: letters[0], after: letters[1] ?? [], ellipsis: parts.length === 2 };
}

function parseEquation(ctx: OpContext, equation: string, ranks: readonly number[]): Equation {
  const text = equation.replace(/\s+/g, '');
  const sides = text.split('->');
  if (sides.length > 2) throw ctx.error('INVALID_MODEL', `equation '${equation}' has more than one '->'`);
  const terms = sides[0].split(',');
  if (terms.length !== ranks.length) throw ctx.error('INVALID_MODEL', `equation '${equation}' has ${terms.length} input terms for ${ranks.length} inputs`);
  const parsed = terms.map((t, i) => parseTerm(ctx, t, `input term ${i}`));
  const ellipsisRanks = parsed.map((p, i) => {
    const named = p.before.length + p.after.length;
    if (p.ellipsis ? named > ranks[i] : named !== ranks[i]) {
      throw ctx.error('SHAPE_MISMATCH', `equation term '${terms[i]}' does not fit input ${i} of rank ${ranks[i]}`);
    }
    return p.ellipsis ? ranks[i] - named : 0;
  });
  const ellipsisRank = Math.max(0, ...ellipsisRanks);
  const ellipsisLabels = (count: number): string[] => Array.from({ length: count }, (_, j) => `.${ellipsisRank - count + j}`);
  const inputs = parsed.map((p, i) => [...p.before, ...ellipsisLabels(ellipsisRanks[i]), ...p.after]);
  let output: string[];
  if (sides.length === 2) {
    const p = parseTerm(ctx, sides[1], 'output term');
    output = [...p.before, ...(p.ellipsis ? ellipsisLabels(ellipsisRank) : []), ...p.after];
    const known = new Set(inputs.flat());
    for (const l of output) if (!known.has(l)) throw ctx.error('INVALID_MODEL', `output label '${l}' of '${equation}' is in no input term`);
    if (new Set(output).size !== output.length) throw ctx.error('INVALID_MODEL', `output of '${equation}' repeats a label`);
  } else {
    // Implicit output: the ellipsis dims, then the letters used exactly once, in alphabetical order.
    const counts = new Map<string, number>();
    for (const l of inputs.flat()) if (!l.startsWith('.')) counts.set(l, (counts.get(l) ?? 0) + 1);
    const once = [...counts].filter(([, n]) => n === 1).map(([l]) => l).sort();
    output = [...ellipsisLabels(ellipsisRank), ...once];
  }
  return { inputs, output };
}

/** Takes the diagonal of every label an operand repeats (ii -> i). */
function diagonalize(ctx: OpContext, op: Operand): Operand {
  let { t, labels } = op;
  for (;;) {
    const i = labels.findIndex((l, k) => labels.indexOf(l) !== k);
    if (i < 0) return { t, labels };
    const first = labels.indexOf(labels[i]);
    const n = t.shape[first];
    if (t.shape[i] !== n) throw ctx.error('SHAPE_MISMATCH', `label '${labels[i]}' is repeated over dims of sizes ${n} and ${t.shape[i]}`);
    const others = labels.map((_, k) => k).filter((k) => k !== first && k !== i);
    const outer = others.map((k) => t.shape[k]);
    const square = reshape(contiguous(permute(t, [...others, first, i])), [...outer, n * n]);
    t = slice(square, [...outer.map(() => 0), 0], [...outer, n * n], [...outer.map(() => 1), n + 1]);
    labels = [...others.map((k) => labels[k]), labels[i]];
  }
}

function sumOut(op: Operand, drop: ReadonlySet<string>): Operand {
  const axes = op.labels.map((_, i) => i).filter((i) => drop.has(op.labels[i]));
  if (axes.length === 0) return op;
  return { t: sum(op.t, { axes }), labels: op.labels.filter((l) => !drop.has(l)) };
}

const product = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** One batched matmul: [batch, aOnly, summed] x [batch, summed, bOnly] -> [batch, aOnly, bOnly]. */
function contract(a: Operand, b: Operand, keep: ReadonlySet<string>, sizes: ReadonlyMap<string, number>): Operand {
  const shared = a.labels.filter((l) => b.labels.includes(l));
  const batch = shared.filter((l) => keep.has(l));
  const summed = shared.filter((l) => !keep.has(l));
  const aOnly = a.labels.filter((l) => !b.labels.includes(l));
  const bOnly = b.labels.filter((l) => !a.labels.includes(l));
  const arrange = (op: Operand, order: readonly string[], broadcast: ReadonlySet<string>): Tensor => {
    const moved = permute(op.t, order.map((l) => op.labels.indexOf(l)));
    return expand(moved, order.map((l, i) => (broadcast.has(l) ? sizes.get(l) as number : moved.shape[i])));
  };
  const common = new Set(shared);
  const left = arrange(a, [...batch, ...aOnly, ...summed], common);
  const right = arrange(b, [...batch, ...summed, ...bOnly], common);
  const batchDims = batch.map((l) => sizes.get(l) as number);
  const summedSize = product(summed.map((l) => sizes.get(l) as number));
  const aDims = left.shape.slice(batch.length, batch.length + aOnly.length);
  const bDims = right.shape.slice(batch.length + summed.length);
  const y = matmul(reshape(left, [product(batchDims), product(aDims), summedSize]), reshape(right, [product(batchDims), summedSize, product(bDims)]));
  return { t: reshape(y, [...batchDims, ...aDims, ...bDims]), labels: [...batch, ...aOnly, ...bOnly] };
}

export const Einsum: OperatorDefinition = {
  sinceVersion: 12,
  run: (ctx) => {
    const tensors = Array.from({ length: ctx.inputCount }, (_, i) => ctx.tensor(i));
    if (tensors.length === 0) throw ctx.error('INVALID_MODEL', 'Einsum needs at least one input');
    const dtype = tensors[0].dtype;
    if (dtype === 'bool') throw ctx.error('UNSUPPORTED_DTYPE', 'Einsum does not take bool inputs');
    if (tensors.some((t) => t.dtype !== dtype)) throw ctx.error('DTYPE_MISMATCH', `inputs have different dtypes (${tensors.map((t) => t.dtype).join(', ')})`);
    // matmul computes float32, float64 and int32: int8/uint8 go through int32 (wrapping alike on the way back).
    const narrow = dtype === 'int8' || dtype === 'uint8';
    const equation = parseEquation(ctx, ctx.attrs.string('equation'), tensors.map((t) => t.rank));
    const sizes = new Map<string, number>();
    equation.inputs.forEach((labels, i) => labels.forEach((l, d) => {
      const n = tensors[i].shape[d];
      const known = sizes.get(l);
      if (known !== undefined && known !== n && known !== 1 && n !== 1) {
        throw ctx.error('SHAPE_MISMATCH', `label '${l.startsWith('.') ? '...' : l}' has sizes ${known} and ${n}`);
      }
      sizes.set(l, known === undefined || known === 1 ? n : known);
    }));
    let operands = equation.inputs.map((labels, i) => diagonalize(ctx, { t: narrow ? cast(tensors[i], 'int32') : tensors[i], labels }));
    const output = new Set(equation.output);
    operands = operands.map((op, i) => sumOut(op, new Set(op.labels.filter((l) => !output.has(l) && !operands.some((o, j) => j !== i && o.labels.includes(l))))));
    let acc = operands[0];
    for (let i = 1; i < operands.length; i++) {
      const keep = new Set([...equation.output, ...operands.slice(i + 1).flatMap((o) => o.labels)]);
      acc = contract(acc, operands[i], keep, sizes);
    }
    acc = sumOut(acc, new Set(acc.labels.filter((l) => !output.has(l))));
    const ordered = permute(acc.t, equation.output.map((l) => acc.labels.indexOf(l)));
    const result = expand(ordered, equation.output.map((l) => sizes.get(l) as number));
    return [narrow ? cast(result, dtype) : result];
  },
};
