import { Random } from '@minnow/core';
import { TensorDataset } from '@minnow/nn';

/**
 * A small seeded classification task: `features`-D standard Gaussian inputs and 4 classes from
 * the signs of two fixed random projections (drawn from `truthSeed`), so a small MLP learns it well.
 */
export function signQuadrants(n: number, seed: number, options: { features: number; truthSeed: number }): TensorDataset {
  const { features, truthSeed } = options;
  const r = new Random(seed);
  const x = Float32Array.from({ length: n * features }, () => r.normal());
  const truth = new Random(truthSeed);
  const w = Array.from({ length: 2 * features }, () => truth.normal());
  const labels = Int32Array.from({ length: n }, (_, i) => {
    const z = [0, 1].map((k) => w.slice(k * features, (k + 1) * features).reduce((a, v, j) => a + v * x[i * features + j], 0));
    return 2 * (z[0] > 0 ? 1 : 0) + (z[1] > 0 ? 1 : 0);
  });
  return new TensorDataset(x, [n, features], labels);
}
