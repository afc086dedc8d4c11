export { GPU_DTYPES, createGpuBackend, gpuBackend, gpuBackendWith, type GpuBackend } from './backend.js';
export type { GpuBuffer } from './buffer.js';
export { EXACT_INTEGER_LIMIT } from './exactness.js';
export { FALLBACK_MODES, GPU_MODES, type GpuBackendOptions, type GpuMode } from './mode.js';
