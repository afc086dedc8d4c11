import { describe, expect, it } from 'vitest';
import { encodeBFloat16, encodeFloat16 } from '@minnow/core';
import {
  MAX_HEADER_BYTES, SAFETENSORS_DTYPES, parseSafetensors, safetensorsTensor, safetensorsValues, serializeSafetensors,
  type SafetensorsTensor, type SafetensorsValues,
} from '@minnow/formats';
import { expectMinnowError } from '../helpers/reference.js';

const text = new TextEncoder();

/** A safetensors file written by hand, per the spec: u64 LE header length, the header text, the data. */
function handWritten(header: string, data: ArrayLike<number> = [], headerLength?: bigint): Uint8Array {
  const json = text.encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  out.set(Array.from(data), 8 + json.length);
  return out;
}

/** Values as a plain list, whichever typed array holds them. */
const list = (values: SafetensorsValues): (number | bigint)[] => Array.from(values as ArrayLike<number | bigint>);

const f32Bytes = (...values: number[]): Uint8Array => new Uint8Array(Float32Array.from(values).buffer);

describe('safetensors: compatibility with the reference layout', () => {
  it('writes one F32 tensor byte for byte as the reference does (header already a multiple of 8)', () => {
    const out = serializeSafetensors({ 'attn.0': safetensorsTensor('F32', [1, 2, 3], Float32Array.of(0, 1, 2, 3, 4, 5)) });
    const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(64);
    expect(out).toEqual(handWritten(header, f32Bytes(0, 1, 2, 3, 4, 5)));
  });

  it('pads the header with spaces to a multiple of 8 so data stays aligned', () => {
    const out = serializeSafetensors({ attn0: safetensorsTensor('F32', [1, 1, 2, 3], Float32Array.of(0, 1, 2, 3, 4, 5)) });
    const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
    expect(header.length).toBe(65);
    expect(out).toEqual(handWritten(`${header}       `, f32Bytes(0, 1, 2, 3, 4, 5)));
    const parsed = parseSafetensors(out);
    expect(parsed.tensors.get('attn0')!.data.byteOffset % 4).toBe(0);
  });

  it('writes an empty file as {} padded to 8 bytes, and metadata first', () => {
    expect(serializeSafetensors({})).toEqual(handWritten('{}      '));
    expect(serializeSafetensors({}, { framework: 'pt' })).toEqual(handWritten('{"__metadata__":{"framework":"pt"}}     '));
  });

  it('orders tensors by descending dtype rank, then by name (UTF-8 bytes)', () => {
    const t = (dtype: 'F32' | 'U8' | 'F64' | 'BF16' | 'F16' | 'I64', n = 1): SafetensorsTensor => ({ dtype, shape: [n], data: new Uint8Array(n * { F32: 4, U8: 1, F64: 8, BF16: 2, F16: 2, I64: 8 }[dtype]) });
    const out = serializeSafetensors(new Map([['b', t('U8')], ['a', t('U8')], ['z', t('F32')], ['é', t('F64')], ['y', t('F64')], ['h', t('F16')], ['g', t('BF16')], ['i', t('I64')]]));
    expect([...parseSafetensors(out).tensors.keys()]).toEqual(['i', 'y', 'é', 'z', 'g', 'h', 'a', 'b']);
  });

  it('parses a file written by hand, entries in any order, data views on the input', () => {
    const header = '{"b":{"dtype":"I32","shape":[2,2],"data_offsets":[4,20]},"__metadata__":{"format":"pt","note":"hand"},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}';
    const f16 = new Uint8Array(encodeFloat16([1.5, -2]).buffer);
    const i32 = new Uint8Array(Int32Array.of(1, -2, 3, 2147483647).buffer);
    const bytes = handWritten(header, [...f16, ...i32]);
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).toEqual({ format: 'pt', note: 'hand' });
    expect([...parsed.tensors.keys()]).toEqual(['a', 'b']);
    const a = parsed.tensors.get('a')!;
    const b = parsed.tensors.get('b')!;
    expect(a).toMatchObject({ dtype: 'F16', shape: [2] });
    expect(list(safetensorsValues(a))).toEqual([1.5, -2]);
    expect(list(safetensorsValues(b))).toEqual([1, -2, 3, 2147483647]);
    // Views, not copies.
    expect(b.data.buffer).toBe(bytes.buffer);
    expect(b.data.byteOffset).toBe(8 + text.encode(header).length + 4);
  });

  it("parses the reference's own documentation example", () => {
    const bytes = handWritten('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}', new Uint8Array(16));
    expect(bytes[0]).toBe(0x3c);
    const t = parseSafetensors(bytes).tensors.get('test')!;
    expect(t.shape).toEqual([2, 2]);
    expect(list(safetensorsValues(t))).toEqual([0, 0, 0, 0]);
  });

  it('accepts scalars and empty tensors', () => {
    const bytes = handWritten('{"s":{"dtype":"F64","shape":[],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0,3],"data_offsets":[8,8]}}', new Uint8Array(Float64Array.of(Math.PI).buffer));
    const parsed = parseSafetensors(bytes);
    expect(list(safetensorsValues(parsed.tensors.get('s')!))).toEqual([Math.PI]);
    expect(parsed.tensors.get('e')!.data.length).toBe(0);
  });
});

describe('safetensors: round trips', () => {
  it('round-trips every dtype, with metadata, values and shapes intact', () => {
    const tensors = new Map<string, SafetensorsTensor>();
    for (const [i, dtype] of SAFETENSORS_DTYPES.entries()) {
      const width = { BOOL: 1, U8: 1, I8: 1, I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, C64: 8, F64: 8, I64: 8, U64: 8 }[dtype as string] ?? 1;
      const data = Uint8Array.from({ length: 6 * width }, (_, j) => (j * 37 + i) & 255);
      tensors.set(`t.${dtype}`, { dtype, shape: [2, 3], data });
    }
    // JSON.parse makes "__proto__" an ordinary key, as a hostile file would.
    const metadata = JSON.parse('{"format":"pt","name with \\"quotes\\"":"value\\nwith\\tcontrol ☃","__proto__":"kept as a key"}') as Record<string, string>;
    expect(Object.keys(metadata)).toContain('__proto__');
    const bytes = serializeSafetensors(tensors, metadata);
    const parsed = parseSafetensors(bytes);
    expect(parsed.metadata).toEqual(metadata);
    expect(Object.keys(parsed.metadata)).toContain('__proto__');
    expect(parsed.tensors.size).toBe(tensors.size);
    for (const [name, t] of tensors) {
      const back = parsed.tensors.get(name)!;
      expect(back.dtype).toBe(t.dtype);
      expect(back.shape).toEqual(t.shape);
      expect(back.data).toEqual(t.data);
      expect(back.data.byteOffset % (t.data.length / 6)).toBe(0);
    }
    expect(serializeSafetensors(parsed.tensors, parsed.metadata)).toEqual(bytes);
  });

  it('decodes values: F16 and BF16 to float32, I64/U64 to bigint, BOOL and F8 as bytes', () => {
    const bf16 = safetensorsTensor('BF16', [3], encodeBFloat16([1, -0.5, 256]));
    const i64 = safetensorsTensor('I64', [2], BigInt64Array.of(-(2n ** 62n), 7n));
    const u64 = safetensorsTensor('U64', [1], BigUint64Array.of(2n ** 64n - 1n));
    const bool = safetensorsTensor('BOOL', [2], Uint8Array.of(1, 0));
    const f8 = safetensorsTensor('F8_E4M3', [2], Uint8Array.of(0x38, 0xff));
    const parsed = parseSafetensors(serializeSafetensors({ bf16, i64, u64, bool, f8 })).tensors;
    expect(list(safetensorsValues(parsed.get('bf16')!))).toEqual([1, -0.5, 256]);
    expect(list(safetensorsValues(parsed.get('i64')!))).toEqual([-(2n ** 62n), 7n]);
    expect(list(safetensorsValues(parsed.get('u64')!))).toEqual([2n ** 64n - 1n]);
    expect(list(safetensorsValues(parsed.get('bool')!))).toEqual([1, 0]);
    expect(list(safetensorsValues(parsed.get('f8')!))).toEqual([0x38, 0xff]);
  });

  it('decodes unaligned data (a header not padded by its writer) by copying', () => {
    const bytes = handWritten('{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', f32Bytes(1.25, -3));
    const x = parseSafetensors(bytes).tensors.get('x')!;
    expect(x.data.byteOffset % 4).not.toBe(0);
    expect(list(safetensorsValues(x))).toEqual([1.25, -3]);
  });
});

describe('safetensors: bad files are refused with a MinnowError', () => {
  const one = '{"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';

  it('a header length over the default cap (100 MB), even when the file is short', () => {
    expectMinnowError(() => parseSafetensors(handWritten(one, f32Bytes(1, 2), BigInt(MAX_HEADER_BYTES + 1))), 'CORRUPT_FILE', 'over the cap of 100000000 bytes');
    expectMinnowError(() => parseSafetensors(handWritten(one, f32Bytes(1, 2), 2n ** 64n - 1n)), 'CORRUPT_FILE', '18446744073709551615', 'over the cap');
  });

  it('a header over a smaller cap the caller sets', () => {
    const bytes = handWritten(one, f32Bytes(1, 2));
    expect(parseSafetensors(bytes, { maxHeaderBytes: one.length }).tensors.size).toBe(1);
    expectMinnowError(() => parseSafetensors(bytes, { maxHeaderBytes: one.length - 1 }), 'CORRUPT_FILE', `header length ${one.length}`, 'over the cap');
  });

  it('overlapping offsets', () => {
    const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}';
    expectMinnowError(() => parseSafetensors(handWritten(header, new Uint8Array(12))), 'CORRUPT_FILE', "'a' [0,8]", "'b' [4,12]", 'overlap');
  });

  it('two names for the same bytes (an overlap too)', () => {
    const header = '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
    expectMinnowError(() => parseSafetensors(handWritten(header, new Uint8Array(8))), 'CORRUPT_FILE', 'overlap');
  });

  it('offsets out of range', () => {
    const header = '{"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}';
    expectMinnowError(() => parseSafetensors(handWritten(header, new Uint8Array(8))), 'CORRUPT_FILE', "tensor 'x'", '[0,16]', 'past the end of the data (8 bytes');
  });

  it('offsets that end before they begin, or are not integers', () => {
    const backwards = '{"x":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}';
    expectMinnowError(() => parseSafetensors(handWritten(backwards, new Uint8Array(8))), 'CORRUPT_FILE', 'end before they begin');
    const fraction = '{"x":{"dtype":"U8","shape":[1],"data_offsets":[0,0.5]}}';
    expectMinnowError(() => parseSafetensors(handWritten(fraction, new Uint8Array(1))), 'CORRUPT_FILE', 'not a pair of non-negative integers');
  });

  it('dtype and shape disagreeing with the byte count', () => {
    const header = '{"x":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}';
    expectMinnowError(() => parseSafetensors(handWritten(header, new Uint8Array(8))), 'CORRUPT_FILE', "tensor 'x'", 'F32 [3] needs 12 bytes', 'hold 8');
  });

  it('an unknown dtype', () => {
    const header = '{"x":{"dtype":"Q7","shape":[2],"data_offsets":[0,2]}}';
    expectMinnowError(() => parseSafetensors(handWritten(header, new Uint8Array(2))), 'UNSUPPORTED_DTYPE', "tensor 'x'", "'Q7'", 'F32');
  });

  it('a sub-byte dtype the format defines but minnow does not read', () => {
    const header = '{"x":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}';
    expectMinnowError(() => parseSafetensors(handWritten(header, new Uint8Array(1))), 'UNSUPPORTED_DTYPE', 'F4 packs several elements per byte');
  });

  it('bytes that belong to no tensor: a gap, or trailing bytes', () => {
    const gap = '{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"b":{"dtype":"U8","shape":[1],"data_offsets":[2,3]}}';
    expectMinnowError(() => parseSafetensors(handWritten(gap, new Uint8Array(3))), 'CORRUPT_FILE', 'data bytes 1..2', 'belong to no tensor');
    expectMinnowError(() => parseSafetensors(handWritten(one, new Uint8Array(9))), 'CORRUPT_FILE', 'data bytes 8..9', 'after the last tensor');
  });

  it('a file too short for the length, a header running past the end, a header that is not a JSON object', () => {
    expectMinnowError(() => parseSafetensors(new Uint8Array(5)), 'CORRUPT_FILE', 'the file is 5 bytes');
    expectMinnowError(() => parseSafetensors(handWritten(one, [], 1000n)), 'CORRUPT_FILE', 'header length 1000', 'runs past the end');
    expectMinnowError(() => parseSafetensors(handWritten('')), 'CORRUPT_FILE', "does not start with '{'");
    expectMinnowError(() => parseSafetensors(handWritten('[1,2]')), 'CORRUPT_FILE', "does not start with '{'");
    expectMinnowError(() => parseSafetensors(handWritten('{"x":')), 'CORRUPT_FILE', 'not valid JSON');
    const badUtf8 = handWritten('{"x":1}');
    badUtf8[10] = 0xff;
    expectMinnowError(() => parseSafetensors(badUtf8), 'CORRUPT_FILE', 'not valid UTF-8');
  });

  it('malformed entries and metadata', () => {
    expectMinnowError(() => parseSafetensors(handWritten('{"x":5}')), 'CORRUPT_FILE', "tensor 'x': its entry is not an object");
    expectMinnowError(() => parseSafetensors(handWritten('{"x":{"shape":[1],"data_offsets":[0,1]}}', [0])), 'CORRUPT_FILE', 'dtype is missing');
    expectMinnowError(() => parseSafetensors(handWritten('{"x":{"dtype":"U8","shape":[-1],"data_offsets":[0,1]}}', [0])), 'CORRUPT_FILE', 'shape [-1]');
    expectMinnowError(() => parseSafetensors(handWritten('{"x":{"dtype":"U8","shape":[1]}}', [0])), 'CORRUPT_FILE', 'data_offsets missing');
    expectMinnowError(() => parseSafetensors(handWritten('{"__metadata__":{"n":1}}')), 'CORRUPT_FILE', "__metadata__['n'] is 1, not a string");
    expectMinnowError(() => parseSafetensors(handWritten('{"__metadata__":[]}')), 'CORRUPT_FILE', '__metadata__ is not an object');
  });

  it('serialize refuses what it cannot write faithfully', () => {
    expectMinnowError(() => serializeSafetensors({ x: { dtype: 'F32', shape: [3], data: new Uint8Array(8) } }), 'INVALID_SHAPE', "tensor 'x'", 'needs 12 bytes');
    expectMinnowError(() => serializeSafetensors({ x: { dtype: 'F5' as 'F32', shape: [1], data: new Uint8Array(1) } }), 'UNSUPPORTED_DTYPE', "'F5'");
    expectMinnowError(() => serializeSafetensors({ __metadata__: safetensorsTensor('U8', [1], Uint8Array.of(1)) }), 'INVALID_ARGUMENT', 'reserved');
    expectMinnowError(() => serializeSafetensors({}, { n: 1 as unknown as string }), 'INVALID_ARGUMENT', "metadata 'n'");
    expectMinnowError(() => safetensorsTensor('F32', [2], Float32Array.of(1)), 'INVALID_SHAPE', 'needs 8 bytes');
  });
});
