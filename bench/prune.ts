import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Random, fromArray, scope } from '@minnow/core';
import { deepCompression, pruneChannels, pruneGradually, polynomialDecay, type Classifier } from '@minnow/compress';
import type { Sequential } from '@minnow/nn';
import { OnnxSession, exportModule, writeModel } from '@minnow/onnx';
import { saveModel } from '@minnow/onnx/node';
import type { Bench, BenchContext, Row } from './lib/harness.js';
import { SPARSE_METHOD, sparseSpeedRows } from './prune/sparse.js';
import { BACKEND, BATCH, cosine, lenet300100, loadTask, optimizer, progress, smallCnn, testAccuracy, trainFloat, type Task } from './prune/task.js';
import { timePair } from './quant/speed.js';

/**
 * The prune bench (issue 8): Deep Compression of LeNet-300-100, gradual magnitude pruning to 90%,
 * structured channel pruning of a small CNN, and the sparse kernel against the dense one, all on
 * Fashion-MNIST and minnow-wasm. Accuracy drops are in points of test accuracy against the float
 * model each case starts from.
 */

const LENET = { seed: 5, epochs: 20, lr: 1e-3 };
const GRADUAL = { sparsity: 0.9, epochs: 10, rampEpochs: 4, lr: 1e-3, temperature: 2, alpha: 0.5 };
/** fc1 and fc2 pruned (one threshold across them); the 100x10 output layer stays dense but is clustered too. */
const DEEP = {
  sparsity: 0.93, pruned: ['1.weight', '3.weight'], epochs: 12, rampEpochs: 4, lr: 3e-3, temperature: 4, alpha: 0.5, bits: 5, clusterEpochs: 3, clusterLr: 1e-4,
};
const CNN = { seed: 3, epochs: 3, lr: 1e-3, sparsity: 0.5, fineTuneEpochs: 1, fineTuneLr: 3e-4 };
const QUICK = { lenetEpochs: 1, pruneEpochs: 2, rampEpochs: 1, clusterEpochs: 1, cnnEpochs: 1, fineTuneEpochs: 1 };

const points = (drop: number): number => Number((100 * drop).toFixed(2));

/** A fresh LeNet holding `trained`'s weights (the cases each start from the same float model). */
function copyOf(trained: Sequential, make: (seed: number) => Sequential, seed: number): Sequential {
  const copy = make(seed);
  const snapshot = trained.stateDict({ clone: true });
  copy.loadStateDict(snapshot);
  for (const t of snapshot.values()) t.dispose();
  return copy;
}

async function fileBytes(dir: string, name: string, write: (path: string) => Promise<void>): Promise<number> {
  const path = join(dir, name);
  await write(path);
  return statSync(path).size;
}

async function lenetCases(ctx: BenchContext, task: Task, dir: string): Promise<void> {
  const q = ctx.quick;
  const floatModel = lenet300100(LENET.seed);
  trainFloat(floatModel, task, q ? QUICK.lenetEpochs : LENET.epochs, LENET.lr, 'LeNet-300-100 float');
  const accFloat = testAccuracy(floatModel, task);
  const params = floatModel.parameterCount();
  const floatOnnx = exportModule(floatModel, { inputShape: [1, 1, 28, 28] });
  const floatBytes = await fileBytes(dir, 'lenet-float.onnx', (p) => saveModel(p, floatOnnx));
  ctx.emit({ bench: 'prune', impl: `minnow-${BACKEND}`, case: 'lenet-float', params, nonzeros: params, bytes: floatBytes, acc: accFloat });

  // Gradual magnitude pruning to 90% (one threshold across the three layers), fine-tuned.
  {
    const model = copyOf(floatModel, lenet300100, LENET.seed);
    const epochs = q ? QUICK.pruneEpochs : GRADUAL.epochs;
    const steps = task.loader().length;
    const teacher = copyOf(floatModel, lenet300100, LENET.seed).eval();
    const { masks } = pruneGradually({
      model, data: task.loader(2), epochs, optimizer: optimizer(GRADUAL.lr), schedule: cosine(epochs), global: true,
      teacher, temperature: GRADUAL.temperature, alpha: GRADUAL.alpha, cacheTeacher: true,
      pruningSchedule: polynomialDecay({ finalSparsity: GRADUAL.sparsity, endStep: (q ? QUICK.rampEpochs : GRADUAL.rampEpochs) * steps, frequency: Math.floor(steps / 4) }),
      onProgress: progress('gradual-90'),
    });
    const report = masks.report();
    masks.dispose();
    teacher.dispose();
    const acc = testAccuracy(model, task);
    ctx.emit({
      bench: 'prune', impl: `minnow-${BACKEND}`, case: 'gradual-90', params, nonzeros: params - report.pruned.zeros, sparsity: report.pruned.sparsity,
      acc_float: accFloat, acc, acc_drop: points(accFloat - acc), layers: report.layers.map((l) => `${l.name} ${(100 * l.sparsity).toFixed(1)}%`).join(', '),
    });
    model.dispose();
  }

  // Deep Compression: prune, cluster (5-bit shared weights), store in the compact container.
  {
    const model = copyOf(floatModel, lenet300100, LENET.seed);
    const teacher = copyOf(floatModel, lenet300100, LENET.seed).eval();
    const result = deepCompression({
      model, data: task.loader(3), evaluate: task.testLoader, teacher: { model: teacher, temperature: DEEP.temperature, alpha: DEEP.alpha },
      prune: {
        sparsity: DEEP.sparsity, include: DEEP.pruned, epochs: q ? QUICK.pruneEpochs : DEEP.epochs, rampEpochs: q ? QUICK.rampEpochs : DEEP.rampEpochs,
        optimizer: optimizer(DEEP.lr), schedule: cosine(q ? QUICK.pruneEpochs : DEEP.epochs),
      },
      cluster: { bits: DEEP.bits, epochs: q ? QUICK.clusterEpochs : DEEP.clusterEpochs, optimizer: optimizer(DEEP.clusterLr) },
      onProgress: (stage, p) => progress(`deep-compression ${stage}`)(p),
    });
    const compactBytes = await fileBytes(dir, 'lenet.mnwc', async (p) => writeFileSync(p, result.bytes));
    const stored = result.stages.find((s) => s.stage === 'stored')!;
    const acc = stored.accuracy!;
    for (const s of result.stages) ctx.note(`deep-compression ${s.stage}: nonzeros ${s.nonzeros} of ${s.params}, accuracy ${s.accuracy?.toFixed(4)}${s.bytes ? `, ${s.bytes} bytes` : ''}`);
    ctx.emit({
      bench: 'prune', impl: `minnow-${BACKEND}`, case: 'deep-compression', params, nonzeros: stored.nonzeros, sparsity: result.sparsity.pruned.sparsity,
      sparsity_all_weights: result.sparsity.model.sparsity, bits: DEEP.bits, bytes_float: floatBytes, bytes: compactBytes, size_ratio: floatBytes / compactBytes, acc_float: accFloat, acc, acc_drop: points(accFloat - acc),
      acc_pruned: result.stages.find((s) => s.stage === 'pruned')!.accuracy!,
    });
    model.dispose();
    teacher.dispose();
  }
  floatModel.dispose();
}

async function structuredCase(ctx: BenchContext, task: Task, dir: string): Promise<void> {
  const q = ctx.quick;
  const cnn = smallCnn(CNN.seed);
  trainFloat(cnn, task, q ? QUICK.cnnEpochs : CNN.epochs, CNN.lr, 'CNN float');
  cnn.eval();
  const accFloat = testAccuracy(cnn, task);
  // 50% of the channels of every conv layer (the Linear layers' neurons are left alone).
  const pruned = await pruneChannels(cnn, { sparsity: CNN.sparsity, inputShape: [1, 1, 28, 28], include: ['Conv2d'] });
  const accPruned = testAccuracy(pruned.module as Classifier, task);
  const fineTuneEpochs = q ? QUICK.fineTuneEpochs : CNN.fineTuneEpochs;
  trainFloat(pruned.module, task, fineTuneEpochs, CNN.fineTuneLr, 'CNN pruned, fine-tuning');
  pruned.module.eval();
  const acc = testAccuracy(pruned.module as Classifier, task);

  const denseOnnx = exportModule(cnn, { inputShape: [1, 1, 28, 28] });
  const prunedOnnx = exportModule(pruned.module, { inputShape: [1, 1, 28, 28] });
  const onnxParams = (m: typeof denseOnnx): number => (m.graph?.initializer ?? []).reduce((n, t) => n + t.dims.reduce((a, d) => a * Number(d), 1), 0);
  const bytesDense = await fileBytes(dir, 'cnn.onnx', (p) => saveModel(p, denseOnnx));
  const bytesPruned = await fileBytes(dir, 'cnn-pruned.onnx', (p) => saveModel(p, prunedOnnx));

  // onnxruntime-node runs the pruned file and agrees with minnow's own execution of it.
  const rng = new Random(11);
  const input = Float32Array.from({ length: 4 * 784 }, () => rng.uniform());
  const ortSession = await ort.InferenceSession.create(writeModel(prunedOnnx).model);
  const ortOut = (await ortSession.run({ [ortSession.inputNames[0]]: new ort.Tensor('float32', input, [4, 1, 28, 28]) }))[ortSession.outputNames[0]].data as Float32Array;
  const dense = OnnxSession.create(denseOnnx, { backend: BACKEND });
  const sparse = OnnxSession.create(prunedOnnx, { backend: BACKEND });
  const mine = scope(() => {
    const x = fromArray(input, [4, 1, 28, 28], { backend: BACKEND });
    return Object.values(sparse.run({ [sparse.inputs[0].name]: x }))[0].dataSync() as Float32Array;
  });
  const ortDiff = mine.reduce((m, v, i) => Math.max(m, Math.abs(v - ortOut[i])), 0);

  const speed: Record<number, number> = {};
  for (const batch of q ? [32] : [1, 32]) {
    const x = fromArray(Float32Array.from({ length: batch * 784 }, () => rng.uniform()), [batch, 1, 28, 28], { backend: BACKEND });
    const run = (session: OnnxSession) => (): void => scope(() => {
      for (const t of Object.values(session.run({ [session.inputs[0].name]: x }))) t.dataSync();
    });
    const [msDense, msPruned] = await timePair(run(dense), run(sparse), q);
    x.dispose();
    speed[batch] = msDense / msPruned;
    ctx.note(`structured-50 batch ${batch}: unpruned ${msDense.toFixed(3)} ms, pruned ${msPruned.toFixed(3)} ms (${speed[batch].toFixed(2)}x)`);
  }
  dense.dispose();
  sparse.dispose();
  ctx.emit({
    bench: 'prune', impl: `minnow-${BACKEND}`, case: 'structured-50', params: onnxParams(denseOnnx), params_pruned: onnxParams(prunedOnnx),
    param_ratio: onnxParams(prunedOnnx) / onnxParams(denseOnnx), bytes_float: bytesDense, bytes: bytesPruned,
    speedup: speed[1] ?? speed[32], speedup_batch32: speed[32], acc_float: accFloat, acc_pruned_before_finetune: accPruned, acc, acc_drop: points(accFloat - acc),
    ort_max_abs_diff: ortDiff,
    channels: pruned.layers.map((l) => `${l.layer} (${l.op}) out ${l.outChannels.before}->${l.outChannels.after}`).join(', '),
  });
  pruned.module.dispose();
  cnn.dispose();
}

export const bench: Bench = {
  name: 'prune',
  title: 'prune: Deep Compression, gradual and structured pruning, and the sparse kernel (Fashion-MNIST, minnow-wasm)',
  columns: ['case', 'params', 'nonzeros', 'sparsity', 'bytes', 'size_ratio', 'param_ratio', 'acc_float', 'acc', 'acc_drop', 'speedup', 'shape', 'batch', 'speedup_vs_dense'],
  method: [
    `Data: Fashion-MNIST (Debian's dataset-fashion-mnist), all 60,000 training images for every training and fine-tuning run, the 10,000 test images for every accuracy; pixels / 255. Training: Adam, cosine annealing to 0, batch ${BATCH}, backend-wasm, single thread.`,
    `lenet-float: LeNet-300-100 (784-300-100-10, ReLU, ${(266610).toLocaleString('en-US')} parameters) trained ${LENET.epochs} epochs at lr ${LENET.lr}; bytes = its float32 ONNX file as minnow exports it. gradual-90 and deep-compression each start from a copy of it; acc_drop = its accuracy minus the case's, in points.`,
    `gradual-90: gradual magnitude pruning (Zhu and Gupta's cubic schedule, TF-MOT's PolynomialDecay) from 0 to ${100 * GRADUAL.sparsity}% of the weights of the three Linear layers, one threshold across them, masks updated 4 times an epoch over the first ${GRADUAL.rampEpochs} of ${GRADUAL.epochs} fine-tuning epochs (Adam, lr ${GRADUAL.lr}, cosine), distilling from the unpruned model (T = ${GRADUAL.temperature}, alpha = ${GRADUAL.alpha}); pruned weights, their gradients and their Adam moments held at zero.`,
    `deep-compression: Han et al.'s pipeline (ICLR 2016): gradual pruning of the two hidden layers' weights to ${100 * DEEP.sparsity}% (one threshold across them; the 100x10 output layer, 0.4% of the weights, stays dense; ${DEEP.epochs} epochs, ramp ${DEEP.rampEpochs}, lr ${DEEP.lr}), then k-means weight sharing with ${2 ** DEEP.bits} clusters (${DEEP.bits} bits, linear initialisation) per layer over the remaining weights and ${DEEP.clusterEpochs} epochs of centroid fine-tuning (summed gradients, lr ${DEEP.clusterLr}); both fine-tuning stages distil from the unpruned model (T = ${DEEP.temperature}, alpha = ${DEEP.alpha}); then stored in minnow's compact container (relative-index sparse storage with codebook indices, both canonical-Huffman coded; biases raw float32; documented in packages/formats/README.md). size_ratio = float32 ONNX file bytes / container file bytes, both on disk. acc is measured after decoding the container file's bytes back into the model: the accuracy of what is stored. Han et al. on MNIST: 1,070 KB -> 27 KB (40x), top-1 error 1.64% -> 1.58%.`,
    `structured-50: a CNN (conv 3x3 1->16, BN, ReLU, max pool 2, conv 3x3 16->32, BN, ReLU, max pool 2, Linear 1568->128, ReLU, Linear 128->10) trained ${CNN.epochs} epochs; pruneChannels removes ${100 * CNN.sparsity}% of the channels of each conv layer by L1 norm (with their BatchNorm entries, the next conv's input channels and the Linear's input features), then ${CNN.fineTuneEpochs} epochs of fine-tuning (lr ${CNN.fineTuneLr}). params and param_ratio count the initialiser elements of the exported ONNX files; onnxruntime-node runs the pruned file (ort_max_abs_diff against minnow's OnnxSession). speedup = unpruned ms / pruned ms of OnnxSession.run on minnow-wasm at batch 1 (speedup_batch32 at 32), medians of alternating rounds.`,
    ...SPARSE_METHOD,
  ],
  summary(rows: readonly Row[]) {
    const row = (c: string): Row | undefined => rows.find((r) => r.case === c);
    const lines: string[] = [];
    const deep = row('deep-compression');
    if (deep) lines.push(`Deep Compression: ${Number(deep.bytes_float)} -> ${Number(deep.bytes)} bytes (${Number(deep.size_ratio).toFixed(1)}x; target 40x), accuracy ${Number(deep.acc_float).toFixed(4)} -> ${Number(deep.acc).toFixed(4)} (${deep.acc_drop} points; target at most 0.5).`);
    const gradual = row('gradual-90');
    if (gradual) lines.push(`Gradual pruning to ${(100 * Number(gradual.sparsity)).toFixed(1)}%: accuracy ${Number(gradual.acc_float).toFixed(4)} -> ${Number(gradual.acc).toFixed(4)} (${gradual.acc_drop} points; target at most 1).`);
    const structured = row('structured-50');
    if (structured) lines.push(`Structured 50% channels: ${Number(structured.param_ratio).toFixed(2)} of the parameters, ${Number(structured.speedup).toFixed(2)}x faster at batch 1 and ${Number(structured.speedup_batch32).toFixed(2)}x at 32 on minnow-wasm (target 1.6x), accuracy drop ${structured.acc_drop} points after fine-tuning.`);
    const sparse90 = rows.filter((r) => r.case === 'sparse-90');
    if (sparse90.length) lines.push(`Sparse (CSR) against dense at 90% sparsity: ${sparse90.map((r) => `${r.shape} batch ${r.batch} ${Number(r.speedup_vs_dense).toFixed(2)}x`).join(', ')}.`);
    return lines;
  },
  async run(ctx: BenchContext) {
    const task = await loadTask(ctx.quick);
    const dir = mkdtempSync(join(tmpdir(), 'minnow-prune-'));
    try {
      await sparseSpeedRows(ctx, ctx.quick);
      await lenetCases(ctx, task, dir);
      await structuredCase(ctx, task, dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
