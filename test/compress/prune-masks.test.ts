import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, fromArray, getBackend, init, liveTensors, scope } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { BatchNorm1d, Conv2d, Flatten, Linear, ReLU, Sequential } from '@minnow/nn';
import { computeMasks, prunableParameters, pruneModule, PruningMasks } from '@minnow/compress';
import { expectMinnowError, runs } from '../helpers/reference.js';

/**
 * PruningMasks on nn Modules: which parameters are pruned (types, include, exclude), masks that
 * match the criterion exactly per layer and globally, N:M on Linear and Conv weights, combining
 * and iterative pruning that only removes more, the sparsity report, and the wasm backend.
 */

beforeAll(async () => {
  await init(wasmBackend);
});

/** Conv(2->4, 3x3) -> ReLU -> Flatten -> Linear(4*4*4 -> 16) -> BatchNorm1d -> ReLU -> Linear(16 -> 8). */
function net(seed: number): Sequential {
  const r = new Random(seed);
  return new Sequential(
    new Conv2d(2, 4, 3, { seed: r, padding: 1 }), new ReLU(), new Flatten(),
    new Linear(4 * 4 * 4, 16, { seed: r }), new BatchNorm1d(16), new ReLU(), new Linear(16, 8, { seed: r }),
  );
}

const values = (model: Sequential, name: string): Float32Array => Float32Array.from(new Map(model.namedParameters()).get(name)!.dataSync() as Float32Array);
const ones = (m: Uint8Array): number => m.reduce((a, v) => a + v, 0);
/** Python's round(): halves to even. */
const pythonRound = (x: number): number => {
  const f = Math.floor(x);
  return x - f === 0.5 ? (f % 2 === 0 ? f : f + 1) : Math.round(x);
};

describe('which parameters', () => {
  it('by default the weights of Linear and Conv2d, not biases or batch norm', () => {
    const model = net(1);
    expect(prunableParameters('t', model).map(([n]) => n)).toEqual(['0.weight', '3.weight', '6.weight']);
    expect(prunableParameters('t', model, { types: [Linear] }).map(([n]) => n)).toEqual(['3.weight', '6.weight']);
    expect(prunableParameters('t', model, { exclude: ['6'] }).map(([n]) => n)).toEqual(['0.weight', '3.weight']);
    expect(prunableParameters('t', model, { include: ['3', '0.bias'] }).map(([n]) => n)).toEqual(['0.bias', '3.weight']);
    expect(prunableParameters('t', model, { include: [''], exclude: ['0.weight'] }).map(([n]) => n)).toEqual(['3.weight', '6.weight']);
    expectMinnowError(() => prunableParameters('prune', model, { include: ['7'] }), 'INVALID_ARGUMENT', 'include', '"7"');
    expectMinnowError(() => prunableParameters('prune', model, { exclude: ['3.wieght'] }), 'INVALID_ARGUMENT', 'exclude', '"3.wieght"');
    expectMinnowError(() => pruneModule(model, { sparsity: 0.5, include: ['4'] }), 'INVALID_ARGUMENT', 'no parameter is selected');
    model.dispose();
  });
});

describe('pruneModule', () => {
  it('per layer: each weight loses exactly round(s n), the smallest by |w| (ties to the lower index); kept weights keep their values', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 1000 }), fc.double({ min: 0, max: 0.99, noNaN: true }), (seed, s) => {
      const model = net(seed);
      const before = new Map(model.namedParameters().map(([n, p]) => [n, Float32Array.from(p.dataSync() as Float32Array)]));
      const masks = pruneModule(model, { sparsity: s });
      for (const name of masks.names) {
        const w = before.get(name)!;
        const after = values(model, name);
        const mask = masks.mask(name)!;
        expect(mask.length - ones(mask)).toBe(pythonRound(s * w.length));
        // Kept = the largest |w|: the smallest kept is at least the largest pruned.
        let minKept = Infinity;
        let maxPruned = -Infinity;
        mask.forEach((k, i) => {
          if (k) {
            minKept = Math.min(minKept, Math.abs(w[i]));
            expect(after[i]).toBe(w[i]);
          } else {
            maxPruned = Math.max(maxPruned, Math.abs(w[i]));
            expect(after[i]).toBe(0);
          }
        });
        expect(minKept).toBeGreaterThanOrEqual(maxPruned);
      }
      // Biases and batch norm untouched.
      for (const name of ['0.bias', '3.bias', '4.weight', '4.bias', '6.bias']) expect(values(model, name)).toEqual(before.get(name));
      masks.dispose();
      model.dispose();
    }), runs(21, 30));
  });

  it('global: one threshold over the chosen layers; the report counts what the weights hold', () => {
    const model = net(2);
    const all = ['0.weight', '3.weight', '6.weight'].flatMap((n) => Array.from(values(model, n), Math.abs));
    const masks = pruneModule(model, { sparsity: 0.8, global: true });
    const total = all.length;
    const report = masks.report();
    expect(report.pruned.params).toBe(total);
    expect(report.pruned.zeros).toBe(Math.round(0.8 * total));
    const threshold = [...all].sort((a, b) => a - b)[Math.round(0.8 * total)];
    for (const row of report.layers) {
      const w = values(model, row.name);
      expect(row.params).toBe(w.length);
      expect(row.pruned).toBe(row.zeros);
      expect(row.zeros).toBe(w.filter((v) => v === 0).length);
      expect(row.sparsity).toBe(row.zeros / row.params);
    }
    // Every surviving weight is at least the threshold; the layers end at different sparsities.
    for (const name of masks.names) values(model, name).forEach((v) => v !== 0 && expect(Math.abs(v)).toBeGreaterThanOrEqual(threshold));
    expect(new Set(report.layers.map((r) => r.sparsity)).size).toBeGreaterThan(1);
    expect(report.model.params).toBe(model.parameterCount());
    expect(report.model.zeros).toBeGreaterThanOrEqual(report.pruned.zeros);
    masks.dispose();
    model.dispose();
  });

  it('N:M: 2:4 along the input axis of Linear rows and Conv input channels', () => {
    const r = new Random(5);
    const model = new Sequential(new Conv2d(4, 3, 3, { seed: r }), new Flatten(), new Linear(12, 8, { seed: r }));
    const masks = pruneModule(model, { nm: { n: 2, m: 4 } });
    const conv = values(model, '0.weight'); // [3, 4, 3, 3]
    for (let o = 0; o < 3; o++) for (let tap = 0; tap < 9; tap++) {
      expect([0, 1, 2, 3].filter((c) => conv[(o * 4 + c) * 9 + tap] !== 0).length).toBe(2);
    }
    const fc8 = values(model, '2.weight'); // [8, 12]
    for (let o = 0; o < 8; o++) for (let g = 0; g < 12; g += 4) expect([0, 1, 2, 3].filter((j) => fc8[o * 12 + g + j] !== 0).length).toBe(2);
    expect(masks.report().pruned.sparsity).toBe(0.5);
    masks.dispose();
    const odd = new Sequential(new Linear(6, 4, { seed: 1 }));
    expectMinnowError(() => pruneModule(odd, { nm: { n: 2, m: 4 } }), 'INVALID_ARGUMENT', "'0.weight'", 'multiple of 4');
    expectMinnowError(() => pruneModule(odd, { nm: { n: 4, m: 4 } }), 'INVALID_ARGUMENT', '4:4');
    expectMinnowError(() => pruneModule(odd, { nm: { n: 2, m: 4 }, sparsity: 0.5 }), 'INVALID_ARGUMENT', 'not both');
    expectMinnowError(() => pruneModule(odd, { nm: { n: 2, m: 4 }, global: true }), 'INVALID_ARGUMENT', 'global');
    expectMinnowError(() => pruneModule(odd, { sparsity: 1 }), 'INVALID_ARGUMENT', 'sparsity', '[0, 1)');
    expectMinnowError(() => pruneModule(odd, { sparsity: -0.2 }), 'INVALID_ARGUMENT', 'sparsity');
    expectMinnowError(() => pruneModule(odd, {}), 'INVALID_ARGUMENT', 'sparsity');
    model.dispose();
    odd.dispose();
  });

  it('iterative: a later round with `previous` only prunes more, whatever the criterion ranks; combine is the AND', () => {
    const model = net(3);
    const first = pruneModule(model, { sparsity: 0.5 });
    // Random scores rank differently from magnitude: nothing pruned by the first round comes back.
    const second = pruneModule(model, { sparsity: 0.7, criterion: { kind: 'random', seed: 9 }, previous: first });
    for (const name of first.names) {
      const a = first.mask(name)!;
      const b = second.mask(name)!;
      b.forEach((v, i) => v && expect(a[i]).toBe(1));
      expect(b.length - ones(b)).toBe(pythonRound(0.7 * b.length));
    }
    const only = computeMasks(model, { sparsity: 0.5, criterion: { kind: 'random', seed: 1 }, include: ['6'] });
    const both = second.combine(only);
    expect(both.names).toEqual(second.names);
    for (const name of both.names) {
      const expected = second.mask(name)!.map((v, i) => v & (only.mask(name)?.[i] ?? 1));
      expect(Array.from(both.mask(name)!)).toEqual(Array.from(expected));
    }
    const other = net(4);
    expectMinnowError(() => second.combine(new PruningMasks(other, new Map())), 'INVALID_ARGUMENT', 'same model');
    expectMinnowError(() => computeMasks(other, { sparsity: 0.5, previous: first }), 'INVALID_ARGUMENT', 'previous');
    for (const m of [first, second, only, both]) m.dispose();
    model.dispose();
    other.dispose();
  });

  it('PruningMasks checks names and sizes', () => {
    const model = net(5);
    expectMinnowError(() => new PruningMasks(model, new Map([['9.weight', new Uint8Array(3)]])), 'INVALID_ARGUMENT', "'9.weight'");
    expectMinnowError(() => new PruningMasks(model, new Map([['6.weight', new Uint8Array(3)]])), 'SHAPE_MISMATCH', "'6.weight'", '[8,16]', '128');
    model.dispose();
  });
});

describe('masks on the wasm backend', () => {
  it('apply, gradient masking and the report work on wasm, upload each mask once, and leak nothing after dispose', async () => {
    const model = await net(6).to('wasm');
    const tensors = liveTensors();
    const buffers = getBackend('wasm').memory().buffers;
    const masks = pruneModule(model, { sparsity: 0.6 });
    const uploaded = liveTensors() - tensors;
    expect(uploaded).toBe(3);
    // Gradients of pruned weights are zeroed, live ones untouched.
    scope(() => {
      const x = fromArray(Float32Array.from({ length: 2 * 2 * 4 * 4 }, (_, i) => Math.sin(i)), [2, 2, 4, 4], { backend: 'wasm' });
      const y = model.forward(x);
      y.backward(fromArray(new Float32Array(y.size).fill(1), y.shape, { backend: 'wasm' }));
    });
    const params = new Map(model.namedParameters());
    const grads = new Map(masks.names.map((n) => [n, Float32Array.from(params.get(n)!.grad!.dataSync() as Float32Array)]));
    masks.maskGradients();
    expect(liveTensors() - tensors).toBe(uploaded + model.parameters().filter((p) => p.grad).length);
    for (const name of masks.names) {
      const g = params.get(name)!.grad!.dataSync();
      const mask = masks.mask(name)!;
      mask.forEach((k, i) => expect(g[i]).toBe(k ? grads.get(name)![i] : 0));
      expect(mask.length - ones(mask)).toBe(pythonRound(0.6 * mask.length));
      expect(masks.report().layers.find((r) => r.name === name)!.zeros).toBe(mask.length - ones(mask));
    }
    model.zeroGrad();
    masks.dispose();
    expect(liveTensors()).toBe(tensors);
    expect(getBackend('wasm').memory().buffers).toBe(buffers);
    model.dispose();
  });
});
