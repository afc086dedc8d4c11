import { beforeAll, describe, expect, it } from 'vitest';
import { Random, getBackend, init, liveTensors, type Tensor } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { Adam, DataLoader, Linear, ReLU, SGD, Sequential, TensorDataset, type Module } from '@minnow/nn';
import {
  type AnyOptimizer, evaluate, maskedTraining, oneShot, polynomialDecay, pruneGradually, pruneModule, type PruningMasks, type StepHooks,
  train,
} from '@minnow/compress';
import { expectMinnowError } from '../helpers/reference.js';
import { signQuadrants } from '../helpers/synthetic.js';

/**
 * Masked training on the shared loop: the step hooks run where they say; pruned weights stay
 * exactly zero through fine-tuning on js and wasm with SGD momentum and Adam (while without the
 * optimiser-state masking momentum revives them); gradual pruning reaches its final sparsity
 * and keeps accuracy on a small synthetic task, with or without distillation from the dense model.
 */

beforeAll(async () => {
  await init(wasmBackend);
});

const FEATURES = 8;
const CLASSES = 4;

const synthetic = (n: number, seed: number): TensorDataset => signQuadrants(n, seed, { features: FEATURES, truthSeed: 99 });

function mlp(seed: number, hidden = 64): Sequential {
  const r = new Random(seed);
  return new Sequential(new Linear(FEATURES, hidden, { seed: r }), new ReLU(), new Linear(hidden, hidden, { seed: r }), new ReLU(), new Linear(hidden, CLASSES, { seed: r }));
}

const trainSet = synthetic(512, 1);
const testSet = synthetic(1000, 2);
const loader = (backend = 'js', seed = 3): DataLoader => new DataLoader(trainSet, { batchSize: 32, shuffle: true, seed, backend });
const testLoader = (backend = 'js'): DataLoader => new DataLoader(testSet, { batchSize: 500, backend });

/** Positions each mask prunes whose weight, or any same-shaped optimiser buffer, is not exactly zero. */
function nonZeroAtPruned(model: Module<[Tensor], Tensor>, masks: PruningMasks, optimizer?: AnyOptimizer): { weights: number; state: number } {
  const params = new Map(model.namedParameters());
  let weights = 0;
  let state = 0;
  for (const name of masks.names) {
    const p = params.get(name)!;
    const mask = masks.mask(name)!;
    const w = p.dataSync();
    const buffers = Object.values(optimizer?.state.get(p)?.buffers ?? {}).map((b) => b.dataSync());
    mask.forEach((k, i) => {
      if (k) return;
      if (!Object.is(w[i], 0)) weights++;
      for (const b of buffers) if (b[i] !== 0) state++;
    });
  }
  return { weights, state };
}

describe('step hooks', () => {
  it('afterBackward sees the gradients before the step; afterStep counts steps from 1 across epochs, after the gradients are cleared', () => {
    const model = mlp(1, 8);
    const seen: string[] = [];
    const hooks: StepHooks = {
      afterBackward: (step, optimizer) => {
        expect(optimizer).toBeInstanceOf(SGD);
        seen.push(`b${step}:${model.parameters().every((p) => p.grad !== null)}`);
      },
      afterStep: (step) => seen.push(`s${step}:${model.parameters().every((p) => p.grad === null)}`),
    };
    train({ model, data: new DataLoader(trainSet, { batchSize: 256 }), optimizer: (p) => new SGD(p, { lr: 0.1 }), epochs: 2, stepHooks: hooks });
    expect(seen).toEqual(['b1:true', 's1:true', 'b2:true', 's2:true', 'b3:true', 's3:true', 'b4:true', 's4:true']);
    model.dispose();
  });
});

describe('masked fine-tuning', () => {
  for (const backend of ['js', 'wasm']) {
    for (const kind of ['sgd-momentum', 'adam'] as const) {
      it(`pruned weights and their optimiser state stay exactly zero (${backend}, ${kind}); without state masking momentum revives them`, async () => {
        const tensors = liveTensors();
        const run = async (hooks: (masks: PruningMasks) => StepHooks, holds: boolean): Promise<{ counts: { weights: number; state: number }; moved: number }> => {
          const model = await mlp(4).to(backend);
          const optimizer = kind === 'adam' ? new Adam(model.parameters(), { lr: 1e-2 }) : new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
          // Dense training first, so the optimiser holds history at positions about to be pruned.
          train({ model, data: loader(backend), optimizer, epochs: 1 });
          const masks = pruneModule(model, { sparsity: 0.7 });
          const before = model.parameters().map((p) => Float32Array.from(p.dataSync() as Float32Array));
          let checks = 0;
          const given = hooks(masks);
          train({
            model, data: loader(backend, 7), optimizer, epochs: 2,
            stepHooks: {
              afterBackward: given.afterBackward,
              afterStep: (step, o) => {
                given.afterStep?.(step, o);
                checks++;
                // Checked after every step, not only at the end.
                if (holds) expect(nonZeroAtPruned(model, masks).weights).toBe(0);
              },
            },
          });
          expect(checks).toBe(2 * loader().length);
          const counts = nonZeroAtPruned(model, masks, optimizer);
          // Live weights did train.
          const moved = model.parameters().reduce((n, p, i) => n + Array.from(p.dataSync()).filter((v, k) => v !== before[i][k]).length, 0);
          optimizer.dispose();
          masks.dispose();
          model.dispose();
          return { counts, moved };
        };
        const held = await run((masks) => maskedTraining(masks), true);
        expect(held.counts).toEqual({ weights: 0, state: 0 });
        expect(held.moved).toBeGreaterThan(1000);
        // Gradients masked but the optimiser state left alone: its history moves pruned weights again.
        const gradientsOnly = await run((masks) => ({ afterBackward: () => masks.maskGradients() }), false);
        expect(gradientsOnly.counts.weights).toBeGreaterThan(100);
        expect(liveTensors()).toBe(tensors);
      });
    }
  }
});

describe('pruneGradually', () => {
  it('prunes on the cubic schedule to exactly 90% (global) and keeps accuracy; one-shot 90% without fine-tuning loses more', () => {
    const stepsPerEpoch = loader().length; // 16
    const dense = mlp(5);
    train({ model: dense, data: loader(), optimizer: (p) => new Adam(p, { lr: 5e-3 }), epochs: 20 });
    const denseAccuracy = evaluate(dense, testLoader()).accuracy;
    const snapshot = dense.stateDict({ clone: true });
    const copy = (): Sequential => {
      const m = mlp(5);
      m.loadStateDict(snapshot);
      return m;
    };

    const tensors = liveTensors();
    const model = copy();
    const schedule = polynomialDecay({ finalSparsity: 0.9, beginStep: 0, endStep: 6 * stepsPerEpoch, frequency: stepsPerEpoch / 2 });
    const { masks, events, history } = pruneGradually({
      model, data: loader('js', 11), epochs: 12, pruningSchedule: schedule, global: true, optimizer: (p) => new Adam(p, { lr: 5e-3 }),
      evaluate: { data: testLoader(), every: 12 },
    });
    expect(events.map((e) => e.step)).toEqual(schedule.pruningSteps());
    expect(events.at(-1)!.target).toBe(0.9);
    const report = masks.report();
    expect(report.pruned.params).toBe(FEATURES * 64 + 64 * 64 + 64 * CLASSES);
    expect(report.pruned.zeros).toBe(Math.round(0.9 * report.pruned.params));
    expect(events.at(-1)!.sparsity).toBe(report.pruned.zeros / report.pruned.params);
    expect(report.layers.map((r) => r.zeros)).toEqual(report.layers.map((r) => r.pruned));
    for (let i = 1; i < events.length; i++) expect(events[i].sparsity).toBeGreaterThanOrEqual(events[i - 1].sparsity);
    const gradualAccuracy = history.at(-1)!.testAccuracy!;
    expect(gradualAccuracy).toBe(evaluate(model, testLoader()).accuracy);

    const oneShotModel = copy();
    const oneShotMasks = pruneModule(oneShotModel, { sparsity: 0.9, global: true });
    const oneShotAccuracy = evaluate(oneShotModel, testLoader()).accuracy;
    console.info(`synthetic 4-class MLP: dense ${denseAccuracy}, gradual 90% ${gradualAccuracy}, one-shot 90% without fine-tuning ${oneShotAccuracy}`);
    expect(gradualAccuracy).toBeGreaterThanOrEqual(denseAccuracy - 0.02);
    expect(oneShotAccuracy).toBeLessThan(gradualAccuracy);
    for (const m of [masks, oneShotMasks]) m.dispose();
    for (const m of [model, oneShotModel]) m.dispose();
    expect(liveTensors()).toBe(tensors);

    // With distillation from the dense model (the same loop, distill's loss).
    const student = copy();
    const distilled = pruneGradually({
      model: student, teacher: dense, temperature: 4, alpha: 0.5, cacheTeacher: true,
      data: loader('js', 11), epochs: 12, pruningSchedule: schedule, global: true, optimizer: (p) => new Adam(p, { lr: 5e-3 }),
      evaluate: { data: testLoader(), every: 12 },
    });
    const distilledAccuracy = distilled.history.at(-1)!.testAccuracy!;
    console.info(`gradual 90% distilled from the dense model: ${distilledAccuracy}`);
    expect(distilledAccuracy).toBeGreaterThanOrEqual(denseAccuracy - 0.02);
    expect(distilled.masks.report().pruned.zeros).toBe(report.pruned.zeros);
    distilled.masks.dispose();
    student.dispose();
    for (const t of snapshot.values()) t.dispose();
    dense.dispose();
  });

  it('runs on wasm: the same masks and events as js (magnitude ties aside), nothing leaked', async () => {
    const run = async (backend: string): Promise<{ events: number[]; zeros: number; accuracy: number }> => {
      const model = await mlp(6, 16).to(backend);
      const result = pruneGradually({
        model, data: loader(backend), epochs: 2, optimizer: (p) => new SGD(p, { lr: 0.05, momentum: 0.9 }),
        pruningSchedule: polynomialDecay({ finalSparsity: 0.75, endStep: 24, frequency: 8 }), global: true,
      });
      const out = { events: result.events.map((e) => e.sparsity), zeros: result.masks.report().pruned.zeros, accuracy: evaluate(model, testLoader(backend)).accuracy };
      result.masks.dispose();
      model.dispose();
      return out;
    };
    const tensors = liveTensors();
    const buffers = getBackend('wasm').memory().buffers;
    const js = await run('js');
    const wasm = await run('wasm');
    expect(wasm.events).toEqual(js.events);
    expect(wasm.zeros).toBe(js.zeros);
    expect(Math.abs(wasm.accuracy - js.accuracy)).toBeLessThanOrEqual(0.01);
    expect(liveTensors()).toBe(tensors);
    expect(getBackend('wasm').memory().buffers).toBe(buffers);
  });

  it('refuses a schedule that cannot finish, masks of another model, and a model that teaches itself', () => {
    const model = mlp(7, 8);
    const other = mlp(8, 8);
    const base = { model, data: loader(), epochs: 1, optimizer: (p: Tensor[]) => new SGD(p, { lr: 0.1 }) };
    expectMinnowError(() => pruneGradually({ ...base, pruningSchedule: polynomialDecay({ finalSparsity: 0.5, endStep: 17, frequency: 4 }) }), 'INVALID_ARGUMENT', 'step 17', 'only 16 steps');
    const foreign = pruneModule(other, { sparsity: 0.5 });
    expectMinnowError(() => pruneGradually({ ...base, pruningSchedule: oneShot({ sparsity: 0.5 }), masks: foreign }), 'INVALID_ARGUMENT', 'masks');
    expectMinnowError(() => pruneGradually({ ...base, pruningSchedule: oneShot({ sparsity: 0.5 }), teacher: model }), 'INVALID_ARGUMENT', 'same module');
    expectMinnowError(() => pruneGradually({ ...base, pruningSchedule: {} as never }), 'INVALID_ARGUMENT', 'pruningSchedule');
    foreign.dispose();
    model.dispose();
    other.dispose();
  });
});
