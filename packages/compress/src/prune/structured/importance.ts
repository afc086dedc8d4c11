import { MinnowError } from '@minnow/core';
import type { ChannelNorm } from './types.js';

/**
 * Channel importance for structured pruning: the L1 or L2 norm of each output channel's weights
 * (a Conv weight's [in, kh, kw] block, a Linear row), and the choice of which channels stay.
 */

/** Checks the options every structured pruner takes; `op` names the caller in the message. */
export function checkChannelOptions(op: string, sparsity: unknown, norm: unknown): ChannelNorm {
  if (typeof sparsity !== 'number' || !(sparsity >= 0 && sparsity < 1)) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: sparsity must be a number in [0, 1) (the fraction of channels removed), got ${String(sparsity)}`);
  }
  const chosen = norm ?? 'l1';
  if (chosen !== 'l1' && chosen !== 'l2') throw new MinnowError('INVALID_ARGUMENT', `${op}: norm must be 'l1' or 'l2', got ${String(norm)}`);
  return chosen;
}

/**
 * The norm of every slice of `values` (row-major, `dims`) along `axis`: out[c] is the L1 or L2
 * norm of all values whose index on `axis` is c. Accumulated in float64.
 */
export function channelNorms(values: ArrayLike<number>, dims: readonly number[], axis: number, norm: ChannelNorm): Float64Array {
  const channels = dims[axis];
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const sums = new Float64Array(channels);
  for (let i = 0; i < values.length; i++) {
    const c = Math.floor(i / inner) % channels;
    const v = values[i];
    sums[c] += norm === 'l1' ? Math.abs(v) : v * v;
  }
  if (norm === 'l2') for (let c = 0; c < channels; c++) sums[c] = Math.sqrt(sums[c]);
  return sums;
}

/** How many of `channels` stay at `sparsity`: the (1 - sparsity) fraction, rounded, never fewer than one. */
export function keptCount(channels: number, sparsity: number): number {
  return Math.min(channels, Math.max(1, Math.round((1 - sparsity) * channels)));
}

/**
 * The `keep` most important channels, in ascending index order. Ties go to the lower index, so
 * the choice is deterministic; a NaN score ranks below every number.
 */
export function topChannels(scores: ArrayLike<number>, keep: number): number[] {
  const score = (c: number): number => (Number.isNaN(scores[c]) ? -Infinity : scores[c]);
  const order = Array.from({ length: scores.length }, (_, c) => c);
  order.sort((a, b) => score(b) - score(a) || a - b);
  return order.slice(0, keep).sort((a, b) => a - b);
}
