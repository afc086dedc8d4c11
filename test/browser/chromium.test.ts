import { describe, expect, it } from 'vitest';
import { type PageRun, runPageInChromium } from './harness.js';
import type { FatalPageResult, ParityPageResult } from './protocol.js';

/**
 * minnow in a browser: the shipped ESM bundle (packages/web/dist/minnow.js) loaded by a page in
 * Debian's headless Chromium, where js, wasm and gpu start, and the parity suite runs on wasm and
 * gpu against js. gpu.js must run WebGL2 there (SwiftShader: software, so slow, hence the timeouts).
 * Without /usr/bin/chromium this fails and says how to install it; it does not skip.
 */

const PAGE = new URL('./page.ts', import.meta.url).pathname;
const PAGE_TIMEOUT_MS = 12 * 60_000;

interface Outcome {
  readonly run: PageRun<ParityPageResult | FatalPageResult>;
  readonly result: ParityPageResult;
}

let pending: Promise<Outcome> | undefined;

/**
 * One page run shared by the tests below, started by the first. Not a beforeAll: when Chromium is
 * missing or the page breaks, every test fails with the reason (a failed beforeAll would count
 * them as skipped).
 */
function outcome(): Promise<Outcome> {
  pending ??= load();
  return pending;
}

async function load(): Promise<Outcome> {
  const run = await runPageInChromium<ParityPageResult | FatalPageResult>(PAGE, { timeoutMs: PAGE_TIMEOUT_MS });
  if (run.result.kind !== 'parity') throw new Error(`the page failed before running the suite: ${run.result.error}`);
  const result = run.result;
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  const summary = ['wasm', 'gpu'].map((name) => {
    const cases = result.cases.filter((c) => c.backend === name);
    return `${name} ${cases.filter((c) => c.passed).length}/${cases.length} passed in ${seconds(cases.reduce((t, c) => t + c.ms, 0))}`;
  });
  const mode = (name: 'js' | 'wasm' | 'gpu'): string => {
    const r = result.init[name];
    return r.ok ? r.info.mode : 'not initialised';
  };
  console.log(
    `Chromium ${run.chromiumVersion}: bundle ${(run.bundleBytes / 1024).toFixed(0)} KiB; wasm ${mode('wasm')}, gpu ${mode('gpu')}; ` +
      `${summary.join(', ')}; page ${seconds(result.totalMs)}, whole run ${seconds(run.wallMs)}`,
  );
  return { run, result };
}

function failures(result: ParityPageResult, backend: string): string[] {
  return result.cases.filter((c) => c.backend === backend && !c.passed).map((c) => `${c.name}: ${c.error ?? '(no message)'}`);
}

describe('minnow in headless Chromium (the @minnow/web bundle)', { timeout: PAGE_TIMEOUT_MS + 120_000 }, () => {
  it('initialises js, wasm and gpu', async () => {
    const { result } = await outcome();
    const notStarted = Object.entries(result.init).flatMap(([name, r]) => (r.ok ? [] : [`${name}: ${r.error}`]));
    expect(notStarted).toEqual([]);
  });

  it('runs gpu.js in its webgl2 mode', async () => {
    const { result } = await outcome();
    const gpu = result.init.gpu;
    expect(gpu.ok ? gpu.info.mode : `not initialised: ${gpu.error}`).toBe('webgl2');
    if (gpu.ok) expect(gpu.info.notes.filter((n) => n.includes('fell back'))).toEqual([]);
  });

  it('runs a wasm SIMD build (relaxed-simd or simd128)', async () => {
    const { result } = await outcome();
    const wasm = result.init.wasm;
    const mode = wasm.ok ? wasm.info.mode : `not initialised: ${wasm.error}`;
    console.log(`wasm build in Chromium: ${mode}`);
    expect(['relaxed-simd', 'simd128']).toContain(mode);
  });

  it('passes the parity suite on wasm', async () => {
    const { result } = await outcome();
    expect(result.cases.filter((c) => c.backend === 'wasm').length).toBeGreaterThan(0);
    expect(failures(result, 'wasm')).toEqual([]);
  });

  it('passes the parity suite on gpu', async () => {
    const { result } = await outcome();
    expect(result.cases.filter((c) => c.backend === 'gpu').length).toBeGreaterThan(0);
    expect(failures(result, 'gpu')).toEqual([]);
  });

  it('reads gpu tensors asynchronously (await data()) with the same values as dataSync()', async () => {
    const { result } = await outcome();
    expect(result.asyncData.error ?? 'passed').toBe('passed');
  });

  it('logs no console errors in the page', async () => {
    const { run } = await outcome();
    expect(run.consoleErrors).toEqual([]);
  });
});
