import { MinnowError } from '@minnow/core';
import { OnnxSession, type ModelProto } from '@minnow/onnx';
import { feedBatches, type EvaluationData } from './data.js';

/**
 * What a compressed model kept, measured on the held-out examples against the original model's
 * outputs (computed once): accuracy when there are labels, and always top-1 agreement (the
 * fraction of rows whose predicted class is the original's) and the relative error of the first
 * output. A last axis of size 1 is read as the probability of class 1 (threshold 0.5), as
 * @minnow/compress's sensitivity analysis reads it.
 */

export interface Figures {
  /** Fraction of examples classified correctly (with labels). */
  readonly accuracy?: number;
  /** Fraction of rows whose class is the original model's. */
  readonly agreement: number;
  /** sum |y - y0| / sum |y0| over the first output. */
  readonly relativeError: number;
  /** Examples measured. */
  readonly samples: number;
}

interface RunOutput {
  readonly values: Float32Array;
  readonly classes: Int32Array;
}

export class Evaluator {
  private constructor(
    private readonly data: EvaluationData,
    private readonly backend: string,
    private readonly reference: readonly RunOutput[],
    /** The original model's figures. */
    readonly original: Figures,
  ) {}

  /** Runs the original model on the held-out examples and keeps its outputs. */
  static create(model: ModelProto, data: EvaluationData, backend: string, onBatch?: (done: number, total: number) => void): Evaluator {
    const reference = runAll(model, data, backend, onBatch);
    const samples = reference.reduce((n, r) => n + r.classes.length, 0);
    if (samples === 0) throw new MinnowError('INVALID_ARGUMENT', `no held-out example fits the model's batch size ${data.batchSize} (${data.test.count} examples)`);
    const correct = data.labelled ? countCorrect(reference, data) : 0;
    return new Evaluator(data, backend, reference, {
      ...(data.labelled ? { accuracy: correct / samples } : {}), agreement: 1, relativeError: 0, samples,
    });
  }

  measure(model: ModelProto, onBatch?: (done: number, total: number) => void): Figures {
    const runs = runAll(model, this.data, this.backend, onBatch);
    let agree = 0;
    let absError = 0;
    let absReference = 0;
    let samples = 0;
    runs.forEach((run, i) => {
      const ref = this.reference[i];
      if (run.values.length !== ref.values.length) {
        throw new MinnowError('SHAPE_MISMATCH', `the compressed model's first output has ${run.values.length} values for batch ${i}, the original's ${ref.values.length}`);
      }
      for (let k = 0; k < run.values.length; k++) {
        absError += Number.isFinite(run.values[k]) ? Math.abs(run.values[k] - ref.values[k]) : Infinity;
        absReference += Math.abs(ref.values[k]);
      }
      for (let r = 0; r < run.classes.length; r++) if (run.classes[r] === ref.classes[r]) agree++;
      samples += run.classes.length;
    });
    const correct = this.data.labelled ? countCorrect(runs, this.data) : 0;
    return {
      ...(this.data.labelled ? { accuracy: correct / samples } : {}),
      agreement: agree / samples,
      relativeError: absError === 0 ? 0 : absReference === 0 ? Infinity : absError / absReference,
      samples,
    };
  }
}

function runAll(model: ModelProto, data: EvaluationData, backend: string, onBatch?: (done: number, total: number) => void): RunOutput[] {
  const session = OnnxSession.create(model, { backend });
  const total = Math.floor(data.test.count / data.batchSize) + (data.input.fixedBatch === null && data.test.count % data.batchSize ? 1 : 0);
  const out: RunOutput[] = [];
  try {
    const first = session.outputs[0]?.name;
    if (first === undefined) throw new MinnowError('INVALID_MODEL', 'the model has no output');
    for (const batch of feedBatches(data, data.test)) {
      const outputs = session.run(batch.feed);
      try {
        const y = outputs[first];
        const values = Float32Array.from(y.dataSync() as ArrayLike<number>, Number);
        out.push({ values, classes: classesOf(values, y.shape, batch.rows) });
      } finally {
        for (const t of Object.values(outputs)) t.dispose();
      }
      onBatch?.(out.length, total);
    }
  } finally {
    session.dispose();
  }
  return out;
}

/** The predicted class of each of `rows` rows: arg-max over the last axis, or p >= 0.5 with one column. */
function classesOf(values: Float32Array, shape: readonly number[], rows: number): Int32Array {
  const width = shape.length === 0 ? 1 : shape[shape.length - 1];
  if (width === 0 || values.length !== rows * width) {
    throw new MinnowError('SHAPE_MISMATCH', `the model's first output is [${shape.join(',')}] for ${rows} examples; minnow reads classes from an output [examples, classes]`);
  }
  const classes = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    if (width === 1) {
      classes[r] = values[r] >= 0.5 ? 1 : 0;
      continue;
    }
    let best = 0;
    for (let c = 1; c < width; c++) if (values[r * width + c] > values[r * width + best]) best = c;
    classes[r] = best;
  }
  return classes;
}

function countCorrect(runs: readonly RunOutput[], data: EvaluationData): number {
  const labels = data.test.labels!;
  let row = 0;
  let correct = 0;
  for (const run of runs) for (const c of run.classes) if (c === labels[row++]) correct++;
  return correct;
}
