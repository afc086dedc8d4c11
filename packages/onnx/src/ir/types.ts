/**
 * The ONNX IR as plain TypeScript: one interface per onnx.proto message, field names in camelCase as
 * onnx.proto3 spells them. Scalars are optional (onnx.proto is proto2: a field that is absent is not
 * the same as one set to its default, e.g. an AttributeProto without `type`); repeated fields are
 * always arrays. int64 fields are numbers where a value beyond 2^53 cannot be meaningful (versions,
 * dims, counts: reading a larger one is an error) and bigints where it can (attribute ints, int64 data).
 *
 * Every message keeps the fields this reader does not know, as their raw bytes (tag and value) in
 * `unknownFields`, and the writer writes them back, so a newer model survives a round trip.
 */

/** TensorProto.DataType. */
export const DataType = {
  UNDEFINED: 0,
  FLOAT: 1,
  UINT8: 2,
  INT8: 3,
  UINT16: 4,
  INT16: 5,
  INT32: 6,
  INT64: 7,
  STRING: 8,
  BOOL: 9,
  FLOAT16: 10,
  DOUBLE: 11,
  UINT32: 12,
  UINT64: 13,
  COMPLEX64: 14,
  COMPLEX128: 15,
  BFLOAT16: 16,
  FLOAT8E4M3FN: 17,
  FLOAT8E4M3FNUZ: 18,
  FLOAT8E5M2: 19,
  FLOAT8E5M2FNUZ: 20,
  UINT4: 21,
  INT4: 22,
  FLOAT4E2M1: 23,
  FLOAT8E8M0: 24,
} as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType. */
export const AttributeType = {
  UNDEFINED: 0,
  FLOAT: 1,
  INT: 2,
  STRING: 3,
  TENSOR: 4,
  GRAPH: 5,
  FLOATS: 6,
  INTS: 7,
  STRINGS: 8,
  TENSORS: 9,
  GRAPHS: 10,
  SPARSE_TENSOR: 11,
  SPARSE_TENSORS: 12,
  TYPE_PROTO: 13,
  TYPE_PROTOS: 14,
} as const;
export type AttributeType = (typeof AttributeType)[keyof typeof AttributeType];

/** TensorProto.DataLocation. */
export const DataLocation = { DEFAULT: 0, EXTERNAL: 1 } as const;

/** SequenceProto.DataType / OptionalProto.DataType (onnx-data.proto). */
export const ValueKind = { UNDEFINED: 0, TENSOR: 1, SPARSE_TENSOR: 2, SEQUENCE: 3, MAP: 4, OPTIONAL: 5 } as const;

interface Message {
  /** Fields this reader does not know: each entry is one field's raw bytes, tag included. */
  unknownFields?: Uint8Array[];
}

export interface StringStringEntryProto extends Message {
  key?: string;
  value?: string;
}

export interface OperatorSetIdProto extends Message {
  domain?: string;
  version?: number;
}

export interface ModelProto extends Message {
  irVersion?: number;
  opsetImport: OperatorSetIdProto[];
  producerName?: string;
  producerVersion?: string;
  domain?: string;
  modelVersion?: number;
  docString?: string;
  graph?: GraphProto;
  metadataProps: StringStringEntryProto[];
  trainingInfo: TrainingInfoProto[];
  functions: FunctionProto[];
}

export interface TrainingInfoProto extends Message {
  initialization?: GraphProto;
  algorithm?: GraphProto;
  initializationBinding: StringStringEntryProto[];
  updateBinding: StringStringEntryProto[];
}

export interface GraphProto extends Message {
  node: NodeProto[];
  name?: string;
  initializer: TensorProto[];
  sparseInitializer: SparseTensorProto[];
  docString?: string;
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  valueInfo: ValueInfoProto[];
  quantizationAnnotation: TensorAnnotation[];
  metadataProps: StringStringEntryProto[];
}

export interface TensorAnnotation extends Message {
  tensorName?: string;
  quantParameterTensorNames: StringStringEntryProto[];
}

export interface NodeProto extends Message {
  input: string[];
  output: string[];
  name?: string;
  opType?: string;
  domain?: string;
  overload?: string;
  attribute: AttributeProto[];
  docString?: string;
  metadataProps: StringStringEntryProto[];
}

export interface AttributeProto extends Message {
  name?: string;
  refAttrName?: string;
  docString?: string;
  /** AttributeType; models before IR 2 leave it out and the value field present says the type. */
  type?: number;
  f?: number;
  i?: bigint;
  s?: Uint8Array;
  t?: TensorProto;
  g?: GraphProto;
  sparseTensor?: SparseTensorProto;
  tp?: TypeProto;
  floats: number[];
  ints: bigint[];
  strings: Uint8Array[];
  tensors: TensorProto[];
  graphs: GraphProto[];
  sparseTensors: SparseTensorProto[];
  typeProtos: TypeProto[];
}

export interface ValueInfoProto extends Message {
  name?: string;
  type?: TypeProto;
  docString?: string;
  metadataProps: StringStringEntryProto[];
}

export interface TensorSegment extends Message {
  begin?: number;
  end?: number;
}

/**
 * A tensor. Its values live in exactly one place: `rawData` (little-endian bytes; a view on the
 * file's bytes when read), one of the typed fields, or an external file (`dataLocation` 1 and
 * `externalData` entries `location`, `offset`, `length`). `tensorValues()` decodes whichever it is.
 */
export interface TensorProto extends Message {
  dims: number[];
  dataType?: number;
  segment?: TensorSegment;
  floatData?: Float32Array;
  int32Data?: Int32Array;
  stringData: Uint8Array[];
  int64Data?: BigInt64Array;
  name?: string;
  docString?: string;
  rawData?: Uint8Array;
  externalData: StringStringEntryProto[];
  dataLocation?: number;
  doubleData?: Float64Array;
  uint64Data?: BigUint64Array;
  metadataProps: StringStringEntryProto[];
}

export interface SparseTensorProto extends Message {
  values?: TensorProto;
  indices?: TensorProto;
  dims: number[];
}

export interface TensorShapeDimension extends Message {
  dimValue?: number;
  dimParam?: string;
  denotation?: string;
}

export interface TensorShapeProto extends Message {
  dim: TensorShapeDimension[];
}

export interface TypeProtoTensor extends Message {
  elemType?: number;
  shape?: TensorShapeProto;
}

export interface TypeProtoSequence extends Message {
  elemType?: TypeProto;
}

export interface TypeProtoMap extends Message {
  keyType?: number;
  valueType?: TypeProto;
}

export interface TypeProtoOptional extends Message {
  elemType?: TypeProto;
}

export interface TypeProtoOpaque extends Message {
  domain?: string;
  name?: string;
}

/** One of its value fields is set (a oneof in onnx.proto). */
export interface TypeProto extends Message {
  tensorType?: TypeProtoTensor;
  sequenceType?: TypeProtoSequence;
  mapType?: TypeProtoMap;
  optionalType?: TypeProtoOptional;
  sparseTensorType?: TypeProtoTensor;
  opaqueType?: TypeProtoOpaque;
  denotation?: string;
}

export interface FunctionProto extends Message {
  name?: string;
  input: string[];
  output: string[];
  attribute: string[];
  attributeProto: AttributeProto[];
  node: NodeProto[];
  docString?: string;
  opsetImport: OperatorSetIdProto[];
  domain?: string;
  overload?: string;
  valueInfo: ValueInfoProto[];
  metadataProps: StringStringEntryProto[];
}

/** onnx-data.proto: the test suites' sequence values. */
export interface SequenceProto extends Message {
  name?: string;
  elemType?: number;
  tensorValues: TensorProto[];
  sparseTensorValues: SparseTensorProto[];
  sequenceValues: SequenceProto[];
  mapValues: MapProto[];
  optionalValues: OptionalProto[];
}

export interface MapProto extends Message {
  name?: string;
  keyType?: number;
  keys: bigint[];
  stringKeys: Uint8Array[];
  values?: SequenceProto;
}

export interface OptionalProto extends Message {
  name?: string;
  elemType?: number;
  tensorValue?: TensorProto;
  sparseTensorValue?: SparseTensorProto;
  sequenceValue?: SequenceProto;
  mapValue?: MapProto;
  optionalValue?: OptionalProto;
}
