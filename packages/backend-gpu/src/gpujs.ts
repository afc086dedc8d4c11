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

interface RecycledTexture {
  readonly texture: unknown;
  readonly size: ArrayLike<number>;
  delete(): void;
}

type ArgumentRefs = (this: { texture: RecycledTexture | null }, kernelValue: { prevArg?: RecycledTexture | null }, arg: RecycledTexture) => void;

/**
 * A fix for gpu.js 2.24.1 (reported by minnow, not yet upstream): an immutable pipeline kernel
 * given one of its own earlier outputs as an argument recycles the texture it was given the last
 * time that happened (GLKernel.updateTextureArgumentRefs) as its next output texture, without
 * checking that it still has the kernel's output size. After dynamicOutput resized the kernel the
 * result keeps the old size and wrong values: add(add(a, a), a) on 15 elements, after the same on
 * 4, read back 4 wrong numbers. Dropping a remembered texture of another size makes gpu.js
 * allocate a fresh output texture of the right size instead.
 */
const glKernel = exported.GLKernel as { prototype: { updateTextureArgumentRefs?: ArgumentRefs } } | undefined;
const updateTextureArgumentRefs = glKernel?.prototype.updateTextureArgumentRefs;
if (glKernel && updateTextureArgumentRefs) {
  glKernel.prototype.updateTextureArgumentRefs = function (kernelValue, arg) {
    const previous = kernelValue.prevArg;
    const output = this.texture;
    if (previous && output && output.texture === arg.texture && (previous.size[0] !== output.size[0] || previous.size[1] !== output.size[1])) {
      previous.delete();
      kernelValue.prevArg = null;
    }
    updateTextureArgumentRefs.call(this, kernelValue, arg);
  };
}
