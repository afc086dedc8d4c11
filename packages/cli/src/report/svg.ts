import { formatTick, linearScale, logScale, type Scale } from './scale.js';
import {
  colour, escapeXml, legend, legendHeight, legendLayout, noDataPanel, plotArea, px, shorten, svgElement, textWidth, xAxis, yAxis, type Box,
  type LegendEntry,
} from './svg-frame.js';
import type { Histogram } from './types.js';

/**
 * The report's four charts as inline SVG strings: a line chart (loss curves), a histogram with
 * vertical lines (weights before and after quantization on the quantization grid), a horizontal
 * bar chart (sparsity, sensitivity per layer) and a scatter of labelled points (accuracy against
 * size). Points that are NaN or infinite are left out and counted in the caption the page writes;
 * a chart left with nothing to draw is a "no data" panel that says why. Every text is escaped.
 */

const WIDTH = 640;

// ------------------------------------------------------------------------------------------------
// line chart

export interface LineSeries {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
}

export interface LineChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly LineSeries[];
  readonly width?: number;
  readonly height?: number;
}

/** Points a chart can place: both coordinates finite (and x > 0 on a log axis). */
export function drawablePoints(points: readonly (readonly [number, number])[], logX = false): [number, number][] {
  return points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!logX || x > 0)).map(([x, y]) => [x, y]);
}

export function lineChart(o: LineChartOptions): string {
  const series = o.series.map((s, i) => ({ name: s.name, colour: colour(i), points: drawablePoints(s.points).sort((a, b) => a[0] - b[0]) }))
    .filter((s) => s.points.length > 0);
  if (series.length === 0) return noDataPanel('line', o.title, o.series.length === 0 ? 'no curve was recorded' : 'no finite loss value was recorded');
  const width = o.width ?? WIDTH;
  const layout = legendLayout(series.map((s) => ({ name: s.name, colour: s.colour, mark: 'line' })), 60, width - 16);
  const box: Box = { width, height: (o.height ?? 280) + legendHeight(layout) - 12, left: 60, right: 16, top: legendHeight(layout), bottom: 40 };
  const { x0, x1, y0, y1 } = plotArea(box);
  const all = series.flatMap((s) => s.points);
  const x = linearScale([Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))], [x0, x1]);
  const y = linearScale([Math.min(0, ...all.map((p) => p[1])), Math.max(...all.map((p) => p[1]))], [y0, y1], { nice: true });
  const marks = series.map((s, i) => {
    if (s.points.length === 1) {
      const [[px0, py0]] = s.points;
      return `<circle class="data" data-series="${i}" cx="${px(x(px0))}" cy="${px(y(py0))}" r="3.5" fill="${s.colour}"/>`;
    }
    const d = s.points.map(([a, b], k) => `${k === 0 ? 'M' : 'L'}${px(x(a))},${px(y(b))}`).join(' ');
    return `<path class="data" data-series="${i}" d="${d}" fill="none" stroke="${s.colour}" stroke-width="1.8" stroke-linejoin="round"/>`;
  });
  const body = [yAxis(box, y, { label: o.yLabel }), xAxis(box, x, { label: o.xLabel }), ...marks, legend(layout)].join('\n');
  return svgElement('line', o.title, box, all.length, body);
}

// ------------------------------------------------------------------------------------------------
// histogram

export interface HistogramSeries {
  readonly name: string;
  readonly histogram: Histogram;
  /** Filled bars, or an outline drawn over them. */
  readonly style: 'bars' | 'outline';
}

export interface HistogramChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly series: readonly HistogramSeries[];
  /** Vertical lines across the plot (the quantization grid), in data units, and their legend name. */
  readonly lines?: { readonly values: readonly number[]; readonly name: string };
  readonly width?: number;
  readonly height?: number;
}

/**
 * Whether the counts need a log axis: one bin far above the rest (pruned weights all at zero) would
 * flatten every other bar on a linear axis.
 */
export function hasSpike(counts: readonly number[]): boolean {
  const sorted = [...counts].filter((c) => c > 0).sort((a, b) => b - a);
  return sorted.length > 1 && sorted[0] > 6 * sorted[1];
}

/** The y axis of counts: linear, or log10(1 + count) with ticks at 0 and powers of ten. */
function countScale(max: number, log: boolean, y0: number, y1: number): Scale {
  if (!log) return linearScale([0, max], [y0, y1], { nice: true });
  const top = Math.log10(1 + max);
  const map = ((c: number) => y0 + (Math.log10(1 + Math.max(0, c)) / top) * (y1 - y0)) as Scale;
  const ticks = [0];
  for (let p = 1; p <= max; p *= 10) ticks.push(p);
  return Object.assign(map, { domain: [0, max] as const, ticks, log: true });
}

export function histogramChart(o: HistogramChartOptions): string {
  const series = o.series.map((s, i) => ({ ...s, colour: colour(i) })).filter((s) => s.histogram.total > 0 && s.histogram.counts.length > 0);
  if (series.length === 0) return noDataPanel('histogram', o.title, o.series.length === 0 ? 'no values were given' : 'the values hold no finite number');
  const [min, max] = [Math.min(...series.map((s) => s.histogram.min)), Math.max(...series.map((s) => s.histogram.max))];
  const lines = (o.lines?.values ?? []).filter((v) => Number.isFinite(v) && v >= min && v <= max);
  const entries: LegendEntry[] = series.map((s) => ({ name: s.name, colour: s.colour, mark: s.style === 'bars' ? 'box' : 'line' }));
  if (o.lines !== undefined && lines.length > 0) entries.push({ name: o.lines.name, colour: '#6b7280', mark: 'dash' });
  const width = o.width ?? WIDTH;
  const layout = legendLayout(entries, 60, width - 16);
  const box: Box = { width, height: (o.height ?? 240) + legendHeight(layout) - 12, left: 60, right: 16, top: legendHeight(layout), bottom: 40 };
  const { x0, x1, y0, y1 } = plotArea(box);
  const x = linearScale([min, max], [x0, x1]);
  const maxCount = Math.max(...series.map((s) => Math.max(...s.histogram.counts)));
  const log = series.some((s) => hasSpike(s.histogram.counts));
  const y = countScale(maxCount, log, y0, y1);
  const edge = (h: Histogram, k: number): number => x(h.min + ((h.max - h.min) * k) / h.counts.length);
  let marks = 0;
  const parts: string[] = [yAxis(box, y, { label: log ? 'count (log scale)' : 'count' }), xAxis(box, x, { label: o.xLabel })];
  series.forEach((s, i) => {
    const h = s.histogram;
    if (s.style === 'bars') {
      const rects: string[] = [];
      h.counts.forEach((c, k) => {
        if (c <= 0) return;
        const left = edge(h, k);
        const width = Math.max(0.8, edge(h, k + 1) - left - (edge(h, k + 1) - left > 3 ? 0.6 : 0));
        rects.push(`<rect x="${px(left)}" y="${px(y(c))}" width="${px(width)}" height="${px(y0 - y(c))}"/>`);
      });
      marks += rects.length;
      parts.push(`<g class="data" data-series="${i}" fill="${s.colour}" fill-opacity="0.55">${rects.join('')}</g>`);
    } else {
      const d = [`M${px(edge(h, 0))},${px(y0)}`];
      h.counts.forEach((c, k) => d.push(`L${px(edge(h, k))},${px(y(c))}`, `L${px(edge(h, k + 1))},${px(y(c))}`));
      d.push(`L${px(edge(h, h.counts.length))},${px(y0)}`);
      marks += h.counts.filter((c) => c > 0).length;
      parts.push(`<path class="data" data-series="${i}" d="${d.join(' ')}" fill="none" stroke="${s.colour}" stroke-width="1.4"/>`);
    }
  });
  if (lines.length > 0) parts.push(`<g class="qgrid">${lines.map((v) => `<line x1="${px(x(v))}" y1="${px(y0)}" x2="${px(x(v))}" y2="${px(y1)}"/>`).join('')}</g>`);
  parts.push(legend(layout));
  return svgElement('histogram', o.title, box, marks, parts.join('\n'));
}

// ------------------------------------------------------------------------------------------------
// horizontal bars

export interface Bar {
  readonly label: string;
  readonly value: number;
  /** The value as written at the bar's end (default: formatTick of the value). */
  readonly text?: string;
}

export interface BarChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly bars: readonly Bar[];
  /** The value axis (default: from 0 to the values). */
  readonly domain?: readonly [number, number];
  readonly format?: (value: number) => string;
  readonly colour?: string;
  readonly width?: number;
}

export function barChart(o: BarChartOptions): string {
  const finite = o.bars.filter((b) => Number.isFinite(b.value));
  if (o.bars.length === 0 || (finite.length === 0 && !o.bars.some((b) => b.value === Infinity || b.value === -Infinity))) {
    return noDataPanel('bars', o.title, o.bars.length === 0 ? 'no layer was measured' : 'no layer has a finite value');
  }
  const format = o.format ?? formatTick;
  const labels = o.bars.map((b) => shorten(b.label, 32));
  const left = Math.min(250, Math.max(70, Math.max(...labels.map((l) => textWidth(l))) + 18));
  const row = 22;
  const box: Box = { width: o.width ?? WIDTH, height: 12 + o.bars.length * row + 44, left, right: 56, top: 12, bottom: 44 };
  const { x0, x1, y0 } = plotArea(box);
  const values = finite.map((b) => b.value);
  const domain = o.domain ?? [Math.min(0, ...values), Math.max(0, ...values, values.length === 0 ? 1 : 0)];
  const x = linearScale(domain, [x0, x1], { nice: o.domain === undefined });
  const [d0, d1] = x.domain;
  const zero = x(Math.min(d1, Math.max(d0, 0)));
  const fill = o.colour ?? colour(0);
  let marks = 0;
  const rows = o.bars.map((b, i) => {
    const top = box.top + i * row;
    const label = `<text class="bar-label" x="${px(x0 - 7)}" y="${px(top + row / 2 + 4)}" text-anchor="end">${escapeXml(labels[i])}</text>`;
    const tip = `<title>${escapeXml(`${b.label}: ${b.text ?? format(b.value)}`)}</title>`;
    if (Number.isNaN(b.value)) {
      return `<g>${tip}${label}<text class="bar-value" x="${px(zero + 4)}" y="${px(top + row / 2 + 4)}">n/a</text></g>`;
    }
    const clamped = Math.min(d1, Math.max(d0, b.value));
    const end = x(clamped);
    const [a, c] = end >= zero ? [zero, end] : [end, zero];
    marks++;
    const text = b.text ?? format(b.value);
    const textX = end >= zero ? c + 4 : a - 4;
    return [
      `<g>${tip}${label}`,
      `<rect class="data" data-series="0" x="${px(a)}" y="${px(top + 3)}" width="${px(Math.max(1, c - a))}" height="${row - 6}" fill="${fill}"/>`,
      `<text class="bar-value" x="${px(textX)}" y="${px(top + row / 2 + 4)}"${end >= zero ? '' : ' text-anchor="end"'}>${escapeXml(text)}</text></g>`,
    ].join('');
  });
  const baseline = `<line class="axis" x1="${px(zero)}" y1="${px(box.top)}" x2="${px(zero)}" y2="${px(y0)}"/>`;
  const body = [xAxis(box, x, { label: o.xLabel, format, gridLines: true }), baseline, ...rows].join('\n');
  return svgElement('bars', o.title, box, marks, body);
}

// ------------------------------------------------------------------------------------------------
// scatter of labelled points

/** A nice linear scale over [min, max] whose domain stays within `bounds` (if given) after widening and rounding out. */
function boundedScale(min: number, max: number, range: readonly [number, number], bounds?: readonly [number, number]): Scale {
  const nice = linearScale([min, max], range, { nice: true });
  if (bounds === undefined) return nice;
  const d0 = Math.max(bounds[0], Math.min(min, nice.domain[0]));
  const d1 = Math.min(bounds[1], Math.max(max, nice.domain[1]));
  return d0 === nice.domain[0] && d1 === nice.domain[1] ? nice : linearScale([d0, d1], range);
}

export interface ScatterPoint {
  readonly label: string;
  readonly x: number;
  readonly y: number;
}

export interface ScatterChartOptions {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly points: readonly ScatterPoint[];
  readonly logX?: boolean;
  readonly formatX?: (value: number) => string;
  readonly formatY?: (value: number) => string;
  /** Join the points in the order given (the steps of a job). */
  readonly connect?: boolean;
  /** Limits the y axis may not pass when it is widened or rounded out (accuracy: [0, 1]). */
  readonly yBounds?: readonly [number, number];
  readonly width?: number;
  readonly height?: number;
}

export function scatterChart(o: ScatterChartOptions): string {
  const points = o.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && (!o.logX || p.x > 0));
  if (points.length === 0) return noDataPanel('scatter', o.title, o.points.length === 0 ? 'no step was measured' : 'no step has a finite size and score');
  const box: Box = { width: o.width ?? WIDTH, height: o.height ?? 300, left: 60, right: 24, top: 16, bottom: 40 };
  const { x0, x1, y0, y1 } = plotArea(box);
  const xs = points.map((p) => p.x);
  const ys = points.map((p) => p.y);
  // Room around the points so that labels at the edges stay inside.
  const inner: [number, number] = [x0 + 14, x1 - 90];
  const x = o.logX ? logScale([Math.min(...xs), Math.max(...xs)], inner) : linearScale([Math.min(...xs), Math.max(...xs)], inner, { nice: true });
  const y = boundedScale(Math.min(...ys), Math.max(...ys), [y0 - 12, y1 + 14], o.yBounds);
  const parts = [yAxis(box, y, { label: o.yLabel, format: o.formatY }), xAxis(box, x, { label: o.xLabel, format: o.formatX, gridLines: true })];
  if (o.connect && points.length > 1) {
    parts.push(`<path class="trail" d="${points.map((p, k) => `${k === 0 ? 'M' : 'L'}${px(x(p.x))},${px(y(p.y))}`).join(' ')}" fill="none"/>`);
  }
  // Points that land on the same spot (steps that changed neither size nor score) share one label.
  const spots = new Map<string, { cx: number; cy: number; labels: string[]; tips: string[]; first: number }>();
  points.forEach((p, i) => {
    const cx = x(p.x);
    const cy = y(p.y);
    const key = `${Math.round(cx / 3)},${Math.round(cy / 3)}`;
    const spot = spots.get(key) ?? { cx, cy, labels: [], tips: [], first: i };
    spot.labels.push(p.label);
    spot.tips.push(`${p.label}: ${(o.formatX ?? formatTick)(p.x)}, ${(o.formatY ?? formatTick)(p.y)}`);
    spots.set(key, spot);
  });
  const placed: { x: number; y: number }[] = [];
  for (const spot of spots.values()) {
    const { cx, cy } = spot;
    // A label that would sit on an earlier one goes below its point instead.
    const clash = placed.some((q) => Math.abs(q.x - cx) < 90 && Math.abs(q.y - (cy - 8)) < 13);
    const ly = clash ? cy + 17 : cy - 8;
    placed.push({ x: cx, y: ly });
    const circles = spot.labels.map(() => `<circle class="data" data-series="0" cx="${px(cx)}" cy="${px(cy)}" r="5" fill="${colour(spot.first)}"/>`).join('');
    parts.push(`<g><title>${escapeXml(spot.tips.join('\n'))}</title>${circles}<text class="point-label" x="${px(cx + 8)}" y="${px(ly)}">${escapeXml(shorten(spot.labels.join(', '), 40))}</text></g>`);
  }
  return svgElement('scatter', o.title, box, points.length, parts.join('\n'));
}
