/**
 * The host half of Resize: for one axis, which input positions each output position reads and
 * with which weights. Resize is separable, so the op applies one such table per resized axis. The
 * arithmetic follows ONNX's reference implementation (onnx/reference/ops/op_resize.py) in float64:
 * map the output coordinate to the input, take the n nearest input positions (edge-clamped), and
 * weigh them with the mode's coefficients.
 */

export type CoordinateMode =
  | 'half_pixel' | 'half_pixel_symmetric' | 'pytorch_half_pixel' | 'align_corners' | 'asymmetric' | 'tf_half_pixel_for_nn' | 'tf_crop_and_resize';

/** 'legacy' is Resize-10 and Upsample: no nearest_mode yet; onnxruntime's rule (ceil when downsampling, else floor) is what models of that era were made against. */
export type NearestMode = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil' | 'legacy';

export interface ResizeOptions {
  readonly mode: 'nearest' | 'linear' | 'cubic';
  readonly coordinates: CoordinateMode;
  readonly nearest: NearestMode;
  readonly cubicA: number;
  readonly excludeOutside: boolean;
  readonly antialias: boolean;
}

export interface AxisPlan {
  /** Input positions read per output position: 1 for nearest. */
  readonly taps: number;
  /** [output][tap] input positions, clamped into the axis. */
  readonly indices: Int32Array;
  /** [output][tap] weights (absent for nearest). */
  readonly weights?: Float64Array;
  /** Output positions whose source lies outside the roi crop (tf_crop_and_resize): they take the extrapolation value. */
  readonly outside?: Uint8Array;
}

/** Where output position `y` reads from, in input coordinates. */
function sourceCoordinate(mode: CoordinateMode, y: number, scale: number, input: number, output: number, roi: readonly [number, number]): number {
  const width = scale * input; // the fractional output length the reference uses
  switch (mode) {
    case 'align_corners': return width === 1 ? 0 : (y * (input - 1)) / (width - 1);
    case 'asymmetric': return y / scale;
    case 'tf_half_pixel_for_nn': return (y + 0.5) / scale;
    case 'tf_crop_and_resize': {
      const [start, end] = roi;
      const x = width === 1 ? ((end - start) * (input - 1)) / 2 : (y * (end - start) * (input - 1)) / (width - 1);
      return x + start * (input - 1);
    }
    case 'pytorch_half_pixel': return width === 1 ? -0.5 : (y + 0.5) / scale - 0.5;
    case 'half_pixel_symmetric': {
      const offset = (input / 2) * (1 - output / width);
      return offset + (y + 0.5) / scale - 0.5;
    }
    default: return (y + 0.5) / scale - 0.5;
  }
}

function nearestIndex(mode: NearestMode, x: number, scale: number): number {
  const below = Math.floor(x);
  const fraction = x - below;
  switch (mode) {
    case 'floor': return below;
    case 'ceil': return Math.ceil(x);
    case 'round_prefer_ceil': return fraction < 0.5 ? below : below + 1;
    case 'legacy': return scale < 1 ? Math.ceil(x) : Math.trunc(x);
    default: return fraction <= 0.5 ? below : Math.ceil(x);
  }
}

function cubicCoefficients(ratio: number, a: number): number[] {
  const r1 = ratio + 1;
  const s = 1 - ratio;
  const s1 = s + 1;
  return [
    ((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a,
    ((a + 2) * ratio - (a + 3)) * ratio * ratio + 1,
    ((a + 2) * s - (a + 3)) * s * s + 1,
    ((a * s1 - 5 * a) * s1 + 8 * a) * s1 - 4 * a,
  ];
}

/** Antialiasing stretches the filter by 1/scale when downsampling (opset 18). */
function antialiasCoefficients(kernel: (x: number) => number, support: number, ratio: number, scale: number): number[] {
  const s = Math.min(scale, 1);
  const first = Math.floor(-support / s) + 1;
  const coefficients: number[] = [];
  for (let i = first; i < 2 - first; i++) coefficients.push(kernel(s * (i - ratio)));
  const total = coefficients.reduce((a, b) => a + b, 0);
  return coefficients.map((c) => c / total);
}

function coefficients(options: ResizeOptions, ratio: number, scale: number): number[] {
  if (options.mode === 'linear') {
    if (!options.antialias) return [1 - ratio, ratio];
    return antialiasCoefficients((x) => Math.min(Math.max(1 - Math.abs(x), 0), 1), 1, ratio, scale);
  }
  const a = options.cubicA;
  if (!options.antialias) return cubicCoefficients(ratio, a);
  const cubic = (v: number): number => {
    const x = Math.abs(v);
    if (x <= 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
    if (x < 2) return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
    return 0;
  };
  return antialiasCoefficients(cubic, 2, ratio, scale);
}

/** The table for one axis of length `input` resized to `output` at `scale`. */
export function planAxis(options: ResizeOptions, input: number, output: number, scale: number, roi: readonly [number, number]): AxisPlan {
  const crop = options.coordinates === 'tf_crop_and_resize';
  const outside = crop ? new Uint8Array(output) : undefined;
  const sources = Float64Array.from({ length: output }, (_, y) => {
    const x = sourceCoordinate(options.coordinates, y, scale, input, output, roi);
    if (outside && (x < 0 || x > input - 1)) outside[y] = 1;
    return x;
  });
  const clampIndex = (i: number) => Math.min(Math.max(i, 0), input - 1);
  if (options.mode === 'nearest') {
    return { taps: 1, indices: Int32Array.from(sources, (x) => clampIndex(nearestIndex(options.nearest, x, scale))), outside };
  }
  let indices = new Int32Array(0);
  let weights = new Float64Array(0);
  let taps = 0;
  sources.forEach((x, y) => {
    const below = Math.floor(x);
    // Ratio is in (0, 1]: at an exact input position the reference leans on the pixel to its left.
    const ratio = x === below ? 1 : x - below;
    const coeffs = coefficients(options, ratio, scale);
    if (taps === 0) {
      taps = coeffs.length;
      indices = new Int32Array(output * taps);
      weights = new Float64Array(output * taps);
    }
    // The window of `taps` positions nearest to x, ties going to the smaller positions.
    const pad = Math.ceil(taps / 2);
    const padded = x + pad;
    const p = Math.floor(padded);
    const fraction = padded - p;
    const offset = taps % 2 === 0 ? (fraction === 0 ? -(taps / 2) : -(taps / 2) + 1) : fraction <= 0.5 ? -((taps - 1) / 2) : -((taps - 1) / 2) + 1;
    const start = p + offset - pad;
    if (options.excludeOutside) {
      for (let j = 0; j < taps; j++) if (start + j < 0 || start + j >= input) coeffs[j] = 0;
      const total = coeffs.reduce((a, b) => a + b, 0);
      for (let j = 0; j < taps; j++) coeffs[j] /= total === 0 ? 1 : total;
    }
    for (let j = 0; j < taps; j++) {
      indices[y * taps + j] = clampIndex(start + j);
      weights[y * taps + j] = coeffs[j];
    }
  });
  return { taps, indices, weights, outside };
}
