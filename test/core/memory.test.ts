import { describe, expect, it } from 'vitest';
import {
  MinnowError, add, assertNoLeaks, div, exp, expand, gather, getBackend, keep, liveTensors, matmul, permute, reshape, scope, slice, sum,
  tensor, zeros, type Tensor,
} from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import { expectMinnowError } from '../helpers/reference.js';

const buffers = () => getBackend().memory().buffers;

describe('dispose', () => {
  itNoLeaks('is idempotent and counts once', () => {
    const before = liveTensors();
    const t = zeros([3]);
    expect(liveTensors()).toBe(before + 1);
    expect(t.isDisposed).toBe(false);
    t.dispose();
    t.dispose();
    t[Symbol.dispose]();
    expect(t.isDisposed).toBe(true);
    expect(liveTensors()).toBe(before);
    expect(String(t)).toContain('disposed');
  });

  itNoLeaks('using a disposed tensor throws MinnowError DISPOSED naming the tensor', async () => {
    const t = tensor([[1, 2], [3, 4]]);
    const other = tensor([[1, 0], [0, 1]]);
    t.dispose();
    try {
      const uses: [string, () => unknown][] = [
        ['add', () => add(t, other)], ['add (rhs)', () => add(other, t)], ['exp', () => exp(t)], ['sum', () => sum(t)],
        ['matmul', () => matmul(other, t)], ['reshape', () => reshape(t, [4])], ['permute', () => permute(t, [1, 0])],
        ['slice', () => slice(t, [0, 0], [1, 1])], ['expand', () => expand(t, [2, 2, 2])], ['dataSync', () => t.dataSync()],
        ['view', () => t.view()], ['arraySync', () => t.arraySync()],
      ];
      for (const [what, use] of uses) {
        const err = expectMinnowError(use, 'DISPOSED');
        expect(err.message, what).toContain(`#${t.id}`);
        expect(err.message, what).toContain('[2,2]');
      }
      await expect(t.data()).rejects.toMatchObject({ code: 'DISPOSED' });
      await expect(t.array()).rejects.toBeInstanceOf(MinnowError);
      await expect(t.to('js')).rejects.toMatchObject({ code: 'DISPOSED' });
    } finally {
      other.dispose();
    }
  });

  itNoLeaks('views keep the storage alive until the last one is disposed', () => {
    const start = buffers();
    const base = tensor([[1, 2, 3], [4, 5, 6]]);
    expect(buffers()).toBe(start + 1);
    const v1 = permute(base, [1, 0]);
    const v2 = slice(v1, [0, 1], [3, 2]);
    expect(buffers()).toBe(start + 1);
    base.dispose();
    expect(buffers()).toBe(start + 1);
    expect(v1.arraySync()).toEqual([[1, 4], [2, 5], [3, 6]]);
    v1.dispose();
    expect(buffers()).toBe(start + 1);
    expect(v2.arraySync()).toEqual([[4], [5], [6]]);
    v2.dispose();
    expect(buffers()).toBe(start);
  });

  itNoLeaks('backend memory reports buffers and bytes', () => {
    const m0 = getBackend().memory();
    const t = zeros([10], { dtype: 'float64' });
    const m1 = getBackend().memory();
    expect(m1.buffers - m0.buffers).toBe(1);
    expect(m1.bytes - m0.bytes).toBe(80);
    t.dispose();
    expect(getBackend().memory()).toEqual(m0);
  });
});

describe('scope', () => {
  itNoLeaks('disposes intermediates and keeps the returned tensor, which moves to no scope at top level', () => {
    const before = liveTensors();
    let inner: Tensor | undefined;
    const out = scope(() => {
      const a = tensor([1, 2]);
      inner = add(a, 1);
      return exp(inner);
    });
    expect(inner!.isDisposed).toBe(true);
    expect(out.isDisposed).toBe(false);
    expect(liveTensors()).toBe(before + 1);
    out.dispose();
  });

  itNoLeaks('keeps tensors nested in returned arrays, plain objects and Maps', () => {
    const before = liveTensors();
    const result = scope(() => {
      const a = zeros([1]);
      const b = zeros([2]);
      const c = zeros([3]);
      const d = zeros([4]);
      zeros([5]); // dropped
      return { list: [a, [b]], nested: { deep: { c } }, map: new Map([['d', d]]), n: 3 };
    });
    const kept = [result.list[0] as Tensor, (result.list[1] as Tensor[])[0], result.nested.deep.c, result.map.get('d')!];
    expect(kept.every((t) => !t.isDisposed)).toBe(true);
    expect(liveTensors()).toBe(before + 4);
    for (const t of kept) t.dispose();
  });

  itNoLeaks('nested scopes move returned tensors to the parent, which disposes them unless returned', () => {
    let fromInner: Tensor | undefined;
    let dropped: Tensor | undefined;
    const out = scope(() => {
      fromInner = scope(() => {
        zeros([1]);
        return zeros([2]);
      });
      expect(fromInner.isDisposed).toBe(false);
      dropped = scope(() => zeros([3]));
      return add(fromInner, 1);
    });
    expect(fromInner!.isDisposed).toBe(true);
    expect(dropped!.isDisposed).toBe(true);
    expect(out.isDisposed).toBe(false);
    out.dispose();
  });

  itNoLeaks('a returned view keeps its storage after the source is disposed', () => {
    const start = buffers();
    const v = scope(() => permute(tensor([[1, 2], [3, 4]]), [1, 0]));
    expect(buffers()).toBe(start + 1);
    expect(v.arraySync()).toEqual([[1, 3], [2, 4]]);
    v.dispose();
    expect(buffers()).toBe(start);
  });

  itNoLeaks('disposes everything when fn throws, and rethrows', () => {
    const before = liveTensors();
    let made: Tensor | undefined;
    expect(() => scope(() => {
      made = zeros([2]);
      throw new Error('boom');
    })).toThrow('boom');
    expect(made!.isDisposed).toBe(true);
    expect(liveTensors()).toBe(before);
  });

  itNoLeaks('refuses async functions with ASYNC_IN_SCOPE and disposes what they created', async () => {
    let made: Tensor | undefined;
    const err = expectMinnowError(() => scope(async () => {
      made = zeros([2]);
      return 1;
    }), 'ASYNC_IN_SCOPE', 'scope');
    expect(err).toBeInstanceOf(MinnowError);
    expect(made!.isDisposed).toBe(true);
  });

  itNoLeaks('keep() exempts a tensor from every enclosing scope', () => {
    let kept: Tensor | undefined;
    scope(() => {
      scope(() => {
        kept = keep(zeros([2]));
        zeros([1]);
      });
      expect(kept!.isDisposed).toBe(false);
    });
    expect(kept!.isDisposed).toBe(false);
    kept!.dispose();
  });

  itNoLeaks('tensors created outside and returned from a scope are left alone', () => {
    const outside = zeros([2]);
    const same = scope(() => outside);
    expect(same).toBe(outside);
    expect(outside.isDisposed).toBe(false);
    scope(() => {
      add(outside, 1);
    });
    expect(outside.isDisposed).toBe(false);
    outside.dispose();
  });
});

describe('using declarations', () => {
  // TypeScript 5.9 `using` under vitest 4 (vite 8 / oxc transform) works: no fallback needed.
  itNoLeaks('dispose at block end, in reverse order, also on throw', () => {
    const before = liveTensors();
    let seen: Tensor | undefined;
    {
      using a = zeros([2]);
      using b = add(a, 1);
      seen = b;
      expect(liveTensors()).toBe(before + 2);
      expect(b.arraySync()).toEqual([1, 1]);
    }
    expect(seen.isDisposed).toBe(true);
    expect(liveTensors()).toBe(before);
    let inThrow: Tensor | undefined;
    expect(() => {
      using c = zeros([1]);
      inThrow = c;
      throw new Error('inside');
    }).toThrow('inside');
    expect(inThrow!.isDisposed).toBe(true);
    expect(liveTensors()).toBe(before);
  });
});

describe('leak accounting', () => {
  itNoLeaks('liveTensors counts creations, views and disposals', () => {
    const before = liveTensors();
    const a = zeros([2, 3]);
    const v = permute(a, [1, 0]);
    const r = reshape(a, [6]);
    expect(liveTensors()).toBe(before + 3);
    for (const t of [a, v, r]) t.dispose();
    expect(liveTensors()).toBe(before);
  });

  it('assertNoLeaks passes clean code through, and throws LEAK with the count otherwise', async () => {
    await expect(assertNoLeaks(() => scope(() => { add(zeros([1]), 1); return 7; }))).resolves.toBe(7);
    let leaked: Tensor[] = [];
    try {
      await assertNoLeaks(() => {
        leaked = [zeros([1]), zeros([2])];
      });
      throw new Error('assertNoLeaks did not throw');
    } catch (err) {
      expect(err).toBeInstanceOf(MinnowError);
      expect((err as MinnowError).code).toBe('LEAK');
      expect((err as MinnowError).message).toContain('2 tensor');
    } finally {
      for (const t of leaked) t.dispose();
    }
    await expect(assertNoLeaks(async () => { const t = zeros([1]); await Promise.resolve(); t.dispose(); return 'ok'; })).resolves.toBe('ok');
  });

  itNoLeaks('ops that fail inside the kernel free their output buffer', () => {
    const a = tensor([1, 2], { dtype: 'int32' });
    const z = tensor([1, 0], { dtype: 'int32' });
    const idx = tensor([5], { dtype: 'int32' });
    const start = buffers();
    const live = liveTensors();
    expectMinnowError(() => div(a, z), 'INVALID_ARGUMENT', 'div');
    expectMinnowError(() => gather(a, idx), 'OUT_OF_RANGE', 'gather');
    expectMinnowError(() => div(a, 0), 'INVALID_ARGUMENT', 'div'); // the scalar operand is freed too
    expect(buffers()).toBe(start);
    expect(liveTensors()).toBe(live);
    for (const t of [a, z, idx]) t.dispose();
  });
});
