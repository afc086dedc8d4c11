import type { DType, TypedArray } from './dtype.js';
import type { KernelOp, PrimitiveAttrs } from './ops/table.js';

/**
 * The Backend interface is buffer-level. A backend owns its memory (JS typed arrays, WASM linear
 * memory, GPU textures) and hands core opaque buffers; core keeps shapes, strides and offsets and
 * asks the backend to allocate, free, write, read, and run kernels on buffers.
 *
 * `Buf` is the backend's own buffer type; core never looks inside it.
 */
export interface Backend<Buf = unknown> {
  readonly name: string;
  /** What this backend really is right now: build, mode, threads. Nothing falls back silently. */
  info(): BackendInfo;
  /** A buffer of `length` elements of `dtype`, zero-filled. */
  allocate(dtype: DType, length: number): Buf;
  free(buffer: Buf): void;
  /** Copies `data` (length elements of the buffer's dtype) into the buffer. */
  write(buffer: Buf, data: TypedArray): void;
  /** A copy of the whole buffer, owned by the caller. Works on every backend. */
  read(buffer: Buf): Promise<TypedArray>;
  /** Synchronous read, where the platform allows it (null where it does not, e.g. WebGL in a page). */
  readonly readSync: ((buffer: Buf) => TypedArray) | null;
  readonly kernels: Kernels<Buf>;
  /** Live buffers and bytes, for leak checks and memory reports. */
  memory(): BackendMemory;
  /** Releases everything the backend holds. */
  dispose(): void;
}

export interface BackendInfo {
  readonly name: string;
  /** A human sentence: what runs, e.g. "plain TypeScript, float64 accumulation". */
  readonly description: string;
  /** e.g. the WASM build ("simd128" | "relaxed-simd") or gpu.js mode ("webgl2", "headlessgl", ...). */
  readonly mode: string;
  readonly threads: number;
  /** dtypes this backend computes natively. */
  readonly dtypes: readonly DType[];
  readonly syncRead: boolean;
  /** Anything a user must know (exactness limits, fallbacks); empty when there is nothing to say. */
  readonly notes: readonly string[];
}

export interface BackendMemory {
  readonly buffers: number;
  readonly bytes: number;
}

/** A strided view of a backend buffer, as kernels receive their operands. Strides are in elements. */
export interface BufferView<Buf> {
  readonly buffer: Buf;
  readonly dtype: DType;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** A kernel writes `output` (fresh, contiguous, offset 0) from `inputs`. */
export type Kernel<Buf, K extends KernelOp> = (
  inputs: readonly BufferView<Buf>[],
  output: BufferView<Buf>,
  attrs: PrimitiveAttrs[K],
) => void;

/** Every kernel primitive: a backend that misses one does not compile. */
export type Kernels<Buf> = { readonly [K in KernelOp]: Kernel<Buf, K> };

/** How a backend package offers itself to the registry: `await init(factory)` or `registerBackend(factory)`. */
export interface BackendFactory<Buf = unknown> {
  readonly name: string;
  create(): Promise<Backend<Buf>>;
}

