import * as gpujs from 'gpu.js';

/**
 * The part of gpu.js minnow uses, typed here: gpu.js's own declarations lag its runtime (no
 * WebGPUKernel, no loopMaxIterations, textures without their size). Everything else in the
 * package imports gpu.js through this file.
 */

export interface GpuTexture {
  readonly texture: WebGLTexture;
  /** [width, height] in texels. */
  readonly size: readonly number[];
  readonly context: WebGLRenderingContext | WebGL2RenderingContext;
  toArray(): Float32Array;
  delete(): void;
}

export type DeviceData = GpuTexture | Float32Array;

export interface GpuKernel {
  (...args: unknown[]): DeviceData;
  readonly output: readonly number[];
  setOutput(output: number[]): void;
  destroy(removeCanvasReferences?: boolean): void;
}

export interface GpuInstance {
  /** The kernel class gpu.js chose (identifies the mode). */
  readonly Kernel: unknown;
  /** The WebGL context, once the first GL kernel has been built. */
  readonly context: unknown;
  createKernel(source: string, settings: Record<string, unknown>): GpuKernel;
  destroy(): Promise<void>;
}

export type GpuArgumentType = 'NumberTexture' | 'Array' | 'Float';

export const GPU = gpujs.GPU as unknown as new (settings: { mode: string }) => GpuInstance;

const exported = gpujs as unknown as Record<string, unknown>;
/** gpu.js's kernel classes by the mode name minnow reports. */
export const KERNEL_CLASSES = {
  headlessgl: exported.HeadlessGLKernel,
  webgl2: exported.WebGL2Kernel,
  webgl: exported.WebGLKernel,
  webgpu: exported.WebGPUKernel,
  webasm: exported.WebAssemblyKernel,
  cpu: exported.CPUKernel,
} as const;
