import { runPageInChromium } from '../test/browser/harness.js';
import type { FatalPageResult, GemmPageResult } from '../test/browser/protocol.js';

/**
 * Square float32 matmul inside Debian's headless Chromium, on the @minnow/web bundle: the gpu
 * backend (gpu.js in the mode it really runs, webgl2 there: SwiftShader, software, on this
 * machine) and the wasm backend for comparison. Timed as bench/gemm.ts times Node: matmul +
 * dataSync() from resident inputs, median of repeated runs after warm-up. Each label carries the
 * real mode, e.g. "minnow-gpu (webgl2, chromium)".
 */

export interface BrowserGemmRow {
  readonly impl: string;
  readonly n: number;
  readonly ms: number;
  readonly gflops: number;
  readonly mode: string;
  /** What the backend runs on: WebGL2's renderer (gpu) or the wasm build. */
  readonly device: string;
}

const PAGE = new URL('../test/browser/gemm-page.ts', import.meta.url).pathname;

export async function runBrowserGemm(sizes: number[], options: { log?: (line: string) => void; timeoutMs?: number } = {}): Promise<BrowserGemmRow[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  if (sizes.length === 0) return [];
  const bad = sizes.filter((n) => !Number.isInteger(n) || n <= 0);
  if (bad.length > 0) throw new RangeError(`runBrowserGemm: sizes must be positive integers, got ${bad.join(', ')}`);
  const run = await runPageInChromium<GemmPageResult | FatalPageResult>(PAGE, {
    search: `sizes=${sizes.join(',')}`,
    timeoutMs: options.timeoutMs ?? 10 * 60_000,
    log,
  });
  const result = run.result;
  if (result.kind !== 'gemm') throw new Error(`browser gemm page failed: ${result.error}`);
  if (result.errors.length > 0) log(`browser gemm: ${result.errors.join('; ')}`);
  if (!result.crossOriginIsolated) log('browser gemm: the page was not cross-origin isolated, so its clock was 100 us coarse');
  return result.rows.map((row) => ({
    impl: `minnow-${row.backend} (${row.mode}, chromium)`,
    n: row.n,
    ms: row.ms,
    gflops: (2 * row.n ** 3) / (row.ms / 1000) / 1e9,
    mode: row.mode,
    device: row.backend === 'gpu' ? result.webglRenderer : `wasm ${row.mode}, single thread`,
  }));
}
