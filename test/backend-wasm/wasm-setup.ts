import { init, type Backend } from '@minnow/core';
import { loadWasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';

/** Both WASM builds, registered as "wasm-simd" and "wasm-relaxed", for suites that compare them with backend-js. */
export const WASM_BUILDS = ['simd', 'relaxed'] as const;
export type WasmBuildName = (typeof WASM_BUILDS)[number];

export async function initWasmBuilds(): Promise<Record<WasmBuildName, Backend>> {
  enableRelaxedSimd();
  const out = {} as Record<WasmBuildName, Backend>;
  for (const build of WASM_BUILDS) {
    const name = `wasm-${build}`;
    out[build] = await init({ name, create: () => loadWasmBackend({ build, name }) });
  }
  return out;
}
