import { randInt, ravel, shuffle, size, unravel, broadcastIndex } from './reference.js';

/**
 * A plain-JS materialised array (shape + row-major values) and the view ops on it, written from
 * numpy/python semantics so engine views can be checked against copies.
 */
export interface Ref {
  readonly shape: number[];
  readonly values: number[];
}

export function refPermute(r: Ref, axes: readonly number[]): Ref {
  const shape = axes.map((a) => r.shape[a]);
  const values = new Array<number>(r.values.length);
  for (let f = 0; f < values.length; f++) {
    const i = unravel(f, shape);
    const src = new Array<number>(shape.length);
    for (let k = 0; k < axes.length; k++) src[axes[k]] = i[k];
    values[f] = r.values[ravel(src, r.shape)];
  }
  return { shape, values };
}

/** Python range of indices selected by start:end:step on a dim of size n (bounds already valid). */
export function sliceIndices(n: number, start: number, end: number | null, step: number): number[] {
  const out: number[] = [];
  const s = start < 0 ? start + n : start;
  if (step > 0) {
    const e = end === null ? n : end < 0 ? end + n : end;
    for (let i = s; i < e; i += step) out.push(i);
  } else {
    const e = end === null ? -1 : end < 0 ? end + n : end;
    for (let i = s; i > e; i += step) out.push(i);
  }
  return out;
}

export function refSlice(r: Ref, starts: readonly number[], ends: readonly (number | null)[], steps: readonly number[]): Ref {
  const picks = r.shape.map((n, d) => sliceIndices(n, starts[d], ends[d], steps[d]));
  const shape = picks.map((p) => p.length);
  const values = new Array<number>(size(shape));
  for (let f = 0; f < values.length; f++) {
    const i = unravel(f, shape);
    values[f] = r.values[ravel(i.map((k, d) => picks[d][k]), r.shape)];
  }
  return { shape, values };
}

export function refExpand(r: Ref, shape: readonly number[]): Ref {
  const values = new Array<number>(size(shape));
  for (let f = 0; f < values.length; f++) values[f] = r.values[broadcastIndex(unravel(f, shape), r.shape)];
  return { shape: [...shape], values };
}

export function refReshape(r: Ref, shape: readonly number[]): Ref {
  return { shape: [...shape], values: [...r.values] };
}

/** A random target shape with `n` elements (rank 0..5), sometimes with one -1. */
export function randomReshapeTarget(rand: () => number, n: number): { target: number[]; resolved: number[] } {
  const dims: number[] = [];
  if (n === 0) {
    const rank = randInt(rand, 1, 4);
    for (let i = 0; i < rank; i++) dims.push(randInt(rand, 0, 3));
    if (!dims.includes(0)) dims[randInt(rand, 0, rank - 1)] = 0;
    return { target: dims, resolved: dims };
  }
  let rest = n;
  for (let p = 2; p <= rest; p++) {
    while (rest % p === 0) {
      dims.push(p);
      rest /= p;
    }
  }
  // Merge random neighbours, insert 1s, shuffle.
  let factors = shuffle(rand, dims);
  while (factors.length > 4) {
    const i = randInt(rand, 0, factors.length - 2);
    factors = [...factors.slice(0, i), factors[i] * factors[i + 1], ...factors.slice(i + 2)];
  }
  if (factors.length > 1 && rand() < 0.3) factors = [factors[0] * factors[1], ...factors.slice(2)];
  const ones = randInt(rand, 0, 2);
  for (let i = 0; i < ones; i++) factors.splice(randInt(rand, 0, factors.length), 0, 1);
  const resolved = factors;
  const target = [...resolved];
  if (target.length > 0 && rand() < 0.3) target[randInt(rand, 0, target.length - 1)] = -1;
  return { target, resolved };
}

/** Random valid slice arguments for `shape` (steps may be negative; bounds may be negative or null). */
export function randomSliceArgs(rand: () => number, shape: readonly number[]): { starts: number[]; ends: (number | null)[]; steps: number[] } {
  const starts: number[] = [];
  const ends: (number | null)[] = [];
  const steps: number[] = [];
  for (const n of shape) {
    let step = [1, 1, 2, 3, -1, -2, -3][randInt(rand, 0, 6)];
    if (n === 0) step = Math.abs(step); // negative steps over an empty dim: see the dedicated test
    let start: number;
    let end: number | null;
    if (step > 0) {
      start = randInt(rand, 0, n);
      end = rand() < 0.2 ? null : randInt(rand, 0, n);
    } else {
      start = randInt(rand, 0, n - 1);
      end = rand() < 0.3 ? null : randInt(rand, -1, n - 1);
      if (end === -1) end = null; // -1 would mean the last element, in python semantics
    }
    if (rand() < 0.3 && start < n) start -= n; // same position, counted from the end
    if (end !== null && rand() < 0.3 && end >= 0 && end < n) end -= n;
    starts.push(start);
    ends.push(end);
    steps.push(step);
  }
  return { starts, ends, steps };
}
