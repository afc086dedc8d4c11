import { afterEach, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MinnowError } from '@minnow/core';
import { loadWasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';

const saved = process.env.MINNOW_WASM;
afterEach(() => {
  if (saved === undefined) delete process.env.MINNOW_WASM;
  else process.env.MINNOW_WASM = saved;
});

describe('wasm loader', () => {
  it('MINNOW_WASM=simd forces the SIMD128 build and says so', async () => {
    process.env.MINNOW_WASM = 'simd';
    const backend = await loadWasmBackend({ name: 'wasm-forced-simd' });
    expect(backend.info().mode).toBe('simd128');
    expect(backend.info().notes.join(' ')).toMatch(/forced by MINNOW_WASM=simd/);
  });

  it('with relaxed SIMD enabled, the relaxed build is chosen', async () => {
    delete process.env.MINNOW_WASM;
    enableRelaxedSimd();
    const backend = await loadWasmBackend({ name: 'wasm-auto' });
    expect(backend.info().mode).toBe('relaxed-simd');
  });

  it('a bad MINNOW_WASM value is a MinnowError naming the variable', async () => {
    process.env.MINNOW_WASM = 'avx512';
    const error = await loadWasmBackend().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MinnowError);
    expect((error as MinnowError).message).toMatch(/MINNOW_WASM.*avx512/);
  });

  // A fresh Node without the V8 flag: relaxed SIMD does not validate there, so the loader must fall
  // back to SIMD128 and say why, and MINNOW_WASM=relaxed must fail instead of falling back.
  const dist = fileURLToPath(new URL('../../packages/backend-wasm/dist/index.js', import.meta.url));
  const script = `import('${dist}').then(async (w) => { try { const b = await w.loadWasmBackend(); console.log(JSON.stringify(b.info())); } catch (e) { console.log(JSON.stringify({ error: e.code, message: e.message })); } })`;
  const runFresh = (env: Record<string, string>) => {
    const result = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' });
    return JSON.parse(result.stdout.trim().split('\n').pop()!);
  };

  it.runIf(existsSync(dist))('without the V8 flag, falls back to SIMD128 and says why (needs npm run build)', () => {
    const info = runFresh({ MINNOW_WASM: '' });
    if (process.versions.node.startsWith('20.')) {
      expect(info.mode).toBe('simd128');
      expect(info.notes.join(' ')).toMatch(/relaxed SIMD is not enabled/);
    } else {
      expect(['simd128', 'relaxed-simd']).toContain(info.mode);
    }
  });

  it.runIf(existsSync(dist) && process.versions.node.startsWith('20.'))('MINNOW_WASM=relaxed without engine support is an error, not a silent fallback', () => {
    const out = runFresh({ MINNOW_WASM: 'relaxed' });
    expect(out.error).toBe('INVALID_ARGUMENT');
    expect(out.message).toMatch(/relaxed/);
  });
});
