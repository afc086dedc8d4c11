/**
 * Axis scales for the report's charts: a map from data values to pixels, "nice" tick values
 * (1, 2 or 5 times a power of ten), and short tick labels. Linear and log10 scales.
 */

export interface Scale {
  /** Pixel position of a data value. */
  (value: number): number;
  readonly domain: readonly [number, number];
  readonly ticks: readonly number[];
  readonly log: boolean;
}

/** The step between ticks: 1, 2 or 5 times a power of ten, near span / count. */
export function niceStep(span: number, count: number): number {
  const raw = span / Math.max(1, count);
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

/**
 * A domain wide enough to draw: a constant series, or one whose spread is lost in float rounding
 * next to its magnitude, gets room around it (10% of its size, or 1 around 0).
 */
export function widen(min: number, max: number): [number, number] {
  const size = Math.max(Math.abs(min), Math.abs(max));
  if (max - min > size * 1e-9 && max - min > 1e-200) return [min, max];
  const middle = (min + max) / 2;
  const pad = size < 1e-200 ? 1 : size * 0.1;
  return [middle - pad, middle + pad];
}

/**
 * A linear scale from `domain` onto the pixel `range`; with `nice` the domain is rounded out to
 * whole ticks (so the axis starts and ends on a labelled value).
 */
export function linearScale(domain: readonly [number, number], range: readonly [number, number], options: { nice?: boolean; tickCount?: number } = {}): Scale {
  let [d0, d1] = widen(domain[0], domain[1]);
  const step = niceStep(d1 - d0, options.tickCount ?? 5);
  if (options.nice) {
    const n0 = Math.floor(d0 / step) * step;
    const n1 = Math.ceil(d1 / step) * step;
    // Near the float range's end, rounding out can overflow: keep the domain as it is then.
    if (Number.isFinite(n0) && Number.isFinite(n1)) [d0, d1] = [n0, n1];
  }
  const ticks: number[] = [];
  // Ticks as multiples of the step, computed from an integer index so that 0.1 + 0.2 never shows up;
  // bounded, since a domain at the edge of the float range can make the step meaningless.
  const first = Math.ceil(d0 / step - 1e-9);
  for (let k = first; k * step <= d1 + step * 1e-9 && k - first < 50; k++) {
    const t = Number((k * step).toPrecision(12));
    if (t >= d0 - step * 1e-9 && t <= d1 + step * 1e-9) ticks.push(t);
  }
  const [r0, r1] = range;
  const map = ((v: number) => r0 + ((v - d0) / (d1 - d0)) * (r1 - r0)) as Scale;
  return Object.assign(map, { domain: [d0, d1] as const, ticks, log: false });
}

/**
 * A log10 scale (domain > 0) with a little room past the data (a tenth of a decade at least);
 * ticks at 1, 2 and 5 times powers of ten inside it, only the powers when it spans many decades.
 */
export function logScale(domain: readonly [number, number], range: readonly [number, number]): Scale {
  let lo = Math.log10(domain[0]);
  let hi = Math.log10(domain[1]);
  const pad = Math.max(0.1, (hi - lo) * 0.05);
  lo -= pad;
  hi += pad;
  const ticks: number[] = [];
  const multiples = hi - lo > 4 ? [1] : [1, 2, 5];
  for (let e = Math.floor(lo); e <= Math.ceil(hi) && ticks.length < 60; e++) {
    for (const m of multiples) {
      const v = m * 10 ** e;
      if (Math.log10(v) >= lo && Math.log10(v) <= hi) ticks.push(v);
    }
  }
  const [r0, r1] = range;
  const map = ((v: number) => r0 + ((Math.log10(v) - lo) / (hi - lo)) * (r1 - r0)) as Scale;
  return Object.assign(map, { domain: [10 ** lo, 10 ** hi] as const, ticks, log: true });
}

const SI = [
  [1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k'],
] as const;

/** A short label for a tick: 0.25, 1.5k, 3M, 1e-4. */
export function formatTick(value: number): string {
  if (!Number.isFinite(value)) return Number.isNaN(value) ? 'NaN' : value > 0 ? '∞' : '-∞';
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  for (const [size, suffix] of SI) {
    if (magnitude >= size) return `${Number((value / size).toPrecision(3))}${suffix}`;
  }
  if (magnitude < 1e-3) return value.toExponential(1).replace('.0e', 'e');
  return String(Number(value.toPrecision(3)));
}

