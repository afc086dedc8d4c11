import { MinnowError } from '@minnow/core';
import { OnnxSession } from '../exec/session.js';
import type { HostData } from '../exec/value.js';
import { makeTensor } from '../ir/tensor.js';
import { DataType, type ModelProto, type NodeProto, type TensorProto } from '../ir/types.js';
import { float32Bytes, tensorValueInfo } from '../builder.js';
import { ConstantTensor } from './context.js';

/**
 * Runs a few nodes of the model being imported on minnow's own executor: the constant subgraphs
 * (a Transpose of a weight, a DequantizeLinear of an int8 weight, a Constant) are folded this way,
 * and a candidate GELU region is evaluated on probe points. The executor is the one place ONNX ops
 * are computed; the importer never re-implements one.
 */

/** A float32 input to feed the nodes. */
export interface ProbeInput {
  readonly name: string;
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/**
 * Evaluates `nodes` (in topological order) over `constants` and `inputs` on `backend`, returning
 * the values named in `outputs`. `source` lends its opset imports and functions.
 */
export function runNodes(
  source: ModelProto,
  nodes: readonly NodeProto[],
  constants: readonly ConstantTensor[],
  inputs: readonly ProbeInput[],
  outputs: readonly string[],
  backend: string,
): Map<string, ConstantTensor> {
  const model: ModelProto = {
    irVersion: source.irVersion,
    opsetImport: source.opsetImport,
    graph: {
      name: 'moduleFromOnnx',
      node: [...nodes],
      initializer: constants.map(toTensorProto),
      sparseInitializer: [],
      input: inputs.map((i) => tensorValueInfo(i.name, DataType.FLOAT, i.shape)),
      output: outputs.map((name) => ({ name, metadataProps: [] })),
      valueInfo: [],
      quantizationAnnotation: [],
      metadataProps: [],
    },
    metadataProps: [],
    trainingInfo: [],
    functions: source.functions,
  };
  const session = OnnxSession.create(model, { backend, fuseQuantized: false });
  try {
    const feeds = Object.fromEntries(inputs.map((i) => [i.name, makeTensor(i.name, DataType.FLOAT, i.shape, float32Bytes(i.data))]));
    const values = session.runValues(feeds);
    const result = new Map<string, ConstantTensor>();
    for (const [name, value] of values) {
      try {
        result.set(name, new ConstantTensor(name, value.shape, value.elemType, value.hostData()));
      } finally {
        value.dispose();
      }
    }
    return result;
  } finally {
    session.dispose();
  }
}

/** A constant as an initialiser of the little model `runNodes` builds, in the typed field its host form matches. */
function toTensorProto(c: ConstantTensor): TensorProto {
  const base = { name: c.name, dims: [...c.dims], stringData: [], externalData: [], metadataProps: [] };
  const data = c.raw;
  if (data instanceof Float32Array) return { ...base, dataType: DataType.FLOAT, floatData: data };
  if (data instanceof Float64Array) return { ...base, dataType: DataType.DOUBLE, doubleData: data };
  if (data instanceof BigInt64Array) return { ...base, dataType: DataType.INT64, int64Data: data };
  if (data instanceof BigUint64Array) return { ...base, dataType: DataType.UINT64, uint64Data: data };
  if (data instanceof Uint32Array) return { ...base, dataType: DataType.UINT32, uint64Data: BigUint64Array.from(data, (v) => BigInt(v)) };
  const ints: Readonly<Record<number, number>> = {
    [DataType.INT8]: DataType.INT8, [DataType.UINT8]: DataType.UINT8, [DataType.INT16]: DataType.INT16, [DataType.UINT16]: DataType.UINT16,
    [DataType.INT32]: DataType.INT32, [DataType.BOOL]: DataType.BOOL,
  };
  const dataType = ints[c.elemType];
  if (dataType === undefined) throw new MinnowError('UNSUPPORTED_DTYPE', `moduleFromOnnx: constant '${c.name}' of ONNX type ${c.elemType} cannot be folded`);
  return { ...base, dataType, int32Data: Int32Array.from(data as ArrayLike<number>) };
}
