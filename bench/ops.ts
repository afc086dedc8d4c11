import { gather, pad, randomUniform, sum, tensor, type Tensor } from '@minnow/core';
import { measure, timeIt, type Bench, type BenchContext, type Row } from './lib/harness.js';

/**
 * Memory-bound ops on a 1024 x 1024 float32 tensor, minnow's backends side by side: reductions
 * along rows and down columns (bias gradients), row gathers (embedding lookups) and padding.
 */

const N = 1024;

const CASES: readonly { label: string; run: (x: Tensor, rows: Tensor) => Tensor }[] = [
  { label: 'sum over axis 1 (rows)', run: (x) => sum(x, { axes: 1 }) },
  { label: 'sum over axis 0 (columns)', run: (x) => sum(x, { axes: 0 }) },
  { label: 'gather 512 rows', run: (x, rows) => gather(x, rows, 0) },
  { label: 'pad 1 on every side', run: (x) => pad(x, [[1, 1], [1, 1]]) },
];

export const bench: Bench = {
  name: 'ops',
  title: 'ops: reductions, gather and pad on 1024 x 1024 float32, single thread',
  columns: ['impl', 'op', 'ms'],
  method: [
    'Each row: the median time of the op, output read back with dataSync() and disposed, after warm-up.',
    'minnow-wasm runs the best build the engine validates; minnow-js is the reference backend.',
  ],
  summary(rows: readonly Row[]) {
    const lines = CASES.flatMap(({ label }) => {
      const at = (impl: string) => rows.find((r) => r.impl === impl && r.op === label)?.ms as number | undefined;
      const js = at('minnow-js');
      const wasm = at('minnow-wasm');
      return js && wasm ? [`- ${label}: minnow-wasm ${(js / wasm).toFixed(1)}x faster than minnow-js.`] : [];
    });
    return lines.length ? ['Ratios (same run):', '', ...lines] : [];
  },
  async run(ctx: BenchContext) {
    for (const backend of ['js', 'wasm']) {
      const x = randomUniform([N, N], { seed: 1, backend });
      const rows = tensor(Int32Array.from({ length: 512 }, (_, i) => (i * 7) % N), { dtype: 'int32', backend });
      for (const { label, run } of ctx.quick ? CASES.slice(0, 1) : CASES) {
        await measure(ctx, `ops ${backend} ${label}`, () => timeIt(() => {
          const y = run(x, rows);
          y.dataSync();
          y.dispose();
        }), (seconds) => ({ bench: 'ops', impl: `minnow-${backend}`, op: label, ms: seconds * 1000 }));
      }
      x.dispose();
      rows.dispose();
    }
  },
};
