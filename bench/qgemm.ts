import { fromArray, matmul, matmulInteger, Random, type Tensor } from '@minnow/core';
import { ELEM, singleNodeModel } from './lib/onnx-models.js';
import { measure, timeIt, type Bench, type BenchContext, type Row } from './lib/harness.js';
import { ortNode } from './lib/peers.js';

/**
 * int8 GEMM (int8 x int8 -> int32, ONNX MatMulInteger) against minnow-wasm's own float32 GEMM
 * and onnxruntime-node's MatMulInteger (uint8 x int8, the pair its CPU kernels are built for) on
 * the same shapes. gops = 2 m n k / s for every row, so int8 and float rows compare directly.
 */

const SHAPES: readonly [number, number, number][] = [
  [256, 256, 256],
  [512, 512, 512],
  [1024, 1024, 1024],
  [128, 3072, 768], // a transformer MLP: 128 tokens, 768 -> 3072
];

function randomInts(length: number, lo: number, hi: number, seed: number): number[] {
  const rng = new Random(seed);
  return Array.from({ length }, () => lo + rng.int(hi - lo + 1));
}

async function timeMinnow(fn: () => Tensor, big: boolean): Promise<number> {
  return timeIt(() => {
    const c = fn();
    c.dataSync();
    c.dispose();
  }, big ? { warmup: 1, minSeconds: 1.5, minReps: 3 } : { warmup: 2, minSeconds: 1, minReps: 3 });
}

export const bench: Bench = {
  name: 'qgemm',
  title: 'qgemm: int8 GEMM (MatMulInteger) vs float32 GEMM, single thread',
  columns: ['impl', 'm', 'n', 'k', 'ms', 'gops'],
  method: [
    'A [m, k] and B [k, n] with uniform random int8 values (ort-node: A as uint8 with zero point 128, B int8), int32 result read back.',
    'minnow-wasm-f32 multiplies the same values as float32 on the wasm backend; the -simd128 rows force the SIMD128 build (the plain rows run relaxed SIMD, whose float32 GEMM uses fused multiply-add while the int8 GEMM is the same code in both builds).',
    'Median of repeated runs after warm-up; gops = 2 m n k / seconds / 1e9 for every row.',
  ],
  summary(rows: readonly Row[]) {
    const lines = SHAPES.flatMap(([m, n, k]) => {
      const at = (impl: string) => rows.find((r) => r.impl === impl && r.m === m && r.n === n && r.k === k)?.gops as number | undefined;
      const ort = at('ort-node-int8');
      return ['', '-simd128'].flatMap((suffix) => {
        const i8 = at(`minnow-wasm${suffix}-int8`);
        const f32 = at(`minnow-wasm${suffix}-f32`);
        const parts = [f32 && i8 ? `${(i8 / f32).toFixed(2)}x minnow-wasm${suffix}-f32` : '', ort && i8 ? `${(i8 / ort).toFixed(2)}x ort-node-int8` : ''].filter(Boolean);
        return parts.length ? [`- ${m}x${n}x${k}: minnow-wasm${suffix}-int8 runs at ${parts.join(', ')}.`] : [];
      });
    });
    return lines.length ? ['Ratios (same run):', '', ...lines] : [];
  },
  async run(ctx: BenchContext) {
    const shapes = ctx.quick ? SHAPES.slice(0, 1) : SHAPES;
    for (const [m, n, k] of shapes) {
      const a = Int8Array.from(randomInts(m * k, -128, 127, 1));
      const b = Int8Array.from(randomInts(k * n, -128, 127, 2));
      const big = m * n * k >= 2 ** 28;
      const attempt = (impl: string, time: () => Promise<number>) =>
        measure(ctx, `qgemm ${impl} ${m}x${n}x${k}`, time, (seconds) => ({ bench: 'qgemm', impl, m, n, k, ms: seconds * 1000, gops: (2 * m * n * k) / seconds / 1e9 }));
      for (const [suffix, backend] of [['', 'wasm'], ['-simd128', 'wasm-simd128']] as const) {
        await attempt(`minnow-wasm${suffix}-int8`, async () => {
          const ta = fromArray(a, [m, k], { backend });
          const tb = fromArray(b, [k, n], { backend });
          try {
            return await timeMinnow(() => matmulInteger(ta, tb), big);
          } finally {
            ta.dispose();
            tb.dispose();
          }
        });
        await attempt(`minnow-wasm${suffix}-f32`, async () => {
          const ta = fromArray(Float32Array.from(a), [m, k], { backend });
          const tb = fromArray(Float32Array.from(b), [k, n], { backend });
          try {
            return await timeMinnow(() => matmul(ta, tb), big);
          } finally {
            ta.dispose();
            tb.dispose();
          }
        });
      }
      await attempt('ort-node-int8', async () => {
        const ort = await ortNode();
        const model = singleNodeModel('MatMulInteger', [
          { name: 'A', elemType: ELEM.uint8, shape: [m, k] },
          { name: 'B', elemType: ELEM.int8, shape: [k, n] },
          { name: 'a_zero', elemType: ELEM.uint8, shape: [] },
        ], [{ name: 'C', elemType: ELEM.int32, shape: [m, n] }]);
        const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
        const feeds = {
          A: new ort.Tensor('uint8', Uint8Array.from(a, (v) => v + 128), [m, k]),
          B: new ort.Tensor('int8', b, [k, n]),
          a_zero: new ort.Tensor('uint8', Uint8Array.of(128), []),
        };
        try {
          return await timeIt(() => session.run(feeds), big ? { warmup: 1, minSeconds: 1.5, minReps: 3 } : {});
        } finally {
          await session.release();
        }
      });
    }
  },
};
