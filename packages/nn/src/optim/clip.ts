import { MinnowError, Tensor, abs, add, clamp, max, maximum, mul, noGrad, pow, scope, sum } from '@minnow/core';

/**
 * Gradient clipping after torch.nn.utils.clip_grad_norm_ and clip_grad_value_. Both replace each
 * parameter's `.grad` values in place (`grad.assign`, so the grad tensor stays the same object) and
 * leave parameters without a gradient alone.
 */

export interface ClipGradNormOptions {
  /** The p of the p-norm: any p > 0, or Infinity for the largest absolute value (default 2). */
  readonly normType?: number;
  /** Throw INVALID_ARGUMENT when the total norm is NaN or infinite, before touching any gradient (default false). */
  readonly errorIfNonfinite?: boolean;
}

/**
 * Scales the gradients of `params` so that their total norm (the norm of all of them concatenated)
 * is at most `maxNorm`, and returns the total norm from before scaling. As PyTorch, the scale is
 * maxNorm / (total + 1e-6), applied only when below 1 (a NaN or infinite total propagates into the
 * gradients unless `errorIfNonfinite`). Reads one scalar back per backend and dtype in use, so it
 * needs a backend that can read synchronously (all of minnow's can; SYNC_READ_UNSUPPORTED otherwise).
 */
export function clipGradNorm(params: Tensor | Iterable<Tensor>, maxNorm: number, options: ClipGradNormOptions = {}): number {
  const normType = options.normType ?? 2;
  if (typeof normType !== 'number' || Number.isNaN(normType) || normType <= 0) {
    throw new MinnowError('INVALID_ARGUMENT', `clipGradNorm: normType must be a number > 0 or Infinity, got ${String(normType)}`);
  }
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm) || maxNorm < 0) {
    throw new MinnowError('INVALID_ARGUMENT', `clipGradNorm: maxNorm must be a number >= 0, got ${String(maxNorm)}`);
  }
  const grads = gradientsOf('clipGradNorm', params).filter((g) => g.size > 0);
  if (grads.length === 0) return 0;
  const infinity = normType === Infinity;
  // One device-side partial per (backend, dtype): the largest |g|, or the sum of |g|^p.
  const groups = new Map<string, Tensor[]>();
  for (const g of grads) {
    const key = `${g.backend.name}/${g.dtype}`;
    groups.set(key, [...(groups.get(key) ?? []), g]);
  }
  const partials = noGrad(() =>
    [...groups.values()].map((members) =>
      scope(() => {
        const parts = members.map((g) => (infinity ? max(abs(g)) : normType === 2 ? sum(mul(g, g)) : normType === 1 ? sum(abs(g)) : sum(pow(abs(g), normType))));
        return parts.reduce((a, b) => (infinity ? maximum(a, b) : add(a, b))).itemSync();
      }),
    ),
  );
  const total = infinity ? Math.max(...partials) : partials.reduce((a, b) => a + b, 0) ** (1 / normType);
  if (options.errorIfNonfinite && !Number.isFinite(total)) {
    throw new MinnowError('INVALID_ARGUMENT', `clipGradNorm: the total ${normType}-norm of the gradients is ${total}; gradients were left as they are`);
  }
  const coefficient = maxNorm / (total + 1e-6);
  if (!(coefficient >= 1)) noGrad(() => scope(() => { for (const g of grads) g.assign(mul(g, coefficient)); }));
  return total;
}

/** Clamps every gradient element of `params` into [−clipValue, clipValue]. */
export function clipGradValue(params: Tensor | Iterable<Tensor>, clipValue: number): void {
  if (typeof clipValue !== 'number' || Number.isNaN(clipValue) || clipValue < 0) {
    throw new MinnowError('INVALID_ARGUMENT', `clipGradValue: clipValue must be a number >= 0, got ${String(clipValue)}`);
  }
  const grads = gradientsOf('clipGradValue', params);
  noGrad(() => scope(() => { for (const g of grads) g.assign(clamp(g, -clipValue, clipValue)); }));
}

function gradientsOf(op: string, params: Tensor | Iterable<Tensor>): Tensor[] {
  if (!(params instanceof Tensor) && (params === null || typeof params !== 'object' || !(Symbol.iterator in params))) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: params must be a Tensor or an iterable of Tensors, got ${params === null ? 'null' : typeof params}`);
  }
  const list = params instanceof Tensor ? [params] : [...params];
  const grads: Tensor[] = [];
  list.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new MinnowError('INVALID_ARGUMENT', `${op}: parameter ${i} is not a Tensor`);
    const g = p.isDisposed ? null : p.grad;
    if (g) grads.push(g);
  });
  return grads;
}
