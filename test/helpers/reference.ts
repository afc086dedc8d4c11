import fc from 'fast-check';
import {
  MinnowError, Random, expand, fromArray, permute, slice, type DType, type Tensor, type TypedArray,
} from '@minnow/core';

/**
 * Plain-JS references for engine tests: a seeded PRNG, row-major index helpers, dtype conversion
 * rules written independently of the engine, and a builder that realises given logical values as a
 * (possibly non-contiguous) tensor view: permuted, sliced with +/- steps over garbage-filled
 * storage, expanded with stride 0, or compositions of those.
 */

// ------------------------------------------------------------------------------------------------
// randomness

/** A seeded uniform source in [0, 1) (core's Random), so fast-check only shrinks a seed. */
export function rng(seed: number): () => number {
  const random = new Random(seed);
  return () => random.uniform();
}

export const randInt = (rand: () => number, lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1));

export function shuffle<T>(rand: () => number, xs: T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// shapes and indices

export const size = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

export function stridesOf(shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    out[d] = s;
    s *= shape[d];
  }
  return out;
}

/** Row-major multi-index of flat position i. */
export function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    const dim = shape[d];
    idx[d] = dim === 0 ? 0 : i % dim;
    i = dim === 0 ? 0 : Math.floor(i / dim);
  }
  return idx;
}

export function ravel(idx: readonly number[], shape: readonly number[]): number {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + idx[d];
  return flat;
}

/** The index into an operand of `shape` that numpy broadcasting reads for output index `outIdx`. */
export function broadcastIndex(outIdx: readonly number[], shape: readonly number[]): number {
  const lead = outIdx.length - shape.length;
  let flat = 0;
  for (let d = 0; d < shape.length; d++) flat = flat * shape[d] + (shape[d] === 1 ? 0 : outIdx[lead + d]);
  return flat;
}

/** Broadcast result shape by the numpy rule, computed independently of the engine. */
export function refBroadcastShape(...shapes: (readonly number[])[]): number[] | null {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out: number[] = [];
  for (let d = 0; d < rank; d++) {
    const dims = shapes.map((s) => s[s.length - rank + d] ?? 1);
    const big = dims.filter((x) => x !== 1);
    if (new Set(big).size > 1) return null;
    out.push(big.length ? big[0] : 1);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// dtype semantics, written from the spec (not from the engine)

export function wrapInt(x: number, bits: number, signed: boolean): number {
  const m = 2 ** bits;
  let r = ((x % m) + m) % m;
  if (signed && r >= m / 2) r -= m;
  return r;
}

/** The value `x` (any JS number) becomes when stored in `dtype` after an op computed it exactly. */
export function storeAs(dtype: DType, x: number): number {
  switch (dtype) {
    case 'float64':
      return x;
    case 'float32':
      return Math.fround(x);
    case 'bool':
      return x !== 0 ? 1 : 0;
    default: {
      if (!Number.isFinite(x)) return 0;
      const t = Math.trunc(x);
      if (dtype === 'int32') return wrapInt(t, 32, true);
      if (dtype === 'int8') return wrapInt(t, 8, true);
      return wrapInt(t, 8, false);
    }
  }
}

export const isFloat = (d: DType): boolean => d === 'float32' || d === 'float64';

export function typedArrayFor(dtype: DType, values: ArrayLike<number>): TypedArray {
  switch (dtype) {
    case 'float32': return Float32Array.from(values);
    case 'float64': return Float64Array.from(values);
    case 'int32': return Int32Array.from(values);
    case 'int8': return Int8Array.from(values);
    case 'uint8': return Uint8Array.from(values);
    case 'bool': return Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0));
  }
}

/** Random values representable in `dtype`; floats in [-range, range], rounded to the dtype. */
export function randomValues(rand: () => number, dtype: DType, n: number, range = 3): number[] {
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    switch (dtype) {
      case 'float32': out[i] = Math.fround((rand() * 2 - 1) * range); break;
      case 'float64': out[i] = (rand() * 2 - 1) * range; break;
      case 'int32': out[i] = randInt(rand, -(2 ** 31), 2 ** 31 - 1); break;
      case 'int8': out[i] = randInt(rand, -128, 127); break;
      case 'uint8': out[i] = randInt(rand, 0, 255); break;
      case 'bool': out[i] = rand() < 0.5 ? 1 : 0; break;
    }
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// shapes as fast-check arbitraries

/** Shapes of rank minRank..maxRank with dims 0..maxDim, biased towards 0, 1 and odd sizes. */
export function arbShape(minRank = 0, maxRank = 4, maxDim = 6, allowEmpty = true): fc.Arbitrary<number[]> {
  const dim = allowEmpty
    ? fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 2, arbitrary: fc.constant(1) }, { weight: 6, arbitrary: fc.integer({ min: 1, max: maxDim }) })
    : fc.oneof({ weight: 1, arbitrary: fc.constant(1) }, { weight: 4, arbitrary: fc.integer({ min: 1, max: maxDim }) });
  return fc.array(dim, { minLength: minRank, maxLength: maxRank });
}

export type LayoutStep = 'permute' | 'slice';
export type Layout = { expand: boolean; steps: LayoutStep[] };

export const arbLayout: fc.Arbitrary<Layout> = fc.record({
  expand: fc.boolean(),
  steps: fc.array(fc.constantFrom<LayoutStep>('permute', 'slice'), { maxLength: 2 }),
});

export const CONTIGUOUS: Layout = { expand: false, steps: [] };

// ------------------------------------------------------------------------------------------------
// realising logical values as views

/** Fill value for storage elements no view should read: loud for floats, distinctive for ints. */
function garbage(dtype: DType): number {
  if (dtype === 'float32' || dtype === 'float64') return 987654.25;
  if (dtype === 'bool') return 1;
  return dtype === 'uint8' ? 201 : -99;
}

/**
 * A tensor of `dtype` whose logical row-major values are `values` over `shape`, built through the
 * layout steps (outermost first). Intermediate tensors are disposed: only the result holds storage.
 */
function realise(shape: readonly number[], values: readonly number[], dtype: DType, steps: readonly LayoutStep[], rand: () => number): Tensor {
  if (steps.length === 0) return fromArray(typedArrayFor(dtype, values), shape, { dtype });
  const [step, ...rest] = steps;
  const rank = shape.length;
  if (step === 'permute') {
    const perm = shuffle(rand, [...Array(rank).keys()]);
    // permute(base, perm) has dim i = base dim perm[i]
    const baseShape = new Array<number>(rank);
    for (let i = 0; i < rank; i++) baseShape[perm[i]] = shape[i];
    const baseValues = new Array<number>(size(shape));
    const j = new Array<number>(rank);
    for (let f = 0; f < values.length; f++) {
      const i = unravel(f, shape);
      for (let k = 0; k < rank; k++) j[perm[k]] = i[k];
      baseValues[ravel(j, baseShape)] = values[f];
    }
    const base = realise(baseShape, baseValues, dtype, rest, rand);
    const view = permute(base, perm);
    base.dispose();
    return view;
  }
  // slice: each dim gets a step in {1, 2, 3, -1, -2} and margins before/after over garbage.
  const stepsPerDim: number[] = [];
  const starts: number[] = [];
  const ends: (number | null)[] = [];
  const baseShape: number[] = [];
  for (let d = 0; d < rank; d++) {
    const n = shape[d];
    const st = [1, 2, 3, -1, -2][randInt(rand, 0, 4)];
    const lo = randInt(rand, 0, 2);
    const hi = randInt(rand, 0, 2);
    const span = n === 0 ? 0 : (n - 1) * Math.abs(st) + 1;
    let dim = lo + span + hi;
    if (st < 0 && dim === 0) dim = 1; // negative steps on an empty base dim are tested separately
    baseShape.push(dim);
    stepsPerDim.push(st);
    if (st > 0) {
      starts.push(lo);
      ends.push(n === 0 ? lo : rand() < 0.3 && hi === 0 ? null : lo + span);
    } else if (n === 0) {
      starts.push(dim - 1);
      ends.push(dim - 1);
    } else {
      const start = lo + span - 1;
      starts.push(rand() < 0.3 ? start - dim : start); // negative starts count from the end
      // python semantics: end -1 would mean dim-1, so the run to the front is spelled null
      ends.push(lo === 0 ? null : lo - 1);
    }
  }
  const baseValues = new Array<number>(size(baseShape)).fill(garbage(dtype));
  for (let f = 0; f < values.length; f++) {
    const i = unravel(f, shape);
    const j = i.map((k, d) => (starts[d] < 0 ? starts[d] + baseShape[d] : starts[d]) + k * stepsPerDim[d]);
    baseValues[ravel(j, baseShape)] = values[f];
  }
  const base = realise(baseShape, baseValues, dtype, rest, rand);
  const view = slice(base, starts, ends, stepsPerDim);
  base.dispose();
  return view;
}

export interface Input {
  readonly tensor: Tensor;
  /** Logical row-major values (as numbers; bool as 0/1). */
  readonly values: number[];
  readonly shape: number[];
}

/**
 * Builds an input of logical `shape` and `dtype` with values from `gen`, laid out per `layout`.
 * With `layout.expand`, some dims are broadcast (the values are constant along them and the tensor
 * is an expand view with stride 0 there, sometimes with leading dims added).
 */
export function makeInput(
  shape: readonly number[],
  dtype: DType,
  layout: Layout,
  seed: number,
  gen: (rand: () => number, n: number) => number[] = (rand, n) => randomValues(rand, dtype, n),
): Input {
  const rand = rng(seed);
  const out = [...shape];
  if (!layout.expand || shape.length === 0) {
    const values = gen(rand, size(shape));
    return { tensor: realise(out, values, dtype, layout.steps, rand), values, shape: out };
  }
  // Choose broadcast dims; maybe drop some leading dims entirely from the base.
  const lead = randInt(rand, 0, Math.min(1, shape.length));
  const small = shape.slice(lead).map((d) => (rand() < 0.5 ? 1 : d));
  const smallValues = gen(rand, size(small));
  const values = new Array<number>(size(shape));
  for (let f = 0; f < values.length; f++) values[f] = smallValues[broadcastIndex(unravel(f, shape), small)];
  const base = realise(small, smallValues, dtype, layout.steps, rand);
  const view = expand(base, out);
  base.dispose();
  return { tensor: view, values, shape: out };
}

// ------------------------------------------------------------------------------------------------
// comparisons

export function readValues(t: Tensor): number[] {
  return Array.from(t.dataSync(), Number);
}

/** Same numbers, bit for bit in the sense of Object.is except that any NaN equals any NaN. */
export function sameValue(a: number, b: number): boolean {
  return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
}

/** Throws a readable message at the first element where `ok` fails. */
export function expectAll(actual: ArrayLike<number>, expected: ArrayLike<number>, ok: (a: number, e: number, i: number) => boolean, what = ''): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} vs expected ${expected.length}`);
  for (let i = 0; i < actual.length; i++) {
    if (!ok(actual[i], expected[i], i)) {
      throw new Error(`${what}: element ${i}: got ${actual[i]}, expected ${expected[i]}`);
    }
  }
}

export const exactly = (a: number, e: number): boolean => sameValue(a, e);

/** |a - e| <= rel * |e| + abs, with NaN matching NaN and infinities matching exactly. */
export const close = (rel: number, abs = 0) => (a: number, e: number): boolean => {
  if (Number.isNaN(e)) return Number.isNaN(a);
  if (!Number.isFinite(e)) return a === e;
  return Math.abs(a - e) <= rel * Math.abs(e) + abs;
};

/** Units in the last place of float32 at the magnitude of x. */
export function ulp32(x: number): number {
  const ax = Math.abs(x);
  if (ax < 2 ** -126) return 2 ** -149;
  return 2 ** (Math.floor(Math.log2(ax)) - 23);
}

/** Asserts that `fn` throws a MinnowError with `code` whose message contains every `parts` string. */
export function expectMinnowError(fn: () => unknown, code: string, ...parts: string[]): MinnowError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  if (!(caught instanceof MinnowError)) {
    throw new Error(`expected a MinnowError ${code}, got ${caught === undefined ? 'no error' : String(caught)}`);
  }
  if (caught.code !== code) throw new Error(`expected code ${code}, got ${caught.code}: ${caught.message}`);
  for (const p of parts) {
    if (!caught.message.includes(p)) throw new Error(`message "${caught.message}" does not contain "${p}"`);
  }
  return caught;
}

/**
 * fast-check parameters: always seeded. For a deeper local hunt, MINNOW_FC_SCALE multiplies the
 * run counts and MINNOW_FC_SEED shifts every seed (both stay replayable: the seed is printed on failure).
 */
const env = (globalThis as { process?: { env: Record<string, string | undefined> } }).process?.env ?? {};
const SCALE = Number(env.MINNOW_FC_SCALE ?? 1) || 1;
const SEED_SHIFT = Number(env.MINNOW_FC_SEED ?? 0) || 0;
export const runs = (seed: number, numRuns = 100): fc.Parameters<unknown> => ({ seed: seed + SEED_SHIFT, numRuns: Math.max(1, Math.round(numRuns * SCALE)) });
