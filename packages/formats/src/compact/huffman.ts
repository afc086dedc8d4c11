import { MinnowError } from '@minnow/core';
import { BitReader, BitWriter, ByteReader, ByteWriter, corrupt, varintBytes } from './bits.js';

/**
 * Canonical Huffman coding of symbol streams, small and dependency-free (no zlib, so it runs in
 * browsers). Codes are canonical (DEFLATE's rule: shorter codes first, then by symbol), so a code is
 * stored as its lengths alone. Lengths are capped at MAX_CODE_LENGTH by halving the frequencies and
 * rebuilding, which costs a fraction of a percent on the rare skewed inputs that need it.
 *
 * A stream is one mode byte, then:
 * - 0 (empty): nothing; it holds no symbols.
 * - 1 (one symbol): a varint symbol; every symbol of the stream is that one, at no bits each.
 * - 2 (coded): varint T (the table covers symbols 0..T-1), varint B, then B bytes of bits: T code
 *   lengths of LENGTH_BITS bits each (0 = unused), then the codes, the last byte zero-padded.
 * The number of symbols is not stored here: the container knows it.
 */

export const MAX_CODE_LENGTH = 24;
const LENGTH_BITS = 5;
const EMPTY = 0;
const SINGLE = 1;
const CODED = 2;

/**
 * Huffman code lengths (at most `maxLength`) for `freqs`; 0 for symbols of frequency 0. Ties are
 * broken by symbol, so the result is a pure function of the frequencies.
 */
export function huffmanLengths(freqs: ArrayLike<number>, maxLength = MAX_CODE_LENGTH): Uint8Array {
  const lengths = new Uint8Array(freqs.length);
  const used: number[] = [];
  for (let s = 0; s < freqs.length; s++) if (freqs[s] > 0) used.push(s);
  if (used.length === 0) return lengths;
  if (used.length === 1) {
    lengths[used[0]] = 1;
    return lengths;
  }
  let weights = used.map((s) => freqs[s]);
  for (;;) {
    const depths = treeDepths(weights);
    if (Math.max(...depths) <= maxLength) {
      used.forEach((s, i) => (lengths[s] = depths[i]));
      return lengths;
    }
    weights = weights.map((w) => Math.max(1, Math.floor(w / 2)));
  }
}

/** Leaf depths of a Huffman tree over `weights` (two-queue construction over leaves sorted by weight, then index). */
function treeDepths(weights: readonly number[]): number[] {
  const n = weights.length;
  const order = weights.map((_, i) => i).sort((a, b) => weights[a] - weights[b] || a - b);
  // Nodes 0..n-1 are leaves (in sorted order), n.. are internal; parent[] links them.
  const weight = new Float64Array(2 * n - 1);
  const parent = new Int32Array(2 * n - 1).fill(-1);
  order.forEach((leaf, i) => (weight[i] = weights[leaf]));
  let nextLeaf = 0;
  let nextInternal = n;
  let made = n;
  const pick = (): number => {
    // Leaves win ties, which keeps trees shallow.
    if (nextLeaf < n && (nextInternal >= made || weight[nextLeaf] <= weight[nextInternal])) return nextLeaf++;
    return nextInternal++;
  };
  while (made < 2 * n - 1) {
    const a = pick();
    const b = pick();
    weight[made] = weight[a] + weight[b];
    parent[a] = made;
    parent[b] = made;
    made++;
  }
  const depth = new Int32Array(2 * n - 1);
  for (let i = 2 * n - 3; i >= 0; i--) depth[i] = depth[parent[i]] + 1;
  const out = new Array<number>(n);
  order.forEach((leaf, i) => (out[leaf] = depth[i]));
  return out;
}

/** The canonical codes of `lengths` (code of symbol s in the low lengths[s] bits). */
export function canonicalCodes(lengths: Uint8Array): Uint32Array {
  const count = new Uint32Array(MAX_CODE_LENGTH + 2);
  for (const l of lengths) count[l]++;
  count[0] = 0;
  const next = new Uint32Array(MAX_CODE_LENGTH + 2);
  let code = 0;
  for (let len = 1; len <= MAX_CODE_LENGTH + 1; len++) {
    code = (code + count[len - 1]) << 1;
    next[len] = code;
  }
  const codes = new Uint32Array(lengths.length);
  for (let s = 0; s < lengths.length; s++) if (lengths[s] > 0) codes[s] = next[lengths[s]]++;
  return codes;
}

/** Symbol counts: freqs[s] = how many times s occurs in `symbols`. */
export function histogram(symbols: ArrayLike<number>, alphabet: number): Float64Array {
  const freqs = new Float64Array(alphabet);
  for (let i = 0; i < symbols.length; i++) freqs[symbols[i]]++;
  return freqs;
}


/** The exact size in bytes of the stream encodeHuffmanStream writes for symbols of these frequencies. */
export function huffmanStreamBytes(freqs: ArrayLike<number>): number {
  let used = 0;
  let last = -1;
  for (let s = 0; s < freqs.length; s++) if (freqs[s] > 0) {
    used++;
    last = s;
  }
  if (used === 0) return 1;
  if (used === 1) return 1 + varintBytes(last);
  const lengths = huffmanLengths(freqs);
  let bits = (last + 1) * LENGTH_BITS;
  for (let s = 0; s <= last; s++) bits += freqs[s] * lengths[s];
  const payload = Math.ceil(bits / 8);
  return 1 + varintBytes(last + 1) + varintBytes(payload) + payload;
}

/** Writes `symbols` (each below `alphabet`) as one Huffman stream. */
export function writeHuffmanStream(out: ByteWriter, symbols: ArrayLike<number>, alphabet: number): void {
  const freqs = histogram(symbols, alphabet);
  let used = 0;
  let last = -1;
  for (let s = 0; s < alphabet; s++) if (freqs[s] > 0) {
    used++;
    last = s;
  }
  if (used === 0) {
    out.u8(EMPTY);
    return;
  }
  if (used === 1) {
    out.u8(SINGLE);
    out.varint(last);
    return;
  }
  const lengths = huffmanLengths(freqs);
  const codes = canonicalCodes(lengths);
  const bits = new BitWriter();
  for (let s = 0; s <= last; s++) bits.bits(lengths[s], LENGTH_BITS);
  for (let i = 0; i < symbols.length; i++) {
    const s = symbols[i];
    bits.bits(codes[s], lengths[s]);
  }
  const payload = bits.finish();
  out.u8(CODED);
  out.varint(last + 1);
  out.varint(payload.length);
  out.raw(payload);
}

/** Symbols read one at a time from a stream; `finish()` checks that nothing is left over. */
export interface SymbolSource {
  next(): number;
  finish(): void;
}

/**
 * Opens the stream at the reader's position (moving the reader past it) for `count` symbols below
 * `alphabet`. The code table is checked (lengths in range, a complete prefix code) before any symbol
 * is read, and every symbol read is bounded by the stream's bytes.
 */
export function readHuffmanStream(reader: ByteReader, alphabet: number, count: number, what: string): SymbolSource {
  const mode = reader.u8(`${what} mode`);
  if (mode === EMPTY) {
    if (count !== 0) throw corrupt(`${what}: an empty stream for ${count} symbols`);
    return { next: () => { throw corrupt(`${what}: read past the end`); }, finish: () => undefined };
  }
  if (mode === SINGLE) {
    const symbol = reader.varint(`${what} symbol`);
    if (symbol >= alphabet) throw corrupt(`${what}: symbol ${symbol} is outside the alphabet of ${alphabet}`);
    if (count === 0) throw corrupt(`${what}: a one-symbol stream for no symbols`);
    return { next: () => symbol, finish: () => undefined };
  }
  if (mode !== CODED) throw corrupt(`${what}: unknown stream mode ${mode}`);
  const tableSize = reader.varint(`${what} table size`);
  if (tableSize < 2 || tableSize > alphabet) throw corrupt(`${what}: a code table of ${tableSize} symbols (the alphabet has ${alphabet})`);
  const byteLength = reader.varint(`${what} length`);
  const bits = new BitReader(reader.take(byteLength, `${what} bytes`), what);
  if (tableSize * LENGTH_BITS > byteLength * 8) throw corrupt(`${what}: a code table of ${tableSize} symbols does not fit in ${byteLength} bytes`);
  const lengths = new Uint8Array(tableSize);
  for (let s = 0; s < tableSize; s++) lengths[s] = bits.bits(LENGTH_BITS);
  const decoder = new HuffmanDecoder(lengths, what);
  if (count === 0) throw corrupt(`${what}: a coded stream for no symbols`);
  return {
    next: () => decoder.decode(bits),
    finish: () => bits.expectEnd(),
  };
}

/** Decodes canonical codes bit by bit with per-length counts (zlib's puff.c method). */
class HuffmanDecoder {
  private readonly count = new Uint32Array(MAX_CODE_LENGTH + 1);
  private readonly symbols: Uint32Array;

  constructor(lengths: Uint8Array, private readonly what: string) {
    let used = 0;
    for (const l of lengths) {
      if (l > MAX_CODE_LENGTH) throw corrupt(`${what}: code length ${l} is over ${MAX_CODE_LENGTH}`);
      this.count[l]++;
      if (l > 0) used++;
    }
    this.count[0] = 0;
    if (used < 2) throw corrupt(`${what}: a coded stream with ${used} symbol(s) in its table`);
    // Kraft: the code must be complete (Huffman codes are), neither over- nor under-subscribed.
    let left = 1;
    for (let len = 1; len <= MAX_CODE_LENGTH; len++) {
      left = left * 2 - this.count[len];
      if (left < 0) throw corrupt(`${what}: the code lengths are over-subscribed`);
    }
    if (left !== 0) throw corrupt(`${what}: the code lengths leave codes unused (not a Huffman code)`);
    const offsets = new Uint32Array(MAX_CODE_LENGTH + 2);
    for (let len = 1; len <= MAX_CODE_LENGTH; len++) offsets[len + 1] = offsets[len] + this.count[len];
    this.symbols = new Uint32Array(used);
    for (let s = 0; s < lengths.length; s++) if (lengths[s] > 0) this.symbols[offsets[lengths[s]]++] = s;
  }

  decode(bits: BitReader): number {
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len <= MAX_CODE_LENGTH; len++) {
      code |= bits.bit();
      const n = this.count[len];
      if (code - first < n) return this.symbols[index + code - first];
      index += n;
      first = (first + n) << 1;
      code <<= 1;
    }
    // Unreachable for a complete code; kept so a bug cannot loop.
    throw new MinnowError('INTERNAL', `${this.what}: no code matched`);
  }
}
