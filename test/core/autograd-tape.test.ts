import { describe, expect, it } from 'vitest';
import {
  add, argmax, cast, equal, exp, floor, matmulInteger, quantize, reshape, getBackend, isGradEnabled, less, liveTensors, logSoftmax, matmul, mean, mul, noGrad, randomNormal, round,
  scope, sign, sub, sum, tanh, tensor, zeros, type Tensor,
} from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import { backprop } from '../helpers/gradcheck.js';
import { expectMinnowError } from '../helpers/reference.js';

const buffers = () => getBackend().memory().buffers;
const f64 = { dtype: 'float64', requiresGrad: true } as const;

describe('autograd: requiresGrad', () => {
  itNoLeaks('leaves opt in; recorded results require grad; integer and bool results never do', () => {
    scope(() => {
      const x = tensor([1.5, -2], f64);
      const plain = tensor([1, 2], { dtype: 'float64' });
      expect(x.requiresGrad && x.isLeaf).toBe(true);
      expect(plain.requiresGrad).toBe(false);
      expect(plain.requireGrad()).toBe(plain);
      expect(plain.requiresGrad).toBe(true);
      plain.requireGrad(false);
      const y = mul(x, plain);
      expect(y.requiresGrad).toBe(true);
      expect(y.isLeaf).toBe(false);
      expect(add(plain, 1).requiresGrad).toBe(false);
      const q = quantize(x, tensor(0.1, { dtype: 'float64' }), undefined, 'int8');
      for (const t of [less(x, 0), equal(x, x), argmax(x), cast(x, 'int32'), cast(x, 'bool'), q, matmulInteger(reshape(q, [1, 2]), reshape(q, [2, 1]))]) {
        expect(t.requiresGrad).toBe(false);
      }
      expectMinnowError(() => y.requireGrad(false), 'INVALID_ARGUMENT', 'detach');
      expect(y.requireGrad()).toBe(y);
    });
  });

  itNoLeaks('integer tensors cannot require grad (and the option allocates nothing)', () => {
    const before = buffers();
    expectMinnowError(() => tensor([1, 2], { dtype: 'int32', requiresGrad: true }), 'UNSUPPORTED_DTYPE', 'int32');
    expect(buffers()).toBe(before);
    const b = tensor([true]);
    expectMinnowError(() => b.requireGrad(), 'UNSUPPORTED_DTYPE', 'bool', `#${b.id}`);
    b.dispose();
  });
});

describe('autograd: backward', () => {
  itNoLeaks('gradients accumulate across backward calls; the replaced .grad is disposed; zeroGrad clears', () => {
    const x = tensor([1, 2, 3], f64);
    backprop(() => sum(mul(x, x)));
    const first = x.grad!;
    expect(first.arraySync()).toEqual([2, 4, 6]);
    backprop(() => sum(mul(x, 3)));
    expect(first.isDisposed).toBe(true);
    expect(x.grad!.arraySync()).toEqual([5, 7, 9]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
    backprop(() => sum(x));
    expect(x.grad!.arraySync()).toEqual([1, 1, 1]);
    x.dispose();
  });

  itNoLeaks('a tensor used twice, a diamond, and an explicit gradient for a non-scalar output', () => {
    const x = tensor([[1, 2], [3, 4]], f64);
    const y = scope(() => {
      const e = exp(x);
      return add(mul(e, x), tanh(e));
    });
    const g = tensor([[1, -1], [0.5, 2]], { dtype: 'float64' });
    y.backward(g);
    const xs = [1, 2, 3, 4];
    const gs = [1, -1, 0.5, 2];
    const expected = xs.map((v, i) => gs[i] * (Math.exp(v) * v + Math.exp(v) + (1 - Math.tanh(Math.exp(v)) ** 2) * Math.exp(v)));
    (x.grad!.dataSync() as Float64Array).forEach((v, i) => expect(v).toBeCloseTo(expected[i], 10));
    for (const t of [x, y, g]) t.dispose();
  });

  itNoLeaks('backward from a scalar leaf gives it a gradient of one', () => {
    const x = tensor(2, f64);
    x.backward();
    expect(x.grad!.arraySync()).toBe(1);
    x.dispose();
  });

  itNoLeaks('sign, floor and round pass no gradient; other paths still do', () => {
    const x = tensor([0.3, -1.7, 2.5], f64);
    backprop(() => sum(add(floor(x), sign(x))));
    expect(x.grad).toBeNull();
    backprop(() => sum(add(mul(x, 2), round(x))));
    expect(x.grad!.arraySync()).toEqual([2, 2, 2]);
    x.dispose();
  });

  itNoLeaks('retainGraph runs backward through the same graph again', () => {
    const x = tensor([1, 2], f64);
    const y = scope(() => sum(mul(x, x)));
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(x.grad!.arraySync()).toEqual([4, 8]);
    expectMinnowError(() => y.backward(), 'GRAPH_FREED', 'retainGraph');
    y.dispose();
    x.dispose();
  });

  itNoLeaks('errors: non-scalar without a gradient, a gradient of the wrong shape or dtype, no graph, twice, disposed', () => {
    const x = tensor([1, 2], f64);
    const y = mul(x, 2);
    expectMinnowError(() => y.backward(), 'INVALID_SHAPE', '[2]', 'not a scalar');
    const wrongShape = zeros([3], { dtype: 'float64' });
    const wrongDType = zeros([2], { dtype: 'float32' });
    expectMinnowError(() => y.backward(wrongShape), 'SHAPE_MISMATCH', '[3]', '[2]');
    expectMinnowError(() => y.backward(wrongDType), 'DTYPE_MISMATCH', 'float32');
    const plain = tensor(1);
    expectMinnowError(() => plain.backward(), 'NO_GRAPH', `#${plain.id}`);
    const s = sum(y);
    s.backward();
    expectMinnowError(() => s.backward(), 'GRAPH_FREED', 'already freed', `#${s.id}`);
    // Another output over the freed graph fails too, and a new op on a freed intermediate.
    const other = sum(y);
    expectMinnowError(() => other.backward(), 'GRAPH_FREED');
    x.dispose();
    expectMinnowError(() => x.backward(), 'DISPOSED');
    for (const t of [y, wrongShape, wrongDType, plain, s, other]) t.dispose();
  });
});

describe('autograd: noGrad and detach', () => {
  itNoLeaks('noGrad records nothing, nests, restores on throw, and refuses async functions', () => {
    const x = tensor([1, 2], f64);
    expect(isGradEnabled()).toBe(true);
    const y = noGrad(() => {
      const inner = noGrad(() => mul(x, x));
      expect(isGradEnabled()).toBe(false);
      const outer = add(inner, x);
      inner.dispose();
      return outer;
    });
    expect(isGradEnabled()).toBe(true);
    expect(y.requiresGrad).toBe(false);
    expect(() => noGrad(() => { throw new Error('boom'); })).toThrow('boom');
    expect(isGradEnabled()).toBe(true);
    expectMinnowError(() => noGrad(async () => 1), 'ASYNC_IN_SCOPE', 'noGrad');
    expect(isGradEnabled()).toBe(true);
    y.dispose();
    x.dispose();
  });

  itNoLeaks('detach shares storage, has no history, and stops the gradient', () => {
    const x = tensor([1, 2, 3], f64);
    const before = buffers();
    const d = x.detach();
    expect(buffers()).toBe(before);
    expect(d.requiresGrad).toBe(false);
    expect(d.storage).toBe(x.storage);
    backprop(() => sum(mul(x, d)));
    expect(x.grad!.arraySync()).toEqual([1, 2, 3]);
    x.dispose();
    expect(d.arraySync()).toEqual([1, 2, 3]);
    d.dispose();
  });
});

describe('autograd: memory', () => {
  itNoLeaks('a graph disposed without backward frees what the tape held', () => {
    const x = tensor([[1, 2], [3, 4]], f64);
    const [tensorsBefore, buffersBefore] = [liveTensors(), buffers()];
    const y = scope(() => sum(logSoftmax(tanh(matmul(x, x)))));
    expect(liveTensors()).toBeGreaterThan(tensorsBefore + 1); // the tape holds intermediates
    y.dispose();
    expect([liveTensors(), buffers()]).toEqual([tensorsBefore, buffersBefore]);
    x.dispose();
  });

  itNoLeaks('the tape keeps what a scope disposed only until backward; what it does not need goes with the scope', () => {
    const x = tensor([1, 2, 3], f64);
    const buffersBefore = buffers();
    // add and sum save nothing: only y's buffer outlives the scope.
    const y1 = scope(() => sum(add(add(x, 1), 2)));
    expect(buffers()).toBe(buffersBefore + 1);
    y1.dispose();
    // tanh saves its output: it survives the scope, and backward frees it.
    const y2 = scope(() => sum(tanh(add(x, 1))));
    expect(buffers()).toBe(buffersBefore + 2);
    y2.backward();
    expect(buffers()).toBe(buffersBefore + 2); // y2 and x.grad
    y2.dispose();
    x.zeroGrad();
    expect(buffers()).toBe(buffersBefore);
    x.dispose();
  });

  itNoLeaks('gradients made by backward inside a scope outlive it (the leaf owns them); disposing the leaf frees them', () => {
    const x = tensor([1, 2], f64);
    scope(() => sum(mul(x, x)).backward());
    expect(x.grad!.isDisposed).toBe(false);
    const grad = x.grad!;
    x.dispose();
    expect(grad.isDisposed).toBe(true);
  });

  itNoLeaks('a leaf disposed before backward gets no gradient and nothing leaks', () => {
    const x = tensor([1, 2], f64);
    const w = tensor([3, 4], f64);
    const y = scope(() => sum(mul(x, w)));
    x.dispose();
    y.backward();
    expect(w.grad!.arraySync()).toEqual([1, 2]);
    y.dispose();
    w.dispose();
  });

  itNoLeaks('deep graphs: backward and release do not recurse', () => {
    const x = tensor([0.5], f64);
    const deep = (n: number) => scope(() => {
      let t: Tensor = x;
      for (let i = 0; i < n; i++) t = mul(t, 1.0001);
      return sum(t);
    });
    const y = deep(20_000);
    y.backward();
    expect(x.grad!.arraySync()[0 as never]).toBeCloseTo(1.0001 ** 20_000, 6);
    y.dispose();
    deep(20_000).dispose();
    x.dispose();
  }, 120_000);

  it('a training step (forward, backward, parameter update, dispose) leaves live tensors and buffers at their baseline', () => {
    const xs = randomNormal([16, 2], { seed: 3, dtype: 'float64' });
    const ys = tensor(Array.from({ length: 16 }, (_, i) => [i % 2, 1 - (i % 2)]), { dtype: 'float64' });
    let params = [randomNormal([2, 8], { seed: 4, dtype: 'float64', std: 0.5 }), zeros([8], { dtype: 'float64' }), randomNormal([8, 2], { seed: 5, dtype: 'float64', std: 0.5 })];
    for (const p of params) p.requireGrad();
    const baseline = [liveTensors(), buffers()];
    const losses: number[] = [];
    for (let step = 0; step < 5; step++) {
      const [w1, b1, w2] = params;
      const loss = scope(() => mean(mul(sum(mul(logSoftmax(matmul(tanh(add(matmul(xs, w1), b1)), w2)), ys), { axes: 1 }), -1)));
      loss.backward();
      losses.push(loss.itemSync());
      loss.dispose();
      const next = noGrad(() => scope(() => params.map((p) => sub(p, mul(p.grad!, 0.5)))));
      for (const p of params) p.dispose();
      params = next.map((p) => p.requireGrad());
      expect([liveTensors(), buffers()]).toEqual(baseline);
    }
    expect(losses[4]).toBeLessThan(losses[0]);
    for (const t of [...params, xs, ys]) t.dispose();
  });
});
