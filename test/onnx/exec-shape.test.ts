import { describe, expect, it } from 'vitest';
import { liveTensors } from '@minnow/core';
import { AttributeType, DataType, OnnxSession, Value, makeTensor, type AttributeProto, type Feed, type TensorProto } from '@minnow/onnx';
import { graph, model, node, valueInfo } from './build.js';
import { expectMinnowError } from '../helpers/reference.js';

// Shape and movement ops: the forms ONNX's backend tests leave out (older opsets' attributes, newer
// attributes, int64 bounds, duplicate scatter indices, Resize's newer modes) and the errors. Each
// case runs twice: fed as TensorProtos (small host values: the ops move them on the host) and fed
// as Tensors (on the device); both must give the same answer. Expected Resize values come from
// ONNX's reference implementation (onnx/reference/ops/op_resize.py).

const none = { floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] };
const int = (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i: BigInt(i), ...none });
const ints = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.INTS, ...none, ints: v.map((x) => BigInt(x)) });
const float = (name: string, f: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f, ...none });
const floats = (name: string, v: number[]): AttributeProto => ({ name, type: AttributeType.FLOATS, ...none, floats: v });
const str = (name: string, s: string): AttributeProto => ({ name, type: AttributeType.STRING, s: new TextEncoder().encode(s), ...none });

interface Data {
  readonly type: number;
  readonly dims: number[];
  readonly values: readonly (number | bigint)[];
}
const f32 = (dims: number[], values: number[]): Data => ({ type: DataType.FLOAT, dims, values });
const i64 = (dims: number[], values: (number | bigint)[]): Data => ({ type: DataType.INT64, dims, values });
const i32 = (dims: number[], values: number[]): Data => ({ type: DataType.INT32, dims, values });
const u8 = (dims: number[], values: number[]): Data => ({ type: DataType.UINT8, dims, values });
const bool = (dims: number[], values: number[]): Data => ({ type: DataType.BOOL, dims, values });
const range = (n: number, from = 0): number[] => Array.from({ length: n }, (_, i) => from + i);

function proto(name: string, d: Data): TensorProto {
  const arrays: Record<number, (v: readonly (number | bigint)[]) => ArrayBufferView> = {
    [DataType.FLOAT]: (v) => Float32Array.from(v, Number),
    [DataType.INT64]: (v) => BigInt64Array.from(v, (x) => BigInt(x)),
    [DataType.INT32]: (v) => Int32Array.from(v, Number),
    [DataType.UINT8]: (v) => Uint8Array.from(v, Number),
    [DataType.BOOL]: (v) => Uint8Array.from(v, Number),
  };
  const a = arrays[d.type](d.values);
  return makeTensor(name, d.type, d.dims, new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
}

interface Result {
  readonly type: number;
  readonly shape: readonly number[];
  readonly values: number[];
}

interface RunOptions {
  readonly opset?: number;
  readonly outputs?: number;
  readonly device?: boolean;
}

/** Runs one node on `inputs` (undefined: an empty optional input) and reads its outputs back. */
function runOnce(opType: string, inputs: (Data | undefined)[], attrs: AttributeProto[], options: RunOptions): Result[] {
  const names = inputs.map((d, i) => (d === undefined ? '' : `in${i}`));
  const outputs = range(options.outputs ?? 1).map((i) => `out${i}`);
  const m = model(graph({
    node: [node(opType, names, outputs, attrs)],
    input: inputs.flatMap((d, i) => (d === undefined ? [] : [valueInfo(`in${i}`, d.type)])),
    output: outputs.map((o) => valueInfo(o, DataType.UNDEFINED)),
  }), { opsetImport: [{ domain: '', version: options.opset ?? 21 }] });
  const session = OnnxSession.create(m);
  const fed: Value[] = [];
  const feeds: Record<string, Feed> = {};
  inputs.forEach((d, i) => {
    if (d === undefined) return;
    // int64 bounds beyond int32 (Slice's INT64_MAX) cannot live on the device: they stay TensorProtos.
    const fits = d.values.every((v) => Number(v) >= -2147483648 && Number(v) <= 2147483647);
    if (!options.device || !fits) {
      feeds[`in${i}`] = proto(`in${i}`, d);
      return;
    }
    const v = Value.fromProto(proto(`in${i}`, d));
    fed.push(v);
    feeds[`in${i}`] = v.tensor('js', 'feed');
  });
  try {
    const values = session.runValues(feeds);
    const results = outputs.map((o) => {
      const v = values.get(o) as Value;
      return { type: v.elemType, shape: [...v.shape], values: Array.from(v.hostData() as ArrayLike<number | bigint>, Number) };
    });
    for (const v of values.values()) v.dispose();
    return results;
  } finally {
    for (const v of fed) v.dispose();
    session.dispose();
  }
}

/** Runs on the host and on the device path; both must agree. Returns the outputs. */
function run(opType: string, inputs: (Data | undefined)[], attrs: AttributeProto[] = [], options: RunOptions = {}): Result[] {
  const host = runOnce(opType, inputs, attrs, options);
  const device = runOnce(opType, inputs, attrs, { ...options, device: true });
  host.forEach((h, i) => {
    expect(device[i].type).toBe(h.type);
    expect(device[i].shape).toEqual(h.shape);
    device[i].values.forEach((v, k) => expect(v).toBeCloseTo(h.values[k], 4));
  });
  return host;
}

const run1 = (opType: string, inputs: (Data | undefined)[], attrs: AttributeProto[] = [], options: RunOptions = {}): Result => run(opType, inputs, attrs, options)[0];

function expectClose(r: Result, shape: number[], values: number[], digits = 4): void {
  expect(r.shape).toEqual(shape);
  expect(r.values.length).toBe(values.length);
  r.values.forEach((v, i) => expect(v).toBeCloseTo(values[i], digits));
}

const expectError = (fn: () => unknown, code: string, ...fragments: string[]): void => void expectMinnowError(fn, code, ...fragments);

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

describe('ONNX shape ops: reshaping', () => {
  it('Reshape copies 0 dims, infers -1, honours allowzero, and takes the shape attribute at opset 1', () => {
    expect(run1('Reshape', [f32([2, 3, 4], range(24)), i64([3], [0, -1, 2])]).shape).toEqual([2, 6, 2]);
    expect(run1('Reshape', [f32([0, 3], []), i64([2], [3, 0])], [int('allowzero', 1)]).shape).toEqual([3, 0]);
    expect(run1('Reshape', [f32([2, 3], range(6))], [ints('shape', [3, 2])], { opset: 1 }).shape).toEqual([3, 2]);
    expectError(() => run1('Reshape', [f32([2, 3], range(6)), i64([2], [-1, -1])]), 'INVALID_SHAPE', 'more than one -1', 'Reshape');
    expectError(() => run1('Reshape', [f32([2, 3], range(6)), i64([1], [4])]), 'INVALID_SHAPE', '6 elements');
    expectError(() => run1('Reshape', [f32([0, 3], []), i64([2], [0, -1])], [int('allowzero', 1)]), 'INVALID_SHAPE', 'both 0 and -1');
  });

  it('Squeeze and Unsqueeze take axes as an attribute before opset 13 and as an input from it', () => {
    expect(run1('Squeeze', [f32([1, 3, 1], range(3))], [ints('axes', [-1])], { opset: 11 }).shape).toEqual([1, 3]);
    expect(run1('Squeeze', [f32([1, 3, 1], range(3))], [], { opset: 13 }).shape).toEqual([3]);
    expect(run1('Unsqueeze', [f32([3], range(3))], [ints('axes', [0, -1])], { opset: 11 }).shape).toEqual([1, 3, 1]);
    expect(run1('Unsqueeze', [f32([3], range(3)), i64([2], [2, 0])]).shape).toEqual([1, 3, 1]);
    expectError(() => run1('Squeeze', [f32([2, 3], range(6)), i64([1], [0])]), 'INVALID_SHAPE', 'size is not 1');
    expectError(() => run1('Unsqueeze', [f32([3], range(3)), i64([2], [1, -2])]), 'INVALID_ARGUMENT', 'repeat');
  });

  it('Flatten accepts axis = rank; Transpose checks perm; Expand broadcasts both ways; Tile takes opset 1 tiles and axis', () => {
    expect(run1('Flatten', [f32([2, 3], range(6))], [int('axis', 2)]).shape).toEqual([6, 1]);
    expectError(() => run1('Transpose', [f32([2, 3], range(6))], [ints('perm', [0, 0])]), 'INVALID_ARGUMENT', 'repeat');
    const expanded = run1('Expand', [f32([3, 1], [1, 2, 3]), i64([3], [2, 1, 2])]);
    expectClose(expanded, [2, 3, 2], [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3]);
    expectError(() => run1('Expand', [f32([3], [1, 2, 3]), i64([1], [2])]), 'SHAPE_MISMATCH', 'do not broadcast');
    expectClose(run1('Tile', [f32([2, 2], [1, 2, 3, 4]), f32([], [2]), f32([], [1])], [], { opset: 1 }), [2, 4], [1, 2, 1, 2, 3, 4, 3, 4]);
  });

  it('DepthToSpace before opset 11 is DCR; SpaceToDepth inverts it', () => {
    const x = f32([1, 4, 1, 2], range(8));
    const d = run1('DepthToSpace', [x], [int('blocksize', 2)], { opset: 1 });
    expectClose(d, [1, 1, 2, 4], [0, 2, 1, 3, 4, 6, 5, 7]);
    expectClose(run1('SpaceToDepth', [f32(d.shape as number[], d.values)], [int('blocksize', 2)]), [1, 4, 1, 2], range(8));
    expectError(() => run1('DepthToSpace', [f32([1, 3, 1, 1], [1, 2, 3])], [int('blocksize', 2)]), 'INVALID_SHAPE', 'not divisible');
  });
});

describe('ONNX shape ops: slicing and joining', () => {
  it('Slice clamps INT64_MAX/MIN bounds, steps backwards, and takes attributes at opset 1', () => {
    const x = f32([2, 4], range(8));
    expectClose(run1('Slice', [x, i64([1], [INT64_MAX]), i64([1], [INT64_MIN]), i64([1], [1]), i64([1], [-1])]), [2, 4], [3, 2, 1, 0, 7, 6, 5, 4]);
    expectClose(run1('Slice', [x, i64([2], [-1, 1]), i64([2], [INT64_MAX, 1000]), undefined, i64([2], [1, 2])]), [1, 2], [5, 7]);
    expectClose(run1('Slice', [x, i64([1], [10]), i64([1], [-10]), i64([1], [-1]), i64([1], [-2])]), [2, 2], [3, 1, 7, 5]);
    expectClose(run1('Slice', [x], [ints('starts', [0, 1]), ints('ends', [-1, 1000])], { opset: 1 }), [1, 3], [1, 2, 3]);
    expect(run1('Slice', [x, i64([1], [3]), i64([1], [1]), i64([1], [1])]).shape).toEqual([2, 0]);
    expectError(() => run1('Slice', [x, i64([1], [0]), i64([1], [2]), i64([1], [0]), i64([1], [0])]), 'INVALID_ARGUMENT', 'step 0');
  });

  it('Split: num_outputs with a short last part (18), split attribute (11), uneven split refused before 18', () => {
    const x = f32([7], range(7));
    const parts = run('Split', [x], [int('num_outputs', 3)], { opset: 18, outputs: 3 });
    expect(parts.map((p) => p.values)).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(run('Split', [x], [ints('split', [2, 0, 5])], { opset: 11, outputs: 3 }).map((p) => p.shape)).toEqual([[2], [0], [5]]);
    expectError(() => run('Split', [x], [], { opset: 13, outputs: 2 }), 'INVALID_SHAPE', 'equal parts');
    expectError(() => run('Split', [x, i64([2], [3, 3])], [], { outputs: 2 }), 'INVALID_SHAPE', 'does not add up');
  });

  it('Concat defaults to axis 1 at opset 1, keeps int64 exact on the host, and checks shapes', () => {
    expect(run1('Concat', [f32([1, 2], [1, 2]), f32([1, 1], [3])], [], { opset: 1 }).shape).toEqual([1, 3]);
    const exact = runOnce('Concat', [i64([1], [INT64_MAX]), i64([1], [-1])], [int('axis', 0)], {});
    expect(exact[0].type).toBe(DataType.INT64);
    expect(exact[0].values).toEqual([Number(INT64_MAX), -1]);
    expectError(() => run1('Concat', [f32([1, 2], [1, 2]), f32([2, 1], [3, 4])], [int('axis', 0)]), 'SHAPE_MISMATCH', 'differ outside axis 0');
  });

  it('Pad: wrap (19), axes (18), negative pads crop, reflect beyond the axis length, attributes before 11', () => {
    const x = f32([3, 2], [1, 1.2, 2.3, 3.4, 4.5, 5.7]);
    expectClose(run1('Pad', [x, i64([4], [2, 1, 1, 1])], [str('mode', 'wrap')]), [6, 4], [3.4, 2.3, 3.4, 2.3, 5.7, 4.5, 5.7, 4.5, 1.2, 1, 1.2, 1, 3.4, 2.3, 3.4, 2.3, 5.7, 4.5, 5.7, 4.5, 1.2, 1, 1.2, 1]);
    expectClose(run1('Pad', [x, i64([2], [1, -1]), f32([], [9]), i64([1], [-1])]), [3, 2], [9, 1, 9, 2.3, 9, 4.5]);
    expectClose(run1('Pad', [f32([3], [1, 2, 3]), i64([2], [5, 5])], [str('mode', 'reflect')]), [13], [2, 1, 2, 3, 2, 1, 2, 3, 2, 1, 2, 3, 2]);
    expectClose(run1('Pad', [f32([2], [1, 2])], [ints('pads', [1, 2]), float('value', 7)], { opset: 2 }), [5], [7, 1, 2, 7, 7]);
    expectClose(run1('Pad', [i32([2], [1, 2]), i64([2], [1, 1])], [str('mode', 'edge')]), [4], [1, 1, 2, 2]);
    expectError(() => run1('Pad', [x, i64([4], [0, 0, 0, 1])], [str('mode', 'wrap')], { opset: 18 }), 'UNSUPPORTED_OP', "mode 'wrap'");
    expectError(() => run1('Pad', [f32([0], []), i64([2], [1, 1])], [str('mode', 'edge')]), 'INVALID_SHAPE', 'empty');
  });
});

describe('ONNX shape ops: gathering and scattering', () => {
  it('Gather resolves negative indices and refuses out-of-range ones', () => {
    expectClose(run1('Gather', [f32([3, 2], range(6)), i64([2], [-1, 0])], [int('axis', 0)]), [2, 2], [4, 5, 0, 1]);
    expectError(() => runOnce('Gather', [f32([3], range(3)), i64([1], [3])], [], {}), 'OUT_OF_RANGE', 'index 3');
    expectError(() => runOnce('Gather', [f32([3], range(3)), i64([1], [-4])], [], { device: true }), 'OUT_OF_RANGE');
  });

  it('GatherElements takes smaller index dims; GatherND picks slices with batch_dims', () => {
    expectClose(run1('GatherElements', [f32([3, 3], range(9)), i64([2, 2], [-1, 0, 1, 2])], [int('axis', 1)]), [2, 2], [2, 0, 4, 5]);
    const data = f32([2, 2, 3], range(12));
    expectClose(run1('GatherND', [data, i64([2, 1, 1], [1, 0])], [int('batch_dims', 1)]), [2, 1, 3], [3, 4, 5, 6, 7, 8]);
    expectClose(run1('GatherND', [data, i64([2, 2], [0, -1, 1, 0])]), [2, 3], [3, 4, 5, 6, 7, 8]);
    expectError(() => run1('GatherND', [data, i64([1, 4], [0, 0, 0, 0])]), 'INVALID_SHAPE', 'do not index');
  });

  it('ScatterElements reduces duplicates with add, mul, max and min (18), in order', () => {
    const data = f32([1, 4], [1, 2, 3, 4]);
    const indices = i64([1, 4], [1, 1, 3, 1]);
    const updates = f32([1, 4], [5, -2, 7, 10]);
    const cases: [string, number[]][] = [['none', [1, 10, 3, 7]], ['add', [1, 15, 3, 11]], ['mul', [1, -200, 3, 28]], ['max', [1, 10, 3, 7]], ['min', [1, -2, 3, 4]]];
    for (const [reduction, expected] of cases) {
      expectClose(run1('ScatterElements', [data, indices, updates], [int('axis', 1), str('reduction', reduction)]), [1, 4], expected);
    }
    expectError(() => run1('ScatterElements', [data, indices, updates], [int('axis', 1), str('reduction', 'max')], { opset: 16 }), 'UNSUPPORTED_OP', "reduction 'max'");
    expectClose(run1('Scatter', [data, i64([1, 1], [-1]), f32([1, 1], [9])], [int('axis', 1)], { opset: 11 }), [1, 4], [1, 2, 3, 9]);
  });

  it('ScatterND adds duplicate slices and checks the updates shape', () => {
    const data = f32([3, 2], range(6));
    const out = run1('ScatterND', [data, i64([3, 1], [2, 0, 2]), f32([3, 2], [1, 1, 10, 10, 100, 100])], [str('reduction', 'add')]);
    expectClose(out, [3, 2], [10, 11, 2, 3, 105, 106]);
    expectClose(run1('ScatterND', [data, i64([1, 2], [-1, 1]), f32([1], [-5])]), [3, 2], [0, 1, 2, 3, 4, -5]);
    expectError(() => run1('ScatterND', [data, i64([1, 1], [0]), f32([1, 3], [1, 2, 3])]), 'SHAPE_MISMATCH', 'updates must be [1,2]');
  });

  it('Compress without an axis flattens; a selection beyond the axis is an error. ReverseSequence reverses each prefix', () => {
    expectClose(run1('Compress', [f32([2, 2], [1, 2, 3, 4]), bool([4], [0, 1, 1, 0])]), [2], [2, 3]);
    expectError(() => run1('Compress', [f32([2], [1, 2]), bool([3], [0, 0, 1])], [int('axis', 0)]), 'OUT_OF_RANGE', 'index 2');
    const x = f32([2, 3], range(6));
    expectClose(run1('ReverseSequence', [x, i64([2], [3, 2])], [int('batch_axis', 0), int('time_axis', 1)]), [2, 3], [2, 1, 0, 4, 3, 5]);
    expectError(() => run1('ReverseSequence', [x, i64([2], [4, 1])], [int('batch_axis', 0), int('time_axis', 1)]), 'INVALID_ARGUMENT', 'sequence_lens');
  });
});

describe('ONNX shape ops: making tensors', () => {
  it('ConstantOfShape, Range, Size and EyeLike give their types', () => {
    const c = run1('ConstantOfShape', [i64([0], [])], [{ name: 'value', type: AttributeType.TENSOR, t: proto('v', i64([1], [INT64_MAX])), ...none }]);
    expect(c.type).toBe(DataType.INT64);
    expect(c.shape).toEqual([]);
    const r = run1('Range', [i64([], [10]), i64([], [1]), i64([], [-4])]);
    expect([r.type, r.values]).toEqual([DataType.INT64, [10, 6, 2]]);
    expectError(() => run1('Range', [f32([], [0]), f32([], [1]), f32([], [0])]), 'INVALID_ARGUMENT', 'delta');
    expect(run1('Size', [f32([2, 3], range(6))])).toEqual({ type: DataType.INT64, shape: [], values: [6] });
    const eye = run1('EyeLike', [f32([2, 3], range(6))], [int('k', -1), int('dtype', DataType.INT64)]);
    expect([eye.type, eye.values]).toEqual([DataType.INT64, [0, 0, 0, 1, 0, 0]]);
  });

  it('OneHot casts float indices and depth, wraps negative indices, leaves out-of-range ones off', () => {
    const out = run1('OneHot', [f32([3], [1.7, -1, 5]), f32([], [3.2]), i32([2], [-1, 9])], [int('axis', 0)]);
    expect(out.type).toBe(DataType.INT32);
    expectClose(out, [3, 3], [-1, -1, -1, 9, -1, -1, -1, 9, -1]);
  });

  it('NonZero lists coordinates as int64 [rank, count]; Trilu keeps a band', () => {
    const nz = run1('NonZero', [f32([2, 2], [0, 3, -1, 0])]);
    expect([nz.type, nz.shape, nz.values]).toEqual([DataType.INT64, [2, 2], [0, 1, 1, 0]]);
    expect(run1('NonZero', [f32([], [5])]).shape).toEqual([0, 1]);
    expectClose(run1('Trilu', [i32([2, 2, 3], range(12, 1)), i64([], [-1])], [int('upper', 0)]), [2, 2, 3], [0, 0, 0, 4, 0, 0, 0, 0, 0, 10, 0, 0]);
    expectClose(run1('Trilu', [f32([3, 3], range(9, 1)), i64([], [1])]), [3, 3], [0, 2, 3, 0, 0, 6, 0, 0, 0]);
  });

  it('Constant densifies sparse_value and refuses strings as an unsupported dtype', () => {
    const sparse = { values: proto('s', f32([2], [5, 6])), indices: proto('i', i64([2], [1, 3])), dims: [2, 2] };
    const out = run1('Constant', [], [{ name: 'sparse_value', type: AttributeType.SPARSE_TENSOR, sparseTensor: sparse, ...none }]);
    expectClose(out, [2, 2], [0, 5, 0, 6]);
    expectError(() => runOnce('Constant', [], [str('value_string', 'hi')], {}), 'UNSUPPORTED_DTYPE', 'value_string');
  });
});

describe('ONNX shape ops: Resize and Upsample', () => {
  const x24 = f32([1, 1, 2, 4], range(8, 1));
  const x44 = f32([1, 1, 4, 4], range(16, 1));
  const scales = (v: number[]) => f32([v.length], v);
  const sizes = (v: number[]) => i64([v.length], v);
  const linear = str('mode', 'linear');

  it('half_pixel_symmetric (19), antialias (18) and keep_aspect_ratio_policy with axes (18)', () => {
    expectClose(run1('Resize', [x24, undefined, scales([1, 1, 1.7, 0.7])], [linear, str('coordinate_transformation_mode', 'half_pixel_symmetric')]),
      [1, 1, 3, 2], [1.785714, 3.214286, 3.785714, 5.214286, 5.785714, 7.214286]);
    expectClose(run1('Resize', [x44, undefined, undefined, sizes([1, 1, 3, 3])], [linear, int('antialias', 1)], { opset: 18 }),
      [1, 1, 3, 3], [2.363636, 3.590909, 4.818182, 7.272727, 8.5, 9.727273, 12.181818, 13.409091, 14.636364]);
    expectClose(run1('Resize', [x44, undefined, scales([1, 1, 0.6, 0.6])], [str('mode', 'cubic'), int('antialias', 1)], { opset: 18 }),
      [1, 1, 2, 2], [2.518072, 4.285886, 9.589329, 11.357142]);
    const nl = run1('Resize', [f32([1, 1, 2, 2], [1, 2, 3, 4]), undefined, undefined, sizes([7, 8])], [ints('axes', [2, -1]), str('keep_aspect_ratio_policy', 'not_larger')]);
    expectClose(nl, [1, 1, 7, 7], [1, 1, 1, 1, 2, 2, 2].concat([1, 1, 1, 1, 2, 2, 2], [1, 1, 1, 1, 2, 2, 2], [1, 1, 1, 1, 2, 2, 2], [3, 3, 3, 3, 4, 4, 4], [3, 3, 3, 3, 4, 4, 4], [3, 3, 3, 3, 4, 4, 4]));
    const ns = run1('Resize', [f32([1, 1, 2, 3], range(6, 1)), undefined, undefined, sizes([3, 5])], [linear, ints('axes', [2, 3]), str('keep_aspect_ratio_policy', 'not_smaller')]);
    expectClose(ns, [1, 1, 3, 5], [1, 1.4, 2, 2.6, 3, 2.2, 2.6, 3.2, 3.8, 4.2, 4, 4.4, 5, 5.6, 6]);
  });

  it('every nearest_mode, up and down', () => {
    const x = f32([1, 1, 1, 5], range(5, 1));
    const expected: Record<string, [number[], number[]]> = {
      round_prefer_floor: [[1, 1, 2, 3, 3, 4, 5, 5], [1, 3, 5]],
      round_prefer_ceil: [[1, 1, 2, 3, 3, 4, 5, 5], [1, 3, 5]],
      floor: [[1, 1, 2, 2, 3, 3, 4, 5], [1, 3, 4]],
      ceil: [[1, 2, 3, 3, 4, 4, 5, 5], [2, 3, 5]],
    };
    for (const [mode, [up, down]] of Object.entries(expected)) {
      expectClose(run1('Resize', [x, undefined, undefined, sizes([1, 1, 1, 8])], [str('nearest_mode', mode)]), [1, 1, 1, 8], up);
      expectClose(run1('Resize', [x, undefined, undefined, sizes([1, 1, 1, 3])], [str('nearest_mode', mode)]), [1, 1, 1, 3], down);
    }
  });

  it('tf_crop_and_resize extrapolates for nearest and cubic; N-D linear; pytorch_half_pixel to one element', () => {
    const crop = str('coordinate_transformation_mode', 'tf_crop_and_resize');
    expectClose(run1('Resize', [x44, f32([8], [0, 0, 0.4, 0.6, 1, 1, 1.2, 1.7]), undefined, sizes([1, 1, 3, 3])], [crop, float('extrapolation_value', 10)]),
      [1, 1, 3, 3], [7, 10, 10, 11, 10, 10, 10, 10, 10]);
    expectClose(run1('Resize', [x44, f32([8], [0, 0, 0.1, 0.2, 1, 1, 0.9, 1.1]), scales([1, 1, 0.75, 1.5])], [crop, str('mode', 'cubic'), float('extrapolation_value', -1)]),
      [1, 1, 3, 6], [2.431, 3.110344, 3.567832, 4.223362, 4.743544, -1, 7.504, 8.183344, 8.640832, 9.296362, 9.816544, -1, 12.577, 13.256344, 13.713832, 14.369362, 14.889544, -1]);
    expectClose(run1('Resize', [f32([2, 3, 4], range(24)), undefined, undefined, sizes([3, 5, 2])], [linear, str('coordinate_transformation_mode', 'align_corners')]),
      [3, 5, 2], [0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 6, 9, 8, 11, 10, 13, 12, 15, 14, 17, 12, 15, 14, 17, 16, 19, 18, 21, 20, 23]);
    expectClose(run1('Resize', [f32([1, 4], [1, 2, 3, 4]), undefined, undefined, sizes([1, 1])], [linear, str('coordinate_transformation_mode', 'pytorch_half_pixel')]), [1, 1], [1]);
  });

  it('integer inputs round half to even and saturate', () => {
    const up = run1('Resize', [u8([1, 1, 2, 2], [0, 255, 100, 7]), undefined, scales([1, 1, 2, 2])], [linear]);
    expect([up.type, up.values]).toEqual([DataType.UINT8, [0, 64, 191, 255, 25, 67, 151, 193, 75, 74, 70, 69, 100, 77, 30, 7]]);
    expect(run1('Resize', [u8([1, 4], [0, 255, 0, 255]), undefined, scales([1, 2])], [str('mode', 'cubic')]).values).toEqual([0, 67, 224, 215, 40, 31, 188, 255]);
    const cropped = run1('Resize', [i32([1, 1, 4, 4], range(16, 1)), f32([8], [0, 0, 0.4, 0.6, 1, 1, 1.2, 1.7]), undefined, sizes([1, 1, 3, 3])],
      [str('coordinate_transformation_mode', 'tf_crop_and_resize'), float('extrapolation_value', 10.5)]);
    expect(cropped.values).toEqual([7, 10, 10, 11, 10, 10, 10, 10, 10]);
    expectError(() => run1('Resize', [bool([1, 2], [0, 1]), undefined, scales([1, 2])], [linear]), 'UNSUPPORTED_DTYPE', 'bool');
  });

  it('Upsample (7, 9) and Resize-10 map coordinates asymmetrically, as onnxruntime does', () => {
    const x = f32([1, 1, 2, 2], [1, 2, 3, 4]);
    const up = [1, 1.5, 2, 2, 2, 2.5, 3, 3, 3, 3.5, 4, 4, 3, 3.5, 4, 4];
    expectClose(run1('Upsample', [x, scales([1, 1, 2, 2])], [linear], { opset: 9 }), [1, 1, 4, 4], up);
    expectClose(run1('Upsample', [x], [linear, floats('scales', [1, 1, 2, 2])], { opset: 7 }), [1, 1, 4, 4], up);
    expectClose(run1('Resize', [x24, scales([1, 1, 0.6, 0.6])], [], { opset: 10 }), [1, 1, 1, 2], [1, 3]);
    expectClose(run1('Resize', [x24, scales([1, 1, 0.6, 0.6])], [linear], { opset: 10 }), [1, 1, 1, 2], [1, 2.666667]);
    expectError(() => run1('Upsample', [x, scales([1, 1, 0.5, 2])], [], { opset: 9 }), 'INVALID_ARGUMENT', '>= 1');
    expectError(() => run1('Upsample', [x, scales([1, 1, 2, 2])], [], { opset: 10 }), 'UNSUPPORTED_OP', 'deprecated');
  });

  it('refuses bad requests by name', () => {
    expectError(() => run1('Resize', [x24, undefined, scales([1, 1, 2, 2]), sizes([1, 1, 4, 8])]), 'INVALID_MODEL', 'exactly one of scales and sizes');
    expectError(() => run1('Resize', [x24, undefined, scales([1, 1, 2, 2])], [str('mode', 'area')]), 'UNSUPPORTED_OP', "mode 'area'");
    expectError(() => run1('Resize', [x24, undefined, scales([1, 1, 2, 2])], [str('coordinate_transformation_mode', 'tf_half_pixel_for_nn')], { opset: 13 }), 'UNSUPPORTED_OP', 'tf_half_pixel_for_nn');
    expectError(() => run1('Resize', [x24, undefined, scales([2, 2])]), 'INVALID_ARGUMENT', 'scales [2,2]');
  });
});

describe('ONNX shape ops: memory', () => {
  it('leave nothing alive on the device path', () => {
    const before = liveTensors();
    run1('Resize', [f32([1, 1, 2, 2], [1, 2, 3, 4]), undefined, f32([4], [1, 1, 2, 2])], [str('mode', 'cubic')]);
    run1('ScatterND', [f32([3], [1, 2, 3]), i64([2, 1], [0, 0]), f32([2], [1, 1])], [str('reduction', 'add')]);
    run1('Pad', [f32([2, 2], [1, 2, 3, 4]), i64([4], [1, 1, 1, 1])], [str('mode', 'reflect')]);
    expect(liveTensors()).toBe(before);
  });

  it('an output that passes a device input through is a reference of its own', () => {
    const forms: [string, (Data | undefined)[], AttributeProto[]][] = [
      ['Concat', [], [int('axis', 0)]],
      ['Pad', [i64([2], [0, 0])], [str('mode', 'edge')]],
      ['Resize', [undefined, f32([1], [1])], []],
    ];
    for (const [opType, rest, attrs] of forms) {
      // `a` is released after its last reader: an output sharing its tensor would die with it.
      const names = ['a', ...rest.map((d, i) => (d === undefined ? '' : `r${i}`))];
      const m = model(graph({
        node: [node('Add', ['x', 'x'], ['a']), node(opType, names, ['y'], attrs)],
        initializer: rest.flatMap((d, i) => (d === undefined ? [] : [proto(`r${i}`, d)])),
        input: [valueInfo('x')], output: [valueInfo('y')],
      }), { opsetImport: [{ domain: '', version: 21 }] });
      const session = OnnxSession.create(m);
      const x = Value.fromProto(proto('x', f32([2], [1, 2])));
      const { y } = session.run({ x: x.tensor('js', 'x') });
      expect(Array.from(y.dataSync())).toEqual([2, 4]);
      y.dispose();
      x.dispose();
      session.dispose();
    }
  });
});
