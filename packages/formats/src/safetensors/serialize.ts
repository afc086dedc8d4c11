import { MinnowError, formatShape } from '@minnow/core';
import { dtypeBytes, dtypeRank, elementCount, isSafetensorsDtype, whyDtypeUnsupported, type SafetensorsTensor } from './dtypes.js';

/** Tensors by name, as a Map or a plain object. */
export type SafetensorsTensors = ReadonlyMap<string, SafetensorsTensor> | Readonly<Record<string, SafetensorsTensor>>;

const utf8 = new TextEncoder();

function entriesOf(tensors: SafetensorsTensors): [string, SafetensorsTensor][] {
  if (tensors instanceof Map) return [...tensors.entries()];
  return Object.entries(tensors as Record<string, SafetensorsTensor>);
}

/** Byte-wise comparison of UTF-8 encodings: the order of Rust's String, which the reference sorts by. */
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}

function checkTensor(name: string, t: SafetensorsTensor): void {
  const at = `serializeSafetensors: tensor '${name}'`;
  if (name === '__metadata__') throw new MinnowError('INVALID_ARGUMENT', `${at}: the name is reserved for the metadata map`);
  if (typeof t.dtype !== 'string' || !isSafetensorsDtype(t.dtype)) throw new MinnowError('UNSUPPORTED_DTYPE', `${at}: ${whyDtypeUnsupported(String(t.dtype))}`);
  const count = Array.isArray(t.shape) ? elementCount(t.shape) : undefined;
  if (count === undefined) throw new MinnowError('INVALID_SHAPE', `${at}: shape ${JSON.stringify(t.shape)} is not a list of non-negative integers`);
  if (!(t.data instanceof Uint8Array)) throw new MinnowError('INVALID_ARGUMENT', `${at}: data is not a Uint8Array`);
  const need = count * dtypeBytes(t.dtype);
  if (t.data.length !== need) {
    throw new MinnowError('INVALID_SHAPE', `${at}: ${t.dtype} ${formatShape(t.shape)} needs ${need} bytes, data holds ${t.data.length}`);
  }
}

function metadataJson(metadata: Readonly<Record<string, string>>): string | undefined {
  const entries = Object.entries(metadata);
  for (const [key, value] of entries) {
    if (typeof value !== 'string') throw new MinnowError('INVALID_ARGUMENT', `serializeSafetensors: metadata '${key}' is ${typeof value}, the format allows only strings`);
  }
  if (entries.length === 0) return undefined;
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`;
}

/**
 * Writes tensors (and an optional `__metadata__` map of strings) as a safetensors file, laid out as
 * the reference implementation does: tensors by descending dtype width, then by name, packed with
 * no gaps; the JSON header padded with spaces to a multiple of 8 bytes, so every tensor starts at
 * an offset its element size divides. Metadata is written only when it has entries.
 */
export function serializeSafetensors(tensors: SafetensorsTensors, metadata: Readonly<Record<string, string>> = {}): Uint8Array {
  const sorted = entriesOf(tensors).map(([name, tensor]) => {
    checkTensor(name, tensor);
    return { name, tensor, key: utf8.encode(name) };
  });
  sorted.sort((a, b) => dtypeRank(b.tensor.dtype) - dtypeRank(a.tensor.dtype) || compareBytes(a.key, b.key));
  const parts: string[] = [];
  const meta = metadataJson(metadata);
  if (meta !== undefined) parts.push(`"__metadata__":${meta}`);
  let offset = 0;
  for (const { name, tensor } of sorted) {
    const end = offset + tensor.data.length;
    parts.push(`${JSON.stringify(name)}:{"dtype":"${tensor.dtype}","shape":[${tensor.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const { tensor } of sorted) {
    out.set(tensor.data, at);
    at += tensor.data.length;
  }
  return out;
}
