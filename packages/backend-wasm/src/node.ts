import { setFlagsFromString } from 'node:v8';

/**
 * Node-only: turns on relaxed SIMD in V8 (Node 20 ships it behind a flag, which NODE_OPTIONS
 * refuses). Call before `init('wasm')`; returns whether the flag could be set.
 */
export function enableRelaxedSimd(): boolean {
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
    return true;
  } catch {
    return false;
  }
}
