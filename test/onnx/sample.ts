import { AttributeType, DataType, makeTensor, type GraphProto, type ModelProto, type NodeProto } from '@minnow/onnx';

export const f32 = (values: number[]): Uint8Array => new Uint8Array(new Float32Array(values).buffer);

function node(opType: string, input: string[], output: string[], extra: Partial<NodeProto> = {}): NodeProto {
  return { input, output, opType, name: `${opType}_${output[0]}`, attribute: [], metadataProps: [], ...extra };
}

function graph(name: string, extra: Partial<GraphProto> = {}): GraphProto {
  return {
    name, node: [], initializer: [], sparseInitializer: [], input: [], output: [], valueInfo: [], quantizationAnnotation: [],
    metadataProps: [], ...extra,
  };
}

/** A small model that uses most of the IR: an If with two subgraphs, every attribute kind, metadata, a function. */
export function sampleModel(): ModelProto {
  const w = makeTensor('w', DataType.FLOAT, [2, 2], f32([1, -2, 3.5, Number.NaN]));
  const attrs = [
    { name: 'alpha', type: AttributeType.FLOAT, f: 0.25 },
    { name: 'axis', type: AttributeType.INT, i: -1n },
    { name: 'mode', type: AttributeType.STRING, s: new TextEncoder().encode('constant') },
    { name: 'pads', type: AttributeType.INTS, ints: [0n, 9223372036854775807n, -9223372036854775808n] },
    { name: 'scales', type: AttributeType.FLOATS, floats: [1.5, -0, Number.POSITIVE_INFINITY] },
    { name: 'names', type: AttributeType.STRINGS, strings: [new Uint8Array([0x61]), new Uint8Array(0)] },
  ].map((a) => ({ floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [], ...a }));
  const branch = (value: number): GraphProto => graph(`branch${value}`, {
    node: [node('Constant', [], [`c${value}`], { attribute: [{ name: 'value', type: AttributeType.TENSOR, t: makeTensor('', DataType.FLOAT, [1], f32([value])), floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] }] })],
    output: [{ name: `c${value}`, metadataProps: [] }],
  });
  const ifAttrs = ['then_branch', 'else_branch'].map((name, k) => ({
    name, type: AttributeType.GRAPH, g: branch(k), floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [],
  }));
  const tensorType = (elemType: number, dims: (number | string)[]) => ({
    tensorType: { elemType, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } },
  });
  return {
    irVersion: 10, producerName: 'minnow-test', producerVersion: '0', modelVersion: 3, docString: 'sample',
    opsetImport: [{ domain: '', version: 18 }, { domain: 'com.example', version: 1 }],
    metadataProps: [{ key: 'author', value: 'tests' }], trainingInfo: [],
    graph: graph('main', {
      node: [node('Gemm', ['x', 'w'], ['y'], { attribute: attrs }), node('If', ['cond'], ['z'], { attribute: ifAttrs, domain: '' })],
      initializer: [w],
      input: [{ name: 'x', type: tensorType(DataType.FLOAT, ['batch', 2]), metadataProps: [] }, { name: 'cond', type: tensorType(DataType.BOOL, []), metadataProps: [] }],
      output: [{ name: 'z', type: tensorType(DataType.FLOAT, [1]), metadataProps: [] }],
    }),
    functions: [{
      name: 'Twice', domain: 'com.example', input: ['a'], output: ['b'], attribute: [], attributeProto: [],
      node: [node('Add', ['a', 'a'], ['b'])], opsetImport: [{ domain: '', version: 18 }], valueInfo: [], metadataProps: [],
    }],
  };
}
