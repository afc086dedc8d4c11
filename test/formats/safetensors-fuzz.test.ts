import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { MinnowError } from '@minnow/core';
import { SAFETENSORS_DTYPES, parseSafetensors, serializeSafetensors, type SafetensorsDtype, type SafetensorsTensor } from '@minnow/formats';
import { runs } from '../helpers/reference.js';

const WIDTH: Record<SafetensorsDtype, number> = {
  BOOL: 1, U8: 1, I8: 1, F8_E5M2: 1, F8_E4M3: 1, F8_E8M0: 1, F8_E4M3FNUZ: 1, F8_E5M2FNUZ: 1,
  I16: 2, U16: 2, F16: 2, BF16: 2, I32: 4, U32: 4, F32: 4, C64: 8, F64: 8, I64: 8, U64: 8,
};

const arbTensor: fc.Arbitrary<SafetensorsTensor> = fc
  .record({
    dtype: fc.constantFrom(...SAFETENSORS_DTYPES),
    shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }),
  })
  .chain(({ dtype, shape }) => {
    const n = shape.reduce((a, b) => a * b, 1) * WIDTH[dtype];
    return fc.uint8Array({ minLength: n, maxLength: n }).map((data) => ({ dtype, shape, data }));
  });

const arbFile = fc.record({
  tensors: fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s !== '__metadata__'), arbTensor, { maxKeys: 5 }),
  metadata: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
});

/**
 * parseSafetensors either throws a MinnowError or returns a result that keeps the format's promises:
 * every tensor's bytes inside the input and sized by dtype and shape, no two tensors sharing bytes.
 */
function parseOrMinnowError(bytes: Uint8Array): void {
  let parsed;
  try {
    parsed = parseSafetensors(bytes);
  } catch (error) {
    if (!(error instanceof MinnowError)) throw error;
    expect(['CORRUPT_FILE', 'UNSUPPORTED_DTYPE']).toContain(error.code);
    return;
  }
  const ranges: [number, number][] = [];
  for (const t of parsed.tensors.values()) {
    expect(t.data.buffer).toBe(bytes.buffer);
    expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1) * WIDTH[t.dtype]);
    expect(t.data.byteOffset + t.data.length).toBeLessThanOrEqual(bytes.byteOffset + bytes.length);
    if (t.data.length > 0) ranges.push([t.data.byteOffset, t.data.byteOffset + t.data.length]);
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) expect(ranges[i][0]).toBeGreaterThanOrEqual(ranges[i - 1][1]);
  for (const value of Object.values(parsed.metadata)) expect(typeof value).toBe('string');
}

describe('safetensors: properties', () => {
  it('round-trips any tensors and metadata', () => {
    fc.assert(fc.property(arbFile, ({ tensors, metadata }) => {
      const bytes = serializeSafetensors(tensors, metadata);
      expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
      const parsed = parseSafetensors(bytes);
      expect(parsed.metadata).toEqual(metadata);
      expect(new Set(parsed.tensors.keys())).toEqual(new Set(Object.keys(tensors)));
      for (const [name, t] of Object.entries(tensors)) {
        const back = parsed.tensors.get(name)!;
        expect({ dtype: back.dtype, shape: back.shape }).toEqual({ dtype: t.dtype, shape: t.shape });
        expect(back.data).toEqual(t.data);
      }
    }), runs(0x5afe, 200));
  });

  it('truncated files: a MinnowError or a valid result, never a crash', () => {
    fc.assert(fc.property(arbFile, fc.nat(), ({ tensors, metadata }, cut) => {
      const bytes = serializeSafetensors(tensors, metadata);
      parseOrMinnowError(bytes.subarray(0, cut % (bytes.length + 1)));
    }), runs(0x5afe + 1, 200));
  });

  it('flipped bits and overwritten bytes: a MinnowError or a valid result', () => {
    const edit = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 }), fc.boolean(), fc.integer({ min: 0, max: 255 }));
    fc.assert(fc.property(arbFile, fc.array(edit, { minLength: 1, maxLength: 6 }), ({ tensors, metadata }, edits) => {
      const bytes = serializeSafetensors(tensors, metadata).slice();
      for (const [at, bit, flip, value] of edits) {
        const i = at % bytes.length;
        bytes[i] = flip ? bytes[i] ^ (1 << bit) : value;
      }
      parseOrMinnowError(bytes);
    }), runs(0x5afe + 2, 300));
  });

  it('an inflated or deflated header length: a MinnowError or a valid result', () => {
    const delta = fc.oneof(fc.integer({ min: -64, max: 64 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }));
    fc.assert(fc.property(arbFile, delta, ({ tensors, metadata }, change) => {
      const bytes = serializeSafetensors(tensors, metadata).slice();
      const view = new DataView(bytes.buffer);
      const length = view.getBigUint64(0, true);
      const next = typeof change === 'bigint' ? change : length + BigInt(change);
      view.setBigUint64(0, BigInt.asUintN(64, next), true);
      parseOrMinnowError(bytes);
    }), runs(0x5afe + 3, 300));
  });

  it('edits inside the JSON header (offsets, shapes, dtypes): a MinnowError or a valid result', () => {
    const replacement = fc.constantFrom('0', '1', '9', '-1', '1e3', '"', '{', '}', '[', ']', ',', 'null', 'F8_E4M3', 'U64', '99999999999999999999');
    fc.assert(fc.property(arbFile, fc.nat(), fc.nat({ max: 4 }), replacement, ({ tensors, metadata }, at, span, insert) => {
      const bytes = serializeSafetensors(tensors, metadata);
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
      const i = at % header.length;
      const edited = new TextEncoder().encode(header.slice(0, i) + insert + header.slice(i + span));
      const out = new Uint8Array(8 + edited.length + bytes.length - 8 - n);
      new DataView(out.buffer).setBigUint64(0, BigInt(edited.length), true);
      out.set(edited, 8);
      out.set(bytes.subarray(8 + n), 8 + edited.length);
      parseOrMinnowError(out);
    }), runs(0x5afe + 4, 300));
  });

  it('random bytes: a MinnowError or a valid result', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 96 }), (bytes) => parseOrMinnowError(bytes)), runs(0x5afe + 5, 300));
  });
});
