import { beforeAll, describe, expect, it } from 'vitest';
import { Random, init, liveTensors, type Tensor } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { Adam, DataLoader, Linear, ReLU, Sequential, TensorDataset } from '@minnow/nn';
import { deepCompression, evaluate, train } from '@minnow/compress';
import { decodeCompact } from '@minnow/formats';
import { expectMinnowError } from '../helpers/reference.js';
import { signQuadrants } from '../helpers/synthetic.js';

/**
 * deepCompression end to end on a small synthetic task: each stage is measured, the pruned layers
 * reach the asked sparsity, every pruned layer holds at most 2^bits distinct nonzero values, the
 * container decodes to exactly the weights the model ends with (so the stored accuracy is the
 * accuracy of the file), it is far smaller than float32, accuracy holds, and nothing leaks.
 */

beforeAll(async () => {
  await init(wasmBackend);
});

const FEATURES = 16;
const CLASSES = 4;

const synthetic = (n: number, seed: number): TensorDataset => signQuadrants(n, seed, { features: FEATURES, truthSeed: 99 });

function mlp(seed: number, backend: string): Sequential {
  const r = new Random(seed);
  return new Sequential(new Linear(FEATURES, 128, { seed: r, backend }), new ReLU(), new Linear(128, 64, { seed: r, backend }), new ReLU(), new Linear(64, CLASSES, { seed: r, backend }));
}

describe('deepCompression', () => {
  for (const backend of ['js', 'wasm']) {
    it(`prunes, clusters and stores a trained MLP on ${backend}, and the stored weights are the model's`, () => {
      const before = liveTensors();
      const data = new DataLoader(synthetic(1024, 1), { batchSize: 32, shuffle: true, seed: 3, backend });
      const test = new DataLoader(synthetic(1000, 2), { batchSize: 500, backend });
      const model = mlp(7, backend);
      train({ model, data, epochs: 6, optimizer: (p) => new Adam(p, { lr: 3e-3 }) });
      const accFloat = evaluate(model, test).accuracy;
      expect(accFloat).toBeGreaterThan(0.9);

      // On js the fine-tuning distils from a copy of the unpruned model; on wasm it trains on labels alone.
      const teacher = backend === 'js' ? mlp(7, backend) : undefined;
      teacher?.loadStateDict(model.stateDict());
      const result = deepCompression({
        model, data, evaluate: test, ...(teacher && { teacher: { model: teacher, temperature: 2, alpha: 0.5 } }),
        prune: { sparsity: 0.8, epochs: 4, optimizer: (p) => new Adam(p, { lr: 1e-3 }) },
        cluster: { bits: 4, epochs: 2, optimizer: (p) => new Adam(p, { lr: 3e-4 }) },
      });

      expect(result.stages.map((s) => s.stage)).toEqual(['float', 'pruned', 'clustered', 'stored']);
      expect(result.stages[0].accuracy).toBeCloseTo(accFloat, 10);
      expect(result.sparsity.pruned.sparsity).toBeCloseTo(0.8, 2);
      const weightCount = 16 * 128 + 128 * 64 + 64 * CLASSES;
      expect(result.stages[1].nonzeros).toBe(model.parameterCount() - Math.round(0.8 * weightCount));

      // The file holds exactly what the model now holds, and each pruned layer at most 16 distinct nonzeros.
      const decoded = decodeCompact(result.bytes);
      for (const [name, t] of model.stateDict()) {
        const stored = decoded.get(name)!;
        expect(Array.from(stored.values)).toEqual(Array.from(t.dataSync()));
        if (name.endsWith('weight')) {
          const distinct = new Set(Array.from(stored.values).filter((v) => v !== 0));
          expect(distinct.size).toBeLessThanOrEqual(16);
        }
      }
      const stored = result.stages[3];
      expect(stored.bytes).toBe(result.bytes.length);
      expect(stored.accuracy).toBeCloseTo(evaluate(model, test).accuracy, 10);
      // 20% of ~10k weights at 4-bit indices plus gaps, and the biases raw: far under float32.
      expect(result.bytes.length * 8).toBeLessThan(4 * model.parameterCount());
      expect(accFloat - stored.accuracy!).toBeLessThan(0.03);
      expect(result.clusters.every((c) => c.distinct <= 16)).toBe(true);
      model.dispose();
      teacher?.dispose();
      expect(liveTensors()).toBe(before);
    });
  }

  it('refuses options it cannot run, before training', () => {
    const model = mlp(1, 'js');
    const data = new DataLoader(synthetic(64, 1), { batchSize: 32, backend: 'js' });
    const optimizer = (p: Tensor[]) => new Adam(p, { lr: 1e-3 });
    expectMinnowError(() => deepCompression({ model, data, prune: { sparsity: 0.5, epochs: 0, optimizer }, cluster: { bits: 4, epochs: 0, optimizer } }), 'INVALID_ARGUMENT', 'prune.epochs');
    expectMinnowError(() => deepCompression({ model, data, prune: { sparsity: 0.5, epochs: 2, rampEpochs: 3, optimizer }, cluster: { bits: 4, epochs: 0, optimizer } }), 'INVALID_ARGUMENT', 'rampEpochs');
    expectMinnowError(() => deepCompression({ model, data, teacher: { model }, prune: { sparsity: 0.5, epochs: 1, optimizer }, cluster: { bits: 4, epochs: 0, optimizer } }), 'INVALID_ARGUMENT', 'separate copy');
    expectMinnowError(() => deepCompression({ model, data, prune: { sparsity: 1.5, epochs: 1, optimizer }, cluster: { bits: 4, epochs: 0, optimizer } }), 'INVALID_ARGUMENT', 'deepCompression: prune.sparsity');
    model.dispose();
  });
});
