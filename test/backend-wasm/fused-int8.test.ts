import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Random, roundHalfToEven } from '@minnow/core';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import { gemmInteger } from '../../packages/backend-js/src/kernels/gemm.js';
import { decodeBase64, instantiate, type LoadedModule } from '../../packages/backend-wasm/src/module.js';
import { wasmBase64 as simd } from '../../packages/backend-wasm/src/generated/simd.js';
import { wasmBase64 as relaxed } from '../../packages/backend-wasm/src/generated/relaxed.js';

/**
 * The fused int8 GEMM epilogues (dequantize to float32, requantize to int8/uint8) that quantized
 * execution will call directly, checked bit for bit against a float32 reference of the same
 * formulas built on backend-js's exact integer product.
 */

enableRelaxedSimd();
const builds: [string, LoadedModule][] = [
  ['simd128', await instantiate('simd128', decodeBase64(simd))],
  ['relaxed-simd', await instantiate('relaxed-simd', decodeBase64(relaxed))],
];

interface Fused {
  gemmI8ScratchBytes(m: number, n: number, k: number): number;
  gemmI8DequantF32(...args: number[]): void;
  gemmI8Requant(...args: number[]): void;
}

describe.each(builds)('fused int8 GEMM epilogues (%s)', (_, module) => {
  const exports = module.exports as unknown as Fused;

  it('dequantize (+ bias) and requantize match the float32 reference exactly', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 70 }),
        fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), fc.boolean(), fc.integer(),
        (m, n, k, aSigned, bSigned, perRow, perCol, outSigned, seed) => {
          const rng = new Random(seed);
          const ints = (count: number, signed: boolean): Int8Array | Uint8Array => {
            const values = Array.from({ length: count }, () => rng.int(256) - (signed ? 128 : 0));
            return signed ? Int8Array.from(values) : Uint8Array.from(values);
          };
          const a = ints(m * k, aSigned);
          const b = ints(k * n, bSigned);
          const aZero = Int32Array.from(ints(perRow ? m : 1, aSigned));
          const bZero = Int32Array.from(ints(perCol ? n : 1, bSigned));
          const aScale = Float32Array.from({ length: perRow ? m : 1 }, () => 0.001 + rng.uniform() * 0.05);
          const bScale = Float32Array.from({ length: perCol ? n : 1 }, () => 0.001 + rng.uniform() * 0.05);
          const bias = Float32Array.from({ length: n }, () => rng.uniform() - 0.5);
          const outScale = Math.fround(0.05 + rng.uniform());
          const outZero = outSigned ? rng.int(256) - 128 : rng.int(256);

          const c = new Int32Array(m * n);
          gemmInteger(m, n, k, a, 0, k, 1, aZero, b, 0, n, 1, bZero, c, 0);

          // Lay the operands out in linear memory.
          const mem = module.memory;
          const need = 65536 * 2 + exports.gemmI8ScratchBytes(m, n, k) + 64 * 1024;
          if (mem.buffer.byteLength < need) mem.grow(Math.ceil((need - mem.buffer.byteLength) / 65536));
          let top = 65536;
          const put = (bytes: ArrayLike<number> & { byteLength: number; buffer: ArrayBufferLike; byteOffset: number }) => {
            const at = top;
            new Uint8Array(mem.buffer, at, bytes.byteLength).set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
            top += Math.ceil(bytes.byteLength / 64) * 64 + 64;
            return at;
          };
          const [pa, pb, pza, pzb, pas, pbs, pbias] = [a, b, aZero, bZero, aScale, bScale, bias].map(put);
          const out = top;
          top += m * n * 4 + 64;
          const scratch = Math.ceil(top / 64) * 64;
          const args = [m, n, k, pa, k, 1, +aSigned, pza, +perRow, pb, n, 1, +bSigned, pzb, +perCol, pas, +perRow, pbs, +perCol];

          exports.gemmI8DequantF32(...args, pbias, out, scratch);
          const deq = new Float32Array(mem.buffer, out, m * n).slice();
          exports.gemmI8Requant(...args, outScale, outZero, +outSigned, out, scratch);
          const bytes = new Uint8Array(mem.buffer, out, m * n);
          const req = outSigned ? Int8Array.from(bytes, (v) => (v << 24) >> 24) : Uint8Array.from(bytes);

          const [qmin, qmax] = outSigned ? [-128, 127] : [0, 255];
          for (let i = 0; i < m; i++) {
            for (let j = 0; j < n; j++) {
              const scale = Math.fround(aScale[perRow ? i : 0] * bScale[perCol ? j : 0]);
              const expectedDeq = Math.fround(Math.fround(Math.fround(c[i * n + j]) * scale) + bias[j]);
              expect(deq[i * n + j], `dequant [${i},${j}]`).toBe(expectedDeq);
              const multiplier = Math.fround(scale / outScale);
              const v = Math.fround(Math.fround(c[i * n + j]) * multiplier);
              const q = Math.min(Math.max(roundHalfToEven(v) + outZero, qmin), qmax);
              expect(req[i * n + j], `requant [${i},${j}]`).toBe(q);
            }
          }
        },
      ),
      { seed: 31, numRuns: 120 },
    );
  });
});
