// The compact container: named float32 tensors stored raw or sparse + clustered (Deep Compression's
// relative-index CSR with a codebook, canonical-Huffman coded), closed by a CRC-32.
export {
  COMPACT_MAGIC, COMPACT_VERSION, DEFAULT_MAX_ELEMENTS, decodeCompact, encodeCompact, type CompactEncoding, type CompactTensor,
  type CompactTensorInput, type CompactTensors, type DecodeCompactOptions,
} from './container.js';
export { MAX_CLUSTERS, MAX_GAP_BITS } from './clustered.js';
export { crc32 } from './crc32.js';
