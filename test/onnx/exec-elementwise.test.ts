import { beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { Random, encodeFloat16, init, liveTensors } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import { AttributeType, DataType, OnnxSession, makeTensor, writeModel, type AttributeProto, type ModelProto, type NodeProto, type TensorProto } from '@minnow/onnx';
import { graph, model, node, valueInfo } from './build.js';
import { expectMinnowError } from '../helpers/reference.js';

// Elementwise, reduction and loss operators: what ONNX's backend test cases (npm run conformance)
// leave out — error cases, older opsets' attribute forms, type corners, empty reductions, precision.

const emptyAttribute = { floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] };
const int = (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i: BigInt(i), ...emptyAttribute });
const float = (name: string, f: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f, ...emptyAttribute });
const ints = (name: string, values: number[]): AttributeProto => ({ ...emptyAttribute, name, type: AttributeType.INTS, ints: values.map(BigInt) });
const str = (name: string, s: string): AttributeProto => ({ name, type: AttributeType.STRING, s: new TextEncoder().encode(s), ...emptyAttribute });

interface Data {
  readonly type: number;
  readonly dims: number[];
  readonly values: readonly number[];
}

const f32 = (values: number[], dims = [values.length]): Data => ({ type: DataType.FLOAT, dims, values });
const i64 = (values: number[], dims = [values.length]): Data => ({ type: DataType.INT64, dims, values });
const i32 = (values: number[], dims = [values.length]): Data => ({ type: DataType.INT32, dims, values });
const typed = (type: number, values: number[], dims = [values.length]): Data => ({ type, dims, values });

const ARRAYS: Readonly<Record<number, { from(values: readonly number[]): ArrayBufferView }>> = {
  [DataType.FLOAT]: Float32Array, [DataType.DOUBLE]: Float64Array, [DataType.INT32]: Int32Array, [DataType.UINT32]: Uint32Array,
  [DataType.INT16]: Int16Array, [DataType.UINT16]: Uint16Array, [DataType.INT8]: Int8Array, [DataType.UINT8]: Uint8Array, [DataType.BOOL]: Uint8Array,
  [DataType.INT64]: { from: (v) => BigInt64Array.from(v, (x) => BigInt(x)) },
  [DataType.UINT64]: { from: (v) => BigUint64Array.from(v, (x) => BigInt(x)) },
  [DataType.FLOAT16]: { from: (v) => encodeFloat16(v) },
};

const arrayOf = (d: Data): ArrayBufferView => ARRAYS[d.type].from(d.values);

function bytes(d: Data): Uint8Array {
  const a = arrayOf(d);
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

interface Result {
  readonly type: number;
  readonly shape: readonly number[];
  readonly values: number[];
}

const inputName = (d: Data | undefined, i: number): string => (d === undefined ? '' : `in${i}`);

/** A model of `nodes` reading graph inputs in0, in1 ... and writing out0, out1 ... (of `outputTypes`, when known). */
function modelOf(nodes: NodeProto[], inputs: readonly (Data | undefined)[], outputTypes: readonly number[], opset: number): ModelProto {
  return model(graph({
    node: nodes,
    input: inputs.flatMap((d, i) => (d === undefined ? [] : [valueInfo(inputName(d, i), d.type, d.dims)])),
    output: outputTypes.map((t, i) => valueInfo(`out${i}`, t)),
  }), { irVersion: 10, opsetImport: [{ domain: '', version: opset }] });
}

/** Runs `m` once, checking that the run leaves no tensor alive. */
function runModel(m: ModelProto, inputs: readonly (Data | undefined)[], backend = 'js'): Result[] {
  const before = liveTensors();
  const session = OnnxSession.create(m, { backend, constantFolding: false });
  const feeds: Record<string, TensorProto> = {};
  inputs.forEach((d, i) => {
    if (d !== undefined) feeds[inputName(d, i)] = makeTensor(inputName(d, i), d.type, d.dims, bytes(d));
  });
  try {
    const values = session.runValues(feeds);
    const results = [...values.values()].map((v) => ({ type: v.elemType, shape: [...v.shape], values: v.numbers() }));
    for (const v of values.values()) v.dispose();
    session.dispose();
    expect(liveTensors(), 'tensors left alive by the run').toBe(before);
    return results;
  } finally {
    session.dispose();
  }
}

const runNodes = (nodes: NodeProto[], inputs: readonly (Data | undefined)[], outputs: number, opset: number): Result[] =>
  runModel(modelOf(nodes, inputs, new Array<number>(outputs).fill(DataType.UNDEFINED), opset), inputs);

const nodeOf = (opType: string, inputs: readonly (Data | undefined)[], outputs: number, attrs: AttributeProto[]): NodeProto =>
  node(opType, inputs.map(inputName), Array.from({ length: outputs }, (_, i) => `out${i}`), attrs);

/** One node of `opType` on `inputs` (undefined: an empty optional input). */
function run(opType: string, inputs: readonly (Data | undefined)[], attrs: AttributeProto[] = [], opset = 21, outputs = 1): Result[] {
  return runNodes([nodeOf(opType, inputs, outputs, attrs)], inputs, outputs, opset);
}

const run1 = (opType: string, inputs: readonly (Data | undefined)[], attrs: AttributeProto[] = [], opset = 21): Result => run(opType, inputs, attrs, opset)[0];

const expectError = (fn: () => unknown, code: string, ...fragments: string[]): void => void expectMinnowError(fn, code, ...fragments);

function expectClose(actual: readonly number[], expected: readonly number[], rtol = 1e-6, atol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((a, i) => {
    const e = expected[i];
    if (Number.isNaN(e)) expect(a).toBeNaN();
    else expect(Math.abs(a - e), `element ${i}: ${a} vs ${e}`).toBeLessThanOrEqual(atol + rtol * Math.abs(e));
  });
}

describe('ONNX Cast and CastLike', () => {
  it('rounds to float16 inside the graph, not only at its outputs', () => {
    const nodes = [node('Cast', ['in0'], ['h'], [int('to', DataType.FLOAT16)]), node('Cast', ['h'], ['out0'], [int('to', DataType.FLOAT)])];
    const [out] = runNodes(nodes, [f32([1.0001, 65519, 1e-8])], 1, 21);
    expect(out.type).toBe(DataType.FLOAT);
    expect(out.values).toEqual([1, 65504, 0]);
  });

  it('truncates floats toward zero, maps to and from bool, and wraps the narrow integer types', () => {
    const toInt = run1('Cast', [f32([-2.7, 2.7, -0.5])], [int('to', DataType.INT64)]);
    expect(toInt).toEqual({ type: DataType.INT64, shape: [3], values: [-2, 2, 0] });
    expect(run1('Cast', [f32([0, -0.5, NaN])], [int('to', DataType.BOOL)]).values).toEqual([0, 1, 1]);
    expect(run1('Cast', [typed(DataType.BOOL, [1, 0])], [int('to', DataType.DOUBLE)])).toEqual({ type: DataType.DOUBLE, shape: [2], values: [1, 0] });
    expect(run1('Cast', [i32([40000, -40000, 7])], [int('to', DataType.INT16)]).values).toEqual([-25536, 25536, 7]);
    expect(run1('Cast', [i32([-1, 65536])], [int('to', DataType.UINT16)]).values).toEqual([65535, 0]);
    expect(run1('Cast', [i32([300, -1])], [int('to', DataType.UINT8)]).values).toEqual([44, 255]);
  });

  it('refuses values the int32 carrying int64/uint32/uint64 cannot hold, rather than wrapping them', () => {
    expectError(() => run('Cast', [f32([3e9])], [int('to', DataType.INT64)]), 'PRECISION_LIMIT', 'int64');
    expectError(() => run('Cast', [i32([-1])], [int('to', DataType.UINT32)]), 'PRECISION_LIMIT', 'uint32');
  });

  it('reads the type name of opset 1 and reports unsupported targets', () => {
    expect(run1('Cast', [f32([1.5])], [str('to', 'INT32')], 1)).toEqual({ type: DataType.INT32, shape: [1], values: [1] });
    expectError(() => run('Cast', [f32([1])], [int('to', DataType.STRING)]), 'UNSUPPORTED_DTYPE', 'string');
    expectError(() => run('Cast', [f32([1])], [int('to', DataType.FLOAT8E4M3FN)]), 'UNSUPPORTED_DTYPE', 'float8');
  });

  it('CastLike takes the type of its second input', () => {
    expect(run1('CastLike', [f32([2.9]), i64([0])])).toEqual({ type: DataType.INT64, shape: [1], values: [2] });
  });
});

describe('ONNX elementwise math', () => {
  it('Mod: the divisor\'s sign for fmod=0, the dividend\'s for fmod=1, and 0 for an integer divisor of 0', () => {
    const a = i32([-7, 7, -7, 7, 5]);
    const b = i32([2, -2, -2, 2, 0]);
    expect(run1('Mod', [a, b]).values).toEqual([1, -1, -1, 1, 0]);
    expect(run1('Mod', [a, b], [int('fmod', 1)]).values).toEqual([-1, 1, -1, 1, 0]);
    expectClose(run1('Mod', [f32([5.5, -5.5, 3]), f32([2, 2, Infinity])], [int('fmod', 1)]).values, [1.5, -1.5, 3]);
    expectError(() => run('Mod', [f32([1]), f32([1])]), 'INVALID_MODEL', 'fmod must be 1');
  });

  it('Pow: integer bases stay exact, a float exponent truncates, the output has the base\'s type', () => {
    expect(run1('Pow', [i64([3, 3, 3, -2]), i64([0, 5, 12, 3])])).toEqual({ type: DataType.INT64, shape: [4], values: [1, 243, 531441, -8] });
    expect(run1('Pow', [i32([2, 10]), f32([0.5, 1.5])]).values).toEqual([1, 31]);
    expectClose(run1('Pow', [f32([2, 4]), i64([3, -1])]).values, [8, 0.25]);
  });

  it('BitShift wraps at the type\'s width and refuses results beyond int32', () => {
    const left = run1('BitShift', [typed(DataType.UINT8, [255, 1, 3]), typed(DataType.UINT8, [1, 8, 2])], [str('direction', 'LEFT')]);
    expect(left).toEqual({ type: DataType.UINT8, shape: [3], values: [254, 0, 12] });
    const right = run1('BitShift', [typed(DataType.UINT16, [65535, 8]), typed(DataType.UINT16, [4, 20])], [str('direction', 'RIGHT')]);
    expect(right.values).toEqual([4095, 0]);
    const wrapped = run1('BitShift', [typed(DataType.UINT16, [65535]), typed(DataType.UINT16, [4])], [str('direction', 'LEFT')]);
    expect(wrapped.values).toEqual([65520]);
    expectError(() => run('BitShift', [typed(DataType.UINT32, [1 << 30]), typed(DataType.UINT32, [1])], [str('direction', 'LEFT')]), 'PRECISION_LIMIT');
    expectError(() => run('BitShift', [i32([1]), i32([1])], [str('direction', 'LEFT')]), 'UNSUPPORTED_DTYPE', 'unsigned');
    expectError(() => run('BitShift', [typed(DataType.UINT8, [1]), typed(DataType.UINT8, [1])], [str('direction', 'UP')]), 'INVALID_ARGUMENT', 'direction');
  });

  it('Clip: opset 6 attributes default to float\'s extremes; later bounds are optional inputs, integers too', () => {
    expect(run1('Clip', [f32([Infinity, -Infinity, 1])], [float('max', 0.5)], 6).values).toEqual([0.5, -3.4028234663852886e38, 0.5]);
    expect(run1('Clip', [i64([-5, 5, 50]), undefined, i64([10])], [], 13)).toEqual({ type: DataType.INT64, shape: [3], values: [-5, 5, 10] });
    expect(run1('Clip', [f32([0, 5]), f32([3]), f32([1])]).values).toEqual([1, 1]);
    expect(run1('Clip', [f32([NaN, 2])], [], 13).values[0]).toBeNaN();
    expectError(() => run('Clip', [f32([1]), f32([0, 1])]), 'INVALID_ARGUMENT', 'one value');
  });

  it('the hyperbolic functions keep their precision near 0 and at large |x|', () => {
    const x = [1e-6, -3e-5, 0.5, 20];
    expectClose(run1('Sinh', [f32(x)]).values, x.map(Math.sinh), 1e-6);
    expectClose(run1('Asinh', [f32([1e-6, -0.3, 1e25, -1e30])]).values, [1e-6, -0.3, 1e25, -1e30].map(Math.asinh), 1e-6);
    expectClose(run1('Acosh', [f32([1, 1.0001, 3, 1e30])]).values, [1, 1.0001, 3, 1e30].map((v) => Math.acosh(Math.fround(v))), 1e-5);
    expect(run1('Acosh', [f32([0.5])]).values[0]).toBeNaN();
    expectClose(run1('Atanh', [f32([1e-7, 0.5, -0.999])]).values, [1e-7, 0.5, -0.999].map((v) => Math.atanh(Math.fround(v))), 1e-6);
    expect(run1('Atanh', [f32([1])]).values).toEqual([Infinity]);
  });

  it('leaves Sin, Cos, Tan and their inverses unsupported', () => {
    for (const op of ['Sin', 'Cos', 'Tan', 'Asin', 'Acos', 'Atan']) expectError(() => run(op, [f32([0.5])]), 'UNSUPPORTED_OP', op);
  });

  it('names the node and the type when an op does not take it', () => {
    expectError(() => run('Sqrt', [i32([4])]), 'UNSUPPORTED_DTYPE', 'Sqrt', 'int32');
    expectError(() => run('Neg', [typed(DataType.UINT8, [1])]), 'UNSUPPORTED_DTYPE', 'uint8');
    expectError(() => run('Equal', [i32([1]), i64([1])]), 'DTYPE_MISMATCH', 'int32', 'int64');
  });

  it('IsInf honours detect_positive and detect_negative; IsNaN and the comparisons treat NaN as numpy does', () => {
    const x = f32([Infinity, -Infinity, NaN, 1]);
    expect(run1('IsInf', [x], [int('detect_negative', 0)]).values).toEqual([1, 0, 0, 0]);
    expect(run1('IsInf', [x], [int('detect_positive', 0)]).values).toEqual([0, 1, 0, 0]);
    expect(run1('IsNaN', [x])).toEqual({ type: DataType.BOOL, shape: [4], values: [0, 0, 1, 0] });
    expect(run1('LessOrEqual', [f32([NaN, 1, 2]), f32([1, 1, 1])]).values).toEqual([0, 1, 0]);
    expect(run1('GreaterOrEqual', [f32([NaN, 1, 2]), f32([1, 1, 1])]).values).toEqual([0, 1, 1]);
  });

  it('Where takes its output type from X; Max, Min, Sum and Mean take one or many inputs', () => {
    const out = run1('Where', [typed(DataType.BOOL, [1, 0]), i64([5, 6]), i64([-1])]);
    expect(out).toEqual({ type: DataType.INT64, shape: [2], values: [5, -1] });
    expect(run1('Max', [i64([1, 9]), i64([4]), i64([2, 2])]).values).toEqual([4, 9]);
    expect(run1('Min', [f32([3, NaN])]).values).toEqual([3, NaN]);
    expect(run1('Mean', [f32([1, 2]), f32([3, 6]), f32([2, 1])]).values).toEqual([2, 3]);
  });

  it('before opset 7, broadcast=1 aligns B at axis', () => {
    const a = f32([0, 0, 0, 0, 0, 0], [2, 3]);
    const out = run1('Add', [a, f32([1, 2])], [int('broadcast', 1), int('axis', 0)], 6);
    expect(out.values).toEqual([1, 1, 1, 2, 2, 2]);
    expectError(() => run('Add', [a, f32([1, 2, 3])], [], 6), 'SHAPE_MISMATCH', 'broadcast is 0');
  });
});

describe('ONNX activations', () => {
  const x = [-20, -3, -1e-6, 0, 1e-6, 0.7, 4];

  it('Gelu needs opset 20 and a known approximation; Elu and Softplus stay exact near 0 and in the tails', () => {
    expectError(() => run('Gelu', [f32(x)], [], 19), 'UNSUPPORTED_OP', 'Gelu');
    expectError(() => run('Gelu', [f32(x)], [str('approximate', 'sigmoid')], 20), 'UNSUPPORTED_OP', 'approximate');
    expectClose(run1('Elu', [f32(x)]).values, x.map((v) => (v < 0 ? Math.expm1(Math.fround(v)) : Math.fround(v))), 1e-6);
    expectClose(run1('Softplus', [f32(x)]).values, x.map((v) => Math.log1p(Math.exp(Math.fround(v)))), 1e-6);
  });

  it('PRelu broadcasts the slope to X only', () => {
    expect(run1('PRelu', [f32([-1, -2, 3, -4], [2, 2]), f32([0.5, 2])]).values).toEqual([-0.5, -4, 3, -8]);
    expectError(() => run('PRelu', [f32([-1, 2]), f32([1, 2, 3, 4], [2, 2])]), 'SHAPE_MISMATCH', 'slope');
  });
});

describe('ONNX reductions', () => {
  const x = f32([1, 2, 3, 4, 5, 6], [2, 3]);

  it('reads axes from the attribute before opset 18 (ReduceSum: 13) and from the input after', () => {
    expect(run1('ReduceMean', [x], [ints('axes', [1]), int('keepdims', 0)], 11)).toEqual({ type: DataType.FLOAT, shape: [2], values: [2, 5] });
    expect(run1('ReduceMean', [x, i64([-2])], [], 18).values).toEqual([2.5, 3.5, 4.5]);
    expect(run1('ReduceSum', [x, i64([1])], [], 13).shape).toEqual([2, 1]);
    expectError(() => run('ReduceMax', [x], [ints('axes', [1])], 18), 'INVALID_MODEL', 'axes is an input');
    expectError(() => run('ReduceSum', [x, i64([1, -1])], [], 13), 'INVALID_ARGUMENT', 'repeat');
    expectError(() => run('ReduceSum', [x, i64([2])], [], 13), 'OUT_OF_RANGE', 'axis 2');
  });

  it('no axes: all axes, or the identity with noop_with_empty_axes', () => {
    expect(run1('ReduceProd', [x, i64([])], [int('keepdims', 0)], 18)).toEqual({ type: DataType.FLOAT, shape: [], values: [720] });
    expect(run1('ReduceProd', [x], [int('noop_with_empty_axes', 1)], 18)).toEqual({ type: DataType.FLOAT, shape: [2, 3], values: [1, 2, 3, 4, 5, 6] });
  });

  it('an empty reduced dim gives the reduction\'s identity', () => {
    const empty = f32([], [2, 0]);
    const over = (op: string): number[] => run1(op, [empty, i64([1])], [int('keepdims', 0)], 18).values;
    expect(over('ReduceSum')).toEqual([0, 0]);
    expect(over('ReduceProd')).toEqual([1, 1]);
    expect(over('ReduceMax')).toEqual([-Infinity, -Infinity]);
    expect(over('ReduceMin')).toEqual([Infinity, Infinity]);
    expect(over('ReduceLogSumExp')).toEqual([-Infinity, -Infinity]);
    expect(over('ReduceMean')).toEqual([NaN, NaN]);
    expect(run1('ReduceMax', [i32([], [0]), i64([0])], [], 18).values).toEqual([-2147483648]);
    expectError(() => run('ReduceMin', [i64([], [0])], [], 18), 'PRECISION_LIMIT', 'int64');
  });

  it('keeps integer types: the product wraps nowhere it need not, the mean truncates, bools reduce (opset 20)', () => {
    expect(run1('ReduceProd', [i64([1, 2, 3, 4, 5, 6, 7])], [], 18)).toEqual({ type: DataType.INT64, shape: [1], values: [5040] });
    expect(run1('ReduceMean', [i32([1, 2, 2, -7])], [int('keepdims', 0)], 18).values).toEqual([0]);
    expect(run1('ReduceMean', [i32([1, 2, 2])], [int('keepdims', 0)], 18).values).toEqual([1]);
    expect(run1('ReduceMax', [typed(DataType.BOOL, [0, 1, 0, 0], [2, 2]), i64([1])], [], 20)).toEqual({ type: DataType.BOOL, shape: [2, 1], values: [1, 0] });
    expect(run1('ReduceMin', [typed(DataType.INT8, [-128, 127])], [], 18).values).toEqual([-128]);
  });

  it('ArgMax and ArgMin give int64 indices, the first or (select_last_index) the last of ties', () => {
    const t = i32([3, 1, 3, 1], [1, 4]);
    expect(run1('ArgMax', [t], [int('axis', 1)])).toEqual({ type: DataType.INT64, shape: [1, 1], values: [0] });
    expect(run1('ArgMax', [t], [int('axis', -1), int('select_last_index', 1), int('keepdims', 0)])).toEqual({ type: DataType.INT64, shape: [1], values: [2] });
    expect(run1('ArgMin', [t], [int('axis', 1), int('select_last_index', 1)]).values).toEqual([3]);
    expect(run1('ArgMin', [typed(DataType.UINT8, [200, 0, 255])]).values).toEqual([1]);
    expectError(() => run('ArgMax', [f32([], [0])]), 'INVALID_ARGUMENT', 'empty');
  });

  it('Softmax before opset 13 coerces the input to 2-D at axis', () => {
    const v = [0, 1, 2, 3, 4, 5, 6, 7];
    const flat = (row: number[]): number[] => {
      const e = row.map(Math.exp);
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((x) => x / s);
    };
    const out = run1('Softmax', [f32(v, [2, 2, 2])], [int('axis', 1)], 11);
    expect(out.shape).toEqual([2, 2, 2]);
    expectClose(out.values, [...flat(v.slice(0, 4)), ...flat(v.slice(4))], 1e-6);
    const per = run1('Softmax', [f32(v, [2, 2, 2])], [int('axis', 1)], 13);
    // From opset 13 along axis 1 alone: element [b, i, k] pairs with [b, 1 - i, k].
    const partner = (j: number): number => j + (j % 4 < 2 ? 2 : -2);
    expectClose(per.values, v.map((j) => Math.exp(j) / (Math.exp(j) + Math.exp(partner(j)))), 1e-6);
    expect(run1('Hardmax', [f32([1, 3, 3, 0])]).values).toEqual([0, 1, 0, 0]);
  });

  it('CumSum: exclusive and reverse along a negative axis, integers exact', () => {
    const t = i64([1, 2, 3, 4, 5, 6], [2, 3]);
    expect(run1('CumSum', [t, i32([-1])]).values).toEqual([1, 3, 6, 4, 9, 15]);
    expect(run1('CumSum', [t, i64([1])], [int('exclusive', 1), int('reverse', 1)]).values).toEqual([5, 3, 0, 11, 6, 0]);
    expect(run1('CumSum', [t, i64([0])], [int('reverse', 1)]).values).toEqual([5, 7, 9, 4, 5, 6]);
    expectError(() => run('CumSum', [t, i64([2])]), 'OUT_OF_RANGE', 'axis 2');
  });

  it('TopK: ties keep the lower index first, NaN ranks highest, int64 values stay exact', () => {
    const [values, indices] = run('TopK', [f32([1, 3, NaN, 3, 2]), i64([3])], [], 21, 2);
    expect(values.values).toEqual([NaN, 3, 3]);
    expect(indices).toEqual({ type: DataType.INT64, shape: [3], values: [2, 1, 3] });
    const [small, smallIndices] = run('TopK', [f32([2, 1, 2, 1], [2, 2]), i64([1])], [int('largest', 0), int('axis', 0)], 21, 2);
    expect(small.values).toEqual([2, 1]);
    expect(smallIndices.values).toEqual([0, 0]);
    const [, infinite] = run('TopK', [f32([Infinity, 1, Infinity, -Infinity]), i64([4])], [], 21, 2);
    expect(infinite.values).toEqual([0, 2, 1, 3]);
    const [big] = run('TopK', [i64([5e9, 1, 3e9]), i64([2])], [], 21, 2);
    expect(big).toEqual({ type: DataType.INT64, shape: [2], values: [5e9, 3e9] });
    expect(run('TopK', [f32([1, 2])], [int('k', 1)], 1, 2)[0].values).toEqual([2]);
    expectError(() => run('TopK', [f32([1, 2]), i64([3])], [], 21, 2), 'INVALID_ARGUMENT', 'K is 3');
  });

  it('TopK, Cast and the losses infer shapes without reading data', async () => {
    const m = model(graph({
      node: [
        node('Constant', [], ['k'], [ints('value_ints', [2])]),
        node('TopK', ['x', 'k'], ['values', 'indices'], [int('axis', 1)]),
        node('Cast', ['values'], ['half'], [int('to', DataType.FLOAT16)]),
        node('ArgMax', ['x'], ['target'], [int('axis', 1), int('keepdims', 0)]),
        node('SoftmaxCrossEntropyLoss', ['x', 'target'], ['loss'], [str('reduction', 'none')]),
      ],
      input: [valueInfo('x', DataType.FLOAT, ['n', 6, 3])],
      output: [valueInfo('half', DataType.FLOAT16), valueInfo('loss', DataType.FLOAT)],
    }), { opsetImport: [{ domain: '', version: 21 }] });
    const session = OnnxSession.create(m);
    const { values, problems } = await session.inferShapes();
    session.dispose();
    expect(problems).toEqual([]);
    expect(values.get('indices')).toMatchObject({ elemType: DataType.INT64, dims: ['n', 2, 3] });
    expect(values.get('half')).toMatchObject({ elemType: DataType.FLOAT16, dims: ['n', 2, 3] });
    expect(values.get('loss')).toMatchObject({ elemType: DataType.FLOAT, dims: ['n', 3] });
  });
});

describe('ONNX losses', () => {
  const scores = f32([0.1, 0.2, 0.7, 0.5, 0.3, 0.2], [2, 3]);

  it('NegativeLogLikelihoodLoss: mean over the weights of the positions not ignored', () => {
    const out = run1('NegativeLogLikelihoodLoss', [scores, i64([2, 1]), f32([1, 2, 3])], [int('ignore_index', 1)]);
    expectClose(out.values, [-0.7], 1e-6);
    const none = run1('NegativeLogLikelihoodLoss', [scores, i64([2, 0])], [str('reduction', 'none')]);
    expectClose(none.values, [-0.7, -0.5], 1e-6);
  });

  it('SoftmaxCrossEntropyLoss returns log_prob when asked', () => {
    const [loss, logProb] = run('SoftmaxCrossEntropyLoss', [scores, i32([2, 0])], [str('reduction', 'sum')], 21, 2);
    const lse = (row: number[]): number => Math.log(row.reduce((a, b) => a + Math.exp(b), 0));
    const expected = [0.1, 0.2, 0.7].map((v) => v - lse([0.1, 0.2, 0.7])).concat([0.5, 0.3, 0.2].map((v) => v - lse([0.5, 0.3, 0.2])));
    expectClose(logProb.values, expected, 1e-6);
    expectClose(loss.values, [-(expected[2] + expected[3])], 1e-6);
  });

  it('refuses targets outside the classes, bad reductions and mismatched shapes', () => {
    expectError(() => run('NegativeLogLikelihoodLoss', [scores, i64([3, 0])]), 'OUT_OF_RANGE', 'target element 0 is 3');
    expectError(() => run('NegativeLogLikelihoodLoss', [scores, i64([1, 0])], [str('reduction', 'avg')]), 'INVALID_ARGUMENT', 'reduction');
    expectError(() => run('SoftmaxCrossEntropyLoss', [scores, i64([1, 0, 0])]), 'SHAPE_MISMATCH', 'target');
  });
});

const ORT_TYPES: Readonly<Record<number, string>> = {
  [DataType.FLOAT]: 'float32', [DataType.DOUBLE]: 'float64', [DataType.INT32]: 'int32', [DataType.INT64]: 'int64', [DataType.INT8]: 'int8',
  [DataType.UINT8]: 'uint8', [DataType.BOOL]: 'bool', [DataType.INT16]: 'int16', [DataType.UINT16]: 'uint16',
};
const FROM_ORT = Object.fromEntries(Object.entries(ORT_TYPES).map(([k, v]) => [v, Number(k)]));

/** Seeded random values: floats in [-2, 2), or integers in [lo, hi]. */
function random(type: number, dims: number[], seed: number, range?: [number, number]): Data {
  const r = new Random(seed);
  const values = Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => {
    const u = r.uniform();
    return range === undefined ? Math.fround(4 * u - 2) : range[0] + Math.floor(u * (range[1] - range[0] + 1));
  });
  return { type, dims, values };
}

/** One node on minnow (js and wasm) and on onnxruntime: same types, shapes, and values within `tolerance` (relative above 1). */
async function agree(opType: string, opset: number, inputs: readonly (Data | undefined)[], attrs: AttributeProto[], outputTypes: number[], tolerance = 1e-5): Promise<void> {
  const m = modelOf([nodeOf(opType, inputs, outputTypes.length, attrs)], inputs, outputTypes, opset);
  const session = await ort.InferenceSession.create(writeModel(m).model, { logSeverityLevel: 3 });
  const feeds = Object.fromEntries(inputs.flatMap((d, i) => (d === undefined ? [] : [[inputName(d, i), new ort.Tensor(ORT_TYPES[d.type] as 'float32', arrayOf(d) as Float32Array, d.dims)]])));
  const results = await session.run(feeds);
  const expected = session.outputNames.map((name) => results[name]);
  await session.release();
  for (const backend of ['js', 'wasm']) {
    const actual = runModel(m, inputs, backend);
    expected.forEach((want, k) => {
      const got = actual[k];
      const label = `${opType} ${backend} output ${k}`;
      expect(got.type, label).toBe(FROM_ORT[want.type]);
      expect(got.shape, label).toEqual(want.dims);
      const wanted = Array.from(want.data as ArrayLike<number | bigint>, Number);
      const worst = wanted.reduce((w, e, i) => (Number.isNaN(e) && Number.isNaN(got.values[i]) ? w : Math.max(w, Math.abs(e - got.values[i]) / Math.max(1, Math.abs(e)))), 0);
      expect(worst, `${label}: largest difference from onnxruntime`).toBeLessThanOrEqual(tolerance);
    });
  }
}

describe('ONNX elementwise, reduction and loss ops agree with onnxruntime on both backends', () => {
  beforeAll(async () => {
    enableRelaxedSimd();
    await init(wasmBackend);
  });
  const F = DataType.FLOAT;
  const x = random(F, [2, 3, 4], 1);

  it('integer and float arithmetic', async () => {
    const divisors = random(DataType.INT64, [3, 4], 3, [-7, 7]);
    const nonZero = { ...divisors, values: divisors.values.map((v) => v || 3) };
    await agree('Mod', 21, [random(DataType.INT64, [2, 3, 4], 2, [-50, 50]), nonZero], [], [DataType.INT64]);
    await agree('Mod', 21, [random(DataType.INT32, [2, 3, 4], 4, [-50, 50]), { ...nonZero, type: DataType.INT32 }], [int('fmod', 1)], [DataType.INT32]);
    await agree('Mod', 21, [x, random(F, [4], 5)], [int('fmod', 1)], [F]);
    await agree('BitShift', 21, [random(DataType.UINT8, [12], 6, [0, 255]), random(DataType.UINT8, [12], 7, [0, 7])], [str('direction', 'LEFT')], [DataType.UINT8]);
    await agree('Pow', 21, [random(DataType.INT32, [6], 8, [-4, 4]), random(DataType.INT32, [6], 9, [0, 5])], [], [DataType.INT32]);
    await agree('Clip', 21, [random(DataType.INT8, [10], 10, [-128, 127]), typed(DataType.INT8, [-20], []), typed(DataType.INT8, [90], [])], [], [DataType.INT8]);
    await agree('Sum', 21, [x, random(F, [3, 1], 11), random(F, [4], 12)], [], [F]);
    await agree('Mean', 21, [x, random(F, [3, 1], 13)], [], [F]);
  });

  it('activations and hyperbolic functions', async () => {
    for (const op of ['HardSwish', 'Mish', 'Softplus', 'Softsign', 'Selu', 'Elu', 'Sinh', 'Cosh', 'Asinh', 'Tanh', 'Sigmoid', 'Round', 'Sign']) await agree(op, 21, [x], [], [F]);
    await agree('Acosh', 21, [{ ...x, values: x.values.map((v) => Math.fround(1 + Math.abs(v) * 3)) }], [], [F]);
    await agree('Atanh', 21, [{ ...x, values: x.values.map((v) => Math.fround(v / 2.1)) }], [], [F]);
    await agree('Celu', 21, [x], [float('alpha', 1.5)], [F]);
    await agree('Shrink', 21, [x], [float('bias', 0.3), float('lambd', 0.7)], [F]);
    await agree('Gelu', 20, [x], [str('approximate', 'tanh')], [F]);
    await agree('Gelu', 20, [x], [], [F], 1e-6);
  });

  it('reductions, arg reductions, normalisations, CumSum and TopK', async () => {
    const small = random(DataType.INT32, [2, 3, 4], 20, [-3, 3]);
    await agree('ReduceProd', 18, [small, i64([0, 2])], [], [DataType.INT32]);
    await agree('ReduceL2', 18, [x, i64([1])], [int('keepdims', 0)], [F]);
    await agree('ReduceLogSumExp', 18, [x, i64([-1, 0])], [], [F]);
    await agree('ReduceMin', 18, [small, i64([1])], [], [DataType.INT32]);
    await agree('ArgMin', 13, [small], [int('axis', 2), int('select_last_index', 1)], [DataType.INT64]);
    await agree('ArgMax', 13, [small], [int('axis', -2), int('keepdims', 0)], [DataType.INT64]);
    for (const op of ['Softmax', 'LogSoftmax', 'Hardmax']) {
      await agree(op, 11, [x], [int('axis', 1)], [F]);
      await agree(op, 13, [x], [int('axis', 1)], [F]);
    }
    await agree('CumSum', 14, [x, i32([1])], [int('exclusive', 1), int('reverse', 1)], [F]);
    await agree('CumSum', 14, [small, i64([-1])], [], [DataType.INT32]);
    const ties = { ...random(F, [3, 6], 21, [0, 3]), type: F };
    await agree('TopK', 11, [ties, i64([4])], [int('axis', 1)], [F, DataType.INT64]);
    await agree('TopK', 11, [ties, i64([2])], [int('axis', 0), int('largest', 0)], [F, DataType.INT64]);
  });

  it('the losses over 4-D inputs, with weights, ignore_index and log_prob', async () => {
    const scores = random(F, [2, 3, 2, 2], 30);
    const target = random(DataType.INT64, [2, 2, 2], 31, [0, 2]);
    const weight = { ...random(F, [3], 32), values: [0.5, 2, 1.25] };
    await agree('SoftmaxCrossEntropyLoss', 13, [scores, target, weight], [int('ignore_index', 1)], [F, F]);
    await agree('SoftmaxCrossEntropyLoss', 13, [scores, target], [str('reduction', 'none')], [F]);
    await agree('NegativeLogLikelihoodLoss', 13, [scores, target, weight], [str('reduction', 'sum'), int('ignore_index', 2)], [F]);
  });
});
