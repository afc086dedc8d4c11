import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { MinnowError, Random } from '@minnow/core';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '@minnow/nn';
import {
  AttributeType, DataType, OnnxSession, exportModule, makeTensor, tensorValues, writeModel, type AttributeProto, type ModelProto, type TensorProto,
} from '@minnow/onnx';
import { calibrateLayerInputs, calibrateOnnx, equalizeOnnx, LayerStatistics, quantizeOnnx, quantLimits, type QuantScheme } from '@minnow/compress';
import { graph, model as makeModel, node, valueInfo } from '../onnx/build.js';
import { expectMinnowError } from '../helpers/reference.js';
import { outputShift, roundWeight, type InputMoments } from '../../packages/compress/src/quantize/weight-rounding.js';
import { runMinnow } from '../helpers/onnx-session.js';

/**
 * Weight rounding beyond min-max round-to-nearest, and what it reads: layer input statistics
 * (checked against onnxruntime's own Conv/Gemm on the same inputs), MSE clipping (never worse than
 * min-max in the error it minimises), GPTQ (less output error than rounding to nearest, on held-out
 * inputs too), bias correction (removes the mean output shift), cross-layer equalization (same
 * function, balanced ranges); the models they make run in onnxruntime-node and minnow alike.
 */

type Feeds = Record<string, TensorProto>;
const empty = { floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] };
const ints = (name: string, values: number[]): AttributeProto => ({ ...empty, name, type: AttributeType.INTS, ints: values.map(BigInt) });
const int = (name: string, value: number): AttributeProto => ({ ...empty, name, type: AttributeType.INT, i: BigInt(value) });
const str = (name: string, value: string): AttributeProto => ({ ...empty, name, type: AttributeType.STRING, s: new TextEncoder().encode(value) });
const f32 = (name: string, dims: readonly number[], values: Float32Array): TensorProto =>
  makeTensor(name, DataType.FLOAT, dims, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));

const normals = (rng: Random, n: number, scale = 1): Float32Array => Float32Array.from({ length: n }, () => scale * rng.normal());

async function runOrt(model: ModelProto, feeds: Feeds): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(writeModel(model).model, { logSeverityLevel: 3, graphOptimizationLevel: 'basic' });
  const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', tensorValues(v) as Float32Array, v.dims)])));
  await session.release();
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}


/** One Conv (grouped, strided, padded, dilated) on input [2, 4, 7, 6] plus a Gemm with transA on input [5, 3]. */
function geometryModel(convWeight: Float32Array, gemmWeight: Float32Array, autoPad?: string): ModelProto {
  const convAttrs = autoPad ? [str('auto_pad', autoPad), ints('strides', [2, 1]), int('group', 2)]
    : [ints('strides', [2, 1]), ints('pads', [1, 0, 1, 1]), ints('dilations', [1, 2]), int('group', 2)];
  return makeModel(graph({
    node: [
      node('Conv', ['x', 'W'], ['y'], convAttrs),
      node('Gemm', ['a', 'B'], ['z'], [int('transA', 1)]),
    ],
    initializer: [f32('W', [6, 2, 3, 2], convWeight), f32('B', [3, 4], gemmWeight)],
    input: [valueInfo('x', DataType.FLOAT, [2, 4, 7, 6]), valueInfo('a', DataType.FLOAT, [3, 5])],
    output: [valueInfo('y', DataType.FLOAT), valueInfo('z', DataType.FLOAT)],
  }));
}

describe('calibrateLayerInputs', () => {
  for (const autoPad of [undefined, 'SAME_UPPER']) {
    it(`the mean and second moment of each layer's input vectors, as onnxruntime's Conv and Gemm see them (${autoPad ?? 'explicit pads, dilations'})`, async () => {
      const rng = new Random(1);
      const batches = Array.from({ length: 3 }, () => ({
        x: f32('x', [2, 4, 7, 6], Float32Array.from({ length: 336 }, () => 0.5 + rng.normal())),
        a: f32('a', [3, 5], normals(rng, 15)),
      }));
      const probeConv = normals(rng, 72);
      const probeGemm = normals(rng, 12);
      const probes = geometryModel(probeConv, probeGemm, autoPad);
      const stats = await calibrateLayerInputs(probes, batches);
      // Each output channel m of the probe model is w_m . x over the input vectors: its mean over
      // all positions is w_m . E[x] and its mean square w_m^T E[x x^T] w_m.
      const conv = stats.of(probes.graph!.node[0], { graph: probes.graph!, parent: undefined, path: 'main' })!;
      const gemm = stats.of(probes.graph!.node[1], { graph: probes.graph!, parent: undefined, path: 'main' })!;
      expect(conv.size).toBe(12);
      expect(conv.mean.length).toBe(2);
      expect(gemm.size).toBe(3);
      const sums = { y: new Float64Array(6), y2: new Float64Array(6), z: new Float64Array(4), z2: new Float64Array(4) };
      let positions = 0;
      for (const feeds of batches) {
        const out = await runOrt(probes, feeds);
        positions = out.y.length / 2 / 6;
        out.y.forEach((v, i) => {
          const m = Math.floor(i / positions) % 6;
          sums.y[m] += v;
          sums.y2[m] += v * v;
        });
        out.z.forEach((v, i) => {
          sums.z[i % 4] += v;
          sums.z2[i % 4] += v * v;
        });
      }
      expect(conv.count).toBe(3 * 2 * positions);
      for (let m = 0; m < 6; m++) {
        const group = Math.floor(m / 3);
        const w = probeConv.subarray(m * 12, (m + 1) * 12);
        const h = conv.secondMoment![group];
        let mean = 0;
        let square = 0;
        for (let i = 0; i < 12; i++) {
          mean += w[i] * conv.mean[group][i];
          for (let j = 0; j < 12; j++) square += w[i] * h[i * 12 + j] * w[j];
        }
        expect(mean).toBeCloseTo(sums.y[m] / conv.count, 4);
        expect(square).toBeCloseTo(sums.y2[m] / conv.count, 3);
      }
      for (let n = 0; n < 4; n++) {
        let mean = 0;
        let square = 0;
        for (let k = 0; k < 3; k++) {
          mean += probeGemm[k * 4 + n] * gemm.mean[0][k];
          for (let j = 0; j < 3; j++) square += probeGemm[k * 4 + n] * gemm.secondMoment![0][k * 3 + j] * probeGemm[j * 4 + n];
        }
        expect(mean).toBeCloseTo(sums.z[n] / gemm.count, 4);
        expect(square).toBeCloseTo(sums.z2[n] / gemm.count, 3);
      }
    });
  }

  it('an empty calibration set and NaN in an input are MinnowErrors; large inputs keep the mean only', async () => {
    const rng = new Random(2);
    const m = geometryModel(normals(rng, 72), normals(rng, 12));
    await expect(calibrateLayerInputs(m, [])).rejects.toThrow(MinnowError);
    const bad = { x: f32('x', [2, 4, 7, 6], new Float32Array(336).fill(Number.NaN)), a: f32('a', [3, 5], normals(rng, 15)) };
    await expect(calibrateLayerInputs(m, [bad])).rejects.toThrow(/NaN/);
    const good = { x: f32('x', [2, 4, 7, 6], normals(rng, 336)), a: f32('a', [3, 5], normals(rng, 15)) };
    const meanOnly = await calibrateLayerInputs(m, [good], { maxSecondMomentSize: 4 });
    const scope = { graph: m.graph!, parent: undefined, path: 'main' };
    expect(meanOnly.of(m.graph!.node[0], scope)!.secondMoment).toBeUndefined();
    expect(meanOnly.of(m.graph!.node[1], scope)!.secondMoment).toBeDefined();
  });
});

// ------------------------------------------------------------------------------------------------

/** Moments of n correlated input vectors x = A z (z standard normal, plus a mean), and the vectors themselves. */
function correlatedInputs(rng: Random, k: number, n: number, mix: Float32Array): { xs: Float64Array[]; moments: InputMoments } {
  const xs = Array.from({ length: n }, () => {
    const z = normals(rng, k);
    return Float64Array.from({ length: k }, (_, i) => 0.3 + z.reduce((s, zj, j) => s + mix[i * k + j] * zj, 0));
  });
  const mean = new Float64Array(k);
  const second = new Float64Array(k * k);
  const absMax = new Float64Array(k);
  for (const x of xs) {
    for (let i = 0; i < k; i++) {
      mean[i] += x[i] / n;
      absMax[i] = Math.max(absMax[i], Math.abs(x[i]));
      for (let j = 0; j < k; j++) second[i * k + j] += (x[i] * x[j]) / n;
    }
  }
  return { xs, moments: { size: k, count: n, mean: [mean], absMax: [absMax], secondMoment: [second] } };
}

const dequantized = (r: { params: { scale: Float32Array; zeroPoint: Int32Array }; codes: Int32Array }, index: (i: number) => number): Float64Array =>
  Float64Array.from(r.codes, (q, i) => (q - r.params.zeroPoint[index(i)]) * r.params.scale[index(i)]);

/** sum over inputs and output channels of ((W_q - W) x)^2, W as [M, K] rows. */
function outputError(w: Float32Array, wq: Float64Array, m: number, k: number, xs: readonly Float64Array[]): number {
  let e = 0;
  for (const x of xs) {
    for (let r = 0; r < m; r++) {
      let d = 0;
      for (let j = 0; j < k; j++) d += (wq[r * k + j] - w[r * k + j]) * x[j];
      e += d * d;
    }
  }
  return e;
}

describe('roundWeight', () => {
  const schemes: QuantScheme[] = [
    { type: 'int8', symmetric: true, granularity: { kind: 'axis', axis: 0 } },
    { type: 'int4', symmetric: true, granularity: { kind: 'axis', axis: 0 } },
    { type: 'int8', symmetric: true, granularity: { kind: 'tensor' } },
    { type: 'int4', symmetric: true, granularity: { kind: 'block', axis: 1, blockSize: 16 } },
    // Affine: a zero point per scale (codes -128..127 and -8..7).
    { type: 'int8', symmetric: false, granularity: { kind: 'block', axis: 1, blockSize: 16 } },
    { type: 'int4', symmetric: false, granularity: { kind: 'axis', axis: 0 } },
  ];

  it('MSE clipping is never worse than min-max in the error it minimises (the weights\', or the output\'s given input moments)', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 1, max: 2 ** 30 }), fc.boolean(), (s, seed, weighted) => {
      const rng = new Random(seed);
      const [m, k] = [4, 32];
      // Gaussian weights with a few outliers: the case clipping is for.
      const values = Float32Array.from({ length: m * k }, () => rng.normal() * (rng.uniform() < 0.03 ? 8 : 1));
      const { moments } = correlatedInputs(rng, k, 40, normals(rng, k * k, 0.3));
      const problem = { name: 'w', values, dims: [m, k], outputAxis: 0, scheme: schemes[s], moments: weighted ? moments : undefined };
      const minmax = roundWeight(problem, { clipping: 'minmax' });
      const mse = roundWeight(problem, { clipping: 'mse' });
      const index = (i: number): number => (s === 2 ? 0 : s === 3 ? Math.floor(i / k) * 2 + Math.floor((i % k) / 16) : Math.floor(i / k));
      const error = (r: typeof mse): number => {
        const d = dequantized(r, index).map((v, i) => v - values[i]);
        if (!weighted) return d.reduce((a, v) => a + v * v, 0);
        // Within each scale group, as the search judges it.
        let e = 0;
        for (let r2 = 0; r2 < m; r2++) {
          for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) if (index(r2 * k + i) === index(r2 * k + j)) e += d[r2 * k + i] * moments.secondMoment![0][i * k + j] * d[r2 * k + j];
        }
        return e;
      };
      expect(error(mse)).toBeLessThanOrEqual(error(minmax) * (1 + 1e-12));
    }), { seed: 7, numRuns: 40 });
  });

  it('GPTQ makes less output error than rounding to nearest, on held-out inputs too; codes stay on the scheme\'s grid', () => {
    for (const scheme of schemes) {
      const rng = new Random(3);
      const [m, k] = [8, 32];
      const mix = normals(rng, k * k, 0.4);
      for (let i = 0; i < k; i++) mix[i * k + i] += 1;
      const values = normals(rng, m * k);
      const calibration = correlatedInputs(rng, k, 200, mix);
      const heldOut = correlatedInputs(rng, k, 200, mix).xs;
      const problem = { name: 'w', values, dims: [m, k], outputAxis: 0, scheme, moments: calibration.moments };
      const nearest = roundWeight(problem);
      const gptq = roundWeight(problem, { rounding: 'gptq' });
      expect(gptq.note).toBeUndefined();
      const index = (i: number): number => (scheme.granularity.kind === 'tensor' ? 0 : scheme.granularity.kind === 'block' ? Math.floor(i / k) * 2 + Math.floor((i % k) / 16) : Math.floor(i / k));
      for (const xs of [calibration.xs, heldOut]) {
        expect(outputError(values, dequantized(gptq, index), m, k, xs)).toBeLessThan(0.8 * outputError(values, dequantized(nearest, index), m, k, xs));
      }
      const { qmin, qmax } = quantLimits(scheme);
      expect(gptq.codes.every((q) => q >= qmin && q <= qmax)).toBe(true);
    }
  });

  it('without input statistics GPTQ is not applied and says why; the shift (W_q - W) E[x] is what the codes make', () => {
    const rng = new Random(4);
    const values = normals(rng, 64);
    const scheme = schemes[0];
    const fallback = roundWeight({ name: 'w', values, dims: [4, 16], outputAxis: 0, scheme }, { rounding: 'gptq' });
    expect(fallback.note).toMatch(/GPTQ not applied: no input statistics/);
    const { moments } = correlatedInputs(rng, 16, 10, normals(rng, 256));
    const rounded = roundWeight({ name: 'w', values, dims: [4, 16], outputAxis: 0, scheme });
    const shift = outputShift({ name: 'w', values, dims: [4, 16], outputAxis: 0, scheme, moments }, rounded)!;
    const wq = dequantized(rounded, (i) => Math.floor(i / 16));
    for (let r = 0; r < 4; r++) {
      let expected = 0;
      for (let j = 0; j < 16; j++) expected += (wq[r * 16 + j] - values[r * 16 + j]) * moments.mean[0][j];
      expect(shift[r]).toBeCloseTo(expected, 10);
    }
  });
});

// ------------------------------------------------------------------------------------------------

/** input [n, 16] (ReLU-like, positive mean) -> Gemm W [16, 8] + C -> output; and a Conv without bias beside it. */
function biasModel(rng: Random): ModelProto {
  return makeModel(graph({
    node: [node('Gemm', ['x', 'W', 'C'], ['y']), node('Conv', ['img', 'K'], ['z'], [ints('pads', [1, 1])])],
    initializer: [f32('W', [16, 8], normals(rng, 128)), f32('C', [8], normals(rng, 8)), f32('K', [4, 3, 3], normals(rng, 36))],
    input: [valueInfo('x', DataType.FLOAT, [32, 16]), valueInfo('img', DataType.FLOAT, [1, 3, 10])],
    output: [valueInfo('y', DataType.FLOAT), valueInfo('z', DataType.FLOAT)],
  }));
}

function biasFeeds(rng: Random, count: number): Feeds[] {
  return Array.from({ length: count }, () => ({
    x: f32('x', [32, 16], Float32Array.from({ length: 512 }, () => Math.max(0, 1 + rng.normal()))),
    img: f32('img', [1, 3, 10], Float32Array.from({ length: 30 }, () => 2 + rng.normal())),
  }));
}

/** Per output channel, the mean of (quantized - float) over the feeds (channels on axis 1). */
async function meanShift(floatModel: ModelProto, quantized: ModelProto, feeds: Feeds[], output: 'y' | 'z', channels: number): Promise<number[]> {
  const shift = new Float64Array(channels);
  let count = 0;
  for (const f of feeds) {
    const [a, b] = [await runOrt(floatModel, f), await runOrt(quantized, f)];
    const inner = output === 'y' ? 1 : a.z.length / channels;
    a[output].forEach((v, i) => { shift[Math.floor(i / inner) % channels] += b[output][i] - v; });
    count += a[output].length / channels;
  }
  return Array.from(shift, (s) => Math.abs(s / count));
}

describe('quantizeOnnx: bias correction, MSE clipping and GPTQ', () => {
  it('bias correction removes the mean output shift of int4 weights (calibration inputs and held-out ones); a Conv without bias gets one', async () => {
    const rng = new Random(5);
    const m = biasModel(rng);
    const calibration = biasFeeds(rng, 8);
    const heldOut = biasFeeds(rng, 8);
    const stats = await calibrateLayerInputs(m, calibration);
    const options = { mode: 'weight-only', weights: 'int4', granularity: 'per-tensor' } as const;
    const plain = quantizeOnnx(m, options).model;
    const corrected = quantizeOnnx(m, { ...options, biasCorrection: true, layerStatistics: stats });
    expect(corrected.model.graph!.node.find((n) => n.opType === 'Conv')!.input[2]).toMatch(/_corrected$/);
    for (const [output, channels] of [['y', 8], ['z', 4]] as const) {
      const before = await meanShift(m, plain, calibration, output, channels);
      const after = await meanShift(m, corrected.model, calibration, output, channels);
      const total = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
      // On the calibration inputs the correction is exact up to float rounding.
      expect(total(after)).toBeLessThan(1e-3 * Math.max(1, total(before)));
      expect(total(before)).toBeGreaterThan(0.05);
      const beforeHeld = await meanShift(m, plain, heldOut, output, channels);
      const afterHeld = await meanShift(m, corrected.model, heldOut, output, channels);
      expect(total(afterHeld)).toBeLessThan(0.5 * total(beforeHeld));
    }
  });

  it('a CNN quantized static QDQ, QOperator and dynamic with MSE clipping, GPTQ and bias correction runs in onnxruntime and minnow, which agree', async () => {
    const cnn = exportModule(new Sequential(
      new Conv2d(1, 8, 3, { seed: 3, padding: 1 }), new ReLU(), new MaxPool2d(2), new Conv2d(8, 16, 3, { seed: 4 }), new ReLU(), new Flatten(), new Linear(16 * 5 * 5, 10, { seed: 5 }),
    ), { inputShape: [2, 1, 14, 14] });
    const rng = new Random(6);
    const feeds = Array.from({ length: 6 }, () => ({ input: f32('input', [2, 1, 14, 14], normals(rng, 392)) }));
    const ranges = await calibrateOnnx(cnn, feeds, { method: 'minmax' });
    const stats = await calibrateLayerInputs(cnn, feeds);
    expect(stats.size).toBe(3);
    const reference = await runOrt(cnn, feeds[0]);
    const errors: number[] = [];
    for (const mode of [{ mode: 'static' as const, activationRanges: ranges }, { mode: 'static' as const, activationRanges: ranges, format: 'qop' as const }, { mode: 'dynamic' as const }]) {
      const affine = mode.mode === 'static' && !('format' in mode) ? [{ affineWeights: true, granularity: 16, weightRounding: 'gptq' as const, layerStatistics: stats }] : [];
      for (const extra of [{}, { weightMethod: 'mse' as const, weightRounding: 'gptq' as const, biasCorrection: true, layerStatistics: stats }, ...affine]) {
        const { model, report } = quantizeOnnx(cnn, { ...mode, ...extra });
        expect(report.filter((r) => r.precision === 'float')).toEqual([]);
        expect(report.filter((r) => r.reason !== undefined && /not applied|skipped/.test(r.reason))).toEqual([]);
        const [a, b] = [await runOrt(model, feeds[0]), runMinnow(model, feeds[0])];
        const key = Object.keys(a)[0];
        let scale = 0;
        let diff = 0;
        let err = 0;
        a[key].forEach((v, i) => {
          scale = Math.max(scale, Math.abs(reference[key][i]));
          diff = Math.max(diff, Math.abs(v - b[key][i]));
          err += Math.abs(v - reference[key][i]);
        });
        expect(diff).toBeLessThan(0.05 * scale);
        errors.push(err);
      }
    }
    // Every form still approximates the float model.
    for (const e of errors) expect(e / reference[Object.keys(reference)[0]].reduce((s, v) => s + Math.abs(v), 0)).toBeLessThan(0.1);
  });

  it('options it cannot honour are MinnowErrors that say why', async () => {
    const m = biasModel(new Random(7));
    expectMinnowError(() => quantizeOnnx(m, { mode: 'weight-only', weightRounding: 'gptq' }), 'INVALID_ARGUMENT', 'layerStatistics');
    expectMinnowError(() => quantizeOnnx(m, { mode: 'weight-only', biasCorrection: true }), 'INVALID_ARGUMENT', 'layerStatistics');
    expectMinnowError(() => quantizeOnnx(m, { mode: 'weight-only', weightMethod: 'kl' as 'mse' }), 'INVALID_ARGUMENT', 'weightMethod');
    expectMinnowError(() => quantizeOnnx(m, { mode: 'dynamic', affineWeights: true }), 'INVALID_ARGUMENT', 'affineWeights', "'dynamic'");
    expectMinnowError(() => quantizeOnnx(m, { mode: 'static', activationRanges: new Map(), format: 'qop', affineWeights: true }), 'INVALID_ARGUMENT', 'affineWeights', "'qop'");
    expectMinnowError(() => quantizeOnnx(m, { mode: 'weight-only', affineWeights: 'yes' as never }), 'INVALID_ARGUMENT', 'affineWeights');
    expectMinnowError(() => quantizeOnnx(m, { mode: 'weight-only', weightRounding: 'adaround' as 'gptq' }), 'INVALID_ARGUMENT', 'weightRounding');
    expectMinnowError(() => quantizeOnnx(m, { mode: 'weight-only', layerStatistics: {} as LayerStatistics }), 'INVALID_ARGUMENT', 'calibrateLayerInputs');
    const stats = await calibrateLayerInputs(m, biasFeeds(new Random(8), 2));
    expectMinnowError(() => quantizeOnnx(m, { mode: 'weight-only', weightRounding: 'gptq', layerStatistics: stats, gptq: { damping: -1 } }), 'INVALID_ARGUMENT', 'damping');
  });
});

// ------------------------------------------------------------------------------------------------

/** x [8, 12] -> Gemm -> Relu -> Gemm -> Relu -> Gemm, channels of very different ranges. */
function chainModel(rng: Random): ModelProto {
  const rowScaled = (rows: number, cols: number): Float32Array => Float32Array.from({ length: rows * cols }, (_, i) => rng.normal() * 10 ** ((i % cols) % 3 - 1));
  return makeModel(graph({
    node: [
      node('Gemm', ['x', 'W1', 'b1'], ['h1']), node('Relu', ['h1'], ['r1']),
      node('Gemm', ['r1', 'W2', 'b2'], ['h2']), node('Relu', ['h2'], ['r2']),
      node('Gemm', ['r2', 'W3'], ['y']),
    ],
    initializer: [f32('W1', [12, 16], rowScaled(12, 16)), f32('b1', [16], normals(rng, 16)), f32('W2', [16, 10], rowScaled(16, 10)), f32('b2', [10], normals(rng, 10)), f32('W3', [10, 4], normals(rng, 40))],
    input: [valueInfo('x', DataType.FLOAT, [8, 12])],
    output: [valueInfo('y', DataType.FLOAT)],
  }));
}

const columnMax = (w: Float32Array, rows: number, cols: number): number[] => Array.from({ length: cols }, (_, c) => Math.max(...Array.from({ length: rows }, (_, r) => Math.abs(w[r * cols + c]))));
const rowMax = (w: Float32Array, rows: number, cols: number): number[] => Array.from({ length: rows }, (_, r) => Math.max(...Array.from(w.subarray(r * cols, (r + 1) * cols), Math.abs)));
const maxRelDiff = (got: ArrayLike<number>, ref: ArrayLike<number>): number => {
  let [d, r] = [0, 0];
  for (let i = 0; i < ref.length; i++) [d, r] = [Math.max(d, Math.abs(got[i] - ref[i])), Math.max(r, Math.abs(ref[i]))];
  return d / r;
};
const init = (m: ModelProto, name: string): Float32Array => tensorValues(m.graph!.initializer.find((t) => t.name === name)!) as Float32Array;

describe('equalizeOnnx', () => {
  it('data-free: the same outputs in onnxruntime; each channel\'s range in A equals its range in B', async () => {
    const rng = new Random(9);
    const m = chainModel(rng);
    const { model, pairs } = equalizeOnnx(m, { iterations: 30 });
    expect(pairs.map((p) => `${p.first}>${p.through}>${p.second}`)).toEqual(['Gemm_h1>Relu_r1>Gemm_h2', 'Gemm_h2>Relu_r2>Gemm_y']);
    const feeds = { x: f32('x', [8, 12], normals(rng, 96)) };
    const [a, b] = [await runOrt(m, feeds), await runOrt(model, feeds)];
    expect(maxRelDiff(b.y, a.y)).toBeLessThan(1e-5);
    // Gemm weights are [K, N]: A's output channel c is column c, B's input channel c is row c.
    const [a1, b1] = [columnMax(init(model, 'W1'), 12, 16), rowMax(init(model, 'W2'), 16, 10)];
    a1.forEach((r, c) => expect(r / b1[c]).toBeCloseTo(1, 2));
  });

  it('activation-aware (with statistics): each channel\'s activation range at B\'s input meets B\'s weight range; recalibrated, the model quantizes and runs', async () => {
    const rng = new Random(10);
    const m = chainModel(rng);
    const feeds = Array.from({ length: 4 }, () => ({ x: f32('x', [8, 12], normals(rng, 96)) }));
    const { model } = equalizeOnnx(m, { statistics: await calibrateLayerInputs(m, feeds) });
    const after = await calibrateLayerInputs(model, feeds);
    const scope = { graph: model.graph!, parent: undefined, path: 'main' };
    // The last pair's B (W3) is no other pair's A, so its balance is exact.
    const activations = after.of(model.graph!.node[4], scope)!.absMax[0];
    rowMax(init(model, 'W3'), 10, 4).forEach((w, c) => { if (activations[c] > 0) expect(activations[c] / w).toBeCloseTo(1, 4); });
    const before = await calibrateLayerInputs(m, feeds);
    const spread = (xs: ArrayLike<number>): number => Math.max(...Array.from(xs).filter((x) => x > 0)) / Math.min(...Array.from(xs).filter((x) => x > 0));
    expect(spread(activations)).toBeLessThan(spread(before.of(m.graph!.node[4], { graph: m.graph!, parent: undefined, path: 'main' })!.absMax[0]));
    const [a, b] = [await runOrt(m, feeds[0]), await runOrt(model, feeds[0])];
    expect(maxRelDiff(b.y, a.y)).toBeLessThan(1e-5);
    const quantized = quantizeOnnx(model, { mode: 'static', activationRanges: await calibrateOnnx(model, feeds, { method: 'minmax' }) }).model;
    expect((await runOrt(quantized, feeds[0])).y.length).toBe(32);
    expect(() => equalizeOnnx(m, { migration: 2 })).toThrow(MinnowError);
  });
});
