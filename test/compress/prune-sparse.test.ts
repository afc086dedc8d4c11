import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import * as m from '@minnow/core';
import { loadWasmBackend } from '@minnow/backend-wasm';
import { Linear, ReLU, Sequential } from '@minnow/nn';
import { DataType, OnnxSession, exportModule, readModel, tensorValues, writeModel, type ModelProto } from '@minnow/onnx';
import {
  bitmaskByteSize, bitmaskDensity, bitmaskToDense, csrByteSize, csrDensity, csrFromMatrix, csrToDense, csrToMatrix, denseToBitmask,
  denseToCsr, SparseLinear, sparsifyLinears, toDenseInitializers, toSparseInitializers,
} from '@minnow/compress';

/**
 * Sparse storage of pruned weights: CSR and bitmask forms round-trip exactly (a zero of either
 * sign comes back as +0), SparseLinear computes what the dense Linear with the zeros does (on js
 * and wasm), and ONNX sparse initialisers make a smaller file that onnxruntime-node and minnow's
 * OnnxSession run with the same outputs.
 */

await m.init({ name: 'wasm', create: () => loadWasmBackend({ build: 'simd', name: 'wasm' }) });
const SEED = 20260807;

/** Sparse-ish float32 data with the awkward values: NaN, infinities, -0, subnormals, the largest float. */
const SPECIAL = [NaN, Infinity, -Infinity, -0, 1e-45, -3.4028234663852886e38, 1];
function sparseData(size: number, density: number, rng: m.Random): Float32Array {
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) {
    const u = rng.uniform();
    if (u < density) out[i] = rng.uniform() < 0.1 ? SPECIAL[Math.floor(rng.uniform() * SPECIAL.length)] : rng.uniform() * 2 - 1;
    else if (u < density + 0.05) out[i] = -0;
  }
  return out;
}

/** Element-for-element identity (Object.is: NaN equals NaN, -0 differs from 0) after turning -0 into +0 in `original`. */
function expectSameValues(got: Float32Array, original: Float32Array): void {
  expect(got.length).toBe(original.length);
  for (let i = 0; i < original.length; i++) {
    const want = Object.is(original[i], -0) ? 0 : original[i];
    if (!Object.is(got[i], want)) throw new Error(`element ${i}: got ${got[i]}, want ${want}`);
  }
}

/** A Linear with all but the largest `keep` fraction of its weights (by magnitude) set to zero. */
function prunedLinear(inFeatures: number, outFeatures: number, keep: number, seed: number, backend = 'js'): Linear {
  const linear = new Linear(inFeatures, outFeatures, { seed, backend });
  const w = linear.weight.dataSync() as Float32Array;
  const threshold = Float32Array.from(w, Math.abs).sort()[Math.floor((1 - keep) * w.length)];
  const pruned = w.map((v) => (Math.abs(v) < threshold ? 0 : v));
  m.noGrad(() => m.scope(() => linear.weight.assign(m.fromArray(pruned, linear.weight.shape, { backend }))));
  return linear;
}

function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, atol: number, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i] - want[i]) <= atol)) throw new Error(`${what}: element ${i} is ${got[i]}, want ${want[i]}`);
}

describe('CSR and bitmask forms', () => {
  it('round-trip exactly, with the sizes and densities their formulas give (random shapes, empty rows, special values)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 17 }), fc.integer({ min: 0, max: 23 }), fc.double({ min: 0, max: 1, noNaN: true }), fc.integer(), (rows, cols, density, seed) => {
        const data = sparseData(rows * cols, density, new m.Random(seed));
        let nnz = 0;
        for (const v of data) if (v !== 0) nnz++;
        const csr = denseToCsr(data, [rows, cols]);
        expect(csr.values.length).toBe(nnz);
        expect(csrByteSize(csr)).toBe(4 * (2 * nnz + rows + 1));
        expect(csrDensity(csr)).toBe(rows * cols === 0 ? 0 : nnz / (rows * cols));
        expectSameValues(csrToDense(csr), data);
        const bits = denseToBitmask(data, [rows, cols]);
        expect(bitmaskByteSize(bits)).toBe(Math.ceil((rows * cols) / 8) + 4 * nnz);
        expect(bitmaskDensity(bits)).toBe(csrDensity(csr));
        expectSameValues(bitmaskToDense(bits), data);
      }),
      { seed: SEED, numRuns: 200 },
    );
  });

  it('a conv weight [O, C, kH, kW] is read as [O, C kH kW]; columns ascend within each row', () => {
    const data = sparseData(4 * 3 * 3 * 3, 0.3, new m.Random(3));
    const csr = denseToCsr(data, [4, 3, 3, 3]);
    expect(csr.shape).toEqual([4, 27]);
    for (let i = 0; i < 4; i++) for (let p = csr.rowPointers[i] + 1; p < csr.rowPointers[i + 1]; p++) expect(csr.colIndices[p]).toBeGreaterThan(csr.colIndices[p - 1]);
    expectSameValues(csrToDense(csr), data);
  });

  it('refuses malformed arrays with INVALID_ARGUMENT naming the fault', () => {
    const good = denseToCsr(Float32Array.of(1, 0, 2, 0, 0, 3), [2, 3]);
    const code = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        return e instanceof m.MinnowError ? `${e.code}: ${e.message}` : String(e);
      }
      return 'none';
    };
    expect(code(() => csrToDense({ ...good, rowPointers: Int32Array.of(0, 3, 2) }))).toMatch(/INVALID_ARGUMENT: .*rowPointers decreases at row 1: 3 then 2/);
    expect(code(() => csrToDense({ ...good, colIndices: Int32Array.of(0, 3, 2) }))).toMatch(/INVALID_ARGUMENT: .*colIndices\[1\] is 3, out of range for 3 columns/);
    expect(code(() => csrToDense({ ...good, values: Float32Array.of(1, 2) }))).toMatch(/INVALID_ARGUMENT: .*colIndices has 3 entries but values has 2/);
    expect(code(() => denseToCsr(new Float32Array(5), [2, 3]))).toMatch(/INVALID_ARGUMENT: denseToCsr: 5 values for shape \[2,3\] \(6 elements\)/);
    expect(code(() => denseToCsr(new Float32Array(3), [3]))).toMatch(/INVALID_SHAPE/);
    const bits = denseToBitmask(Float32Array.of(1, 0, 2), [3]);
    expect(code(() => bitmaskToDense({ ...bits, values: Float32Array.of(1) }))).toMatch(/INVALID_ARGUMENT: .*mask sets 2 bits but there are 1 values/);
    expect(code(() => bitmaskToDense({ ...bits, mask: Uint8Array.of(0b1000_0101) }))).toMatch(/INVALID_ARGUMENT: .*mask sets bits past element 2/);
  });

  it('uploads to a core CsrMatrix and reads back unchanged', async () => {
    const csr = denseToCsr(sparseData(30 * 20, 0.2, new m.Random(9)), [30, 20]);
    const matrix = csrToMatrix(csr, 'wasm');
    const back = await csrFromMatrix(matrix);
    for (const t of [matrix.values, matrix.colIndices, matrix.rowPointers]) t.dispose();
    expect(back.shape).toEqual(csr.shape);
    expect(Array.from(back.rowPointers)).toEqual(Array.from(csr.rowPointers));
    expect(Array.from(back.colIndices)).toEqual(Array.from(csr.colIndices));
    expectSameValues(back.values, csr.values);
  });
});

describe('SparseLinear', () => {
  for (const backend of ['js', 'wasm']) {
    it(`${backend}: equals the dense Linear with the zeros (batch 1, 32, a [2, 3, in] input and a vector), no leaks`, () => {
      const linear = prunedLinear(96, 40, 0.1, 5, backend);
      const sparse = SparseLinear.fromLinear(linear);
      expect(sparse.sparsity).toBeCloseTo(0.9, 2);
      expect(sparse.byteSize()).toBe(4 * (2 * sparse.nnz + 41) + 4 * 40);
      const before = m.liveTensors();
      for (const shape of [[1, 96], [32, 96], [2, 3, 96], [96]]) {
        const [got, want] = m.noGrad(() =>
          m.scope(() => {
            const x = m.randomUniform(shape, { seed: shape.length, low: -1, high: 1, backend });
            const y = sparse.forward(x);
            const z = linear.forward(x);
            expect(y.shape).toEqual(z.shape);
            return [y.dataSync(), z.dataSync()];
          }),
        );
        expectClose(got, want, 1e-5, `${backend} ${JSON.stringify(shape)}`);
      }
      expect(m.liveTensors()).toBe(before);
      sparse.dispose();
      linear.dispose();
    });
  }

  it('trains only its stored weights: the gradient of each equals the dense gradient at its position', () => {
    const linear = prunedLinear(24, 12, 0.25, 7);
    const sparse = SparseLinear.fromLinear(linear);
    const x = m.randomNormal([5, 24], { seed: 2 });
    for (const layer of [linear, sparse]) {
      m.scope(() => m.sum(m.mul(layer.forward(x), layer.forward(x))).backward());
    }
    const dense = linear.weight.grad!.dataSync();
    const { rowPointers, colIndices } = sparse.weightArrays();
    const grads = sparse.weight.values.grad!.dataSync();
    for (let i = 0; i < 12; i++) for (let p = rowPointers[i]; p < rowPointers[i + 1]; p++) expect(grads[p]).toBeCloseTo(dense[i * 24 + colIndices[p]], 4);
    expectClose(sparse.bias!.grad!.dataSync(), linear.bias!.grad!.dataSync(), 1e-4, 'bias grad');
    x.dispose();
    sparse.dispose();
    linear.dispose();
  });

  it('moves between backends with to() and keeps its outputs', async () => {
    const linear = prunedLinear(50, 20, 0.2, 3);
    const sparse = SparseLinear.fromLinear(linear);
    const x = m.randomUniform([4, 50], { seed: 1 });
    const onJs = m.noGrad(() => m.scope(() => sparse.forward(x).dataSync()));
    await sparse.to('wasm');
    const xw = await x.to('wasm');
    const onWasm = m.noGrad(() => m.scope(() => sparse.forward(xw).dataSync()));
    expectClose(onWasm, onJs, 1e-5, 'js vs wasm');
    for (const t of [x, xw]) t.dispose();
    sparse.dispose();
    linear.dispose();
  });

  it('sparsifyLinears converts the sparse layers of an MLP, shares the rest, and gives the same outputs', () => {
    const first = prunedLinear(64, 48, 0.1, 1);
    const last = new Linear(48, 10, { seed: 2 });
    const model = new Sequential(first, new ReLU(), last);
    const { module, layers } = sparsifyLinears(model, { minSparsity: 0.5 });
    expect(layers.map((l) => [l.layer, l.converted])).toEqual([['0', true], ['2', false]]);
    expect(layers[0].bytes).toBeLessThan(layers[0].denseBytes / 3);
    const x = m.randomUniform([8, 64], { seed: 4 });
    const [got, want] = m.noGrad(() => m.scope(() => [module.forward(x).dataSync(), model.forward(x).dataSync()]));
    expectClose(got, want, 1e-5, 'sparsified MLP');
    x.dispose();
    module.dispose();
    model.dispose();
  });
});

describe('ONNX sparse initialisers', () => {
  const input = Float32Array.from({ length: 4 * 128 }, (_, i) => Math.sin(i * 0.37));
  const build = (): { dense: ModelProto; model: Sequential } => {
    const model = new Sequential(prunedLinear(128, 64, 0.1, 11), new ReLU(), prunedLinear(64, 10, 0.1, 12));
    return { dense: exportModule(model, { inputShape: [4, 128] }), model };
  };

  async function runOrt(bytes: Uint8Array, name: string): Promise<Float32Array> {
    const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3, intraOpNumThreads: 1 });
    const out = await session.run({ [name]: new ort.Tensor('float32', input, [4, 128]) });
    const result = out[session.outputNames[0]].data as Float32Array;
    await session.release();
    return result;
  }

  function runMinnow(model: ModelProto, name: string): Float32Array {
    const session = OnnxSession.create(model, { backend: 'wasm' });
    try {
      return m.scope(() => {
        const outputs = session.run({ [name]: m.fromArray(input, [4, 128], { backend: 'wasm' }) });
        return Object.values(outputs)[0].dataSync() as Float32Array;
      });
    } finally {
      session.dispose();
    }
  }

  it('makes a pruned model smaller on disk; onnxruntime-node and OnnxSession give the dense model\'s outputs; converting back restores it', async () => {
    const { dense, model } = build();
    const { model: sparse, initializers } = toSparseInitializers(dense, { minSparsity: 0.8 });
    const converted = initializers.filter((r) => r.converted);
    expect(converted.length).toBe(2);
    for (const r of converted) expect(r.sparsity).toBeGreaterThanOrEqual(0.89);
    // Biases: too few elements (and not sparse).
    expect(initializers.filter((r) => !r.converted).every((r) => /fewer than minElements|below minSparsity/.test(r.reason ?? ''))).toBe(true);

    const denseBytes = writeModel(dense).model;
    const sparseBytes = writeModel(sparse).model;
    // 10% kept at 12 bytes each is 0.3x the dense weights; the biases and graph stay.
    expect(sparseBytes.length).toBeLessThan(0.4 * denseBytes.length);

    const reread = readModel(sparseBytes);
    expect(reread.graph!.sparseInitializer.length).toBe(2);
    for (const s of reread.graph!.sparseInitializer) {
      expect(s.indices!.dataType).toBe(DataType.INT64);
      expect(s.indices!.dims.length).toBe(1);
      const idx = tensorValues(s.indices!) as BigInt64Array;
      for (let i = 1; i < idx.length; i++) expect(idx[i] > idx[i - 1]).toBe(true);
    }

    const name = dense.graph!.input[0].name!;
    const fromDense = await runOrt(denseBytes, name);
    const fromSparse = await runOrt(sparseBytes, name);
    expect(Array.from(fromSparse)).toEqual(Array.from(fromDense));
    expectClose(runMinnow(reread, name), fromDense, 1e-5, 'OnnxSession on the sparse model');

    const restored = toDenseInitializers(reread);
    expect(restored.graph!.sparseInitializer.length).toBe(0);
    for (const t of dense.graph!.initializer) {
      const back = restored.graph!.initializer.find((r) => r.name === t.name);
      expect(back?.dims).toEqual(t.dims);
      expectSameValues(tensorValues(back!) as Float32Array, tensorValues(t) as Float32Array);
    }
    model.dispose();
  });

  it('leaves dense what would grow or is below minSparsity, and refuses a bad minSparsity', () => {
    const { dense, model } = build();
    const { model: same, initializers } = toSparseInitializers(dense, { minSparsity: 0.95 });
    expect(initializers.every((r) => !r.converted)).toBe(true);
    expect(same.graph!.sparseInitializer.length).toBe(0);
    expect(() => toSparseInitializers(dense, { minSparsity: 2 })).toThrow(/minSparsity must lie in \[0, 1\]/);
    // At sparsity 0.5, 12 bytes per stored element would be larger than dense.
    const half = new Sequential(prunedLinear(128, 64, 0.5, 13));
    const { initializers: halfReport } = toSparseInitializers(exportModule(half, { inputShape: [1, 128] }), { minSparsity: 0.4 });
    expect(halfReport.find((r) => r.dims.length === 2)?.reason).toMatch(/would take \d+ bytes against \d+ dense/);
    half.dispose();
    model.dispose();
  });
});
