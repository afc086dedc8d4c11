import { formatBytes, formatCount } from '../format.js';
import { REPORT_CSS } from './style.js';
import { formatTick } from './scale.js';
import { escapeXml } from './svg-frame.js';
import { barChart, drawablePoints, histogramChart, lineChart, scatterChart, type HistogramSeries } from './svg.js';
import type { QuantGrid, ReportData, ReportLayer, ReportStep } from './types.js';

/**
 * The report as one HTML page: inline CSS, inline SVG charts, tables, and nothing it must fetch (a
 * Content-Security-Policy forbids every load, so a file that did name a URL would show it as an
 * error rather than reach out). No scripts. Sections whose data the job did not produce are left
 * out; a chart given data with nothing drawable in it shows a "no data" panel.
 */

const percent = (v: number): string => `${Number((v * 100).toPrecision(3))}%`;
const optional = (v: number | undefined, format: (x: number) => string): string => (v === undefined ? '–' : Number.isFinite(v) ? format(v) : formatTick(v));
const seconds = (s: number): string => (s < 10 ? `${s.toFixed(2)} s` : `${s.toFixed(1)} s`);
const decibels = (db: number): string => (db === Infinity ? 'identical' : `${db.toFixed(1)} dB`);

function figure(svg: string, caption: string, extraClass = ''): string {
  return `<figure class="chart${extraClass}">${svg}<figcaption>${caption}</figcaption></figure>`;
}

/** 1st, 2nd, 3rd, 4th, 11th, 22nd ... */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${suffix}`;
}

const leftOut = (dropped: number, what: string): string => (dropped > 0 ? ` ${dropped} ${what} not finite, left out.` : '');

// ------------------------------------------------------------------------------------------------
// steps

function stepsTable(steps: readonly ReportStep[]): string {
  const head = '<tr><th>step</th><th>kind</th><th class="num">parameters</th><th class="num">size</th><th class="num">accuracy</th><th class="num">agreement</th><th class="num">time</th><th>note</th></tr>';
  const rows = steps.map((s) => [
    `<tr><td>${escapeXml(s.name)}</td><td>${escapeXml(s.kind)}</td>`,
    `<td class="num">${optional(s.params, formatCount)}</td><td class="num">${optional(s.bytes, formatBytes)}</td>`,
    `<td class="num">${optional(s.accuracy, percent)}</td><td class="num">${optional(s.agreement, percent)}</td>`,
    `<td class="num">${optional(s.seconds, seconds)}</td><td>${escapeXml(s.note ?? '')}</td></tr>`,
  ].join(''));
  return `<table class="steps">${head}${rows.join('')}</table>`;
}

function tradeOff(steps: readonly ReportStep[]): string {
  const metric = steps.some((s) => s.accuracy !== undefined) ? 'accuracy' : 'agreement';
  const scored = steps.filter((s) => s[metric] !== undefined);
  const points = scored.map((s) => ({ label: s.name, x: s.bytes, y: s[metric] as number }));
  const svg = scatterChart({
    title: `${metric} against size, step by step`,
    xLabel: 'size on disk (log scale)',
    yLabel: metric === 'accuracy' ? 'test accuracy' : 'agreement with the original',
    points,
    logX: true,
    formatX: formatBytes,
    formatY: percent,
    yBounds: [0, 1],
    connect: true,
    width: 900,
  });
  const drawn = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y) && p.x > 0).length;
  const missing = steps.length - scored.length;
  const caption = `Each point is the model after one step, joined in the order the steps ran: up and to the left is better.` +
    (missing > 0 ? ` ${missing} step${missing === 1 ? ' has' : 's have'} no ${metric} figure.` : '') + leftOut(points.length - drawn, 'points');
  return figure(svg, caption);
}

function summaryLine(steps: readonly ReportStep[]): string {
  if (steps.length < 2) return '';
  const first = steps[0];
  const last = steps[steps.length - 1];
  let text = `${escapeXml(first.name)} → ${escapeXml(last.name)}: ${formatBytes(first.bytes)} → ${formatBytes(last.bytes)}`;
  if (first.bytes > 0 && last.bytes > 0) text += ` (${(first.bytes / last.bytes).toFixed(1)}× smaller)`;
  if (first.accuracy !== undefined && last.accuracy !== undefined) text += `, accuracy ${percent(first.accuracy)} → ${percent(last.accuracy)}`;
  return `<p class="summary">${text}</p>`;
}

// ------------------------------------------------------------------------------------------------
// curves

function curveCharts(data: ReportData): string {
  const charts = new Map<string, ReportData['curves'][number][]>();
  for (const c of data.curves) charts.set(c.chart ?? 'Loss', [...(charts.get(c.chart ?? 'Loss') ?? []), c]);
  return [...charts].map(([title, curves]) => {
    const total = curves.reduce((n, c) => n + c.points.length, 0);
    const drawn = curves.reduce((n, c) => n + drawablePoints(c.points).length, 0);
    const svg = lineChart({ title, xLabel: curves[0].xLabel ?? 'step', yLabel: 'loss', series: curves });
    return figure(svg, `<b>${escapeXml(title)}</b>: ${curves.map((c) => escapeXml(c.name)).join(', ')}.${leftOut(total - drawn, 'points')}`);
  }).join('\n');
}

// ------------------------------------------------------------------------------------------------
// weights and the quantization grid

/** The grid's levels inside [min, max], every `every`-th one (0 always among them) so that at most `maxLines` are drawn (more are a grey wash). */
export function gridValues(grid: QuantGrid, min: number, max: number, maxLines = 48): { values: number[]; every: number; levels: number } {
  if (!(grid.scale > 0) || !Number.isFinite(min) || !Number.isFinite(max)) return { values: [], every: 1, levels: 0 };
  const lo = Math.max(grid.qmin, Math.ceil(min / grid.scale + grid.zeroPoint - 1e-9));
  const hi = Math.min(grid.qmax, Math.floor(max / grid.scale + grid.zeroPoint + 1e-9));
  const levels = Math.max(0, hi - lo + 1);
  const every = Math.max(1, Math.ceil(levels / maxLines));
  const values: number[] = [];
  for (let q = lo; q <= hi; q++) if ((q - grid.zeroPoint) % every === 0) values.push((q - grid.zeroPoint) * grid.scale);
  return { values, every, levels };
}

function gridCaption(grid: QuantGrid, every: number, levels: number): string {
  const layout = grid.granularity === 'tensor'
    ? 'one scale for the tensor'
    : `${Number.isNaN(grid.scales.count) ? 'several' : grid.scales.count} scales (${grid.granularity === 'block' ? `blocks of ${grid.blockSize} along axis ${grid.axis}` : `per channel, axis ${grid.axis ?? '?'}`}) from ${formatTick(grid.scales.min)} to ${formatTick(grid.scales.max)}; the lines are the grid of the ${grid.granularity === 'block' ? 'block' : 'channel'} holding the largest weight`;
  const thinned = every > 1 ? `, every ${ordinal(every)} of the ${levels} levels in range drawn` : '';
  const source = grid.source === 'report' ? ' (grid from the quantizer\'s report: the stored scales could not be read)' : '';
  return `${grid.signed ? 'int' : 'uint'}${grid.bits} grid: scale ${formatTick(grid.scale)}, zero point ${grid.zeroPoint}, ${layout}${thinned}${source}.`;
}

function layerHistogram(layer: ReportLayer): string {
  const before = layer.before as NonNullable<ReportLayer['before']>;
  const series: HistogramSeries[] = [{ name: 'float weights', histogram: before, style: 'bars' }];
  if (layer.after) series.push({ name: `${layer.precision ?? 'quantized'} weights (dequantized)`, histogram: layer.after, style: 'outline' });
  const min = Math.min(before.min, layer.after?.min ?? before.min);
  const max = Math.max(before.max, layer.after?.max ?? before.max);
  const grid = layer.grid && gridValues(layer.grid, min, max);
  const lines = grid && grid.values.length > 0 ? { values: grid.values, name: grid.every > 1 ? `grid (every ${ordinal(grid.every)} level)` : 'grid levels' } : undefined;
  const title = `${layer.name}${layer.op ? ` (${layer.op})` : ''}`;
  const svg = histogramChart({ title, xLabel: 'weight value', series, lines, height: 220 });
  const facts = [
    layer.params === undefined ? '' : `${formatCount(layer.params)} weights`,
    layer.precision ? `${escapeXml(layer.precision)}` : '',
    layer.weightSqnrDb === undefined ? '' : `weight SQNR ${decibels(layer.weightSqnrDb)}`,
    before.zeros > 0 ? `${formatCount(before.zeros)} exact zeros before` : '',
    before.nonFinite > 0 ? `${formatCount(before.nonFinite)} NaN or infinite values not drawn` : '',
  ].filter((f) => f !== '');
  const gridText = layer.grid && grid ? ` ${escapeXml(gridCaption(layer.grid, grid.every, grid.levels))}` : '';
  return figure(svg, `<b>${escapeXml(title)}</b>: ${facts.join(', ')}.${gridText}`, ' small');
}

// ------------------------------------------------------------------------------------------------
// per-layer bars and table

function sparsityChart(layers: readonly ReportLayer[]): string {
  const rows = layers.filter((l) => l.sparsity !== undefined);
  const svg = barChart({
    title: 'sparsity per layer', xLabel: 'fraction of the weight that is zero', domain: [0, 1], format: percent,
    bars: rows.map((l) => ({ label: l.name, value: l.sparsity as number })), colour: '#059669',
  });
  return figure(svg, 'Share of each pruned weight that is zero after pruning.');
}

function sensitivityCharts(layers: readonly ReportLayer[]): string {
  // Most sensitive first: the lowest SQNR (NaN last), whatever order the layers were merged in.
  const sqnrKey = (l: ReportLayer): number => (Number.isNaN(l.sensitivity!.sqnrDb) ? Infinity : l.sensitivity!.sqnrDb);
  const rows = layers.filter((l) => l.sensitivity !== undefined).sort((a, b) => sqnrKey(a) - sqnrKey(b));
  const precision = rows[0]?.sensitivity?.precision ?? 'quantized';
  const out = [figure(barChart({
    title: `output SQNR with one layer ${precision}`, xLabel: 'SQNR at the outputs, dB (lower = more sensitive)', colour: '#d97706',
    bars: rows.map((l) => ({ label: l.name, value: l.sensitivity!.sqnrDb, text: decibels(l.sensitivity!.sqnrDb) })),
  }), `Each layer quantized to ${escapeXml(precision)} alone, every other layer float: the error it causes at the model's outputs, most sensitive first.`)];
  const drops = rows.filter((l) => l.sensitivity!.accuracyDrop !== undefined).sort((a, b) => b.sensitivity!.accuracyDrop! - a.sensitivity!.accuracyDrop!);
  if (drops.length > 0) {
    out.push(figure(barChart({
      title: `accuracy drop with one layer ${precision}`, xLabel: 'accuracy lost, percentage points', colour: '#dc2626',
      bars: drops.map((l) => ({ label: l.name, value: l.sensitivity!.accuracyDrop as number, text: `${l.sensitivity!.accuracyDrop!.toFixed(2)} pp` })),
    }), 'Float accuracy minus the accuracy with only this layer quantized, largest drop first.'));
  }
  return out.join('\n');
}

function layerTable(layers: readonly ReportLayer[]): string {
  const head = '<tr><th>layer</th><th>weight</th><th>op</th><th>precision</th><th class="num">weights</th><th class="num">sparsity</th><th class="num">weight SQNR</th><th class="num">sensitivity</th></tr>';
  const rows = layers.map((l) => `<tr><td>${escapeXml(l.name)}</td><td>${escapeXml(l.weight ?? '')}</td><td>${escapeXml(l.op ?? '')}</td><td>${escapeXml(l.precision ?? '')}</td>` +
    `<td class="num">${optional(l.params, formatCount)}</td><td class="num">${optional(l.sparsity, percent)}</td>` +
    `<td class="num">${optional(l.weightSqnrDb, decibels)}</td><td class="num">${optional(l.sensitivity?.sqnrDb, decibels)}</td></tr>`);
  return `<table class="layers">${head}${rows.join('')}</table>`;
}

// ------------------------------------------------------------------------------------------------
// the page

function section(id: string, title: string, intro: string, body: string): string {
  return `<section id="${id}"><h2>${title}</h2>${intro ? `<p class="intro">${intro}</p>` : ''}${body}</section>`;
}

export function renderReport(data: ReportData): string {
  const sections: string[] = [];
  if (data.steps.length > 0) {
    sections.push(section('steps', 'Steps', 'What each step produced, what it weighs and what it kept.', `${summaryLine(data.steps)}${stepsTable(data.steps)}${tradeOff(data.steps)}`));
  }
  if (data.curves.length > 0) sections.push(section('training', 'Training', 'Loss as training and distillation went on.', `<div class="grid">${curveCharts(data)}</div>`));
  const weighed = data.layers.filter((l) => l.before !== undefined);
  if (weighed.length > 0) {
    const quantized = weighed.some((l) => l.after !== undefined || l.grid !== undefined);
    sections.push(section('weights', quantized ? 'Weights before and after quantization' : 'Weights',
      quantized ? 'Bars: the float weights. Outline: the values the quantized weights stand for. Dashed lines: the levels the integers can take.' : 'How each layer\'s weights are distributed.',
      `<div class="grid">${weighed.map(layerHistogram).join('\n')}</div>`));
  }
  if (data.layers.some((l) => l.sparsity !== undefined)) sections.push(section('pruning', 'Pruning', '', sparsityChart(data.layers)));
  if (data.layers.some((l) => l.sensitivity !== undefined)) sections.push(section('sensitivity', 'Sensitivity', '', sensitivityCharts(data.layers)));
  if (data.layers.length > 0) sections.push(section('layers', 'Layers', '', layerTable(data.layers)));
  if (data.notes.length > 0) sections.push(section('notes', 'Notes', '', `<ul>${data.notes.map((n) => `<li>${escapeXml(n)}</li>`).join('')}</ul>`));
  const environment = Object.entries(data.environment);
  if (environment.length > 0) {
    sections.push(section('environment', 'Environment', '', `<table class="environment">${environment.map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join('')}</table>`));
  }
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    // Nothing may load: no network, no file, no script; only the inline style and data: images.
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">`,
    '<link rel="icon" href="data:,">',
    `<title>${escapeXml(data.title)}</title>`,
    `<style>${REPORT_CSS}</style>`,
    '</head><body><main>',
    `<header><h1>${escapeXml(data.title)}</h1>${data.createdAt ? `<p class="meta">made ${escapeXml(data.createdAt)} by minnow</p>` : ''}</header>`,
    sections.length > 0 ? sections.join('\n') : '<p class="empty">This report holds no data: no step ran.</p>',
    '</main></body></html>',
    '',
  ].join('\n');
}
