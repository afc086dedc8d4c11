import { expect, it } from 'vitest';
import { init, tensor, matmul, softmax, scope, quantize, full, liveTensors } from '@minnow/core';
import { jsBackend } from '@minnow/backend-js';
import { wasmBackend } from '@minnow/backend-wasm';

// The README's "Using the engine" example, kept runnable.
it('the README example runs and frees what it says it frees', async () => {
  const before = liveTensors();
  await init(jsBackend);
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  const y = scope(() => softmax(matmul(x, tensor([[1], [0], [-1]]))));
  expect(y.shape).toEqual([2, 1]);
  expect(Array.from(await y.data())).toEqual([1, 1]);
  const scale = full([], 0.05);
  const q = quantize(x, scale, undefined, 'int8');
  expect(Array.from(q.dataSync())).toEqual([20, 40, 60, 80, 100, 120]);
  for (const t of [x, y, scale, q]) t.dispose();
  expect(liveTensors()).toBe(before);

  await init(wasmBackend);
  const source = tensor([[1, 2], [3, 4]]);
  const w = await source.to('wasm');
  expect(w.backend.name).toBe('wasm');
  expect(w.arraySync()).toEqual([[1, 2], [3, 4]]);
  source.dispose();
  w.dispose();
});
