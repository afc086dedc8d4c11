import type { BufferView } from '@minnow/core';
import { sizeOf } from '@minnow/core';
import type { GpuBuffer } from '../buffer.js';
import { POSITION, addOperand, chunking, unravel, unrolledLoop } from '../codegen.js';
import type { Programs } from '../program.js';
import { reduceChunks } from './reduce.js';

/**
 * spmm: one fragment per output element C[i, j] walks row i's stored entries, reading the column
 * index, then B[col, j] through B's strides. A shader loop needs a fixed extent, so the loop runs
 * over the longest row (read from the row pointers on the host) and skips past each row's end;
 * rows longer than FRAGMENT_BUDGET run in chunks added up in a second pass, as matmul's do.
 * Core has checked the indices before any kernel runs.
 */
export function spmm(
  programs: Programs,
  inputs: readonly BufferView<GpuBuffer>[],
  output: BufferView<GpuBuffer>,
  readView: (view: BufferView<GpuBuffer>) => Float32Array,
): void {
  const [values, colIndices, rowPointers, dense] = inputs;
  const total = sizeOf(output.shape);
  if (total === 0) return;
  const [rows, n] = output.shape;
  const pointers = readView(rowPointers);
  let longest = 0;
  for (let i = 0; i < rows; i++) longest = Math.max(longest, pointers[i + 1] - pointers[i]);
  const { chunks, size } = chunking(longest);
  const args = programs.args();
  addOperand(args, 'v', values);
  addOperand(args, 'ci', colIndices);
  addOperand(args, 'rp', rowPointers);
  addOperand(args, 'b', dense);
  args.scalar('m', rows).scalar('n', n).scalar('nc', chunks).scalar('len', size);
  const body = [
    '// spmm',
    POSITION,
    unravel('i', ['m', 'n', 'nc'], 'pos'),
    'var rowEnd = rp[rp_o + (i0 + 1.0) * rp_s0];',
    'var first = rp[rp_o + i0 * rp_s0] + i2 * len;',
    'var acc = 0.0;',
    ...unrolledLoop('p', 'first', 'len', (p, sfx) => [
      `if (${p} < rowEnd) {`,
      `var col${sfx} = ci[ci_o + ${p} * ci_s0];`,
      `acc = acc + v[v_o + ${p} * v_s0] * b[b_o + col${sfx} * b_s0 + i1 * b_s1];`,
      '}',
    ]),
    'return acc;',
  ].join('\n');
  const target = chunks === 1 ? output.buffer : programs.temporary(output.dtype, total * chunks);
  target.data = programs.run(args, body, total * chunks);
  if (chunks > 1) reduceChunks(programs, 'sum', target, chunks, { ...output, shape: [total, 1], strides: [1, 1] });
}
