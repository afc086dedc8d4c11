import { describe, expect } from 'vitest';
import fc from 'fast-check';
import {
  add, broadcastShapes, equal, less, maximum, minimum, mul, scope, sub, where, type DType, type Tensor,
} from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import {
  arbLayout, arbShape, broadcastIndex, expectAll, exactly, makeInput, readValues, refBroadcastShape, rng, randInt, runs, size,
  storeAs, unravel, expectMinnowError, type Layout,
} from '../helpers/reference.js';

const seed = fc.integer({ min: 0, max: 2 ** 31 - 1 });

/** An output shape and operand shapes that broadcast to it (suffixes, some dims replaced by 1). */
const arbBroadcastShapes = (count: number): fc.Arbitrary<{ out: number[]; inputs: number[][] }> =>
  fc.tuple(arbShape(0, 4, 5), seed).map(([out, s]) => {
    const rand = rng(s);
    const inputs = Array.from({ length: count }, () => {
      const rank = randInt(rand, 0, out.length);
      return out.slice(out.length - rank).map((d) => (rand() < 0.4 ? 1 : d));
    });
    // make sure the first operand reaches the full rank sometimes, so out is the real result
    return { out: refBroadcastShape(...inputs) ?? out, inputs };
  });

function refBinary(aShape: number[], a: number[], bShape: number[], b: number[], out: number[], f: (x: number, y: number) => number): number[] {
  const res: number[] = [];
  for (let i = 0; i < size(out); i++) {
    const idx = unravel(i, out);
    res.push(f(a[broadcastIndex(idx, aShape)], b[broadcastIndex(idx, bShape)]));
  }
  return res;
}

const OPS: { name: string; fn: (a: Tensor, b: Tensor) => Tensor; ref: (x: number, y: number) => number; bool?: boolean }[] = [
  { name: 'add', fn: add, ref: (x, y) => x + y },
  { name: 'sub', fn: sub, ref: (x, y) => x - y },
  { name: 'mul', fn: mul, ref: (x, y) => x * y },
  { name: 'maximum', fn: maximum, ref: Math.max },
  { name: 'minimum', fn: minimum, ref: Math.min },
  { name: 'less', fn: less, ref: (x, y) => (x < y ? 1 : 0), bool: true },
  { name: 'equal', fn: equal, ref: (x, y) => (x === y ? 1 : 0), bool: true },
];

describe('broadcasting', () => {
  itNoLeaks('binary ops broadcast like numpy against a scalar-loop reference (all layouts)', () => {
    fc.assert(fc.property(
      arbBroadcastShapes(2), fc.constantFrom(...OPS), fc.constantFrom<DType>('float32', 'float64', 'int32', 'int8', 'uint8'), arbLayout, arbLayout, seed,
      ({ out, inputs: [aShape, bShape] }, op, dtype, la: Layout, lb: Layout, s) => {
        scope(() => {
          // small value range so equal() sees ties
          const gen = (rand: () => number, n: number) => Array.from({ length: n }, () => storeAs(dtype, randInt(rand, -3, 3) * (dtype.startsWith('float') ? 0.5 : 1)));
          const a = makeInput(aShape, dtype, la, s, gen);
          const b = makeInput(bShape, dtype, lb, s + 1, gen);
          const y = op.fn(a.tensor, b.tensor);
          expect([...y.shape]).toEqual(out);
          expect(y.dtype).toBe(op.bool ? 'bool' : dtype);
          const expected = refBinary(aShape, a.values, bShape, b.values, out, op.ref).map((v) => (op.bool ? v : storeAs(dtype, v)));
          expectAll(readValues(y), expected, exactly, `${op.name} ${dtype} ${JSON.stringify(aShape)} ${JSON.stringify(bShape)}`);
        });
      }), runs(201, 200));
  });

  itNoLeaks('where broadcasts condition and both branches', () => {
    fc.assert(fc.property(arbBroadcastShapes(3), arbLayout, arbLayout, arbLayout, seed, ({ out, inputs: [cShape, aShape, bShape] }, lc, la, lb, s) => {
      scope(() => {
        const c = makeInput(cShape, 'bool', lc, s);
        const a = makeInput(aShape, 'float32', la, s + 1);
        const b = makeInput(bShape, 'float32', lb, s + 2);
        const y = where(c.tensor, a.tensor, b.tensor);
        expect([...y.shape]).toEqual(out);
        const expected = Array.from({ length: size(out) }, (_, i) => {
          const idx = unravel(i, out);
          return c.values[broadcastIndex(idx, cShape)] ? a.values[broadcastIndex(idx, aShape)] : b.values[broadcastIndex(idx, bShape)];
        });
        expectAll(readValues(y), expected, exactly, 'where');
      });
    }), runs(202, 150));
  });

  itNoLeaks('broadcastShapes agrees with the reference rule, and throws SHAPE_MISMATCH naming both shapes otherwise', () => {
    fc.assert(fc.property(arbShape(0, 4, 4), arbShape(0, 4, 4), (a, b) => {
      const ref = refBroadcastShape(a, b);
      if (ref) expect(broadcastShapes('add', a, b)).toEqual(ref);
      else expectMinnowError(() => broadcastShapes('add', a, b), 'SHAPE_MISMATCH', 'add', `[${a.join(',')}]`, `[${b.join(',')}]`);
    }), runs(203, 300));
  });

  itNoLeaks('addition is commutative bit for bit, including through broadcasts and views', () => {
    fc.assert(fc.property(arbBroadcastShapes(2), fc.constantFrom<DType>('float32', 'float64', 'int32', 'int8'), arbLayout, arbLayout, seed,
      ({ inputs: [aShape, bShape] }, dtype, la, lb, s) => {
        scope(() => {
          const a = makeInput(aShape, dtype, la, s);
          const b = makeInput(bShape, dtype, lb, s + 1);
          expectAll(readValues(add(a.tensor, b.tensor)), readValues(add(b.tensor, a.tensor)), exactly, 'a+b vs b+a');
          expectAll(readValues(mul(a.tensor, b.tensor)), readValues(mul(b.tensor, a.tensor)), exactly, 'a*b vs b*a');
        });
      }), runs(204, 100));
  });

  itNoLeaks('number operands are scalars in the tensor dtype, on either side', () => {
    scope(() => {
      const x = makeInput([2, 3], 'float32', { expand: false, steps: ['permute'] }, 5);
      expectAll(readValues(sub(1.5, x.tensor)), x.values.map((v) => Math.fround(1.5 - v)), exactly, '1.5 - x');
      expectAll(readValues(mul(x.tensor, 0.1)), x.values.map((v) => Math.fround(v * Math.fround(0.1))), exactly, 'x * 0.1 (0.1 rounded to float32)');
      const i8 = makeInput([4], 'int8', { expand: false, steps: [] }, 6, () => [100, -100, 127, -128]);
      expectAll(readValues(add(i8.tensor, 100)), [-56, 0, -29, -28], exactly, 'int8 + 100 wraps');
    });
  });
});
