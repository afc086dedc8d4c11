import { MinnowError, formatShape } from '@minnow/core';
import { ByteReader, ByteWriter, corrupt } from './bits.js';
import { MAX_CLUSTERS, MAX_GAP_BITS, codebookOf, planClustered, readClustered, writeClustered } from './clustered.js';
import { crc32 } from './crc32.js';

/**
 * minnow's compact container: named float32 tensors, each stored raw or sparse + clustered
 * (clustered.ts), closed by a CRC-32. The byte format is documented in packages/formats/README.md
 * ("compact container"); this file writes and reads the header and the per-tensor records.
 */

/** "MNWC": minnow compact. */
export const COMPACT_MAGIC = Uint8Array.of(0x4d, 0x4e, 0x57, 0x43);
export const COMPACT_VERSION = 1;
/** decodeCompact's default cap on the elements of all tensors together: 2^28 (1 GiB of float32). */
export const DEFAULT_MAX_ELEMENTS = 2 ** 28;
const MAX_RANK = 32;
const MAX_NAME_BYTES = 65535;

const RAW = 0;
const CLUSTERED = 1;

/** How a tensor is stored: raw float32, or sparse + clustered (a codebook, relative indices, Huffman coding). */
export type CompactEncoding = 'raw' | 'clustered';

export interface CompactTensorInput {
  readonly shape: readonly number[];
  /** Row-major values, as many as the shape has elements. */
  readonly values: Float32Array;
  /**
   * 'raw'; 'clustered' (the distinct nonzero values, at most 65535, become the codebook: give it
   * clustered weights); or 'auto' (default): clustered when that is smaller, else raw.
   */
  readonly encoding?: CompactEncoding | 'auto';
  /** Clustered: the gap width in bits (1..16); by default the one giving the smallest encoding. */
  readonly gapBits?: number;
}

export type CompactTensors = ReadonlyMap<string, CompactTensorInput> | Readonly<Record<string, CompactTensorInput>>;

/** A tensor as decoded, with what its storage cost. */
export interface CompactTensor {
  readonly shape: number[];
  readonly values: Float32Array;
  readonly encoding: CompactEncoding;
  /** Bytes of this tensor's record in the file (name, shape and data). */
  readonly storedBytes: number;
  /** Elements that are not zero. */
  readonly nonzeros: number;
  /** Clustered: codebook size, gap width, and filler entries. */
  readonly clusters?: number;
  readonly gapBits?: number;
  readonly fillers?: number;
}

export interface DecodeCompactOptions {
  /** Refuse files whose tensors hold more elements than this together (default DEFAULT_MAX_ELEMENTS). */
  readonly maxElements?: number;
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

function entriesOf(tensors: CompactTensors): [string, CompactTensorInput][] {
  if (tensors === null || typeof tensors !== 'object') throw new MinnowError('INVALID_ARGUMENT', 'encodeCompact: tensors must be a Map or an object of named tensors');
  return tensors instanceof Map ? [...(tensors as ReadonlyMap<string, CompactTensorInput>)] : Object.entries(tensors);
}

function checkInput(name: string, t: CompactTensorInput): number {
  const fail = (why: string): never => {
    throw new MinnowError('INVALID_ARGUMENT', `encodeCompact: tensor '${name}' ${why}`);
  };
  if (typeof name !== 'string') fail('has a name that is not a string');
  if (utf8Encoder.encode(name).length > MAX_NAME_BYTES) fail(`has a name over ${MAX_NAME_BYTES} bytes`);
  if (t === null || typeof t !== 'object') fail('is not an object { shape, values }');
  if (!(t.values instanceof Float32Array)) fail('needs values in a Float32Array');
  if (!Array.isArray(t.shape) || t.shape.length > MAX_RANK || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0 && d <= 0xffffffff)) {
    fail(`has shape ${JSON.stringify(t.shape)}; a shape is at most ${MAX_RANK} integers in 0..2^32-1`);
  }
  const size = t.shape.reduce((a, b) => a * b, 1);
  if (size !== t.values.length) fail(`has ${t.values.length} values for shape ${formatShape(t.shape)} (${size} elements)`);
  const encoding = t.encoding ?? 'auto';
  if (encoding !== 'raw' && encoding !== 'clustered' && encoding !== 'auto') fail(`has encoding ${JSON.stringify(encoding)}; use 'raw', 'clustered' or 'auto'`);
  if (t.gapBits !== undefined && (!Number.isInteger(t.gapBits) || t.gapBits < 1 || t.gapBits > MAX_GAP_BITS)) fail(`has gapBits ${t.gapBits}; use an integer in 1..${MAX_GAP_BITS}`);
  return size;
}

/**
 * Writes `tensors` (a Map or an object, in its order) as one compact container. Clustered tensors
 * decode to exactly the values given (-0 reads back as 0); raw ones to the same float32 bits.
 */
export function encodeCompact(tensors: CompactTensors): Uint8Array {
  const entries = entriesOf(tensors);
  const out = new ByteWriter();
  out.raw(COMPACT_MAGIC);
  out.u8(COMPACT_VERSION);
  out.varint(entries.length);
  for (const [name, t] of entries) {
    const size = checkInput(name, t);
    const encoding = t.encoding ?? 'auto';
    const nameBytes = utf8Encoder.encode(name);
    out.varint(nameBytes.length);
    out.raw(nameBytes);
    out.varint(t.shape.length);
    for (const d of t.shape) out.varint(d);
    let plan = null;
    if (encoding !== 'raw') {
      const codebook = codebookOf(t.values, MAX_CLUSTERS, name);
      if (codebook === null && encoding === 'clustered') {
        throw new MinnowError('INVALID_ARGUMENT', `encodeCompact: tensor '${name}' has more than ${MAX_CLUSTERS} distinct nonzero values; cluster it first or store it raw`);
      }
      if (codebook !== null) plan = planClustered(t.values, codebook, t.gapBits);
      if (plan !== null && encoding === 'auto' && plan.bytes >= 4 * size) plan = null;
    }
    if (plan === null) {
      out.u8(RAW);
      out.float32s(t.values);
    } else {
      out.u8(CLUSTERED);
      writeClustered(out, plan);
    }
  }
  const body = out.finish();
  const file = new Uint8Array(body.length + 4);
  file.set(body);
  new DataView(file.buffer).setUint32(body.length, crc32(body), true);
  return file;
}

/**
 * Reads a compact container: tensors by name, in file order. The magic, version and CRC-32 are
 * checked first; then every length against the bytes left before anything is allocated, and every
 * element count against `maxElements`. Anything wrong is CORRUPT_FILE naming the tensor and offset.
 */
export function decodeCompact(bytes: Uint8Array, options: DecodeCompactOptions = {}): Map<string, CompactTensor> {
  if (!(bytes instanceof Uint8Array)) throw new MinnowError('INVALID_ARGUMENT', 'decodeCompact: bytes must be a Uint8Array');
  const maxElements = options.maxElements ?? DEFAULT_MAX_ELEMENTS;
  if (!Number.isSafeInteger(maxElements) || maxElements < 0) throw new MinnowError('INVALID_ARGUMENT', `decodeCompact: maxElements must be an integer >= 0, got ${maxElements}`);
  if (bytes.length < COMPACT_MAGIC.length + 2 + 4) throw corrupt(`the file is ${bytes.length} bytes, too short for a header and checksum`);
  if (!COMPACT_MAGIC.every((b, i) => bytes[i] === b)) throw corrupt('not a minnow compact file (bytes 0..4 are not "MNWC")');
  const version = bytes[COMPACT_MAGIC.length];
  if (version !== COMPACT_VERSION) throw corrupt(`version ${version} at byte 4; this reader knows version ${COMPACT_VERSION}`);
  const bodyEnd = bytes.length - 4;
  const stored = new DataView(bytes.buffer, bytes.byteOffset + bodyEnd, 4).getUint32(0, true);
  const actual = crc32(bytes.subarray(0, bodyEnd));
  if (stored !== actual) throw corrupt(`checksum mismatch (CRC-32 stored 0x${hex(stored)}, computed 0x${hex(actual)}): the file is damaged`);
  const reader = new ByteReader(bytes, COMPACT_MAGIC.length + 1, bodyEnd);
  const count = reader.varint('tensor count');
  const tensors = new Map<string, CompactTensor>();
  let elements = 0;
  const allocate = (n: number): Float32Array => new Float32Array(n);
  for (let t = 0; t < count; t++) {
    const start = reader.offset;
    const nameLength = reader.varint(`tensor ${t} name length`);
    let name: string;
    try {
      name = utf8Decoder.decode(reader.take(nameLength, `tensor ${t} name`));
    } catch (error) {
      if (error instanceof MinnowError) throw error;
      throw corrupt(`tensor ${t} name at byte ${start} is not valid UTF-8`);
    }
    if (tensors.has(name)) throw corrupt(`tensor '${name}' appears twice (the second at byte ${start})`);
    const what = `tensor '${name}'`;
    const rank = reader.varint(`${what} rank`);
    if (rank > MAX_RANK) throw corrupt(`${what}: rank ${rank} is over ${MAX_RANK}`);
    const shape: number[] = [];
    let size = 1;
    for (let d = 0; d < rank; d++) {
      shape.push(reader.varint(`${what} dimension ${d}`));
      size *= shape[d];
    }
    if (!Number.isSafeInteger(size)) throw corrupt(`${what}: shape ${formatShape(shape)} has no representable element count`);
    elements += size;
    if (elements > maxElements) throw corrupt(`${what}: shape ${formatShape(shape)} brings the file to ${elements} elements, over the limit of ${maxElements} (decodeCompact's maxElements)`);
    const encodingAt = reader.offset;
    const code = reader.u8(`${what} encoding`);
    if (code === RAW) {
      if (size > Math.floor(reader.remaining / 4)) throw corrupt(`${what}: ${size} raw float32 values at byte ${reader.offset} need ${4 * size} bytes, ${reader.remaining} are left`);
      const values = reader.float32s(size, `${what} values`);
      let nonzeros = 0;
      for (let i = 0; i < size; i++) if (values[i] !== 0) nonzeros++;
      tensors.set(name, { shape, values, encoding: 'raw', storedBytes: reader.offset - start, nonzeros });
    } else if (code === CLUSTERED) {
      const read = readClustered(reader, size, what, allocate);
      tensors.set(name, {
        shape, values: read.values, encoding: 'clustered', storedBytes: reader.offset - start, nonzeros: read.nonzeros,
        clusters: read.clusters, gapBits: read.gapBits, fillers: read.fillers,
      });
    } else {
      throw corrupt(`${what}: unknown encoding ${code} at byte ${encodingAt}`);
    }
  }
  if (reader.remaining !== 0) throw corrupt(`${reader.remaining} bytes after the last tensor (at byte ${reader.offset})`);
  return tensors;
}

function hex(n: number): string {
  return n.toString(16).padStart(8, '0');
}
