import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { Random, init, liveTensors } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import {
  type AttributeProto, AttributeType, DataType, exportModule, fuseQuantized, makeTensor, type ModelProto, type NodeProto, OnnxSession,
  type TensorProto, writeModel,
} from '@minnow/onnx';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '@minnow/nn';
import { calibrateOnnx, quantizeOnnx } from '@minnow/compress';
import { runs } from '../helpers/reference.js';
import { graph, graphAttr, intAttr, model, node, valueInfo } from './build.js';

// Integer execution of quantized graphs: QLinearConv and ConvInteger (im2col on core's int8
// matmulInteger) against onnxruntime over random geometries, and fuseQuantized, the plan-time
// rewrite of QDQ graphs onto the integer ops: which patterns it rewrites and which it leaves,
// and that the rewritten graph agrees with the QDQ graph run as written, and with onnxruntime,
// to within one quantization step.

const BACKENDS = ['js', 'wasm'] as const;

beforeAll(async () => {
  enableRelaxedSimd();
  await init(wasmBackend);
});

type Typed = Float32Array | Int8Array | Uint8Array | Int32Array | BigInt64Array;
interface Feed { readonly type: 'float32' | 'int8' | 'uint8' | 'int32'; readonly dims: readonly number[]; readonly data: Typed }

const ELEM = { float32: DataType.FLOAT, int8: DataType.INT8, uint8: DataType.UINT8, int32: DataType.INT32 } as const;
const bytes = (a: Typed): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const tensor = (name: string, a: Typed, dims: readonly number[]): TensorProto => {
  const type = a instanceof Float32Array ? DataType.FLOAT : a instanceof Int8Array ? DataType.INT8 : a instanceof Uint8Array ? DataType.UINT8
    : a instanceof Int32Array ? DataType.INT32 : DataType.INT64;
  return makeTensor(name, type, [...dims], bytes(a));
};
const ints = (name: string, values: readonly number[]): AttributeProto => ({
  name, type: AttributeType.INTS, ints: values.map(BigInt), floats: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [],
});
const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

function randomInts(random: Random, count: number, lo: number, hi: number): number[] {
  return Array.from({ length: count }, () => lo + random.int(hi - lo + 1));
}

async function runOrt(m: ModelProto, feeds: Readonly<Record<string, Feed>>): Promise<Record<string, number[]>> {
  const session = await ort.InferenceSession.create(writeModel(m).model, { logSeverityLevel: 3, intraOpNumThreads: 1 });
  const results = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, new ort.Tensor(f.type, f.data as never, [...f.dims])])));
  const out = Object.fromEntries(session.outputNames.map((n) => [n, Array.from(results[n].data as ArrayLike<number>, Number)]));
  await session.release();
  return out;
}

function runMinnow(m: ModelProto, feeds: Readonly<Record<string, Feed>>, backend: string): Record<string, number[]> {
  const before = liveTensors();
  const session = OnnxSession.create(m, { backend });
  const values = session.runValues(Object.fromEntries(Object.entries(feeds).map(([k, f]) => [k, tensor(k, f.data, f.dims)])));
  const out: Record<string, number[]> = {};
  for (const [name, v] of values) {
    out[name] = Array.from(v.hostData() as ArrayLike<number>, Number);
    v.dispose();
  }
  session.dispose();
  expect(liveTensors(), 'tensors left alive by the run').toBe(before);
  return out;
}

const largestDifference = (a: readonly number[], b: readonly number[]): number => a.reduce((w, v, i) => Math.max(w, Math.abs(v - b[i])), 0);

describe('QLinearConv and ConvInteger on the integer kernels', () => {
  interface ConvCase {
    readonly dims: 1 | 2;
    readonly n: number;
    readonly groups: number;
    readonly channelsPerGroup: number;
    readonly outputsPerGroup: number;
    readonly kernel: number[];
    readonly strides: number[];
    readonly dilations: number[];
    readonly padFractions: number[];
    readonly extra: number[];
    readonly signed: boolean;
    readonly perChannel: boolean;
    readonly bias: boolean;
    readonly seed: number;
  }
  const pair = (lo: number, hi: number) => fc.array(fc.integer({ min: lo, max: hi }), { minLength: 2, maxLength: 2 });
  const convCase: fc.Arbitrary<ConvCase> = fc.record({
    dims: fc.constantFrom(1 as const, 2 as const),
    n: fc.integer({ min: 1, max: 2 }),
    groups: fc.constantFrom(1, 2),
    channelsPerGroup: fc.integer({ min: 1, max: 4 }),
    outputsPerGroup: fc.integer({ min: 1, max: 3 }),
    kernel: pair(1, 3),
    strides: pair(1, 3),
    dilations: pair(1, 2),
    padFractions: fc.array(fc.double({ min: 0, max: 0.999, noNaN: true }), { minLength: 4, maxLength: 4 }),
    extra: pair(0, 5),
    signed: fc.boolean(),
    perChannel: fc.boolean(),
    bias: fc.boolean(),
    seed: fc.integer({ min: 1, max: 1 << 30 }),
  });

  /** A QLinearConv (or ConvInteger) model for `c`, with its feeds; pads below the kernel extent, as onnxruntime requires. */
  function convModel(c: ConvCase, integerOnly: boolean): { m: ModelProto; feeds: Record<string, Feed> } {
    const random = new Random(c.seed);
    const d = c.dims;
    const kernel = c.kernel.slice(0, d);
    const dilations = c.dilations.slice(0, d);
    const extents = kernel.map((k, i) => (k - 1) * dilations[i] + 1);
    const pads = [...extents, ...extents].map((e, i) => Math.floor(c.padFractions[i % 2 + (i >= d ? 2 : 0)] * e) % e);
    const spatial = extents.map((e, i) => e + c.extra[i]);
    const channels = c.groups * c.channelsPerGroup;
    const m = c.groups * c.outputsPerGroup;
    const xType = c.signed && !integerOnly ? 'int8' : 'uint8';
    const [lo, hi] = xType === 'int8' ? [-128, 127] : [0, 255];
    const xDims = [c.n, channels, ...spatial];
    const wDims = [m, c.channelsPerGroup, ...kernel];
    const x = xType === 'int8' ? Int8Array.from(randomInts(random, size(xDims), lo, hi)) : Uint8Array.from(randomInts(random, size(xDims), lo, hi));
    const attrs = [ints('kernel_shape', kernel), ints('strides', c.strides.slice(0, d)), ints('dilations', dilations), ints('pads', pads), intAttr('group', c.groups)];
    const xZero = lo + random.int(hi - lo + 1);
    if (integerOnly) {
      const w = Uint8Array.from(randomInts(random, size(wDims), 0, 255));
      const initializer = [tensor('w', w, wDims), tensor('xz', Uint8Array.of(xZero), []), tensor('wz', Uint8Array.of(random.int(256)), [])];
      const m0 = model(graph({
        node: [node('ConvInteger', ['x', 'w', 'xz', 'wz'], ['y'], attrs)], initializer,
        input: [valueInfo('x', DataType.UINT8, xDims)], output: [valueInfo('y', DataType.INT32)],
      }), { opsetImport: [{ domain: '', version: 10 }] });
      return { m: m0, feeds: { x: { type: 'uint8', dims: xDims, data: x } } };
    }
    const depth = c.channelsPerGroup * size(kernel);
    const w = Int8Array.from(randomInts(random, size(wDims), -127, 127));
    const wScale = Float32Array.from({ length: c.perChannel ? m : 1 }, () => Math.fround(0.005 + 0.015 * random.uniform()));
    const xScale = Float32Array.of(0.02);
    const yScale = Float32Array.of(Math.fround(0.02 * 0.012 * Math.sqrt(depth) * 60 * (0.5 + random.uniform())));
    const initializer = [
      tensor('xs', xScale, []), tensor('xz', xType === 'int8' ? Int8Array.of(xZero) : Uint8Array.of(xZero), []),
      tensor('w', w, wDims), tensor('ws', wScale, c.perChannel ? [m] : []), tensor('wz', new Int8Array(c.perChannel ? m : 1), c.perChannel ? [m] : []),
      tensor('ys', yScale, []), tensor('yz', xType === 'int8' ? Int8Array.of(random.int(41) - 20) : Uint8Array.of(108 + random.int(41)), []),
    ];
    const inputs = ['x', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz'];
    if (c.bias) {
      initializer.push(tensor('b', Int32Array.from(randomInts(random, m, -3000, 3000)), [m]));
      inputs.push('b');
    }
    const m0 = model(graph({
      node: [node('QLinearConv', inputs, ['y'], attrs)], initializer,
      input: [valueInfo('x', ELEM[xType], xDims)], output: [valueInfo('y', ELEM[xType])],
    }), { opsetImport: [{ domain: '', version: 10 }] });
    return { m: m0, feeds: { x: { type: xType, dims: xDims, data: x } } };
  }

  it('QLinearConv agrees with onnxruntime over random geometries, groups, per-channel scales, biases, int8 and uint8', async () => {
    let exact = 0;
    let total = 0;
    await fc.assert(fc.asyncProperty(convCase, async (c) => {
      const { m, feeds } = convModel(c, false);
      const want = (await runOrt(m, feeds)).y;
      for (const backend of BACKENDS) {
        const got = runMinnow(m, feeds, backend).y;
        expect(got.length).toBe(want.length);
        expect(largestDifference(got, want), `${backend} ${JSON.stringify(c)}`).toBeLessThanOrEqual(1);
        exact += got.filter((v, i) => v === want[i]).length;
        total += got.length;
      }
    }), runs(7001, 60));
    // One step apart only where float rounding puts acc * multiplier within an ulp of a half.
    expect(exact / total).toBeGreaterThan(0.999);
  });

  it('QLinearConv rounds half to even and adds its bias exactly as onnxruntime does (multiplier 1/2: every odd sum is a tie)', async () => {
    const random = new Random(21);
    const xDims = [2, 6, 5, 5];
    const wDims = [4, 3, 2, 2];
    const x = Uint8Array.from(randomInts(random, size(xDims), 97, 103));
    const initializer = [
      tensor('xs', Float32Array.of(0.25), []), tensor('xz', Uint8Array.of(100), []),
      tensor('w', Int8Array.from(randomInts(random, size(wDims), -3, 3)), wDims), tensor('ws', Float32Array.of(0.5, 0.25, 1, 0.125), [4]),
      tensor('wz', new Int8Array(4), [4]), tensor('ys', Float32Array.of(0.0625), []), tensor('yz', Uint8Array.of(128), []),
      tensor('b', Int32Array.of(-7, 3, 0, 11), [4]),
    ];
    // Multipliers 0.25 * ws / 0.0625: 2, 1, 4 and 1/2, all exact.
    const m = model(graph({
      node: [node('QLinearConv', ['x', 'xs', 'xz', 'w', 'ws', 'wz', 'ys', 'yz', 'b'], ['y'], [intAttr('group', 2), ints('pads', [1, 0, 0, 1])])], initializer,
      input: [valueInfo('x', DataType.UINT8, xDims)], output: [valueInfo('y', DataType.UINT8)],
    }), { opsetImport: [{ domain: '', version: 10 }] });
    const feeds: Record<string, Feed> = { x: { type: 'uint8', dims: xDims, data: x } };
    const want = (await runOrt(m, feeds)).y;
    for (const backend of BACKENDS) expect(runMinnow(m, feeds, backend).y).toEqual(want);
  });

  it('ConvInteger agrees with onnxruntime exactly over random geometries and groups', async () => {
    await fc.assert(fc.asyncProperty(convCase, async (c) => {
      const { m, feeds } = convModel(c, true);
      const want = (await runOrt(m, feeds)).y;
      for (const backend of BACKENDS) expect(runMinnow(m, feeds, backend).y, `${backend} ${JSON.stringify(c)}`).toEqual(want);
    }), runs(7002, 40));
  });

  it('ConvInteger in 3-D and with per-channel weight zero points that differ between groups, against a float Conv of the shifted values', async () => {
    const random = new Random(11);
    for (const [xDims, wDims, group, attrs] of [
      [[1, 2, 4, 5, 5], [3, 2, 2, 3, 2], 1, [ints('pads', [1, 0, 1, 0, 1, 1]), ints('strides', [1, 2, 1])]],
      [[2, 4, 6, 7], [6, 2, 3, 3], 2, [ints('pads', [1, 2, 0, 1]), ints('dilations', [2, 1])]],
    ] as const) {
      const x = Uint8Array.from(randomInts(random, size(xDims), 0, 255));
      const w = Uint8Array.from(randomInts(random, size(wDims), 0, 255));
      const wz = Uint8Array.from(randomInts(random, wDims[0], 0, 255));
      const per = size(wDims) / wDims[0];
      const attributes = [...attrs, intAttr('group', group)];
      const integer = model(graph({
        node: [node('ConvInteger', ['x', 'w', 'xz', 'wz'], ['y'], attributes)],
        initializer: [tensor('w', w, wDims), tensor('xz', Uint8Array.of(93), []), tensor('wz', wz, [wDims[0]])],
        input: [valueInfo('x', DataType.UINT8, [...xDims])], output: [valueInfo('y', DataType.INT32)],
      }), { opsetImport: [{ domain: '', version: 10 }] });
      const float = model(graph({
        node: [node('Conv', ['x', 'w'], ['y'], attributes)],
        initializer: [tensor('w', Float32Array.from(w, (v, i) => v - wz[Math.floor(i / per)]), wDims)],
        input: [valueInfo('x', DataType.FLOAT, [...xDims])], output: [valueInfo('y', DataType.FLOAT)],
      }), { opsetImport: [{ domain: '', version: 11 }] });
      const want = (await runOrt(float, { x: { type: 'float32', dims: xDims, data: Float32Array.from(x, (v) => v - 93) } })).y;
      for (const backend of BACKENDS) expect(runMinnow(integer, { x: { type: 'uint8', dims: xDims, data: x } }, backend).y).toEqual(want);
    }
  });
});

// ---- QDQ graphs ------------------------------------------------------------------------------

interface Layer { readonly op: 'MatMul' | 'Gemm' | 'Conv'; readonly weightDims: number[]; readonly attrs?: AttributeProto[]; readonly bias?: boolean; readonly relu?: boolean; readonly quantizeOutput?: boolean; readonly outScale?: number }

/**
 * A QDQ model as quantizers write it: the float input quantized to uint8 (scale `inScale`, zero
 * point 128), each layer's weights int8 per output channel behind a DequantizeLinear, biases int32
 * in the accumulator's scale, and each output quantized (zero point 0 after a Relu, 128 otherwise).
 */
function qdqModel(inputDims: number[], layers: readonly Layer[], seed: number, opset = 13): { m: ModelProto; outScale: number } {
  const random = new Random(seed);
  const nodes: NodeProto[] = [];
  const initializer: TensorProto[] = [];
  const q = (x: string, scale: number, zero: number, out: string): void => {
    initializer.push(tensor(`${out}_s`, Float32Array.of(scale), []), tensor(`${out}_z`, Uint8Array.of(zero), []));
    nodes.push(node('QuantizeLinear', [x, `${out}_s`, `${out}_z`], [`${out}_q`]), node('DequantizeLinear', [`${out}_q`, `${out}_s`, `${out}_z`], [out]));
  };
  q('x', 0.02, 128, 'x_dq');
  let current = 'x_dq';
  let scale = 0.02;
  let outScale = 0;
  layers.forEach((layer, i) => {
    const channels = layer.op === 'MatMul' ? layer.weightDims[1] : layer.weightDims[0];
    const w = Int8Array.from(randomInts(random, size(layer.weightDims), -127, 127));
    const ws = Float32Array.from({ length: channels }, () => Math.fround(0.004 + 0.004 * random.uniform()));
    initializer.push(tensor(`w${i}`, w, layer.weightDims), tensor(`w${i}_s`, ws, [channels]), tensor(`w${i}_z`, new Int8Array(channels), [channels]));
    nodes.push(node('DequantizeLinear', [`w${i}`, `w${i}_s`, `w${i}_z`], [`w${i}_dq`], [intAttr('axis', layer.op === 'MatMul' ? 1 : 0)]));
    const inputs = [current, `w${i}_dq`];
    if (layer.bias) {
      const bs = Float32Array.from(ws, (s) => Math.fround(scale * s));
      initializer.push(tensor(`b${i}`, Int32Array.from(randomInts(random, channels, -4000, 4000)), [channels]), tensor(`b${i}_s`, bs, [channels]));
      nodes.push(node('DequantizeLinear', [`b${i}`, `b${i}_s`], [`b${i}_dq`], [intAttr('axis', 0)]));
      inputs.push(`b${i}_dq`);
    }
    nodes.push(node(layer.op, inputs, [`y${i}`], layer.attrs ?? (layer.op === 'Gemm' ? [intAttr('transB', 1)] : [])));
    let out = `y${i}`;
    if (layer.relu) {
      nodes.push(node('Relu', [out], [`r${i}`]));
      out = `r${i}`;
    }
    scale = layer.outScale ?? 0.05;
    if (layer.quantizeOutput ?? true) {
      q(out, scale, layer.relu ? 0 : 128, `a${i}`);
      current = `a${i}`;
      outScale = scale;
    } else {
      current = out;
    }
  });
  nodes.push(node('Identity', [current], ['y']));
  const m = model(graph({ node: nodes, initializer, input: [valueInfo('x', DataType.FLOAT, inputDims)], output: [valueInfo('y', DataType.FLOAT)] }), {
    opsetImport: [{ domain: '', version: opset }],
  });
  return { m, outScale };
}

const opTypes = (m: ModelProto): string[] => m.graph!.node.map((n) => n.opType ?? '');

function floatFeed(dims: number[], seed: number): Record<string, Feed> {
  const random = new Random(seed);
  return { x: { type: 'float32', dims, data: Float32Array.from({ length: size(dims) }, () => Math.fround(2.4 * random.uniform() - 1.2)) } };
}

/**
 * The fused model agrees with the QDQ model run unfused (on minnow) and with onnxruntime (which
 * applies its own QDQ fusions), on both backends, to within `steps` output quantization steps;
 * onnxruntime also runs the fused model (standard ops, and its own com.microsoft QGemm) to the same result.
 */
async function expectAgreement(qdq: ModelProto, fused: ModelProto, feeds: Record<string, Feed>, step: number, steps = 1): Promise<void> {
  const tolerance = steps * step * (1 + 1e-5) + 1e-6;
  const ortQdq = (await runOrt(qdq, feeds)).y;
  expect(largestDifference((await runOrt(fused, feeds)).y, ortQdq), 'onnxruntime: fused vs QDQ').toBeLessThanOrEqual(tolerance);
  for (const backend of BACKENDS) {
    const got = runMinnow(fused, feeds, backend).y;
    expect(largestDifference(got, runMinnow(qdq, feeds, backend).y), `${backend}: fused vs QDQ unfused`).toBeLessThanOrEqual(tolerance);
    expect(largestDifference(got, ortQdq), `${backend}: fused vs onnxruntime`).toBeLessThanOrEqual(tolerance);
  }
}

describe('fuseQuantized: QDQ products onto the integer kernels', () => {
  it('MatMul between DequantizeLinears and a QuantizeLinear becomes QLinearMatMul (per-column weight scales)', async () => {
    const { m, outScale } = qdqModel([3, 48], [{ op: 'MatMul', weightDims: [48, 20] }], 1);
    const fused = fuseQuantized(m);
    expect(opTypes(fused)).toEqual(['QuantizeLinear', 'QLinearMatMul', 'DequantizeLinear', 'Identity']);
    await expectAgreement(m, fused, floatFeed([3, 48], 2), outScale);
  });

  it('Gemm with an int32 bias and a Relu folded into its QuantizeLinear, then a float Gemm: two com.microsoft QGemm, the Relu gone', async () => {
    const { m, outScale } = qdqModel([5, 64], [
      { op: 'Gemm', weightDims: [40, 64], bias: true, relu: true },
      { op: 'Gemm', weightDims: [7, 40], bias: true, quantizeOutput: false },
    ], 3);
    const fused = fuseQuantized(m);
    expect(opTypes(fused)).toEqual(['QuantizeLinear', 'QGemm', 'QGemm', 'Identity']);
    expect(fused.graph!.node.filter((n) => n.opType === 'QGemm').map((n) => n.domain)).toEqual(['com.microsoft', 'com.microsoft']);
    expect(fused.opsetImport).toContainEqual({ domain: 'com.microsoft', version: 1 });
    // The weights stay as stored ([N, K], transB): no transposed copy.
    expect(fused.graph!.initializer.map((t) => t.name)).not.toContain('w0_transposed');
    expect(outScale).toBe(0.05);
    // The last layer is float: its error is the first layer's step carried through 40 weights.
    const feeds = floatFeed([5, 64], 4);
    const qdq = runMinnow(m, feeds, 'wasm').y;
    const ortFused = (await runOrt(fused, feeds)).y;
    for (const backend of BACKENDS) {
      const got = runMinnow(fused, feeds, backend).y;
      expect(largestDifference(got, qdq)).toBeLessThanOrEqual(0.05 * 40 * 0.008 * 1.001);
      expect(largestDifference(got, (await runOrt(m, feeds)).y)).toBeLessThanOrEqual(0.05 * 40 * 0.008 * 1.001);
      // onnxruntime runs the fused model's QGemm nodes with its own kernels: the same numbers, bit for bit.
      expect(got, `${backend}: fused, minnow vs onnxruntime`).toEqual(ortFused);
    }
  });

  it('Conv with bias and Relu becomes QLinearConv; a float Conv output becomes ConvInteger; a shallow Conv stays float', async () => {
    const { m, outScale } = qdqModel([2, 1, 12, 12], [
      { op: 'Conv', weightDims: [8, 1, 2, 2], bias: true, relu: true },
      { op: 'Conv', weightDims: [16, 8, 3, 3], bias: true, relu: true, attrs: [ints('pads', [1, 1, 1, 1])] },
      { op: 'Conv', weightDims: [16, 16, 3, 3], bias: true, relu: true, attrs: [ints('strides', [2, 2])] },
    ], 5);
    const fused = fuseQuantized(m);
    expect(opTypes(fused).filter((t) => t.includes('Conv'))).toEqual(['Conv', 'QLinearConv', 'QLinearConv']);
    expect(opTypes(fused)).not.toContain('Relu');
    await expectAgreement(m, fused, floatFeed([2, 1, 12, 12], 6), outScale);

    // A first 3x3 convolution over one channel (9 terms) runs on the integer kernel.
    const first = qdqModel([2, 1, 12, 12], [{ op: 'Conv', weightDims: [8, 1, 3, 3], bias: true, relu: true }], 15);
    expect(opTypes(fuseQuantized(first.m)).filter((t) => t.includes('Conv'))).toEqual(['QLinearConv']);
    await expectAgreement(first.m, fuseQuantized(first.m), floatFeed([2, 1, 12, 12], 16), first.outScale);

    const last = qdqModel([1, 16, 6, 6], [{ op: 'Conv', weightDims: [4, 16, 3, 3], bias: true, quantizeOutput: false }], 7).m;
    const integer = fuseQuantized(last);
    expect(opTypes(integer)).toEqual(['QuantizeLinear', 'DequantizeLinear', 'ConvInteger', 'DequantizeLinear', 'Reshape', 'Add', 'Identity']);
    const feeds = floatFeed([1, 16, 6, 6], 8);
    for (const backend of BACKENDS) {
      expect(largestDifference(runMinnow(integer, feeds, backend).y, runMinnow(last, feeds, backend).y)).toBeLessThanOrEqual(1e-4);
    }
  });

  it('DequantizeLinear -> Flatten -> QuantizeLinear with equal parameters runs Flatten on the quantized values', async () => {
    const { m, outScale } = qdqModel([2, 4, 4, 4], [{ op: 'Conv', weightDims: [8, 4, 3, 3], relu: true, outScale: 0.04 }], 9);
    const nodes = [...m.graph!.node];
    const identity = nodes.pop()!;
    const flatten = [node('Flatten', ['a0'], ['f']), node('QuantizeLinear', ['f', 'a0_s', 'a0_z'], ['f_q']), node('DequantizeLinear', ['f_q', 'a0_s', 'a0_z'], ['f_dq'])];
    const withFlatten = { ...m, graph: { ...m.graph!, node: [...nodes, ...flatten, { ...identity, input: ['f_dq'] }] } };
    const fused = fuseQuantized(withFlatten);
    expect(opTypes(fused)).toEqual(['QuantizeLinear', 'QLinearConv', 'Flatten', 'DequantizeLinear', 'Identity']);
    await expectAgreement(withFlatten, fused, floatFeed([2, 4, 4, 4], 10), outScale);
  });

  it('a QuantizeLinear behind Relu -> MaxPool -> Flatten moves up to the Conv; a Reshape with a computed shape keeps it where it is', async () => {
    // Conv -> Relu -> MaxPool -> Flatten -> QuantizeLinear: the Conv requantizes, the pooling compares bytes.
    const build = (opset: number, tail: 'flatten' | 'computedReshape'): ModelProto => {
      const { m } = qdqModel([2, 4, 8, 8], [{ op: 'Conv', weightDims: [8, 4, 3, 3], bias: true, relu: true, quantizeOutput: false }], 21, opset);
      const nodes = [...m.graph!.node];
      const identity = nodes.pop()!;
      const flattenOrReshape = tail === 'flatten'
        ? [node('Flatten', ['p'], ['f'])]
        : [node('Shape', ['p'], ['p_shape']), node('Reshape', ['p', 'p_shape'], ['f'])];
      const initializer = [...m.graph!.initializer, makeTensor('f_s', DataType.FLOAT, [], bytes(Float32Array.of(0.05))), makeTensor('f_z', DataType.UINT8, [], bytes(Uint8Array.of(0)))];
      const tailNodes = [
        node('MaxPool', ['r0'], ['p'], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]), ...flattenOrReshape,
        node('QuantizeLinear', ['f', 'f_s', 'f_z'], ['f_q']), node('DequantizeLinear', ['f_q', 'f_s', 'f_z'], ['f_dq']),
      ];
      return { ...m, graph: { ...m.graph!, initializer, node: [...nodes, ...tailNodes, { ...identity, input: ['f_dq'] }] } };
    };
    const moved = build(13, 'flatten');
    const fused = fuseQuantized(moved);
    expect(opTypes(fused)).toEqual(['QuantizeLinear', 'QLinearConv', 'MaxPool', 'Flatten', 'DequantizeLinear', 'Identity']);
    await expectAgreement(moved, fused, floatFeed([2, 4, 8, 8], 22), 0.05);
    // A Reshape whose shape is computed (by a Shape node after the Conv) cannot run where the Conv stood.
    const computed = build(13, 'computedReshape');
    expect(opTypes(fuseQuantized(computed))).toEqual([
      'QuantizeLinear', 'DequantizeLinear', 'ConvInteger', 'DequantizeLinear', 'Reshape', 'Add', 'Relu', 'MaxPool', 'Shape', 'Reshape', 'QuantizeLinear', 'DequantizeLinear', 'Identity',
    ]);
    await expectAgreement(computed, fuseQuantized(computed), floatFeed([2, 4, 8, 8], 23), 0.05);
  });

  it('returns a new model and leaves its input as it was; a model with nothing to fuse comes back as it is', () => {
    const { m } = qdqModel([2, 40], [{ op: 'Gemm', weightDims: [32, 40], bias: true, relu: true }], 11);
    const snapshot = structuredClone(m);
    const fused = fuseQuantized(m);
    expect(fused).not.toBe(m);
    expect(m).toEqual(snapshot);
    const float = model(graph({ node: [node('Relu', ['x'], ['y'])], input: [valueInfo('x', DataType.FLOAT, [2])], output: [valueInfo('y', DataType.FLOAT)] }));
    expect(fuseQuantized(float)).toBe(float);
  });

  it('leaves what it cannot rewrite exactly: a Relu the QuantizeLinear does not clip, a product read twice, blocked weights', async () => {
    // Zero point 128 after the Relu: the Relu clips what the QuantizeLinear keeps, so it stays (the product still goes integer).
    const base = qdqModel([2, 40], [{ op: 'MatMul', weightDims: [40, 16], relu: true }], 12).m;
    const unclipped = { ...base, graph: { ...base.graph!, initializer: base.graph!.initializer.map((t) => (t.name === 'a0_z' ? tensor('a0_z', Uint8Array.of(128), []) : t)) } };
    const kept = fuseQuantized(unclipped);
    expect(opTypes(kept)).toEqual(['QuantizeLinear', 'MatMulInteger', 'DequantizeLinear', 'Mul', 'Relu', 'QuantizeLinear', 'DequantizeLinear', 'Identity']);
    await expectAgreement(unclipped, kept, floatFeed([2, 40], 13), 0.05);

    // The product is also a graph output: it must stay float, and the QuantizeLinear reads it.
    const plain = qdqModel([2, 40], [{ op: 'MatMul', weightDims: [40, 16] }], 14).m;
    const twice = { ...plain, graph: { ...plain.graph!, output: [...plain.graph!.output, valueInfo('y0', DataType.FLOAT)] } };
    const fusedTwice = fuseQuantized(twice);
    expect(opTypes(fusedTwice)).toEqual(['QuantizeLinear', 'MatMulInteger', 'DequantizeLinear', 'Mul', 'QuantizeLinear', 'DequantizeLinear', 'Identity']);
    const feeds = floatFeed([2, 40], 15);
    const [want, got] = [runMinnow(twice, feeds, 'wasm'), runMinnow(fusedTwice, feeds, 'wasm')];
    expect(largestDifference(got.y0, want.y0)).toBeLessThanOrEqual(1e-5);
    expect(largestDifference(got.y, want.y)).toBeLessThanOrEqual(0.05 * 1.00001);

    // Blocked (opset 21) weights are not an integer product's operand.
    const blocked = qdqModel([2, 64], [{ op: 'MatMul', weightDims: [64, 8] }], 16, 21).m;
    const g = blocked.graph!;
    const blockedModel = {
      ...blocked,
      graph: {
        ...g,
        initializer: g.initializer.map((t) => (t.name === 'w0_s' ? tensor('w0_s', new Float32Array(16).fill(0.005), [2, 8]) : t.name === 'w0_z' ? tensor('w0_z', new Int8Array(16), [2, 8]) : t)),
        node: g.node.map((n) => (n.output[0] === 'w0_dq' ? { ...n, attribute: [intAttr('axis', 0), intAttr('block_size', 32)] } : n)),
      },
    };
    expect(opTypes(fuseQuantized(blockedModel))).toContain('MatMul');
  });

  it('rewrites inside subgraphs, reading weights from the enclosing graph', () => {
    const inner = qdqModel([2, 40], [{ op: 'MatMul', weightDims: [40, 12] }], 17).m.graph!;
    const last = inner.node[inner.node.length - 1];
    const body = graph({ name: 'then', node: [...inner.node.slice(0, -1), { ...last, output: ['y_then'] }], output: [valueInfo('y_then', DataType.FLOAT)] });
    const outer = model(graph({
      node: [node('If', ['c'], ['y'], [graphAttr('then_branch', body), graphAttr('else_branch', graph({ name: 'else', node: [node('Identity', ['x'], ['y_else'])], output: [valueInfo('y_else', DataType.FLOAT)] }))])],
      initializer: inner.initializer,
      input: [valueInfo('c', DataType.BOOL, []), valueInfo('x', DataType.FLOAT, [2, 40])],
      output: [valueInfo('y', DataType.FLOAT)],
    }), { opsetImport: [{ domain: '', version: 13 }] });
    const fused = fuseQuantized(outer);
    const then = fused.graph!.node[0].attribute.find((a) => a.name === 'then_branch')!.g!;
    expect(opTypes({ ...fused, graph: then })).toEqual(['QuantizeLinear', 'QLinearMatMul', 'DequantizeLinear', 'Identity']);
    const x = floatFeed([2, 40], 18).x;
    const session = (m: ModelProto) => {
      const s = OnnxSession.create(m, { backend: 'wasm' });
      const out = s.run({ x: tensor('x', x.data, x.dims), c: makeTensor('c', DataType.BOOL, [], Uint8Array.of(1)) }).y;
      const values = Array.from(out.dataSync() as Float32Array);
      out.dispose();
      s.dispose();
      return values;
    };
    expect(largestDifference(session(fused), session(outer))).toBeLessThanOrEqual(0.05 * 1.00001);
  });
});

describe('fuseQuantized on what quantizeOnnx writes', () => {
  it('static QDQ, QOperator, dynamic and weight-only models of an nn CNN give the same outputs fused, on both backends and in onnxruntime', async () => {
    const rng = new Random(31);
    const net = new Sequential(
      new Conv2d(4, 12, 3, { seed: rng, backend: 'js' }), new ReLU(), new Conv2d(12, 16, 3, { seed: rng, backend: 'js', padding: 1 }), new ReLU(),
      new MaxPool2d(2), new Flatten(), new Linear(16 * 4 * 4, 24, { seed: rng, backend: 'js' }), new ReLU(), new Linear(24, 5, { seed: rng, backend: 'js' }),
    );
    const float = exportModule(net, { inputShape: [1, 4, 10, 10] });
    const dims = [3, 4, 10, 10];
    const batches = [40, 41, 42].map((seed) => ({ input: makeTensor('input', DataType.FLOAT, dims, bytes(floatFeed(dims, seed).x.data)) }));
    const activationRanges = await calibrateOnnx(float, batches, { method: 'minmax' });
    const feeds = { input: floatFeed(dims, 43).x };
    for (const options of [
      { mode: 'static', activationRanges },
      { mode: 'static', activationRanges, format: 'qop' },
      { mode: 'dynamic' },
      { mode: 'weight-only' },
    ] as const) {
      const quantized = quantizeOnnx(float, options).model;
      const fused = fuseQuantized(quantized);
      const want = runMinnow(quantized, feeds, 'wasm').output;
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      const tolerance = 1e-3 * scale;
      for (const backend of BACKENDS) expect(largestDifference(runMinnow(fused, feeds, backend).output, want), `${options.mode} ${backend}`).toBeLessThanOrEqual(tolerance);
      expect(largestDifference((await runOrt(fused, feeds)).output, (await runOrt(quantized, feeds)).output), `${options.mode} onnxruntime`).toBeLessThanOrEqual(tolerance);
      // The QuantizeLinear before the first Linear moves up through Flatten and MaxPool: both
      // convolutions requantize in their epilogue; the last Linear (24 terms) stays float.
      if (options.mode === 'static' && !('format' in options)) expect(opTypes(fused).filter((t) => /Conv|Pool|Gemm/.test(t))).toEqual(['QLinearConv', 'QLinearConv', 'MaxPool', 'QGemm', 'Gemm']);
    }
  });
});
