import { MinnowError, add, formatShape, mul, scope, type Tensor } from '@minnow/core';
import { crossEntropy, klDivergence, mse } from '@minnow/nn';

/** How the student is pulled towards the teacher's logits. */
export type DistillationKind = 'kl' | 'mse';

export interface DistillationLossOptions {
  /** Softens both distributions, softmax(z / T), for 'kl' (default 4; Hinton et al. used up to 20). Unused by 'mse'. */
  readonly temperature?: number;
  /** Weight of the hard-label cross-entropy; the soft term gets 1 - alpha (default 0.5). */
  readonly alpha?: number;
  /**
   * 'kl' (default): Hinton et al. 2015, T^2 KL(softmax(teacher/T) || softmax(student/T)).
   * 'mse': logit matching (Ba and Caruana 2014), the mean over every element of (student - teacher)^2.
   */
  readonly kind?: DistillationKind;
}

/** The options with their defaults applied and checked. */
export interface ResolvedDistillationLoss {
  readonly temperature: number;
  readonly alpha: number;
  readonly kind: DistillationKind;
}

export function resolveDistillationLoss(op: string, options: DistillationLossOptions): ResolvedDistillationLoss {
  const temperature = options.temperature ?? 4;
  const alpha = options.alpha ?? 0.5;
  const kind = options.kind ?? 'kl';
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature <= 0) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: temperature must be a positive finite number, got ${String(temperature)}`);
  }
  if (typeof alpha !== 'number' || !(alpha >= 0 && alpha <= 1)) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: alpha must be a number in [0, 1], got ${String(alpha)}`);
  }
  if (kind !== 'kl' && kind !== 'mse') throw new MinnowError('INVALID_ARGUMENT', `${op}: kind must be 'kl' or 'mse', got ${JSON.stringify(kind)}`);
  return { temperature, alpha, kind };
}

/**
 * The distillation loss of one batch, a scalar:
 *
 *   kl:  alpha * CE(student, labels) + (1 - alpha) * T^2 * KL(softmax(teacher / T) || softmax(student / T))
 *   mse: alpha * CE(student, labels) + (1 - alpha) * mean((student - teacher)^2)
 *
 * CE is the mean over samples, KL is summed over classes and averaged over samples ('batchmean').
 * The T^2 factor (Hinton et al. 2015, section 2) keeps the soft term's gradients the same size
 * whatever the temperature, so alpha means the same thing at T = 2 and at T = 20. Logits are
 * [..., C] with the class axis last; labels are int32 class indices of the leading shape, and may
 * be null when alpha is 0 (pure distillation, no labels needed).
 *
 * The teacher's logits are detached here, so no gradient reaches the teacher even when they were
 * computed with the tape on; compute them under noGrad all the same, which saves the tape.
 */
export function distillationLoss(studentLogits: Tensor, teacherLogits: Tensor, labels: Tensor | null, options: DistillationLossOptions = {}): Tensor {
  const { temperature, alpha, kind } = resolveDistillationLoss('distillationLoss', options);
  if (studentLogits.shape.length !== teacherLogits.shape.length || studentLogits.shape.some((d, i) => d !== teacherLogits.shape[i])) {
    throw new MinnowError('SHAPE_MISMATCH', `distillationLoss: student logits ${formatShape(studentLogits.shape)} and teacher logits ${formatShape(teacherLogits.shape)} differ`);
  }
  if (alpha > 0 && labels === null) {
    throw new MinnowError('INVALID_ARGUMENT', `distillationLoss: alpha is ${alpha}, so the hard-label term needs labels (pass alpha 0 to distill without labels)`);
  }
  return scope(() => {
    const hard = alpha > 0 ? crossEntropy(studentLogits, labels!) : null;
    if (alpha === 1) return hard!;
    const teacher = teacherLogits.detach();
    const soft = kind === 'kl'
      ? mul(klDivergence(studentLogits, teacher, { temperature }), temperature * temperature)
      : mse(studentLogits, teacher);
    if (hard === null) return soft;
    return add(mul(hard, alpha), mul(soft, 1 - alpha));
  });
}
