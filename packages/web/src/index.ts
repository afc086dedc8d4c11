import type * as Core from '@minnow/core';
import type * as Js from '@minnow/backend-js';
import type * as Wasm from '@minnow/backend-wasm';
import type * as Gpu from '@minnow/backend-gpu';

/**
 * minnow for the browser: the tensor engine and every backend a page can run, as one module.
 * `scripts/bundle.mjs` turns this file into `dist/minnow.js`, a single ESM file with gpu.js's
 * browser build inside and nothing that needs Node.
 */
export * from '@minnow/core';

export { createJsBackend, jsBackend, jsKernels } from '@minnow/backend-js';

// '@minnow/backend-wasm', never '@minnow/backend-wasm/node' (which imports node:v8). Browsers
// validate relaxed SIMD on their own; both builds are embedded, so nothing is fetched.
export { loadWasmBackend, wasmBackend, type WasmBuffer, type WasmBuild } from '@minnow/backend-wasm';

export {
  EXACT_INTEGER_LIMIT, FALLBACK_MODES, GPU_DTYPES, GPU_MODES, createGpuBackend, gpuBackend, gpuBackendWith,
  type GpuBackend, type GpuBackendOptions, type GpuBuffer, type GpuMode,
} from '@minnow/backend-gpu';

// A name re-exported explicitly above silently shadows the same name from `export *`, so a clash
// between the packages' values is caught here instead: this fails to compile, naming the clash.
type Names<T> = keyof T & string;
type Clashes =
  | (Names<typeof Core> & (Names<typeof Js> | Names<typeof Wasm> | Names<typeof Gpu>))
  | (Names<typeof Js> & (Names<typeof Wasm> | Names<typeof Gpu>))
  | (Names<typeof Wasm> & Names<typeof Gpu>);
type NoClash<T extends never> = T;
type _Checked = NoClash<Clashes>;
