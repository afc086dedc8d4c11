import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MinnowError, Random } from '@minnow/core';
import {
  COMPACT_MAGIC, crc32, decodeCompact, encodeCompact, type CompactTensor, type CompactTensorInput,
} from '@minnow/formats';
import { readCompactFile, writeCompactFile } from '@minnow/formats/node';
import { canonicalCodes, huffmanLengths } from '../../packages/formats/src/compact/huffman.js';
import { expectMinnowError, runs } from '../helpers/reference.js';

// The compact container: exact round trips for every encoding, canonical Huffman codes that are
// prefix-free and within a bit of the entropy, sizes measured on a Deep Compression sized layer, and
// damaged bytes that end in a MinnowError (or a valid result), never a crash, a hang or a huge allocation.

/** A tensor whose nonzero values come from a codebook of `k` float32 values, at density `density`. */
function clusteredValues(random: Random, size: number, k: number, density: number): Float32Array {
  const codebook = Array.from({ length: k }, () => Math.fround((random.uniform() - 0.5) * 0.4) || 0.01);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) if (random.uniform() < density) values[i] = codebook[random.int(k)];
  return values;
}

const arbTensor: fc.Arbitrary<CompactTensorInput> = fc
  .record({
    shape: fc.oneof(
      fc.array(fc.integer({ min: 0, max: 6 }), { maxLength: 3 }),
      fc.integer({ min: 0, max: 600 }).map((n) => [n]), // long rows: gaps past every small gap width
    ),
    k: fc.integer({ min: 1, max: 40 }),
    density: fc.constantFrom(0, 0.01, 0.08, 0.5, 1),
    seed: fc.nat(),
    encoding: fc.constantFrom('raw', 'clustered', 'auto', undefined),
    gapBits: fc.option(fc.integer({ min: 1, max: 16 }), { nil: undefined }),
    dense: fc.boolean(),
  })
  .map(({ shape, k, density, seed, encoding, gapBits, dense }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const random = new Random(seed);
    // `dense`: arbitrary float32 values (only raw and auto can hold them), else clustered values.
    const values = dense && encoding !== 'clustered'
      ? Float32Array.from({ length: size }, () => random.normal())
      : clusteredValues(random, size, k, density);
    return { shape, values, encoding, gapBits };
  });

function expectSame(back: CompactTensor, given: CompactTensorInput): void {
  expect(back.shape).toEqual([...given.shape]);
  expect(back.values.length).toBe(given.values.length);
  for (let i = 0; i < given.values.length; i++) {
    if (back.values[i] !== given.values[i]) throw new Error(`element ${i}: ${back.values[i]} != ${given.values[i]}`);
  }
  expect(back.nonzeros).toBe(given.values.filter((v) => v !== 0).length);
}

describe('compact container: round trips', () => {
  it('gives back exactly the values of any tensors, in order, in every encoding', () => {
    fc.assert(fc.property(fc.array(arbTensor, { maxLength: 4 }), (list) => {
      const tensors = new Map(list.map((t, i) => [`layer${i}.weight`, t]));
      const bytes = encodeCompact(tensors);
      const back = decodeCompact(bytes);
      expect([...back.keys()]).toEqual([...tensors.keys()]);
      let recordBytes = 0;
      for (const [name, t] of tensors) {
        const b = back.get(name)!;
        expectSame(b, t);
        recordBytes += b.storedBytes;
        if (t.encoding === 'raw') expect(b.encoding).toBe('raw');
        if (t.encoding === 'clustered') {
          expect(b.encoding).toBe('clustered');
          if (t.gapBits !== undefined) expect(b.gapBits).toBe(t.gapBits);
        }
        // auto never stores a tensor in more bytes than raw float32 would take.
        if ((t.encoding ?? 'auto') === 'auto' && b.encoding === 'clustered') expect(b.storedBytes).toBeLessThan(4 * t.values.length + 16);
      }
      // magic, version, a one-byte count, the records, the CRC.
      expect(bytes.length).toBe(COMPACT_MAGIC.length + 1 + 1 + recordBytes + 4);
    }), runs(0xc0a1, 150));
  });

  it('handles empty tensors, a single value, all zeros, scalars and an empty file', () => {
    const cases: Record<string, CompactTensorInput> = {
      empty: { shape: [0, 3], values: new Float32Array(0), encoding: 'clustered' },
      emptyRaw: { shape: [4, 0], values: new Float32Array(0), encoding: 'raw' },
      scalar: { shape: [], values: Float32Array.of(-1.5), encoding: 'clustered' },
      one: { shape: [1], values: Float32Array.of(0.25), encoding: 'clustered' },
      zeros: { shape: [50, 40], values: new Float32Array(2000), encoding: 'clustered' },
      zerosAuto: { shape: [2000], values: new Float32Array(2000) },
      lastOnly: { shape: [100_000], values: Object.assign(new Float32Array(100_000), { 99_999: 3 }), encoding: 'clustered', gapBits: 1 },
      dense: { shape: [3, 3], values: Float32Array.of(1, 2, 1, 2, 1, 2, 1, 2, 1), encoding: 'clustered' },
      negativeZero: { shape: [3], values: Float32Array.of(-0, 1, -0), encoding: 'clustered' },
      special: { shape: [4], values: Float32Array.of(NaN, Infinity, -Infinity, -0), encoding: 'raw' },
    };
    const back = decodeCompact(encodeCompact(cases));
    for (const [name, t] of Object.entries(cases)) {
      const b = back.get(name)!;
      expect(b.shape).toEqual(t.shape);
      expect([...b.values].map((v) => (Number.isNaN(v) ? 'NaN' : v))).toEqual([...t.values].map((v) => (Number.isNaN(v) ? 'NaN' : v === 0 && name !== 'special' ? 0 : v)));
    }
    expect(Object.is(back.get('special')!.values[3], -0)).toBe(true); // raw keeps the float32 bits
    expect(Object.is(back.get('negativeZero')!.values[0], 0)).toBe(true); // clustered stores zeros as absent
    expect(back.get('zeros')!.storedBytes).toBeLessThan(20);
    expect(back.get('zerosAuto')!.encoding).toBe('clustered');
    // 99 999 zeros at 1-bit gaps: 49 999 fillers, then the value.
    expect(back.get('lastOnly')!.fillers).toBe(49_999);
    // A dense clustered tensor needs no gap bits: its gaps are all 0, a one-symbol stream (2 bytes).
    // name 6, shape 3, encoding 1, gap width 1, k 1, codebook 8, entry count 1, index stream 6
    // (mode, table size, length, then 2 x 5 bits of code lengths and 9 one-bit codes in 3 bytes), gap stream 2.
    expect(back.get('dense')!.storedBytes).toBe(6 + 3 + 1 + 1 + 1 + 8 + 1 + 6 + 2);
    expect(decodeCompact(encodeCompact({})).size).toBe(0);
  });

  it('auto keeps unclustered values raw and clusters clustered ones', () => {
    const random = new Random(3);
    const noisy = Float32Array.from({ length: 1000 }, () => random.normal());
    const shared = clusteredValues(random, 1000, 16, 1);
    const back = decodeCompact(encodeCompact({ noisy: { shape: [1000], values: noisy }, shared: { shape: [1000], values: shared } }));
    expect(back.get('noisy')!.encoding).toBe('raw');
    expect(back.get('shared')!.encoding).toBe('clustered');
    expect(back.get('shared')!.storedBytes).toBeLessThan(1000 * 0.5 + 100); // about 4 bits a value, not 32
  });

  it('refuses what it cannot store, naming the tensor', () => {
    expectMinnowError(() => encodeCompact({ w: { shape: [2, 2], values: new Float32Array(3) } }), 'INVALID_ARGUMENT', "'w'", '3 values');
    expectMinnowError(() => encodeCompact({ w: { shape: [2], values: [1, 2] as unknown as Float32Array } }), 'INVALID_ARGUMENT', 'Float32Array');
    expectMinnowError(() => encodeCompact({ w: { shape: [-1], values: new Float32Array(0) } }), 'INVALID_ARGUMENT', 'shape');
    expectMinnowError(() => encodeCompact({ w: { shape: [2], values: Float32Array.of(1, NaN), encoding: 'clustered' } }), 'INVALID_ARGUMENT', "'w'", 'NaN', 'element 1');
    expectMinnowError(() => encodeCompact({ w: { shape: [1], values: Float32Array.of(1), encoding: 'zip' as 'raw' } }), 'INVALID_ARGUMENT', 'encoding');
    expectMinnowError(() => encodeCompact({ w: { shape: [1], values: Float32Array.of(1), gapBits: 17 } }), 'INVALID_ARGUMENT', 'gapBits');
    const many = Float32Array.from({ length: 70_000 }, (_, i) => i + 1);
    expectMinnowError(() => encodeCompact({ w: { shape: [70_000], values: many, encoding: 'clustered' } }), 'INVALID_ARGUMENT', 'more than 65535');
    expect(decodeCompact(encodeCompact({ w: { shape: [70_000], values: many } })).get('w')!.encoding).toBe('raw');
  });
});

describe('compact container: canonical Huffman codes and CRC-32', () => {
  it('CRC-32 matches the standard check value', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
    expect(crc32(new Uint8Array(0))).toBe(0);
  });

  it('codes are complete, prefix-free, capped, and within one bit of the entropy per symbol', () => {
    const arbFreqs = fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 2 ** 30 })), { minLength: 2, maxLength: 300 });
    fc.assert(fc.property(arbFreqs, (freqs) => {
      const lengths = huffmanLengths(freqs, 12);
      const used = freqs.filter((f) => f > 0).length;
      freqs.forEach((f, s) => expect(lengths[s] > 0).toBe(f > 0));
      if (used < 2) return;
      let kraft = 0;
      for (const l of lengths) if (l > 0) kraft += 2 ** -l;
      expect(kraft).toBe(1);
      expect(Math.max(...lengths)).toBeLessThanOrEqual(12);
      const codes = canonicalCodes(lengths);
      const words = [...lengths].flatMap((l, s) => (l > 0 ? [codes[s].toString(2).padStart(l, '0')] : []));
      for (const a of words) for (const b of words) if (a !== b) expect(b.startsWith(a)).toBe(false);
      // Unlimited lengths: a Huffman code's mean length is within [H, H + 1).
      const free = huffmanLengths(freqs, 64);
      const total = freqs.reduce((a, b) => a + b, 0);
      let entropy = 0;
      let mean = 0;
      freqs.forEach((f, s) => {
        if (f === 0) return;
        entropy -= (f / total) * Math.log2(f / total);
        mean += (f / total) * free[s];
      });
      if (Math.max(...free) <= 24) {
        expect(mean).toBeGreaterThanOrEqual(entropy - 1e-9);
        expect(mean).toBeLessThan(entropy + 1);
      }
    }), runs(0x4aff, 200));
  });

  it('caps code lengths on Fibonacci frequencies (the deepest trees)', () => {
    const fib = [1, 1];
    while (fib.length < 40) fib.push(fib[fib.length - 1] + fib[fib.length - 2]);
    expect(Math.max(...huffmanLengths(fib, 64))).toBe(39);
    const capped = huffmanLengths(fib);
    expect(Math.max(...capped)).toBeLessThanOrEqual(24);
    expect([...capped].reduce((k, l) => k + 2 ** -l, 0)).toBe(1);
  });
});

describe('compact container: sizes', () => {
  it('stores a 300x784 layer at 92% sparsity with 5-bit clusters near the entropy of its symbols', () => {
    const random = new Random(8);
    const values = clusteredValues(random, 300 * 784, 32, 0.08);
    const bytes = encodeCompact({ 'fc1.weight': { shape: [300, 784], values, encoding: 'clustered' } });
    const back = decodeCompact(bytes).get('fc1.weight')!;
    expectSame(back, { shape: [300, 784], values });
    // The empirical entropy of the index and gap symbols the chosen gap width produces is what any
    // code for the two streams separately needs; Huffman spends less than a bit more per symbol.
    const span = 2 ** back.gapBits!;
    const indexCounts = new Map<number, number>();
    const gapCounts = new Map<number, number>();
    const bump = (m: Map<number, number>, key: number): void => void m.set(key, (m.get(key) ?? 0) + 1);
    let previous = -1;
    values.forEach((v, i) => {
      if (v === 0) return;
      let gap = i - previous - 1;
      while (gap >= span) {
        bump(indexCounts, -1);
        bump(gapCounts, span - 1);
        gap -= span;
      }
      bump(indexCounts, v);
      bump(gapCounts, gap);
      previous = i;
    });
    const bits = (m: Map<number, number>): number => {
      const n = [...m.values()].reduce((a, b) => a + b, 0);
      return [...m.values()].reduce((h, c) => h - c * Math.log2(c / n), 0);
    };
    const entries = back.nonzeros + back.fillers!;
    const entropyBytes = (bits(indexCounts) + bits(gapCounts)) / 8;
    expect(back.storedBytes).toBeGreaterThan(entropyBytes);
    expect(back.storedBytes).toBeLessThan(entropyBytes + (2 * entries) / 8 + 32 * 4 + 300);
    const perNonzero = back.storedBytes / back.nonzeros;
    console.log(`compact: 300x784, ${back.nonzeros} nonzeros (${(100 * (1 - back.nonzeros / values.length)).toFixed(1)}% sparse), 32 clusters: `
      + `${back.storedBytes} bytes = ${perNonzero.toFixed(3)} bytes (${(8 * perNonzero).toFixed(2)} bits) per nonzero; `
      + `gap ${back.gapBits} bits, ${back.fillers} fillers; entropy bound ${(entropyBytes / back.nonzeros).toFixed(3)} bytes per nonzero; `
      + `float32 dense ${values.length * 4} bytes (${((values.length * 4) / bytes.length).toFixed(1)}x)`);
    expect(perNonzero).toBeLessThan(1.5);
  });
});

describe('compact container: damaged bytes', () => {
  const TIME_LIMIT_MS = 2000;
  const sample = (seed: number): Uint8Array => {
    const random = new Random(seed);
    return encodeCompact({
      'a.weight': { shape: [20, 30], values: clusteredValues(random, 600, 8, 0.1), encoding: 'clustered' },
      'a.bias': { shape: [20], values: Float32Array.from({ length: 20 }, () => random.normal()), encoding: 'raw' },
      'b.weight': { shape: [7, 9], values: clusteredValues(random, 63, 4, 1), encoding: 'clustered', gapBits: 2 },
      'c.weight': { shape: [500], values: clusteredValues(random, 500, 3, 0.02), encoding: 'clustered', gapBits: 3 },
    });
  };

  /** Decodes damaged bytes: a valid result or a MinnowError CORRUPT_FILE, quickly, with bounded memory. */
  function decodeOrCorrupt(bytes: Uint8Array): boolean {
    const started = performance.now();
    try {
      const tensors = decodeCompact(bytes, { maxElements: 1 << 20 });
      for (const t of tensors.values()) expect(t.values.length).toBe(t.shape.reduce((a, b) => a * b, 1));
      return true;
    } catch (error) {
      if (!(error instanceof MinnowError)) throw error;
      expect(error.code).toBe('CORRUPT_FILE');
      return false;
    } finally {
      expect(performance.now() - started).toBeLessThan(TIME_LIMIT_MS);
    }
  }

  /** Rewrites the trailing CRC so that damage reaches the parser behind the checksum. */
  function resealed(bytes: Uint8Array): Uint8Array {
    const out = bytes.slice();
    if (out.length >= 4) new DataView(out.buffer).setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
    return out;
  }

  it('the checksum refuses any flipped bit', () => {
    const bytes = sample(1);
    fc.assert(fc.property(fc.nat(), fc.integer({ min: 0, max: 7 }), (at, bit) => {
      const damaged = bytes.slice();
      damaged[at % damaged.length] ^= 1 << bit;
      expect(decodeOrCorrupt(damaged)).toBe(false);
    }), runs(0xb17, 200));
  });

  it('truncated, flipped, overwritten and spliced bytes behind a valid checksum: a MinnowError or a valid result', () => {
    const edit = fc.tuple(fc.nat(), fc.integer({ min: 0, max: 7 }), fc.boolean(), fc.integer({ min: 0, max: 255 }));
    fc.assert(fc.property(fc.nat({ max: 50 }), fc.array(edit, { minLength: 1, maxLength: 6 }), fc.nat(), fc.boolean(), (seed, edits, cut, truncate) => {
      const original = sample(seed);
      let body = original.slice(0, original.length - 4);
      for (const [at, bit, flip, value] of edits) {
        const i = at % body.length;
        body[i] = flip ? body[i] ^ (1 << bit) : value;
      }
      if (truncate) body = body.subarray(0, cut % (body.length + 1));
      decodeOrCorrupt(resealed(Uint8Array.from([...body, 0, 0, 0, 0])));
    }), runs(0xdefec7, 400));
  });

  it('inflated lengths and dimensions do not allocate them', () => {
    // A tensor claiming 2^20 x 2^20 elements, one whose element count is not even representable, a raw one claiming more bytes than the file has,
    // and a clustered one whose entry count exceeds its element count: all refused before allocation.
    const header = (...record: number[]): Uint8Array => resealed(Uint8Array.from([...COMPACT_MAGIC, 1, 1, 1, 0x77, ...record, 0, 0, 0, 0]));
    const mega = [0x80, 0x80, 0x40];
    expectMinnowError(() => decodeCompact(header(2, ...mega, ...mega, 1)), 'CORRUPT_FILE', "'w'", 'over the limit');
    const big = [0xff, 0xff, 0xff, 0xff, 0x0f];
    expectMinnowError(() => decodeCompact(header(3, ...big, ...big, ...big, 1)), 'CORRUPT_FILE', "'w'", 'representable');
    expectMinnowError(() => decodeCompact(header(1, 100, 0, 1, 2, 3)), 'CORRUPT_FILE', "'w'", '400 bytes');
    expectMinnowError(() => decodeCompact(header(1, 10, 1, 4, 1, 0, 0, 0x80, 0x3f, 11)), 'CORRUPT_FILE', '11 entries');
    expectMinnowError(() => decodeCompact(header(1, 3, 7)), 'CORRUPT_FILE', 'unknown encoding 7');
    expectMinnowError(() => decodeCompact(Uint8Array.of(1, 2, 3)), 'CORRUPT_FILE', 'too short');
    expectMinnowError(() => decodeCompact(Uint8Array.of(0x50, 0x4b, 3, 4, 1, 0, 0, 0, 0, 0)), 'CORRUPT_FILE', 'not a minnow compact file');
    const later = sample(2);
    later[4] = 2;
    expectMinnowError(() => decodeCompact(later), 'CORRUPT_FILE', 'version 2');
  });
});

describe('@minnow/formats/node: compact files', () => {
  let folder: string;
  beforeAll(() => {
    folder = mkdtempSync(join(tmpdir(), 'minnow-compact-'));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('writes atomically and reads back; a damaged file is refused naming it', async () => {
    const path = join(folder, 'model.mnwc');
    const values = clusteredValues(new Random(5), 1200, 16, 0.1);
    await writeCompactFile(path, { w: { shape: [30, 40], values } });
    expect(readdirSync(folder)).toEqual(['model.mnwc']); // no temporary file left behind
    expectSame((await readCompactFile(path)).get('w')!, { shape: [30, 40], values });
    const bytes = readFileSync(path);
    bytes[bytes.length - 10] ^= 0x10;
    writeFileSync(path, bytes);
    const error = await readCompactFile(path).then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(MinnowError);
    expect((error as MinnowError).code).toBe('CORRUPT_FILE');
    expect((error as MinnowError).message).toContain(path);
    await expect(readCompactFile(join(folder, 'missing.mnwc'))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
