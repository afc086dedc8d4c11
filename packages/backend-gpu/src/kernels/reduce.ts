import type { BufferView } from '@minnow/core';
import { collapseDims, contiguousStrides, sizeOf } from '@minnow/core';
import type { GpuBuffer } from '../buffer.js';
import { POSITION, chunking, unravel, unrolledLoop } from '../codegen.js';
import type { Programs } from '../program.js';

/**
 * sum and reduceMax: one fragment per output element and chunk. Kept dims are unravelled from the
 * position; the reduced dims (collapsed first, so a row or a column is one dim) are walked as one
 * flat index, unrolled. Past FRAGMENT_BUDGET elements the reduction runs in chunks into a
 * temporary [n, chunks] and a second pass reduces the chunks. Accumulation is float32; max lets
 * NaN win, as backend-js does.
 */
export function reduce(programs: Programs, op: 'sum' | 'reduceMax', input: BufferView<GpuBuffer>, output: BufferView<GpuBuffer>, axes: readonly number[]): void {
  const n = sizeOf(output.shape);
  if (n === 0) return;
  const reduced = new Set(axes);
  const keptDims = input.shape.filter((_, d) => !reduced.has(d));
  const kept = collapseDims(keptDims, [contiguousStrides(keptDims), input.strides.filter((_, d) => !reduced.has(d))]);
  const loops = collapseDims(input.shape.filter((_, d) => reduced.has(d)), [input.strides.filter((_, d) => reduced.has(d))]);
  const length = sizeOf(loops.shape);
  const { chunks, size } = chunking(length);
  const target = chunks === 1 ? output.buffer : programs.temporary(output.dtype, n * chunks);

  const args = programs.args();
  args.buffer('x', input.buffer).scalar('x_o', input.offset);
  kept.shape.forEach((d, i) => args.scalar(`d${i}`, d).scalar(`s${i}`, kept.strides[1][i]));
  loops.shape.forEach((d, i) => args.scalar(`e${i}`, d).scalar(`t${i}`, loops.strides[0][i]));
  args.scalar('nc', chunks).scalar('len', size).scalar('total', length).scalar('nanv', NaN).scalar('infv', Infinity);
  const base = ['x_o', ...kept.shape.map((_, i) => `i${i} * s${i}`)].join(' + ');
  const element = (q: string, sfx: string): string[] => {
    const read = (offset: string) => (op === 'sum' ? [`acc = acc + x[${offset}];`] : [`var v${sfx} = x[${offset}];`, `if (v${sfx} != v${sfx}) { nan = 1.0; }`, `acc = Math.max(acc, v${sfx});`]);
    if (loops.shape.length <= 1) return [`if (${q} < total) {`, ...read(loops.shape.length === 0 ? 'base' : `base + ${q} * t0`), '}'];
    const dims = loops.shape.map((_, i) => `e${i}`);
    return [`if (${q} < total) {`, unravel(`j${sfx}_`, dims, q), ...read(['base', ...loops.shape.map((_, i) => `j${sfx}_${i} * t${i}`)].join(' + ')), '}'];
  };
  const body = [
    `// ${op}`,
    POSITION,
    unravel('i', [...kept.shape.map((_, i) => `d${i}`), 'nc'], 'pos'),
    `var base = ${base};`,
    `var acc = ${op === 'sum' ? '0.0' : '-infv'};`,
    'var nan = 0.0;',
    ...unrolledLoop('q', `i${kept.shape.length} * len`, 'len', element),
    op === 'sum' ? 'return acc;' : 'return nan > 0.0 ? nanv : acc;',
  ].join('\n');
  target.data = programs.run(args, body, n * chunks);
  if (chunks > 1) reduceChunks(programs, op, target, chunks, output);
}

/** Reduces partial results laid out [n, chunks] (chunk fastest) into `output`, then frees them. */
export function reduceChunks(programs: Programs, op: 'sum' | 'reduceMax', partial: GpuBuffer, chunks: number, output: BufferView<GpuBuffer>): void {
  const n = sizeOf(output.shape);
  reduce(programs, op, { buffer: partial, dtype: output.dtype, shape: [n, chunks], strides: [chunks, 1], offset: 0 }, output, [1]);
  programs.release(partial);
}
