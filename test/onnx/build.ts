import {
  AttributeType, DataType, makeTensor, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from '@minnow/onnx';

/** Small builders for hand-made ONNX models in tests. */

export function node(opType: string, input: string[], output: string[], attribute: AttributeProto[] = [], extra: Partial<NodeProto> = {}): NodeProto {
  return { input, output, opType, name: `${opType}_${output[0] ?? ''}`, attribute, metadataProps: [], ...extra };
}

const emptyAttribute = { floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] };

export const intAttr = (name: string, i: number): AttributeProto => ({ name, type: AttributeType.INT, i: BigInt(i), ...emptyAttribute });
export const floatAttr = (name: string, f: number): AttributeProto => ({ name, type: AttributeType.FLOAT, f, ...emptyAttribute });
export const graphAttr = (name: string, g: GraphProto): AttributeProto => ({ name, type: AttributeType.GRAPH, g, ...emptyAttribute });
export const refAttr = (name: string, refAttrName: string, type: number): AttributeProto => ({ name, refAttrName, type, ...emptyAttribute });

export function valueInfo(name: string, elemType: number = DataType.FLOAT, dims?: (number | string)[]): ValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType, shape: dims && { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } },
    metadataProps: [],
  };
}

export const floatTensor = (name: string, dims: number[], values: number[]): TensorProto =>
  makeTensor(name, DataType.FLOAT, dims, new Uint8Array(new Float32Array(values).buffer));

export function graph(extra: Partial<GraphProto>): GraphProto {
  return { name: 'g', node: [], initializer: [], sparseInitializer: [], input: [], output: [], valueInfo: [], quantizationAnnotation: [], metadataProps: [], ...extra };
}

export function model(g: GraphProto, extra: Partial<ModelProto> = {}): ModelProto {
  return { irVersion: 8, opsetImport: [{ domain: '', version: 17 }], graph: g, metadataProps: [], trainingInfo: [], functions: [], ...extra };
}
