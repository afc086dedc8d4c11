import {
  MinnowError, add, allocateArray, fromArray, mul, noGrad, scope, type DType, type Tensor, type TypedArray,
} from '@minnow/core';
import { Module, Optimizer, type DataLoader } from '@minnow/nn';
import { distillationLoss, resolveDistillationLoss, type DistillationKind } from './loss.js';
import { findLayer, flattenFeature, forwardCapturing, hintLoss, hintRegressor, type HintOptions } from './hints.js';
import { checkBackends, runLoop, type Classifier, type EpochRecord, type LoopOptions } from './loop.js';

export interface DistillOptions extends LoopOptions {
  /** The trained model whose outputs are the soft targets. It runs in eval mode, under noGrad, and is never updated. */
  readonly teacher: Classifier;
  /** The model being trained (on the same backend as the teacher and the loaders). */
  readonly student: Classifier;
  /** Softening temperature T of the 'kl' loss (default 4). */
  readonly temperature?: number;
  /** Weight of the hard-label cross-entropy; the soft term gets 1 - alpha (default 0.5). */
  readonly alpha?: number;
  /** 'kl' (default): Hinton's T^2-scaled KL on softened outputs; 'mse': logit matching. See distillationLoss. */
  readonly loss?: DistillationKind;
  /** Intermediate-feature (FitNets) distillation, added to the loss with its weight. */
  readonly hints?: HintOptions;
  /**
   * Keep the teacher's outputs for every training example after computing them once (first epoch),
   * instead of running the teacher on every step. Sound because the teacher is fixed and in eval
   * mode and a DataLoader serves the same example for an index every epoch; it costs the outputs'
   * size in host memory (60,000 x 10 float32 logits: 2.4 MB; hint features are kept too). Default false.
   */
  readonly cacheTeacher?: boolean;
  /** Seeds what distill creates itself (the default hint regressor). Default 0. */
  readonly seed?: number;
}

/**
 * Knowledge distillation (Hinton, Vinyals and Dean 2015, arXiv:1503.02531): trains `student` on
 * `data` to match the teacher's softened outputs and the labels,
 *
 *   loss = alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))
 *
 * or, with `loss: 'mse'`, alpha * CE + (1 - alpha) * mean((student - teacher)^2), plus
 * `hints.weight * mse(regressor(student feature), teacher feature)` with hints. The teacher runs in
 * eval mode under noGrad (its parameters never get a .grad); the student trains in training mode.
 * Each step runs inside a scope, so nothing leaks; modes are restored at the end.
 *
 * Determinism: the order of the data is the loader's (seed and epoch counter), dropout masks come
 * from the layers' seeds, the default hint regressor from `seed`: the same seeds give the same
 * history, bit for bit, on backend-js (and the same on backend-wasm run to run).
 *
 * ```ts
 * const history = distill({
 *   teacher, student, data: trainLoader, epochs: 10, temperature: 20, alpha: 0.1,
 *   optimizer: (params) => new Adam(params, { lr: 1e-3 }),
 *   evaluate: { data: testLoader }, onProgress: (p) => console.log(p),
 * });
 * ```
 */
export function distill(options: DistillOptions): EpochRecord[] {
  const { teacher, student, hints, cacheTeacher = false, seed = 0 } = options;
  const lossOptions = resolveDistillationLoss('distill', { temperature: options.temperature, alpha: options.alpha, kind: options.loss });
  if (!(teacher instanceof Module) || !(student instanceof Module)) throw new MinnowError('INVALID_ARGUMENT', 'distill: teacher and student must be Modules');
  if (teacher === student) throw new MinnowError('INVALID_ARGUMENT', 'distill: the teacher and the student are the same module');
  const backend = checkBackends('distill', [['teacher', teacher], ['student', student]], [
    ['data', options.data], ...(options.evaluate ? [['evaluate.data', options.evaluate.data] as const] : []),
  ]);
  const hintWeight = hints?.weight ?? 1;
  if (hints && !(typeof hintWeight === 'number' && hintWeight >= 0 && Number.isFinite(hintWeight))) {
    throw new MinnowError('INVALID_ARGUMENT', `distill: hints.weight must be a finite number >= 0, got ${String(hintWeight)}`);
  }
  const teacherLayer = hints ? findLayer('distill (hints.teacherLayer)', teacher, hints.teacherLayer) : null;
  const studentLayer = hints ? findLayer('distill (hints.studentLayer)', student, hints.studentLayer) : null;
  const ownsRegressor = hints !== undefined && hints.regressor === undefined;
  const regressor = hints ? hints.regressor ?? defaultRegressor(teacher, student, teacherLayer!, studentLayer!, options.data, backend, seed) : null;
  try {
    const params = [...student.parameters(), ...(regressor ? regressor.parameters() : [])];
    const teacherParams = new Set(teacher.parameters());
    if (params.some((p) => teacherParams.has(p))) throw new MinnowError('INVALID_ARGUMENT', 'distill: the student shares parameters with the teacher');
    if (regressor && options.optimizer instanceof Optimizer) {
      const optimised = new Set(options.optimizer.paramGroups.flatMap((g) => g.params));
      if (!regressor.parameters().every((p) => optimised.has(p))) {
        throw new MinnowError('INVALID_ARGUMENT', ownsRegressor
          ? 'distill: hints create a regressor whose parameters the given optimiser cannot know; pass optimizer as a function (params) => Optimizer'
          : 'distill: the optimiser does not hold the parameters of hints.regressor; add them to it');
      }
    }
    const cache = cacheTeacher ? new TeacherCache(options.data.dataset.length) : null;
    const wasTraining = teacher.training;
    teacher.eval();
    try {
      return runLoop({
        op: 'distill',
        model: student,
        params,
        step: (batch) => {
          let teacherOut = cache?.lookup(batch.indices, backend) ?? null;
          if (!teacherOut) {
            teacherOut = noGrad(() => {
              if (!teacherLayer) return [teacher.forward(batch.x)];
              const { output, feature } = forwardCapturing('distill (teacher hint)', teacherLayer, () => teacher.forward(batch.x));
              return [output, feature];
            });
            cache?.store(batch.indices, teacherOut);
          }
          const [teacherLogits, teacherFeature] = teacherOut;
          let logits: Tensor;
          let hint: Tensor | undefined;
          if (studentLayer) {
            const run = forwardCapturing('distill (student hint)', studentLayer, () => student.forward(batch.x));
            logits = run.output;
            hint = hintLoss(run.feature, teacherFeature, regressor!);
          } else {
            logits = student.forward(batch.x);
          }
          const main = distillationLoss(logits, teacherLogits, batch.y, lossOptions);
          const loss = hint ? add(main, mul(hint, hintWeight)) : main;
          return { loss, logits, ...(hint ? { hintLoss: hint } : {}) };
        },
      }, options);
    } finally {
      teacher.train(wasTraining);
    }
  } finally {
    if (ownsRegressor) regressor!.dispose();
  }
}

/** Linear(student width, teacher width), the widths found by running both on the first example in eval mode. */
function defaultRegressor(
  teacher: Classifier, student: Classifier, teacherLayer: Module<unknown[], unknown>, studentLayer: Module<unknown[], unknown>,
  data: DataLoader, backend: string, seed: number,
): Module<[Tensor], Tensor> {
  if (data.dataset.length === 0) throw new MinnowError('INVALID_ARGUMENT', 'distill: the training data set is empty');
  const { features } = data.dataset.get(0);
  const widths = noGrad(() => scope(() => {
    const x = fromArray(Float32Array.from(features), [1, ...data.dataset.featureShape], { backend });
    const width = (model: Classifier, layer: Module<unknown[], unknown>): number => {
      const wasTraining = model.training;
      model.eval();
      try {
        return flattenFeature(forwardCapturing('distill (hint probe)', layer, () => model.forward(x)).feature).shape[1];
      } finally {
        model.train(wasTraining);
      }
    };
    return [width(student, studentLayer), width(teacher, teacherLayer)];
  }));
  const dtype = student.parameters()[0]?.dtype === 'float64' ? 'float64' : 'float32';
  return hintRegressor(widths[0], widths[1], { seed, backend, dtype });
}

/** The teacher's outputs per dataset index, filled on first sight. */
class TeacherCache {
  private readonly filled: Uint8Array;
  private tables: { values: TypedArray; rowShape: number[]; width: number; dtype: DType }[] | null = null;

  constructor(length: number) {
    this.filled = new Uint8Array(length);
  }

  /** Fresh tensors [b, ...] for the batch, or null when any of its examples has not been seen. */
  lookup(indices: Int32Array, backend: string): Tensor[] | null {
    if (!this.tables || !indices.every((i) => this.filled[i] === 1)) return null;
    return this.tables.map(({ values, rowShape, width, dtype }) => {
      const out = allocateArray(dtype, indices.length * width) as TypedArray;
      indices.forEach((index, k) => (out as Float32Array).set((values as Float32Array).subarray(index * width, (index + 1) * width), k * width));
      return fromArray(out, [indices.length, ...rowShape], { dtype, backend });
    });
  }

  store(indices: Int32Array, outputs: readonly Tensor[]): void {
    this.tables ??= outputs.map((t) => {
      const rowShape = t.shape.slice(1);
      const width = rowShape.reduce((a, b) => a * b, 1);
      return { values: allocateArray(t.dtype, this.filled.length * width) as TypedArray, rowShape, width, dtype: t.dtype };
    });
    outputs.forEach((t, k) => {
      const { values, width } = this.tables![k];
      const data = t.dataSync() as Float32Array;
      indices.forEach((index, row) => (values as Float32Array).set(data.subarray(row * width, (row + 1) * width), index * width));
    });
    for (const index of indices) this.filled[index] = 1;
  }
}
