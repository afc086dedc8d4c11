import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { MinnowError, Random, fromArray, liveTensors, noGrad, scope, type Tensor } from '@minnow/core';
import {
  AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, LayerNorm, Linear, MaxPool2d, Module, ReLU, SGD, Sequential, mse, type AnyModule,
} from '@minnow/nn';
import { exportModule, writeModel } from '@minnow/onnx';
// Internals under test (not part of the package's API).
import { type ChannelGroupReport, type ModuleChannelPruneResult, pruneChannels } from '@minnow/compress';
import { channelNorms, keptCount, topChannels } from '../../packages/compress/src/prune/structured/importance.js';
import { gatherAxis, keptPositions, type ChannelAxis } from '../../packages/compress/src/prune/structured/channel-map.js';
import { runs } from '../helpers/reference.js';

/**
 * Structured pruning of nn models: the pruned model must compute exactly what the dense model
 * computes once the removed channels are cut off where they are consumed (the next layer's input
 * columns zeroed: zeroing the producer's filters alone would not do, since a BatchNorm after it
 * turns a zero channel into its shift); the channels kept must be the most important by an
 * independently computed norm; the model must really shrink; and what cannot be traced must be
 * skipped with a reason, or refused by name.
 */

type Layer = Module<[Tensor], Tensor>;

const TOLERANCE = 1e-5;

/** Every parameter and buffer set to seeded random values (variances positive), so BatchNorm is not the identity. */
function randomize(model: AnyModule, seed: number): void {
  const rng = new Random(seed);
  scope(() => {
    const values = new Map<string, Tensor>();
    for (const [name, t] of model.stateDict()) {
      if (name.endsWith('num_batches_tracked')) continue;
      const data = Float32Array.from({ length: t.size }, () => (name.endsWith('running_var') ? 0.5 + rng.uniform() * 2 : rng.normal() * 0.5));
      values.set(name, fromArray(data, t.shape));
    }
    model.loadStateDict(values, { strict: false });
  });
}

function forward(model: Layer, input: Float32Array, shape: readonly number[]): Float32Array {
  model.eval();
  return noGrad(() => scope(() => Float32Array.from(model.forward(fromArray(input, shape)).dataSync())));
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return worst;
}

const blockOf = (channels: readonly number[], block: number): number[] => channels.flatMap((c) => Array.from({ length: block }, (_, i) => c * block + i));
const removed = (group: ChannelGroupReport): number[] => Array.from({ length: group.channels }, (_, c) => c).filter((c) => !group.kept.includes(c));
const groupOf = (result: ModuleChannelPruneResult, producer: string): ChannelGroupReport => {
  const g = result.groups.find((x) => x.producers.includes(producer));
  if (!g) throw new Error(`no group produced by ${producer}`);
  return g;
};

/** Zeroes input columns `columns` (axis 1) of a Linear or Conv2d weight in place of the dense model. */
function zeroInputs(layer: Linear | Conv2d, columns: readonly number[]): void {
  const w = layer.weight;
  const data = Float32Array.from(w.dataSync());
  const [out, inputs] = w.shape;
  const block = w.size / (out * inputs);
  for (let o = 0; o < out; o++) for (const c of columns) data.fill(0, (o * inputs + c) * block, (o * inputs + c + 1) * block);
  scope(() => layer.loadStateDict({ weight: fromArray(data, w.shape), ...(layer.bias ? { bias: layer.bias } : {}) }));
}

/** The channels an independent L1/L2 computation says should stay: norms of the producers' rows summed, top k, ties to the lower index. */
function expectedKept(weights: readonly Tensor[], keep: number, norm: 'l1' | 'l2'): number[] {
  const channels = weights[0].shape[0];
  const score = new Array<number>(channels).fill(0);
  for (const w of weights) {
    const data = w.dataSync();
    const per = w.size / channels;
    for (let c = 0; c < channels; c++) {
      let s = 0;
      for (let i = 0; i < per; i++) s += norm === 'l1' ? Math.abs(data[c * per + i]) : data[c * per + i] ** 2;
      score[c] += norm === 'l1' ? s : Math.sqrt(s);
    }
  }
  return [...score.keys()].sort((a, b) => score[b] - score[a] || a - b).slice(0, keep).sort((a, b) => a - b);
}

function rejection(promise: Promise<unknown>): Promise<MinnowError> {
  return promise.then(
    () => { throw new Error('expected a MinnowError, the call succeeded'); },
    (error: unknown) => {
      if (!(error instanceof MinnowError)) throw error;
      return error;
    },
  );
}

describe('channel importance and index maps', () => {
  it('topChannels keeps the k largest scores in index order, ties to the lower index', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: -4, max: 4 }), { minLength: 1, maxLength: 30 }), fc.nat(), (scores, k0) => {
      const keep = 1 + (k0 % scores.length);
      const kept = topChannels(scores, keep);
      expect(kept).toHaveLength(keep);
      expect([...kept].sort((a, b) => a - b)).toEqual(kept);
      const dropped = scores.map((_, c) => c).filter((c) => !kept.includes(c));
      // Every kept channel beats every dropped one, or ties it with a lower index.
      for (const k of kept) for (const d of dropped) expect(scores[k] > scores[d] || (scores[k] === scores[d] && k < d)).toBe(true);
    }), runs(801));
  });

  it('keptCount rounds (1 - sparsity) * channels and never reaches zero', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 500 }), fc.double({ min: 0, max: 0.999, noNaN: true }), (n, s) => {
      const k = keptCount(n, s);
      expect(k).toBeGreaterThanOrEqual(1);
      expect(k).toBeLessThanOrEqual(n);
      if (Math.round((1 - s) * n) >= 1) expect(k).toBe(Math.round((1 - s) * n));
    }), runs(802));
  });

  it('channelNorms is the L1 / L2 norm of each slice along the axis', () => {
    fc.assert(fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 4 }), fc.nat(), fc.integer(), (dims, a, seed) => {
      const axis = a % dims.length;
      const rng = new Random(seed);
      const size = dims.reduce((x, y) => x * y, 1);
      const values = Float32Array.from({ length: size }, () => rng.normal());
      const l1 = channelNorms(values, dims, axis, 'l1');
      const l2 = channelNorms(values, dims, axis, 'l2');
      const inner = dims.slice(axis + 1).reduce((x, y) => x * y, 1);
      for (let c = 0; c < dims[axis]; c++) {
        const members = [...values.keys()].filter((i) => Math.floor(i / inner) % dims[axis] === c).map((i) => values[i]);
        expect(l1[c]).toBeCloseTo(members.reduce((s, v) => s + Math.abs(v), 0), 10);
        expect(l2[c]).toBeCloseTo(Math.sqrt(members.reduce((s, v) => s + v * v, 0)), 10);
      }
    }), runs(803, 60));
  });

  it('keptPositions and gatherAxis pick exactly the positions of kept channels (segments, outer, inner)', () => {
    const arbAxis = fc.record({
      outer: fc.integer({ min: 1, max: 3 }),
      inner: fc.integer({ min: 1, max: 3 }),
      segments: fc.array(fc.record({ group: fc.option(fc.integer({ min: 0, max: 2 }), { nil: undefined }), size: fc.integer({ min: 1, max: 4 }) }), { minLength: 1, maxLength: 3 }),
    });
    fc.assert(fc.property(arbAxis, fc.integer(), (axis: ChannelAxis, seed) => {
      const rng = new Random(seed);
      const keptByGroup = new Map<number, number[]>();
      const keptOf = (g: number): number[] | undefined => keptByGroup.get(g);
      for (const s of axis.segments) {
        if (s.group !== undefined && !keptByGroup.has(s.group) && rng.uniform() < 0.7) {
          keptByGroup.set(s.group, Array.from({ length: s.size }, (_, c) => c).filter(() => rng.uniform() < 0.5));
        }
      }
      // A group met again with another size is not a valid axis; skip those draws.
      const sizes = new Map<number, number>();
      for (const s of axis.segments) if (s.group !== undefined && (sizes.get(s.group) ?? s.size) !== s.size) return;
      else if (s.group !== undefined) sizes.set(s.group, s.size);
      const total = axis.segments.reduce((n, s) => n + s.size, 0);
      const expected: number[] = [];
      for (let p = 0; p < axis.outer * total * axis.inner; p++) {
        let c = Math.floor(p / axis.inner) % total;
        const seg = axis.segments.find((s) => (c < s.size ? true : ((c -= s.size), false)))!;
        const kept = seg.group === undefined ? undefined : keptOf(seg.group);
        if (kept === undefined || kept.includes(c)) expected.push(p);
      }
      const positions = keptPositions(axis, keptOf);
      expect([...positions]).toEqual(expected);
      const dims = [2, axis.outer * total * axis.inner, 3];
      const values = Float32Array.from({ length: dims[0] * dims[1] * dims[2] }, (_, i) => i);
      const cut = gatherAxis(values, dims, 1, positions);
      expect(cut.dims).toEqual([2, expected.length, 3]);
      for (let b = 0; b < 2; b++) for (let j = 0; j < expected.length; j++) for (let k = 0; k < 3; k++) {
        expect(cut.values[(b * expected.length + j) * 3 + k]).toBe(values[(b * dims[1] + expected[j]) * 3 + k]);
      }
    }), runs(804));
  });
});

/** conv(1->8) BN ReLU pool conv(8->16) BN ReLU Flatten Linear(256->32) ReLU Dropout Linear(32->10), for [N, 1, 8, 8]. */
function smallCnn(seed: number): Sequential {
  const rng = new Random(seed);
  return new Sequential(
    new Conv2d(1, 8, 3, { seed: rng, padding: 1 }), new BatchNorm2d(8), new ReLU(), new MaxPool2d(2),
    new Conv2d(8, 16, 3, { seed: rng, padding: 1 }), new BatchNorm2d(16), new ReLU(),
    new Flatten(), new Linear(256, 32, { seed: rng }), new ReLU(), new Dropout(0.2, { seed: rng }), new Linear(32, 10, { seed: rng }),
  );
}

describe('pruneChannels on a small CNN', () => {
  it('prunes half of each traced group, matches the masked dense model, shrinks the parameters, and leaves the source alone', async () => {
    const model = smallCnn(11);
    randomize(model, 12);
    const sourceValues = [...model.stateDict()].map(([n, t]) => [n, Float32Array.from(t.dataSync())] as const);
    const result = await pruneChannels(model, { sparsity: 0.5, inputShape: [1, 1, 8, 8] });
    const pruned = result.module;

    // Groups: conv '0' (with BN '1', consumed by conv '4'), conv '4' (BN '5', Linear '8' through Flatten), Linear '8' (consumed by '11'), and '11', the output.
    const [g0, g4, g8, g11] = ['0', '4', '8', '11'].map((p) => groupOf(result, p));
    expect([g0, g4, g8].map((g) => [g.pruned, g.kept.length])).toEqual([[true, 4], [true, 8], [true, 16]]);
    expect(g0.followers).toEqual(expect.arrayContaining(['1', '4']));
    expect(g4.followers).toEqual(expect.arrayContaining(['5', '8']));
    expect(g11.pruned).toBe(false);
    expect(g11.reasons.join()).toContain('output');
    for (const [g, layer] of [[g0, model.at(0)], [g4, model.at(4)], [g8, model.at(8)]] as const) {
      expect(g.kept).toEqual(expectedKept([(layer as Conv2d | Linear).weight], g.kept.length, 'l1'));
    }

    // The masked dense model: removed channels cut where they are consumed.
    const masked = smallCnn(11);
    masked.loadStateDict(model.stateDict());
    zeroInputs(masked.at(4) as Conv2d, removed(g0));
    zeroInputs(masked.at(8) as Linear, blockOf(removed(g4), 16));
    zeroInputs(masked.at(11) as Linear, removed(g8));
    const rng = new Random(5);
    const input = Float32Array.from({ length: 3 * 64 }, () => rng.normal());
    const expected = forward(masked, input, [3, 1, 8, 8]);
    expect(maxDiff(forward(pruned, input, [3, 1, 8, 8]), expected)).toBeLessThan(TOLERANCE);
    // And the cut matters: the unmasked dense model differs.
    expect(maxDiff(forward(model, input, [3, 1, 8, 8]), expected)).toBeGreaterThan(1e-3);

    const rows = new Map(result.layers.map((r) => [r.layer, r]));
    expect(rows.get('0')!.outChannels).toEqual({ before: 8, after: 4 });
    expect(rows.get('1')!.outChannels).toEqual({ before: 8, after: 4 });
    expect(rows.get('4')!.inChannels).toEqual({ before: 8, after: 4 });
    expect(rows.get('4')!.outChannels).toEqual({ before: 16, after: 8 });
    expect(rows.get('8')!.inChannels).toEqual({ before: 256, after: 128 });
    expect(rows.get('11')!.inChannels).toEqual({ before: 32, after: 16 });
    expect(rows.get('11')!.outChannels).toEqual({ before: 10, after: 10 });
    expect(result.params.before).toBe(model.parameterCount());
    expect(result.params.after).toBe(pruned.parameterCount());
    expect(result.params.after).toBeLessThan(0.5 * result.params.before);
    expect(result.layers.reduce((n, r) => n + r.params.after, 0)).toBe(result.params.after);

    // The source keeps its values and shares no tensor with the result.
    for (const [name, values] of sourceValues) expect(Float32Array.from(model.stateDict().get(name)!.dataSync())).toEqual(values);
    const sourceTensors = new Set([...model.stateDict().values()]);
    expect([...pruned.stateDict().values()].some((t) => sourceTensors.has(t))).toBe(false);
    pruned.dispose();
    masked.dispose();
    model.dispose();
  });

  it('ranks by the L2 norm when asked, and trains after pruning (gradients reach every kept weight)', async () => {
    const model = smallCnn(21);
    randomize(model, 22);
    const { module, groups } = await pruneChannels(model, { sparsity: 0.25, norm: 'l2', inputShape: [2, 1, 8, 8] });
    const g4 = groups.find((g) => g.producers.includes('4'))!;
    expect(g4.kept).toEqual(expectedKept([(model.at(4) as Conv2d).weight], 12, 'l2'));
    module.train();
    const optimizer = new SGD(module.parameters(), { lr: 0.01 });
    const before = Float32Array.from((module as Sequential).at(0)!.parameters()[0].dataSync());
    scope(() => {
      const rng = new Random(3);
      const x = fromArray(Float32Array.from({ length: 4 * 64 }, () => rng.normal()), [4, 1, 8, 8]);
      mse(module.forward(x), fromArray(new Float32Array(40), [4, 10])).backward();
      optimizer.step();
    });
    expect(Float32Array.from((module as Sequential).at(0)!.parameters()[0].dataSync())).not.toEqual(before);
    optimizer.dispose();
    module.dispose();
    model.dispose();
  });

  it('leaves no tensor behind once both models are disposed', async () => {
    const start = liveTensors();
    const model = smallCnn(31);
    const { module } = await pruneChannels(model, { sparsity: 0.5, inputShape: [1, 1, 8, 8] });
    module.dispose();
    model.dispose();
    expect(liveTensors()).toBe(start);
  });

  it('exports the pruned model to ONNX, and onnxruntime-node computes what minnow computes', async () => {
    const model = smallCnn(41);
    randomize(model, 42);
    const { module } = await pruneChannels(model, { sparsity: 0.5, inputShape: [1, 1, 8, 8] });
    const onnx = exportModule(module, { inputShape: [1, 1, 8, 8] });
    const session = await ort.InferenceSession.create(writeModel(onnx).model, { logSeverityLevel: 3 });
    const rng = new Random(43);
    const input = Float32Array.from({ length: 64 }, () => rng.normal());
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [1, 1, 8, 8]) });
    const ortValues = out[session.outputNames[0]].data as Float32Array;
    expect(maxDiff(ortValues, forward(module, input, [1, 1, 8, 8]))).toBeLessThan(1e-4);
    const initialised = onnx.graph!.initializer.reduce((n, t) => n + t.dims.reduce((a, b) => a * b, 1), 0);
    expect(initialised).toBeLessThan(0.5 * model.parameterCount());
    await session.release();
    module.dispose();
    model.dispose();
  });
});

describe('pruneChannels dependency groups', () => {
  it('a depthwise Conv2d joins its input group: importance summed over both producers, channels cut on both sides', async () => {
    const rng = new Random(51);
    const model = new Sequential(
      new Conv2d(2, 8, 3, { seed: rng, padding: 1 }), new ReLU(), new Conv2d(8, 8, 3, { seed: rng, padding: 1, groups: 8 }), new BatchNorm2d(8), new ReLU(),
      new Conv2d(8, 6, 1, { seed: rng }), new ReLU(), new AvgPool2d(6), new Flatten(), new Linear(6, 3, { seed: rng }),
    );
    randomize(model, 52);
    const result = await pruneChannels(model, { sparsity: 0.5, inputShape: [1, 2, 6, 6] });
    const g0 = groupOf(result, '0');
    expect(g0.producers).toEqual(['0', '2']);
    expect(g0.kept).toEqual(expectedKept([(model.at(0) as Conv2d).weight, (model.at(2) as Conv2d).weight], 4, 'l1'));
    const depthwise = (result.module as Sequential).at(2) as Conv2d;
    expect([depthwise.inChannels, depthwise.outChannels, ...depthwise.weight.shape]).toEqual([4, 4, 4, 1, 3, 3]);
    const masked = new Sequential(...model.layers);
    zeroInputs(model.at(5) as Conv2d, removed(g0));
    zeroInputs(model.at(9) as Linear, removed(groupOf(result, '5')));
    const input = Float32Array.from({ length: 2 * 72 }, () => rng.normal());
    expect(maxDiff(forward(result.module, input, [2, 2, 6, 6]), forward(masked, input, [2, 2, 6, 6]))).toBeLessThan(TOLERANCE);
    result.module.dispose();
    model.dispose();
  });

  it('a grouped Conv2d blocks the group it reads and is copied whole; the layers after it still prune', async () => {
    const rng = new Random(55);
    const model = new Sequential(
      new Conv2d(2, 4, 3, { seed: rng, padding: 1 }), new ReLU(), new Conv2d(4, 6, 3, { seed: rng, padding: 1, groups: 2 }), new ReLU(),
      new Conv2d(6, 8, 1, { seed: rng }), new ReLU(), new Flatten(), new Linear(8 * 16, 3, { seed: rng }),
    );
    randomize(model, 56);
    const result = await pruneChannels(model, { sparsity: 0.5, inputShape: [1, 2, 4, 4] });
    expect(groupOf(result, '0').pruned).toBe(false);
    expect(groupOf(result, '0').reasons.join()).toContain('Conv2d "2" has groups 2');
    expect(result.groups.some((g) => g.producers.includes('2'))).toBe(false);
    const g4 = groupOf(result, '4');
    expect(g4.pruned).toBe(true);
    const grouped = (result.module as Sequential).at(2) as Conv2d;
    expect([grouped.inChannels, grouped.outChannels, ...grouped.weight.shape]).toEqual([4, 6, 6, 2, 3, 3]);
    const masked = new Sequential(...model.layers);
    zeroInputs(model.at(7) as Linear, blockOf(removed(g4), 16));
    const input = Float32Array.from({ length: 2 * 32 }, () => rng.normal());
    expect(maxDiff(forward(result.module, input, [2, 2, 4, 4]), forward(masked, input, [2, 2, 4, 4]))).toBeLessThan(TOLERANCE);
    result.module.dispose();
    model.dispose();
  });

  it('a LayerNorm over the features blocks its group; the next Linear still prunes; nested Sequentials are followed', async () => {
    const rng = new Random(61);
    const model = new Sequential(
      new Sequential(new Linear(6, 12, { seed: rng }), new LayerNorm(12), new ReLU()),
      new Sequential(new Linear(12, 8, { seed: rng }), new BatchNorm1d(8), new ReLU()),
      new Linear(8, 3, { seed: rng }),
    );
    randomize(model, 62);
    const result = await pruneChannels(model, { sparsity: 0.5, inputShape: [4, 6] });
    const first = groupOf(result, '0.0');
    expect(first.pruned).toBe(false);
    expect(first.reasons.join()).toContain('LayerNorm "0.1" normalises over the channels');
    const second = groupOf(result, '1.0');
    expect(second.pruned).toBe(true);
    expect(second.followers).toEqual(['1.1', '2']);
    const masked = new Sequential(...model.layers);
    zeroInputs(model.at(2) as Linear, removed(second));
    const input = Float32Array.from({ length: 5 * 6 }, () => rng.normal());
    expect(maxDiff(forward(result.module, input, [5, 6]), forward(masked, input, [5, 6]))).toBeLessThan(TOLERANCE);
    const bn = ((result.module as Sequential).at(1) as Sequential).at(1) as BatchNorm1d;
    expect([bn.numFeatures, bn.runningMean!.shape[0]]).toEqual([4, 4]);
    result.module.dispose();
    model.dispose();
  });

  it('include/exclude choose groups by their producers', async () => {
    const model = smallCnn(71);
    const excluded = await pruneChannels(model, { sparsity: 0.5, inputShape: [1, 1, 8, 8], exclude: ['4'] });
    expect(groupOf(excluded, '4').pruned).toBe(false);
    expect(groupOf(excluded, '4').reasons.join()).toContain('"4" is not selected');
    expect(groupOf(excluded, '0').pruned).toBe(true);
    const onlyLinear = await pruneChannels(model, { sparsity: 0.5, inputShape: [1, 1, 8, 8], include: ['Linear'] });
    expect(['0', '4', '8'].map((p) => groupOf(onlyLinear, p).pruned)).toEqual([false, false, true]);
    excluded.module.dispose();
    onlyLinear.module.dispose();
    model.dispose();
  });

  it('sparsity 0 keeps every channel and copies the model exactly', async () => {
    const model = smallCnn(81);
    randomize(model, 82);
    const { module, groups, params } = await pruneChannels(model, { sparsity: 0, inputShape: [1, 1, 8, 8] });
    expect(groups.every((g) => !g.pruned)).toBe(true);
    expect(params.after).toBe(params.before);
    const input = Float32Array.from({ length: 64 }, (_, i) => Math.sin(i));
    expect(forward(module, input, [1, 1, 8, 8])).toEqual(forward(model, input, [1, 1, 8, 8]));
    module.dispose();
    model.dispose();
  });
});

describe('pruneChannels on random MLPs (property)', () => {
  it('any depth, widths, BatchNorm1d placement and sparsity: the pruned model equals the masked dense one', async () => {
    const arbNet = fc.record({
      widths: fc.array(fc.integer({ min: 1, max: 9 }), { minLength: 2, maxLength: 5 }),
      norms: fc.array(fc.boolean(), { minLength: 5, maxLength: 5 }),
      sparsity: fc.double({ min: 0, max: 0.95, noNaN: true }),
      norm: fc.constantFrom('l1' as const, 'l2' as const),
      seed: fc.integer({ min: 0, max: 1e6 }),
    });
    await fc.assert(fc.asyncProperty(arbNet, async ({ widths, norms, sparsity, norm, seed }) => {
      const rng = new Random(seed);
      const layers: Layer[] = [];
      const linears: Linear[] = [];
      for (let i = 0; i + 1 < widths.length; i++) {
        const linear = new Linear(widths[i], widths[i + 1], { seed: rng });
        linears.push(linear);
        layers.push(linear);
        if (i + 2 < widths.length) {
          if (norms[i]) layers.push(new BatchNorm1d(widths[i + 1]));
          layers.push(new ReLU());
        }
      }
      const model = new Sequential(...layers);
      randomize(model, seed + 1);
      const result = await pruneChannels(model, { sparsity, norm, inputShape: [1, widths[0]] });
      const paths = new Map(model.namedModules().map(([path, m]) => [path, m]));
      for (const g of result.groups) {
        const producer = paths.get(g.producers[0]) as Linear;
        expect(g.kept).toEqual(g.pruned ? expectedKept([producer.weight], g.kept.length, norm) : [...g.kept.keys()]);
        const last = producer === linears.at(-1);
        expect(g.pruned).toBe(!last && Math.max(1, Math.round((1 - sparsity) * g.channels)) < g.channels);
        for (const f of g.followers) if (paths.get(f) instanceof Linear) zeroInputs(paths.get(f) as Linear, removed(g));
      }
      const input = Float32Array.from({ length: 3 * widths[0] }, () => rng.normal());
      expect(maxDiff(forward(result.module, input, [3, widths[0]]), forward(model, input, [3, widths[0]]))).toBeLessThan(TOLERANCE);
      result.module.dispose();
      model.dispose();
    }), runs(805, 40));
  });
});

describe('pruneChannels refusals', () => {
  class Residual extends Module<[Tensor], Tensor> {
    readonly inner = this.registerModule('inner', new Linear(4, 4, { seed: 1 }));
    override forward(x: Tensor): Tensor {
      return this.inner.forward(x);
    }
  }

  it('refuses a module it cannot trace, naming it', async () => {
    const model = new Sequential(new Linear(4, 4, { seed: 2 }), new ReLU(), new Residual(), new Linear(4, 2, { seed: 3 }));
    const error = await rejection(pruneChannels(model, { sparsity: 0.5, inputShape: [1, 4] }));
    expect(error.code).toBe('UNSUPPORTED_OP');
    expect(error.message).toContain('"2" (Residual)');
    class MySequential extends Sequential {}
    const sub = await rejection(pruneChannels(new MySequential(new Linear(4, 2, { seed: 4 })), { sparsity: 0.5, inputShape: [1, 4] }));
    expect(sub.message).toContain('the model (MySequential)');
    model.dispose();
  });

  it('refuses a layer used twice, bad options and an input shape the model does not take', async () => {
    const shared = new Linear(4, 4, { seed: 5 });
    expect((await rejection(pruneChannels(new Sequential(shared, new ReLU(), shared), { sparsity: 0.5, inputShape: [1, 4] }))).message).toContain('appears twice');
    const model = new Sequential(new Linear(4, 4, { seed: 6 }), new ReLU(), new Linear(4, 2, { seed: 7 }));
    for (const sparsity of [1, -0.1, Number.NaN]) {
      expect((await rejection(pruneChannels(model, { sparsity, inputShape: [1, 4] }))).code).toBe('INVALID_ARGUMENT');
    }
    expect((await rejection(pruneChannels(model, { sparsity: 0.5, norm: 'l3' as 'l1', inputShape: [1, 4] }))).message).toContain("'l1' or 'l2'");
    expect((await rejection(pruneChannels(model, { sparsity: 0.5 } as never))).message).toContain('inputShape');
    const wrong = await rejection(pruneChannels(model, { sparsity: 0.5, inputShape: [1, 5] }));
    expect(wrong.message).toContain('does not run on inputShape [1,5]');
    shared.dispose();
    model.dispose();
  });
});
