import {
  MinnowError, add, concat, conv2d, formatShape, fromArray, gather, matmulInteger, pad, reshape, scope, slice, type Tensor,
} from '@minnow/core';
import { applyEpilogue } from './integer-path.js';
import { QuantizedLayer, type QuantizedLayerOptions } from './quantized-layer.js';

/** A convolution's geometry, fully spelled out (what Conv2d's options normalise to). */
export interface ConvGeometry {
  readonly stride: readonly [number, number];
  /** [top, left, bottom, right] */
  readonly padding: readonly [number, number, number, number];
  readonly dilation: readonly [number, number];
  readonly groups: number;
}

/**
 * A Conv2d layer whose weights are stored as integers ([O, C/groups, kH, kW]). With quantized
 * activations it runs on core's integer GEMM through im2col: the int8 input is padded with its
 * zero point (the code of 0.0), every receptive field is gathered into a column ([N, C*kH*kW,
 * outH*outW], one gather), and matmulInteger(weights [O, C*kH*kW] x columns) gives the int32
 * [N, O, outH*outW] accumulator, in NCHW order with no transpose. Groups run as one GEMM each.
 * Weight-only ('none') dequantizes the weights for the float conv2d.
 */
export class QuantizedConv2d extends QuantizedLayer {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: readonly [number, number];
  readonly geometry: ConvGeometry;
  /** Gather indices of the receptive fields, per padded input size (they depend on nothing else). */
  private readonly fieldIndices = new Map<string, Int32Array>();

  constructor(weight: Tensor, bias: Tensor | null, geometry: ConvGeometry, options: QuantizedLayerOptions) {
    if (weight.rank !== 4) throw new MinnowError('INVALID_SHAPE', `QuantizedConv2d: weight must be [O, C/groups, kH, kW], got ${formatShape(weight.shape)}`);
    const [o, cg, kh, kw] = weight.shape;
    // Per-channel tensors ([O]) as [O, 1], to broadcast against the [N, O, P] accumulator.
    super('QuantizedConv2d', weight, bias, options, (t) => (t.size === 1 ? reshape(t, []) : reshape(t, [o, 1])));
    this.outChannels = o;
    this.inChannels = cg * geometry.groups;
    this.kernelSize = [kh, kw];
    this.geometry = geometry;
  }

  override forward(x: Tensor): Tensor {
    if (x.rank !== 4 || x.shape[1] !== this.inChannels) {
      throw new MinnowError('SHAPE_MISMATCH', `${this.name}: expected input [N, ${this.inChannels}, H, W], got ${formatShape(x.shape)}`);
    }
    return scope(() => {
      const bias = this.bias;
      if (this.activations === 'none') {
        const y = conv2d(x, this.dequantizedWeight(), this.geometry);
        return bias ? add(y, reshape(bias, [this.outChannels, 1, 1])) : y;
      }
      const { codes, zeroPoint, zeroPointValue, epilogue } = this.integerInput(x);
      const { columns, outH, outW } = this.im2col(codes, zeroPointValue);
      const y = applyEpilogue(this.integerGemm(columns, zeroPoint), epilogue);
      return reshape(y, [x.shape[0], this.outChannels, outH, outW]);
    });
  }

  /** int8 [N, C, H, W] -> int8 columns [N, C*kH*kW, outH*outW], padding with the zero point. */
  private im2col(codes: Tensor, zeroPoint: number): { columns: Tensor; outH: number; outW: number } {
    const [n, c, h, w] = codes.shape;
    const [top, left, bottom, right] = this.geometry.padding;
    const [kh, kw] = this.kernelSize;
    const [dh, dw] = this.geometry.dilation;
    const [sh, sw] = this.geometry.stride;
    const hp = h + top + bottom;
    const wp = w + left + right;
    const outH = Math.floor((hp - dh * (kh - 1) - 1) / sh) + 1;
    const outW = Math.floor((wp - dw * (kw - 1) - 1) / sw) + 1;
    if (outH < 1 || outW < 1) {
      throw new MinnowError('SHAPE_MISMATCH', `${this.name}: kernel ${kh}x${kw} (dilation ${dh},${dw}) is larger than the padded input ${formatShape(codes.shape)}`);
    }
    const padded = top + left + bottom + right > 0 ? pad(codes, [[0, 0], [0, 0], [top, bottom], [left, right]], zeroPoint) : codes;
    const key = `${hp}x${wp}`;
    let indices = this.fieldIndices.get(key);
    if (!indices) {
      indices = new Int32Array(kh * kw * outH * outW);
      let at = 0;
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          for (let oy = 0; oy < outH; oy++) {
            const row = (oy * sh + i * dh) * wp;
            for (let ox = 0; ox < outW; ox++) indices[at++] = row + ox * sw + j * dw;
          }
        }
      }
      this.fieldIndices.set(key, indices);
    }
    const fields = gather(reshape(padded, [n, c, hp * wp]), fromArray(indices, [indices.length], { backend: codes.backend.name }), 2);
    return { columns: reshape(fields, [n, c * kh * kw, outH * outW]), outH, outW };
  }

  /** weights [O, C/g*kH*kW] x columns, one GEMM per group, int32 [N, O, P]. */
  private integerGemm(columns: Tensor, zeroPoint: Tensor): Tensor {
    const groups = this.geometry.groups;
    const weight = reshape(this.weightCodes, [this.outChannels, -1]);
    if (groups === 1) return matmulInteger(weight, columns, undefined, zeroPoint);
    const [n, rows, p] = columns.shape;
    const perGroup = rows / groups;
    const outPerGroup = this.outChannels / groups;
    const parts: Tensor[] = [];
    for (let g = 0; g < groups; g++) {
      const w = slice(weight, [g * outPerGroup, 0], [(g + 1) * outPerGroup, perGroup]);
      const cols = slice(columns, [0, g * perGroup, 0], [n, (g + 1) * perGroup, p]);
      parts.push(matmulInteger(w, cols, undefined, zeroPoint));
    }
    return concat(parts, 1);
  }
}
