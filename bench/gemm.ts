import { fromArray, getBackend, matmul, Random } from '@minnow/core';
import { ELEM, singleNodeModel } from './lib/onnx-models.js';
import { measure, timeIt, type Bench, type BenchContext } from './lib/harness.js';
import { ortNode, ortWeb, tfjs } from './lib/peers.js';
import { runBrowserGemm } from './browser-gemm.js';

/**
 * Square float32 matrix products, single thread, for every minnow backend that is initialised and
 * the peers. Every implementation is timed from resident inputs to a host-readable result.
 */

/** The gpu rows carry the gpu.js mode that really ran: "minnow-gpu (headlessgl)". */
function gpuLabel(): string {
  return `minnow-gpu (${getBackend('gpu').info().mode})`;
}

function randomMatrix(n: number, seed: number): Float32Array {
  const rng = new Random(seed);
  const out = new Float32Array(n * n);
  for (let i = 0; i < out.length; i++) out[i] = rng.uniform() * 2 - 1;
  return out;
}

type Timer = (a: Float32Array, b: Float32Array, n: number) => Promise<number>;

function timeMinnow(backend: string): Timer {
  return async (a, b, n) => {
    const ta = fromArray(a, [n, n], { backend });
    const tb = fromArray(b, [n, n], { backend });
    try {
      return await timeIt(() => {
        const c = matmul(ta, tb);
        c.dataSync();
        c.dispose();
      }, budget(n));
    } finally {
      ta.dispose();
      tb.dispose();
    }
  };
}

const IMPLEMENTATIONS: Record<string, Timer> = {
  'minnow-js': timeMinnow('js'),
  'minnow-wasm': timeMinnow('wasm'),
  'minnow-wasm-simd128': timeMinnow('wasm-simd128'),
  [gpuLabel()]: timeMinnow('gpu'),
  'tfjs-cpu': (a, b, n) => timeTfjs('cpu', a, b, n),
  'tfjs-wasm': (a, b, n) => timeTfjs('wasm', a, b, n),
  'ort-node': async (a, b, n) => {
    const ort = await ortNode();
    const session = await ort.InferenceSession.create(matmulModel(n), { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
    const feeds = { A: new ort.Tensor('float32', a, [n, n]), B: new ort.Tensor('float32', b, [n, n]) };
    try {
      return await timeIt(async () => {
        const out = await session.run(feeds);
        out.C.dispose?.();
      }, budget(n));
    } finally {
      await session.release();
    }
  },
  'ort-web': async (a, b, n) => {
    const ort = await ortWeb();
    const session = await ort.InferenceSession.create(matmulModel(n), { executionProviders: ['wasm'] });
    const feeds = { A: new ort.Tensor('float32', a, [n, n]), B: new ort.Tensor('float32', b, [n, n]) };
    try {
      return await timeIt(() => session.run(feeds), budget(n));
    } finally {
      await session.release();
    }
  },
};

async function timeTfjs(backend: 'cpu' | 'wasm', a: Float32Array, b: Float32Array, n: number): Promise<number> {
  const tf = await tfjs(backend);
  const ta = tf.tensor2d(a, [n, n]);
  const tb = tf.tensor2d(b, [n, n]);
  try {
    return await timeIt(() => {
      const c = tf.matMul(ta, tb);
      c.dataSync();
      c.dispose();
    }, budget(n));
  } finally {
    ta.dispose();
    tb.dispose();
  }
}

function matmulModel(n: number): Uint8Array {
  return singleNodeModel('MatMul', [
    { name: 'A', elemType: ELEM.float, shape: [n, n] },
    { name: 'B', elemType: ELEM.float, shape: [n, n] },
  ], [{ name: 'C', elemType: ELEM.float, shape: [n, n] }]);
}

/** Fewer, longer runs for big sizes so slow peers (tfjs-cpu at 1024: ~2 s a run) finish. */
function budget(n: number): { warmup: number; minSeconds: number; minReps: number } {
  return n >= 1024 ? { warmup: 1, minSeconds: 2, minReps: 2 } : { warmup: 2, minSeconds: 1, minReps: 3 };
}

export const bench: Bench = {
  name: 'gemm',
  title: 'gemm: square float32 matmul, single thread',
  columns: ['impl', 'm', 'n', 'k', 'ms', 'gflops'],
  method: [
    'C = A x B with A, B uniform in [-1, 1), float32, n x n; each row is the median of repeated runs after warm-up.',
    'Timed from resident inputs to a host-readable result: minnow and tfjs include dataSync(), onnxruntime includes session.run on the feeds.',
    'Single thread everywhere: onnxruntime-node intraOpNumThreads=1, onnxruntime-web numThreads=1, tfjs-wasm setThreadsCount(1).',
    'gflops = 2 n^3 / seconds / 1e9.',
    'Rows marked "chromium" run inside Debian\'s headless Chromium on the @minnow/web bundle (bench/browser-gemm.ts), timed the same way with the page\'s clock.',
    'minnow-gpu is labelled with the gpu.js mode that ran; headlessgl under Xvfb is Mesa\'s llvmpipe software rasteriser on this GPU-less machine, so those rows measure a CPU emulating a GPU, not a graphics card. Its matmul is one dot product per output texel.',
    'minnow-wasm is the best build the engine validates (relaxed SIMD here, the `minnow` CLI and this bench enable it in Node 20); minnow-wasm-simd128 forces the SIMD128 build.',
  ],
  summary(rows) {
    const lines: string[] = [];
    const sizes = [...new Set(rows.map((r) => Number(r.n)))];
    for (const n of sizes) {
      const at = (impl: string): number | undefined => rows.find((r) => r.impl === impl && r.n === n)?.gflops as number | undefined;
      for (const [mineName, peers] of [['minnow-js', ['tfjs-cpu']], ['minnow-wasm', ['tfjs-wasm', 'ort-web', 'ort-node']], ['minnow-wasm-simd128', ['tfjs-wasm', 'ort-node']]] as const) {
        const mine = at(mineName);
        const ratios = peers.flatMap((peer) => {
          const theirs = at(peer);
          return mine && theirs ? [`${(mine / theirs).toFixed(2)}x ${peer}`] : [];
        });
        if (ratios.length) lines.push(`- n=${n}: ${mineName} runs at ${ratios.join(', ')}.`);
      }
    }
    return lines.length ? ['Ratios (same run):', '', ...lines] : [];
  },
  async run(ctx: BenchContext) {
    const sizes = ctx.quick ? [128, 256] : [128, 256, 512, 1024];
    let slowGpuAt: number | undefined;
    for (const n of sizes) {
      const a = randomMatrix(n, 1);
      const b = randomMatrix(n, 2);
      for (const [impl, time] of Object.entries(IMPLEMENTATIONS)) {
        // A software rasteriser needs minutes for the largest size; one over a second per product stops there.
        if (impl.startsWith('minnow-gpu') && (slowGpuAt ?? Infinity) < n) {
          ctx.note(`${impl} skipped n=${n}: one product took over a second at n=${slowGpuAt}`);
          continue;
        }
        await measure(ctx, `gemm ${impl} ${n}`, () => time(a, b, n), (seconds) => {
          if (impl.startsWith('minnow-gpu') && seconds > 1) slowGpuAt ??= n;
          return { bench: 'gemm', impl, m: n, n, k: n, ms: seconds * 1000, gflops: (2 * n ** 3) / seconds / 1e9 };
        });
      }
    }
    // The same products inside Debian's headless Chromium on the @minnow/web bundle (full runs only:
    // the browser's own test covers the bundle in CI). Labels carry the real mode.
    if (!ctx.quick) {
      const rows = await runBrowserGemm(sizes);
      for (const row of rows) ctx.emit({ bench: 'gemm', impl: row.impl, m: row.n, n: row.n, k: row.n, ms: row.ms, gflops: row.gflops });
      for (const impl of new Set(rows.map((r) => r.impl))) ctx.note(`${impl} ran on ${rows.find((r) => r.impl === impl)?.device}`);
    }
  },
};
