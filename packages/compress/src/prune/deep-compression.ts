import { MinnowError } from '@minnow/core';
import { decodeCompact, encodeCompact } from '@minnow/formats';
import type { DataLoader } from '@minnow/nn';
import { clusterWeights, type ClusteredTensorReport, type LayerClusters } from '../cluster/clustering.js';
import { compactTensorsOf, loadCompact } from '../cluster/compact.js';
import { evaluate, type Classifier, type EpochRecord, type OptimizerInput, type Progress, type ScheduleInput } from '../distill/loop.js';
import { distill } from '../distill/distill.js';
import { train } from '../distill/train.js';
import type { LayerSelection, PruningMasks, SparsityReport } from './masks.js';
import { checkSparsity } from './criteria.js';
import { pruneGradually } from './masked-training.js';
import { polynomialDecay } from './schedule.js';

/**
 * Deep Compression (Han, Mao and Dally, ICLR 2016) on an nn classifier: three stages, each
 * measured.
 *
 * 1. Prune: gradual magnitude pruning (Zhu and Gupta's cubic schedule) to `prune.sparsity`,
 *    one threshold across the layers (global) unless told otherwise, fine-tuned with the masks
 *    held (pruned weights, their gradients and their optimiser state stay zero).
 * 2. Quantize by weight sharing: k-means over each pruned layer's remaining weights (linear
 *    initialisation, 2^bits clusters), then fine-tuning of the shared centroids (each centroid
 *    moves by the sum of its members' gradients); zeros stay zero.
 * 3. Store: @minnow/formats' compact container (relative-index sparse storage with codebook
 *    indices, both Huffman coded; biases raw float32).
 *
 * Both fine-tuning stages can distil from the unpruned model (`teacher`), which recovers much of
 * what pruning costs a model that is small for its task.
 *
 * The accuracy reported for the last stage is measured on the weights decoded from the container
 * bytes (loaded back into the model), so it is the accuracy of what is stored, not of the
 * in-memory model before encoding. The model is modified in place: at the end it holds the
 * decoded weights.
 */

export interface DeepCompressionOptions {
  /** A trained float classifier (inputs [N, ...] -> logits [N, C]); modified in place. */
  readonly model: Classifier;
  /** Fine-tuning data for both stages. */
  readonly data: DataLoader;
  /** Held-out data: accuracy after every stage (and of the model as given). */
  readonly evaluate?: DataLoader;
  /** `include`/`exclude`/`types` choose the pruned weights (default: every Linear and Conv2d weight). */
  readonly prune: LayerSelection & {
    /** Final fraction of the pruned weights removed, in [0, 1). */
    readonly sparsity: number;
    /** Fine-tuning epochs; the schedule reaches `sparsity` after `rampEpochs` (default 2/3 of them). */
    readonly epochs: number;
    readonly rampEpochs?: number;
    /** Mask updates per epoch while the schedule ramps (default 4). */
    readonly updatesPerEpoch?: number;
    /** One threshold across layers (default true, which prunes the big first layer hardest, as Han's per-layer rates do). */
    readonly global?: boolean;
    readonly optimizer: OptimizerInput;
    readonly schedule?: ScheduleInput;
  };
  /** `include`/`exclude`/`types` choose the clustered weights (default: every Linear and Conv2d weight, pruned or not). */
  readonly cluster: LayerClusters & LayerSelection & {
    /** Per-weight overrides ('1.weight': { bits: 6 }). */
    readonly layers?: Readonly<Record<string, LayerClusters>>;
    /** Centroid fine-tuning epochs (0: cluster only). */
    readonly epochs: number;
    readonly optimizer: OptimizerInput;
    readonly schedule?: ScheduleInput;
  };
  /**
   * Distil from this model during both fine-tuning stages (a separate copy of the unpruned model:
   * the model being compressed cannot teach itself), with distill()'s loss
   * alpha * CE + (1 - alpha) * T^2 * KL. The teacher's logits are computed once and reused.
   */
  readonly teacher?: { readonly model: Classifier; readonly temperature?: number; readonly alpha?: number };
  readonly onProgress?: (stage: 'prune' | 'cluster', progress: Progress) => void;
}

/** One stage's figures. */
export interface DeepCompressionStage {
  readonly stage: 'float' | 'pruned' | 'clustered' | 'stored';
  /** Weights of the pruned layers that are not zero, and all parameters. */
  readonly nonzeros: number;
  readonly params: number;
  /** Test accuracy on `evaluate`, when given. */
  readonly accuracy?: number;
  /** Bytes: float32 parameters for 'float', the container for 'stored'. */
  readonly bytes?: number;
}

export interface DeepCompressionResult {
  /** The compact container: every parameter and buffer of the model, by state-dict name. */
  readonly bytes: Uint8Array;
  readonly stages: readonly DeepCompressionStage[];
  readonly sparsity: SparsityReport;
  readonly clusters: readonly ClusteredTensorReport[];
  readonly history: { readonly prune: readonly EpochRecord[]; readonly cluster: readonly EpochRecord[] };
}

export function deepCompression(options: DeepCompressionOptions): DeepCompressionResult {
  const op = 'deepCompression';
  if (options === null || typeof options !== 'object' || !options.prune || !options.cluster) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: options need model, data, prune { sparsity, epochs, optimizer } and cluster { bits | clusters, epochs, optimizer }`);
  }
  const { model, data, prune, cluster, teacher } = options;
  if (teacher && teacher.model === model) throw new MinnowError('INVALID_ARGUMENT', `${op}: teacher.model is the model being compressed; pass a separate copy of the unpruned model`);
  checkSparsity(op, prune.sparsity, 'prune.sparsity');
  if (!Number.isInteger(prune.epochs) || prune.epochs < 1) throw new MinnowError('INVALID_ARGUMENT', `${op}: prune.epochs must be a positive integer, got ${prune.epochs}`);
  if (!Number.isInteger(cluster.epochs) || cluster.epochs < 0) throw new MinnowError('INVALID_ARGUMENT', `${op}: cluster.epochs must be an integer >= 0, got ${cluster.epochs}`);
  const rampEpochs = prune.rampEpochs ?? Math.max(1, Math.round((2 * prune.epochs) / 3));
  if (!Number.isInteger(rampEpochs) || rampEpochs < 1 || rampEpochs > prune.epochs) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: prune.rampEpochs must be an integer in [1, ${prune.epochs}], got ${rampEpochs}`);
  }
  const accuracy = (): number | undefined => (options.evaluate ? evaluate(model, options.evaluate).accuracy : undefined);
  const params = model.parameterCount();
  const stages: DeepCompressionStage[] = [{ stage: 'float', nonzeros: params, params, accuracy: accuracy(), bytes: 4 * params }];

  const stepsPerEpoch = data.length;
  const updates = prune.updatesPerEpoch ?? 4;
  const pruned = pruneGradually({
    model, data, epochs: prune.epochs, optimizer: prune.optimizer, schedule: prune.schedule, global: prune.global ?? true,
    types: prune.types, include: prune.include, exclude: prune.exclude,
    ...(teacher && { teacher: teacher.model, temperature: teacher.temperature, alpha: teacher.alpha, cacheTeacher: true }),
    pruningSchedule: polynomialDecay({
      finalSparsity: prune.sparsity, endStep: rampEpochs * stepsPerEpoch, frequency: Math.max(1, Math.floor(stepsPerEpoch / updates)),
    }),
    onProgress: options.onProgress && ((p) => options.onProgress!('prune', p)),
  });
  const masks: PruningMasks = pruned.masks;
  try {
    const sparsity = masks.report();
    stages.push({ stage: 'pruned', nonzeros: nonzerosOf(sparsity, params), params, accuracy: accuracy() });

    const clustering = clusterWeights(model, {
      bits: cluster.bits, clusters: cluster.clusters, layers: cluster.layers, types: cluster.types, include: cluster.include, exclude: cluster.exclude,
    });
    let clusterHistory: EpochRecord[] = [];
    if (cluster.epochs > 0) {
      const common = {
        data, epochs: cluster.epochs, optimizer: cluster.optimizer, schedule: cluster.schedule, stepHooks: clustering.stepHooks(),
        onProgress: options.onProgress && ((p: Progress) => options.onProgress!('cluster', p)),
      };
      clusterHistory = teacher
        ? distill({ ...common, teacher: teacher.model, student: model, temperature: teacher.temperature, alpha: teacher.alpha, cacheTeacher: true })
        : train({ ...common, model });
    }
    stages.push({ stage: 'clustered', nonzeros: nonzerosOf(masks.report(), params), params, accuracy: accuracy() });

    const bytes = encodeCompact(compactTensorsOf(model));
    // What is stored is what is measured: the model takes the decoded weights back.
    loadCompact(model, decodeCompact(bytes));
    stages.push({ stage: 'stored', nonzeros: nonzerosOf(masks.report(), params), params, accuracy: accuracy(), bytes: bytes.length });
    return { bytes, stages, sparsity, clusters: clustering.report(), history: { prune: pruned.history, cluster: clusterHistory } };
  } finally {
    masks.dispose();
  }
}

/** All parameters minus the pruned layers' zeros. */
function nonzerosOf(report: SparsityReport, params: number): number {
  return params - report.pruned.zeros;
}
