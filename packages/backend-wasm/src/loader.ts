import type { Backend, BackendFactory } from '@minnow/core';
import { MinnowError } from '@minnow/core';
import { createWasmBackend, type WasmBuffer } from './backend.js';
import { decodeBase64, instantiate, type WasmBuild } from './module.js';
import { wasmBase64 as relaxedBase64 } from './generated/relaxed.js';
import { wasmBase64 as simdBase64 } from './generated/simd.js';

/**
 * Loads the best build this engine validates: relaxed SIMD, else SIMD128. MINNOW_WASM=simd|relaxed
 * forces one (an error if the engine cannot run it). Works in Node and browsers: the builds are
 * embedded, nothing is read from disk.
 */
export async function loadWasmBackend(options: { build?: 'simd' | 'relaxed'; name?: string } = {}): Promise<Backend<WasmBuffer>> {
  const forced = options.build ?? readForcedBuild();
  const simd = decodeBase64(simdBase64);
  if (!WebAssembly.validate(simd)) {
    throw new MinnowError('INVALID_ARGUMENT', 'wasm: this JavaScript engine does not support WebAssembly SIMD128, which the wasm backend needs');
  }
  const relaxed = decodeBase64(relaxedBase64);
  const relaxedOk = WebAssembly.validate(relaxed);
  const notes: string[] = [];
  let build: WasmBuild;
  if (forced === 'relaxed') {
    if (!relaxedOk) {
      throw new MinnowError('INVALID_ARGUMENT', 'wasm: MINNOW_WASM=relaxed, but this engine does not validate relaxed SIMD (Node 20 needs the V8 flag --experimental-wasm-relaxed-simd; `minnow` sets it at start-up)');
    }
    build = 'relaxed-simd';
  } else if (forced === 'simd') {
    build = 'simd128';
    notes.push('SIMD128 build forced by MINNOW_WASM=simd');
  } else if (relaxedOk) {
    build = 'relaxed-simd';
  } else {
    build = 'simd128';
    notes.push('relaxed SIMD is not enabled in this engine, so the SIMD128 build runs (Node 20: --experimental-wasm-relaxed-simd, which `minnow` sets at start-up)');
  }
  const module = await instantiate(build, build === 'relaxed-simd' ? relaxed : simd);
  return createWasmBackend(module, notes, options.name);
}

function readForcedBuild(): 'simd' | 'relaxed' | undefined {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  const value = env?.MINNOW_WASM;
  if (value === undefined || value === '') return undefined;
  if (value === 'simd' || value === 'relaxed') return value;
  throw new MinnowError('INVALID_ARGUMENT', `MINNOW_WASM must be "simd" or "relaxed", got "${value}"`);
}

/** Register with `await init(wasmBackend)`. */
export const wasmBackend: BackendFactory<WasmBuffer> = {
  name: 'wasm',
  create: () => loadWasmBackend(),
};
