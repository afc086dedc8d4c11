import { init } from '@minnow/core';
import { gpuBackend, type GpuBackend } from '@minnow/backend-gpu';

/** The GPU backend, registered as "gpu". Under Xvfb it runs headless-gl; without a display, gpu.js's fallback. */
export async function initGpu(): Promise<GpuBackend> {
  return (await init(gpuBackend)) as GpuBackend;
}

/** Whether this process has an X display for headless-gl (CI runs the tests under `xvfb-run -a`). */
export const HAS_DISPLAY = typeof process.env.DISPLAY === 'string' && process.env.DISPLAY !== '';
