import { MinnowError } from '@minnow/core';

/**
 * How the positions of one tensor axis are made of channels. An axis is `outer` repeats of a
 * run of segments, each position of which is repeated `inner` times (row-major):
 *   position = (o * S + s) * inner + i,   S = the segments' total size
 * A Conv's output channel axis is one segment (outer = inner = 1); Flatten of [N, C, H, W] makes
 * the feature axis one segment with inner = H*W (channel c feeds features c*H*W .. c*H*W + H*W - 1);
 * Concat along the channel axis lays its inputs' segments end to end. A segment belongs to a
 * channel group (pruned together) or to no group (channels nobody may remove, e.g. a model input).
 */

export interface Segment {
  /** The channel group these channels are, or undefined for channels that always stay. */
  readonly group: number | undefined;
  readonly size: number;
}

export interface ChannelAxis {
  readonly outer: number;
  readonly inner: number;
  readonly segments: readonly Segment[];
}

/** The axis of one group's own channels: a single segment, nothing around it. */
export const groupAxis = (group: number, size: number): ChannelAxis => ({ outer: 1, inner: 1, segments: [{ group, size }] });

export const segmentsSize = (axis: ChannelAxis): number => axis.segments.reduce((n, s) => n + s.size, 0);

/** The number of positions the axis has. */
export const axisLength = (axis: ChannelAxis): number => axis.outer * segmentsSize(axis) * axis.inner;

/** The groups the axis holds (each once). */
export const axisGroups = (axis: ChannelAxis): number[] => [...new Set(axis.segments.flatMap((s) => (s.group === undefined ? [] : [s.group])))];

/** The axis after the `before` positions ahead of it and the `after` positions behind it are merged into it (Flatten, Reshape). */
export function mergeAxis(axis: ChannelAxis, before: number, after: number): ChannelAxis {
  return { outer: axis.outer * before, inner: axis.inner * after, segments: axis.segments };
}

/** Whether two axes lay out channels the same way (same sizes everywhere), so their groups can be joined segment by segment. */
export function sameLayout(a: ChannelAxis, b: ChannelAxis): boolean {
  return a.outer === b.outer && a.inner === b.inner && a.segments.length === b.segments.length && a.segments.every((s, i) => s.size === b.segments[i].size);
}

/**
 * The positions that stay on the axis, ascending, given each group's kept channels (undefined:
 * the group keeps all of them).
 */
export function keptPositions(axis: ChannelAxis, keptOf: (group: number) => readonly number[] | undefined): Int32Array {
  const local: number[] = [];
  let offset = 0;
  for (const s of axis.segments) {
    const kept = s.group === undefined ? undefined : keptOf(s.group);
    if (kept === undefined) for (let c = 0; c < s.size; c++) local.push(offset + c);
    else for (const c of kept) local.push(offset + c);
    offset += s.size;
  }
  const out = new Int32Array(axis.outer * local.length * axis.inner);
  let k = 0;
  for (let o = 0; o < axis.outer; o++) {
    for (const c of local) {
      const base = (o * offset + c) * axis.inner;
      for (let i = 0; i < axis.inner; i++) out[k++] = base + i;
    }
  }
  return out;
}

/** Float weights as nn tensors and ONNX initialisers hold them. */
export type FloatArray = Float32Array | Float64Array;

/** The slices of `values` (row-major, `dims`) at `positions` along `axis`, as a new array of the same type. */
export function gatherAxis<T extends FloatArray>(values: T, dims: readonly number[], axis: number, positions: Int32Array): { values: T; dims: number[] } {
  const size = dims[axis];
  if (positions.some((p) => p < 0 || p >= size)) throw new MinnowError('INTERNAL', `gatherAxis: a position is outside axis ${axis} of [${dims.join(',')}]`);
  const before = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const after = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const out = new (values.constructor as new (n: number) => T)(before * positions.length * after);
  for (let b = 0; b < before; b++) {
    for (let j = 0; j < positions.length; j++) {
      const from = (b * size + positions[j]) * after;
      out.set(values.subarray(from, from + after), (b * positions.length + j) * after);
    }
  }
  const newDims = [...dims];
  newDims[axis] = positions.length;
  return { values: out, dims: newDims };
}
