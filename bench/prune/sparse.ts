import { Random, fromArray, noGrad, scope } from '@minnow/core';
import { Linear } from '@minnow/nn';
import { SparseLinear } from '@minnow/compress';
import type { BenchContext, Row } from '../lib/harness.js';
import { timePair } from '../quant/speed.js';

/**
 * The prune bench's sparse-kernel rows: a pruned Linear layer run dense (core's float32 GEMM on
 * the weight with its zeros: Linear.forward) and sparse (SparseLinear.forward: the same weights in
 * CSR, core's spmm kernel), on minnow-wasm, single thread. Weights are random normal, pruned by
 * magnitude to exactly the target sparsity (so the kept positions are scattered, as unstructured
 * pruning leaves them); the bias and input are the same in both paths. Each case times the two
 * forward passes in alternating rounds (bench/quant/speed.ts timePair) and reports the medians.
 */

export const SPARSE_METHOD: readonly string[] = [
  'sparse-NN: a Linear layer (1024x1024, and 784->512) pruned by magnitude to NN% zeros, forward pass at batch 1 and 32 on minnow-wasm (single thread): dense = Linear.forward (GEMM over the weight with its zeros), sparse = SparseLinear.forward (the same weight in CSR, spmm kernel); speedup_vs_dense = dense ms / sparse ms, medians of alternating rounds.',
  'sparse-crossover: the sparsity at which sparse and dense take the same time, interpolated (in log speedup) between the two swept sparsities around it; "<0.5" when sparse already wins at 50%.',
];

const SHAPES: readonly (readonly [number, number])[] = [[1024, 1024], [512, 784]];
const SPARSITIES = [0.5, 0.7, 0.8, 0.9, 0.95, 0.99];

/** Random normal [out, in] weights with exactly round(sparsity * size) of the smallest magnitudes set to zero. */
function prunedWeights(out: number, inFeatures: number, sparsity: number, seed: number): Float32Array {
  const rng = new Random(seed);
  const w = Float32Array.from({ length: out * inFeatures }, () => rng.normal());
  const order = Array.from(w.keys()).sort((a, b) => Math.abs(w[a]) - Math.abs(w[b]));
  const zeros = Math.round(sparsity * w.length);
  for (let i = 0; i < zeros; i++) w[order[i]] = 0;
  return w;
}

/** Where log(speedup) crosses 0 along the sweep, interpolated; '<first' or '>last' when it does not. */
function crossover(points: readonly { sparsity: number; speedup: number }[]): number | string {
  if (points[0].speedup >= 1) return `<${points[0].sparsity}`;
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    if (a.speedup < 1 && b.speedup >= 1) {
      const t = -Math.log(a.speedup) / (Math.log(b.speedup) - Math.log(a.speedup));
      return a.sparsity + t * (b.sparsity - a.sparsity);
    }
  }
  return `>${points[points.length - 1].sparsity}`;
}

/** Emits (and returns) the sparse-NN rows and a sparse-crossover row per shape and batch. */
export async function sparseSpeedRows(ctx: BenchContext, quick: boolean, backend = 'wasm'): Promise<Row[]> {
  const rows: Row[] = [];
  const emit = (row: Row): void => {
    rows.push(row);
    ctx.emit(row);
  };
  const shapes = quick ? SHAPES.slice(0, 1) : SHAPES;
  const sparsities = quick ? [0.5, 0.9, 0.99] : SPARSITIES;
  for (const [out, inFeatures] of shapes) {
    const shape = `${out}x${inFeatures}`;
    const sweep = new Map<number, { sparsity: number; speedup: number }[]>([[1, []], [32, []]]);
    for (const sparsity of sparsities) {
      const dense = new Linear(inFeatures, out, { seed: 1, backend });
      noGrad(() => scope(() => dense.weight.assign(fromArray(prunedWeights(out, inFeatures, sparsity, 7), [out, inFeatures], { backend }))));
      const sparse = SparseLinear.fromLinear(dense);
      for (const batch of [1, 32]) {
        const rng = new Random(batch);
        const x = fromArray(Float32Array.from({ length: batch * inFeatures }, () => rng.uniform() * 2 - 1), [batch, inFeatures], { backend });
        // Both paths must compute the same thing before their times mean anything.
        const [a, b] = noGrad(() => scope(() => [dense.forward(x).dataSync(), sparse.forward(x).dataSync()]));
        let worst = 0;
        for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]) / (1 + Math.abs(a[i])));
        if (!(worst < 1e-4)) throw new Error(`sparse bench: ${shape} at ${sparsity}: sparse and dense outputs differ by ${worst}`);
        const run = (layer: Linear | SparseLinear) => (): void => noGrad(() => scope(() => void layer.forward(x)));
        const [msDense, msSparse] = await timePair(run(dense), run(sparse), quick);
        x.dispose();
        const speedup = msDense / msSparse;
        sweep.get(batch)!.push({ sparsity, speedup });
        emit({
          bench: 'prune', impl: 'minnow-wasm', case: `sparse-${Math.round(sparsity * 100)}`, shape, batch, sparsity,
          speedup_vs_dense: speedup, ms_dense: msDense, ms_sparse: msSparse,
        });
      }
      sparse.dispose();
      dense.dispose();
    }
    for (const [batch, points] of sweep) emit({ bench: 'prune', impl: 'minnow-wasm', case: 'sparse-crossover', shape, batch, crossover_sparsity: crossover(points) });
  }
  return rows;
}
