import { MinnowError, type Tensor } from '@minnow/core';
import { makeTensor } from '../ir/tensor.js';
import { AttributeType, DataType, type AttributeProto, type NodeProto, type TensorProto } from '../ir/types.js';

/**
 * What the exporter builds while it walks a module tree: the nodes in order, the initialisers, and
 * the names in use. Converters add nodes through it and never touch ModelProto fields themselves.
 */

/** One dim of a value's shape as far as export time knows it: a size, a named symbolic dim ('batch'), or unknown (null). */
export type Dim = number | string | null;

/** A value flowing between layers: its name in the graph and its shape. */
export interface ExportValue {
  readonly name: string;
  readonly shape: readonly Dim[];
}

export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used = new Set<string>();
  /** Module tensors already written, so a tied tensor becomes one initialiser under its first name. */
  private readonly written = new Map<Tensor, string>();

  constructor(readonly opset: number) {}

  /** Marks names (the graph input, the state dict's names) as taken before any are generated. */
  reserve(names: Iterable<string>): void {
    for (const name of names) this.used.add(name);
  }

  /** A name no other value, initialiser or node has: `hint`, or `hint_1`, `hint_2` ... */
  uniqueName(hint: string): string {
    let name = hint;
    for (let i = 1; this.used.has(name); i++) name = `${hint}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Appends a node; returns its output's name (made unique from `outputHint`). */
  node(opType: string, inputs: readonly string[], outputHint: string, attribute: AttributeProto[] = []): string {
    const output = this.uniqueName(outputHint);
    this.nodes.push({ opType, name: this.uniqueName(`${outputHint}/${opType}`), input: [...inputs], output: [output], attribute, metadataProps: [] });
    return output;
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

  /** A float32 constant initialiser (ones for a missing scale, GELU's coefficients ...), named from `hint`. */
  floats(hint: string, values: ArrayLike<number>, dims: readonly number[]): string {
    const name = this.uniqueName(hint);
    this.initializers.push(makeTensor(name, DataType.FLOAT, dims, float32Bytes(values)));
    return name;
  }

  /** A 1-D int64 constant initialiser (Reshape's shape, ReduceMean's axes from opset 18). */
  int64s(hint: string, values: readonly number[]): string {
    const name = this.uniqueName(hint);
    const bytes = new Uint8Array(values.length * 8);
    const view = new DataView(bytes.buffer);
    values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
    this.initializers.push(makeTensor(name, DataType.INT64, [values.length], bytes));
    return name;
  }

  /**
   * Renames the value `from` to `to` wherever a node produces or reads it, so the last layer's
   * output can carry the graph output's name without an extra Identity node.
   */
  rename(from: string, to: string): void {
    for (const node of this.nodes) {
      node.input = node.input.map((n) => (n === from ? to : n));
      node.output = node.output.map((n) => (n === from ? to : n));
    }
  }

  /** Whether some node produces `name` (the graph input and initialisers are not produced). */
  produces(name: string): boolean {
    return this.nodes.some((node) => node.output.includes(name));
  }
}

/** Little-endian float32 bytes, as raw_data stores them on every platform. */
function float32Bytes(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytes;
}

/** The repeated fields every AttributeProto has, fresh for each (they are mutable arrays). */
const noValues = (): Pick<AttributeProto, 'floats' | 'ints' | 'strings' | 'tensors' | 'graphs' | 'sparseTensors' | 'typeProtos'> => ({
  floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [],
});

/** AttributeProto builders for the four kinds the converters use. */
export const attr = {
  int: (name: string, value: number): AttributeProto => ({ ...noValues(), name, type: AttributeType.INT, i: BigInt(value) }),
  ints: (name: string, values: readonly number[]): AttributeProto => ({ ...noValues(), name, type: AttributeType.INTS, ints: values.map((v) => BigInt(v)) }),
  /** Rounded to float32 here, as the wire format stores it, so the model in memory is the model written. */
  float: (name: string, value: number): AttributeProto => ({ ...noValues(), name, type: AttributeType.FLOAT, f: Math.fround(value) }),
  string: (name: string, value: string): AttributeProto => ({ ...noValues(), name, type: AttributeType.STRING, s: new TextEncoder().encode(value) }),
};
