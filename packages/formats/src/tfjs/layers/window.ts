// Sliding windows (convolutions and pooling): Keras 'same'/'valid' padding as ONNX attributes, and
// the output size, both as TensorFlow computes them.
import { attr, type AttributeProto } from '@minnow/onnx';
import { unsupported, type Dim, type LayerCall } from '../context.js';

export interface Window {
  readonly kernel: readonly [number, number];
  readonly strides: readonly [number, number];
  readonly dilations: readonly [number, number];
  readonly padding: 'same' | 'valid';
}

export function readPadding(call: LayerCall): 'same' | 'valid' {
  const padding = call.config.string('padding', 'valid');
  if (padding !== 'same' && padding !== 'valid') throw unsupported(call.layer, `padding '${padding}' is not supported (same and valid are)`);
  return padding;
}

/**
 * TensorFlow's 'same' padding of one spatial dim: pad_total = max((ceil(in/s) - 1) * s + (k - 1) * d
 * + 1 - in, 0), the odd pixel at the end. Undefined when it depends on an input size not known yet
 * (with stride 1 it never does: the total is (k - 1) * d).
 */
function samePads(size: Dim, kernel: number, stride: number, dilation: number): [number, number] | undefined {
  const extent = (kernel - 1) * dilation + 1;
  let total: number;
  if (stride === 1) total = extent - 1;
  else if (size === null) return undefined;
  else total = Math.max((Math.ceil(size / stride) - 1) * stride + extent - size, 0);
  const begin = Math.floor(total / 2);
  return [begin, total - begin];
}

/**
 * The padding attributes of an ONNX Conv/MaxPool/AveragePool over NCHW input of spatial size
 * `[height, width]`: explicit pads where they can be computed now, else auto_pad SAME_UPPER (ONNX's
 * name for TensorFlow's rule, computed when the input arrives).
 */
export function paddingAttributes(window: Window, height: Dim, width: Dim): AttributeProto[] {
  if (window.padding === 'valid') return [attr.ints('pads', [0, 0, 0, 0])];
  const h = samePads(height, window.kernel[0], window.strides[0], window.dilations[0]);
  const w = samePads(width, window.kernel[1], window.strides[1], window.dilations[1]);
  if (h === undefined || w === undefined) return [attr.string('auto_pad', 'SAME_UPPER')];
  return [attr.ints('pads', [h[0], w[0], h[1], w[1]])];
}

/** The attributes every windowed op shares: kernel_shape, strides, and the padding. */
export function windowAttributes(window: Window, height: Dim, width: Dim): AttributeProto[] {
  return [attr.ints('kernel_shape', window.kernel), attr.ints('strides', window.strides), ...paddingAttributes(window, height, width)];
}

function outputSize(size: Dim, kernel: number, stride: number, dilation: number, padding: 'same' | 'valid'): Dim {
  if (size === null) return null;
  if (padding === 'same') return Math.ceil(size / stride);
  return Math.max(Math.ceil((size - (kernel - 1) * dilation) / stride), 0);
}

/** The output's spatial size `[height, width]`. */
export function windowOutput(window: Window, height: Dim, width: Dim): [Dim, Dim] {
  return [
    outputSize(height, window.kernel[0], window.strides[0], window.dilations[0], window.padding),
    outputSize(width, window.kernel[1], window.strides[1], window.dilations[1], window.padding),
  ];
}
