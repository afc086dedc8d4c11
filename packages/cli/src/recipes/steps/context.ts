import type { ModelProto } from '@minnow/onnx';
import type { ProgressSink } from '../../progress.js';
import type { ReportCurve, ReportLayer } from '../../report/types.js';
import type { EvaluationData } from '../data.js';

/** What every step of a recipe gets. */
export interface StepContext {
  /** The model as the step receives it (the previous step's output). */
  readonly model: ModelProto;
  /** The evaluation data, or null when there is none (no --data, and inputs cannot be made up). */
  readonly data: EvaluationData | null;
  /** The backend models run and train on (initialised). */
  readonly backend: string;
  readonly progress: ProgressSink;
  /** Relative paths in the recipe (an .onnx student) are resolved from here. */
  readonly baseDir: string;
  /** `steps[i].kind`, for messages. */
  readonly where: string;
}

/** What a step made, and the material the report and --json show about it. */
export interface StepOutcome {
  readonly model: ModelProto;
  /** One line on what the step did, as it really ran ('one-shot: no labels to fine-tune on'). */
  readonly note: string;
  /** Things people should know (a fallback taken, a budget missed). */
  readonly warnings?: readonly string[];
  readonly curves?: readonly ReportCurve[];
  readonly layers?: readonly ReportLayer[];
  /** Step-specific figures for --json (the per-layer quantization report, the pruning report ...). */
  readonly details?: Readonly<Record<string, unknown>>;
}
