import { mkdtemp, readdir, readFile, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tensorValues } from '@minnow/onnx';
import {
  barChart, escapeXml, gridValues, histogram, histogramChart, lineChart, mergeLayers, ordinal, renderReport, scatterChart, writeReport,
  type ReportData, type ReportLayer,
} from '../../packages/cli/src/report/index.js';
import { linearScale, logScale } from '../../packages/cli/src/report/scale.js';
import { realRun, type RealRun } from './report-fixture.js';

/**
 * The HTML report: data collected from a real small run (train, distill, prune, export, quantize,
 * sensitivity on MNIST), the charts it draws from it, escaping of every text, "no data" panels for
 * empty and NaN inputs, a page that names no URL, and the atomic write. The page in Chromium is
 * test/cli/report-browser.test.ts.
 */

let pending: Promise<RealRun> | undefined;
/** One real run shared by the tests that need it (not a beforeAll: a failure fails each test with its reason). */
const run = (): Promise<RealRun> => (pending ??= realRun());

/** Every <svg> of a page: its opening tag's attributes and its body. */
function charts(html: string): { attrs: string; body: string }[] {
  return [...html.matchAll(/<svg ([^>]*)>([\s\S]*?)<\/svg>/g)].map((m) => ({ attrs: m[1], body: m[2] }));
}

const points = (attrs: string): number => Number(/data-points="(\d+)"/.exec(attrs)?.[1] ?? NaN);

/** Tags open and close in order (void HTML elements and self-closed SVG elements aside): the markup is well formed. */
function balanced(markup: string): string[] {
  const VOID = new Set(['meta', 'link', 'br', 'img', 'input', 'hr']);
  const stack: string[] = [];
  const problems: string[] = [];
  for (const m of markup.replace(/<!doctype html>/i, '').matchAll(/<(\/?)([a-zA-Z][\w-]*)((?:[^>"']|"[^"]*"|'[^']*')*?)(\/?)>/g)) {
    const [, closing, tag, , selfClosing] = m;
    if (selfClosing || VOID.has(tag.toLowerCase())) continue;
    if (!closing) stack.push(tag);
    else if (stack.pop() !== tag) problems.push(`</${tag}> closes the wrong element at ${m.index}`);
  }
  if (stack.length > 0) problems.push(`unclosed: ${stack.join(', ')}`);
  return problems;
}

const emptyReport = (over: Partial<ReportData> = {}): ReportData => ({ title: 't', steps: [], curves: [], layers: [], notes: [], environment: {}, ...over });

describe('report data from a real run (collect.ts, collect-onnx.ts)', { timeout: 300_000 }, () => {
  it('collects steps, curves and per-layer histograms, grids, sparsity and sensitivity from the objects the run made', async () => {
    const { data, floatOnnx, quantized, sparsity, sensitivity, teacherProgress } = await run();
    expect(data.steps.map((s) => s.kind)).toEqual(['train', 'distill', 'prune', 'export', 'quantize']);
    // Quantizing to int8 (one layer int4) shrinks the file about 3.5x; the training run learnt something.
    const [teacher, , , exported, int8] = data.steps;
    expect(exported.bytes / int8.bytes).toBeGreaterThan(2.5);
    expect(teacher.accuracy).toBeGreaterThan(0.5);
    expect(int8.params).toBe(exported.params);
    // One point per optimiser step: 400 samples in batches of 32 is 13 steps.
    expect(data.curves[0].points.map((p) => p[0])).toEqual(Array.from({ length: 13 }, (_, i) => i + 1));
    expect(data.curves[0].points.map((p) => p[1])).toEqual(teacherProgress.map((p) => p.loss));

    // The two Gemm layers, each record joined from the quantizer, the pruning report and the sensitivity analysis.
    expect(data.layers).toHaveLength(2);
    for (const layer of data.layers) {
      const weight = floatOnnx.graph!.initializer.find((t) => t.name === layer.weight)!;
      const values = tensorValues(weight) as Float32Array;
      expect(layer.params).toBe(values.length);
      expect(layer.before!.total).toBe(values.length);
      expect(layer.after!.total).toBe(values.length);
      expect(layer.before!.counts).toHaveLength(48);
      // Pruned weights are exact zeros, and symmetric quantization keeps zero at zero.
      const pruned = sparsity.layers.find((l) => l.name === layer.weight)!;
      expect(layer.before!.zeros).toBe(pruned.zeros);
      expect(layer.after!.zeros).toBeGreaterThanOrEqual(pruned.zeros);
      expect(layer.sparsity).toBe(pruned.sparsity);
      expect(layer.sensitivity!.sqnrDb).toBe(sensitivity.layers.find((l) => l.layer === layer.name)!.sqnrDb);
      // The grid is the stored scales': that of the channel (or block) holding the largest weight, so it spans the histogram.
      const dq = quantized.model.graph!.node.find((n) => n.opType === 'DequantizeLinear' && n.output[0] === quantized.model.graph!.node.find((m) => m.name === layer.name)!.input[1])!;
      const scales = tensorValues(quantized.model.graph!.initializer.find((t) => t.name === dq.input[1])!) as Float32Array;
      const [rows, cols] = weight.dims.map(Number);
      const blockSize = Number(dq.attribute.find((a) => a.name === 'block_size')?.i ?? 0n);
      const axis = Number(dq.attribute.find((a) => a.name === 'axis')?.i ?? 1n);
      let largest = 0;
      values.forEach((v, i) => { if (Math.abs(v) > Math.abs(values[largest])) largest = i; });
      const [row, col] = [Math.floor(largest / cols), largest % cols];
      // Gemm weights [out, in]: per channel along axis 0, blocks along axis 1 (the input).
      const scaleIndex = blockSize > 0 ? row * Math.ceil(cols / blockSize) + Math.floor(col / blockSize) : axis === 0 ? row : col;
      expect(rows * cols).toBe(values.length);
      expect(layer.grid!.scale).toBe(scales[scaleIndex]);
      expect(layer.grid!.qmax * layer.grid!.scale).toBeGreaterThanOrEqual(Math.abs(values[largest]) * (1 - 1e-6));
      expect(layer.grid!.scales).toEqual({ count: scales.length, min: Math.min(...scales), max: Math.max(...scales) });
      expect(layer.grid!.source).toBe('model');
    }
    const [first, last] = data.layers;
    expect([first.precision, first.grid!.bits, first.grid!.granularity]).toEqual(['int8', 8, 'channel']);
    expect([last.precision, last.grid!.bits, last.grid!.granularity, last.grid!.blockSize]).toEqual(['int4', 4, 'block', 32]);
    // int8 per channel keeps the weights far better than int4 in blocks.
    expect(first.weightSqnrDb!).toBeGreaterThan(30);
    expect(first.weightSqnrDb!).toBeGreaterThan(last.weightSqnrDb!);
  });

  it('renders every chart of the run with data: one scatter, two loss curves, two histograms, sparsity and sensitivity bars', async () => {
    const { data } = await run();
    const html = renderReport(data);
    const svgs = charts(html);
    const kinds = svgs.map((s) => /data-chart="(\w+)"/.exec(s.attrs)![1]);
    expect(kinds.filter((k) => k === 'scatter')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'line')).toHaveLength(2);
    expect(kinds.filter((k) => k === 'histogram')).toHaveLength(2);
    // sparsity, SQNR and accuracy drop (the run has labels).
    expect(kinds.filter((k) => k === 'bars')).toHaveLength(3);
    for (const svg of svgs) {
      expect(svg.attrs).not.toContain('data-empty');
      const marks = svg.body.match(/<(path|rect|circle)[^>]*class="data"|<g class="data"[^>]*>(<rect)/g) ?? [];
      expect(marks.length, svg.attrs).toBeGreaterThan(0);
      expect(points(svg.attrs)).toBeGreaterThan(0);
    }
    const scatter = svgs[kinds.indexOf('scatter')];
    expect(scatter.body.match(/<circle class="data"/g)).toHaveLength(5);
    // Every step is labelled; steps that land on one spot share a label.
    const labels = [...scatter.body.matchAll(/<text class="point-label"[^>]*>([^<]*)<\/text>/g)].flatMap((m) => m[1].split(', '));
    expect(labels.sort()).toEqual(['ONNX', 'int8 + int4', 'pruned 50%', 'student', 'teacher'].map(escapeXml).sort());
    // Each histogram draws the float weights as bars, the dequantized ones as an outline, and grid lines.
    for (const svg of svgs.filter((_, i) => kinds[i] === 'histogram')) {
      expect((svg.body.match(/<rect x=/g) ?? []).length).toBeGreaterThan(5);
      expect(svg.body).toMatch(/<path class="data" data-series="1"/);
      expect((svg.body.match(/<g class="qgrid">/g) ?? []).length).toBe(1);
    }
    // A pruned layer's zero bin towers over the rest: the count axis goes logarithmic and says so.
    expect(html).toContain('count (log scale)');
    expect(balanced(html)).toEqual([]);
  });
});

describe('the renderer', () => {
  const hostile = '<script>alert("x")</script> & \'quote\'';

  it('escapes every name: a layer called <script> stays text, in tables, charts, titles and notes', () => {
    const h = histogram([0.1, -0.2, 0.3, 0.05], { bins: 4 });
    const html = renderReport(emptyReport({
      title: hostile,
      steps: [{ name: hostile, kind: 'train', params: 10, bytes: 1000, accuracy: 0.5, seconds: 1, note: hostile }, { name: '</svg><svg>', kind: 'quantize', params: 10, bytes: 300, accuracy: 0.4, seconds: 1 }],
      curves: [{ name: hostile, chart: hostile, points: [[1, 2], [2, 1]] }],
      layers: [{ name: hostile, weight: '"><img src=x onerror=alert(1)>', op: hostile, before: h, sparsity: 0.5, sensitivity: { precision: hostile, sqnrDb: 20, mse: 0.1 } }],
      notes: [hostile],
      environment: { [hostile]: hostile },
    }));
    expect(html).not.toMatch(/<script/i);
    expect(html).not.toMatch(/<img/i);
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quote&#39;');
    expect(html).toContain('&lt;/svg&gt;&lt;svg&gt;');
    expect(balanced(html)).toEqual([]);
  });

  it('turns empty and NaN inputs into a labelled "no data" panel, never a broken SVG', () => {
    const cases = [
      lineChart({ title: 'loss', xLabel: 'step', yLabel: 'loss', series: [] }),
      lineChart({ title: 'loss', xLabel: 'step', yLabel: 'loss', series: [{ name: 'a', points: [[1, NaN], [NaN, 2], [3, Infinity]] }] }),
      histogramChart({ title: 'w', xLabel: 'value', series: [{ name: 'w', histogram: histogram([NaN, Infinity, -Infinity]), style: 'bars' }] }),
      histogramChart({ title: 'w', xLabel: 'value', series: [{ name: 'w', histogram: histogram([]), style: 'bars' }] }),
      barChart({ title: 'sparsity', xLabel: 'share', bars: [] }),
      barChart({ title: 'sparsity', xLabel: 'share', bars: [{ label: 'a', value: NaN }] }),
      scatterChart({ title: 'trade-off', xLabel: 'bytes', yLabel: 'accuracy', points: [{ label: 'a', x: 0, y: 0.5 }], logX: true }),
      scatterChart({ title: 'trade-off', xLabel: 'bytes', yLabel: 'accuracy', points: [{ label: 'a', x: 100, y: NaN }] }),
    ];
    for (const svg of cases) {
      expect(svg).toMatch(/^<svg [^>]*data-empty="true"/);
      expect(svg).toMatch(/data-points="0"/);
      expect(svg).toContain('>no data</text>');
      expect(svg).not.toMatch(/NaN|Infinity/);
      expect(balanced(svg)).toEqual([]);
    }
    // In a page: a curve of NaN losses gives a no-data panel that names the chart, and a caption counting what was left out.
    const html = renderReport(emptyReport({ curves: [{ name: 'diverged', points: [[1, NaN], [2, NaN]] }] }));
    expect(html).toMatch(/aria-label="Loss: no data \(no finite loss value was recorded\)"/);
    expect(html).toContain('2 points not finite, left out.');
    // Some NaN points among finite ones: the finite ones are drawn, no coordinate is NaN.
    const partial = lineChart({ title: 'loss', xLabel: 'step', yLabel: 'loss', series: [{ name: 'a', points: [[1, 2], [2, NaN], [3, 1]] }] });
    expect(partial).toMatch(/data-points="2"/);
    expect(partial).not.toMatch(/NaN/);
  });

  it('names no network resource: no URL at all, no src, only data: hrefs, no script, and a CSP that forbids loads', async () => {
    const { data } = await run();
    const html = renderReport(data);
    expect(html).not.toMatch(/https?:\/\//i);
    expect(html).not.toMatch(/\ssrc\s*=/i);
    expect([...html.matchAll(/\shref\s*=\s*"([^"]*)"/gi)].map((m) => m[1])).toEqual(['data:,']);
    expect(html).not.toMatch(/<script|@import|url\(/i);
    expect(html).toContain(`content="default-src 'none'; style-src 'unsafe-inline'; img-src data:"`);
  }, 300_000);

  it('draws the quantization grid: every level in range, thinned to at most 48 lines, zero always a line', () => {
    const int4 = { bits: 4, signed: true, qmin: -8, qmax: 7, scale: 0.1, zeroPoint: 0, granularity: 'tensor' as const, scales: { count: 1, min: 0.1, max: 0.1 }, source: 'model' as const };
    const g4 = gridValues(int4, -0.75, 0.7);
    expect(g4.values.map((v) => Math.round(v * 10))).toEqual([-7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7]);
    const g8 = gridValues({ ...int4, bits: 8, qmin: -128, qmax: 127, scale: 0.01 }, -1.3, 1.3);
    expect(g8.levels).toBe(256);
    expect(g8.every).toBe(6);
    expect(g8.values.length).toBeLessThanOrEqual(48);
    expect(g8.values).toContain(0);
    // An asymmetric uint8 grid: level q stands for (q - zeroPoint) * scale.
    const u8 = gridValues({ ...int4, bits: 8, signed: false, qmin: 0, qmax: 255, scale: 0.5, zeroPoint: 250 }, -3, 10);
    expect(u8.values).toEqual([-3, -2.5, -2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2, 2.5]);
    // Thinned, the drawn levels are those a multiple of `every` away from the zero point.
    const thinned = gridValues({ ...int4, bits: 8, signed: false, qmin: 0, qmax: 255, scale: 0.5, zeroPoint: 250 }, -200, 10);
    expect([thinned.levels, thinned.every, thinned.values[0], thinned.values.at(-1)]).toEqual([256, 6, -123, 0]);
    expect([1, 2, 3, 4, 6, 11, 12, 13, 21, 22, 23, 101].map(ordinal)).toEqual(['1st', '2nd', '3rd', '4th', '6th', '11th', '12th', '13th', '21st', '22nd', '23rd', '101st']);
  });
});

describe('report helpers', () => {
  it('histogram: every finite value in exactly one bin, NaN and infinities counted apart (property, seeded)', () => {
    fc.assert(fc.property(
      fc.array(fc.oneof(fc.double({ min: -1e6, max: 1e6, noNaN: true }), fc.constantFrom(NaN, Infinity, -Infinity, 0)), { maxLength: 300 }),
      fc.integer({ min: 1, max: 70 }),
      (values, bins) => {
        const h = histogram(values, { bins });
        const finite = values.filter(Number.isFinite);
        expect(h.counts).toHaveLength(bins);
        expect(h.counts.reduce((a, b) => a + b, 0)).toBe(finite.length);
        expect(h.total).toBe(finite.length);
        expect(h.nonFinite).toBe(values.length - finite.length);
        expect(h.zeros).toBe(finite.filter((v) => v === 0).length);
        if (finite.length > 0) {
          // Each value lies in its bin's interval: recount by interval and compare.
          const width = (h.max - h.min) / bins;
          const recount = new Array<number>(bins).fill(0);
          for (const v of finite) recount[Math.min(bins - 1, Math.floor((v - h.min) / width))]++;
          expect(h.counts).toEqual(recount);
          expect(h.min).toBeLessThanOrEqual(Math.min(...finite));
          expect(h.max).toBeGreaterThanOrEqual(Math.max(...finite));
        }
      },
    ), { seed: 20260901, numRuns: 150 });
  });

  it('escapeXml: the output holds no markup character, and unescapes to the input (property, seeded)', () => {
    const unescape = (s: string): string => s.replace(/&(lt|gt|quot|#39|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', '#39': "'", amp: '&' })[e] as string);
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (s) => {
      const escaped = escapeXml(s);
      expect(escaped).not.toMatch(/[<>"']|&(?!(lt|gt|quot|#39|amp);)/);
      expect(unescape(escaped)).toBe(s);
    }), { seed: 7, numRuns: 300 });
  });

  it('any report, names and numbers however wild, renders to balanced markup with no raw tag from the data (property, seeded)', () => {
    const wild = fc.oneof(fc.double(), fc.constantFrom(NaN, Infinity, -Infinity, 0, -0, 1e-30, 1e30));
    const name = fc.oneof(fc.string({ maxLength: 20 }), fc.constantFrom('<script>', '</svg>', '&amp;', '"', ''));
    const layer = fc.record({ name, sparsity: fc.option(wild, { nil: undefined }), values: fc.array(wild, { maxLength: 40 }), sqnr: fc.option(wild, { nil: undefined }) });
    fc.assert(fc.property(
      fc.array(fc.record({ name, bytes: wild, accuracy: fc.option(wild, { nil: undefined }) }), { maxLength: 5 }),
      fc.array(fc.record({ name, points: fc.array(fc.tuple(wild, wild), { maxLength: 20 }) }), { maxLength: 3 }),
      fc.array(layer, { maxLength: 4 }),
      (steps, curves, layers) => {
        const html = renderReport(emptyReport({
          steps: steps.map((s) => ({ name: s.name, kind: 'quantize', params: 1, bytes: s.bytes, seconds: 1, ...(s.accuracy === undefined ? {} : { accuracy: s.accuracy }) })),
          curves,
          layers: layers.map((l): ReportLayer => ({
            name: l.name, before: histogram(l.values), ...(l.sparsity === undefined ? {} : { sparsity: l.sparsity }),
            ...(l.sqnr === undefined ? {} : { sensitivity: { precision: 'int8', sqnrDb: l.sqnr, mse: 0 } }),
          })),
        }));
        expect(balanced(html)).toEqual([]);
        expect(html).not.toMatch(/<script|<svg>/);
        expect(html.split('</svg>').length).toBe(html.split('<svg ').length);
        expect(html).not.toMatch(/="[^"]*NaN[^"]*"/);
      },
    ), { seed: 99, numRuns: 60 });
  });

  it('scales: ticks are increasing, inside the domain, and nice; a log scale ticks at powers of ten', () => {
    fc.assert(fc.property(fc.double({ min: -1e9, max: 1e9, noNaN: true }), fc.double({ min: 0, max: 1e9, noNaN: true }), (a, span) => {
      const s = linearScale([a, a + span], [0, 500], { nice: true });
      expect(s.ticks.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < s.ticks.length; i++) expect(s.ticks[i]).toBeGreaterThan(s.ticks[i - 1]);
      // The data lies inside the plot, and so does every tick (to a thousandth of a pixel).
      for (const v of [a, a + span, ...s.ticks]) {
        expect(s(v)).toBeGreaterThanOrEqual(-1e-3);
        expect(s(v)).toBeLessThanOrEqual(500 + 1e-3);
      }
    }), { seed: 3, numRuns: 200 });
    const log = logScale([3000, 90_000], [0, 400]);
    expect(log.ticks).toEqual([5000, 10_000, 20_000, 50_000, 100_000]);
    expect(log(3000)).toBeGreaterThan(0);
    expect(log(90_000)).toBeLessThan(400);
    expect(log(20_000) - log(10_000)).toBeCloseTo(log(10_000) - log(5000));
    expect(logScale([1, 1e9], [0, 400]).ticks).toEqual([1, 10, 100, 1000, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9]);
  });

  it('mergeLayers joins records by weight name or layer name, first value of each field kept, first-seen order', () => {
    const merged = mergeLayers(
      [{ name: '0/Gemm', weight: '0.weight', op: 'Gemm', precision: 'int8' }, { name: '2/Gemm', weight: '2.weight', op: 'Gemm' }],
      [{ name: '2.weight', weight: '2.weight', sparsity: 0.9 }, { name: '0.weight', weight: '0.weight', sparsity: 0.5, precision: 'float' }, { name: 'extra', sparsity: 0 }],
      [{ name: '0/Gemm', sensitivity: { precision: 'int8', sqnrDb: 30, mse: 1 } }],
    );
    expect(merged.map((l) => [l.name, l.weight, l.precision, l.sparsity, l.sensitivity?.sqnrDb])).toEqual([
      ['0/Gemm', '0.weight', 'int8', 0.5, 30],
      ['2/Gemm', '2.weight', undefined, 0.9, undefined],
      ['extra', undefined, undefined, 0, undefined],
    ]);
  });
});

describe('writeReport', () => {
  it('writes the page atomically and leaves no temporary file; a path it cannot write is a MinnowError naming it, with nothing left behind', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'minnow-report-'));
    try {
      const data = emptyReport({ title: 'written', notes: ['a note'] });
      const path = join(dir, 'report.html');
      const { bytes } = await writeReport(path, data);
      const text = await readFile(path, 'utf8');
      expect(text).toBe(renderReport(data));
      expect(bytes).toBe(Buffer.byteLength(text));
      expect(await readdir(dir)).toEqual(['report.html']);

      const missing = join(dir, 'no-such-folder', 'r.html');
      await expect(writeReport(missing, data)).rejects.toMatchObject({ name: 'MinnowError', code: 'INVALID_ARGUMENT', message: expect.stringContaining(`cannot write '${missing}': the folder '${join(dir, 'no-such-folder')}' does not exist`) });
      await mkdir(join(dir, 'a-folder'));
      await expect(writeReport(join(dir, 'a-folder'), data)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('it is a folder') });
      await expect(writeReport('', data)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('output path is empty') });
      expect((await readdir(dir)).sort()).toEqual(['a-folder', 'report.html']);
      expect(await readdir(join(dir, 'a-folder'))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
