import { MinnowError } from '@minnow/core';
import { ByteReader, ByteWriter, corrupt, varintBytes } from './bits.js';
import { huffmanStreamBytes, readHuffmanStream, writeHuffmanStream } from './huffman.js';

/**
 * The sparse + clustered encoding of one tensor (Deep Compression, Han et al. ICLR 2016, section 3):
 * the tensor's distinct nonzero values form a codebook; the nonzero elements of the flattened tensor
 * are listed in order as entries (gap, index), where gap is the number of zeros skipped since the
 * previous entry (b-bit: at most 2^b - 1) and index picks the codebook value. A run of more zeros
 * than a gap can hold is bridged by filler entries (gap 2^b - 1, index k: an explicit zero). Both
 * symbol streams are canonical-Huffman coded. A dense clustered tensor has every gap 0, which the
 * one-symbol stream stores in no bits.
 *
 * Layout: u8 gapBits (1..16), varint k, k float32 codebook values (finite, nonzero, strictly
 * ascending), varint entry count, the index stream (alphabet k + 1), the gap stream (alphabet 2^gapBits).
 */

/** The most codebook values a clustered tensor may have (its index alphabet, with the filler, fits 16 bits). */
export const MAX_CLUSTERS = 65535;
export const MAX_GAP_BITS = 16;

export interface ClusteredPlan {
  readonly codebook: Float32Array;
  readonly gapBits: number;
  readonly nonzeros: number;
  readonly fillers: number;
  /** The encoded size in bytes, exactly. */
  readonly bytes: number;
  /** Codebook index of each nonzero element, in order. */
  readonly indices: Uint32Array;
  /** Zeros skipped before each nonzero element. */
  readonly gaps: Float64Array;
}

/**
 * The codebook of `values` (distinct nonzero values, ascending), or null when there are more than
 * `limit` of them. -0 counts as zero. Non-finite values are refused (INVALID_ARGUMENT).
 */
export function codebookOf(values: Float32Array, limit: number, name: string): Float32Array | null {
  const seen = new Set<number>();
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === 0) continue;
    if (!Number.isFinite(v)) throw new MinnowError('INVALID_ARGUMENT', `encodeCompact: tensor '${name}' holds ${v} at element ${i}; the clustered encoding stores finite values only`);
    if (!seen.has(v)) {
      seen.add(v);
      if (seen.size > limit) return null;
    }
  }
  return Float32Array.from([...seen].sort((a, b) => a - b));
}

/**
 * Plans the clustered encoding of `values` with `codebook` (from codebookOf). The gap width is
 * `gapBits` if given, else the one giving the fewest bytes (fewer bits mean more fillers; the
 * sizes are computed exactly, ties go to fewer bits).
 */
export function planClustered(values: Float32Array, codebook: Float32Array, gapBits?: number): ClusteredPlan {
  const k = codebook.length;
  const slot = new Map<number, number>();
  codebook.forEach((v, i) => slot.set(v, i));
  let nonzeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) nonzeros++;
  const indices = new Uint32Array(nonzeros);
  const gaps = new Float64Array(nonzeros);
  const gapCounts = new Map<number, number>();
  const indexCounts = new Float64Array(k + 1);
  let previous = -1;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    if (values[i] === 0) continue;
    const index = slot.get(values[i]);
    if (index === undefined) throw new MinnowError('INTERNAL', `encodeCompact: value ${values[i]} is not in the codebook`);
    indices[n] = index;
    indexCounts[index]++;
    const gap = i - previous - 1;
    gaps[n++] = gap;
    gapCounts.set(gap, (gapCounts.get(gap) ?? 0) + 1);
    previous = i;
  }
  let largest = 0;
  for (const g of gapCounts.keys()) largest = Math.max(largest, g);
  // More bits than the largest gap needs change nothing (the table only covers used symbols).
  const needed = Math.max(1, Math.ceil(Math.log2(largest + 1)));
  const candidates = gapBits !== undefined ? [gapBits] : Array.from({ length: Math.min(needed, MAX_GAP_BITS) }, (_, i) => i + 1);
  let best: { gapBits: number; bytes: number; fillers: number } | null = null;
  for (const b of candidates) {
    const span = 2 ** b; // a filler stands for 2^b - 1 skipped zeros plus its own zero
    const gapFreqs = new Float64Array(span);
    let fillers = 0;
    for (const [gap, count] of gapCounts) {
      const f = Math.floor(gap / span);
      fillers += f * count;
      gapFreqs[gap % span] += count;
      gapFreqs[span - 1] += f * count;
    }
    indexCounts[k] = fillers;
    const entries = nonzeros + fillers;
    const bytes = 1 + varintBytes(k) + 4 * k + varintBytes(entries) + huffmanStreamBytes(indexCounts) + huffmanStreamBytes(gapFreqs);
    if (best === null || bytes < best.bytes) best = { gapBits: b, bytes, fillers };
  }
  const chosen = best as { gapBits: number; bytes: number; fillers: number };
  return { codebook, gapBits: chosen.gapBits, nonzeros, fillers: chosen.fillers, bytes: chosen.bytes, indices, gaps };
}


export function writeClustered(out: ByteWriter, plan: ClusteredPlan): void {
  const { codebook, gapBits, indices, gaps } = plan;
  const k = codebook.length;
  const span = 2 ** gapBits;
  const entries = plan.nonzeros + plan.fillers;
  const indexSymbols = new Uint32Array(entries);
  const gapSymbols = new Uint32Array(entries);
  let e = 0;
  for (let i = 0; i < indices.length; i++) {
    let gap = gaps[i];
    while (gap >= span) {
      indexSymbols[e] = k;
      gapSymbols[e++] = span - 1;
      gap -= span;
    }
    indexSymbols[e] = indices[i];
    gapSymbols[e++] = gap;
  }
  out.u8(gapBits);
  out.varint(k);
  out.float32s(codebook);
  out.varint(entries);
  writeHuffmanStream(out, indexSymbols, k + 1);
  writeHuffmanStream(out, gapSymbols, span);
}

export interface ClusteredRead {
  readonly values: Float32Array;
  readonly clusters: number;
  readonly gapBits: number;
  readonly nonzeros: number;
  readonly fillers: number;
}

/**
 * Reads a clustered tensor of `size` elements. `allocate` is called once the header has passed its
 * checks (so a caller can bound the total memory before any is taken).
 */
export function readClustered(reader: ByteReader, size: number, what: string, allocate: (n: number) => Float32Array): ClusteredRead {
  const gapBits = reader.u8(`${what} gap bits`);
  if (gapBits < 1 || gapBits > MAX_GAP_BITS) throw corrupt(`${what}: gap width ${gapBits} bits is outside 1..${MAX_GAP_BITS}`);
  const k = reader.varint(`${what} codebook size`);
  if (k > MAX_CLUSTERS) throw corrupt(`${what}: codebook of ${k} values is over ${MAX_CLUSTERS}`);
  const codebook = reader.float32s(k, `${what} codebook`);
  for (let i = 0; i < k; i++) {
    const v = codebook[i];
    if (!Number.isFinite(v) || v === 0) throw corrupt(`${what}: codebook value ${i} is ${v}; values must be finite and nonzero`);
    if (i > 0 && !(v > codebook[i - 1])) throw corrupt(`${what}: codebook values must be strictly ascending (value ${i} is ${v} after ${codebook[i - 1]})`);
  }
  const entries = reader.varint(`${what} entry count`);
  if (entries > size) throw corrupt(`${what}: ${entries} entries for a tensor of ${size} elements`);
  const span = 2 ** gapBits;
  const indexSource = readHuffmanStream(reader, k + 1, entries, `${what} index stream`);
  const gapSource = readHuffmanStream(reader, span, entries, `${what} gap stream`);
  const values = allocate(size);
  let position = -1;
  let fillers = 0;
  let filler = false;
  for (let e = 0; e < entries; e++) {
    const gap = gapSource.next();
    const index = indexSource.next();
    position += gap + 1;
    if (position >= size) throw corrupt(`${what}: entry ${e} lands on element ${position} of ${size}`);
    filler = index === k;
    if (filler) {
      if (gap !== span - 1) throw corrupt(`${what}: filler entry ${e} has gap ${gap}, not ${span - 1}`);
      fillers++;
    } else {
      values[position] = codebook[index];
    }
  }
  if (filler) throw corrupt(`${what}: the last entry is a filler`);
  indexSource.finish();
  gapSource.finish();
  return { values, clusters: k, gapBits, nonzeros: entries - fillers, fillers };
}
