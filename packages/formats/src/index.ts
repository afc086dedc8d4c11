// @minnow/formats: safetensors read and write, ONNX initialisers to and from safetensors, and
// TensorFlow.js Layers models to ONNX. Runs in any JavaScript engine; reading and writing files is
// in '@minnow/formats/node'.
export {
  SAFETENSORS_DTYPES, isSafetensorsDtype, onnxDataTypeOf, safetensorsDtypeOf,
  type SafetensorsDtype, type SafetensorsFile, type SafetensorsTensor,
} from './safetensors/dtypes.js';
export { MAX_HEADER_BYTES, parseSafetensors, type ParseSafetensorsOptions } from './safetensors/parse.js';
export { serializeSafetensors, type SafetensorsTensors } from './safetensors/serialize.js';
export { safetensorsTensor, safetensorsValues, type SafetensorsValues } from './safetensors/values.js';
export {
  applySafetensorsToOnnx, safetensorsFromOnnx, type ApplySafetensorsOptions, type ApplySafetensorsResult,
} from './onnx-safetensors.js';
export { tfjsLayersToOnnx, type TfjsToOnnxOptions } from './tfjs/convert.js';
export type { ResizeSemantics } from './tfjs/context.js';
export { SUPPORTED_LAYERS } from './tfjs/layers/index.js';
export type { TfjsModelJson, TfjsWeightSpec, TfjsWeightsGroup } from './tfjs/model-json.js';
// NumPy .npy arrays (npy.ts, npy-onnx.ts: written alongside this package for `minnow run`).
export { parseNpy, serializeNpy, type NpyArray, type NpyData, type NpyDType } from './npy.js';
export { npyToTensorProto, valuesToNpy } from './npy-onnx.js';
// The compact container (compact/): raw or sparse + clustered float32 tensors, Huffman coded, CRC-32 checked.
export {
  COMPACT_MAGIC, COMPACT_VERSION, DEFAULT_MAX_ELEMENTS, MAX_CLUSTERS, MAX_GAP_BITS, crc32, decodeCompact, encodeCompact,
  type CompactEncoding, type CompactTensor, type CompactTensorInput, type CompactTensors, type DecodeCompactOptions,
} from './compact/index.js';
