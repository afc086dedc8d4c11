import type { BufferView, DType, KernelOp } from '@minnow/core';
import { isFloatDType, sizeOf } from '@minnow/core';
import type { GpuBuffer } from '../buffer.js';
import { POSITION, addOperand, collapseElementwise, offsetOf, truncateAndWrap, unravel, wrapTo } from '../codegen.js';
import type { Programs } from '../program.js';

/**
 * Elementwise kernels: one generated kernel per (op, collapsed rank, dtypes). Each op is a few
 * statements that set `y` from the operands v0, v1, v2; `nanv` and `infv` are uniforms holding NaN
 * and Infinity (GLSL has no literals for them). Edge cases the GPU leaves undefined (sqrt and log
 * below 0, pow of a negative base, NaN in max/min) are spelled out to match backend-js.
 */

export type ElementwiseOp = Extract<KernelOp, 'neg' | 'exp' | 'log' | 'sqrt' | 'reciprocal' | 'tanh' | 'abs' | 'sign' | 'floor' | 'round' |
  'add' | 'sub' | 'mul' | 'div' | 'max' | 'min' | 'pow' | 'cmplt' | 'cmpeq' | 'where'>;

const STATEMENTS: Record<Exclude<ElementwiseOp, 'div'>, string> = {
  neg: 'y = -v0;',
  exp: 'y = Math.exp(v0);',
  log: 'if (v0 != v0) { y = v0; } else if (v0 < 0.0) { y = nanv; } else if (v0 == 0.0) { y = -infv; } else { y = Math.log(v0); }',
  sqrt: 'if (v0 != v0) { y = v0; } else if (v0 < 0.0) { y = nanv; } else { y = Math.sqrt(v0); }',
  reciprocal: 'y = 1.0 / v0;',
  // Odd series below 0.25 (where 1 - e^-2x cancels), the exponential form above.
  tanh: [
    'var a = Math.abs(v0);',
    'if (a < 0.25) {',
    '  var s = v0 * v0;',
    '  y = v0 * (1.0 + s * (-0.3333333333 + s * (0.1333333333 + s * (-0.0539682540 + s * 0.0218694885))));',
    '} else {',
    '  var t = Math.exp(-2.0 * a);',
    '  var z = (1.0 - t) / (1.0 + t);',
    '  y = v0 < 0.0 ? -z : z;',
    '}',
  ].join('\n'),
  abs: 'y = Math.abs(v0);',
  sign: 'if (v0 != v0) { y = v0; } else if (v0 > 0.0) { y = 1.0; } else if (v0 < 0.0) { y = -1.0; } else { y = 0.0; }',
  floor: 'y = Math.floor(v0);',
  // Half to even: ties go to the even neighbour; |x| >= 2^23 is already an integer.
  round: [
    'var f = Math.floor(v0);',
    'var d = v0 - f;',
    'if (d > 0.5) { y = f + 1.0; } else if (d < 0.5) { y = f; } else { y = f - 2.0 * Math.floor(f / 2.0) == 0.0 ? f : f + 1.0; }',
    'if (v0 != v0 || Math.abs(v0) >= infv) { y = v0; }',
  ].join('\n'),
  add: 'y = v0 + v1;',
  sub: 'y = v0 - v1;',
  mul: 'y = v0 * v1;',
  max: 'if (v0 != v0 || v1 != v1) { y = nanv; } else { y = Math.max(v0, v1); }',
  min: 'if (v0 != v0 || v1 != v1) { y = nanv; } else { y = Math.min(v0, v1); }',
  // Math.pow semantics: x^0 = 1 (even NaN), negative bases only to integer powers.
  pow: [
    'if (v1 == 0.0) { y = 1.0; }',
    'else if (v0 != v0 || v1 != v1) { y = nanv; }',
    'else if (v0 == 0.0) { y = v1 > 0.0 ? 0.0 : infv; }',
    'else if (v0 > 0.0) { y = Math.pow(v0, v1); }',
    'else if (Math.floor(v1) != v1) { y = nanv; }',
    'else { y = Math.pow(-v0, v1); if (v1 - 2.0 * Math.floor(v1 / 2.0) != 0.0) { y = -y; } }',
  ].join('\n'),
  cmplt: 'y = v0 < v1 ? 1.0 : 0.0;',
  cmpeq: 'y = v0 == v1 ? 1.0 : 0.0;',
  where: 'y = v0 != 0.0 ? v1 : v2;',
};

/** Truncated integer division, corrected to exact for |a|, |b| < 2^24 (the divisor is checked non-zero on the host). */
const INTEGER_DIV = [
  'var q = v0 / v1;',
  'y = q < 0.0 ? -Math.floor(-q) : Math.floor(q);',
  'var sab = (v0 < 0.0 ? -1.0 : 1.0) * (v1 < 0.0 ? -1.0 : 1.0);',
  'var rem = v0 - y * v1;',
  'if (rem * v0 < 0.0) { y = y - sab; } else if (Math.abs(rem) >= Math.abs(v1)) { y = y + sab; }',
].join('\n');

function statementsFor(op: ElementwiseOp, inputDType: DType): string {
  if (op === 'div') return isFloatDType(inputDType) ? 'y = v0 / v1;' : INTEGER_DIV;
  return STATEMENTS[op];
}

/** Runs a generated elementwise kernel: `statements` set `y` from v0.. (the inputs at this position). */
export function runElementwise(
  programs: Programs,
  key: string,
  statements: string,
  inputs: readonly BufferView<GpuBuffer>[],
  output: BufferView<GpuBuffer>,
): void {
  const n = sizeOf(output.shape);
  if (n === 0) return;
  const { dims, strides } = collapseElementwise(output.shape, inputs);
  const args = programs.args();
  inputs.forEach((view, k) => addOperand(args, `x${k}`, view, strides[k]));
  dims.forEach((d, i) => args.scalar(`d${i}`, d));
  args.scalar('nanv', NaN).scalar('infv', Infinity);
  const indices = dims.map((_, d) => `i${d}`);
  const body = [
    `// ${key}`,
    POSITION,
    unravel('i', dims.map((_, d) => `d${d}`), 'pos'),
    ...inputs.map((_, k) => `var v${k} = x${k}[${offsetOf(`x${k}`, indices)}];`),
    'var y = 0.0;',
    statements,
    wrapTo(output.dtype),
    'return y;',
  ].join('\n');
  output.buffer.data = programs.run(args, body, n);
}

export function elementwise(programs: Programs, op: ElementwiseOp, inputs: readonly BufferView<GpuBuffer>[], output: BufferView<GpuBuffer>): void {
  const dataType = op === 'where' ? inputs[1].dtype : inputs[0].dtype;
  runElementwise(programs, `${op} ${dataType} -> ${output.dtype}`, statementsFor(op, dataType), inputs, output);
}

export function cast(programs: Programs, input: BufferView<GpuBuffer>, output: BufferView<GpuBuffer>): void {
  const from = input.dtype;
  const to = output.dtype;
  let statements: string;
  if (to === 'bool') statements = 'y = (v0 != v0 || v0 != 0.0) ? 1.0 : 0.0;';
  else if (to === 'float32' || to === 'float64' || from === to) statements = 'y = v0;';
  else if (isFloatDType(from)) statements = truncateAndWrap(to as 'int32' | 'int8' | 'uint8', 'v0').replace('var y = 0.0;', '');
  else statements = 'y = v0;'; // integer to integer: wrapTo below
  runElementwise(programs, `cast ${from} -> ${to}`, statements, [input], output);
}
