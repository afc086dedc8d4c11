import { MinnowError, Tensor } from '@minnow/core';
import { DataType, tensorValues, type Feed, type NodeProto } from '@minnow/onnx';
import { attribute, intAttribute } from './model-edit.js';
import type { InputMoments } from '../weight-rounding.js';
import type { WeightLayout } from './layout.js';

/**
 * What a weight op sees at its input, as its weight rows see it: each output channel of a Conv,
 * Gemm or MatMul computes w . x over one input vector x (a Conv's receptive field, im2col order:
 * channel of the group, then kernel position; a row of a Gemm/MatMul input). Weight-rounding
 * methods that minimise the error at the layer's output rather than in the weights need the mean
 * of x (bias correction: the shift (W_q - W) E[x]) and its second moment E[x x^T] (the Hessian of
 * the layer's output error: MSE clipping weighted by it, GPTQ). This file names those input
 * vectors (the geometry), cuts them out of an activation, and accumulates the moments, streaming.
 */

/** How a node's input is cut into the vectors its weight rows multiply. */
export interface InputGeometry {
  /** Identifies the input tensor and the cut: nodes with equal keys share statistics. */
  readonly key: string;
  /** Length of one input vector (the weight rows' length). */
  readonly size: number;
  /** Independent groups of output channels (a grouped Conv's groups; 1 otherwise). */
  readonly groups: number;
  readonly conv?: ConvGeometry;
  /** Gemm's transA: the input is [K, rows]. */
  readonly transposed?: boolean;
}

interface ConvGeometry {
  readonly kernel: readonly number[];
  readonly strides: readonly number[];
  readonly dilations: readonly number[];
  /** Begin pads per spatial axis (the end pads only bound the output count). */
  readonly pads: readonly number[];
  readonly endPads: readonly number[];
  /** SAME_UPPER / SAME_LOWER: pads follow from the input size. */
  readonly autoPad: string;
}

const decoder = new TextDecoder();
const ints = (node: NodeProto, name: string): number[] | undefined => {
  const a = attribute(node, name);
  return a && a.ints.length > 0 ? a.ints.map(Number) : undefined;
};

/** The geometry of a Conv, Gemm or MatMul whose weight `layout` found; undefined for a batched (rank > 2) MatMul weight. */
export function inputGeometry(node: NodeProto, layout: WeightLayout): InputGeometry | undefined {
  const input = node.input[layout.activations[0]];
  const dims = layout.weight.dims;
  if (node.opType === 'Conv') {
    const kernel = dims.slice(2);
    const n = kernel.length;
    const groups = intAttribute(node, 'group', 1);
    const pads = ints(node, 'pads') ?? new Array<number>(2 * n).fill(0);
    const conv: ConvGeometry = {
      kernel,
      strides: ints(node, 'strides') ?? new Array<number>(n).fill(1),
      dilations: ints(node, 'dilations') ?? new Array<number>(n).fill(1),
      pads: pads.slice(0, n),
      endPads: pads.slice(n),
      autoPad: decoder.decode(attribute(node, 'auto_pad')?.s ?? new Uint8Array()) || 'NOTSET',
    };
    const size = dims.slice(1).reduce((a, b) => a * b, 1);
    return { key: `${input}|conv|${dims.join('x')}|${JSON.stringify(conv)}|g${groups}`, size, groups, conv };
  }
  if (dims.length !== 2) return undefined;
  const size = dims[layout.reduceAxis];
  const transposed = node.opType === 'Gemm' && intAttribute(node, 'transA', 0) !== 0;
  return { key: `${input}|rows|${size}|${transposed ? 'T' : ''}`, size, groups: 1, transposed };
}

/** Calls `visit(group, vector)` for every input vector in an activation of `shape`. */
export function forEachInputVector(values: ArrayLike<number>, shape: readonly number[], geometry: InputGeometry, visit: (group: number, x: Float64Array) => void): void {
  const K = geometry.size;
  const x = new Float64Array(K);
  if (geometry.conv === undefined) {
    const rows = shape.length === 0 ? 0 : values.length / K;
    if (!Number.isInteger(rows)) throw new MinnowError('SHAPE_MISMATCH', `layer statistics: an input of shape [${shape.join(', ')}] does not split into vectors of ${K}`);
    for (let r = 0; r < rows; r++) {
      for (let k = 0; k < K; k++) x[k] = geometry.transposed ? values[k * rows + r] : values[r * K + k];
      visit(0, x);
    }
    return;
  }
  convVectors(values, shape, geometry, geometry.conv, x, visit);
}

function convVectors(values: ArrayLike<number>, shape: readonly number[], geometry: InputGeometry, g: ConvGeometry, x: Float64Array, visit: (group: number, x: Float64Array) => void): void {
  const n = g.kernel.length;
  const [batch, channels] = shape;
  const spatial = shape.slice(2);
  if (spatial.length !== n) throw new MinnowError('SHAPE_MISMATCH', `layer statistics: a Conv input of shape [${shape.join(', ')}] does not match a ${n}-D kernel`);
  const perGroup = channels / geometry.groups;
  const begin: number[] = [];
  const outSize: number[] = [];
  for (let d = 0; d < n; d++) {
    const span = g.dilations[d] * (g.kernel[d] - 1) + 1;
    if (g.autoPad === 'SAME_UPPER' || g.autoPad === 'SAME_LOWER') {
      const out = Math.ceil(spatial[d] / g.strides[d]);
      const total = Math.max(0, (out - 1) * g.strides[d] + span - spatial[d]);
      begin.push(g.autoPad === 'SAME_UPPER' ? Math.floor(total / 2) : Math.ceil(total / 2));
      outSize.push(out);
    } else {
      const [b, e] = g.autoPad === 'VALID' ? [0, 0] : [g.pads[d], g.endPads[d]];
      begin.push(b);
      outSize.push(Math.floor((spatial[d] + b + e - span) / g.strides[d]) + 1);
    }
  }
  const kernelCount = g.kernel.reduce((a, b) => a * b, 1);
  const kernelIndex = Array.from({ length: kernelCount }, (_, f) => unflatten(f, g.kernel));
  const spatialStride = spatial.map((_, d) => spatial.slice(d + 1).reduce((a, b) => a * b, 1));
  const planeSize = spatial.reduce((a, b) => a * b, 1);
  const positions = outSize.reduce((a, b) => a * b, 1);
  for (let b = 0; b < batch; b++) {
    for (let group = 0; group < geometry.groups; group++) {
      for (let p = 0; p < positions; p++) {
        const out = unflatten(p, outSize);
        for (let f = 0; f < kernelCount; f++) {
          let offset = 0;
          let inside = true;
          for (let d = 0; d < n && inside; d++) {
            const at = out[d] * g.strides[d] - begin[d] + kernelIndex[f][d] * g.dilations[d];
            inside = at >= 0 && at < spatial[d];
            offset += at * spatialStride[d];
          }
          for (let c = 0; c < perGroup; c++) {
            x[c * kernelCount + f] = inside ? values[((b * channels) + group * perGroup + c) * planeSize + offset] : 0;
          }
        }
        visit(group, x);
      }
    }
  }
}

function unflatten(flat: number, sizes: readonly number[]): number[] {
  const out = new Array<number>(sizes.length);
  for (let d = sizes.length - 1; d >= 0; d--) {
    out[d] = flat % sizes[d];
    flat = Math.floor(flat / sizes[d]);
  }
  return out;
}

/** Streaming sums of input vectors for one geometry: memory is size (x size, with the second moment) per group. */
export class MomentAccumulator {
  private count = 0;
  private readonly sums: Float64Array[];
  private readonly maxima: Float64Array[];
  private readonly products: Float64Array[] | undefined;

  constructor(readonly geometry: InputGeometry, secondMoment: boolean) {
    const K = geometry.size;
    this.sums = Array.from({ length: geometry.groups }, () => new Float64Array(K));
    this.maxima = Array.from({ length: geometry.groups }, () => new Float64Array(K));
    this.products = secondMoment ? Array.from({ length: geometry.groups }, () => new Float64Array(K * K)) : undefined;
  }

  observe(values: ArrayLike<number>, shape: readonly number[], name: string): void {
    const K = this.geometry.size;
    forEachInputVector(values, shape, this.geometry, (group, x) => {
      if (group === 0) this.count++;
      const sum = this.sums[group];
      const max = this.maxima[group];
      const product = this.products?.[group];
      for (let i = 0; i < K; i++) {
        const xi = x[i];
        if (!Number.isFinite(xi)) throw new MinnowError('INVALID_ARGUMENT', `layer statistics: '${name}' holds ${xi}; calibration needs finite values`);
        if (xi === 0) continue;
        sum[i] += xi;
        if (Math.abs(xi) > max[i]) max[i] = Math.abs(xi);
        // The upper triangle only; moments() mirrors it. Zeros (ReLU outputs, padding) cost nothing.
        if (product) for (let j = i, row = i * K; j < K; j++) product[row + j] += xi * x[j];
      }
    });
  }

  moments(): InputMoments {
    const K = this.geometry.size;
    const n = Math.max(1, this.count);
    const mean = this.sums.map((s) => s.map((v) => v / n));
    const secondMoment = this.products?.map((p) => {
      const out = new Float64Array(K * K);
      for (let i = 0; i < K; i++) {
        for (let j = i; j < K; j++) {
          const v = p[i * K + j] / n;
          out[i * K + j] = v;
          out[j * K + i] = v;
        }
      }
      return out;
    });
    return { size: K, count: this.count, mean, absMax: this.maxima.map((m) => Float64Array.from(m)), secondMoment };
  }
}

/** A feed's float values and shape, if it is float. */
export async function floatFeed(feed: Feed): Promise<{ values: ArrayLike<number>; shape: readonly number[] } | undefined> {
  if (feed instanceof Tensor) return feed.dtype === 'float32' || feed.dtype === 'float64' ? { values: await feed.data() as ArrayLike<number>, shape: feed.shape } : undefined;
  if (feed.dataType !== DataType.FLOAT && feed.dataType !== DataType.DOUBLE) return undefined;
  return { values: tensorValues(feed) as ArrayLike<number>, shape: feed.dims };
}
