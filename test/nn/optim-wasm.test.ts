import { beforeAll, describe, expect, it } from 'vitest';
import { Random, getBackend, init, liveTensors, matmul, scope, square, sub, sum, tensor, type Tensor } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import { Adam, AdamW, SGD, clipGradNorm, type AdamOptions, type Optimizer, type SGDOptions } from '@minnow/nn';

/**
 * The optimisers are composed from core ops, so they run on every backend: the same steps on the
 * wasm backend as on the js reference agree within float32 tolerance, and leak nothing there.
 */

beforeAll(async () => {
  enableRelaxedSimd();
  await init(wasmBackend);
});

type Make = (params: Tensor[]) => Optimizer<SGDOptions> | Optimizer<AdamOptions>;

/** Three steps of `make` on a small least-squares problem on `backend`, with gradient clipping; the final parameter values. */
function train(backend: string, make: Make): { w: number[]; norms: number[] } {
  const r = new Random(3);
  const values = (n: number): number[] => Array.from({ length: n }, () => 2 * r.uniform() - 1);
  const w = tensor(values(12), [4, 3], { backend, requiresGrad: true });
  const x = tensor(values(15), [3, 5], { backend });
  const y = tensor(values(20), [4, 5], { backend });
  const opt = make([w]);
  const norms: number[] = [];
  for (let t = 0; t < 3; t++) {
    scope(() => sum(square(sub(matmul(w, x), y))).backward());
    norms.push(clipGradNorm([w], 2));
    opt.step();
    opt.zeroGrad();
  }
  const out = Array.from(w.dataSync());
  opt.dispose();
  for (const t of [w, x, y]) t.dispose();
  return { w: out, norms };
}

describe('optimisers on the wasm backend', () => {
  const cases: [string, Make][] = [
    ['SGD nesterov + weight decay', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 0.01 })],
    ['Adam amsgrad', (ps) => new Adam(ps, { lr: 0.05, amsgrad: true })],
    ['AdamW', (ps) => new AdamW(ps, { lr: 0.05 })],
  ];
  for (const [name, make] of cases) {
    it(`${name}: the same steps as on js within float32 tolerance, no leaks`, () => {
      expect(getBackend('wasm').name).toBe('wasm');
      const reference = train('js', make);
      const tensorsBefore = liveTensors();
      const buffersBefore = getBackend('wasm').memory().buffers;
      const wasm = train('wasm', make);
      expect(liveTensors()).toBe(tensorsBefore);
      expect(getBackend('wasm').memory().buffers).toBe(buffersBefore);
      wasm.norms.forEach((n, i) => expect(Math.abs(n - reference.norms[i])).toBeLessThanOrEqual(1e-5 * Math.abs(reference.norms[i])));
      wasm.w.forEach((v, i) => expect(Math.abs(v - reference.w[i])).toBeLessThanOrEqual(1e-5 + 1e-5 * Math.abs(reference.w[i])));
    });
  }
});
