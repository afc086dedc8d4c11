import type { ParityProfile } from './profile.js';

/**
 * The profiles every run of the parity suite uses, in Node (vitest) and in Chromium (test/browser),
 * so both hold each backend to the same tolerances.
 */

/** wasm holds every dtype and matches backend-js to a few ulp. */
export const wasmParityProfile = (backend: string): ParityProfile => ({ backend, dtypes: ['float32', 'float64', 'int32', 'int8', 'uint8', 'bool'] });

/**
 * gpu holds no float64 and int32 only within ±2^24; transcendentals are the GPU's own float32
 * functions, accumulation is sequential float32; software-rendered GPUs are slow (runScale).
 */
export const gpuParityProfile = (backend = 'gpu'): ParityProfile => ({
  backend,
  dtypes: ['float32', 'int32', 'int8', 'uint8', 'bool'],
  transcendentalRtol: 2 ** -16,
  int32Limit: 2 ** 24,
  runScale: 0.25,
  accumulationSlack: 4,
});
