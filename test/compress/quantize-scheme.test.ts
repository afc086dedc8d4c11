import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { fromArray, init, liveTensors, packInt4, quantizedRange } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import { DataType, makeTensor, writeModel, type AttributeProto, type ModelProto, type TensorProto } from '@minnow/onnx';
import {
  dequantizeTensor, dequantizeValues, type Granularity, paramShape, quantizeTensor, quantizeValues, quantLimits, quantParams,
  type QuantParams, type QuantScheme, type QuantType, rangeOf, storageDType,
} from '@minnow/compress';
import { graph, intAttr, model, node, valueInfo } from '../onnx/build.js';
import { expectMinnowError, rng, runs } from '../helpers/reference.js';

/**
 * Quantization schemes: the integer limits, scales and zero points (0 always exact, a zero range
 * given scale 1), quantize-dequantize within half a step for every scheme, saturation, and the
 * host reference, core's kernels (js and wasm) and onnxruntime's QuantizeLinear / DequantizeLinear
 * agreeing bit for bit, round half to even and 4-bit packing included.
 */

beforeAll(async () => {
  enableRelaxedSimd();
  await init(wasmBackend);
});

const TYPES: readonly QuantType[] = ['int8', 'uint8', 'int4', 'uint4'];
const BACKENDS = ['js', 'wasm'] as const;

const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** A random scheme case: shape, granularity and scheme, drawn from a seed so fast-check shrinks one number. */
interface Case { readonly shape: number[]; readonly scheme: QuantScheme; readonly values: Float32Array; readonly params?: QuantParams }

function drawCase(seed: number, spread = 4): Case {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const rank = 1 + Math.floor(rand() * 3);
  const shape = Array.from({ length: rank }, () => 1 + Math.floor(rand() * 6));
  const type = pick(TYPES);
  const kind = pick(['tensor', 'axis', 'block'] as const);
  const axis = Math.floor(rand() * rank);
  let granularity: Granularity = { kind: 'tensor' };
  if (kind === 'axis') granularity = { kind: 'axis', axis: rand() < 0.3 ? axis - rank : axis };
  if (kind === 'block') {
    const blockSize = pick([2, 3, 4, 32]);
    shape[axis] = blockSize === 32 ? pick([32, 40, 70]) : shape[axis] + blockSize;
    granularity = { kind: 'block', axis, blockSize };
  }
  const reduceRange = (type === 'int8' || type === 'uint8') && rand() < 0.25;
  const scheme: QuantScheme = { type, symmetric: rand() < 0.5, granularity, reduceRange };
  // Offset and scale vary per case, so some ranges are all positive, all negative, or tiny.
  const offset = (rand() - 0.5) * 2 * spread * pick([0, 0.5, 1]);
  const scale = spread * pick([1, 1e-3, 100]);
  const values = Float32Array.from({ length: size(shape) }, () => offset * scale + (rand() - 0.5) * 2 * scale);
  return { shape, scheme, values };
}

describe('integer limits and parameters', () => {
  it('follow onnxruntime: symmetric int types drop the most negative value, reduceRange drops a bit of 8-bit types only', () => {
    expect(quantLimits({ type: 'int8', symmetric: false })).toEqual({ qmin: -128, qmax: 127 });
    expect(quantLimits({ type: 'int8', symmetric: true })).toEqual({ qmin: -127, qmax: 127 });
    expect(quantLimits({ type: 'uint8', symmetric: true })).toEqual({ qmin: 0, qmax: 255 });
    expect(quantLimits({ type: 'int4', symmetric: true })).toEqual({ qmin: -7, qmax: 7 });
    expect(quantLimits({ type: 'uint4', symmetric: false })).toEqual({ qmin: 0, qmax: 15 });
    expect(quantLimits({ type: 'uint8', symmetric: false, reduceRange: true })).toEqual({ qmin: 0, qmax: 127 });
    expect(quantLimits({ type: 'int8', symmetric: false, reduceRange: true })).toEqual({ qmin: -64, qmax: 63 });
    expect(quantLimits({ type: 'int8', symmetric: true, reduceRange: true })).toEqual({ qmin: -63, qmax: 63 });
    expectMinnowError(() => quantLimits({ type: 'int4', symmetric: false, reduceRange: true }), 'INVALID_ARGUMENT', 'int4');
  });

  it('widen every range to include 0, and give symmetric schemes zero point 0 (int) or the middle (uint)', () => {
    const range = { min: Float32Array.of(0.5), max: Float32Array.of(2), granularity: { kind: 'tensor' } as const };
    const affine = quantParams(range, { type: 'uint8', symmetric: false, granularity: { kind: 'tensor' } }, [4]);
    expect(affine.zeroPoint[0]).toBe(0);
    expect(affine.scale[0]).toBe(Math.fround(2 / 255));
    const negative = quantParams({ ...range, min: Float32Array.of(-3), max: Float32Array.of(-1) }, { type: 'int8', symmetric: false, granularity: { kind: 'tensor' } }, [4]);
    expect(negative.zeroPoint[0]).toBe(127);
    for (const [type, zero] of [['int8', 0], ['uint8', 128], ['int4', 0], ['uint4', 8]] as const) {
      const p = quantParams(range, { type, symmetric: true, granularity: { kind: 'tensor' } }, [4]);
      expect(p.zeroPoint[0], type).toBe(zero);
    }
    expect(quantParams(range, { type: 'int8', symmetric: true, granularity: { kind: 'tensor' } }, [4]).scale[0]).toBe(Math.fround(2 / 127));
  });

  it('give a tensor of zeros scale 1 and the scheme zero point, so it round-trips to exact zeros', () => {
    for (const type of TYPES) {
      for (const symmetric of [false, true]) {
        const scheme: QuantScheme = { type, symmetric, granularity: { kind: 'axis', axis: 0 } };
        const values = Float32Array.of(0, 0, 0, 1e-45, -1e-45, 0);
        const params = quantParams(rangeOf(values, [2, 3], scheme.granularity), scheme, [2, 3]);
        expect(Array.from(params.scale)).toEqual([1, 1]);
        const q = quantizeValues(values, params, [2, 3]);
        expect(Array.from(dequantizeValues(q, params, [2, 3])).map(Math.abs)).toEqual([0, 0, 0, 0, 0, 0]);
      }
    }
  });

  it('lay out per-axis and blocked parameters as ONNX takes them', () => {
    expect(paramShape({ kind: 'tensor' }, [4, 5])).toEqual([]);
    expect(paramShape({ kind: 'axis', axis: -1 }, [4, 5])).toEqual([5]);
    expect(paramShape({ kind: 'block', axis: 1, blockSize: 32 }, [4, 70])).toEqual([4, 3]);
    const range = rangeOf(Float32Array.from({ length: 10 }, (_, i) => i - 3), [2, 5], { kind: 'block', axis: 1, blockSize: 2 });
    expect(Array.from(range.min)).toEqual([-3, -1, 1, 2, 4, 6]);
    expect(Array.from(range.max)).toEqual([-2, 0, 1, 3, 5, 6]);
  });

  it('refuse mismatched granularities, wrong lengths, bad ranges and non-finite values', () => {
    const scheme: QuantScheme = { type: 'int8', symmetric: true, granularity: { kind: 'axis', axis: 0 } };
    const perTensor = { min: Float32Array.of(-1), max: Float32Array.of(1), granularity: { kind: 'tensor' } as const };
    expectMinnowError(() => quantParams(perTensor, scheme, [3, 2]), 'INVALID_ARGUMENT', 'per tensor', 'per axis 0');
    expectMinnowError(() => quantParams({ ...perTensor, granularity: { kind: 'axis', axis: 0 } }, scheme, [3, 2]), 'SHAPE_MISMATCH', 'needs 3');
    expectMinnowError(() => quantParams({ ...perTensor, min: Float32Array.of(2) }, { ...scheme, granularity: { kind: 'tensor' } }, [3]), 'INVALID_ARGUMENT', 'min <= max');
    expectMinnowError(() => rangeOf(Float32Array.of(1, NaN), [2], { kind: 'tensor' }, 'fc.weight'), 'INVALID_ARGUMENT', "'fc.weight'", 'NaN');
    expectMinnowError(() => rangeOf(Float32Array.of(1, 2), [2], { kind: 'axis', axis: 1 }), 'OUT_OF_RANGE', 'axis 1');
  });
});

describe('quantize and dequantize', () => {
  it('recover every value inside the range within half a step, for every scheme, 0 exactly', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 30 }), (seed) => {
      const { shape, scheme, values } = drawCase(seed);
      const range = rangeOf(values, shape, scheme.granularity);
      const params = quantParams(range, scheme, shape);
      const restored = dequantizeValues(quantizeValues(values, params, shape), params, shape);
      const index = indexer(params, shape);
      for (let i = 0; i < values.length; i++) {
        const step = params.scale[index(i)];
        const bound = step / 2 + step * 1e-5 + Math.abs(values[i]) * 2 ** -22;
        if (Math.abs(restored[i] - values[i]) > bound) {
          throw new Error(`${JSON.stringify(scheme)} on ${JSON.stringify(shape)}: element ${i} = ${values[i]} came back ${restored[i]} (step ${step})`);
        }
      }
      const zeros = new Float32Array(values.length);
      expect(Array.from(dequantizeValues(quantizeValues(zeros, params, shape), params, shape)).every((v) => v === 0)).toBe(true);
    }), runs(7101, 300));
  });

  it('saturate values beyond the range to the type limits', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 30 }), (seed) => {
      const { shape, scheme, values } = drawCase(seed);
      const params = quantParams(rangeOf(values, shape, scheme.granularity), scheme, shape);
      const { min, max } = quantizedRange(scheme.type);
      const far = values.map((v, i) => (i % 2 === 0 ? 1 : -1) * (1e3 * Math.abs(v) + 1e6));
      const q = quantizeValues(far, params, shape);
      for (let i = 0; i < q.length; i++) expect(q[i]).toBe(i % 2 === 0 ? max : min);
      const perTensor = { ...scheme, granularity: { kind: 'tensor' } as const };
      const infinite = quantParams(rangeOf(values, shape, perTensor.granularity), perTensor, shape);
      expect(Array.from(quantizeValues(Float32Array.of(Infinity, -Infinity), infinite, [2]))).toEqual([max, min]);
    }), runs(7102, 100));
  });

  it('match core kernels bit for bit on js and wasm, ties to even included, and leave no tensor alive', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 30 }), fc.boolean(), (seed, ties) => {
      const c = ties ? tieCase(seed) : drawCase(seed);
      const params = c.params ?? quantParams(rangeOf(c.values, c.shape, c.scheme.granularity), c.scheme, c.shape);
      const expected = quantizeValues(c.values, params, c.shape);
      const restored = dequantizeValues(expected, params, c.shape);
      for (const backend of BACKENDS) {
        const before = liveTensors();
        const x = fromArray(c.values, c.shape, { backend });
        const q = quantizeTensor(x, params);
        expect(q.dtype).toBe(storageDType(c.scheme.type));
        expect(Array.from(q.dataSync()), `${backend} quantize`).toEqual(Array.from(expected));
        const y = dequantizeTensor(q, params);
        expect(Array.from(y.dataSync()), `${backend} dequantize`).toEqual(Array.from(restored));
        for (const t of [x, q, y]) t.dispose();
        expect(liveTensors()).toBe(before);
      }
    }), runs(7103, 150));
  });
});

/**
 * Exact .5 cases: a power-of-two scale divides exactly, so x = (m + 0.5) * scale lands on a tie
 * that must round to even; m runs past the type's limits so saturation is exercised too.
 */
function tieCase(seed: number): Case & { params: QuantParams } {
  const base = drawCase(seed);
  const rand = rng(seed + 1);
  const params = quantParams(rangeOf(base.values, base.shape, base.scheme.granularity), base.scheme, base.shape);
  const scale = params.scale.map(() => 2 ** -Math.floor(rand() * 8));
  const { min, max } = quantizedRange(base.scheme.type);
  const index = indexer(params, base.shape);
  const values = base.values.map((_, i) => (Math.floor(rand() * (max - min + 8)) + min - 4 - params.zeroPoint[index(i)] + (rand() < 0.7 ? 0.5 : 0.25)) * scale[index(i)]);
  return { ...base, values, params: { ...params, scale } };
}

function indexer(params: QuantParams, shape: readonly number[]): (i: number) => number {
  // Written out again rather than taken from scheme.ts, whose mapping is under test.
  const g = params.scheme.granularity;
  if (g.kind === 'tensor') return () => 0;
  const axis = g.axis < 0 ? g.axis + shape.length : g.axis;
  const inner = size(shape.slice(axis + 1));
  const dim = shape[axis];
  if (g.kind === 'axis') return (i) => Math.floor(i / inner) % dim;
  const blocks = Math.ceil(dim / g.blockSize);
  return (i) => {
    const a = Math.floor(i / inner) % dim;
    const outer = Math.floor(i / (inner * dim));
    return (outer * blocks + Math.floor(a / g.blockSize)) * inner + (i % inner);
  };
}

// ------------------------------------------------------------------------------------------------
// onnxruntime

const sessions: ort.InferenceSession[] = [];
afterAll(async () => {
  for (const s of sessions) await s.release();
});

const ONNX_TYPE: Record<QuantType, number> = { int8: DataType.INT8, uint8: DataType.UINT8, int4: DataType.INT4, uint4: DataType.UINT4 };

/**
 * onnxruntime takes a one-element scale as per tensor and then refuses block_size, so blocked
 * parameters with a single block go to it in per-tensor form (the same values).
 */
const singleBlock = (params: QuantParams): boolean => params.scheme.granularity.kind === 'block' && size(params.shape) === 1;

/** Scale and zero point as initialisers, 4-bit zero points packed as ONNX stores them. */
function paramInitializers(params: QuantParams): TensorProto[] {
  const dims = singleBlock(params) ? [] : [...params.shape];
  const type = params.scheme.type;
  const zp = type === 'int4' || type === 'uint4'
    ? packInt4(params.zeroPoint, type === 'int4')
    : new Uint8Array(type === 'int8' ? Int8Array.from(params.zeroPoint).buffer : Uint8Array.from(params.zeroPoint).buffer);
  return [
    makeTensor('scale', DataType.FLOAT, dims, new Uint8Array(Float32Array.from(params.scale).buffer)),
    makeTensor('zero', ONNX_TYPE[type], dims, zp),
  ];
}

function axisAttributes(params: QuantParams): AttributeProto[] {
  const g = params.scheme.granularity;
  if (g.kind === 'tensor' || singleBlock(params)) return [];
  return g.kind === 'axis' ? [intAttr('axis', g.axis)] : [intAttr('axis', g.axis), intAttr('block_size', g.blockSize)];
}

/** Opset 13 serves 8-bit per tensor and per axis; blocked and 4-bit need 21. */
const opsetFor = (params: QuantParams): number => (params.scheme.granularity.kind === 'block' || params.scheme.type.endsWith('4') ? 21 : 13);

/**
 * QuantizeLinear alone (8-bit: its integers are compared), or followed by DequantizeLinear
 * (4-bit: onnxruntime-node 1.30 aborts the process when asked to return an int4 tensor, and a
 * dequantized 4-bit value identifies its integer exactly).
 */
function quantizeModel(params: QuantParams, shape: readonly number[]): ModelProto {
  const fourBit = params.scheme.type.endsWith('4');
  const attrs = axisAttributes(params);
  const nodes = [node('QuantizeLinear', ['x', 'scale', 'zero'], ['q'], attrs)];
  if (fourBit) nodes.push(node('DequantizeLinear', ['q', 'scale', 'zero'], ['y'], attrs));
  return model(graph({
    node: nodes,
    input: [valueInfo('x', DataType.FLOAT, [...shape])],
    initializer: paramInitializers(params),
    output: [valueInfo(fourBit ? 'y' : 'q', fourBit ? DataType.FLOAT : ONNX_TYPE[params.scheme.type])],
  }), { irVersion: 10, opsetImport: [{ domain: '', version: opsetFor(params) }] });
}

async function runOrt(m: ModelProto, feeds: Record<string, ort.Tensor>): Promise<number[]> {
  const session = await ort.InferenceSession.create(writeModel(m).model, { logSeverityLevel: 3 });
  sessions.push(session);
  const result = await session.run(feeds);
  return Array.from(result[session.outputNames[0]].data as ArrayLike<number>);
}

describe('agreement with onnxruntime', () => {
  it('QuantizeLinear gives the integers onnxruntime gives, bit for bit, on random tensors and exact ties', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 30 }), fc.boolean(), async (seed, ties) => {
      const c = ties ? tieCase(seed) : drawCase(seed);
      const params = c.params ?? quantParams(rangeOf(c.values, c.shape, c.scheme.granularity), c.scheme, c.shape);
      const q = quantizeValues(c.values, params, c.shape);
      const expected = c.scheme.type.endsWith('4') ? Array.from(dequantizeValues(q, params, c.shape)) : Array.from(q);
      const got = await runOrt(quantizeModel(params, c.shape), { x: new ort.Tensor('float32', c.values, c.shape) });
      expect(got, `${JSON.stringify(c.scheme)} on ${JSON.stringify(c.shape)}`).toEqual(expected);
    }), runs(7104, 60));
  });

  it('4-bit values packed with packInt4 are read back by onnxruntime DequantizeLinear (opset 21) as minnow dequantizes them', async () => {
    await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: 2 ** 30 }), async (seed) => {
      const base = drawCase(seed);
      const type: QuantType = base.scheme.type === 'int8' || base.scheme.type === 'int4' ? 'int4' : 'uint4';
      const scheme: QuantScheme = { ...base.scheme, type, reduceRange: false };
      const params = quantParams(rangeOf(base.values, base.shape, scheme.granularity), scheme, base.shape);
      const x = fromArray(base.values, base.shape);
      const q = quantizeTensor(x, params);
      const packed = packInt4(q.dataSync(), type === 'int4');
      const y = dequantizeTensor(q, params);
      const expected = Array.from(y.dataSync());
      for (const t of [x, q, y]) t.dispose();
      const m = model(graph({
        node: [node('DequantizeLinear', ['q', 'scale', 'zero'], ['y'], axisAttributes(params))],
        initializer: [makeTensor('q', ONNX_TYPE[type], base.shape, packed), ...paramInitializers(params)],
        output: [valueInfo('y', DataType.FLOAT)],
      }), { irVersion: 10, opsetImport: [{ domain: '', version: 21 }] });
      expect(await runOrt(m, {}), `${JSON.stringify(scheme)} on ${JSON.stringify(base.shape)}`).toEqual(expected);
    }), runs(7105, 40));
  });
});
