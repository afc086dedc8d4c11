import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  DTYPES, MinnowError, abs, add, cast, div, equal, exp, floor, fromArray, less, log, maximum, minimum, mul, neg, pow,
  reciprocal, round, roundHalfToEven, scope, sign, sqrt, sub, tanh, tensor, where, type DType, type Tensor,
} from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import {
  arbLayout, arbShape, close, expectAll, exactly, expectMinnowError, makeInput, readValues, randInt, runs, sameValue,
  storeAs, ulp32, wrapInt,
} from '../helpers/reference.js';

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });
const SPECIALS = [0, -0, 1, -1, 0.5, -0.5, 1.5, -2.5, NaN, Infinity, -Infinity, 1e-40, -1e-40, 3.4e38, 88.5, -104, 1e-7];

/** Floats spanning many binades, with specials mixed in. */
function floatGen(dtype: 'float32' | 'float64', opts: { specials?: boolean; maxExp?: number } = {}) {
  const maxExp = opts.maxExp ?? 6;
  return (rand: () => number, n: number): number[] => Array.from({ length: n }, () => {
    if (opts.specials !== false && rand() < 0.15) return storeAs(dtype, SPECIALS[randInt(rand, 0, SPECIALS.length - 1)]);
    const v = (rand() < 0.5 ? -1 : 1) * (1 + rand()) * 2 ** randInt(rand, -maxExp, maxExp);
    return storeAs(dtype, v);
  });
}

/** Tolerance on a float result: exact ops compare bit for bit; transcendental ones within a few ulps. */
function tolerance(dtype: DType, ulps: number) {
  if (ulps === 0) return exactly;
  if (dtype === 'float64') return (a: number, e: number) => close(4 * 2 ** -52)(a, e) || sameValue(a, e);
  return (a: number, e: number) => sameValue(a, e) || (Number.isFinite(e) && Math.abs(a - e) <= ulps * ulp32(e));
}

interface UnarySpec { name: string; fn: (x: Tensor) => Tensor; ref: (x: number) => number; ulps: number; ints?: boolean }

const roundRef = (x: number): number => {
  // independent of the engine: nearest integer, ties to the even neighbour, sign of zero kept
  if (!Number.isFinite(x)) return x;
  const r = Math.round(x); // ties toward +inf
  const tie = Math.abs(x % 1) === 0.5;
  const even = tie && r % 2 !== 0 ? r - 1 : r;
  return even === 0 ? (x < 0 || Object.is(x, -0) ? -0 : 0) : even;
};

const UNARY: UnarySpec[] = [
  { name: 'neg', fn: neg, ref: (x) => -x, ulps: 0, ints: true },
  { name: 'exp', fn: exp, ref: Math.exp, ulps: 1 },
  { name: 'log', fn: log, ref: Math.log, ulps: 1 },
  { name: 'sqrt', fn: sqrt, ref: Math.sqrt, ulps: 0 },
  { name: 'reciprocal', fn: reciprocal, ref: (x) => 1 / x, ulps: 0 },
  { name: 'tanh', fn: tanh, ref: Math.tanh, ulps: 1 },
  { name: 'abs', fn: abs, ref: Math.abs, ulps: 0, ints: true },
  { name: 'sign', fn: sign, ref: Math.sign, ulps: 0, ints: true },
  { name: 'floor', fn: floor, ref: Math.floor, ulps: 0 },
  // round's sign of zero is checked separately (see the it.fails test below); here compare values
  { name: 'round', fn: round, ref: (x) => roundRef(x), ulps: 0 },
];

describe('unary primitives', () => {
  for (const op of UNARY) {
    itNoLeaks(`${op.name} on floats (all layouts, empty and odd shapes, specials) vs a float64 reference`, () => {
      fc.assert(fc.property(arbShape(0, 4, 5), fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), arbLayout, seed, (shape, dtype, layout, s) => {
        scope(() => {
          const x = makeInput(shape, dtype, layout, s, floatGen(dtype));
          const y = op.fn(x.tensor);
          expect(y.dtype).toBe(dtype);
          expect([...y.shape]).toEqual(shape);
          const ok = tolerance(dtype, op.ulps);
          const cmp = op.name === 'round' ? (a: number, e: number) => ok(a, e) || (a === 0 && e === 0) : ok;
          expectAll(readValues(y), x.values.map((v) => storeAs(dtype, op.ref(v))), cmp, `${op.name} ${dtype}`);
        });
      }), runs(300 + op.name.length, 80));
    });
    if (op.ints) {
      itNoLeaks(`${op.name} on integer dtypes is exact and wraps`, () => {
        fc.assert(fc.property(arbShape(0, 3, 5), fc.constantFrom<DType>('int32', 'int8', 'uint8'), arbLayout, seed, (shape, dtype, layout, s) => {
          if (op.name === 'neg' && dtype === 'uint8') return; // neg is for signed dtypes only
          scope(() => {
            const x = makeInput(shape, dtype, layout, s);
            expectAll(readValues(op.fn(x.tensor)), x.values.map((v) => storeAs(dtype, op.ref(v))), exactly, `${op.name} ${dtype}`);
          });
        }), runs(320 + op.name.length, 60));
      });
    }
  }

  itNoLeaks('abs(int8 -128) stays -128 and neg(int32 min) stays int32 min (two\'s complement)', () => {
    scope(() => {
      expect(Array.from(abs(tensor([-128, 127, -1], { dtype: 'int8' })).dataSync())).toEqual([-128, 127, 1]);
      expect(Array.from(neg(tensor([-(2 ** 31)], { dtype: 'int32' })).dataSync())).toEqual([-(2 ** 31)]);
    });
  });

  itNoLeaks('sign keeps NaN and the sign of zero', () => {
    scope(() => {
      const y = readValues(sign(tensor([NaN, -0, 0, -3, 7e-45], { dtype: 'float32' })));
      expect(Number.isNaN(y[0])).toBe(true);
      expect(Object.is(y[1], -0)).toBe(true);
      expect(Object.is(y[2], 0)).toBe(true);
      expect(y.slice(3)).toEqual([-1, 1]);
    });
  });

  itNoLeaks('round is half to even: 0.5->0, 1.5->2, 2.5->2, 3.5->4, -1.5->-2, -2.5->-2', () => {
    scope(() => {
      for (const dtype of ['float32', 'float64'] as const) {
        const x = tensor([0.5, 1.5, 2.5, 3.5, -1.5, -2.5, 2.4999998, 2.5000003, 2 ** 60, -7, 0.49999997], { dtype });
        expect(readValues(round(x))).toEqual([0, 2, 2, 4, -2, -2, 2, 3, 2 ** 60, -7, 0]);
      }
      expect(readValues(round(tensor([4503599627370495.5], { dtype: 'float64' })))).toEqual([4503599627370496]);
    });
  });

  // BUG: round(-0.5) gives +0, not -0 (numeric.ts roundHalfToEven: floor(-0.5) = -1 is odd, so it
  // returns -1 + 1 = +0; likewise round(-0.3) gives +0). The issue asks for -0.5 -> -0, like numpy.
  it('round keeps the sign of zero: round(-0.5) and round(-0.3) are -0', () => {
    scope(() => {
      const y = readValues(round(tensor([-0.5, -0.3], { dtype: 'float64' })));
      expect(Object.is(y[0], -0)).toBe(true);
      expect(Object.is(y[1], -0)).toBe(true);
    });
  });

  itNoLeaks('roundHalfToEven agrees with the independent reference on random halves and near-halves', () => {
    fc.assert(fc.property(fc.integer({ min: -1e6, max: 1e6 }), fc.constantFrom(0, 0.5, 0.25, 0.75, 0.5 - 2 ** -30, 0.5 + 2 ** -30), (i, frac) => {
      const x = i + frac;
      const got = roundHalfToEven(x);
      const want = roundRef(x);
      expect(got === want || (got === 0 && want === 0)).toBe(true);
    }), runs(340, 300));
  });

  itNoLeaks('float-only ops refuse integer dtypes with UNSUPPORTED_DTYPE naming the op', () => {
    scope(() => {
      const i = tensor([1, 2], { dtype: 'int32' });
      for (const [name, fn] of [['exp', exp], ['log', log], ['sqrt', sqrt], ['reciprocal', reciprocal], ['tanh', tanh], ['floor', floor], ['round', round]] as const) {
        expectMinnowError(() => fn(i), 'UNSUPPORTED_DTYPE', name, 'int32');
      }
      expectMinnowError(() => neg(tensor([1], { dtype: 'uint8' })), 'UNSUPPORTED_DTYPE', 'neg', 'uint8');
      expectMinnowError(() => abs(tensor([true])), 'UNSUPPORTED_DTYPE', 'abs', 'bool');
    });
  });
});

interface BinarySpec { name: string; fn: (a: Tensor, b: Tensor) => Tensor; ref: (a: number, b: number) => number; ulps: number; ints: boolean; bool?: boolean }

const BINARY: BinarySpec[] = [
  { name: 'add', fn: add, ref: (a, b) => a + b, ulps: 0, ints: true },
  { name: 'sub', fn: sub, ref: (a, b) => a - b, ulps: 0, ints: true },
  { name: 'mul', fn: mul, ref: (a, b) => a * b, ulps: 0, ints: true },
  { name: 'div', fn: div, ref: (a, b) => a / b, ulps: 0, ints: true },
  { name: 'maximum', fn: maximum, ref: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.max(a, b)), ulps: 0, ints: true },
  { name: 'minimum', fn: minimum, ref: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : Math.min(a, b)), ulps: 0, ints: true },
  { name: 'pow', fn: pow, ref: Math.pow, ulps: 2, ints: false },
  { name: 'less', fn: less, ref: (a, b) => (a < b ? 1 : 0), ulps: 0, ints: true, bool: true },
  { name: 'equal', fn: equal, ref: (a, b) => (a === b ? 1 : 0), ulps: 0, ints: true, bool: true },
];

/** Integer reference semantics: exact result, then two's-complement wrap; div truncates toward zero. */
function intRef(op: string, dtype: DType, a: number, b: number): number {
  const bits = dtype === 'int32' ? 32 : 8;
  const signed = dtype !== 'uint8';
  switch (op) {
    case 'mul': return dtype === 'int32' ? Math.imul(a, b) : wrapInt(a * b, bits, signed);
    case 'div': return wrapInt(Math.trunc(a / b), bits, signed);
    case 'less': return a < b ? 1 : 0;
    case 'equal': return a === b ? 1 : 0;
    case 'maximum': return Math.max(a, b);
    case 'minimum': return Math.min(a, b);
    case 'add': return wrapInt(a + b, bits, signed);
    case 'sub': return wrapInt(a - b, bits, signed);
    default: throw new Error(op);
  }
}

describe('binary primitives', () => {
  for (const op of BINARY) {
    itNoLeaks(`${op.name} on floats (layouts, specials) vs a float64 reference`, () => {
      fc.assert(fc.property(arbShape(0, 3, 5), fc.constantFrom<'float32' | 'float64'>('float32', 'float64'), arbLayout, arbLayout, seed,
        (shape, dtype, la, lb, s) => {
          scope(() => {
            const gen = floatGen(dtype, { maxExp: op.name === 'pow' ? 2 : 8 });
            const a = makeInput(shape, dtype, la, s, gen);
            const b = makeInput(shape, dtype, lb, s + 1, gen);
            const y = op.fn(a.tensor, b.tensor);
            expect(y.dtype).toBe(op.bool ? 'bool' : dtype);
            const expected = a.values.map((v, i) => (op.bool ? op.ref(v, b.values[i]) : storeAs(dtype, op.ref(v, b.values[i]))));
            expectAll(readValues(y), expected, tolerance(dtype, op.ulps), `${op.name} ${dtype}`);
          });
        }), runs(400 + op.name.length, 80));
    });
    if (op.ints) {
      itNoLeaks(`${op.name} on int32/int8/uint8 is exact with wrap-around`, () => {
        fc.assert(fc.property(arbShape(0, 3, 5), fc.constantFrom<DType>('int32', 'int8', 'uint8'), arbLayout, arbLayout, seed,
          (shape, dtype, la, lb, s) => {
            scope(() => {
              const a = makeInput(shape, dtype, la, s);
              // div: no zero divisors (that is an error, tested below)
              const b = makeInput(shape, dtype, lb, s + 1, op.name === 'div'
                ? (rand, n) => Array.from({ length: n }, () => { const v = makeNonZero(dtype, rand); return v; })
                : undefined);
              const y = op.fn(a.tensor, b.tensor);
              expectAll(readValues(y), a.values.map((v, i) => intRef(op.name, dtype, v, b.values[i])), exactly, `${op.name} ${dtype}`);
            });
          }), runs(420 + op.name.length, 80));
      });
    }
  }

  itNoLeaks('integer wrap-around: int8 127+1 = -128, uint8 0-1 = 255, int32 mul like Math.imul, int32 add wraps', () => {
    scope(() => {
      expect(Array.from(add(tensor([127, -128], { dtype: 'int8' }), tensor([1, -1], { dtype: 'int8' })).dataSync())).toEqual([-128, 127]);
      expect(Array.from(sub(tensor([0], { dtype: 'uint8' }), tensor([1], { dtype: 'uint8' })).dataSync())).toEqual([255]);
      expect(Array.from(mul(tensor([200], { dtype: 'uint8' }), tensor([2], { dtype: 'uint8' })).dataSync())).toEqual([144]);
      const a = [123456789, -(2 ** 31), 2 ** 31 - 1, 65537];
      const b = [987654321, -1, 2 ** 31 - 1, 65537];
      expect(Array.from(mul(tensor(a, { dtype: 'int32' }), tensor(b, { dtype: 'int32' })).dataSync())).toEqual(a.map((v, i) => Math.imul(v, b[i])));
      expect(Array.from(add(tensor([2 ** 31 - 1], { dtype: 'int32' }), tensor([1], { dtype: 'int32' })).dataSync())).toEqual([-(2 ** 31)]);
    });
  });

  itNoLeaks('integer div truncates toward zero: 7/2=3, -7/2=-3, 7/-2=-3, -7/-2=3; int32 min / -1 wraps', () => {
    scope(() => {
      for (const dtype of ['int32', 'int8'] as const) {
        const y = div(tensor([7, -7, 7, -7, 0, 1], { dtype }), tensor([2, 2, -2, -2, 5, -3], { dtype }));
        expect(Array.from(y.dataSync())).toEqual([3, -3, -3, 3, 0, 0]);
      }
      expect(Array.from(div(tensor([-(2 ** 31)], { dtype: 'int32' }), tensor([-1], { dtype: 'int32' })).dataSync())).toEqual([-(2 ** 31)]);
      expect(Array.from(div(tensor([-128], { dtype: 'int8' }), tensor([-1], { dtype: 'int8' })).dataSync())).toEqual([-128]);
      expect(Array.from(div(tensor([255, 7], { dtype: 'uint8' }), tensor([2, 255], { dtype: 'uint8' })).dataSync())).toEqual([127, 0]);
    });
  });

  itNoLeaks('integer division by zero is a MinnowError and leaks nothing; float division by zero is inf/NaN', () => {
    scope(() => {
      const err = expectMinnowError(() => div(tensor([1, 2], { dtype: 'int32' }), tensor([1, 0], { dtype: 'int32' })), 'INVALID_ARGUMENT', 'div');
      expect(err.message).toMatch(/zero/);
      const y = readValues(div(tensor([1, -1, 0]), tensor([0, 0, 0])));
      expect(y[0]).toBe(Infinity);
      expect(y[1]).toBe(-Infinity);
      expect(Number.isNaN(y[2])).toBe(true);
    });
  });

  itNoLeaks('maximum/minimum: NaN wins on either side', () => {
    scope(() => {
      const a = tensor([NaN, 1, NaN, -0]);
      const b = tensor([1, NaN, NaN, 0]);
      expect(readValues(maximum(a, b)).slice(0, 3).every(Number.isNaN)).toBe(true);
      expect(readValues(minimum(a, b)).slice(0, 3).every(Number.isNaN)).toBe(true);
    });
  });

  itNoLeaks('equal works on bool tensors; less is false for NaN', () => {
    scope(() => {
      expect(equal(tensor([true, false, true]), tensor([true, true, false])).arraySync()).toEqual([true, false, false]);
      expect(less(tensor([NaN, 1, NaN]), tensor([1, NaN, NaN])).arraySync()).toEqual([false, false, false]);
      expect(equal(tensor([NaN]), tensor([NaN])).arraySync()).toEqual([false]);
    });
  });

  itNoLeaks('mixed dtypes are DTYPE_MISMATCH naming the op and both dtypes', () => {
    scope(() => {
      const f = tensor([1, 2], { dtype: 'float32' });
      const i = tensor([1, 2], { dtype: 'int32' });
      for (const [name, fn] of [['add', add], ['sub', sub], ['mul', mul], ['div', div], ['max', maximum], ['min', minimum], ['cmplt', less], ['cmpeq', equal]] as const) {
        expectMinnowError(() => fn(f, i), 'DTYPE_MISMATCH', name, 'float32', 'int32');
      }
      expectMinnowError(() => pow(i, i), 'UNSUPPORTED_DTYPE', 'pow', 'int32');
      expectMinnowError(() => add(tensor([true]), tensor([false])), 'UNSUPPORTED_DTYPE', 'add', 'bool');
    });
  });
});

function makeNonZero(dtype: DType, rand: () => number): number {
  const lo = dtype === 'int32' ? -(2 ** 31) : dtype === 'int8' ? -128 : 1;
  const hi = dtype === 'int32' ? 2 ** 31 - 1 : dtype === 'int8' ? 127 : 255;
  // small divisors often, so quotients are not all 0
  const v = rand() < 0.6 ? randInt(rand, 1, 9) * (dtype === 'uint8' || rand() < 0.5 ? 1 : -1) : randInt(rand, lo, hi);
  return v === 0 ? 1 : v;
}

describe('where', () => {
  itNoLeaks('selects per element on every dtype, with non-contiguous operands', () => {
    fc.assert(fc.property(arbShape(0, 3, 5), fc.constantFrom<DType>(...DTYPES), arbLayout, arbLayout, arbLayout, seed, (shape, dtype, lc, la, lb, s) => {
      scope(() => {
        const c = makeInput(shape, 'bool', lc, s);
        const a = makeInput(shape, dtype, la, s + 1);
        const b = makeInput(shape, dtype, lb, s + 2);
        const y = where(c.tensor, a.tensor, b.tensor);
        expect(y.dtype).toBe(dtype);
        expectAll(readValues(y), c.values.map((v, i) => (v ? a.values[i] : b.values[i])), exactly, `where ${dtype}`);
      });
    }), runs(450, 100));
  });

  itNoLeaks('number branches take the tensor branch dtype; the condition must be bool', () => {
    scope(() => {
      const c = tensor([true, false, true]);
      expect(Array.from(where(c, tensor([1, 2, 3], { dtype: 'int8' }), -1).dataSync())).toEqual([1, -1, 3]);
      expect(Array.from(where(c, 0.5, tensor([7, 8, 9])).dataSync())).toEqual([0.5, 8, 0.5]);
      expectMinnowError(() => where(tensor([1, 0]), tensor([1, 2]), tensor([3, 4])), 'UNSUPPORTED_DTYPE', 'where');
      expectMinnowError(() => where(c, tensor([1, 2, 3]), tensor([1, 2, 3], { dtype: 'int32' })), 'DTYPE_MISMATCH', 'where');
    });
  });
});

/** Cast reference, from the op table's contract: float->int truncates then wraps; ->bool is x != 0. */
function castRef(from: DType, to: DType, x: number): number {
  if (to === 'bool') return x !== 0 ? 1 : 0; // NaN != 0 is true
  if (from === to) return x;
  return storeAs(to, x);
}

describe('cast', () => {
  const castGen = (dtype: DType) => (rand: () => number, n: number): number[] => Array.from({ length: n }, () => {
    if (dtype === 'float32' || dtype === 'float64') {
      const pick = rand();
      if (pick < 0.2) return storeAs(dtype, SPECIALS[randInt(rand, 0, SPECIALS.length - 1)]);
      if (pick < 0.5) return storeAs(dtype, (rand() * 2 - 1) * 600); // beyond int8/uint8: wraps
      if (pick < 0.6) return storeAs(dtype, (rand() * 2 - 1) * 2 ** 34); // beyond int32: wraps
      return storeAs(dtype, (rand() * 2 - 1) * 5);
    }
    return storeAs(dtype, randomInt(rand, dtype));
  });

  for (const from of DTYPES) {
    itNoLeaks(`from ${from} to every dtype (layouts, specials, wrap-around)`, () => {
      fc.assert(fc.property(arbShape(0, 3, 5), fc.constantFrom<DType>(...DTYPES), arbLayout, seed, (shape, to, layout, s) => {
        scope(() => {
          const x = makeInput(shape, from, layout, s, castGen(from));
          const y = cast(x.tensor, to);
          expect(y.dtype).toBe(to);
          expect([...y.shape]).toEqual(shape);
          expect(y.storage).not.toBe(x.tensor.storage);
          expectAll(readValues(y), x.values.map((v) => castRef(from, to, v)), exactly, `cast ${from} -> ${to}`);
        });
      }), runs(500 + DTYPES.indexOf(from), 80));
    });
  }

  itNoLeaks('known values: 300.7 -> int8 44, -1.9 -> int32 -1, NaN/inf -> int 0, NaN -> bool true, 1e40 -> float32 inf', () => {
    scope(() => {
      const f64 = tensor([300.7, -1.9, NaN, Infinity, -0.0, 2 ** 32 + 5.5], { dtype: 'float64' });
      expect(Array.from(cast(f64, 'int8').dataSync())).toEqual([44, -1, 0, 0, 0, 5]);
      expect(Array.from(cast(f64, 'int32').dataSync())).toEqual([300, -1, 0, 0, 0, 5]);
      expect(Array.from(cast(f64, 'uint8').dataSync())).toEqual([44, 255, 0, 0, 0, 5]);
      expect(cast(f64, 'bool').arraySync()).toEqual([true, true, true, true, false, true]);
      expect(readValues(cast(tensor([1e40, 1 / 3], { dtype: 'float64' }), 'float32'))).toEqual([Infinity, Math.fround(1 / 3)]);
      expect(Array.from(cast(tensor([-1, 200], { dtype: 'int32' }), 'uint8').dataSync())).toEqual([255, 200]);
      expect(Array.from(cast(tensor([255, 128], { dtype: 'uint8' }), 'int8').dataSync())).toEqual([-1, -128]);
    });
  });

  it('rejects an unknown dtype with UNSUPPORTED_DTYPE', () => {
    const x = tensor([1]);
    try {
      expect(() => cast(x, 'float16' as DType)).toThrow(MinnowError);
      expectMinnowError(() => cast(x, 'float16' as DType), 'UNSUPPORTED_DTYPE', 'cast', 'float16');
    } finally {
      x.dispose();
    }
  });

  itNoLeaks('from a Float64Array through fromArray into int dtypes truncates and wraps like cast', () => {
    scope(() => {
      const src = new Float64Array([1.9, -1.9, 129, -129, 256.5]);
      expect(Array.from(fromArray(src, [5], { dtype: 'int8' }).dataSync())).toEqual([1, -1, -127, 127, 0]);
      expect(Array.from(fromArray(src, [5], { dtype: 'uint8' }).dataSync())).toEqual([1, 255, 129, 127, 0]);
    });
  });
});

function randomInt(rand: () => number, dtype: DType): number {
  switch (dtype) {
    case 'int32': return randInt(rand, -(2 ** 31), 2 ** 31 - 1);
    case 'int8': return randInt(rand, -128, 127);
    case 'uint8': return randInt(rand, 0, 255);
    default: return rand() < 0.5 ? 1 : 0;
  }
}
