import { beforeAll, describe, expect, it } from 'vitest';
import { Random, fromArray, getBackend, init, liveTensors, matmul, relu, scope, tensor, type Tensor } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import {
  Adam, DataLoader, Dropout, Linear, ReLU, SGD, Sequential, StepLR, TensorDataset, crossEntropy, subset, type Module,
} from '@minnow/nn';
import {
  distill, distillationLoss, evaluate, forwardCapturing, train, type EpochRecord, type Progress,
} from '@minnow/compress';
import { expectAll, expectMinnowError, rng } from '../helpers/reference.js';

/**
 * @minnow/compress distillation: the loss against float64 references, the teacher kept out of
 * the gradient, determinism, progress reports, leaks, the wasm backend, hints, and a small end to
 * end where the distilled student beats the same student trained alone.
 */

beforeAll(async () => {
  enableRelaxedSimd();
  await init(wasmBackend);
});

// ------------------------------------------------------------------------------------------------
// float64 references

function logSoftmaxRef(row: number[]): number[] {
  const m = Math.max(...row);
  const logSum = Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0));
  return row.map((v) => v - m - logSum);
}
const softmaxRef = (row: number[]): number[] => logSoftmaxRef(row).map(Math.exp);
const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const ceRef = (s: number[][], y: number[]): number => meanOf(s.map((row, i) => -logSoftmaxRef(row)[y[i]]));
function klRef(s: number[][], t: number[][], temperature: number): number {
  return meanOf(s.map((row, i) => {
    const ls = logSoftmaxRef(row.map((v) => v / temperature));
    const lt = logSoftmaxRef(t[i].map((v) => v / temperature));
    return lt.reduce((acc, l, k) => acc + Math.exp(l) * (l - ls[k]), 0);
  }));
}
const mseRef = (s: number[][], t: number[][]): number => meanOf(s.flatMap((row, i) => row.map((v, k) => (v - t[i][k]) ** 2)));

function matrix(seed: number, n: number, c: number, scale = 3): number[][] {
  const r = rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: c }, () => (r() * 2 - 1) * scale));
}
const f64 = (rows: number[][], requiresGrad = false): Tensor => fromArray(Float64Array.from(rows.flat()), [rows.length, rows[0].length], { requiresGrad });
const labelsOf = (xs: number[]): Tensor => fromArray(Int32Array.from(xs), [xs.length]);

describe('distillationLoss', () => {
  const s = matrix(1, 6, 5);
  const t = matrix(2, 6, 5, 5);
  const y = [0, 4, 2, 2, 1, 3];

  it('matches alpha CE + (1 - alpha) T^2 KL in float64, with the T^2 factor; alpha 1 is CE, alpha 0 pure KD', () => {
    scope(() => {
      for (const temperature of [1, 3, 20]) {
        for (const alpha of [0, 0.3, 1]) {
          const expected = alpha * ceRef(s, y) + (1 - alpha) * temperature ** 2 * klRef(s, t, temperature);
          const got = distillationLoss(f64(s), f64(t), labelsOf(y), { temperature, alpha }).itemSync();
          expect(Math.abs(got - expected)).toBeLessThan(1e-12 * Math.max(1, Math.abs(expected)));
        }
      }
      // alpha 1 is exactly nn's crossEntropy; alpha 0 needs no labels.
      expect(distillationLoss(f64(s), f64(t), labelsOf(y), { alpha: 1, temperature: 7 }).itemSync()).toBe(crossEntropy(f64(s), labelsOf(y)).itemSync());
      const pure = distillationLoss(f64(s), f64(t), null, { alpha: 0, temperature: 4 }).itemSync();
      expect(Math.abs(pure - 16 * klRef(s, t, 4))).toBeLessThan(1e-12);
      // float32 within float32 rounding.
      const f32 = distillationLoss(tensor(s), tensor(t), labelsOf(y), { temperature: 4, alpha: 0.25 }).itemSync();
      const ref = 0.25 * ceRef(s, y) + 0.75 * 16 * klRef(s, t, 4);
      expect(Math.abs(f32 - ref) / ref).toBeLessThan(1e-5);
    });
  });

  it("kind 'mse' is alpha CE + (1 - alpha) mean((student - teacher)^2), temperature unused", () => {
    scope(() => {
      const expected = 0.4 * ceRef(s, y) + 0.6 * mseRef(s, t);
      for (const temperature of [1, 20]) {
        const got = distillationLoss(f64(s), f64(t), labelsOf(y), { kind: 'mse', alpha: 0.4, temperature }).itemSync();
        expect(Math.abs(got - expected)).toBeLessThan(1e-12);
      }
    });
  });

  it('gradient: alpha (p - onehot) / N + (1 - alpha) T (p_T(student) - p_T(teacher)) / N, and none to the teacher', () => {
    scope(() => {
      const temperature = 5;
      const alpha = 0.2;
      const student = f64(s, true);
      const teacher = f64(t, true);
      distillationLoss(student, teacher, labelsOf(y), { temperature, alpha }).backward();
      const n = s.length;
      const expected = s.flatMap((row, i) => {
        const p = softmaxRef(row);
        const ps = softmaxRef(row.map((v) => v / temperature));
        const pt = softmaxRef(t[i].map((v) => v / temperature));
        return row.map((_, k) => (alpha * (p[k] - (k === y[i] ? 1 : 0)) + (1 - alpha) * temperature * (ps[k] - pt[k])) / n);
      });
      expectAll(Array.from(student.grad!.dataSync()), expected, (a, e) => Math.abs(a - e) < 1e-12, 'd loss / d student logits');
      expect(teacher.grad).toBeNull();
      student.zeroGrad();
    });
  });

  it('refuses bad options by name', () => {
    scope(() => {
      const a = tensor(s);
      const b = tensor(t);
      expectMinnowError(() => distillationLoss(a, b, labelsOf(y), { alpha: 1.5 }), 'INVALID_ARGUMENT', 'alpha');
      expectMinnowError(() => distillationLoss(a, b, labelsOf(y), { temperature: 0 }), 'INVALID_ARGUMENT', 'temperature');
      expectMinnowError(() => distillationLoss(a, b, null, { alpha: 0.5 }), 'INVALID_ARGUMENT', 'labels');
      expectMinnowError(() => distillationLoss(a, tensor([[1, 2]]), labelsOf(y)), 'SHAPE_MISMATCH', '[6,5]', '[1,2]');
    });
  });
});

// ------------------------------------------------------------------------------------------------
// a synthetic problem: 8-D Gaussian inputs, 4 balanced classes from signs of products and sums of fixed projections

const FEATURES = 8;
const CLASSES = 4;

function synthetic(n: number, seed: number): TensorDataset {
  const r = new Random(seed);
  const x = Float32Array.from({ length: n * FEATURES }, () => r.normal());
  const truth = new Random(1234);
  const mix = Array.from({ length: 4 * FEATURES }, () => truth.normal());
  const labels = Int32Array.from({ length: n }, (_, i) => {
    const z = [0, 1, 2, 3].map((k) => mix.slice(k * FEATURES, (k + 1) * FEATURES).reduce((a, w, j) => a + w * x[i * FEATURES + j], 0));
    return 2 * (z[0] * z[1] > 0 ? 1 : 0) + (z[2] + z[3] > 0.5 * z[0] ? 1 : 0);
  });
  return new TensorDataset(x, [n, FEATURES], labels);
}

function mlp(widths: number[], seed: number, options: { dropout?: number; backend?: string } = {}): Sequential {
  const r = new Random(seed);
  const layers: Module<[Tensor], Tensor>[] = [];
  for (let i = 0; i + 1 < widths.length; i++) {
    layers.push(new Linear(widths[i], widths[i + 1], { seed: r, backend: options.backend }));
    if (i + 2 < widths.length) {
      layers.push(new ReLU());
      if (options.dropout) layers.push(new Dropout(options.dropout, { seed: r }));
    }
  }
  return new Sequential(...layers);
}

const trainSet = synthetic(256, 1);
const testSet = synthetic(512, 2);
const loader = (backend = 'js', batchSize = 32): DataLoader => new DataLoader(trainSet, { batchSize, shuffle: true, seed: 5, backend });
const adam = (lr = 1e-2) => (params: Tensor[]) => new Adam(params, { lr });

/** A teacher trained briefly on the synthetic set (js). */
function trainedTeacher(backend = 'js'): Sequential {
  const teacher = mlp([FEATURES, 64, 64, CLASSES], 3, { dropout: 0.2, backend });
  train({ model: teacher, data: loader(backend), optimizer: adam(), epochs: 8 });
  return teacher;
}

/** The history without wall-clock fields. */
const replayable = (history: EpochRecord[]): Omit<EpochRecord, 'seconds' | 'samplesPerSecond'>[] =>
  history.map(({ seconds: _s, samplesPerSecond: _r, ...rest }) => rest);

describe('distill', () => {
  it('the teacher gets no gradient and keeps its weights; the student learns; modes are restored', () => {
    const teacher = trainedTeacher();
    const student = mlp([FEATURES, 8, CLASSES], 4);
    const before = teacher.parameters().map((p) => Array.from(p.dataSync()));
    const studentBefore = student.parameters().map((p) => Array.from(p.dataSync()));
    let checked = 0;
    teacher.train();
    distill({
      teacher, student, data: loader(), optimizer: adam(), epochs: 1, temperature: 4, alpha: 0.5,
      onProgress: () => {
        checked++;
        expect(teacher.parameters().every((p) => p.grad === null)).toBe(true);
        expect(teacher.training).toBe(false);
        expect(student.training).toBe(true);
      },
    });
    expect(checked).toBe(loader().length);
    expect(teacher.training).toBe(true);
    expect(teacher.parameters().every((p) => p.grad === null)).toBe(true);
    expect(student.parameters().every((p) => p.grad === null)).toBe(true);
    teacher.parameters().forEach((p, i) => expect(Array.from(p.dataSync())).toEqual(before[i]));
    student.parameters().forEach((p, i) => expect(Array.from(p.dataSync())).not.toEqual(studentBefore[i]));
    teacher.dispose();
    student.dispose();
  });

  it('is deterministic: the same seeds give the same history and weights, bit for bit (js), with dropout, hints and a schedule', () => {
    const teacher = trainedTeacher();
    const run = (): { history: EpochRecord[]; weights: number[][] } => {
      const student = mlp([FEATURES, 16, CLASSES], 9, { dropout: 0.1 });
      const history = distill({
        teacher, student, data: loader(), epochs: 3, temperature: 3, alpha: 0.3, seed: 7,
        optimizer: (params) => new SGD(params, { lr: 0.05, momentum: 0.9 }),
        schedule: (optimizer) => new StepLR(optimizer, { stepSize: 1, gamma: 0.5 }),
        hints: { teacherLayer: '2', studentLayer: '1', weight: 0.1 },
        evaluate: { data: new DataLoader(testSet, { batchSize: 100 }) },
      });
      const weights = student.parameters().map((p) => Array.from(p.dataSync()));
      student.dispose();
      return { history, weights };
    };
    const a = run();
    const b = run();
    expect(replayable(b.history)).toEqual(replayable(a.history));
    expect(b.weights).toEqual(a.weights);
    expect(a.history.map((h) => h.lr)).toEqual([0.05, 0.025, 0.0125]);
    expect(a.history.every((h) => Number.isFinite(h.trainLoss) && h.testErrors !== undefined && h.hintLoss !== undefined)).toBe(true);
    teacher.dispose();
  });

  it('reports progress: train steps every progressEvery and at the end, then the evaluation, matching the history', () => {
    const teacher = trainedTeacher();
    const student = mlp([FEATURES, 8, CLASSES], 4);
    const seen: Progress[] = [];
    const data = loader('js', 50); // 256 samples: 6 batches, the last of 6
    const test = new DataLoader(testSet, { batchSize: 200 }); // 3 batches
    const history = distill({
      teacher, student, data, optimizer: adam(), epochs: 2, progressEvery: 4, evaluate: { data: test },
      onProgress: (p) => seen.push(p),
    });
    const summary = seen.map((p) => `${p.phase}:${p.epoch}:${p.step}/${p.stepsPerEpoch}:${p.samples}`);
    expect(summary).toEqual([
      'train:0:4/6:200', 'train:0:6/6:256', 'evaluate:0:3/3:512',
      'train:1:4/6:200', 'train:1:6/6:256', 'evaluate:1:3/3:512',
    ]);
    for (const p of seen) {
      expect(p.epochs).toBe(2);
      expect(Number.isFinite(p.loss) && p.loss > 0).toBe(true);
      expect(p.accuracy >= 0 && p.accuracy <= 1).toBe(true);
      expect(p.samplesPerSecond).toBeGreaterThan(0);
      expect(p.lr).toBe(1e-2);
      expect(p.hintLoss).toBeUndefined();
    }
    history.forEach((h, e) => {
      const [endOfTrain, evaluation] = seen.filter((p) => p.epoch === e).slice(-2);
      expect(h.trainLoss).toBe(endOfTrain.loss);
      expect(h.trainAccuracy).toBe(endOfTrain.accuracy);
      expect(h.testAccuracy).toBe(evaluation.accuracy);
      expect(h.testLoss).toBe(evaluation.loss);
      expect(h.testErrors).toBe(Math.round(512 * (1 - evaluation.accuracy)));
    });
    const direct = evaluate(student, test);
    expect(direct.accuracy).toBe(history[1].testAccuracy);
    expect(direct.errors).toBe(history[1].testErrors);
    teacher.dispose();
    student.dispose();
  });

  it('leaves no tensor or buffer behind over an epoch (plain, hints, cached teacher), and evaluate neither', () => {
    const teacher = trainedTeacher();
    const student = mlp([FEATURES, 8, CLASSES], 4);
    const tensors = liveTensors();
    const buffers = getBackend('js').memory().buffers;
    distill({ teacher, student, data: loader(), optimizer: adam(), epochs: 1 });
    distill({ teacher, student, data: loader(), optimizer: adam(), epochs: 2, cacheTeacher: true, loss: 'mse', hints: { teacherLayer: '0', studentLayer: '0' } });
    train({ model: student, data: loader(), optimizer: adam(), epochs: 1, evaluate: { data: new DataLoader(testSet, { batchSize: 100 }) } });
    evaluate(teacher, new DataLoader(testSet, { batchSize: 100 }));
    expect(liveTensors()).toBe(tensors);
    expect(getBackend('js').memory().buffers).toBe(buffers);
    teacher.dispose();
    student.dispose();
  });

  it('caching the teacher changes nothing but the time', () => {
    const teacher = trainedTeacher();
    const run = (cacheTeacher: boolean): EpochRecord[] => {
      const student = mlp([FEATURES, 8, CLASSES], 4);
      const history = distill({ teacher, student, data: loader(), optimizer: adam(), epochs: 2, temperature: 6, alpha: 0.1, cacheTeacher });
      student.dispose();
      return history;
    };
    expect(replayable(run(true))).toEqual(replayable(run(false)));
    teacher.dispose();
  });

  it('runs on the wasm backend with results close to js', async () => {
    const history = async (backend: string): Promise<EpochRecord[]> => {
      const teacher = await mlp([FEATURES, 32, 32, CLASSES], 3, { dropout: 0.2 }).to(backend);
      const student = await mlp([FEATURES, 8, CLASSES], 4).to(backend);
      train({ model: teacher, data: loader(backend), optimizer: adam(), epochs: 2 });
      const out = distill({
        teacher, student, data: loader(backend), optimizer: adam(), epochs: 2, temperature: 4, alpha: 0.5,
        hints: { teacherLayer: '3', studentLayer: '1' }, evaluate: { data: new DataLoader(testSet, { batchSize: 128, backend }) },
      });
      teacher.dispose();
      student.dispose();
      return out;
    };
    const tensors = liveTensors();
    const wasmBuffers = getBackend('wasm').memory().buffers;
    const js = await history('js');
    const wasm = await history('wasm');
    expect(liveTensors()).toBe(tensors);
    expect(getBackend('wasm').memory().buffers).toBe(wasmBuffers);
    const near = (a: number, e: number): boolean => Math.abs(a - e) <= 1e-3 * Math.max(1, Math.abs(e));
    expectAll(wasm.map((h) => h.trainLoss), js.map((h) => h.trainLoss), near, 'train loss');
    expectAll(wasm.map((h) => h.hintLoss!), js.map((h) => h.hintLoss!), near, 'hint loss');
    expectAll(wasm.map((h) => h.testLoss!), js.map((h) => h.testLoss!), near, 'test loss');
    // A sample or two may flip where two logits nearly tie.
    expectAll(wasm.map((h) => h.testErrors!), js.map((h) => h.testErrors!), (a, e) => Math.abs(a - e) <= 2, 'test errors');
  });

  it('hint distillation pulls the student feature towards the teacher feature', () => {
    const teacher = trainedTeacher();
    const student = mlp([FEATURES, 16, CLASSES], 4);
    const history = distill({
      teacher, student, data: loader(), optimizer: adam(), epochs: 6, alpha: 1, // hard labels + hints only
      hints: { teacherLayer: '3', studentLayer: '1', weight: 1 },
    });
    const hints = history.map((h) => h.hintLoss!);
    expect(hints[hints.length - 1]).toBeLessThan(0.5 * hints[0]);
    teacher.dispose();
    student.dispose();
  });

  it('refuses what cannot work, by name', () => {
    const teacher = mlp([FEATURES, 8, CLASSES], 1);
    const student = mlp([FEATURES, 4, CLASSES], 2);
    const opt = new Adam(student.parameters());
    const base = { teacher, student, data: loader(), epochs: 1 };
    expectMinnowError(() => distill({ ...base, optimizer: opt, hints: { teacherLayer: '0', studentLayer: '0' } }), 'INVALID_ARGUMENT', 'pass optimizer as a function');
    expectMinnowError(() => distill({ ...base, optimizer: opt, hints: { teacherLayer: '7', studentLayer: '0' } }), 'INVALID_ARGUMENT', 'no layer "7"');
    expectMinnowError(() => distill({ ...base, optimizer: opt, student: teacher }), 'INVALID_ARGUMENT', 'same module');
    expectMinnowError(() => distill({ ...base, optimizer: opt, alpha: -1 }), 'INVALID_ARGUMENT', 'alpha');
    expectMinnowError(() => distill({ ...base, optimizer: opt, epochs: 0 }), 'INVALID_ARGUMENT', 'epochs');
    expectMinnowError(() => distill({ ...base, optimizer: opt, data: loader('wasm') }), 'BACKEND_MISMATCH', 'teacher', 'wasm');
    // A layer that runs twice cannot give one feature.
    const shared = new Linear(4, 4, { seed: 1 });
    const twice = new Sequential(shared, shared);
    expectMinnowError(() => scope(() => forwardCapturing('test', shared, () => twice.forward(tensor([[1, 2, 3, 4]])))), 'INVALID_ARGUMENT', '2 times');
    opt.dispose();
    teacher.dispose();
    student.dispose();
    twice.dispose();
  });
});

describe('end to end on a small synthetic set', () => {
  it('the distilled student beats the same student trained alone on the same 128 labelled samples', () => {
    // A teacher (dropout) trained on all 256 samples; both students see only the first 128, for
    // the same epochs and optimiser. The teacher's soft targets on those 128 carry what it learned
    // from the rest (how similar each sample is to every class), which hard labels do not.
    const teacher = mlp([FEATURES, 128, 128, CLASSES], 3, { dropout: 0.3 });
    train({ model: teacher, data: loader(), optimizer: adam(5e-3), epochs: 30 });
    const test = new DataLoader(testSet, { batchSize: 256 });
    const teacherErrors = evaluate(teacher, test).errors;
    const half = subset(trainSet, Int32Array.from({ length: 128 }, (_, i) => i));
    const halfLoader = (): DataLoader => new DataLoader(half, { batchSize: 16, shuffle: true, seed: 8 });
    const common = { optimizer: adam(5e-3), epochs: 120, evaluate: { data: test, every: 120 } };
    const alone = mlp([FEATURES, 32, CLASSES], 6);
    const aloneErrors = train({ model: alone, data: halfLoader(), ...common }).at(-1)!.testErrors!;
    const student = mlp([FEATURES, 32, CLASSES], 6);
    const distilledErrors = distill({ teacher, student, data: halfLoader(), ...common, temperature: 4, alpha: 0.1, cacheTeacher: true }).at(-1)!.testErrors!;
    expect(teacherErrors).toBeLessThan(aloneErrors);
    expect(distilledErrors).toBeLessThan(aloneErrors);
    for (const m of [teacher, alone, student]) m.dispose();
  });
});
