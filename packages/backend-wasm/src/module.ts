import { MinnowError } from '@minnow/core';

/** The exports of the AssemblyScript module (assembly/index.ts), as the backend calls them. */
export interface KernelExports {
  unaryF32(op: number, desc: number, x: number, out: number): void;
  binaryF32(op: number, desc: number, a: number, b: number, out: number): void;
  whereF32(desc: number, cond: number, a: number, b: number, out: number): void;
  reduceF32(op: number, desc: number, x: number, out: number): void;
  quantizeF32(desc: number, x: number, scale: number, zero: number, out: number): void;
  dequantizeF32(desc: number, x: number, scale: number, zero: number, out: number): void;
  copyStrided(bytes: number, desc: number, x: number, out: number): void;
  castStrided(from: number, to: number, desc: number, x: number, out: number): void;
  gatherRows(rowBytes: number, outer: number, dim: number, indices: number, count: number, data: number, out: number): number;
  gemmF32?(m: number, n: number, k: number, a: number, aRowStride: number, aColStride: number, b: number, bRowStride: number, bColStride: number, c: number, scratch: number): void;
  gemmF32ScratchBytes?(m: number, n: number, k: number): number;
  conv2dF32?(desc: number, x: number, w: number, out: number, scratch: number): void;
  conv2dF32ScratchBytes?(desc: number): number;
  gemmI8?(
    m: number, n: number, k: number,
    a: number, aRowStride: number, aColStride: number, aSigned: number, aZero: number, aZeroPerRow: number,
    b: number, bRowStride: number, bColStride: number, bSigned: number, bZero: number, bZeroPerCol: number,
    c: number, scratch: number,
  ): void;
  gemmI8ScratchBytes?(m: number, n: number, k: number): number;
  binaryI8?(op: number, signed: number, desc: number, a: number, b: number, out: number): void;
  gemmI8Scaled?(
    m: number, n: number, k: number,
    a: number, aRowStride: number, aColStride: number, aSigned: number, aZero: number, aZeroPerRow: number,
    b: number, bRowStride: number, bColStride: number, bSigned: number, bZero: number, bZeroPerCol: number,
    mode: number, perRow: number, scale: number, scaleStride: number, bias: number, biasStride: number,
    outZero: number, outSigned: number, out: number, scratch: number,
    bRows: number, bCols: number, gathered: number,
  ): void;
  spmmF32?(
    m: number, n: number, k: number, values: number, cols: number, rowPtr: number,
    b: number, bRowStride: number, bColStride: number, c: number, scratch: number,
  ): void;
  spmmF32ScratchBytes?(n: number, k: number, bColStride: number): number;
}

export type WasmBuild = 'simd128' | 'relaxed-simd';

/** Linear memory starts with 64 KiB for the module's own static data; the allocator owns the rest. */
export const STATIC_RESERVE = 65536;

export interface LoadedModule {
  readonly build: WasmBuild;
  readonly memory: WebAssembly.Memory;
  readonly exports: KernelExports;
}

export function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  if (typeof atob === 'function') {
    const binary = atob(text);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }
  throw new MinnowError('INTERNAL', 'wasm: no base64 decoder (atob) in this JavaScript engine');
}

export async function instantiate(build: WasmBuild, bytes: Uint8Array<ArrayBuffer>): Promise<LoadedModule> {
  const memory = new WebAssembly.Memory({ initial: 2 });
  const imports = {
    env: {
      memory,
      abort(_message: number, _file: number, line: number, column: number): never {
        throw new MinnowError('INTERNAL', `wasm kernel aborted at ${line}:${column}`);
      },
    },
  };
  const module = await WebAssembly.compile(bytes);
  const instance = await WebAssembly.instantiate(module, imports);
  return { build, memory, exports: instance.exports as unknown as KernelExports };
}
