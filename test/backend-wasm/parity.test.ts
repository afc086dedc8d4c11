import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as m from '@minnow/core';
import { type Tensor, liveTensors, scope } from '@minnow/core';
import { WASM_BUILDS, initWasmBuilds } from './wasm-setup.js';

/**
 * Every primitive on both WASM builds against backend-js, on random shapes (empty, size 1, odd
 * sizes that miss the SIMD width) and non-contiguous views. Tolerances: exact where both sides
 * round once (+ - * / sqrt, comparisons, moves, integers); a few ulps for transcendental functions
 * (AssemblyScript's Mathf vs JS Math); accumulation-length bounds for reductions and products.
 */

const backends = await initWasmBuilds();
const SEED = 20261127;

type ViewOp = { kind: 'none' } | { kind: 'permute'; axes: number[] } | { kind: 'slice'; starts: number[]; steps: number[] } | { kind: 'expand'; dim: number; size: number };

/** A random shape (rank 0..4, dims 0..9) and a view transform applied to a base tensor. */
const shapeArb = fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 0, maxLength: 4 });
const viewArb = (rank: number): fc.Arbitrary<ViewOp> =>
  rank === 0
    ? fc.constant({ kind: 'none' } as ViewOp)
    : fc.oneof(
        fc.constant({ kind: 'none' } as ViewOp),
        fc.shuffledSubarray([...Array(rank).keys()], { minLength: rank, maxLength: rank }).map((axes) => ({ kind: 'permute', axes }) as ViewOp),
        fc.tuple(fc.array(fc.integer({ min: 0, max: 2 }), { minLength: rank, maxLength: rank }), fc.array(fc.constantFrom(1, 2, -1), { minLength: rank, maxLength: rank }))
          .map(([starts, steps]) => ({ kind: 'slice', starts, steps }) as ViewOp),
        fc.tuple(fc.integer({ min: 0, max: rank - 1 }), fc.integer({ min: 0, max: 5 })).map(([dim, size]) => ({ kind: 'expand', dim, size }) as ViewOp),
      );

/** The shape a base tensor must have so that `view` produces a tensor of `shape`. */
function applyView(t: Tensor, view: ViewOp): Tensor {
  switch (view.kind) {
    case 'none':
      return m.reshape(t, t.shape);
    case 'permute':
      return m.permute(t, view.axes);
    case 'slice':
      return m.slice(
        t,
        t.shape.map((d, i) => (view.steps[i] > 0 ? Math.min(view.starts[i], d) : d === 0 ? 0 : d - 1 - Math.min(view.starts[i], d - 1))),
        t.shape.map(() => null),
        view.steps,
      );
    case 'expand': {
      if (t.shape[view.dim] !== 1) return m.reshape(t, t.shape);
      const shape = [...t.shape];
      shape[view.dim] = view.size;
      return m.expand(t, shape);
    }
  }
}

function values(n: number, rng: m.Random, range: [number, number], dtype: m.DType): m.TypedArray {
  const out = m.allocateArray(dtype, n);
  for (let i = 0; i < n; i++) {
    const v = range[0] + (range[1] - range[0]) * rng.uniform();
    out[i] = dtype === 'float32' || dtype === 'float64' ? v : Math.round(v);
  }
  return out;
}

/** Host values converted the way a typed-array store converts them (the cast reference). */
function castOnJs(values: Float32Array, dtype: m.DType): m.TypedArray {
  const out = m.allocateArray(dtype, values.length);
  for (let i = 0; i < values.length; i++) out[i] = dtype === 'bool' ? (values[i] !== 0 ? 1 : 0) : Math.trunc(values[i]);
  return out;
}

/** Compares element by element: |a - b| <= atol + rtol * |a|, NaN matching NaN. */
function expectClose(actual: m.TypedArray, expected: m.TypedArray, rtol: number, atol: number, what: string): void {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const e = expected[i];
    if (Number.isNaN(e)) {
      expect(Number.isNaN(a), `${what}[${i}]: expected NaN, got ${a}`).toBe(true);
      continue;
    }
    if (a === e) continue;
    if (Math.abs(a - e) > atol + rtol * Math.abs(e)) {
      throw new Error(`${what}[${i}]: got ${a}, expected ${e} (rtol ${rtol}, atol ${atol})`);
    }
  }
}

/** Runs `op` on js and on the wasm build over the same (viewed) inputs; returns both results' data. */
function both(backend: string, inputs: readonly { data: m.TypedArray; shape: number[]; dtype: m.DType; view?: ViewOp }[], op: (ts: Tensor[]) => Tensor) {
  return scope(() => {
    const run = (name: string) => {
      const ts = inputs.map((i) => applyView(m.fromArray(i.data, i.shape, { dtype: i.dtype, backend: name }), i.view ?? { kind: 'none' }));
      const out = op(ts);
      return { data: out.dataSync(), shape: out.shape, dtype: out.dtype };
    };
    return { js: run('js'), wasm: run(backend) };
  });
}

const UNARY: { name: string; fn: (t: Tensor) => Tensor; range: [number, number]; rtol: number }[] = [
  { name: 'neg', fn: m.neg, range: [-10, 10], rtol: 0 },
  { name: 'abs', fn: m.abs, range: [-10, 10], rtol: 0 },
  { name: 'sqrt', fn: m.sqrt, range: [-1, 100], rtol: 0 },
  { name: 'floor', fn: m.floor, range: [-10, 10], rtol: 0 },
  { name: 'round', fn: m.round, range: [-10, 10], rtol: 0 },
  { name: 'reciprocal', fn: m.reciprocal, range: [-10, 10], rtol: 0 },
  { name: 'sign', fn: m.sign, range: [-3, 3], rtol: 0 },
  { name: 'exp', fn: m.exp, range: [-80, 80], rtol: 2 ** -21 },
  { name: 'log', fn: m.log, range: [-1, 1000], rtol: 2 ** -21 },
  { name: 'tanh', fn: m.tanh, range: [-10, 10], rtol: 2 ** -21 },
];

const BINARY: { name: string; fn: (a: Tensor, b: Tensor) => Tensor; range: [number, number]; rtol: number }[] = [
  { name: 'add', fn: m.add, range: [-10, 10], rtol: 0 },
  { name: 'sub', fn: m.sub, range: [-10, 10], rtol: 0 },
  { name: 'mul', fn: m.mul, range: [-10, 10], rtol: 0 },
  { name: 'div', fn: m.div, range: [-10, 10], rtol: 0 },
  { name: 'maximum', fn: m.maximum, range: [-10, 10], rtol: 0 },
  { name: 'minimum', fn: m.minimum, range: [-10, 10], rtol: 0 },
  { name: 'pow', fn: m.pow, range: [0.1, 4], rtol: 2 ** -20 },
  { name: 'less', fn: m.less, range: [-2, 2], rtol: 0 },
  { name: 'equal', fn: m.equal, range: [-2, 2], rtol: 0 },
];

describe.each(WASM_BUILDS)('wasm %s build against backend-js', (build) => {
  const name = `wasm-${build}`;

  it('reports its build honestly', () => {
    const info = backends[build].info();
    expect(info.mode).toBe(build === 'simd' ? 'simd128' : 'relaxed-simd');
  });

  it.each(UNARY)('$name (float32, random shapes and views)', ({ fn, range, rtol }) => {
    const before = liveTensors();
    fc.assert(
      fc.property(shapeArb.chain((s) => fc.tuple(fc.constant(s), viewArb(s.length), fc.integer())), ([shape, view, seed]) => {
        const data = values(m.sizeOf(shape), new m.Random(seed), range, 'float32');
        const r = both(name, [{ data, shape, dtype: 'float32', view }], ([x]) => fn(x));
        expect(r.wasm.shape).toEqual(r.js.shape);
        expectClose(r.wasm.data, r.js.data, rtol, 0, 'unary');
      }),
      { seed: SEED, numRuns: 60 },
    );
    expect(liveTensors()).toBe(before);
  });

  it.each(BINARY)('$name (float32, broadcasting, views)', ({ fn, range, rtol }) => {
    fc.assert(
      fc.property(shapeArb, fc.array(fc.boolean(), { minLength: 4, maxLength: 4 }), fc.integer(), fc.boolean(), ([...shape], ones, seed, swap) => {
        // b broadcasts over a: some dims set to 1, possibly fewer leading dims.
        const bShape = shape.map((d, i) => (ones[i] ? 1 : d)).slice(swap ? 1 : 0);
        const rng = new m.Random(seed);
        const a = values(m.sizeOf(shape), rng, range, 'float32');
        const b = values(m.sizeOf(bShape), rng, range, 'float32');
        const r = both(name, [{ data: a, shape, dtype: 'float32', view: shape.length > 1 ? { kind: 'permute', axes: [...shape.keys()].reverse() } : undefined }, { data: b, shape: bShape, dtype: 'float32' }], ([x, y]) =>
          fn(m.permute(x, [...x.shape.keys()].reverse()), y.rank === x.rank ? y : y),
        );
        expectClose(r.wasm.data, r.js.data, rtol, 0, 'binary');
      }),
      { seed: SEED, numRuns: 60 },
    );
  });

  it('where (float32, broadcast condition)', () => {
    fc.assert(
      fc.property(shapeArb, fc.integer(), ([...shape], seed) => {
        const rng = new m.Random(seed);
        const cond = values(m.sizeOf(shape), rng, [0, 1], 'bool');
        const a = values(m.sizeOf(shape), rng, [-5, 5], 'float32');
        const r = both(name, [{ data: cond, shape, dtype: 'bool' }, { data: a, shape, dtype: 'float32', view: { kind: 'slice', starts: shape.map(() => 0), steps: shape.map(() => -1) } }], ([c, x]) => m.where(c, x, 7));
        expectClose(r.wasm.data, r.js.data, 0, 0, 'where');
      }),
      { seed: SEED, numRuns: 50 },
    );
  });

  it.each([['sum', m.sum], ['max', m.max]] as const)('%s over random axes (float32, views)', (op, fn) => {
    fc.assert(
      fc.property(shapeArb.filter((s) => s.length > 0).chain((s) => fc.tuple(fc.constant(s), viewArb(s.length), fc.subarray([...s.keys()]), fc.integer())), ([shape, view, axes, seed]) => {
        const data = values(m.sizeOf(shape), new m.Random(seed), [-10, 10], 'float32');
        const r = scope(() => {
          const probe = applyView(m.fromArray(data, shape, { backend: 'js' }), view);
          const empty = axes.some((a) => probe.shape[a] === 0);
          return { empty };
        });
        if (op === 'max' && r.empty) return; // max over an empty dim is an error on every backend
        const out = both(name, [{ data, shape, dtype: 'float32', view }], ([x]) => fn(x, { axes }));
        const n = Math.max(1, axes.reduce((p, a) => p * (shape[a] ?? 1), 1));
        expectClose(out.wasm.data, out.js.data, op === 'sum' ? n * 2 ** -23 : 0, op === 'sum' ? n * 10 * 2 ** -23 : 0, op);
      }),
      { seed: SEED, numRuns: 80 },
    );
  });

  it('cast between float32, int32, int8, uint8 and bool (wrap, truncation, NaN, views)', () => {
    const dtypes: m.DType[] = ['float32', 'int32', 'int8', 'uint8', 'bool'];
    const specials = [NaN, Infinity, -Infinity, 3e9, -3e9, 2 ** 31, -(2 ** 31) - 1, 255.9, -128.5, 1e20, -0];
    fc.assert(
      fc.property(shapeArb.chain((s) => fc.tuple(fc.constant(s), viewArb(s.length), fc.integer(), fc.constantFrom(...dtypes), fc.constantFrom(...dtypes))), ([shape, view, seed, from, to]) => {
        const rng = new m.Random(seed);
        const n = m.sizeOf(shape);
        const raw = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 ? specials[rng.int(specials.length)] : (rng.uniform() - 0.5) * 600));
        const data = from === 'float32' ? raw : castOnJs(raw, from);
        const r = both(name, [{ data, shape, dtype: from, view }], ([x]) => m.cast(x, to));
        expectClose(r.wasm.data, r.js.data, 0, 0, `cast ${from}->${to}`);
      }),
      { seed: SEED, numRuns: 120 },
    );
  });

  it('quantize and dequantize: per tensor, per axis, blocked; int8/uint8/int4/uint4; views', () => {
    const types = ['int8', 'uint8', 'int4', 'uint4'] as const;
    fc.assert(
      fc.property(
        shapeArb.filter((s) => s.length > 0).chain((s) => fc.tuple(fc.constant(s), viewArb(s.length), fc.integer(), fc.constantFrom(...types), fc.integer({ min: 0, max: s.length - 1 }), fc.constantFrom('tensor', 'axis', 'block'), fc.constantFrom(1, 2, 3, 32))),
        ([shape, view, seed, type, axis, mode, blockSize]) => {
          const rng = new m.Random(seed);
          const storage = type === 'int8' || type === 'int4' ? 'int8' : 'uint8';
          const [qmin, qmax] = { int8: [-128, 127], uint8: [0, 255], int4: [-8, 7], uint4: [0, 15] }[type];
          const x = values(m.sizeOf(shape), rng, [-20, 20], 'float32');
          // Exact ties and specials exercise round-half-to-even and saturation.
          for (let i = 0; i < x.length; i += 5) x[i] = [0.5, -0.5, 2.5, NaN, Infinity, -Infinity, 1e6][rng.int(7)];
          const result = scope(() => {
            const run = (backend: string) => {
              const t = applyView(m.fromArray(x, shape, { backend }), view);
              const d = t.shape[axis];
              const pShape = mode === 'tensor' ? [] : mode === 'axis' ? [d] : t.shape.map((n, i) => (i === axis ? Math.ceil(n / blockSize) : n));
              const count = m.sizeOf(pShape);
              const prng = new m.Random(seed + 1);
              const scale = m.fromArray(Float32Array.from({ length: count }, () => 0.01 + prng.uniform()), pShape, { backend });
              const zero = m.fromArray(m.allocateArray(storage, count).map(() => qmin + prng.int(qmax - qmin + 1)), pShape, { backend, dtype: storage });
              const q = mode === 'tensor' ? { } : mode === 'axis' ? { axis } : { axis, blockSize };
              const quantized = m.quantize(t, scale, zero, type, q);
              const restored = m.dequantize(quantized, scale, zero, q);
              const wide = m.dequantize(m.cast(quantized, 'int32'), scale, m.cast(zero, 'int32'), q);
              return [quantized.dataSync(), restored.dataSync(), wide.dataSync()];
            };
            return { js: run('js'), wasm: run(name) };
          });
          result.wasm.forEach((data, i) => expectClose(data, result.js[i], 0, 0, ['quantize', 'dequantize', 'dequantize int32'][i]));
        },
      ),
      { seed: SEED, numRuns: 150 },
    );
  });

  it('matmul: batched, broadcast batch, transposed operands (float32)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 70 }),
        fc.constantFrom([], [2], [3, 1]), fc.boolean(), fc.boolean(), fc.integer(),
        (mm, n, k, batch, transA, transB, seed) => {
          const rng = new m.Random(seed);
          const aShape = [...batch, ...(transA ? [k, mm] : [mm, k])];
          const bShape = [...batch.slice(1), ...(transB ? [n, k] : [k, n])];
          const r = both(name, [
            { data: values(m.sizeOf(aShape), rng, [-1, 1], 'float32'), shape: aShape, dtype: 'float32' },
            { data: values(m.sizeOf(bShape), rng, [-1, 1], 'float32'), shape: bShape, dtype: 'float32' },
          ], ([a, b]) => m.matmul(transA ? m.transpose(a) : a, transB ? m.transpose(b) : b));
          // Both sides sum k products of values in [-1, 1]: float32 accumulation error is at most k * 2^-24 per term.
          expectClose(r.wasm.data, r.js.data, 0, Math.max(1, k) * 2 ** -22, 'matmul');
        },
      ),
      { seed: SEED, numRuns: 80 },
    );
  });

  it('matmul at a size that crosses the cache blocks (300 x 300 x 300)', () => {
    const rng = new m.Random(9);
    const n = 300;
    const r = both(name, [
      { data: values(n * n, rng, [-1, 1], 'float32'), shape: [n, n], dtype: 'float32' },
      { data: values(n * n, rng, [-1, 1], 'float32'), shape: [n, n], dtype: 'float32', view: { kind: 'permute', axes: [1, 0] } },
    ], ([a, b]) => m.matmul(a, b));
    expectClose(r.wasm.data, r.js.data, 0, n * 2 ** -22, 'matmul 300');
  });

  it('matmulInteger: int8/uint8 mixes, per-tensor/row/column zero points, batched (exact)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 33 }), fc.integer({ min: 0, max: 33 }), fc.integer({ min: 0, max: 90 }),
        fc.constantFrom('int8', 'uint8'), fc.constantFrom('int8', 'uint8'), fc.boolean(), fc.boolean(), fc.boolean(), fc.integer(),
        (mm, n, k, aType, bType, perRow, perCol, batched, seed) => {
          const rng = new m.Random(seed);
          const range = (t: string): [number, number] => (t === 'int8' ? [-128, 127] : [0, 255]);
          const aShape = batched ? [2, mm, k] : [mm, k];
          const r = both(name, [
            { data: values(m.sizeOf(aShape), rng, range(aType), aType as m.DType), shape: aShape, dtype: aType as m.DType },
            { data: values(k * n, rng, range(bType), bType as m.DType), shape: [k, n], dtype: bType as m.DType },
            { data: values(perRow ? mm : 1, rng, range(aType), aType as m.DType), shape: perRow ? [mm] : [], dtype: aType as m.DType },
            { data: values(perCol ? n : 1, rng, range(bType), bType as m.DType), shape: perCol ? [n] : [], dtype: bType as m.DType },
          ], ([a, b, za, zb]) => m.matmulInteger(a, b, za, zb));
          expectClose(r.wasm.data, r.js.data, 0, 0, 'matmulInteger');
        },
      ),
      { seed: SEED, numRuns: 80 },
    );
  });

  it('conv2d: groups, stride, dilation, asymmetric padding, non-contiguous input (float32)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }), fc.constantFrom(1, 2, 3), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }),
        fc.constantFrom(1, 2), fc.constantFrom(1, 2), fc.tuple(fc.nat(2), fc.nat(2), fc.nat(2), fc.nat(2)), fc.boolean(), fc.integer(),
        (batch, groups, cPer, oPer, h, w, kh, kw, stride, dilation, pads, permuted, seed) => {
          const c = groups * cPer;
          const o = groups * oPer;
          if (h + pads[0] + pads[2] < dilation * (kh - 1) + 1 || w + pads[1] + pads[3] < dilation * (kw - 1) + 1) return;
          const rng = new m.Random(seed);
          const xShape = permuted ? [batch, h, w, c] : [batch, c, h, w];
          const r = both(name, [
            { data: values(m.sizeOf(xShape), rng, [-1, 1], 'float32'), shape: xShape, dtype: 'float32' },
            { data: values(o * cPer * kh * kw, rng, [-1, 1], 'float32'), shape: [o, cPer, kh, kw], dtype: 'float32' },
          ], ([x, wt]) => m.conv2d(permuted ? m.permute(x, [0, 3, 1, 2]) : x, wt, { groups, stride, dilation, padding: pads }));
          expectClose(r.wasm.data, r.js.data, 0, cPer * kh * kw * 2 ** -22, 'conv2d');
        },
      ),
      { seed: SEED, numRuns: 100 },
    );
  });

  const columnCases: [number[], number[]][] = [[[37, 45], [0]], [[5, 7, 13], [0]], [[4, 3, 6, 10], [0, 1]], [[2, 9, 5], [0]], [[64, 3], [0]]];
  it.each(columnCases)(
    'column reductions (reduced axes outside a contiguous kept axis): %j over %j',
    (shape, axes) => {
      const data = values(m.sizeOf(shape), new m.Random(5), [-10, 10], 'float32');
      data[7] = NaN; // max propagates NaN down its column
      for (const [op, fn] of [['sum', m.sum], ['max', m.max]] as const) {
        const r = both(name, [{ data, shape: [...shape], dtype: 'float32' }], ([x]) => fn(x, { axes: [...axes] }));
        const n = axes.reduce((p: number, a) => p * shape[a], 1);
        expectClose(r.wasm.data, r.js.data, op === 'sum' ? n * 2 ** -23 : 0, op === 'sum' ? n * 10 * 2 ** -23 : 0, `${op} columns`);
      }
    },
  );

  it('gather and pad on wide rows (the row-copy paths), every dtype, negative indices and pads', () => {
    const dtypes: m.DType[] = ['float32', 'float64', 'int32', 'int8', 'uint8', 'bool'];
    fc.assert(
      fc.property(
        fc.constantFrom(...dtypes), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 16, max: 90 }),
        fc.integer({ min: 0, max: 1 }), fc.tuple(fc.integer({ min: -1, max: 2 }), fc.integer({ min: -1, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 })),
        fc.constantFrom(0, -0, 3), fc.integer(),
        (dtype, a, b, width, axis, pads, value, seed) => {
          const rng = new m.Random(seed);
          const shape = [a, b, width];
          const data = values(m.sizeOf(shape), rng, dtype === 'bool' ? [0, 1] : [-100, 100], dtype);
          const dim = shape[axis];
          const idx = Int32Array.from({ length: 5 }, () => rng.int(2 * dim) - dim);
          // Negative pads crop; keep the crop within the first dim.
          const first: [number, number] = a + Math.min(0, pads[0]) + Math.min(0, pads[1]) >= 0 ? [pads[0], pads[1]] : [0, 0];
          const padSpec: [number, number][] = [first, [pads[2], 0], [pads[3], 1]];
          const r = both(name, [{ data, shape, dtype }, { data: idx, shape: [5], dtype: 'int32' }], ([x, i]) =>
            m.concat([m.reshape(m.gather(x, i, axis), [-1]), m.reshape(m.pad(x, padSpec, dtype === 'bool' ? 0 : value), [-1])], 0),
          );
          expectClose(r.wasm.data, r.js.data, 0, 0, 'gather/pad');
        },
      ),
      { seed: SEED, numRuns: 80 },
    );
  });

  it('gather on the row-copy path rejects an out-of-range index with OUT_OF_RANGE naming it, leaking nothing', () => {
    const before = backends[build].memory();
    scope(() => {
      const x = m.zeros([4, 32], { backend: name });
      let error: unknown;
      try {
        m.gather(x, m.tensor([1, 4], { dtype: 'int32', backend: name }), 0);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(m.MinnowError);
      expect((error as m.MinnowError).code).toBe('OUT_OF_RANGE');
      expect((error as m.MinnowError).message).toMatch(/index 4 at position 1 .* size 4/);
    });
    expect(backends[build].memory()).toEqual(before);
  });

  it('sum of a long contiguous row accumulates within n*eps', () => {
    const n = 100_003;
    const data = values(n, new m.Random(3), [0, 1], 'float32');
    const r = both(name, [{ data, shape: [n], dtype: 'float32' }], ([x]) => m.sum(x));
    expectClose(r.wasm.data, r.js.data, 2 ** -12, 0, 'long sum');
  });

  it('ops without a native kernel run the reference on linear memory (int32, float64, casts, pad, gather)', () => {
    fc.assert(
      fc.property(shapeArb.filter((s) => s.length > 0 && s[0] > 0), fc.integer(), ([...shape], seed) => {
        const rng = new m.Random(seed);
        const i32 = values(m.sizeOf(shape), rng, [-1000, 1000], 'int32');
        const f64 = values(m.sizeOf(shape), rng, [-5, 5], 'float64');
        const idx = Int32Array.from({ length: 3 }, () => rng.int(shape[0] * 2) - shape[0]);
        const r = both(name, [{ data: i32, shape, dtype: 'int32' }, { data: f64, shape, dtype: 'float64' }, { data: idx, shape: [3], dtype: 'int32' }], ([a, b, i]) =>
          m.concat([m.cast(m.mul(a, a), 'float64'), m.exp(b), m.pad(b, b.shape.map(() => [1, 0] as [number, number])).rank === b.rank ? m.cast(m.gather(a, i, 0), 'float64') : b].map((t) => m.reshape(t, [-1])), 0),
        );
        expectClose(r.wasm.data, r.js.data, 0, 0, 'fallback');
      }),
      { seed: SEED, numRuns: 40 },
    );
  });

  it('frees what it allocates', () => {
    const backend = backends[build];
    const before = backend.memory();
    scope(() => {
      const x = m.randomNormal([64, 33], { seed: 1, backend: name });
      m.softmax(m.add(x, 1)).dataSync();
    });
    expect(backend.memory()).toEqual(before);
  });
});
