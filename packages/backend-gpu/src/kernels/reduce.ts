import type { BufferView } from '@minnow/core';
import { collapseDims, contiguousStrides, sizeOf } from '@minnow/core';
import type { GpuBuffer } from '../buffer.js';
import { POSITION, unravel } from '../codegen.js';
import type { Programs } from '../program.js';

/**
 * sum and reduceMax: one output element per fragment, kept dims unravelled from the position,
 * reduced dims walked by nested loops (collapsed first, so a row or a column is one loop).
 * Accumulation is float32 in reading order; max lets NaN win, as backend-js does.
 */
export function reduce(programs: Programs, op: 'sum' | 'reduceMax', input: BufferView<GpuBuffer>, output: BufferView<GpuBuffer>, axes: readonly number[]): void {
  const n = sizeOf(output.shape);
  if (n === 0) return;
  const reduced = new Set(axes);
  const keptDims = input.shape.filter((_, d) => !reduced.has(d));
  const keptStrides = input.strides.filter((_, d) => !reduced.has(d));
  const kept = collapseDims(keptDims, [contiguousStrides(keptDims), keptStrides]);
  const loops = collapseDims(input.shape.filter((_, d) => reduced.has(d)), [input.strides.filter((_, d) => reduced.has(d))]);
  const args = programs.args();
  args.buffer('x', input.buffer).scalar('x_o', input.offset);
  kept.shape.forEach((d, i) => args.scalar(`d${i}`, d).scalar(`s${i}`, kept.strides[1][i]));
  loops.shape.forEach((d, i) => args.scalar(`e${i}`, d).scalar(`t${i}`, loops.strides[0][i]));
  args.scalar('nanv', NaN).scalar('infv', Infinity);
  const base = ['x_o', ...kept.shape.map((_, i) => `i${i} * s${i}`)].join(' + ');
  const offset = ['base', ...loops.shape.map((_, i) => `j${i} * t${i}`)].join(' + ');
  const opens = loops.shape.map((_, i) => `for (var j${i} = 0.0; j${i} < e${i}; j${i}++) {`);
  const accumulate =
    op === 'sum' ? `acc = acc + x[${offset}];` : `var v = x[${offset}]; if (v != v) { nan = 1.0; } acc = Math.max(acc, v);`;
  const body = [
    `// ${op}`,
    POSITION,
    unravel('i', kept.shape.map((_, i) => `d${i}`), 'pos'),
    `var base = ${base};`,
    `var acc = ${op === 'sum' ? '0.0' : '-infv'};`,
    'var nan = 0.0;',
    ...opens,
    accumulate,
    ...opens.map(() => '}'),
    op === 'sum' ? 'return acc;' : 'return nan > 0.0 ? nanv : acc;',
  ].join('\n');
  output.buffer.data = programs.run(args, body, n);
}
