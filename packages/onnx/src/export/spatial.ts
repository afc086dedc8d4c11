import { MinnowError } from '@minnow/core';
import { poolOutputSize, type AnyModule, type AvgPool2d, type Conv2d, type Conv2dLayerOptions, type MaxPool2d, type Pair } from '@minnow/nn';
import { attr } from '../builder.js';
import { describeLayer, knownAndNot, pairOf, unsupportedForm, type ConvertContext, type LayerConverter } from './converter.js';
import type { Dim, ExportValue } from './graph.js';

/**
 * Converters for the NCHW layers: Conv2d, MaxPool2d, AvgPool2d.
 *
 * Pooling never uses ONNX's ceil_mode. Runtimes have disagreed on it (whether a last window that
 * starts in the right padding is dropped, as PyTorch and minnow do: onnxruntime 1.30 drops it,
 * older releases did not), so the exporter computes minnow's output size itself and asks for it
 * with floor rounding and extra tail padding instead, which every runtime reads the same way.
 */

export const convertConv2d: LayerConverter<Conv2d> = (layer, x, context) => {
  if (x.shape.length !== 4 || knownAndNot(x.shape[1], layer.inChannels)) throw context.shapeError(x, `[N, ${layer.inChannels}, H, W]`);
  const options = convGeometry(layer);
  const stride = pairOf(options.stride, [1, 1]);
  const dilation = pairOf(options.dilation, [1, 1]);
  const p = options.padding ?? 0;
  // nn's [top, left, bottom, right] is ONNX's [x1_begin, x2_begin, x1_end, x2_end] for NCHW.
  const pads = typeof p === 'number' ? [p, p, p, p] : p.length === 2 ? [p[0], p[1], p[0], p[1]] : [p[0], p[1], p[2], p[3]];
  const kernel = layer.kernelSize;
  const spatial = [0, 1].map((a): Dim => {
    const size = x.shape[2 + a];
    if (typeof size !== 'number') return null;
    return Math.floor((size + pads[a] + pads[a + 2] - dilation[a] * (kernel[a] - 1) - 1) / stride[a]) + 1;
  });
  if (spatial.some((d) => typeof d === 'number' && d < 1)) throw context.shapeError(x, `spatial dims that kernel ${kernel.join('x')} (dilation ${dilation.join(',')}, padding ${pads.join(',')}) fits in`);
  const { graph } = context;
  const inputs = [x.name, graph.weight(layer.weight, context.stateName('weight'))];
  if (layer.bias) inputs.push(graph.weight(layer.bias, context.stateName('bias')));
  const name = graph.node('Conv', inputs, context.hint('Conv'), [
    attr.ints('kernel_shape', kernel), attr.ints('strides', stride), attr.ints('pads', pads), attr.ints('dilations', dilation),
    attr.int('group', options.groups),
  ]);
  return { name, shape: [x.shape[0], layer.outChannels, ...spatial] };
};

interface ConvGeometry {
  readonly stride?: Conv2dLayerOptions['stride'];
  readonly padding?: Conv2dLayerOptions['padding'];
  readonly dilation?: Conv2dLayerOptions['dilation'];
  readonly groups: number;
}

/**
 * nn's Conv2d keeps its stride, padding, dilation and groups in a private field (its declaration
 * file types it as nothing), so it is read by name and checked here: a rename in nn fails loudly
 * instead of exporting a convolution with default geometry.
 */
function convGeometry(layer: Conv2d): ConvGeometry {
  const geometry: unknown = (layer as unknown as Record<string, unknown>)['convOptions'];
  if (typeof geometry !== 'object' || geometry === null || !Number.isInteger((geometry as { groups?: unknown }).groups)) {
    throw new MinnowError('INTERNAL', 'exportModule: Conv2d no longer keeps its geometry in convOptions; update the exporter');
  }
  return geometry as ConvGeometry;
}

/** One pooled axis as minnow computes it, and the rows past the right padding its last window reads (ceil mode). */
interface PoolAxis {
  readonly kernel: number;
  readonly stride: number;
  readonly padding: number;
  readonly dilation: number;
  readonly out: Dim;
  /** Extra tail padding that makes floor rounding give minnow's size: > 0 only when ceilMode adds a window. */
  readonly extra: number;
}

interface PoolOptions {
  readonly stride?: Pair;
  readonly padding?: Pair;
  readonly dilation?: Pair;
  readonly ceilMode?: boolean;
}

function poolAxes(layer: AnyModule, x: ExportValue, context: ConvertContext, kernelSize: Pair, options: PoolOptions): [PoolAxis, PoolAxis] {
  if (x.shape.length !== 4) throw context.shapeError(x, '[N, C, H, W]');
  const kernel = pairOf(kernelSize, [1, 1]);
  const stride = pairOf(options.stride, kernel);
  const padding = pairOf(options.padding, [0, 0]);
  const dilation = pairOf(options.dilation, [1, 1]);
  const ceilMode = options.ceilMode ?? false;
  return [0, 1].map((a): PoolAxis => {
    const extent = dilation[a] * (kernel[a] - 1) + 1;
    if (2 * padding[a] > extent) {
      throw new MinnowError('INVALID_ARGUMENT', `exportModule: ${describeLayer(layer, context.path)}: padding ${padding[a]} must be at most half the kernel extent ${extent}`);
    }
    const size = x.shape[2 + a];
    const geometry = { kernel: kernel[a], stride: stride[a], padding: padding[a], dilation: dilation[a] };
    if (typeof size !== 'number') {
      if (ceilMode) throw unsupportedForm(context, layer, `ceilMode with spatial dims unknown at export time (input ${String(size)})`);
      return { ...geometry, out: null, extra: 0 };
    }
    if (size + 2 * padding[a] < extent) throw context.shapeError(x, `spatial dims of at least the kernel extent ${extent} (padding ${padding[a]})`);
    const out = poolOutputSize(size, kernel[a], stride[a], padding[a], dilation[a], ceilMode);
    return { ...geometry, out, extra: Math.max(0, (out - 1) * stride[a] + extent - (size + 2 * padding[a])) };
  }) as [PoolAxis, PoolAxis];
}

/** An explicit constant Pad of the two spatial axes (for paddings onnxruntime's pooling attributes refuse). */
function padSpatial(context: ConvertContext, x: string, head: readonly [number, number], tail: readonly [number, number], value: number): string {
  const { graph } = context;
  const pads = graph.int64s(context.hint('pads'), [0, 0, head[0], head[1], 0, 0, tail[0], tail[1]]);
  return graph.node('Pad', [x, pads, graph.floats(context.hint('pad_value'), [value], [])], context.hint('Pad'));
}

function pooledShape(x: ExportValue, [h, w]: [PoolAxis, PoolAxis]): Dim[] {
  return [x.shape[0], x.shape[1], h.out, w.out];
}

/**
 * Max pooling pads with -Infinity, which is what ONNX's implicit padding means for MaxPool.
 * onnxruntime refuses a pad as large as the (undilated) kernel, which a dilated kernel or the ceil
 * mode's extra tail can need: those pad explicitly first.
 */
export const convertMaxPool2d: LayerConverter<MaxPool2d> = (layer, x, context) => {
  const axes = poolAxes(layer, x, context, layer.kernelSize, layer.options);
  const [h, w] = axes;
  let input = x.name;
  let pads = [h.padding, w.padding, h.padding + h.extra, w.padding + w.extra];
  if (axes.some((a) => a.padding + a.extra >= a.kernel)) {
    input = padSpatial(context, x.name, [h.padding, w.padding], [h.padding + h.extra, w.padding + w.extra], -Infinity);
    pads = [0, 0, 0, 0];
  }
  const name = context.graph.node('MaxPool', [input], context.hint('MaxPool'), [
    attr.ints('kernel_shape', [h.kernel, w.kernel]), attr.ints('strides', [h.stride, w.stride]), attr.ints('pads', pads),
    attr.ints('dilations', [h.dilation, w.dilation]),
  ]);
  return { name, shape: pooledShape(x, axes) };
};

/**
 * Average pooling divides by the window clipped to the padded input (countIncludePad) or by its
 * count of real inputs, as PyTorch. ONNX's count_include_pad=1 says the same in floor mode; when
 * ceil mode adds a window that runs past the padding, the zero padding is made explicit and
 * count_include_pad=0 then counts it and nothing beyond it.
 */
export const convertAvgPool2d: LayerConverter<AvgPool2d> = (layer, x, context) => {
  const axes = poolAxes(layer, x, context, layer.kernelSize, layer.options);
  const [h, w] = axes;
  const includePad = layer.options.countIncludePad ?? true;
  let input = x.name;
  let pads = [h.padding, w.padding, h.padding + h.extra, w.padding + w.extra];
  let countIncludePad = includePad;
  if (includePad && (h.extra > 0 || w.extra > 0)) {
    if (h.padding > 0 || w.padding > 0) input = padSpatial(context, x.name, [h.padding, w.padding], [h.padding, w.padding], 0);
    pads = [0, 0, h.extra, w.extra];
    countIncludePad = false;
  }
  // minnow's geometry (padding at most half the kernel, and a last window that starts inside the
  // input or its left padding) keeps every pad here below the kernel, as onnxruntime requires.
  const name = context.graph.node('AveragePool', [input], context.hint('AveragePool'), [
    attr.ints('kernel_shape', [h.kernel, w.kernel]), attr.ints('strides', [h.stride, w.stride]), attr.ints('pads', pads),
    attr.int('count_include_pad', countIncludePad ? 1 : 0),
  ]);
  return { name, shape: pooledShape(x, axes) };
};
