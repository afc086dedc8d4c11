import { MinnowError, formatShape } from '@minnow/core';
import {
  dtypeBytes, elementCount, isSafetensorsDtype, whyDtypeUnsupported, type SafetensorsFile, type SafetensorsTensor,
} from './dtypes.js';

/**
 * The largest header minnow reads unless told otherwise: the reference implementation's limit. A
 * header is JSON that must be parsed whole before anything else is known, so the cap bounds the
 * memory and time a hostile length can cost.
 */
export const MAX_HEADER_BYTES = 100_000_000;

export interface ParseSafetensorsOptions {
  /** Refuse a header longer than this many bytes (default MAX_HEADER_BYTES). */
  maxHeaderBytes?: number;
}

const METADATA_KEY = '__metadata__';
const utf8 = new TextDecoder('utf-8', { fatal: true });

function corrupt(message: string): MinnowError {
  return new MinnowError('CORRUPT_FILE', `safetensors: ${message}`);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isOffset(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

interface Entry {
  readonly name: string;
  readonly tensor: Omit<SafetensorsTensor, 'data'>;
  readonly begin: number;
  readonly end: number;
}

/** Reads the 8-byte little-endian header length, refusing one past the cap or past the end of the file. */
function readHeaderLength(bytes: Uint8Array, cap: number): number {
  if (bytes.length < 8) throw corrupt(`the file is ${bytes.length} bytes, too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, 8);
  const length = view.getBigUint64(0, true);
  if (length > BigInt(cap)) throw corrupt(`header length ${length} (bytes 0..8) is over the cap of ${cap} bytes`);
  const n = Number(length);
  if (8 + n > bytes.length) throw corrupt(`header length ${n} (bytes 0..8) runs past the end of the file (${bytes.length} bytes)`);
  return n;
}

function parseHeaderJson(bytes: Uint8Array, n: number): Record<string, unknown> {
  if (n === 0 || bytes[8] !== 0x7b) throw corrupt(`the header does not start with '{' at byte 8`);
  let text: string;
  try {
    text = utf8.decode(bytes.subarray(8, 8 + n));
  } catch {
    throw corrupt(`the header (bytes 8..${8 + n}) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (error) {
    throw corrupt(`the header (bytes 8..${8 + n}) is not valid JSON: ${(error as Error).message}`);
  }
  if (!isPlainObject(header)) throw corrupt('the header is not a JSON object');
  return header;
}

function parseMetadata(value: unknown): Record<string, string> {
  if (!isPlainObject(value)) throw corrupt(`${METADATA_KEY} is not an object of strings`);
  for (const [key, v] of Object.entries(value)) {
    if (typeof v !== 'string') throw corrupt(`${METADATA_KEY}['${key}'] is ${JSON.stringify(v) ?? typeof v}, not a string`);
  }
  // fromEntries defines own properties, so a key like "__proto__" stays a key.
  return Object.fromEntries(Object.entries(value)) as Record<string, string>;
}

/** Checks one tensor's entry: its fields, its dtype, and that its byte range fits the data and its dtype and shape. */
function parseEntry(name: string, value: unknown, dataLength: number, dataStart: number): Entry {
  const at = `tensor '${name}'`;
  if (!isPlainObject(value)) throw corrupt(`${at}: its entry is not an object`);
  const { dtype, shape, data_offsets: offsets } = value;
  if (typeof dtype !== 'string') throw corrupt(`${at}: dtype is missing or not a string`);
  if (!isSafetensorsDtype(dtype)) throw new MinnowError('UNSUPPORTED_DTYPE', `safetensors: ${at}: ${whyDtypeUnsupported(dtype)}`);
  if (!Array.isArray(shape)) throw corrupt(`${at}: shape is missing or not a list`);
  const count = elementCount(shape);
  if (count === undefined) throw corrupt(`${at}: shape ${JSON.stringify(shape)} is not a list of non-negative integers with a product below 2^53`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !isOffset(offsets[0]) || !isOffset(offsets[1])) {
    throw corrupt(`${at}: data_offsets ${JSON.stringify(offsets) ?? 'missing'} is not a pair of non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) throw corrupt(`${at}: data_offsets [${begin},${end}] end before they begin`);
  if (end > dataLength) {
    throw corrupt(`${at}: data_offsets [${begin},${end}] run past the end of the data (${dataLength} bytes from byte ${dataStart})`);
  }
  const need = count * dtypeBytes(dtype);
  if (end - begin !== need) {
    throw corrupt(`${at}: ${dtype} ${formatShape(shape as number[])} needs ${need} bytes, but data_offsets [${begin},${end}] hold ${end - begin}`);
  }
  return { name, tensor: { dtype, shape: shape as number[] }, begin, end };
}

/**
 * Requires the tensors to tile the data exactly, as the format says: no overlap (two names for the
 * same bytes) and no gap or trailing bytes (which would let a file hide a second format inside).
 */
function checkTiling(entries: Entry[], dataLength: number, dataStart: number): void {
  let covered = 0;
  let previous: Entry | undefined;
  for (const entry of entries) {
    if (entry.begin < covered) {
      throw corrupt(`tensors '${previous!.name}' [${previous!.begin},${previous!.end}] and '${entry.name}' [${entry.begin},${entry.end}] overlap`);
    }
    if (entry.begin > covered) {
      throw corrupt(`data bytes ${covered}..${entry.begin} (file byte ${dataStart + covered}) belong to no tensor`);
    }
    covered = entry.end;
    previous = entry;
  }
  if (covered !== dataLength) {
    throw corrupt(`data bytes ${covered}..${dataLength} (file byte ${dataStart + covered}) after the last tensor belong to no tensor`);
  }
}

/**
 * Parses a safetensors file: an 8-byte little-endian header length N, N bytes of JSON header (a
 * tensor entry `{dtype, shape, data_offsets}` per name, and an optional `__metadata__` map of
 * strings), then the tensors' bytes. Every tensor's `data` is a view on `bytes`, not a copy.
 *
 * Refused with MinnowError CORRUPT_FILE: a short file, a header over the cap or past the end, a
 * header that is not UTF-8 JSON object text, an entry with bad fields, offsets out of range or
 * disagreeing with dtype and shape, overlapping tensors, bytes that belong to no tensor. A dtype
 * minnow does not know is UNSUPPORTED_DTYPE. Tensors come back in data-offset order.
 */
export function parseSafetensors(bytes: Uint8Array, options: ParseSafetensorsOptions = {}): SafetensorsFile {
  if (!(bytes instanceof Uint8Array)) throw new MinnowError('INVALID_ARGUMENT', 'parseSafetensors: expected the file as a Uint8Array');
  const cap = options.maxHeaderBytes ?? MAX_HEADER_BYTES;
  if (!Number.isSafeInteger(cap) || cap < 2) throw new MinnowError('INVALID_ARGUMENT', `parseSafetensors: maxHeaderBytes ${cap} is not an integer of at least 2`);
  const n = readHeaderLength(bytes, cap);
  const header = parseHeaderJson(bytes, n);
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === METADATA_KEY) metadata = parseMetadata(value);
    else entries.push(parseEntry(name, value, dataLength, dataStart));
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  checkTiling(entries, dataLength, dataStart);
  const tensors = new Map<string, SafetensorsTensor>();
  for (const { name, tensor, begin, end } of entries) {
    tensors.set(name, { ...tensor, data: bytes.subarray(dataStart + begin, dataStart + end) });
  }
  return { tensors, metadata };
}
