import { MinnowError, type Tensor } from '@minnow/core';
import { GraphBuilder, float32Bytes, type ValueDim } from '../builder.js';
import { makeTensor } from '../ir/tensor.js';
import { DataType } from '../ir/types.js';

/**
 * What the exporter builds while it walks a module tree: the generic graph builder, plus the
 * module's parameters and buffers as initialisers under their state dict names. Converters add
 * nodes through it and never touch ModelProto fields themselves.
 */

/** One dim of a value's shape as far as export time knows it: a size, a named symbolic dim ('batch'), or unknown (null). */
export type Dim = ValueDim;

/** A value flowing between layers: its name in the graph and its shape. */
export interface ExportValue {
  readonly name: string;
  readonly shape: readonly Dim[];
}

export class ModuleGraphBuilder extends GraphBuilder {
  /** Module tensors already written, so a tied tensor becomes one initialiser under its first name. */
  private readonly written = new Map<Tensor, string>();

  /** `opset` is the default-domain opset the converters write for (ReduceMean's axes move to an input at 18). */
  constructor(readonly opset: number) {
    super();
  }

  /**
   * A module's parameter or buffer as a float32 initialiser named `name` (its state dict name,
   * reserved beforehand). The values are read synchronously, so the module must live on a backend
   * that can (js, wasm); float64 tensors are rounded to float32, the model's element type.
   */
  weight(tensor: Tensor, name: string): string {
    const existing = this.written.get(tensor);
    if (existing !== undefined) return existing;
    let values: ArrayLike<number>;
    try {
      values = tensor.dataSync() as ArrayLike<number>;
    } catch (error) {
      if (error instanceof MinnowError && error.code === 'SYNC_READ_UNSUPPORTED') {
        throw new MinnowError('SYNC_READ_UNSUPPORTED', `exportModule: cannot read "${name}" from backend "${tensor.backend.name}" synchronously; move the module first (await module.to('js'))`, { cause: error });
      }
      throw error;
    }
    this.initializers.push(makeTensor(name, DataType.FLOAT, tensor.shape, float32Bytes(values)));
    this.written.set(tensor, name);
    return name;
  }
}
