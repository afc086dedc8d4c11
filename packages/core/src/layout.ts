/**
 * Layout helpers for backends: strided operands are simplified (size-1 dims dropped, dims that are
 * contiguous for every operand merged) so kernels see few, long dims. Shared by the WASM and GPU
 * backends, which both generate or pick kernels by rank.
 */

export interface Collapsed {
  readonly shape: number[];
  /** strides[operand][dim] */
  readonly strides: number[][];
}

/** Drops size-1 dims and merges neighbours that every operand walks contiguously. */
export function collapseDims(shape: readonly number[], operandStrides: readonly (readonly number[])[]): Collapsed {
  const dims: number[] = [];
  const strides: number[][] = operandStrides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = dims.length - 1;
    const mergeable = last >= 0 && operandStrides.every((s, o) => strides[o][last] === s[d] * shape[d]);
    if (mergeable) {
      dims[last] *= shape[d];
      operandStrides.forEach((s, o) => (strides[o][last] = s[d]));
    } else {
      dims.push(shape[d]);
      operandStrides.forEach((s, o) => strides[o].push(s[d]));
    }
  }
  return { shape: dims, strides };
}

/** Left-pads a collapsed layout to exactly `rank` dims (size 1, stride 0), or null if it has more. */
export function padRank(layout: Collapsed, rank: number): Collapsed | null {
  const extra = rank - layout.shape.length;
  if (extra < 0) return null;
  return {
    shape: [...new Array<number>(extra).fill(1), ...layout.shape],
    strides: layout.strides.map((s) => [...new Array<number>(extra).fill(0), ...s]),
  };
}
