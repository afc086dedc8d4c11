import { describe, it } from 'vitest';
import { GPU_DTYPES } from '@minnow/backend-gpu';
import { parityCases } from '../parity/suite.js';
import { initGpu } from './gpu-setup.js';

/**
 * The GPU backend against backend-js: the same backend-agnostic parity suite the WASM builds and
 * the browser page run. Tolerances: float32 transcendentals are the GPU's own (2^-16 relative);
 * accumulations are sequential float32 sums (4x the n*eps slack); everything else is exact.
 */

const gpu = await initGpu();

/** The profile the Node and browser runs share. */
export const GPU_PARITY_PROFILE = { backend: 'gpu', dtypes: GPU_DTYPES, transcendentalRtol: 2 ** -16, int32Limit: 2 ** 24, runScale: 0.25, accumulationSlack: 4 };

describe(`gpu backend (${gpu.info().mode}) against backend-js`, () => {
  for (const c of parityCases(GPU_PARITY_PROFILE)) it(c.name, c.run);
});
