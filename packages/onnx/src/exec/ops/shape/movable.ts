import { concat, expand, fromArray, gather, pad, permute, reshape, slice, type Tensor } from '@minnow/core';
import { isComputable } from '../../dtypes.js';
import type { OpContext } from '../../operator.js';
import { Value, aliasTensor, type HostData } from '../../value.js';
import { rowMajorStrides, sizeOfShape, stridedPositions, takeHost } from './host.js';

/**
 * A tensor being moved by a shape op, on the device or on the host. Values that live on the host
 * and are small (initialisers, Shape's output and the shape arithmetic built on it) are moved on
 * the host: int64 stays exact (Slice ends of INT64_MAX survive a Concat) and nothing round-trips
 * through the device. Everything else moves on the device with core's views, which copy nothing.
 * Both forms take the same resolved arguments, so each op is written once.
 */
export interface Movable {
  readonly shape: readonly number[];
  reshape(shape: readonly number[]): Movable;
  permute(axes: readonly number[]): Movable;
  /** Per dim: the first index taken, how many, and the (non-zero) step; all in bounds. */
  slice(starts: readonly number[], counts: readonly number[], steps: readonly number[]): Movable;
  /** Broadcast to `shape` (numpy rules, already checked). */
  expand(shape: readonly number[]): Movable;
  /** Takes `indices` (in range, non-negative) along `axis`: ONNX Gather's shape. */
  gather(indices: Int32Array, indexShape: readonly number[], axis: number, prepared?: Tensor): Movable;
  /** Constant padding with non-negative [before, after] pairs. */
  pad(pads: readonly (readonly [number, number])[], value: number): Movable;
  /** The result as a value of ONNX type `elemType`. */
  output(elemType: number): Value;
}

/** Host values up to this many elements are moved on the host. */
export const HOST_LIMIT = 1 << 16;

class HostMovable implements Movable {
  constructor(readonly data: HostData, readonly shape: readonly number[]) {}

  private view(shape: readonly number[], strides: readonly number[], offset: number): HostMovable {
    return new HostMovable(takeHost(this.data, stridedPositions(shape, strides, offset)), shape);
  }

  reshape(shape: readonly number[]): Movable {
    return new HostMovable(this.data, [...shape]);
  }

  permute(axes: readonly number[]): Movable {
    const strides = rowMajorStrides(this.shape);
    return this.view(axes.map((a) => this.shape[a]), axes.map((a) => strides[a]), 0);
  }

  slice(starts: readonly number[], counts: readonly number[], steps: readonly number[]): Movable {
    const strides = rowMajorStrides(this.shape);
    const offset = counts.some((c) => c === 0) ? 0 : starts.reduce((at, s, d) => at + s * strides[d], 0);
    return this.view(counts, strides.map((s, d) => s * steps[d]), offset);
  }

  expand(shape: readonly number[]): Movable {
    const own = rowMajorStrides(this.shape);
    const lead = shape.length - this.shape.length;
    const strides = shape.map((_, d) => (d < lead || this.shape[d - lead] === 1 ? 0 : own[d - lead]));
    return this.view(shape, strides, 0);
  }

  gather(indices: Int32Array, indexShape: readonly number[], axis: number): Movable {
    const dim = this.shape[axis];
    const outer = sizeOfShape(this.shape.slice(0, axis));
    const inner = sizeOfShape(this.shape.slice(axis + 1));
    const positions = new Int32Array(outer * indices.length * inner);
    let o = 0;
    for (let a = 0; a < outer; a++) {
      for (let j = 0; j < indices.length; j++) {
        const base = (a * dim + indices[j]) * inner;
        for (let i = 0; i < inner; i++) positions[o++] = base + i;
      }
    }
    return new HostMovable(takeHost(this.data, positions), [...this.shape.slice(0, axis), ...indexShape, ...this.shape.slice(axis + 1)]);
  }

  pad(pads: readonly (readonly [number, number])[], value: number): Movable {
    const shape = this.shape.map((d, i) => d + pads[i][0] + pads[i][1]);
    const outStrides = rowMajorStrides(shape);
    const targets = stridedPositions(this.shape, outStrides, pads.reduce((at, [before], d) => at + before * outStrides[d], 0));
    const positions = new Int32Array(sizeOfShape(shape)).fill(-1);
    for (let k = 0; k < targets.length; k++) positions[targets[k]] = k;
    return new HostMovable(takeHost(this.data, positions, value), shape);
  }

  output(elemType: number): Value {
    return Value.fromHost(elemType, this.shape, this.data);
  }
}

class DeviceMovable implements Movable {
  /** `owned` is false for an input's own tensor: an output over it must be a new reference. */
  constructor(readonly tensor: Tensor, private readonly owned = true) {}

  get shape(): readonly number[] {
    return this.tensor.shape;
  }

  reshape(shape: readonly number[]): Movable {
    return new DeviceMovable(reshape(this.tensor, shape));
  }

  permute(axes: readonly number[]): Movable {
    return new DeviceMovable(permute(this.tensor, axes));
  }

  slice(starts: readonly number[], counts: readonly number[], steps: readonly number[]): Movable {
    // One past the last index taken, so the end stays inside the dim; core's slice reads a negative
    // end as counted from the end, so running past the front is `null`.
    const ends = starts.map((s, d) => {
      const end = s + (counts[d] - 1) * steps[d] + Math.sign(steps[d]);
      return end < 0 ? null : end;
    });
    return new DeviceMovable(slice(this.tensor, starts, ends, steps));
  }

  expand(shape: readonly number[]): Movable {
    return new DeviceMovable(expand(this.tensor, shape));
  }

  /** `prepared`: the indices already on the device (a memoised table), used instead of uploading them. */
  gather(indices: Int32Array, indexShape: readonly number[], axis: number, prepared?: Tensor): Movable {
    const table = prepared ?? fromArray(indices, indexShape, { dtype: 'int32', backend: this.tensor.backend.name });
    return new DeviceMovable(gather(this.tensor, table, axis));
  }

  pad(pads: readonly (readonly [number, number])[], value: number): Movable {
    return new DeviceMovable(pad(this.tensor, pads, value));
  }

  output(elemType: number): Value {
    return Value.fromTensor(this.owned ? this.tensor : aliasTensor(this.tensor), elemType);
  }
}

/** Whether the values of inputs `inputs` are all small host values (or of a type only the host can move). */
export function onHost(ctx: OpContext, inputs: readonly number[]): boolean {
  const values = inputs.filter((i) => ctx.has(i)).map((i) => ctx.input(i));
  if (values.some((v) => !isComputable(v.elemType))) return values.every((v) => !v.isOnDevice);
  return values.every((v) => !v.isOnDevice && v.size <= HOST_LIMIT);
}

/** Inputs `inputs` as movables, all on the host or all on the device (see `onHost`). */
export function movables(ctx: OpContext, inputs: readonly number[]): Movable[] {
  const host = onHost(ctx, inputs);
  return inputs.map((i) => (host ? new HostMovable(ctx.input(i).hostData(), ctx.input(i).shape) : new DeviceMovable(ctx.tensor(i), false)));
}

/** Input `input` as a movable (movables' rule for one input, without its arrays: this runs for every view op). */
export function movable(ctx: OpContext, input: number): Movable {
  const v = ctx.input(input);
  const host = !v.isOnDevice && (!isComputable(v.elemType) || v.size <= HOST_LIMIT);
  return host ? new HostMovable(v.hostData(), v.shape) : new DeviceMovable(ctx.tensor(input), false);
}

/** Joins parts (all host or all device, equal outside `axis`) along `axis`. */
export function concatMovables(parts: readonly Movable[], axis: number): Movable {
  if (parts.length === 1) return parts[0];
  if (parts[0] instanceof DeviceMovable) return new DeviceMovable(concat(parts.map((p) => (p as DeviceMovable).tensor), axis));
  const first = parts[0] as HostMovable;
  const shape = [...first.shape];
  shape[axis] = parts.reduce((n, p) => n + p.shape[axis], 0);
  const outStrides = rowMajorStrides(shape);
  const out = new (first.data.constructor as new (n: number) => HostData)(sizeOfShape(shape)) as unknown as { [i: number]: number | bigint };
  let along = 0;
  for (const part of parts as HostMovable[]) {
    const targets = stridedPositions(part.shape, outStrides, along * outStrides[axis]);
    const src = part.data as unknown as { [i: number]: number | bigint };
    for (let k = 0; k < targets.length; k++) out[targets[k]] = src[k];
    along += part.shape[axis];
  }
  return new HostMovable(out as unknown as HostData, shape);
}
