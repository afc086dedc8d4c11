import type { Backend, BackendFactory, BackendInfo, BufferView, DType, KernelOp, Kernels, PrimitiveAttrs, TypedArray } from '@minnow/core';
import { MinnowError, allocateArray, sizeOf } from '@minnow/core';
import { type GpuBuffer, deleteDeviceData, deviceBytes } from './buffer.js';
import { EXACT_INTEGER_LIMIT, boundOfValues, resultBound } from './exactness.js';
import { cast, elementwise, type ElementwiseOp } from './kernels/elementwise.js';
import { matmulIntegerScaled } from './kernels/integer.js';
import { conv2d, matmul } from './kernels/linalg.js';
import { gather, pad } from './kernels/movement.js';
import { dequantize, quantize } from './kernels/quantize.js';
import { reduce } from './kernels/reduce.js';
import { spmm } from './kernels/sparse.js';
import { type GpuBackendOptions, type GpuMode, describeRenderer, openGpu } from './mode.js';
import { MAX_ELEMENTS, Programs } from './program.js';
import { readAsync, readSync } from './read.js';
import { TextureCounter } from './textures.js';

/** dtypes the GPU backend holds; float64 is refused (GPUs compute in float32). */
export const GPU_DTYPES: readonly DType[] = ['float32', 'int32', 'int8', 'uint8', 'bool'];

export interface GpuBackend extends Backend<GpuBuffer> {
  /** The gpu.js mode actually running. */
  readonly mode: GpuMode;
  /** GL textures alive in the backend's context (null in gpu.js's array fallbacks). */
  liveTextures(): number | null;
}

const ELEMENTWISE: readonly ElementwiseOp[] = [
  'neg', 'exp', 'log', 'sqrt', 'reciprocal', 'tanh', 'abs', 'sign', 'floor', 'round',
  'add', 'sub', 'mul', 'div', 'max', 'min', 'pow', 'cmplt', 'cmpeq', 'where',
];

export function createGpuBackend(options: GpuBackendOptions = {}): GpuBackend {
  const name = options.name ?? 'gpu';
  const opened = openGpu(options);
  const programs = new Programs(opened.gpu, opened.textures);
  const live = new Set<GpuBuffer>();
  // Compile one kernel so gpu.js has made its context, then count the context's textures.
  const probe = programs.upload(new Float32Array(1));
  const textures = TextureCounter.attach(opened.gpu.context);
  deleteDeviceData(probe);

  function checkLive(buffer: GpuBuffer): void {
    if (buffer.freed) throw new MinnowError('INTERNAL', `${name}: a freed buffer was used`);
  }

  /** Reads the elements a view covers, in row-major order of the view. */
  function readView(view: BufferView<GpuBuffer>): Float32Array {
    const all = readSync(programs.materialise(view.buffer), view.buffer.length);
    const n = sizeOf(view.shape);
    const out = new Float32Array(n);
    const counter = new Array<number>(view.shape.length).fill(0);
    for (let i = 0; i < n; i++) {
      let offset = view.offset;
      for (let d = 0; d < counter.length; d++) offset += counter[d] * view.strides[d];
      out[i] = all[offset];
      for (let d = counter.length - 1; d >= 0; d--) {
        if (++counter[d] < view.shape[d]) break;
        counter[d] = 0;
      }
    }
    return out;
  }

  /** Measures max |x| of a buffer whose bound is unknown (an int32 cast from float), once. */
  function boundOf(buffer: GpuBuffer): number {
    if (buffer.bound === Infinity) buffer.bound = boundOfValues(readSync(programs.materialise(buffer), buffer.length));
    return buffer.bound;
  }

  type AnyKernel = (inputs: readonly BufferView<GpuBuffer>[], output: BufferView<GpuBuffer>, attrs: never) => void;
  const bodies: Record<KernelOp, AnyKernel> = {
    ...(Object.fromEntries(ELEMENTWISE.map((op) => [op, (i: readonly BufferView<GpuBuffer>[], o: BufferView<GpuBuffer>) => elementwise(programs, op, i, o)])) as unknown as Record<ElementwiseOp, AnyKernel>),
    div: (inputs, output) => {
      if (inputs[0].dtype !== 'float32' && readView(inputs[1]).includes(0)) {
        throw new MinnowError('INVALID_ARGUMENT', 'div: integer division by zero');
      }
      elementwise(programs, 'div', inputs, output);
    },
    cast: (inputs, output) => cast(programs, inputs[0], output),
    sum: (inputs, output, attrs: PrimitiveAttrs['sum']) => reduce(programs, 'sum', inputs[0], output, attrs.axes),
    reduceMax: (inputs, output, attrs: PrimitiveAttrs['reduceMax']) => reduce(programs, 'reduceMax', inputs[0], output, attrs.axes),
    pad: (inputs, output, attrs: PrimitiveAttrs['pad']) => pad(programs, inputs[0], output, attrs.pads, attrs.value),
    matmul: (inputs, output) => matmul(programs, inputs[0], inputs[1], output),
    matmulInteger: (inputs, output) => matmul(programs, inputs[0], inputs[1], output, { a: inputs[2], b: inputs[3] }),
    spmm: (inputs, output) => spmm(programs, inputs, output, readView),
    conv2d: (inputs, output, attrs: PrimitiveAttrs['conv2d']) => conv2d(programs, inputs[0], inputs[1], output, attrs),
    gather: (inputs, output, attrs: PrimitiveAttrs['gather']) => gather(programs, inputs[0], inputs[1], output, attrs.axis, readView),
    quantize: (inputs, output, attrs: PrimitiveAttrs['quantize']) => quantize(programs, inputs, output, attrs),
    dequantize: (inputs, output, attrs: PrimitiveAttrs['dequantize']) => dequantize(programs, inputs, output, attrs),
    matmulIntegerScaled: (inputs, output, attrs: PrimitiveAttrs['matmulIntegerScaled']) => matmulIntegerScaled(programs, inputs, output, attrs, boundOf),
  };

  const kernels = {} as Record<KernelOp, AnyKernel>;
  for (const op of Object.keys(bodies) as KernelOp[]) {
    kernels[op] = (inputs, output, attrs) => {
      for (const view of inputs) checkLive(view.buffer);
      // Refuse before running when an integer result could pass what float32 holds exactly.
      const bound = resultBound(op, inputs, output, attrs as PrimitiveAttrs[typeof op], boundOf);
      bodies[op](inputs, output, attrs);
      output.buffer.bound = bound;
    };
  }

  const renderer = describeRenderer(opened.gpu.context);
  const rendererNotes = renderer
    ? [`GL renderer: ${renderer.renderer}${renderer.software ? ' (a software rasteriser: no graphics card is in use)' : ''}`]
    : [];
  const info: BackendInfo = {
    name,
    description: opened.textures
      ? `gpu.js ${opened.mode}: every primitive as a generated shader kernel; tensors stay on the device as immutable float32 textures`
      : `gpu.js ${opened.mode} fallback: the same generated kernels, run by gpu.js on the CPU over float32 arrays`,
    mode: opened.mode,
    threads: 1,
    dtypes: GPU_DTYPES,
    syncRead: true,
    notes: [
      'all dtypes are held as float32: int8, uint8 and bool are exact; int32 is exact within ±2^24, and an int32 op whose result could pass that (from tracked bounds on every buffer) is refused with PRECISION_LIMIT',
      `matmulInteger is exact while (max|a - aZero|) x (max|b - bZero|) x K <= 2^24: K <= ${Math.floor(EXACT_INTEGER_LIMIT / (255 * 255))} for full-range int8 with zero points, K <= ${EXACT_INTEGER_LIMIT / (128 * 128)} for symmetric int8`,
      'float64 is not held (UNSUPPORTED_DTYPE): cast to float32 first, or use js or wasm',
      `at most 2^24 = ${MAX_ELEMENTS} elements per tensor (indices are float32 in the shader)`,
      'transcendental functions (exp, log, tanh, pow) use the GPU\'s float32 implementations: a few ulp, not correctly rounded',
      ...rendererNotes,
      ...opened.notes,
    ],
  };

  const backend: GpuBackend = {
    name,
    mode: opened.mode,
    info: () => info,
    allocate(dtype: DType, length: number): GpuBuffer {
      if (dtype === 'float64') {
        throw new MinnowError('UNSUPPORTED_DTYPE', `${name}: the gpu backend holds no float64 (GPUs compute in float32); cast to float32 first, or use the js or wasm backend`);
      }
      if (length > MAX_ELEMENTS) {
        throw new MinnowError('PRECISION_LIMIT', `${name}: ${length} elements in one tensor; the gpu backend indexes in float32 and holds at most 2^24 = ${MAX_ELEMENTS}`);
      }
      const buffer: GpuBuffer = { dtype, length, data: null, bound: 0, freed: false };
      live.add(buffer);
      return buffer;
    },
    free(buffer: GpuBuffer): void {
      if (buffer.freed) return;
      deleteDeviceData(buffer.data);
      buffer.data = null;
      buffer.freed = true;
      live.delete(buffer);
    },
    write(buffer: GpuBuffer, data: TypedArray): void {
      checkLive(buffer);
      const bound = buffer.dtype === 'float32' ? Infinity : boundOfValues(data);
      if (buffer.dtype === 'int32' && bound > EXACT_INTEGER_LIMIT) {
        throw new MinnowError('PRECISION_LIMIT', `${name}: int32 value ${bound} is past 2^24 = ${EXACT_INTEGER_LIMIT}, the largest integer the gpu backend's float32 textures hold exactly; keep such tensors on js or wasm`);
      }
      const values = data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
      const previous = buffer.data;
      buffer.data = buffer.length === 0 ? null : programs.upload(values);
      buffer.bound = bound;
      deleteDeviceData(previous);
    },
    async read(buffer: GpuBuffer): Promise<TypedArray> {
      checkLive(buffer);
      const floats = buffer.data === null ? new Float32Array(buffer.length) : await readAsync(buffer.data, buffer.length);
      return toDType(buffer.dtype, floats);
    },
    readSync(buffer: GpuBuffer): TypedArray {
      checkLive(buffer);
      return toDType(buffer.dtype, buffer.data === null ? new Float32Array(buffer.length) : readSync(buffer.data, buffer.length));
    },
    kernels: kernels as unknown as Kernels<GpuBuffer>,
    memory() {
      let bytes = 0;
      for (const buffer of live) bytes += deviceBytes(buffer);
      return { buffers: live.size, bytes };
    },
    liveTextures: () => textures?.live ?? null,
    dispose(): void {
      for (const buffer of [...live]) backend.free(buffer);
      programs.dispose();
      textures?.detach();
      void opened.gpu.destroy();
    },
  };
  return backend;
}

function toDType(dtype: DType, floats: Float32Array): TypedArray {
  if (dtype === 'float32') return floats;
  const out = allocateArray(dtype, floats.length);
  out.set(floats);
  return out;
}

/** The GPU backend as the registry wants it: `await init(gpuBackend)`. Options apply to `gpuBackendWith`. */
export const gpuBackend: BackendFactory<GpuBuffer> = gpuBackendWith();

export function gpuBackendWith(options: GpuBackendOptions = {}): BackendFactory<GpuBuffer> {
  return { name: options.name ?? 'gpu', create: async () => createGpuBackend(options) };
}
