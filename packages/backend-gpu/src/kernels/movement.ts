import type { BufferView } from '@minnow/core';
import { MinnowError, collapseDims, sizeOf } from '@minnow/core';
import type { GpuBuffer } from '../buffer.js';
import { POSITION, addOperand, offsetOf, unravel } from '../codegen.js';
import type { Programs } from '../program.js';

/** pad and gather: index arithmetic only; values pass through unchanged (any dtype). */

export function pad(programs: Programs, input: BufferView<GpuBuffer>, output: BufferView<GpuBuffer>, pads: readonly (readonly [number, number])[], value: number): void {
  const n = sizeOf(output.shape);
  if (n === 0) return;
  const rank = output.shape.length;
  const args = programs.args();
  addOperand(args, 'x', input);
  output.shape.forEach((d, i) => args.scalar(`d${i}`, d).scalar(`b${i}`, pads[i][0]).scalar(`e${i}`, input.shape[i]));
  args.scalar('padv', value);
  const indices = output.shape.map((_, d) => `k${d}`);
  const body = [
    '// pad',
    POSITION,
    unravel('i', output.shape.map((_, d) => `d${d}`), 'pos'),
    'var inside = 1.0;',
    ...output.shape.map((_, d) => `var k${d} = i${d} - b${d}; if (k${d} < 0.0 || k${d} >= e${d}) { inside = 0.0; }`),
    `if (inside == 0.0) { return padv; }`,
    rank === 0 ? 'return x[x_o];' : `return x[${offsetOf('x', indices)}];`,
  ].join('\n');
  output.buffer.data = programs.run(args, body, n);
}

/**
 * ONNX Gather. Indices are validated on the host first (backend-js's error, word for word), which
 * costs a read only when their bound says one might be out of range.
 */
export function gather(
  programs: Programs,
  data: BufferView<GpuBuffer>,
  indices: BufferView<GpuBuffer>,
  output: BufferView<GpuBuffer>,
  axis: number,
  readIndices: (view: BufferView<GpuBuffer>) => ArrayLike<number>,
): void {
  const dim = data.shape[axis];
  if (indices.buffer.bound >= dim) {
    const values = readIndices(indices);
    for (let j = 0; j < values.length; j++) {
      const raw = values[j];
      if (raw < -dim || raw >= dim) {
        throw new MinnowError('OUT_OF_RANGE', `gather: index ${raw} at position ${j} is out of range for axis ${axis} of size ${dim}`);
      }
    }
  }
  const n = sizeOf(output.shape);
  if (n === 0) return;
  // The data as [outer..., dim, inner...] and the indices in their own layout, unravelled separately.
  const outer = collapseDims(data.shape.slice(0, axis), [data.strides.slice(0, axis)]);
  const inner = collapseDims(data.shape.slice(axis + 1), [data.strides.slice(axis + 1)]);
  const idx = collapseDims(indices.shape, [indices.strides]);
  const args = programs.args();
  addOperand(args, 'x', data, [...outer.strides[0], data.strides[axis], ...inner.strides[0]]);
  addOperand(args, 'ix', indices, idx.strides[0]);
  const dims = [...outer.shape.map((d, i) => ['a', i, d] as const), ['c', 0, sizeOf(indices.shape)] as const, ...inner.shape.map((d, i) => ['b', i, d] as const)];
  dims.forEach(([kind, i, d]) => args.scalar(`${kind}d${i}`, d));
  idx.shape.forEach((d, i) => args.scalar(`jd${i}`, d));
  args.scalar('dim', dim);
  const outerIdx = outer.shape.map((_, i) => `u${i}`);
  const innerIdx = inner.shape.map((_, i) => `u${outer.shape.length + 1 + i}`);
  const body = [
    '// gather',
    POSITION,
    unravel('u', dims.map(([kind, i]) => `${kind}d${i}`), 'pos'),
    unravel('j', idx.shape.map((_, i) => `jd${i}`), `u${outer.shape.length}`),
    `var raw = ix[${offsetOf('ix', idx.shape.map((_, i) => `j${i}`))}];`,
    'if (raw < 0.0) { raw = raw + dim; }',
    `return x[${offsetOf('x', [...outerIdx, 'raw', ...innerIdx])}];`,
  ].join('\n');
  output.buffer.data = programs.run(args, body, n);
}
