import {
  MinnowError, arange, cast, div, equal, exp, formatShape, isFloatDType, log, logSoftmax, max, mean, mul, neg, reshape, scope, square, sub,
  sum, where, type DType, type Tensor,
} from '@minnow/core';

/**
 * Losses composed from core's ops, differentiable through core's autograd. The class axis is the
 * last one: logits are [..., C] (usually [N, C]) and every leading position is one sample (unlike
 * PyTorch, whose class axis is 1 for inputs above 2-D).
 */

export type Reduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  /** 'mean' (default) over samples, 'sum', or 'none' (one loss per sample, of the leading shape). */
  readonly reduction?: Reduction;
  /** Mixes the target with the uniform distribution: (1 - e) target + e / C, as PyTorch. Default 0. */
  readonly labelSmoothing?: number;
}

/**
 * One-hot rows from int32 class indices: [...] -> [..., numClasses] of `dtype` (default float32),
 * by comparing against arange(numClasses). An index outside [0, numClasses) gives a row of zeros.
 */
export function oneHot(labels: Tensor, numClasses: number, options: { dtype?: DType } = {}): Tensor {
  if (labels.dtype !== 'int32') throw new MinnowError('UNSUPPORTED_DTYPE', `oneHot: labels must be int32, got ${labels.dtype}`);
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new MinnowError('INVALID_ARGUMENT', `oneHot: numClasses must be a positive integer, got ${numClasses}`);
  return scope(() => {
    const classes = arange(0, numClasses, 1, { dtype: 'int32', backend: labels.backend.name });
    return cast(equal(reshape(labels, [...labels.shape, 1]), classes), options.dtype ?? 'float32');
  });
}

/**
 * Cross-entropy from logits: -sum_c target_c log softmax(logits)_c per sample, with log softmax
 * computed stably (core's `logSoftmax`), so extreme logits give finite losses and gradients.
 * `target` is either int32 class indices of the leading shape (labels must lie in [0, C): one
 * outside gives that sample a loss of 0, since it cannot be checked without reading the labels
 * back) or probabilities [..., C] of the logits' dtype.
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  checkLogits('crossEntropy', logits);
  const reduction = checkReduction('crossEntropy', options.reduction);
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) throw new MinnowError('INVALID_ARGUMENT', `crossEntropy: labelSmoothing must be in [0, 1], got ${smoothing}`);
  const classes = logits.shape[logits.rank - 1];
  const lead = logits.shape.slice(0, -1);
  const byIndex = target.dtype === 'int32';
  if (byIndex ? !sameShape(target.shape, lead) : !sameShape(target.shape, logits.shape)) {
    throw new MinnowError('SHAPE_MISMATCH', `crossEntropy: target ${target.dtype}${formatShape(target.shape)} does not fit logits ${formatShape(logits.shape)} (expected int32 labels ${formatShape(lead)} or probabilities ${formatShape(logits.shape)})`);
  }
  if (!byIndex && target.dtype !== logits.dtype) {
    throw new MinnowError('DTYPE_MISMATCH', `crossEntropy: probabilities are ${target.dtype} but logits ${logits.dtype} (labels must be int32)`);
  }
  return scope(() => {
    const logProbs = logSoftmax(logits);
    let perSample: Tensor;
    if (byIndex && smoothing === 0) {
      // Select rather than multiply by the one-hot, so a -inf logit in another class gives 0, not 0 * -inf = NaN.
      const hit = equal(reshape(target, [...lead, 1]), arange(0, classes, 1, { dtype: 'int32', backend: logits.backend.name }));
      perSample = neg(sum(where(hit, logProbs, 0), { axes: -1 }));
    } else {
      const probs = byIndex ? oneHot(target, classes, { dtype: logits.dtype }) : target;
      const smoothed = smoothing > 0 ? mul(probs, 1 - smoothing) : probs;
      // Zero target mass adds 0 even against a -inf logit (where 0 * -inf would be NaN).
      perSample = neg(sum(where(equal(smoothed, 0), 0, mul(smoothed, logProbs)), { axes: -1 }));
      if (smoothing > 0) perSample = sub(perSample, mul(sum(logProbs, { axes: -1 }), smoothing / classes));
    }
    return reduce(perSample, reduction);
  });
}

/** Mean squared error between tensors of the same shape and dtype. */
export function mse(prediction: Tensor, target: Tensor, options: { reduction?: Reduction } = {}): Tensor {
  const reduction = checkReduction('mse', options.reduction);
  if (!sameShape(prediction.shape, target.shape)) {
    throw new MinnowError('SHAPE_MISMATCH', `mse: prediction ${formatShape(prediction.shape)} and target ${formatShape(target.shape)} differ (broadcasting is not applied to losses)`);
  }
  if (!isFloatDType(prediction.dtype) || target.dtype !== prediction.dtype) {
    throw new MinnowError('DTYPE_MISMATCH', `mse: prediction ${prediction.dtype} and target ${target.dtype} must be the same float dtype`);
  }
  return scope(() => {
    const errors = square(sub(prediction, target));
    return reduction === 'none' ? errors : reduction === 'sum' ? sum(errors) : mean(errors);
  });
}

export interface KlDivergenceOptions {
  /** Softens both distributions: softmax(logits / T). Default 1. */
  readonly temperature?: number;
  /** 'batchmean' (default): summed over classes, averaged over samples; 'sum'; 'none': one value per sample. */
  readonly reduction?: 'batchmean' | 'sum' | 'none';
}

/**
 * KL(p_teacher || p_student) with p = softmax(logits / T): sum_c p_t (log p_t - log p_s) per sample,
 * from core's `logSoftmax` on both sides (stable for extreme logits; classes where p_t is exactly 0 add 0).
 * The T^2 factor of Hinton et al. is NOT applied here: the distillation loss multiplies by T^2 so
 * gradient magnitudes stay comparable across temperatures. Gradients flow to both inputs; detach
 * the teacher (or compute it under noGrad) when it is not being trained.
 */
export function klDivergence(studentLogits: Tensor, teacherLogits: Tensor, options: KlDivergenceOptions = {}): Tensor {
  checkLogits('klDivergence', studentLogits);
  if (!sameShape(studentLogits.shape, teacherLogits.shape)) {
    throw new MinnowError('SHAPE_MISMATCH', `klDivergence: student logits ${formatShape(studentLogits.shape)} and teacher logits ${formatShape(teacherLogits.shape)} differ`);
  }
  if (teacherLogits.dtype !== studentLogits.dtype) {
    throw new MinnowError('DTYPE_MISMATCH', `klDivergence: student logits are ${studentLogits.dtype} but teacher logits ${teacherLogits.dtype}`);
  }
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0) || !Number.isFinite(temperature)) {
    throw new MinnowError('INVALID_ARGUMENT', `klDivergence: temperature must be a positive finite number, got ${temperature}`);
  }
  const reduction = options.reduction ?? 'batchmean';
  if (reduction !== 'batchmean' && reduction !== 'sum' && reduction !== 'none') {
    throw new MinnowError('INVALID_ARGUMENT', `klDivergence: reduction must be 'batchmean', 'sum' or 'none', got ${JSON.stringify(reduction)}`);
  }
  return scope(() => {
    const soften = (x: Tensor): Tensor => (temperature === 1 ? x : div(x, temperature));
    const logStudent = logSoftmax(soften(studentLogits));
    const logTeacher = logSoftmax(soften(teacherLogits));
    const teacher = exp(logTeacher);
    // Where p_t is 0 the term is 0: the inner where keeps log p_t finite there so the product's
    // gradient is not 0 * inf, the outer one keeps the value 0 whatever the student says.
    const absent = equal(teacher, 0);
    const terms = where(absent, 0, mul(teacher, sub(where(absent, 0, logTeacher), logStudent)));
    const perSample = sum(terms, { axes: -1 });
    if (reduction === 'none') return perSample;
    const total = sum(perSample);
    return reduction === 'sum' ? total : div(total, Math.max(1, perSample.size));
  });
}

function checkLogits(op: string, logits: Tensor): void {
  if (logits.rank < 1 || logits.shape[logits.rank - 1] < 1) {
    throw new MinnowError('INVALID_SHAPE', `${op}: logits must have a non-empty class axis (last), got ${formatShape(logits.shape)}`);
  }
  if (!isFloatDType(logits.dtype)) throw new MinnowError('UNSUPPORTED_DTYPE', `${op}: logits must be float32 or float64, got ${logits.dtype}`);
}

function checkReduction(op: string, reduction: Reduction | undefined): Reduction {
  const r = reduction ?? 'mean';
  if (r !== 'mean' && r !== 'sum' && r !== 'none') throw new MinnowError('INVALID_ARGUMENT', `${op}: reduction must be 'mean', 'sum' or 'none', got ${JSON.stringify(r)}`);
  return r;
}

function reduce(perSample: Tensor, reduction: Reduction): Tensor {
  if (reduction === 'none') return perSample;
  return reduction === 'sum' ? sum(perSample) : mean(perSample);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
