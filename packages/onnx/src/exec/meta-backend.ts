import { KERNEL_OPS, MinnowError, type Backend, type BackendFactory, type Kernels } from '@minnow/core';

/** A buffer of the meta backend: a length and nothing else. */
interface MetaBuffer {
  readonly length: number;
}

export const META_BACKEND = 'onnx-shapes';

/**
 * A backend that computes shapes and dtypes and no values: its buffers hold no data and its kernels
 * do nothing, so core's op wrappers (which infer every output's shape and dtype before a kernel
 * runs) turn each ONNX operator's implementation into its own shape inference. Reading a value is
 * refused, so an op whose output shape depends on data it cannot see fails instead of guessing.
 */
export const metaBackendFactory: BackendFactory<MetaBuffer> = {
  name: META_BACKEND,
  async create(): Promise<Backend<MetaBuffer>> {
    const noData = (): never => {
      throw new MinnowError('UNSUPPORTED_OP', 'shape inference: this value\'s data is not known before the model runs');
    };
    const kernels = Object.fromEntries(KERNEL_OPS.map((op) => [op, () => undefined])) as unknown as Kernels<MetaBuffer>;
    let buffers = 0;
    return {
      name: META_BACKEND,
      info: () => ({
        name: META_BACKEND, description: 'shapes only: buffers hold no data, kernels compute nothing', mode: 'meta', threads: 1,
        dtypes: ['float32', 'float64', 'int32', 'int8', 'uint8', 'bool'], syncRead: true, notes: [],
      }),
      allocate: (_dtype, length) => {
        buffers++;
        return { length };
      },
      free: () => {
        buffers--;
      },
      write: () => undefined,
      read: async () => noData(),
      readSync: () => noData(),
      kernels,
      memory: () => ({ buffers, bytes: 0 }),
      dispose: () => undefined,
    };
  },
};
