import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  Random, fromArray, getBackend, init, liveTensors, noGrad, randomNormal, randomUniform, scope, sum, type Tensor,
} from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import {
  Adam, BatchNorm1d, BatchNorm2d, Conv2d, DataLoader, Dropout, Flatten, LayerNorm, Linear, Module, ReLU, Sequential, TensorDataset,
} from '@minnow/nn';
import { loadMnistSplit } from '@minnow/nn/node';
import { QatLayer, QuantizedConv2d, QuantizedLinear, convertQat, distill, evaluate, prepareQat, quantizeModule, train } from '@minnow/compress';
// Internals under test (not part of the package's API).
import { activationParams, foldedParameters } from '../../packages/compress/src/quantize/nn/index.js';
import { floatForward, sourceLayer } from '../../packages/compress/src/quantize/nn/layer-spec.js';
import { expectAll, expectMinnowError, randInt, readValues, rng, runs } from '../helpers/reference.js';

/**
 * Module quantization: quantized layers against an independent integer reference (so they really
 * run integer arithmetic), BatchNorm folding, quantizeModule's rebuild, report and errors, QAT's
 * fake-quantized model against its converted self, and a fixed-seed QAT run that wins back the
 * accuracy post-training int4 loses.
 */

beforeAll(async () => {
  enableRelaxedSimd();
  await init(wasmBackend);
});

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const f32 = Math.fround;

/** Nearest integer, ties to even (ONNX QuantizeLinear), written independently of minnow. */
function halfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}
const saturate = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

/** int8 weight codes and scales per output row (symmetric, max |w| / 127), as float32 computes them. */
function weightCodes(w: Float32Array, rows: number): { codes: number[]; scales: number[] } {
  const per = w.length / rows;
  const scales: number[] = [];
  const codes: number[] = [];
  for (let o = 0; o < rows; o++) {
    const peak = Math.max(...Array.from(w.subarray(o * per, (o + 1) * per), Math.abs));
    const s = peak > 0 ? f32(peak / 127) : 1;
    scales.push(s);
    for (let i = 0; i < per; i++) codes.push(saturate(halfEven(f32(w[o * per + i] / s)), -128, 127));
  }
  return { codes, scales };
}

const inputCode = (x: number, s: number, z: number): number => saturate(halfEven(f32(x / s)) + z, -128, 127);

/** The epilogue: float(acc + round(b / (sx sw))) * (sx sw), in float32 steps. */
function epilogue(acc: number, bias: number, sx: number, sw: number): number {
  const scale = f32(sw * sx);
  const q = halfEven(f32(bias / scale));
  return f32(f32(acc + q) * scale);
}

function randomArray(rand: () => number, n: number, spread = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (rand() * 2 - 1) * spread);
}

describe('QuantizedLinear', () => {
  it('static: int8 x int8 -> int32 with int32 bias, exactly as an independent integer reference', () => {
    fc.assert(fc.property(seed, fc.constantFrom('js', 'wasm'), (s, backend) => {
      scope(() => {
        const rand = rng(s);
        const [m, k, n] = [randInt(rand, 1, 7), randInt(rand, 1, 40), randInt(rand, 1, 9)];
        const w = randomArray(rand, n * k);
        const b = randomArray(rand, n, 0.5);
        const x = randomArray(rand, m * k, 2);
        // A range narrower than the data half the time: inputs saturate.
        const params = activationParams(rand() < 0.5 ? -1 : -2, rand() < 0.5 ? 1.5 : 2, 'test');
        const layer = new QuantizedLinear(fromArray(w, [n, k], { backend }), fromArray(b, [n], { backend }), {
          scheme: { type: 'int8', symmetric: true, granularity: { kind: 'axis', axis: 0 } }, activations: 'static', input: params,
        });
        const y = readValues(layer.forward(fromArray(x, [m, k], { backend })));
        const { codes, scales } = weightCodes(w, n);
        const expected: number[] = [];
        for (let i = 0; i < m; i++) {
          for (let o = 0; o < n; o++) {
            let acc = 0;
            for (let p = 0; p < k; p++) acc += (inputCode(x[i * k + p], params.scale, params.zeroPoint) - params.zeroPoint) * codes[o * k + p];
            expected.push(epilogue(acc, b[o], params.scale, scales[o]));
          }
        }
        expectAll(y, expected, (a, e) => a === e, `[${m},${k}]x[${k},${n}] on ${backend}`);
        layer.dispose();
      });
    }), runs(21, 60));
  });

  it('dynamic quantizes each batch with its own range; weight-only int4 blocked is linear(x, dequantized weights)', () => {
    scope(() => {
      const rand = rng(3);
      const w = randomArray(rand, 6 * 70);
      const x = fromArray(randomArray(rand, 4 * 70, 3), [4, 70]);
      const scheme = { type: 'int8' as const, symmetric: true, granularity: { kind: 'axis' as const, axis: 0 } };
      const dynamic = new QuantizedLinear(fromArray(w, [6, 70]), null, { scheme, activations: 'dynamic' });
      const values = readValues(x);
      const params = activationParams(Math.min(...values), Math.max(...values), 'test');
      const fixed = new QuantizedLinear(fromArray(w, [6, 70]), null, { scheme, activations: 'static', input: params });
      expect(readValues(dynamic.forward(x))).toEqual(readValues(fixed.forward(x)));
      const int4 = new QuantizedLinear(fromArray(w, [6, 70]), null, { scheme: { type: 'int4', symmetric: true, granularity: { kind: 'block', axis: 1, blockSize: 32 } }, activations: 'none' });
      expect(int4.weightScale.shape).toEqual([6, 3]);
      const dq = readValues(int4.dequantizedWeight());
      const scales = readValues(int4.weightScale);
      // Quantize-dequantize error at most half a step, per block.
      dq.forEach((v, i) => expect(Math.abs(v - w[i])).toBeLessThanOrEqual(scales[Math.floor(i / 70) * 3 + Math.floor((i % 70) / 32)] / 2 + 1e-7));
      const reference = new Linear(70, 6, { seed: 0, bias: false });
      reference.loadStateDict({ weight: int4.dequantizedWeight() });
      expect(readValues(int4.forward(x))).toEqual(readValues(noGrad(() => reference.forward(x))));
      for (const layer of [dynamic, fixed, int4, reference]) layer.dispose();
    });
  });

  it('refuses what the integer path cannot run: blocked weights with quantized activations, static without parameters', () => {
    scope(() => {
      const w = fromArray(new Float32Array(8), [2, 4]);
      const blocked = { type: 'int4' as const, symmetric: true, granularity: { kind: 'block' as const, axis: 1, blockSize: 2 } };
      expectMinnowError(() => new QuantizedLinear(w, null, { scheme: blocked, activations: 'static', input: { scale: 1, zeroPoint: 0 } }), 'INVALID_ARGUMENT', 'weight-only');
      expectMinnowError(() => new QuantizedLinear(w, null, { scheme: { ...blocked, granularity: { kind: 'axis', axis: 0 } }, activations: 'static' }), 'INVALID_ARGUMENT', 'calibrated');
      expectMinnowError(() => new QuantizedLinear(w, null, { scheme: { type: 'int8', symmetric: false, granularity: { kind: 'tensor' } }, activations: 'none' }), 'INVALID_ARGUMENT', 'symmetric');
    });
  });
});

describe('QuantizedConv2d', () => {
  it('im2col + matmulInteger equals an independent integer convolution (stride, padding, dilation, groups)', () => {
    fc.assert(fc.property(seed, fc.constantFrom('js', 'wasm'), (s, backend) => {
      scope(() => {
        const rand = rng(s);
        const groups = randInt(rand, 1, 2);
        const [n, cg, og] = [randInt(rand, 1, 2), randInt(rand, 1, 3), randInt(rand, 1, 3)];
        const [c, o] = [cg * groups, og * groups];
        const [kh, kw] = [randInt(rand, 1, 3), randInt(rand, 1, 3)];
        const stride: [number, number] = [randInt(rand, 1, 2), randInt(rand, 1, 2)];
        const dilation: [number, number] = [randInt(rand, 1, 2), randInt(rand, 1, 2)];
        const padding: [number, number, number, number] = [randInt(rand, 0, 2), randInt(rand, 0, 2), randInt(rand, 0, 2), randInt(rand, 0, 2)];
        const h = randInt(rand, dilation[0] * (kh - 1) + 1, 7);
        const wd = randInt(rand, dilation[1] * (kw - 1) + 1, 7);
        const w = randomArray(rand, o * cg * kh * kw);
        const b = randomArray(rand, o, 0.5);
        const x = Float32Array.from({ length: n * c * h * wd }, () => rand() * 3 - 0.5);
        const params = activationParams(-0.5, 2.5, 'test');
        const layer = new QuantizedConv2d(fromArray(w, [o, cg, kh, kw], { backend }), fromArray(b, [o], { backend }), { stride, padding, dilation, groups }, {
          scheme: { type: 'int8', symmetric: true, granularity: { kind: 'axis', axis: 0 } }, activations: 'static', input: params,
        });
        const y = layer.forward(fromArray(x, [n, c, h, wd], { backend }));
        const outH = Math.floor((h + padding[0] + padding[2] - dilation[0] * (kh - 1) - 1) / stride[0]) + 1;
        const outW = Math.floor((wd + padding[1] + padding[3] - dilation[1] * (kw - 1) - 1) / stride[1]) + 1;
        expect(y.shape).toEqual([n, o, outH, outW]);
        const { codes, scales } = weightCodes(w, o);
        const z = params.zeroPoint;
        const at = (ni: number, ci: number, yi: number, xi: number): number =>
          (yi < 0 || yi >= h || xi < 0 || xi >= wd ? z : inputCode(x[((ni * c + ci) * h + yi) * wd + xi], params.scale, z));
        const expected: number[] = [];
        for (let ni = 0; ni < n; ni++) {
          for (let oi = 0; oi < o; oi++) {
            const g = Math.floor(oi / og);
            for (let oy = 0; oy < outH; oy++) {
              for (let ox = 0; ox < outW; ox++) {
                let acc = 0;
                for (let ci = 0; ci < cg; ci++) {
                  for (let i = 0; i < kh; i++) {
                    for (let j = 0; j < kw; j++) {
                      const v = at(ni, g * cg + ci, oy * stride[0] + i * dilation[0] - padding[0], ox * stride[1] + j * dilation[1] - padding[1]);
                      acc += (v - z) * codes[((oi * cg + ci) * kh + i) * kw + j];
                    }
                  }
                }
                expected.push(epilogue(acc, b[oi], params.scale, scales[oi]));
              }
            }
          }
        }
        expectAll(readValues(y), expected, (a, e) => a === e, `conv on ${backend}`);
        layer.dispose();
      });
    }), runs(22, 60));
  });
});

/** A model whose BatchNorms hold running statistics far from the identity. */
function withStatistics<M extends Module<[Tensor], Tensor>>(model: M, seedValue: number): M {
  const rand = rng(seedValue);
  noGrad(() => {
    for (const [name, t] of model.stateDict()) {
      if (name.endsWith('running_mean') || name.endsWith('.bias')) t.assign(fromArray(randomArray(rand, t.size, 0.5), t.shape));
      if (name.endsWith('running_var') || (name.endsWith('.weight') && t.rank === 1)) t.assign(fromArray(Float32Array.from({ length: t.size }, () => 0.5 + rand()), t.shape));
    }
  });
  return model.eval();
}

describe('BatchNorm folding', () => {
  it('a folded Conv2d+BatchNorm2d and Linear+BatchNorm1d compute what the pair computes in eval mode', () => {
    scope(() => {
      const r = new Random(4);
      const conv = withStatistics(new Sequential(new Conv2d(3, 5, 3, { seed: r, padding: 1, stride: 2 }), new BatchNorm2d(5)), 1);
      const lin = withStatistics(new Sequential(new Linear(6, 4, { seed: r, bias: false }), new BatchNorm1d(4)), 2);
      for (const [model, x] of [[conv, randomNormal([2, 3, 7, 7], { seed: 5 })], [lin, randomNormal([3, 6], { seed: 6 })]] as const) {
        const [layer, bn] = model.layers;
        const source = sourceLayer({ module: layer, path: '0', next: { module: bn, path: '1' } });
        expect(source.foldedNext).toBe(true);
        const folded = readValues(floatForward(source.spec, x, source.weight, source.bias));
        expectAll(folded, readValues(noGrad(() => model.forward(x))), (a, e) => Math.abs(a - e) <= 1e-5 * (1 + Math.abs(e)), source.spec.op);
        source.weight.dispose();
        source.bias?.dispose();
      }
      expect(foldedParameters(lin.layers[0] as Linear, null).bias).toBeNull();
      conv.dispose();
      lin.dispose();
    });
  });
});

/** x [N, 28*28]-like inputs for a small MLP, on `backend`. */
function mlp(seedValue: number, sizes = [12, 16, 10, 3], backend = 'js'): Sequential {
  const r = new Random(seedValue);
  const layers: Module<[Tensor], Tensor>[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    layers.push(new Linear(sizes[i], sizes[i + 1], { seed: r, backend }));
    if (i + 2 < sizes.length) layers.push(new ReLU());
  }
  return new Sequential(...layers);
}

class Block extends Module<[Tensor], Tensor> {
  readonly inner: Linear;
  constructor() {
    super();
    this.inner = this.registerModule('inner', new Linear(3, 3, { seed: 9 }));
  }
  override forward(x: Tensor): Tensor {
    return this.inner.forward(x);
  }
}

/** Asserts that `promise` rejects with a MinnowError with `code` whose message contains every part. */
async function expectRejects(promise: Promise<unknown>, code: string, ...parts: string[]): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expectMinnowError(() => {
    if (caught !== undefined) throw caught;
  }, code, ...parts);
}

describe('quantizeModule', () => {
  it('leaves the source model as it was, shares its other layers, and frees only what it created', async () => {
    const model = mlp(1);
    const x = randomNormal([5, 12], { seed: 2 });
    const run = (m: Module<[Tensor], Tensor>): number[] => noGrad(() => scope(() => readValues(m.forward(x))));
    const before = run(model);
    const weights = [...model.stateDict()].map(([k, t]) => [k, readValues(t)] as const);
    const calibration = randomUniform([8, 12], { seed: 3, low: -2, high: 2 });
    const live = liveTensors();
    const buffers = getBackend().memory().buffers;
    const { module, report } = await quantizeModule(model, { weights: 'int8', activations: 'static', calibration: [calibration] });
    expect(report.map((r) => [r.layer, r.op, r.precision])).toEqual([['0', 'Linear', 'int8'], ['2', 'Linear', 'int8'], ['4', 'Linear', 'int8']]);
    expect(report[0].bytesBefore).toBe((12 * 16 + 16) * 4);
    expect(report[0].bytesAfter).toBe(12 * 16 + 16 * 4 + 16 * 4);
    // The first layer's input range is the calibration data's: scale (max - min) / 255.
    const values = readValues(calibration);
    expect(report[0].activationScale).toBe(Math.fround((Math.max(...values) - Math.min(...values)) / 255));
    const layers = (module as Sequential).layers;
    expect(layers[0]).toBeInstanceOf(QuantizedLinear);
    expect(layers[1]).toBe(model.layers[1]);
    // int8 with static activations stays within a few percent of the float model here.
    expectAll(run(module), before, (a, e) => Math.abs(a - e) <= 0.05 * (1 + Math.abs(e)), 'int8 vs float');
    module.dispose();
    expect(liveTensors()).toBe(live);
    expect(getBackend().memory().buffers).toBe(buffers);
    expect(run(model)).toEqual(before);
    expect([...model.stateDict()].map(([k, t]) => [k, readValues(t)] as const)).toEqual(weights);
    for (const t of [model, x, calibration]) t.dispose();
  });

  it('folds BatchNorm, names what it left float (excluded, inside other containers), and runs close to the float model', async () => {
    const r = new Random(7);
    const model = withStatistics(new Sequential(
      new Conv2d(2, 4, 3, { seed: r, padding: 1 }), new BatchNorm2d(4), new ReLU(), new Flatten(),
      new Sequential(new Linear(4 * 25, 3, { seed: r }), new Block()), new Linear(3, 2, { seed: r }),
    ), 8);
    const data = randomUniform([6, 2, 5, 5], { seed: 9 });
    const { module, report } = await quantizeModule(model, { weights: 'int8', activations: 'static', calibration: [data], exclude: ['5'] });
    expect(report.map((row) => [row.layer, row.op, row.precision])).toEqual([
      ['0', 'Conv2d+BatchNorm2d', 'int8'], ['4.0', 'Linear', 'int8'], ['4.1.inner', 'Linear', 'float'], ['5', 'Linear', 'float'],
    ]);
    expect(report[2].reason).toContain('inside Block');
    expect(report[3].reason).toContain('excluded');
    const layers = (module as Sequential).layers;
    expect(layers.length).toBe(model.layers.length - 1);
    expect(layers[0]).toBeInstanceOf(QuantizedConv2d);
    expect(layers[layers.length - 1]).toBe(model.layers[5]);
    const forward = (m: Module<[Tensor], Tensor>): number[] => noGrad(() => scope(() => readValues(m.forward(data))));
    const expected = forward(model);
    expectAll(forward(module), expected, (a, e) => Math.abs(a - e) <= 0.05 * (1 + Math.abs(e)), 'cnn');
    module.dispose();
    expect(forward(model)).toEqual(expected);
    await expectRejects(quantizeModule(new Block(), { weights: 'int8', activations: 'none' }), 'UNSUPPORTED_OP', 'Block', 'inner');
    model.dispose();
    data.dispose();
  });

  it('refuses bad input with a clear error: no or empty calibration, NaN or Inf, schemes the layers cannot run', async () => {
    const model = mlp(2);
    const bad = fromArray(Float32Array.from({ length: 12 }, (_, i) => (i === 5 ? NaN : i)), [1, 12]);
    const inf = fromArray(Float32Array.from({ length: 12 }, (_, i) => (i === 5 ? Infinity : i)), [1, 12]);
    const live = liveTensors();
    await expectRejects(quantizeModule(model, { weights: 'int8', activations: 'static' }), 'INVALID_ARGUMENT', 'calibration');
    await expectRejects(quantizeModule(model, { weights: 'int8', activations: 'static', calibration: [] }), 'INVALID_ARGUMENT', 'empty');
    await expectRejects(quantizeModule(model, { weights: 'int8', activations: 'static', calibration: [bad] }), 'INVALID_ARGUMENT', "'0.input'", 'NaN', 'element 5');
    await expectRejects(quantizeModule(model, { weights: 'int8', activations: 'static', calibration: [inf] }), 'INVALID_ARGUMENT', 'Infinity');
    await expectRejects(quantizeModule(model, { weights: 'int4', activations: 'static', calibration: [inf] }), 'INVALID_ARGUMENT', 'weight-only');
    await expectRejects(quantizeModule(model, { weights: 'int2' as 'int8', activations: 'none' }), 'INVALID_ARGUMENT', 'int2');
    await expectRejects(quantizeModule(model, { weights: { type: 'uint8', symmetric: true, granularity: { kind: 'tensor' } }, activations: 'none' }), 'INVALID_ARGUMENT', 'uint8');
    await expectRejects(quantizeModule(new ReLU(), { weights: 'int8', activations: 'none' }), 'INVALID_ARGUMENT', 'no layer');
    expect(liveTensors()).toBe(live);
    for (const t of [model, bad, inf]) t.dispose();
  });

  it('handles all-zero weights (scale 1: output is the bias) and all-zero calibration data (scale 1, zero point 0)', async () => {
    const layer = new Linear(4, 2, { seed: 1 });
    noGrad(() => layer.weight.assign(fromArray(new Float32Array(8), [2, 4])));
    const zeros = fromArray(new Float32Array(12), [3, 4]);
    const { module, report } = await quantizeModule(layer, { weights: 'int8', activations: 'static', calibration: [zeros] });
    expect(report[0].weightScale).toEqual({ min: 1, max: 1 });
    expect(report[0].activationScale).toBe(1);
    const bias = readValues(layer.bias!);
    const y = scope(() => readValues(module.forward(randomNormal([3, 4], { seed: 1 }))));
    // bias / (1 * 1) rounded to an integer, then back: a bias quantized at scale 1.
    expect(y).toEqual([0, 1, 2].flatMap(() => bias.map((b) => Math.round(b))));
    for (const t of [module, layer, zeros]) t.dispose();
  });

  it('calibrates with DataLoader batches (disposing them) and runs the same on backend-wasm as on backend-js', async () => {
    const build = async (backend: string): Promise<number[]> => {
      const model = mlp(5, [12, 16, 3], backend);
      const data = new TensorDataset(randomArray(rng(6), 64 * 12, 2), [64, 12], new Int32Array(64));
      const live = liveTensors();
      const { module } = await quantizeModule(model, { weights: 'int8', activations: 'static', calibration: new DataLoader(data, { batchSize: 16, backend }) });
      const y = scope(() => readValues(module.forward(fromArray(randomArray(rng(7), 4 * 12, 2), [4, 12], { backend }))));
      module.dispose();
      // Every calibration batch was disposed, and the quantized model freed all it held.
      expect(liveTensors()).toBe(live);
      model.dispose();
      return y;
    };
    expect(await build('wasm')).toEqual(await build('js'));
  });
});

describe('quantization-aware training', () => {
  it('trains copies of the weights (the float model stays the teacher) through fake quantization, and converts to what it computed', () => {
    scope(() => {
      const teacher = mlp(11, [12, 16, 10, 3], 'wasm');
      const data = new TensorDataset(randomArray(rng(12), 96 * 12, 2), [96, 12], Int32Array.from({ length: 96 }, (_, i) => i % 3));
      for (const [options, tolerance] of [
        [{ weights: 'int4', activations: 'none' }, 0],
        [{ weights: 'int8', activations: 'static' }, 0.02],
        [{ weights: 'int8', activations: 'dynamic', ste: 'lsq' }, 0.02],
      ] as const) {
        const student = prepareQat(teacher, options);
        expect(student.parameters().some((p) => teacher.parameters().includes(p))).toBe(false);
        const before = readValues(student.parameters()[0]);
        distill({ teacher, student, data: new DataLoader(data, { batchSize: 32, shuffle: true, seed: 1, backend: 'wasm' }), epochs: 2, optimizer: (p) => new Adam(p, { lr: 1e-3 }) });
        expect(readValues(student.parameters()[0])).not.toEqual(before);
        const x = fromArray(randomArray(rng(13), 8 * 12, 2), [8, 12], { backend: 'wasm' });
        const fake = readValues(noGrad(() => student.eval().forward(x)));
        const { module, report } = convertQat(student);
        expect(report.map((r) => r.precision)).toEqual(options.weights === 'int4' ? ['int4', 'int4', 'int4'] : ['int8', 'int8', 'int8']);
        const real = readValues(noGrad(() => module.forward(x)));
        expectAll(real, fake, (a, e) => Math.abs(a - e) <= tolerance * (1 + Math.abs(e)), JSON.stringify(options));
        module.dispose();
        student.dispose();
      }
      teacher.dispose();
    });
  });

  it('passes gradients to the weights (clipped STE) and to learned scales (LSQ); refuses what it cannot copy', () => {
    scope(() => {
      const model = mlp(14);
      const x = randomNormal([4, 12], { seed: 15 });
      const lsq = prepareQat(model, { weights: 'int8', activations: 'static', ste: 'lsq' });
      sum(lsq.forward(x)).backward();
      const named = new Map(lsq.namedParameters());
      expect(readValues(named.get('0.weight')!.grad!).some((g) => g !== 0)).toBe(true);
      expect(readValues(named.get('0.weight_scale')!.grad!).some((g) => g !== 0)).toBe(true);
      lsq.dispose();
      const withDropout = new Sequential(new Linear(12, 4, { seed: 1 }), new Dropout(0.5, { seed: 1 }), new Linear(4, 2, { seed: 2 }));
      const student = prepareQat(withDropout, { weights: 'int8', activations: 'none' }) as Sequential;
      expect(student.layers[1]).toBeInstanceOf(Dropout);
      expect(student.layers[1]).not.toBe(withDropout.layers[1]);
      expect(student.layers[0]).toBeInstanceOf(QatLayer);
      expectMinnowError(() => convertQat(prepareQat(model, { weights: 'int8', activations: 'static' })), 'INVALID_ARGUMENT', 'no training batch');
      // An excluded layer trains in float and converts to a plain Linear with the same weights.
      const partial = prepareQat(model, { weights: 'int8', activations: 'none', exclude: ['4'] });
      const converted = convertQat(partial);
      expect(converted.report.map((r) => [r.layer, r.precision])).toEqual([['0', 'int8'], ['2', 'int8'], ['4', 'float']]);
      const last = (converted.module as Sequential).layers[4];
      expect(last).toBeInstanceOf(Linear);
      expect(readValues((last as Linear).weight)).toEqual(readValues((model.layers[4] as Linear).weight));
      converted.module.dispose();
      partial.dispose();
      const normed = new Sequential(new Linear(12, 4, { seed: 1 }), new LayerNorm(4), new Linear(4, 2, { seed: 2 }));
      expectMinnowError(() => prepareQat(normed, { weights: 'int8', activations: 'none' }), 'UNSUPPORTED_OP', 'LayerNorm "1"');
      expectMinnowError(() => prepareQat(model, { weights: 'int4', activations: 'static' }), 'INVALID_ARGUMENT', 'weight-only');
      for (const m of [model, withDropout, student, normed]) m.dispose();
    });
  });

  it('a fixed-seed QAT run with distillation wins back the accuracy that post-training int4 loses (MNIST)', async () => {
    const { train: trainSet, test: testSet } = await loadMnistSplit({ seed: 3 });
    const loader = (): DataLoader => new DataLoader(trainSet, { batchSize: 64, shuffle: true, seed: 4, backend: 'wasm' });
    const test = new DataLoader(testSet, { batchSize: 500, backend: 'wasm' });
    const model = mlp(16, [784, 16, 16, 10], 'wasm');
    train({ model, data: loader(), epochs: 2, optimizer: (p) => new Adam(p, { lr: 1e-2 }) });
    const float = evaluate(model, test).accuracy;
    // One int4 scale per weight tensor, and static int8 activations: coarse enough that post-training quantization visibly hurts.
    const options = { weights: { type: 'int4', symmetric: true, granularity: { kind: 'tensor' } }, activations: 'static' } as const;
    const ptq = await quantizeModule(model, { ...options, calibration: new DataLoader(trainSet, { batchSize: 500, backend: 'wasm' }) });
    const ptqAccuracy = evaluate(ptq.module, test).accuracy;
    ptq.module.dispose();
    const student = prepareQat(model, options);
    distill({ teacher: model, student, data: loader(), epochs: 1, temperature: 1, alpha: 0.5, optimizer: (p) => new Adam(p, { lr: 1e-3 }) });
    const qat = convertQat(student);
    const qatAccuracy = evaluate(qat.module, test).accuracy;
    qat.module.dispose();
    student.dispose();
    model.dispose();
    // Measured with these seeds: float 90.3%, post-training 88.75%, after QAT 90.25%.
    expect(float).toBeGreaterThan(0.88);
    expect(ptqAccuracy).toBeLessThan(float - 0.01);
    expect(qatAccuracy).toBeGreaterThan(ptqAccuracy + 0.01);
    expect(qatAccuracy).toBeGreaterThan(float - 0.005);
  }, 120_000);
});
