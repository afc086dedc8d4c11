import {
  AttributeType, DataType, makeTensor, type AttributeProto, type ModelProto, type NodeProto, type TensorProto,
  type TensorShapeDimension, type ValueInfoProto,
} from '@minnow/onnx';

/** ONNX versions of the models the converter writes: opset 17 (Resize, Softmax on one axis, BatchNormalization-15). */
export const OPSET = 17;
export const IR_VERSION = 8;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A dim as Keras knows it: a size, or null where it is only known at run time. */
export type Dim = number | null;

function attribute(name: string, type: number, fields: Partial<AttributeProto>): AttributeProto {
  return { name, type, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [], ...fields };
}

export const attr = {
  int: (name: string, value: number): AttributeProto => attribute(name, AttributeType.INT, { i: BigInt(value) }),
  ints: (name: string, values: readonly number[]): AttributeProto => attribute(name, AttributeType.INTS, { ints: values.map((v) => BigInt(v)) }),
  float: (name: string, value: number): AttributeProto => attribute(name, AttributeType.FLOAT, { f: value }),
  string: (name: string, value: string): AttributeProto => attribute(name, AttributeType.STRING, { s: new TextEncoder().encode(value) }),
};

function littleEndianBytes(values: Float32Array | BigInt64Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.byteLength);
  const view = new DataView(out.buffer);
  values.forEach((v: number | bigint, i: number) => {
    if (typeof v === 'bigint') view.setBigInt64(i * 8, v, true);
    else view.setFloat32(i * 4, v, true);
  });
  return out;
}

/** A float tensor's value info: `batch` names dim 0 of every input and output, other unknown dims get their own names. */
export function floatValueInfo(name: string, shape: readonly Dim[]): ValueInfoProto {
  const dim: TensorShapeDimension[] = shape.map((d, i) => (d === null ? { dimParam: i === 0 ? 'batch' : `${name}_dim${i}` } : { dimValue: d }));
  return { name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim } } }, metadataProps: [] };
}

/**
 * Collects the nodes, initialisers, inputs and outputs of one ONNX graph, and hands out value names
 * that are unique in it (ONNX requires each name to have exactly one producer).
 */
export class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  readonly inputs: ValueInfoProto[] = [];
  readonly outputs: ValueInfoProto[] = [];
  private readonly used = new Set<string>();
  private readonly constants = new Map<string, string>();

  /** A fresh name based on `hint`. */
  name(hint: string): string {
    let name = hint;
    for (let i = 1; this.used.has(name); i++) name = `${hint}_${i}`;
    this.used.add(name);
    return name;
  }

  /** Claims a name exactly as given (graph inputs and outputs keep their Keras names); false when it is taken. */
  claim(name: string): boolean {
    if (this.used.has(name)) return false;
    this.used.add(name);
    return true;
  }

  /** Adds a node with one output, named from `hint`; returns the output's name. */
  node(opType: string, inputs: readonly string[], hint: string, attributes: AttributeProto[] = []): string {
    const output = this.name(hint);
    this.nodes.push({ input: [...inputs], output: [output], name: this.name(`${hint}/${opType}`), opType, attribute: attributes, metadataProps: [] });
    return output;
  }

  floatInitializer(hint: string, dims: readonly number[], values: Float32Array): string {
    const name = this.name(hint);
    this.initializers.push(makeTensor(name, DataType.FLOAT, dims, littleEndianBytes(values)));
    return name;
  }

  int64Initializer(hint: string, values: readonly number[]): string {
    const name = this.name(hint);
    this.initializers.push(makeTensor(name, DataType.INT64, [values.length], littleEndianBytes(BigInt64Array.from(values, (v) => BigInt(v)))));
    return name;
  }

  /** A float scalar initialiser, shared by every node that asks for the same value. */
  floatScalar(value: number): string {
    const key = String(value);
    let name = this.constants.get(key);
    if (name === undefined) {
      name = this.name(`const_${key}`);
      this.initializers.push(makeTensor(name, DataType.FLOAT, [], littleEndianBytes(Float32Array.of(value))));
      this.constants.set(key, name);
    }
    return name;
  }

  /** Renames a value some node produces, everywhere it appears (so a graph output can carry its Keras name). */
  renameProduced(from: string, to: string): void {
    for (const node of this.nodes) {
      node.output = node.output.map((n) => (n === from ? to : n));
      node.input = node.input.map((n) => (n === from ? to : n));
    }
  }

  producedByNode(name: string): boolean {
    return this.nodes.some((n) => n.output.includes(name));
  }

  build(graphName: string, docString: string): ModelProto {
    return {
      irVersion: IR_VERSION,
      opsetImport: [{ domain: '', version: OPSET }],
      producerName: 'minnow',
      docString,
      graph: {
        name: graphName, node: this.nodes, initializer: this.initializers, sparseInitializer: [], input: this.inputs,
        output: this.outputs, valueInfo: [], quantizationAnnotation: [], metadataProps: [],
      },
      metadataProps: [],
      trainingInfo: [],
      functions: [],
    };
  }
}
