import { fromArray, noGrad, scope, type Tensor } from '@minnow/core';
import type { DataLoader } from '@minnow/nn';
import { OnnxSession, tensorElementCount, tensorValues, type ModelProto, type TensorProto } from '@minnow/onnx';

/**
 * What the main job measures on a model file: accuracy on the test digits as minnow's executor
 * runs the file, agreement with a reference execution (the nn module the file was exported from,
 * or the integer model's float QDQ reading), the weights it stores, and batch-1 latency per backend.
 */

/** Logits [N, classes] for a batch of inputs [N, 784]. */
export type Forward = (x: Tensor) => Tensor;

/** How a model's outputs compare with a reference run on the same inputs. */
export interface AgreementCheck {
  /** What the model was compared with. */
  readonly reference: string;
  /** Largest |model - reference| over every logit. */
  readonly maxAbsDiff: number;
  /** Largest |reference| logit, to read maxAbsDiff against. */
  readonly maxAbsReference: number;
  /** Samples whose top class is the same in both. */
  readonly sameTopClass: number;
  readonly samples: number;
}

export interface FileEvaluation {
  /** Fraction of test samples the file, run by OnnxSession, classifies correctly. */
  readonly accuracy: number;
  readonly samples: number;
  readonly checks: AgreementCheck[];
}

/**
 * Runs `model` with OnnxSession on `backend` over every batch of `data` (one pass of the loader),
 * counting correct top classes, and compares its logits with each reference's on the same batch.
 */
export function evaluateFile(model: ModelProto, data: DataLoader, backend: string, references: Readonly<Record<string, Forward>> = {}): FileEvaluation {
  const session = OnnxSession.create(model, { backend });
  const input = session.inputs[0].name;
  const names = Object.keys(references);
  const tallies = names.map((reference) => ({ reference, maxAbsDiff: 0, maxAbsReference: 0, sameTopClass: 0, samples: 0 }));
  let correct = 0;
  let samples = 0;
  try {
    for (const batch of data) {
      try {
        scope(() => {
          const outputs = session.run({ [input]: batch.x });
          const logits = Object.values(outputs)[0].dataSync() as Float32Array;
          const labels = batch.y.dataSync() as Int32Array;
          const classes = logits.length / labels.length;
          for (let i = 0; i < labels.length; i++) if (argmaxRow(logits, i, classes) === labels[i]) correct++;
          samples += labels.length;
          names.forEach((name, r) => {
            const expected = noGrad(() => references[name](batch.x)).dataSync() as Float32Array;
            const t = tallies[r];
            for (let k = 0; k < expected.length; k++) {
              t.maxAbsDiff = Math.max(t.maxAbsDiff, Math.abs(logits[k] - expected[k]));
              t.maxAbsReference = Math.max(t.maxAbsReference, Math.abs(expected[k]));
            }
            for (let i = 0; i < labels.length; i++) if (argmaxRow(logits, i, classes) === argmaxRow(expected, i, classes)) t.sameTopClass++;
            t.samples += labels.length;
          });
        });
      } finally {
        batch.dispose();
      }
    }
  } finally {
    session.dispose();
  }
  return { accuracy: correct / samples, samples, checks: tallies };
}

/** 'max |logit difference| 3.1e-6 (logits up to 12.0), same top class on 2000/2000'; 'identical' when nothing differs. */
export function describeCheck(c: AgreementCheck): string {
  const diff = c.maxAbsDiff === 0 ? 'identical logits' : `max |logit difference| ${c.maxAbsDiff.toExponential(2)} (logits up to ${c.maxAbsReference.toFixed(1)})`;
  return `${diff}, same top class on ${c.sameTopClass}/${c.samples}`;
}

/** A Forward that runs an ONNX model in its own session (dispose the session when done). */
export function sessionForward(model: ModelProto, backend: string, options: { fuseQuantized?: boolean } = {}): { forward: Forward; dispose: () => void } {
  const session = OnnxSession.create(model, { backend, ...options });
  const input = session.inputs[0].name;
  return { forward: (x) => Object.values(session.run({ [input]: x }))[0], dispose: () => session.dispose() };
}

function argmaxRow(values: ArrayLike<number>, row: number, classes: number): number {
  let best = 0;
  for (let c = 1; c < classes; c++) if (values[row * classes + c] > values[row * classes + best]) best = c;
  return best;
}

export interface WeightCount {
  /** Stored weights and biases (sparse initialisers at their dense size; quantization scales and zero points left out). */
  readonly params: number;
  /** Those that are not zero. */
  readonly nonzero: number;
}

/**
 * Weights of a model as its file stores them: dense and sparse initialisers, less the scales and
 * zero points of QuantizeLinear / DequantizeLinear (inputs 1 and 2), so a float model and its
 * quantized form count the same weights. A sparse initialiser's non-zeros are its stored values.
 */
export function countWeights(model: ModelProto): WeightCount {
  const graph = model.graph;
  if (!graph) return { params: 0, nonzero: 0 };
  const quantParams = new Set<string>();
  for (const node of graph.node) {
    if (node.opType === 'QuantizeLinear' || node.opType === 'DequantizeLinear') for (const name of node.input.slice(1)) quantParams.add(name);
  }
  let params = 0;
  let nonzero = 0;
  const countDense = (t: TensorProto): void => {
    params += tensorElementCount(t);
    const values = tensorValues(t) as ArrayLike<number | bigint>;
    for (let i = 0; i < values.length; i++) if (values[i] !== 0 && values[i] !== 0n) nonzero++;
  };
  for (const t of graph.initializer) if (!quantParams.has(t.name ?? '')) countDense(t);
  for (const s of graph.sparseInitializer) {
    params += s.dims.reduce((a, b) => a * b, 1);
    const values = s.values ? (tensorValues(s.values) as ArrayLike<number>) : [];
    for (let i = 0; i < values.length; i++) if (values[i] !== 0) nonzero++;
  }
  return { params, nonzero };
}

export interface Latency {
  /** Median wall time of one batch-1 run, output read back included, in milliseconds. */
  readonly medianMs: number;
  readonly runs: number;
}

/**
 * Batch-1 latency of `model` on `backend`: one sample in, the logits read back to the host (what a
 * caller waits for), after warm-up runs; runs are added until `budgetMs` has passed (between
 * minRuns and maxRuns), and the median is reported, robust to a shared machine's hiccups.
 */
export function batchOneLatency(model: ModelProto, backend: string, sample: Float32Array, options: { budgetMs: number; minRuns: number; maxRuns: number }): Latency {
  const session = OnnxSession.create(model, { backend });
  const name = session.inputs[0].name;
  const x = fromArray(sample, [1, sample.length], { backend });
  const once = (): void => scope(() => {
    Object.values(session.run({ [name]: x }))[0].dataSync();
  });
  try {
    for (let i = 0; i < 3; i++) once();
    const times: number[] = [];
    const start = performance.now();
    while (times.length < options.maxRuns && (times.length < options.minRuns || performance.now() - start < options.budgetMs)) {
      const t0 = performance.now();
      once();
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    const mid = times.length >> 1;
    const medianMs = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
    return { medianMs, runs: times.length };
  } finally {
    x.dispose();
    session.dispose();
  }
}
