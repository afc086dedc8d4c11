import { Random, fromArray, gpuBackend, init, jsBackend, matmul, wasmBackend, type BackendFactory } from '@minnow/web';
import { type GemmPageResult, type GemmRow, RESULT_GLOBAL, describeError } from './protocol.js';

/**
 * The page bench/browser-gemm.ts opens in Chromium: square float32 matmul on the gpu backend
 * (gpu.js, WebGL2) and the wasm backend, timed the way bench/gemm.ts times Node: from resident
 * inputs to a host-readable result (matmul + dataSync()), median of repeated runs after warm-up.
 * Sizes come from the query string: ?sizes=256,512.
 */

function randomMatrix(n: number, seed: number): Float32Array {
  const rng = new Random(seed);
  const out = new Float32Array(n * n);
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform() * 2 - 1;
  return out;
}

/**
 * bench/lib/harness.ts's timeIt (which imports node:os, so it cannot come into a page): warm-up,
 * then the median of repeated samples. A browser's clock is coarse (5 us when cross-origin
 * isolated, as the harness serves pages, 100 us otherwise), so a sample repeats a fast `fn` enough
 * times to last about 10 ms.
 */
async function timeIt(fn: () => void, { warmup, minSeconds, minReps, maxReps = 50 }: { warmup: number; minSeconds: number; minReps: number; maxReps?: number }): Promise<{ seconds: number; runs: number }> {
  const pause = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));
  const warmStart = performance.now();
  let warmRuns = 0;
  for (; warmRuns < warmup || performance.now() - warmStart < 300; warmRuns++) {
    fn();
    await pause();
  }
  const perRun = (performance.now() - warmStart) / warmRuns;
  const batch = Math.max(1, Math.ceil(10 / Math.max(perRun, 0.001)));
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || (times.length < maxReps && performance.now() - start < minSeconds * 1000)) {
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) fn();
    times.push((performance.now() - t0) / 1000 / batch);
    await pause();
  }
  times.sort((a, b) => a - b);
  return { seconds: times[Math.floor(times.length / 2)], runs: times.length * batch };
}

/** What WebGL2 runs on here (SwiftShader in headless Chromium without a GPU), or why it cannot say. */
function webglRenderer(): string {
  const gl = document.createElement('canvas').getContext('webgl2');
  if (gl === null) return 'no WebGL2 context';
  const debug = gl.getExtension('WEBGL_debug_renderer_info');
  const renderer = debug === null ? gl.getParameter(gl.RENDERER) : gl.getParameter(debug.UNMASKED_RENDERER_WEBGL);
  gl.getExtension('WEBGL_lose_context')?.loseContext();
  return String(renderer);
}

/** bench/gemm.ts's budget: fewer, longer runs for big sizes. */
function budget(n: number): { warmup: number; minSeconds: number; minReps: number } {
  return n >= 1024 ? { warmup: 1, minSeconds: 2, minReps: 2 } : { warmup: 2, minSeconds: 1, minReps: 3 };
}

async function main(): Promise<void> {
  const sizes = (new URLSearchParams(location.search).get('sizes') ?? '256,512')
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
  const rows: GemmRow[] = [];
  const errors: string[] = [];
  await init(jsBackend);
  const start = async <Buf>(factory: BackendFactory<Buf>): Promise<string> => (await init(factory)).info().mode;
  const backends: [GemmRow['backend'], () => Promise<string>][] = [['gpu', () => start(gpuBackend)], ['wasm', () => start(wasmBackend)]];
  for (const [name, initialise] of backends) {
    let mode: string;
    try {
      mode = await initialise();
    } catch (error) {
      errors.push(`${name}: init failed: ${describeError(error)}`);
      continue;
    }
    for (const n of sizes) {
      document.title = `gemm ${name} (${mode}) n=${n}`;
      const a = fromArray(randomMatrix(n, 1), [n, n], { backend: name });
      const b = fromArray(randomMatrix(n, 2), [n, n], { backend: name });
      try {
        const { seconds, runs } = await timeIt(() => {
          const c = matmul(a, b);
          c.dataSync();
          c.dispose();
        }, budget(n));
        rows.push({ backend: name, mode, n, ms: seconds * 1000, runs });
      } catch (error) {
        errors.push(`${name} n=${n}: ${describeError(error)}`);
      } finally {
        a.dispose();
        b.dispose();
      }
    }
  }
  const result: GemmPageResult = { kind: 'gemm', userAgent: navigator.userAgent, crossOriginIsolated, webglRenderer: webglRenderer(), rows, errors };
  (globalThis as unknown as Record<string, unknown>)[RESULT_GLOBAL] = result;
}

main().catch((error: unknown) => {
  (globalThis as unknown as Record<string, unknown>)[RESULT_GLOBAL] = { kind: 'fatal', error: describeError(error, 40) };
});
