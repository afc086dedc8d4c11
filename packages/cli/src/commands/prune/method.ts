import { MinnowError } from '@minnow/core';
import { parseNM, type NMPattern } from '@minnow/compress';

/** What `minnow prune` removes, from its flags. */
export type PruneMethod =
  /** Single weights, the smallest (or random ones) in each layer, or across layers with --global. */
  | { readonly kind: 'unstructured'; readonly sparsity: number; readonly global: boolean; readonly criterion: 'magnitude' | 'random' }
  /** N of every M consecutive weights along each weight's input axis kept (2:4). */
  | { readonly kind: 'nm'; readonly pattern: NMPattern; readonly criterion: 'magnitude' | 'random' }
  /**
   * Whole output channels removed and the layers shrunk: Conv filters ('channels'), Gemm/MatMul
   * output neurons ('neurons'), or both.
   */
  | { readonly kind: 'structured'; readonly sparsity: number; readonly what: 'channels' | 'neurons' | 'channels,neurons' };

export interface MethodFlags {
  readonly sparsity?: string;
  readonly structured?: string;
  readonly global?: boolean;
  readonly criterion: string;
}

export const bad = (message: string): MinnowError => new MinnowError('INVALID_ARGUMENT', `prune: ${message}`);

function sparsityOf(text: string | undefined, why: string): number {
  if (text === undefined) throw bad(`--sparsity is required (the fraction of weights to remove, such as 0.9)${why}`);
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 0 || value >= 1) throw bad(`--sparsity '${text}' must be a number in [0, 1), such as 0.9 (the fraction removed)`);
  return value;
}

export function parseMethod(flags: MethodFlags): PruneMethod {
  const criterion = flags.criterion;
  if (criterion !== 'magnitude' && criterion !== 'random') throw bad(`--criterion '${criterion}' is not one of magnitude, random`);
  const structured = flags.structured?.replace(/\s+/g, '');
  if (structured !== undefined && /^\d+:\d+$/.test(structured)) {
    if (flags.sparsity !== undefined) throw bad(`--structured ${structured} fixes the sparsity at ${structured.split(':').join(' kept of every ')}; drop --sparsity`);
    if (flags.global) throw bad(`--global does not apply to --structured ${structured}: the pattern holds in every group of every layer`);
    return { kind: 'nm', pattern: parseNM('prune --structured', structured), criterion };
  }
  if (structured !== undefined) {
    const what = structured.split(',').sort().join(',');
    if (what !== 'channels' && what !== 'neurons' && what !== 'channels,neurons') {
      throw bad(`--structured '${flags.structured}' is not one of channels, neurons, channels,neurons or an N:M pattern such as 2:4`);
    }
    if (flags.global) throw bad('--global does not apply to structured pruning: each channel group loses the same fraction');
    if (criterion === 'random') throw bad('--criterion random is for unstructured pruning; structured pruning ranks channels by the L1 norm of their weights');
    return { kind: 'structured', sparsity: sparsityOf(flags.sparsity, ''), what };
  }
  return { kind: 'unstructured', sparsity: sparsityOf(flags.sparsity, ' (or --structured 2:4)'), global: flags.global ?? false, criterion };
}

/** One line for people: what was done. */
export function describeMethod(method: PruneMethod): string {
  const pct = (x: number): string => `${Number((100 * x).toFixed(2))}%`;
  switch (method.kind) {
    case 'unstructured':
      return `${method.criterion} pruning to ${pct(method.sparsity)} sparsity ${method.global ? 'globally (one threshold across layers)' : 'in each layer'}`;
    case 'nm':
      return `${method.pattern.n}:${method.pattern.m} semi-structured ${method.criterion} pruning (${method.pattern.n} of every ${method.pattern.m} weights kept along the input axis)`;
    case 'structured': {
      const what = method.what === 'channels' ? 'Conv channels' : method.what === 'neurons' ? 'Gemm/MatMul neurons' : 'Conv channels and Gemm/MatMul neurons';
      return `structured: ${pct(method.sparsity)} of the ${what} of each group removed (L1 norm)`;
    }
  }
}
