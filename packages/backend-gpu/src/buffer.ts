import type { DType } from '@minnow/core';
import type { DeviceData } from './gpujs.js';

/**
 * A tensor buffer on the GPU backend. Textures are immutable: a kernel never writes into an input,
 * it renders a new texture, and `write` swaps in a new one. `data` is null until something is
 * written: an unwritten buffer reads as zeros and costs no texture.
 *
 * Every dtype is held as float32 (one texel channel per element). `bound` is the largest |value|
 * the buffer may hold, for the integer dtypes: float32 holds integers exactly only up to 2^24, so
 * integer kernels check the bound of their result before they run (see exactness.ts).
 */
export interface GpuBuffer {
  readonly dtype: DType;
  readonly length: number;
  /** A gpu.js texture in the GL modes, a Float32Array in gpu.js's WebAssembly/CPU fallbacks, null for zeros. */
  data: DeviceData | null;
  /** max |value| for integer and bool dtypes; Infinity when unknown (then measured on demand). */
  bound: number;
  freed: boolean;
}

/** Bytes a buffer's device data occupies: textures are RGBA float32, one element per texel. */
export function deviceBytes(buffer: GpuBuffer): number {
  const data = buffer.data;
  if (data === null) return 0;
  if (data instanceof Float32Array) return data.byteLength;
  const [width, height] = data.size;
  return width * height * 16;
}

/** Deletes device data: a texture goes back to the GL context; arrays are left to the GC. */
export function deleteDeviceData(data: DeviceData | null): void {
  if (data !== null && !(data instanceof Float32Array)) data.delete();
}
