import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as m from '@minnow/core';
import { FALLBACK_MODES, GPU_DTYPES, GPU_MODES } from '@minnow/backend-gpu';
import { expectMinnowError } from '../helpers/reference.js';
import { HAS_DISPLAY, initGpu } from './gpu-setup.js';

const gpu = await initGpu();
const on = { backend: 'gpu' } as const;

describe('gpu backend: what it reports', () => {
  it('reports the gpu.js mode actually running: headlessgl under a display, a named fallback without', () => {
    const info = gpu.info();
    expect(info.mode).toBe(gpu.mode);
    if (HAS_DISPLAY) expect(info.mode).toBe('headlessgl');
    else expect(FALLBACK_MODES).toContain(info.mode);
    expect(info.dtypes).toEqual(GPU_DTYPES);
    expect(info.notes.join('\n')).toMatch(/2\^24/);
  });

  it('without a display: init says it fell back, and MINNOW_GPU_STRICT fails with BACKEND_UNAVAILABLE', () => {
    const env = { ...process.env, DISPLAY: '', MINNOW_GPU_STRICT: '' };
    const fixture = fileURLToPath(new URL('./fixtures/fallback.ts', import.meta.url));
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--conditions=source', fixture], { env, encoding: 'utf8', cwd: fileURLToPath(new URL('../..', import.meta.url)) });
    const report = JSON.parse(out.trim().split('\n').at(-1)!) as { mode: string; notes: string[]; warnings: string[]; sum: number; strict: { code: string; message: string } };
    expect(GPU_MODES).not.toContain(report.mode);
    expect(FALLBACK_MODES).toContain(report.mode);
    expect(report.notes.join(' ')).toMatch(/fell back .*nothing runs on a graphics card/);
    expect(report.warnings.join(' ')).toMatch(/fell back/);
    expect(Number.isFinite(report.sum)).toBe(true);
    expect(report.strict.code).toBe('BACKEND_UNAVAILABLE');
    expect(report.strict.message).toMatch(/MINNOW_GPU_STRICT/);
  });
});

describe('gpu backend: exactness limits are errors, never wrong answers', () => {
  it('refuses float64 with UNSUPPORTED_DTYPE naming the way out', () => {
    expectMinnowError(() => m.zeros([2], { dtype: 'float64', ...on }), 'UNSUPPORTED_DTYPE', 'float64', 'cast to float32 first');
    const x = m.ones([2], on);
    expectMinnowError(() => m.cast(x, 'float64'), 'UNSUPPORTED_DTYPE', 'float64');
    x.dispose();
  });

  it('refuses int32 data past 2^24 on upload, and int32 results that could pass it before running', () => {
    const before = gpu.memory();
    expectMinnowError(() => m.tensor([2 ** 24 + 1], { dtype: 'int32', ...on }), 'PRECISION_LIMIT', '16777217', '2^24');
    expect(gpu.memory()).toEqual(before); // the refused upload leaves no buffer behind
    m.scope(() => {
      const a = m.tensor([4096, -3], { dtype: 'int32', ...on });
      expect(Array.from(m.mul(a, a).dataSync())).toEqual([16777216, 9]); // exactly 2^24: still exact
      const b = m.tensor([4097, 1], { dtype: 'int32', ...on });
      expectMinnowError(() => m.mul(b, b), 'PRECISION_LIMIT', 'mul: int32 result', '16785409');
      expectMinnowError(() => m.sum(m.full([5000], 4000, { dtype: 'int32', ...on })), 'PRECISION_LIMIT', 'sum');
    });
  });

  it('measures an unknown bound (int32 cast from float) before arithmetic, then computes exactly', () => {
    m.scope(() => {
      const small = m.cast(m.tensor([1000.7, -2000.2], on), 'int32');
      expect(Array.from(m.mul(small, small).dataSync())).toEqual([1000000, 4000000]);
      const big = m.cast(m.tensor([3e9], on), 'int32');
      expect(Array.from(big.dataSync())).toEqual([-1294967296]); // the wrap itself is exact
      expectMinnowError(() => m.add(big, big), 'PRECISION_LIMIT', 'add');
    });
  });

  it('matmulInteger: exact at the K bound, refused past it', () => {
    m.scope(() => {
      // Full-range int8 with zero points: (127 + 128) * (127 + 128) * K <= 2^24 holds up to K = 258.
      for (const [k, ok] of [[258, true], [259, false]] as const) {
        const a = m.full([1, k], 127, { dtype: 'int8', ...on });
        const b = m.full([k, 1], -128, { dtype: 'int8', ...on });
        const za = m.tensor(-128, { dtype: 'int8', ...on });
        const zb = m.tensor(127, { dtype: 'int8', ...on });
        if (ok) expect(Array.from(m.matmulInteger(a, b, za, zb).dataSync())).toEqual([-255 * 255 * k]);
        else expectMinnowError(() => m.matmulInteger(a, b, za, zb), 'PRECISION_LIMIT', 'matmulInteger');
      }
      // Symmetric int8 (zero points 0) runs far longer rows exactly.
      const k = 1024;
      const a = m.full([1, k], -128, { dtype: 'int8', ...on });
      const z = m.tensor(0, { dtype: 'int8', ...on });
      expect(Array.from(m.matmulInteger(a, m.reshape(a, [k, 1]), z, z).dataSync())).toEqual([128 * 128 * k]);
    });
  });

  it('integer division by zero and out-of-range gather indices raise the reference errors', () => {
    m.scope(() => {
      const a = m.tensor([7, 8], { dtype: 'int32', ...on });
      expectMinnowError(() => m.div(a, m.tensor([1, 0], { dtype: 'int32', ...on })), 'INVALID_ARGUMENT', 'division by zero');
      expectMinnowError(() => m.gather(a, m.tensor([0, 2], { dtype: 'int32', ...on }), 0), 'OUT_OF_RANGE', 'index 2 at position 1');
    });
  });
});

describe('gpu backend: memory', () => {
  const workload = (): void =>
    m.scope(() => {
      const x = m.randomNormal([33, 17], { seed: 3, ...on });
      m.softmax(m.matmul(x, m.transpose(x))).dataSync();
      m.conv2d(m.reshape(x, [1, 1, 33, 17]), m.ones([2, 1, 3, 3], on)).dataSync();
      m.argmax(x, 0).dataSync();
    });

  it('dispose() deletes textures: a repeated workload leaves the GL context holding what it held', () => {
    workload(); // compiles the kernels (each keeps one output texture of its own)
    const textures = gpu.liveTextures();
    const memory = gpu.memory();
    const tensors = m.liveTensors();
    for (let i = 0; i < 3; i++) workload();
    expect(m.liveTensors()).toBe(tensors);
    expect(gpu.memory()).toEqual(memory);
    if (HAS_DISPLAY) expect(gpu.liveTextures()).toBe(textures);
  });

  it('async data() resolves to the same values as dataSync()', async () => {
    const x = m.randomNormal([1000], { seed: 4, ...on });
    const y = m.exp(x);
    expect(await y.data()).toEqual(y.dataSync());
    x.dispose();
    y.dispose();
  });

  it('unwritten buffers read as zeros and cost no texture', () => {
    const before = gpu.memory();
    const buffer = gpu.allocate('float32', 4096);
    expect(gpu.memory()).toEqual({ buffers: before.buffers + 1, bytes: before.bytes });
    expect(Array.from(gpu.readSync!(buffer)).every((v) => v === 0)).toBe(true);
    gpu.free(buffer);
    expect(gpu.memory()).toEqual(before);
  });

  it('long loops are not cut short (llvmpipe stops a fragment after 65535 loop iterations)', () => {
    m.scope(() => {
      const n = 1_000_003;
      const ones = m.ones([n], on);
      expect(m.sum(ones).itemSync()).toBe(n);
      expect(m.max(m.concat([ones, m.full([1], 3, on)], 0)).itemSync()).toBe(3);
      expect(m.sum(m.ones([700, 800], on)).itemSync()).toBe(560_000);
      expect(m.matmul(m.reshape(ones, [1, n]), m.reshape(ones, [n, 1])).itemSync()).toBe(n);
      const channels = 30_000; // 30000 channels x 3 x 3 taps: past the budget, accumulated in channel chunks
      expect(Array.from(m.conv2d(m.ones([1, channels, 3, 3], on), m.ones([1, channels, 3, 3], on)).dataSync())).toEqual([channels * 9]);
    });
  });
});
