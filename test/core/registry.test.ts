import { describe, expect, it } from 'vitest';
import {
  KERNEL_OPS, MinnowError, PRIMITIVES, add, backendStatus, defaultBackendName, getBackend, init, isInitialized, registerBackend,
  registeredBackends, setDefaultBackend, shutdownBackend, tensor, type BackendFactory, type TypedArray,
} from '@minnow/core';
import { createJsBackend, jsBackend, jsKernels } from '@minnow/backend-js';
import { itNoLeaks } from '../helpers/leaks.js';
import { expectMinnowError } from '../helpers/reference.js';

describe('backend registry', () => {
  it('init of an unknown backend rejects with UNKNOWN_BACKEND naming it and the registered ones', async () => {
    const err = await init('no-such-backend').then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(MinnowError);
    expect((err as MinnowError).code).toBe('UNKNOWN_BACKEND');
    expect((err as MinnowError).message).toContain('no-such-backend');
    expect((err as MinnowError).message).toContain('js');
  });

  it('getBackend and info() on js describe what really runs', () => {
    const js = getBackend('js');
    expect(getBackend()).toBe(js);
    expect(js.name).toBe('js');
    const info = js.info();
    expect(info.name).toBe('js');
    expect(info.threads).toBe(1);
    expect(info.syncRead).toBe(true);
    expect(info.dtypes).toEqual(['float32', 'float64', 'int32', 'int8', 'uint8', 'bool']);
    expect(typeof info.description).toBe('string');
    expect(info.description.length).toBeGreaterThan(0);
    expect(Array.isArray(info.notes)).toBe(true);
    expect(defaultBackendName()).toBe('js');
    expect(isInitialized('js')).toBe(true);
    expect(registeredBackends()).toContain('js');
    const status = backendStatus().find((s) => s.name === 'js')!;
    expect(status).toMatchObject({ initialized: true, isDefault: true });
    expect(status.info?.name).toBe('js');
  });

  it('init is idempotent and returns the same backend instance', async () => {
    const a = await init('js');
    const b = await init(jsBackend);
    expect(a).toBe(b);
    expect(a).toBe(getBackend('js'));
  });

  it('getBackend of an unknown name is UNKNOWN_BACKEND; setDefaultBackend refuses it too', () => {
    expectMinnowError(() => getBackend('nope'), 'UNKNOWN_BACKEND', 'nope');
    expectMinnowError(() => setDefaultBackend('nope'), 'UNKNOWN_BACKEND', 'nope');
    expect(defaultBackendName()).toBe('js');
  });

  itNoLeaks("tensor.to of an unknown backend rejects with UNKNOWN_BACKEND and leaves the source alive", async () => {
    const t = tensor([1, 2]);
    try {
      await expect(t.to('nope')).rejects.toMatchObject({ code: 'UNKNOWN_BACKEND' });
      expect(t.isDisposed).toBe(false);
      expect(Array.from(t.dataSync())).toEqual([1, 2]);
    } finally {
      t.dispose();
    }
  });

  it('a second backend: registered-but-not-initialised, then init, to(), BACKEND_MISMATCH, shutdown', async () => {
    const factory: BackendFactory<TypedArray> = { name: 'js-second', create: async () => createJsBackend('js-second') };
    registerBackend(factory);
    registerBackend(factory); // same factory again is fine
    const impostor: BackendFactory<TypedArray> = { name: 'js-second', create: async () => createJsBackend('x') };
    expectMinnowError(() => registerBackend(impostor), 'INVALID_ARGUMENT', 'js-second');
    expectMinnowError(() => getBackend('js-second'), 'BACKEND_NOT_INITIALIZED', 'js-second');
    expect(isInitialized('js-second')).toBe(false);
    const second = await init('js-second');
    expect(second.name).toBe('js-second');
    expect(defaultBackendName()).toBe('js'); // the first initialised stays default

    const a = tensor([[1, 2], [3, 4]], { dtype: 'int8' });
    const b = await a.to('js-second');
    const c = tensor([1, 1], { dtype: 'int8', backend: 'js-second' });
    try {
      expect(b.backend).toBe(second);
      expect(b.arraySync()).toEqual([[1, 2], [3, 4]]);
      expect(second.memory().buffers).toBe(2);
      const sum = add(b, c);
      expect(sum.backend).toBe(second);
      expect(Array.from(sum.dataSync())).toEqual([2, 3, 4, 5]);
      sum.dispose();
      expectMinnowError(() => add(a, b), 'BACKEND_MISMATCH', 'add', 'js', 'js-second');
      const back = await b.to('js');
      expect(back.backend).toBe(getBackend('js'));
      expect(back.arraySync()).toEqual([[1, 2], [3, 4]]);
      back.dispose();
    } finally {
      a.dispose();
      b.dispose();
      c.dispose();
    }
    expect(second.memory().buffers).toBe(0);
    shutdownBackend('js-second');
    expect(isInitialized('js-second')).toBe(false);
    expect(defaultBackendName()).toBe('js');
  });

  it('the op table and the js kernels cover every kernel primitive', () => {
    const names = Object.keys(PRIMITIVES);
    expect(names.length).toBeGreaterThanOrEqual(25);
    // A deliberate bound on the primitive set; each new primitive must be one that composition cannot make fast (spmm, matmulIntegerScaled's fused epilogue).
    expect(names.length).toBeLessThanOrEqual(36);
    for (const op of KERNEL_OPS) {
      expect(typeof jsKernels[op], op).toBe('function');
      expect(PRIMITIVES[op].kind).not.toBe('view');
    }
    expect(KERNEL_OPS).not.toContain('reshape');
    expect(Object.keys(jsKernels).sort()).toEqual([...KERNEL_OPS].sort());
    for (const [name, spec] of Object.entries(PRIMITIVES)) {
      expect(spec.arity, name).toBeGreaterThanOrEqual(1);
      expect(spec.dtypes.length, name).toBeGreaterThan(0);
      expect(spec.doc.length, name).toBeGreaterThan(0);
    }
  });
});
