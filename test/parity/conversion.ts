import fc from 'fast-check';
import * as m from '@minnow/core';
import { applyView, both, castOnHost, shapeArb, values, viewArb } from './arbitraries.js';
import { EXACT, expectClose } from './compare.js';
import type { ParityCase, Settings } from './profile.js';

/**
 * Conversions, all exact: cast among float32, int32, int8, uint8 and bool (truncation, wrap, NaN
 * and infinities, -0), and ONNX QuantizeLinear / DequantizeLinear per tensor, per axis and blocked.
 */

const CAST_DTYPES: readonly m.DType[] = ['float32', 'int32', 'int8', 'uint8', 'bool'];
const SPECIALS = [NaN, Infinity, -Infinity, 3e9, -3e9, 2 ** 31, -(2 ** 31) - 1, 255.9, -128.5, 1e20, -0];

export function castCase(s: Settings): ParityCase | null {
  const dtypes = CAST_DTYPES.filter((d) => s.has(d));
  if (dtypes.length === 0) return null;
  // Beyond int32Limit an int32 is not held exactly: such specials stay out of casts from or to int32.
  const narrowSpecials = SPECIALS.filter((v) => !Number.isFinite(v) || Math.abs(Math.trunc(v)) <= s.int32Limit);
  return {
    name: `cast among ${dtypes.join(', ')} (specials, truncation, wrap, views)`,
    run: () =>
      fc.assert(
        fc.property(shapeArb.chain((sh) => fc.tuple(fc.constant(sh), viewArb(sh.length), fc.integer(), fc.constantFrom(...dtypes), fc.constantFrom(...dtypes))), ([shape, view, seed, from, to]) => {
          const rng = new m.Random(seed);
          const specials = from === 'int32' || to === 'int32' ? narrowSpecials : SPECIALS;
          const raw = Float32Array.from({ length: m.sizeOf(shape) }, (_, i) => (i % 3 === 0 ? specials[rng.int(specials.length)] : (rng.uniform() - 0.5) * 600));
          const data = from === 'float32' ? raw : castOnHost(raw, from);
          const r = both(s.backend, [{ data, shape, dtype: from, view }], ([x]) => m.cast(x, to));
          expectClose(r.got.data, r.expected.data, EXACT, `cast ${from}->${to}`);
        }),
        s.runs(120),
      ),
  };
}

const QUANTIZED_TYPES = ['int8', 'uint8', 'int4', 'uint4'] as const;
const STORAGE = { int8: 'int8', uint8: 'uint8', int4: 'int8', uint4: 'uint8' } as const;
const RANGE = { int8: [-128, 127], uint8: [0, 255], int4: [-8, 7], uint4: [0, 15] } as const;

export function quantizeCase(s: Settings): ParityCase | null {
  const types = QUANTIZED_TYPES.filter((t) => s.has(STORAGE[t]));
  if (!s.has('float32') || types.length === 0) return null;
  const wide = s.has('int32'); // dequantize of int32 input too
  return {
    name: `quantize and dequantize (float32 to ${types.join(', ')}; per tensor, per axis, blocked; views)`,
    run: () =>
      fc.assert(
        fc.property(
          shapeArb.filter((sh) => sh.length > 0).chain((sh) =>
            fc.tuple(fc.constant(sh), viewArb(sh.length), fc.integer(), fc.constantFrom(...types), fc.integer({ min: 0, max: sh.length - 1 }), fc.constantFrom('tensor', 'axis', 'block'), fc.constantFrom(1, 2, 3, 32)),
          ),
          ([shape, view, seed, type, axis, mode, blockSize]) => {
            const rng = new m.Random(seed);
            const storage = STORAGE[type];
            const [qmin, qmax] = RANGE[type];
            const x = values(m.sizeOf(shape), rng, [-20, 20], 'float32');
            // Exact ties and specials exercise round-half-to-even and saturation.
            for (let i = 0; i < x.length; i += 5) x[i] = [0.5, -0.5, 2.5, NaN, Infinity, -Infinity, 1e6][rng.int(7)];
            const result = m.scope(() => {
              const run = (backend: string): m.TypedArray[] => {
                const t = applyView(m.fromArray(x, shape, { backend }), view);
                const d = t.shape[axis];
                const pShape = mode === 'tensor' ? [] : mode === 'axis' ? [d] : t.shape.map((n, i) => (i === axis ? Math.ceil(n / blockSize) : n));
                const count = m.sizeOf(pShape);
                const prng = new m.Random(seed + 1);
                const scale = m.fromArray(Float32Array.from({ length: count }, () => 0.01 + prng.uniform()), pShape, { backend });
                const zero = m.fromArray(m.allocateArray(storage, count).map(() => qmin + prng.int(qmax - qmin + 1)), pShape, { backend, dtype: storage });
                const q = mode === 'tensor' ? {} : mode === 'axis' ? { axis } : { axis, blockSize };
                const quantized = m.quantize(t, scale, zero, type, q);
                const restored = m.dequantize(quantized, scale, zero, q);
                const out = [quantized.dataSync(), restored.dataSync()];
                if (wide) out.push(m.dequantize(m.cast(quantized, 'int32'), scale, m.cast(zero, 'int32'), q).dataSync());
                return out;
              };
              return { expected: run('js'), got: run(s.backend) };
            });
            result.got.forEach((data, i) => expectClose(data, result.expected[i], EXACT, `${['quantize', 'dequantize', 'dequantize int32'][i]} ${type} per ${mode}`));
          },
        ),
        s.runs(150),
      ),
  };
}
