import type { DeviceData, GpuArgumentType, GpuInstance, GpuKernel } from './gpujs.js';
import type { DType } from '@minnow/core';
import { MinnowError } from '@minnow/core';
import { type GpuBuffer, deleteDeviceData } from './buffer.js';

/**
 * Kernels are generated as gpu.js source (its JavaScript subset), compiled once per distinct
 * source and reused for every shape: shapes, strides and offsets are uniforms, and outputs resize
 * (dynamicOutput). Every output is one-dimensional [n] in pipeline mode, so results stay on the
 * device as immutable textures and feed the next kernel without a round trip.
 *
 * Index arithmetic runs in float32 (GLSL ES 1.0 has no reliable 32-bit integers), exact below
 * 2^24: that is also the largest tensor the backend accepts.
 */

export const MAX_ELEMENTS = 2 ** 24;
/** gpu.js unrolls loops against a constant bound in WebGL1; loops break out at their real length. */
const LOOP_MAX = 2 ** 24;

/** The arguments of one kernel call: names and types shape the source, values are uniforms or textures. */
export class KernelArgs {
  readonly names: string[] = [];
  readonly types: GpuArgumentType[] = [];
  readonly values: unknown[] = [];

  constructor(private readonly program: Programs) {}

  /** A buffer read inside the kernel as `name[index]`. */
  buffer(name: string, buffer: GpuBuffer): this {
    this.names.push(name);
    this.types.push(this.program.textures ? 'NumberTexture' : 'Array');
    this.values.push(this.program.materialise(buffer));
    return this;
  }

  scalar(name: string, value: number): this {
    this.names.push(name);
    this.types.push('Float');
    this.values.push(value);
    return this;
  }

  scalars(prefix: string, values: readonly number[]): this {
    values.forEach((v, i) => this.scalar(`${prefix}${i}`, v));
    return this;
  }
}

export class Programs {
  private readonly cache = new Map<string, GpuKernel>();

  constructor(
    private readonly gpu: GpuInstance,
    /** True where results are textures (GL modes), false where gpu.js computes into arrays. */
    readonly textures: boolean,
  ) {}

  args(): KernelArgs {
    return new KernelArgs(this);
  }

  /** Runs `body` (statements ending in `return`) over n outputs; returns the new device data. */
  run(args: KernelArgs, body: string, n: number): DeviceData {
    if (n > MAX_ELEMENTS) {
      throw new MinnowError('PRECISION_LIMIT', `gpu backend: ${n} elements in one tensor; indices are float32 on the GPU and exact only up to 2^24 = ${MAX_ELEMENTS}`);
    }
    const source = `function(${args.names.join(', ')}) {\n${body}\n}`;
    let kernel = this.cache.get(source);
    if (!kernel) {
      const argumentTypes = Object.fromEntries(args.names.map((name, i) => [name, args.types[i]]));
      kernel = this.gpu.createKernel(source, {
        output: [n],
        dynamicOutput: true,
        dynamicArguments: true,
        pipeline: true,
        immutable: true,
        precision: 'single',
        tactic: 'precision',
        loopMaxIterations: LOOP_MAX,
        argumentTypes,
      });
      this.cache.set(source, kernel);
    } else if (kernel.output[0] !== n) {
      kernel.setOutput([n]);
    }
    const result = kernel(...args.values);
    return this.textures ? result : Float32Array.from(result as Float32Array);
  }

  /** Device data for a buffer, creating the zero texture of a buffer never written. */
  materialise(buffer: GpuBuffer): DeviceData {
    if (buffer.freed) throw new MinnowError('INTERNAL', 'gpu backend: a freed buffer was used');
    if (buffer.data === null) {
      buffer.data = this.run(this.args(), 'return 0.0;', Math.max(buffer.length, 1));
    }
    return buffer.data;
  }

  /** Uploads host values as new device data. */
  upload(values: Float32Array): DeviceData {
    if (!this.textures) return Float32Array.from(values);
    const args = new KernelArgs(this);
    args.names.push('host');
    args.types.push('Array');
    args.values.push(values);
    return this.run(args, 'return host[this.thread.x];', values.length);
  }

  /** A buffer for intermediate results inside one kernel (not counted as a tensor buffer); release it after. */
  temporary(dtype: DType, length: number): GpuBuffer {
    return { dtype, length, data: null, bound: Infinity, freed: false };
  }

  release(buffer: GpuBuffer): void {
    deleteDeviceData(buffer.data);
    buffer.data = null;
    buffer.freed = true;
  }

  get kernelCount(): number {
    return this.cache.size;
  }

  dispose(): void {
    for (const kernel of this.cache.values()) kernel.destroy(false);
    this.cache.clear();
  }
}
