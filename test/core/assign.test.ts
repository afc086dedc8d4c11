import { describe, expect, it } from 'vitest';
import * as m from '@minnow/core';

describe('assign: in-place parameter update', () => {
  it('replaces a leaf\'s values, keeps its identity and grad flag, and leaks nothing', () => {
    const before = m.liveTensors();
    const w = m.tensor([[1, 2], [3, 4]], { requiresGrad: true });
    const earlier = m.reshape(w, [4]); // a view taken before keeps the old values
    m.noGrad(() => m.scope(() => w.assign(m.sub(w, m.full([2, 2], 0.5)))));
    expect(w.arraySync()).toEqual([[0.5, 1.5], [2.5, 3.5]]);
    expect(Array.from(earlier.dataSync())).toEqual([1, 2, 3, 4]);
    expect(w.requiresGrad).toBe(true);
    m.scope(() => w.assign(m.transpose(m.tensor([[1, 3], [2, 4]])))); // a non-contiguous value is copied
    expect(w.arraySync()).toEqual([[1, 2], [3, 4]]);
    expect(w.isContiguous).toBe(true);
    earlier.dispose();
    w.dispose();
    expect(m.liveTensors()).toBe(before);
  });

  it('the tape keeps the values the forward pass saw', () => {
    const w = m.tensor([2, 3], { requiresGrad: true });
    const x = m.tensor([5, 7]);
    const loss = m.sum(m.mul(w, w));
    m.scope(() => w.assign(m.tensor([100, 100])));
    loss.backward();
    expect(Array.from(w.grad!.dataSync())).toEqual([4, 6]);
    for (const t of [w, x, loss]) t.dispose();
  });

  it('refuses mismatched shapes, dtypes and op results', () => {
    const w = m.zeros([2]);
    m.scope(() => {
      expect(() => w.assign(m.zeros([3]))).toThrow(/SHAPE|shape/);
      expect(() => w.assign(m.zeros([2], { dtype: 'int32' }))).toThrow(/dtype/);
      const r = m.mul(m.tensor([1, 2], { requiresGrad: true }), 2);
      expect(() => r.assign(m.zeros([2]))).toThrow(/leaf/);
    });
    w.dispose();
  });
});
