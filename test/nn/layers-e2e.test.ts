import { beforeAll, describe, expect, it } from 'vitest';
import { Random, fromArray, getBackend, init, liveTensors, noGrad, scope, sub, mul, type Tensor } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import {
  BatchNorm2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, crossEntropy,
} from '@minnow/nn';
import { close, expectAll } from '../helpers/reference.js';

/**
 * A small conv net (Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d -> Flatten -> Linear) built once
 * with seeded init, copied to the WASM backend with Module.to, and trained a few SGD steps on both:
 * outputs, gradients, running statistics and updated weights must agree within float32 tolerance.
 */

function convNet(seed: number): Sequential {
  const rng = new Random(seed);
  return new Sequential(
    new Conv2d(2, 4, 3, { seed: rng, padding: 1 }),
    new BatchNorm2d(4),
    new ReLU(),
    new MaxPool2d(2),
    new Flatten(),
    new Linear(4 * 4 * 4, 3, { seed: rng }),
  );
}

function batch(seed: number, backend: string): { x: Tensor; y: Tensor } {
  const rng = new Random(seed);
  const xs = Float32Array.from({ length: 6 * 2 * 8 * 8 }, () => rng.normal());
  const ys = Int32Array.from({ length: 6 }, (_, i) => i % 3);
  return { x: fromArray(xs, [6, 2, 8, 8], { backend }), y: fromArray(ys, [6], { backend }) };
}

/** One SGD step: forward, loss, backward, p <- p - lr * grad in place. Returns the loss and logits (host copies). */
function step(model: Sequential, backend: string, seed: number, lr: number): { loss: number; logits: number[]; grads: Map<string, number[]> } {
  const { x, y } = batch(seed, backend);
  const logits = scope(() => model.forward(x));
  const loss = scope(() => crossEntropy(logits, y));
  loss.backward();
  const grads = new Map(model.namedParameters().map(([name, p]) => [name, Array.from(p.grad!.dataSync())]));
  noGrad(() => {
    for (const p of model.parameters()) scope(() => p.assign(sub(p, mul(p.grad!, lr))));
  });
  model.zeroGrad();
  const out = { loss: loss.itemSync(), logits: Array.from(logits.dataSync()), grads };
  for (const t of [x, y, logits, loss]) t.dispose();
  return out;
}

describe('end to end: a small conv net trains identically on js and wasm', () => {
  beforeAll(async () => {
    enableRelaxedSimd();
    await init(wasmBackend);
  });

  it('forward, backward, running statistics and SGD updates match; nothing leaks on either backend', async () => {
    const tensorsBefore = liveTensors();
    const wasmBuffersBefore = getBackend('wasm').memory().buffers;
    const jsBuffersBefore = getBackend('js').memory().buffers;
    const onJs = convNet(7);
    const onWasm = await convNet(7).to('wasm');
    expect(onWasm.parameters().every((p) => p.backend.name === 'wasm')).toBe(true);
    const tolerance = close(2e-4, 2e-5);
    const losses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const a = step(onJs, 'js', 100 + (i % 2), 0.1);
      const b = step(onWasm, 'wasm', 100 + (i % 2), 0.1);
      expectAll(b.logits, a.logits, tolerance, `logits, step ${i}`);
      expect(b.loss).toBeCloseTo(a.loss, 4);
      expect([...b.grads.keys()]).toEqual([...a.grads.keys()]);
      for (const [name, g] of a.grads) {
        expect(g.every(Number.isFinite)).toBe(true);
        expectAll(b.grads.get(name)!, g, close(1e-3, 1e-5), `gradient of ${name}, step ${i}`);
      }
      losses.push(a.loss);
    }
    // Two alternating batches seen twice: the second pass over each has a lower loss.
    expect(losses[2]).toBeLessThan(losses[0]);
    expect(losses[3]).toBeLessThan(losses[1]);
    const jsState = onJs.stateDict();
    const wasmState = onWasm.stateDict();
    for (const [name, t] of jsState) expectAll(Array.from(wasmState.get(name)!.dataSync()), Array.from(t.dataSync()), close(1e-3, 1e-5), `state ${name}`);
    expect(Array.from(jsState.get('1.num_batches_tracked')!.dataSync())).toEqual([4]);

    // Eval mode (running statistics) agrees too.
    onJs.eval();
    onWasm.eval();
    const a = batch(5, 'js');
    const b = batch(5, 'wasm');
    const ya = onJs.forward(a.x);
    const yb = onWasm.forward(b.x);
    expectAll(Array.from(yb.dataSync()), Array.from(ya.dataSync()), tolerance, 'eval logits');
    for (const t of [a.x, a.y, b.x, b.y, ya, yb]) t.dispose();
    onJs.dispose();
    onWasm.dispose();
    expect(liveTensors()).toBe(tensorsBefore);
    expect(getBackend('wasm').memory().buffers).toBe(wasmBuffersBefore);
    expect(getBackend('js').memory().buffers).toBe(jsBuffersBefore);
  });
});
