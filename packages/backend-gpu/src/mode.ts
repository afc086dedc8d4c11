import { GPU, type GpuInstance, KERNEL_CLASSES } from './gpujs.js';
import { MinnowError } from '@minnow/core';

/**
 * Which gpu.js mode runs, said honestly. gpu.js picks the best it can (headless-gl in Node, WebGL2 then
 * WebGL in browsers) and otherwise falls back to its own WebAssembly or CPU kernels, quietly. minnow
 * names the mode it got, warns when it is a fallback, and with `strict` (or MINNOW_GPU_STRICT=1)
 * refuses to start on one.
 */

export type GpuMode = 'webgl2' | 'webgl' | 'headlessgl' | 'webgpu' | 'webasm' | 'cpu';
export const GPU_MODES: readonly GpuMode[] = ['webgl2', 'webgl', 'headlessgl', 'webgpu'];
export const FALLBACK_MODES: readonly GpuMode[] = ['webasm', 'cpu'];

export interface GpuBackendOptions {
  /** Registered name; default "gpu". */
  readonly name?: string;
  /** Ask gpu.js for one mode instead of its best choice. */
  readonly mode?: GpuMode;
  /** Fail instead of running on gpu.js's WebAssembly or CPU fallback. Default: MINNOW_GPU_STRICT=1. */
  readonly strict?: boolean;
}

export interface OpenedGpu {
  readonly gpu: GpuInstance;
  readonly mode: GpuMode;
  /** True where buffers are GPU textures (the GL modes); false where gpu.js computes into arrays. */
  readonly textures: boolean;
  readonly notes: readonly string[];
}

export function isStrictFromEnvironment(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.MINNOW_GPU_STRICT === '1' || env?.MINNOW_GPU_STRICT === 'true';
}

export function modeOfKernel(kernel: unknown): GpuMode {
  // Identity, not class names: bundlers may rename classes.
  for (const [mode, kernelClass] of Object.entries(KERNEL_CLASSES)) if (kernel === kernelClass) return mode as GpuMode;
  throw new MinnowError('INTERNAL', 'gpu.js chose a kernel type minnow does not know');
}

export function openGpu(options: GpuBackendOptions): OpenedGpu {
  const strict = options.strict ?? isStrictFromEnvironment();
  if (options.mode === 'webgpu') {
    throw new MinnowError('INVALID_ARGUMENT', 'gpu backend: gpu.js\'s webgpu mode is not supported by minnow yet (its kernels take buffers, not textures); use webgl2');
  }
  let gpu: GpuInstance;
  try {
    gpu = new GPU({ mode: options.mode ?? 'gpu' });
  } catch (error) {
    // 'gpu' mode with no GL context and no WebAssembly: gpu.js's last resort is its CPU mode.
    if (options.mode !== undefined) {
      throw new MinnowError('INVALID_ARGUMENT', `gpu backend: gpu.js cannot run mode "${options.mode}" here (${(error as Error).message})`, { cause: error });
    }
    gpu = new GPU({ mode: 'cpu' });
  }
  const mode = modeOfKernel(gpu.Kernel);
  const notes: string[] = [];
  if (FALLBACK_MODES.includes(mode)) {
    const why =
      'no GL context was available (in Node, headless-gl needs an X display: run under `xvfb-run -a`, and the optional `gl` package must have built)';
    const message = `gpu backend: gpu.js fell back to its ${mode === 'webasm' ? 'WebAssembly' : 'CPU'} mode (${mode}): ${why}; nothing runs on a graphics card`;
    if (strict) {
      void gpu.destroy();
      throw new MinnowError('BACKEND_UNAVAILABLE', `${message}. MINNOW_GPU_STRICT refuses fallbacks.`);
    }
    notes.push(message);
    console.warn(`minnow: ${message}`);
  }
  return { gpu, mode, textures: !FALLBACK_MODES.includes(mode), notes };
}

/**
 * The GL renderer behind the context, unmasked where the browser allows, e.g. "llvmpipe (LLVM 15.0.6,
 * 256 bits)" under Xvfb or "ANGLE (Google, Vulkan 1.3.0 (SwiftShader ...))" in headless Chromium.
 */
export function describeRenderer(context: unknown): { renderer: string; software: boolean } | null {
  const gl = context as WebGLRenderingContext | null;
  if (!gl || typeof gl.getParameter !== 'function') return null;
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = String(gl.getParameter(debug ? debug.UNMASKED_RENDERER_WEBGL : gl.RENDERER) ?? 'unknown');
  return { renderer, software: /llvmpipe|softpipe|swiftshader|software/i.test(renderer) };
}
