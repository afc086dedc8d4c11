// UpSampling2D (ONNX Resize) and ZeroPadding2D (ONNX Pad), over NCHW.
import { attr } from '@minnow/onnx';
import { singleInput, unsupported, type Dim, type LayerConverter } from '../context.js';
import { invalid } from '../model-json.js';

const times = (d: Dim, k: number): Dim => (d === null ? null : d * k);

/**
 * UpSampling2D as Resize by the integer factors. TF.js resizes with align_corners and half-pixel
 * centres both off: source = destination / scale, 'asymmetric' in ONNX's terms; nearest takes the
 * floor of it. Keras in Python (TF 2) resizes bilinearly with half-pixel centres, which the
 * converter's `resizeSemantics: 'keras'` selects (for nearest, with integer factors, the two agree).
 */
const upSampling2d: LayerConverter = (call) => {
  const { ctx, layer, config } = call;
  config.channelsLastOnly();
  const x = singleInput(call, [4]);
  const [sh, sw] = config.pair('size', [2, 2]);
  const interpolation = config.string('interpolation', 'nearest');
  let attributes;
  if (interpolation === 'nearest') {
    attributes = [attr.string('mode', 'nearest'), attr.string('coordinate_transformation_mode', 'asymmetric'), attr.string('nearest_mode', 'floor')];
  } else if (interpolation === 'bilinear') {
    const transform = ctx.resizeSemantics === 'keras' ? 'half_pixel' : 'asymmetric';
    attributes = [attr.string('mode', 'linear'), attr.string('coordinate_transformation_mode', transform)];
  } else throw unsupported(layer, `interpolation '${interpolation}' is not supported (nearest and bilinear are)`);
  const scales = ctx.builder.floats(`${layer.name}_scales`, Float32Array.of(1, 1, sh, sw), [4]);
  // Resize's second input (roi) is unused by these modes and left empty.
  const name = ctx.builder.node('Resize', [ctx.channelsFirst(x).name, '', scales], layer.name, attributes);
  return { name, shape: [x.shape[0], times(x.shape[1], sh), times(x.shape[2], sw), x.shape[3]], channelsFirst: true };
};

/** ZeroPadding2D's padding: n, [h, w], or [[top, bottom], [left, right]]. */
function readPadding(value: unknown, layerName: string): [number, number, number, number] {
  const ok = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0;
  const v = value ?? 1;
  if (ok(v)) return [v, v, v, v];
  if (Array.isArray(v) && v.length === 2) {
    if (ok(v[0]) && ok(v[1])) return [v[0], v[0], v[1], v[1]];
    const [h, w] = v as unknown[];
    if (Array.isArray(h) && Array.isArray(w) && h.length === 2 && w.length === 2 && [...h, ...w].every(ok)) return [h[0], h[1], w[0], w[1]];
  }
  throw invalid(`layer '${layerName}' (ZeroPadding2D): padding ${JSON.stringify(value)} is not n, [h, w] or [[top, bottom], [left, right]]`);
}

const zeroPadding2d: LayerConverter = (call) => {
  const { ctx, layer, config } = call;
  config.channelsLastOnly();
  const x = singleInput(call, [4]);
  const [top, bottom, left, right] = readPadding(layer.config.padding, layer.name);
  const pads = ctx.builder.int64s(`${layer.name}_pads`, [0, 0, top, left, 0, 0, bottom, right]);
  const name = ctx.builder.node('Pad', [ctx.channelsFirst(x).name, pads], layer.name, [attr.string('mode', 'constant')]);
  const grow = (d: Dim, n: number): Dim => (d === null ? null : d + n);
  return { name, shape: [x.shape[0], grow(x.shape[1], top + bottom), grow(x.shape[2], left + right), x.shape[3]], channelsFirst: true };
};

export const SPATIAL_LAYERS: Record<string, LayerConverter> = {
  UpSampling2D: upSampling2d,
  ZeroPadding2D: zeroPadding2d,
};
