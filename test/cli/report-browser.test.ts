import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { writeReport } from '../../packages/cli/src/report/index.js';
import { CHROMIUM_FLAGS, requireChromium } from '../browser/harness.js';
import { realRun } from './report-fixture.js';

/**
 * The report as a person opens it: the page written by writeReport from a real small run, opened
 * from disk (file://) in Debian's headless Chromium through playwright-core. It must render with no
 * console error, load nothing but itself, draw every chart with data, keep hostile names as text,
 * and leave a full-page screenshot in test-results/report/ (gitignored) to look at. Without
 * /usr/bin/chromium this fails and says how to install it; it does not skip.
 */

const ARTIFACTS = fileURLToPath(new URL('../../test-results/report/', import.meta.url));

interface ChartFacts {
  readonly kind: string;
  readonly title: string;
  readonly declared: number;
  readonly empty: boolean;
  readonly marks: number;
  readonly width: number;
  readonly height: number;
}

describe('the HTML report in headless Chromium', { timeout: 300_000 }, () => {
  it('renders from file:// with no console error and no request, every chart drawn with data, names kept as text; screenshot saved', async () => {
    const executablePath = requireChromium();
    const { data } = await realRun();
    const hostile = '<script>document.title="pwned"</script>';
    const report = { ...data, layers: data.layers.map((l, i) => (i === 0 ? { ...l, name: hostile } : l)) };
    const dir = await mkdtemp(join(tmpdir(), 'minnow-report-browser-'));
    const profile = await mkdtemp(join(tmpdir(), 'minnow-chromium-profile-'));
    const path = join(dir, 'report.html');
    await writeReport(path, report);
    const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: [...CHROMIUM_FLAGS], timeout: 120_000, viewport: { width: 1360, height: 900 } });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
      const requests: string[] = [];
      page.on('request', (r) => requests.push(r.url()));
      const url = pathToFileURL(path).href;
      await page.goto(url, { waitUntil: 'load', timeout: 60_000 });

      const facts = await page.evaluate(() => ({
        title: document.title,
        scripts: document.scripts.length,
        h1: document.querySelector('h1')?.textContent ?? '',
        tableText: document.querySelector('table.layers')?.textContent ?? '',
        sections: Array.from(document.querySelectorAll('section'), (s) => s.id),
        charts: Array.from(document.querySelectorAll('svg.chart-svg'), (svg) => {
          const box = svg.getBoundingClientRect();
          return {
            kind: svg.getAttribute('data-chart') ?? '',
            title: svg.querySelector('title')?.textContent ?? '',
            declared: Number(svg.getAttribute('data-points')),
            empty: svg.hasAttribute('data-empty'),
            // Drawn marks: data paths and circles, and the bars inside data groups or data rects.
            marks: svg.querySelectorAll('path.data, circle.data, rect.data, g.data > rect').length,
            width: box.width,
            height: box.height,
          };
        }),
      }));
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'report.png'), fullPage: true });

      expect(problems).toEqual([]);
      // The page itself and nothing else: no stylesheet, font, image or script was fetched.
      expect(requests).toEqual([url]);
      expect(facts.scripts).toBe(0);
      expect(facts.title).toBe(data.title);
      expect(facts.sections).toEqual(['steps', 'training', 'weights', 'pruning', 'sensitivity', 'layers', 'notes', 'environment']);
      // The <script> layer name is text in the table and in its chart's title, not an element.
      expect(facts.tableText).toContain(hostile);
      expect(facts.charts.some((c: ChartFacts) => c.title.startsWith(hostile))).toBe(true);
      const kinds = facts.charts.map((c: ChartFacts) => c.kind).sort();
      expect(kinds).toEqual(['bars', 'bars', 'bars', 'histogram', 'histogram', 'line', 'line', 'scatter']);
      for (const chart of facts.charts as ChartFacts[]) {
        expect(chart.empty, chart.title).toBe(false);
        expect(chart.marks, chart.title).toBeGreaterThan(0);
        expect(chart.declared, chart.title).toBeGreaterThan(0);
        expect(chart.width, chart.title).toBeGreaterThan(200);
        expect(chart.height, chart.title).toBeGreaterThan(80);
      }
    } finally {
      await context.close().catch(() => {});
      await rm(dir, { recursive: true, force: true });
      await rm(profile, { recursive: true, force: true });
    }
  });
});
