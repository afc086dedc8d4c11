import fc from 'fast-check';
import * as m from '@minnow/core';
import { type Input, layoutArb, realise, shapeArb, values, viewArb, both } from './arbitraries.js';
import { EXACT, expectParity } from './compare.js';
import type { ParityCase, Settings } from './profile.js';

/**
 * Elementwise parity: float32 unary and binary ops (exact where both sides round once, the
 * profile's transcendental tolerance for exp, log, tanh, pow), integer ops on int8, uint8 and
 * int32 (exact: int8/uint8 wrap like typed arrays, int32 stays within the profile's int32Limit),
 * where over every dtype, and bool equality.
 */

type Unary = (x: m.Tensor) => m.Tensor;
type Binary = (a: m.Tensor, b: m.Tensor) => m.Tensor;

const UNARY: { name: string; prim: m.PrimOp; fn: Unary; range: [number, number]; transcendental: boolean }[] = [
  { name: 'neg', prim: 'neg', fn: m.neg, range: [-10, 10], transcendental: false },
  { name: 'abs', prim: 'abs', fn: m.abs, range: [-10, 10], transcendental: false },
  { name: 'sqrt', prim: 'sqrt', fn: m.sqrt, range: [-1, 100], transcendental: false },
  { name: 'floor', prim: 'floor', fn: m.floor, range: [-10, 10], transcendental: false },
  { name: 'round', prim: 'round', fn: m.round, range: [-10, 10], transcendental: false },
  { name: 'reciprocal', prim: 'reciprocal', fn: m.reciprocal, range: [-10, 10], transcendental: false },
  { name: 'sign', prim: 'sign', fn: m.sign, range: [-3, 3], transcendental: false },
  { name: 'exp', prim: 'exp', fn: m.exp, range: [-80, 80], transcendental: true },
  { name: 'log', prim: 'log', fn: m.log, range: [-1, 1000], transcendental: true },
  { name: 'tanh', prim: 'tanh', fn: m.tanh, range: [-10, 10], transcendental: true },
];

/** `grid` rounds float data to halves so that comparisons meet ties. */
const BINARY: { name: string; prim: m.PrimOp; fn: Binary; range: [number, number]; transcendental: boolean; grid: boolean }[] = [
  { name: 'add', prim: 'add', fn: m.add, range: [-10, 10], transcendental: false, grid: false },
  { name: 'sub', prim: 'sub', fn: m.sub, range: [-10, 10], transcendental: false, grid: false },
  { name: 'mul', prim: 'mul', fn: m.mul, range: [-10, 10], transcendental: false, grid: false },
  { name: 'div', prim: 'div', fn: m.div, range: [-10, 10], transcendental: false, grid: false },
  { name: 'maximum', prim: 'max', fn: m.maximum, range: [-10, 10], transcendental: false, grid: false },
  { name: 'minimum', prim: 'min', fn: m.minimum, range: [-10, 10], transcendental: false, grid: false },
  { name: 'pow', prim: 'pow', fn: m.pow, range: [0.1, 4], transcendental: true, grid: false },
  { name: 'less', prim: 'cmplt', fn: m.less, range: [-2, 2], transcendental: false, grid: true },
  { name: 'equal', prim: 'cmpeq', fn: m.equal, range: [-2, 2], transcendental: false, grid: true },
];

const INTEGER_DTYPES = ['int8', 'uint8', 'int32'] as const;
type IntegerDType = (typeof INTEGER_DTYPES)[number];

/** Comparisons produce bool: they need a backend that holds bool. */
const isComparison = (name: string): boolean => name === 'less' || name === 'equal';

/**
 * The range of integer test data for `op`: int8 and uint8 use their whole range (results wrap);
 * int32 stays within int32Limit for results too (halves for add/sub, square root for mul), or
 * spans the whole int32 range, wrapping, when the backend holds every int32 exactly.
 */
function integerRange(dtype: IntegerDType, op: string, limit: number): [number, number] {
  if (isComparison(op)) return dtype === 'uint8' ? [0, 4] : [-3, 3];
  if (dtype === 'int8') return [-128, 127];
  if (dtype === 'uint8') return [0, 255];
  if (!Number.isFinite(limit)) return [-(2 ** 31), 2 ** 31 - 1];
  const bound = op === 'add' || op === 'sub' ? Math.floor(limit / 2) : op === 'mul' ? Math.floor(Math.sqrt(limit)) : limit;
  return [-bound, bound];
}

/** Integer data: a quarter from the ends of the range and 0, +-1; the rest uniform. Never 0 for div. */
function integerValues(n: number, rng: m.Random, range: [number, number], dtype: IntegerDType, nonZero: boolean): m.TypedArray {
  const out = values(n, rng, range, dtype);
  const edges = [range[0], range[1], 0, 1, -1].filter((v) => v >= range[0] && v <= range[1]);
  for (let i = 0; i < n; i++) {
    if (rng.uniform() < 0.25) out[i] = edges[rng.int(edges.length)];
    if (nonZero && out[i] === 0) out[i] = 1;
  }
  return out;
}

const gridded = (data: m.TypedArray): m.TypedArray => data.map((v) => Math.round(v * 2) / 2);

/** Operands of a broadcasting binary op: a has `shape`; b drops a leading dim and sets some dims to 1; either may come first. */
const binaryShapesArb = fc.record({
  shape: shapeArb,
  ones: fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }),
  dropLead: fc.boolean(),
  swap: fc.boolean(),
  aLayout: layoutArb,
  bLayout: layoutArb,
  seed: fc.integer(),
});

type BinaryShapes = typeof binaryShapesArb extends fc.Arbitrary<infer T> ? T : never;

/** Inputs for a binary op: the data of each operand is drawn for its base shape (what its layout views). */
function binaryInputs(p: BinaryShapes, dtype: m.DType, draw: (n: number, rng: m.Random) => m.TypedArray): Input[] {
  const rng = new m.Random(p.seed);
  const bShape = p.shape.map((d, i) => (p.ones[i] ? 1 : d)).slice(p.dropLead ? 1 : 0);
  const a = realise(p.shape, p.aLayout);
  const b = realise(bShape, p.bLayout);
  const inputs: Input[] = [
    { data: draw(m.sizeOf(a.base), rng), shape: a.base, dtype, view: a.view },
    { data: draw(m.sizeOf(b.base), rng), shape: b.base, dtype, view: b.view },
  ];
  return p.swap ? inputs.reverse() : inputs;
}

function unaryCase(s: Settings, name: string, dtype: m.DType, fn: Unary, draw: (n: number, rng: m.Random) => m.TypedArray, rtol: number, runs: number): ParityCase {
  return {
    name: `unary ${name} (${dtype}, random shapes and views)`,
    run: () =>
      fc.assert(
        fc.property(shapeArb.chain((sh) => fc.tuple(fc.constant(sh), viewArb(sh.length), fc.integer())), ([shape, view, seed]) => {
          const data = draw(m.sizeOf(shape), new m.Random(seed));
          const r = both(s.backend, [{ data, shape, dtype, view }], ([x]) => fn(x));
          expectParity(r.got, r.expected, { rtol, atol: 0 }, `${name} ${dtype}`);
        }),
        s.runs(runs),
      ),
  };
}

function binaryCase(s: Settings, name: string, dtype: m.DType, fn: Binary, draw: (n: number, rng: m.Random) => m.TypedArray, rtol: number, runs: number): ParityCase {
  return {
    name: `binary ${name} (${dtype}, broadcasting, views)`,
    run: () =>
      fc.assert(
        fc.property(binaryShapesArb, (p) => {
          const r = both(s.backend, binaryInputs(p, dtype, draw), ([a, b]) => fn(a, b));
          expectParity(r.got, r.expected, { rtol, atol: 0 }, `${name} ${dtype}`);
        }),
        s.runs(runs),
      ),
  };
}

export function elementwiseCases(s: Settings): ParityCase[] {
  const cases: ParityCase[] = [];
  if (s.has('float32')) {
    for (const u of UNARY) {
      cases.push(unaryCase(s, u.name, 'float32', u.fn, (n, rng) => values(n, rng, u.range, 'float32'), u.transcendental ? s.transcendentalRtol : 0, 60));
    }
    for (const b of BINARY) {
      if (isComparison(b.name) && !s.has('bool')) continue;
      const draw = (n: number, rng: m.Random): m.TypedArray => (b.grid ? gridded(values(n, rng, b.range, 'float32')) : values(n, rng, b.range, 'float32'));
      cases.push(binaryCase(s, b.name, 'float32', b.fn, draw, b.transcendental ? s.transcendentalRtol : 0, 60));
    }
  }
  for (const dtype of INTEGER_DTYPES.filter((d) => s.has(d))) {
    for (const u of UNARY.filter((u) => !u.transcendental && m.PRIMITIVES[u.prim].dtypes.includes(dtype))) {
      const range = integerRange(dtype, u.name, s.int32Limit);
      cases.push(unaryCase(s, u.name, dtype, u.fn, (n, rng) => integerValues(n, rng, range, dtype, false), 0, 30));
    }
    for (const b of BINARY.filter((b) => m.PRIMITIVES[b.prim].dtypes.includes(dtype))) {
      const range = integerRange(dtype, b.name, s.int32Limit);
      if (isComparison(b.name) && !s.has('bool')) continue;
      cases.push(binaryCase(s, b.name, dtype, b.fn, (n, rng) => integerValues(n, rng, range, dtype, b.name === 'div'), 0, 30));
    }
  }
  if (s.has('bool')) {
    cases.push(binaryCase(s, 'equal', 'bool', m.equal, (n, rng) => values(n, rng, [0, 1], 'bool'), 0, 30));
    for (const dtype of s.dtypes) cases.push(whereCase(s, dtype));
  }
  return cases;
}

/** where(cond, a, b): cond broadcast over a reversed view of a, b broadcast or a scalar. */
function whereCase(s: Settings, dtype: m.DType): ParityCase {
  const range: [number, number] = dtype === 'bool' ? [0, 1] : dtype === 'uint8' ? [0, 255] : dtype === 'int8' ? [-128, 127] : [-5, 5];
  return {
    name: `where (${dtype}, broadcast condition)`,
    run: () =>
      fc.assert(
        fc.property(shapeArb, fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.boolean(), fc.integer(), ([...shape], ones, scalarB, seed) => {
          const rng = new m.Random(seed);
          const condShape = shape.map((d, i) => (ones[i] ? 1 : d));
          const cond = values(m.sizeOf(condShape), rng, [0, 1], 'bool');
          const a = values(m.sizeOf(shape), rng, range, dtype);
          const bShape = scalarB ? [] : shape.map((d, i) => (ones[(i + 1) % 4] ? 1 : d));
          const b = values(m.sizeOf(bShape), rng, range, dtype);
          const r = both(
            s.backend,
            [{ data: cond, shape: condShape, dtype: 'bool' }, { data: a, shape, dtype, view: realise(shape, 'reversed').view }, { data: b, shape: bShape, dtype }],
            ([c, x, y]) => m.where(c, x, y),
          );
          expectParity(r.got, r.expected, EXACT, `where ${dtype}`);
        }),
        s.runs(dtype === 'float32' ? 50 : 20),
      ),
  };
}

