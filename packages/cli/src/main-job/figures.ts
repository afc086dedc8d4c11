import type { EpochRecord, LayerReport, LayerSparsity, PruningEvent } from '@minnow/compress';
import type { MainJobConfig } from './config.js';
import type { AgreementCheck } from './measure.js';

/**
 * Everything the main job measured, as plain data: the table, `--json`'s document and the report
 * are all made from it, so they cannot disagree.
 */

/** The four models of the job, in the order they are made. */
export type ModelName = 'teacher' | 'student' | 'pruned' | 'int8';

export const MODEL_NAMES: readonly ModelName[] = ['teacher', 'student', 'pruned', 'int8'];

export interface ModelFigures {
  readonly name: ModelName;
  /** Layer widths, '784-128-10'. */
  readonly architecture: string;
  /** The ONNX file written. */
  readonly path: string;
  /** Weights and biases the file stores (sparse ones at their dense size). */
  readonly params: number;
  readonly nonzero: number;
  /** Size of the file on disk. */
  readonly bytes: number;
  /** Test accuracy of the file as OnnxSession runs it (backend-wasm). */
  readonly accuracy: number;
  /** Median batch-1 latency per timed backend, in milliseconds, output read back included. */
  readonly latencyMs: Readonly<Record<string, number>>;
  /** Timed backends that refused to run this model, and why (gpu: int8 sums past what float32 textures hold exactly). */
  readonly latencyRefused: Readonly<Record<string, string>>;
  /** Wall-clock seconds of the step that made the model (training, distillation, pruning, quantization), export included. */
  readonly seconds: number;
  /** What the step did, in one line. */
  readonly note: string;
  /** The file's outputs against minnow's own execution of what it was made from. */
  readonly checks: readonly AgreementCheck[];
}

export interface BackendUse {
  readonly name: string;
  readonly available: boolean;
  /** What it really runs as (wasm: simd128 or relaxed-simd; gpu: gpu.js's mode). */
  readonly mode: string | null;
  /** Whether latency was measured on it. */
  readonly timed: boolean;
  /** Why not, when it was not. */
  readonly why?: string;
  /** What the backend says about itself that a reader of its timings should know (gpu: the GL renderer). */
  readonly detail?: string;
}

export interface MainJobFigures {
  readonly config: MainJobConfig;
  readonly data: { readonly source: string; readonly train: number; readonly test: number };
  readonly backends: readonly BackendUse[];
  readonly models: readonly ModelFigures[];
  /** Per-epoch history of each training run. */
  readonly histories: { readonly teacher: EpochRecord[]; readonly student: EpochRecord[]; readonly pruned: EpochRecord[] };
  readonly pruning: { readonly events: readonly PruningEvent[]; readonly layers: readonly LayerSparsity[] };
  /** quantizeOnnx's per-layer report. */
  readonly quantization: readonly LayerReport[];
  /** Where the HTML report was written (null when it was not). */
  readonly reportPath: string | null;
  /** Wall-clock seconds of the whole job. */
  readonly seconds: number;
}
