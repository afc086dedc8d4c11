import type * as IR from './types.js';

/**
 * onnx.proto and onnx-data.proto as data: each message's fields with their numbers, kinds and
 * names. The reader, the writer and the meaning-equality check all walk these tables, so a field is
 * declared once. Numbers follow onnx.proto (proto2); where it says `[packed = true]` the writer packs.
 *
 * Kinds: int64 is a bigint; int64n an int64 read as a number (an error beyond 2^53); typed repeated
 * scalars become typed arrays (Float32Array, Int32Array, BigInt64Array, Float64Array, BigUint64Array).
 */
export type FieldKind = 'int32' | 'int64' | 'int64n' | 'uint64' | 'float' | 'double' | 'bool' | 'string' | 'bytes' | 'message';

export interface FieldSpec {
  readonly number: number;
  readonly name: string;
  readonly kind: FieldKind;
  readonly repeated: boolean;
  /** Repeated scalars held as a typed array (undefined when absent) instead of a plain array. */
  readonly typed: boolean;
  /** Written packed. */
  readonly packed: boolean;
  /** The nested message's spec (kind 'message'). */
  readonly message?: () => MessageSpec;
}

export interface MessageSpec {
  readonly name: string;
  /** In field-number order, the order the writer emits them. */
  readonly fields: readonly FieldSpec[];
  readonly byNumber: ReadonlyMap<number, FieldSpec>;
}

/** The wire type each kind is written with (repeated scalars may also arrive packed, as 2). */
export const WIRE_TYPE: Readonly<Record<FieldKind, 0 | 1 | 2 | 5>> = {
  int32: 0, int64: 0, int64n: 0, uint64: 0, bool: 0, float: 5, double: 1, string: 2, bytes: 2, message: 2,
};

type Options = { repeated?: boolean; typed?: boolean; packed?: boolean; message?: () => MessageSpec };

/** One field of message type T; the name must be a property of T. */
function field<T>(number: number, name: keyof T & string, kind: FieldKind, options: Options = {}): FieldSpec {
  const typed = options.typed ?? false;
  return { number, name, kind, repeated: options.repeated ?? typed, typed, packed: options.packed ?? false, message: options.message };
}

function message<T>(name: string, fields: FieldSpec[]): MessageSpec {
  const sorted = [...fields].sort((a, b) => a.number - b.number);
  return { name, fields: sorted, byNumber: new Map(sorted.map((f) => [f.number, f])) };
}

const repeated = { repeated: true } as const;
const sub = (spec: () => MessageSpec, many = false): Options => ({ message: spec, repeated: many });

export const STRING_STRING_ENTRY: MessageSpec = message<IR.StringStringEntryProto>('StringStringEntryProto', [
  field(1, 'key', 'string'),
  field(2, 'value', 'string'),
]);

export const OPERATOR_SET_ID: MessageSpec = message<IR.OperatorSetIdProto>('OperatorSetIdProto', [
  field(1, 'domain', 'string'),
  field(2, 'version', 'int64n'),
]);

const entries = sub(() => STRING_STRING_ENTRY, true);

export const MODEL: MessageSpec = message<IR.ModelProto>('ModelProto', [
  field(1, 'irVersion', 'int64n'),
  field(8, 'opsetImport', 'message', sub(() => OPERATOR_SET_ID, true)),
  field(2, 'producerName', 'string'),
  field(3, 'producerVersion', 'string'),
  field(4, 'domain', 'string'),
  field(5, 'modelVersion', 'int64n'),
  field(6, 'docString', 'string'),
  field(7, 'graph', 'message', sub(() => GRAPH)),
  field(14, 'metadataProps', 'message', entries),
  field(20, 'trainingInfo', 'message', sub(() => TRAINING_INFO, true)),
  field(25, 'functions', 'message', sub(() => FUNCTION, true)),
]);

export const TRAINING_INFO: MessageSpec = message<IR.TrainingInfoProto>('TrainingInfoProto', [
  field(1, 'initialization', 'message', sub(() => GRAPH)),
  field(2, 'algorithm', 'message', sub(() => GRAPH)),
  field(3, 'initializationBinding', 'message', entries),
  field(4, 'updateBinding', 'message', entries),
]);

export const GRAPH: MessageSpec = message<IR.GraphProto>('GraphProto', [
  field(1, 'node', 'message', sub(() => NODE, true)),
  field(2, 'name', 'string'),
  field(5, 'initializer', 'message', sub(() => TENSOR, true)),
  field(15, 'sparseInitializer', 'message', sub(() => SPARSE_TENSOR, true)),
  field(10, 'docString', 'string'),
  field(11, 'input', 'message', sub(() => VALUE_INFO, true)),
  field(12, 'output', 'message', sub(() => VALUE_INFO, true)),
  field(13, 'valueInfo', 'message', sub(() => VALUE_INFO, true)),
  field(14, 'quantizationAnnotation', 'message', sub(() => TENSOR_ANNOTATION, true)),
  field(16, 'metadataProps', 'message', entries),
]);

export const TENSOR_ANNOTATION: MessageSpec = message<IR.TensorAnnotation>('TensorAnnotation', [
  field(1, 'tensorName', 'string'),
  field(2, 'quantParameterTensorNames', 'message', entries),
]);

export const NODE: MessageSpec = message<IR.NodeProto>('NodeProto', [
  field(1, 'input', 'string', repeated),
  field(2, 'output', 'string', repeated),
  field(3, 'name', 'string'),
  field(4, 'opType', 'string'),
  field(7, 'domain', 'string'),
  field(8, 'overload', 'string'),
  field(5, 'attribute', 'message', sub(() => ATTRIBUTE, true)),
  field(6, 'docString', 'string'),
  field(9, 'metadataProps', 'message', entries),
]);

export const ATTRIBUTE: MessageSpec = message<IR.AttributeProto>('AttributeProto', [
  field(1, 'name', 'string'),
  field(21, 'refAttrName', 'string'),
  field(13, 'docString', 'string'),
  field(20, 'type', 'int32'),
  field(2, 'f', 'float'),
  field(3, 'i', 'int64'),
  field(4, 's', 'bytes'),
  field(5, 't', 'message', sub(() => TENSOR)),
  field(6, 'g', 'message', sub(() => GRAPH)),
  field(22, 'sparseTensor', 'message', sub(() => SPARSE_TENSOR)),
  field(14, 'tp', 'message', sub(() => TYPE)),
  field(7, 'floats', 'float', repeated),
  field(8, 'ints', 'int64', repeated),
  field(9, 'strings', 'bytes', repeated),
  field(10, 'tensors', 'message', sub(() => TENSOR, true)),
  field(11, 'graphs', 'message', sub(() => GRAPH, true)),
  field(23, 'sparseTensors', 'message', sub(() => SPARSE_TENSOR, true)),
  field(15, 'typeProtos', 'message', sub(() => TYPE, true)),
]);

export const VALUE_INFO: MessageSpec = message<IR.ValueInfoProto>('ValueInfoProto', [
  field(1, 'name', 'string'),
  field(2, 'type', 'message', sub(() => TYPE)),
  field(3, 'docString', 'string'),
  field(4, 'metadataProps', 'message', entries),
]);

export const TENSOR_SEGMENT: MessageSpec = message<IR.TensorSegment>('TensorProto.Segment', [
  field(1, 'begin', 'int64n'),
  field(2, 'end', 'int64n'),
]);

export const TENSOR: MessageSpec = message<IR.TensorProto>('TensorProto', [
  field(1, 'dims', 'int64n', repeated),
  field(2, 'dataType', 'int32'),
  field(3, 'segment', 'message', sub(() => TENSOR_SEGMENT)),
  field(4, 'floatData', 'float', { typed: true, packed: true }),
  field(5, 'int32Data', 'int32', { typed: true, packed: true }),
  field(6, 'stringData', 'bytes', repeated),
  field(7, 'int64Data', 'int64', { typed: true, packed: true }),
  field(8, 'name', 'string'),
  field(12, 'docString', 'string'),
  field(9, 'rawData', 'bytes'),
  field(13, 'externalData', 'message', entries),
  field(14, 'dataLocation', 'int32'),
  field(10, 'doubleData', 'double', { typed: true, packed: true }),
  field(11, 'uint64Data', 'uint64', { typed: true, packed: true }),
  field(16, 'metadataProps', 'message', entries),
]);

/** TensorProto fields that hold its values; meaning-equality compares decoded values instead. */
export const TENSOR_STORAGE_FIELDS: ReadonlySet<string> = new Set([
  'floatData', 'int32Data', 'stringData', 'int64Data', 'rawData', 'externalData', 'dataLocation', 'doubleData', 'uint64Data',
]);

export const SPARSE_TENSOR: MessageSpec = message<IR.SparseTensorProto>('SparseTensorProto', [
  field(1, 'values', 'message', sub(() => TENSOR)),
  field(2, 'indices', 'message', sub(() => TENSOR)),
  field(3, 'dims', 'int64n', repeated),
]);

export const DIMENSION: MessageSpec = message<IR.TensorShapeDimension>('TensorShapeProto.Dimension', [
  field(1, 'dimValue', 'int64n'),
  field(2, 'dimParam', 'string'),
  field(3, 'denotation', 'string'),
]);

export const TENSOR_SHAPE: MessageSpec = message<IR.TensorShapeProto>('TensorShapeProto', [
  field(1, 'dim', 'message', sub(() => DIMENSION, true)),
]);

export const TYPE_TENSOR: MessageSpec = message<IR.TypeProtoTensor>('TypeProto.Tensor', [
  field(1, 'elemType', 'int32'),
  field(2, 'shape', 'message', sub(() => TENSOR_SHAPE)),
]);

export const TYPE_SEQUENCE: MessageSpec = message<IR.TypeProtoSequence>('TypeProto.Sequence', [
  field(1, 'elemType', 'message', sub(() => TYPE)),
]);

export const TYPE_MAP: MessageSpec = message<IR.TypeProtoMap>('TypeProto.Map', [
  field(1, 'keyType', 'int32'),
  field(2, 'valueType', 'message', sub(() => TYPE)),
]);

export const TYPE_OPTIONAL: MessageSpec = message<IR.TypeProtoOptional>('TypeProto.Optional', [
  field(1, 'elemType', 'message', sub(() => TYPE)),
]);

export const TYPE_OPAQUE: MessageSpec = message<IR.TypeProtoOpaque>('TypeProto.Opaque', [
  field(1, 'domain', 'string'),
  field(2, 'name', 'string'),
]);

export const TYPE: MessageSpec = message<IR.TypeProto>('TypeProto', [
  field(1, 'tensorType', 'message', sub(() => TYPE_TENSOR)),
  field(4, 'sequenceType', 'message', sub(() => TYPE_SEQUENCE)),
  field(5, 'mapType', 'message', sub(() => TYPE_MAP)),
  field(9, 'optionalType', 'message', sub(() => TYPE_OPTIONAL)),
  field(8, 'sparseTensorType', 'message', sub(() => TYPE_TENSOR)),
  field(7, 'opaqueType', 'message', sub(() => TYPE_OPAQUE)),
  field(6, 'denotation', 'string'),
]);

export const FUNCTION: MessageSpec = message<IR.FunctionProto>('FunctionProto', [
  field(1, 'name', 'string'),
  field(4, 'input', 'string', repeated),
  field(5, 'output', 'string', repeated),
  field(6, 'attribute', 'string', repeated),
  field(11, 'attributeProto', 'message', sub(() => ATTRIBUTE, true)),
  field(7, 'node', 'message', sub(() => NODE, true)),
  field(8, 'docString', 'string'),
  field(9, 'opsetImport', 'message', sub(() => OPERATOR_SET_ID, true)),
  field(10, 'domain', 'string'),
  field(13, 'overload', 'string'),
  field(12, 'valueInfo', 'message', sub(() => VALUE_INFO, true)),
  field(14, 'metadataProps', 'message', entries),
]);

export const SEQUENCE: MessageSpec = message<IR.SequenceProto>('SequenceProto', [
  field(1, 'name', 'string'),
  field(2, 'elemType', 'int32'),
  field(3, 'tensorValues', 'message', sub(() => TENSOR, true)),
  field(4, 'sparseTensorValues', 'message', sub(() => SPARSE_TENSOR, true)),
  field(5, 'sequenceValues', 'message', sub(() => SEQUENCE, true)),
  field(6, 'mapValues', 'message', sub(() => MAP, true)),
  field(7, 'optionalValues', 'message', sub(() => OPTIONAL, true)),
]);

export const MAP: MessageSpec = message<IR.MapProto>('MapProto', [
  field(1, 'name', 'string'),
  field(2, 'keyType', 'int32'),
  field(3, 'keys', 'int64', repeated),
  field(4, 'stringKeys', 'bytes', repeated),
  field(5, 'values', 'message', sub(() => SEQUENCE)),
]);

export const OPTIONAL: MessageSpec = message<IR.OptionalProto>('OptionalProto', [
  field(1, 'name', 'string'),
  field(2, 'elemType', 'int32'),
  field(3, 'tensorValue', 'message', sub(() => TENSOR)),
  field(4, 'sparseTensorValue', 'message', sub(() => SPARSE_TENSOR)),
  field(5, 'sequenceValue', 'message', sub(() => SEQUENCE)),
  field(6, 'mapValue', 'message', sub(() => MAP)),
  field(7, 'optionalValue', 'message', sub(() => OPTIONAL)),
]);
