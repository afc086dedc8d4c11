export { loadWasmBackend, wasmBackend } from './loader.js';
export { createWasmBackend, type WasmBuffer } from './backend.js';
export { LinearAllocator, sizeClass, type GrowableMemory } from './allocator.js';
export type { KernelExports, WasmBuild } from './module.js';
