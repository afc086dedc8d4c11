import type { Backend, BackendInfo, BufferView, DType, KernelOp, Kernels, TypedArray } from '@minnow/core';
import { DTYPES, MinnowError, bytesPerElement, viewArray } from '@minnow/core';
import { jsKernels } from '@minnow/backend-js';
import { LinearAllocator } from './allocator.js';
import { STATIC_RESERVE, type LoadedModule } from './module.js';
import { nativeKernels, type NativeContext } from './kernels.js';

/** A tensor buffer in linear memory. `ptr` is a byte address; the view is re-created on every use. */
export interface WasmBuffer {
  readonly ptr: number;
  readonly dtype: DType;
  readonly length: number;
}

/**
 * The WASM backend: tensors live in linear memory, managed by LinearAllocator. Each kernel op
 * runs the AssemblyScript kernel where one exists for the dtypes at hand and otherwise the
 * reference kernel from backend-js directly on linear memory (no copies); info() lists which.
 */
export function createWasmBackend(module: LoadedModule, notes: readonly string[] = [], name = 'wasm'): Backend<WasmBuffer> {
  const { memory } = module;
  // Reserve the module's static data region, then a descriptor block for kernel arguments.
  const allocator = new LinearAllocator(memory, STATIC_RESERVE);
  const descriptor = allocator.allocate(256);
  let scratchPtr = 0;
  let scratchBytes = 0;
  let buffers = 0;
  let bytes = 0;

  /** Typed array over a buffer. Valid until the next allocation (memory.grow detaches views). */
  const arrayOf = (buffer: WasmBuffer): TypedArray => viewArray(buffer.dtype, memory.buffer, buffer.ptr, buffer.length);
  const toArrayView = (v: BufferView<WasmBuffer>): BufferView<TypedArray> => ({ ...v, buffer: arrayOf(v.buffer) });

  // Growing memory detaches views (their length drops to 0): re-create this one then.
  let descriptorView = new Int32Array(memory.buffer, descriptor, 64);
  const descriptorWords = (): Int32Array => {
    if (descriptorView.length === 0) descriptorView = new Int32Array(memory.buffer, descriptor, 64);
    return descriptorView;
  };

  // One byte view over all of memory for zeroing new buffers, re-created after memory grows (which
  // detaches it): allocating a view per buffer costs more than zeroing a small one.
  let bytesView = new Uint8Array(memory.buffer);
  const zeroBytes = (ptr: number, byteLength: number): void => {
    if (bytesView.length < ptr + byteLength) bytesView = new Uint8Array(memory.buffer);
    bytesView.fill(0, ptr, ptr + byteLength);
  };

  const context: NativeContext = {
    exports: module.exports,
    memory,
    descriptor,
    descriptorWords,
    writeDescriptor(values: readonly number[]): number {
      if (values.length > 64) throw new MinnowError('INTERNAL', `wasm descriptor of ${values.length} values`);
      descriptorWords().set(values);
      return descriptor;
    },
    scratch(needed: number): number {
      if (needed > scratchBytes) {
        if (scratchBytes > 0) allocator.free(scratchPtr);
        scratchBytes = Math.max(needed, scratchBytes * 2);
        scratchPtr = allocator.allocate(scratchBytes);
      }
      return scratchPtr;
    },
    allocateTemporary(byteLength: number): number {
      return allocator.allocate(byteLength);
    },
    freeTemporary(ptr: number): void {
      allocator.free(ptr);
    },
    address: (v: BufferView<WasmBuffer>) => v.buffer.ptr + v.offset * bytesPerElement(v.dtype),
  };

  const native = nativeKernels(context);
  const kernels = {} as Record<KernelOp, unknown>;
  for (const op of Object.keys(jsKernels) as KernelOp[]) {
    const reference = jsKernels[op] as (i: readonly BufferView<TypedArray>[], o: BufferView<TypedArray>, a: unknown) => void;
    const fast = native[op] as ((i: readonly BufferView<WasmBuffer>[], o: BufferView<WasmBuffer>, a: unknown) => boolean) | undefined;
    kernels[op] = (inputs: readonly BufferView<WasmBuffer>[], output: BufferView<WasmBuffer>, attrs: unknown): void => {
      if (fast && fast(inputs, output, attrs)) return;
      reference(inputs.map(toArrayView), toArrayView(output), attrs);
    };
  }

  const info: BackendInfo = {
    name,
    description: `AssemblyScript kernels, WebAssembly ${module.build === 'relaxed-simd' ? 'SIMD128 + relaxed SIMD' : 'SIMD128'}, linear memory with a size-class allocator`,
    mode: module.build,
    threads: 1,
    dtypes: DTYPES,
    syncRead: true,
    notes: [
      `native kernels (float32 unless noted; reductions use SIMD along rows or, for column reductions, across the kept axis): ${Object.keys(native).join(', ')}`,
      'other ops and dtypes run the reference kernels of backend-js on linear memory',
      ...notes,
    ],
  };

  return {
    name,
    info: () => info,
    allocate(dtype: DType, length: number): WasmBuffer {
      if (!Number.isInteger(length) || length < 0) throw new MinnowError('INVALID_ARGUMENT', `allocate: bad length ${length}`);
      const byteLength = length * bytesPerElement(dtype);
      const ptr = allocator.allocate(byteLength);
      // Recycled blocks hold old data; buffers start zeroed, as on every backend.
      zeroBytes(ptr, byteLength);
      buffers++;
      bytes += byteLength;
      return { ptr, dtype, length };
    },
    free(buffer: WasmBuffer): void {
      allocator.free(buffer.ptr);
      buffers--;
      bytes -= buffer.length * bytesPerElement(buffer.dtype);
    },
    write(buffer: WasmBuffer, data: TypedArray): void {
      if (data.length !== buffer.length) throw new MinnowError('INVALID_ARGUMENT', `write: ${data.length} values for a buffer of ${buffer.length}`);
      arrayOf(buffer).set(data);
    },
    read: async (buffer: WasmBuffer) => arrayOf(buffer).slice(),
    readSync: (buffer: WasmBuffer) => arrayOf(buffer).slice(),
    kernels: kernels as unknown as Kernels<WasmBuffer>,
    memory: () => ({ buffers, bytes }),
    dispose(): void {
      buffers = 0;
      bytes = 0;
    },
  };
}

export type { NativeContext };
