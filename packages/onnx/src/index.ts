// @minnow/onnx: the protobuf wire codec, the ONNX IR, and the model reader and writer. Runs in any
// JavaScript engine; loading and saving files (external data included) is in '@minnow/onnx/node'.
export { ProtoReader, type WireType } from './wire/reader.js';
export { ProtoWriter } from './wire/writer.js';
export * from './ir/types.js';
export * as schema from './ir/schema.js';
export type { FieldKind, FieldSpec, MessageSpec } from './ir/schema.js';
export { MAX_NESTING, decodeMessage, encodeMessage } from './ir/codec.js';
export {
  dataTypeName, int64ToInt32, isExternal, makeTensor, tensorByteLength, tensorElementCount, tensorRawBytes, tensorValues,
  type TensorValues,
} from './ir/tensor.js';
export { forEachMessage, forEachTensor } from './ir/walk.js';
export { diffMessage, diffModels, diffTensors } from './ir/equal.js';
export {
  checkExternalLocation, externalDataRequest, readModel, readTensor, readValue, resolveExternalData, valueSpecFor,
  type ExternalDataRequest, type ExternalDataResolver, type ReadOptions,
} from './read.js';
export { writeModel, writeTensor, type ExternalDataOptions, type WriteOptions, type WrittenModel } from './write.js';
export { OnnxSession, type Feed, type SessionOptions, type ValueDescription } from './exec/session.js';
export type { ValueObserver } from './exec/graph.js';
export { Value, type HostData } from './exec/value.js';
export { densifySparse } from './exec/sparse.js';
export type { OpContext, OperatorDefinition, OperatorTable, OpOutput } from './exec/operator.js';
export { findOperator, supportedOperators } from './exec/registry.js';
export { GraphBuilder, attr, tensorValueInfo, type BuildOptions, type ValueDim } from './builder.js';
export { exportModule, type ExportModuleOptions } from './export/index.js';
export {
  moduleFromOnnx, type ImportOptions, type ImportReport, type ImportedLayer, type ImportedModule,
} from './import/index.js';
export type { InferredValue, ShapeInference } from './exec/infer.js';
export { summarizeModel, type ModelSummary } from './summary.js';
export { fuseQuantized } from './exec/fuse/index.js';
