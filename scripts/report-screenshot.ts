// Regenerates the README's pictures of the HTML report (docs/report.png, docs/report-layers.png)
// from a real run of the main job:
//
//   npx tsx --conditions=source scripts/report-screenshot.ts            # runs `minnow demo` first (~30 s)
//   npx tsx --conditions=source scripts/report-screenshot.ts r.html     # pictures of a report you already have
//
// The page is opened from disk in Debian's Chromium (headless, through playwright-core, with the
// flags the browser tests use) and must render with no console error, as test/cli/report-browser
// checks. Two pictures: the top of the page (the steps table and the accuracy-versus-size chart) and
// the per-layer sections (weight histograms with the int8 grid, sparsity, sensitivity).
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { CHROMIUM_FLAGS, requireChromium } from '../test/browser/harness.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const DOCS = join(REPO, 'docs');
/** Wide enough for the report's two-column chart grid, narrow enough to read on GitHub at full size. */
const VIEWPORT = { width: 1200, height: 860 } as const;

/** Runs the main job from the sources into a temporary folder; returns the report's path. */
function runDemo(outDir: string): string {
  const report = join(outDir, 'report.html');
  const tsx = join(REPO, 'node_modules/tsx/dist/cli.mjs');
  const bin = join(REPO, 'packages/cli/src/bin.ts');
  const run = spawnSync(process.execPath, [tsx, '--conditions=source', bin, 'demo', '--out', outDir, '--report', report, '--quiet'], { cwd: REPO, stdio: 'inherit' });
  if (run.status !== 0) throw new Error(`minnow demo exited with ${String(run.status ?? run.signal)}`);
  return report;
}

async function main(): Promise<void> {
  const executablePath = requireChromium();
  const given = process.argv[2];
  const work = await mkdtemp(join(tmpdir(), 'minnow-report-shot-'));
  const profile = join(work, 'profile');
  try {
    const reportPath = given ? resolve(given) : runDemo(join(work, 'demo'));
    const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: [...CHROMIUM_FLAGS], viewport: VIEWPORT, timeout: 120_000 });
    try {
      const page = context.pages()[0] ?? (await context.newPage());
      const problems: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`uncaught: ${e.message}`));
      await page.goto(pathToFileURL(reportPath).href, { waitUntil: 'load', timeout: 60_000 });
      if (problems.length > 0) throw new Error(`the report did not render cleanly:\n${problems.join('\n')}`);
      await mkdir(DOCS, { recursive: true });
      // The top of the page down to the end of the steps section (title, steps table, accuracy-versus-size
      // chart), and the per-layer sections (weight histograms with the int8 grid, sparsity, sensitivity).
      const shots: [string, string, string][] = [['report.png', 'h1', 'section#steps'], ['report-layers.png', 'section#weights', 'section#sensitivity']];
      for (const [name, first, last] of shots) {
        const top = await page.locator(first).boundingBox();
        const bottom = await page.locator(last).boundingBox();
        if (!top || !bottom) throw new Error(`the report has no ${top ? last : first}`);
        const margin = 16;
        const y = Math.max(0, top.y - margin);
        await page.screenshot({ path: join(DOCS, name), fullPage: true, clip: { x: 0, y, width: VIEWPORT.width, height: bottom.y + bottom.height + margin - y } });
        console.log(`docs/${name}: ${((await stat(join(DOCS, name))).size / 1024).toFixed(0)} KB`);
      }
    } finally {
      await context.close().catch(() => {});
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

await main();
