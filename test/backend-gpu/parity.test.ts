import { describe, expect, it } from 'vitest';
import { GPU_DTYPES } from '@minnow/backend-gpu';
import { parityCases } from '../parity/suite.js';
import { gpuParityProfile } from '../parity/profiles.js';
import { initGpu } from './gpu-setup.js';

/**
 * The GPU backend against backend-js: the same backend-agnostic parity suite the WASM builds and
 * the browser page run. Tolerances: float32 transcendentals are the GPU's own (2^-16 relative);
 * accumulations are sequential float32 sums (4x the n*eps slack); everything else is exact.
 */

const gpu = await initGpu();

describe(`gpu backend (${gpu.info().mode}) against backend-js`, () => {
  it('the shared profile covers exactly the dtypes the backend holds', () => {
    expect(gpuParityProfile().dtypes).toEqual(GPU_DTYPES);
  });
  for (const c of parityCases(gpuParityProfile())) it(c.name, c.run);
});
