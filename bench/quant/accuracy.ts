import { Random, reshape, type Tensor } from '@minnow/core';
import {
  Adam, BatchNorm2d, Conv2d, CosineAnnealingLR, DataLoader, Flatten, Linear, Module, ReLU, Sequential, subset, type Dataset,
} from '@minnow/nn';
import { loadFashionMnist } from '@minnow/nn/node';
import {
  type AnyOptimizer, convertQat, distill, evaluate, prepareQat, type Progress, type QuantizedModuleResult, quantizeModule, train,
} from '@minnow/compress';
import type { BenchContext } from '../lib/harness.js';

/**
 * The accuracy rows of the quant bench (issue 7): an MLP and a small CNN trained with minnow on
 * Fashion-MNIST (all 60,000 training images, all 10,000 test images, backend-wasm), then
 * quantized with @minnow/compress's module quantization, test accuracy before and after:
 *
 *   mlp-int8      static int8 (weights per output channel, activations calibrated min/max)
 *   cnn-int8      the same for the CNN (its BatchNorms folded into the convolutions first)
 *   mlp-int4      int4 weights in blocks of 32 along the inputs, weight-only, post-training
 *   mlp-int4-qat  the same after one epoch of QAT distilled from the float model as teacher
 *
 * Accuracies in percent, acc_drop in points (float - quantized). Everything is trained from
 * scratch on every run (nothing is cached), with fixed seeds.
 */

const BACKEND = 'wasm';
const BATCH = 128;
const DATA_SEED = 1;
const FULL = { trainSamples: 60000, testSamples: 10000, mlpEpochs: 4, cnnEpochs: 2, qatEpochs: 1 };
const QUICK = { trainSamples: 6000, testSamples: 2000, mlpEpochs: 1, cnnEpochs: 1, qatEpochs: 1 };
const MLP = { hidden: [256, 128], seed: 31, lr: 1e-3 };
const CNN = { channels: [16, 32], seed: 32, lr: 2e-3 };
/** Calibration: this many training images, spread over the set, in batches of 256. */
const CALIBRATION_IMAGES = 2048;
const INT4_BLOCK = 32;
/** QAT: a tenth of the float model's learning rate; KD at T = 1 with half the weight on the labels (the kd bench's choices for this data). */
const QAT = { lr: 1e-4, temperature: 1, alpha: 0.5 };

/** [N, 28, 28] images as [N, 1, 28, 28] for the convolutions. */
class ToImage extends Module<[Tensor], Tensor> {
  override forward(x: Tensor): Tensor {
    return reshape(x, [x.shape[0], 1, x.shape[x.rank - 2], x.shape[x.rank - 1]]);
  }
}

function mlp(): Sequential {
  const rng = new Random(MLP.seed);
  const layers: Module<[Tensor], Tensor>[] = [new Flatten()];
  let width = 784;
  for (const h of MLP.hidden) {
    layers.push(new Linear(width, h, { seed: rng, backend: BACKEND }), new ReLU());
    width = h;
  }
  layers.push(new Linear(width, 10, { seed: rng, backend: BACKEND }));
  return new Sequential(...layers);
}

/** Two 3x3 stride-2 convolutions with BatchNorm and ReLU, then a Linear classifier: 28 -> 14 -> 7. */
function cnn(): Sequential {
  const rng = new Random(CNN.seed);
  const [c1, c2] = CNN.channels;
  return new Sequential(
    new ToImage(),
    new Conv2d(1, c1, 3, { seed: rng, stride: 2, padding: 1, backend: BACKEND }), new BatchNorm2d(c1, { backend: BACKEND }), new ReLU(),
    new Conv2d(c1, c2, 3, { seed: rng, stride: 2, padding: 1, backend: BACKEND }), new BatchNorm2d(c2, { backend: BACKEND }), new ReLU(),
    new Flatten(),
    new Linear(c2 * 7 * 7, 10, { seed: rng, backend: BACKEND }),
  );
}

const describeMlp = `784-${MLP.hidden.join('-')}-10 ReLU MLP`;
const describeCnn = `CNN conv3x3/2(${CNN.channels[0]})-BN-ReLU, conv3x3/2(${CNN.channels[1]})-BN-ReLU, Linear(${CNN.channels[1] * 49}, 10)`;

/** Percent, two decimals. */
const percent = (fraction: number): number => Number((100 * fraction).toFixed(2));

function progress(ctx: BenchContext, label: string): (p: Progress) => void {
  return (p) => {
    if (p.step !== p.stepsPerEpoch || p.phase !== 'train') return;
    ctx.note(`  ${label} epoch ${p.epoch + 1}/${p.epochs}: loss ${p.loss.toFixed(4)}, train accuracy ${(100 * p.accuracy).toFixed(2)}%, ${p.samplesPerSecond.toFixed(0)} samples/s`);
  };
}

export async function accuracyRows(ctx: BenchContext, quick: boolean): Promise<void> {
  const size = quick ? QUICK : FULL;
  const start = performance.now();
  const since = (): string => `${((performance.now() - start) / 1000).toFixed(0)} s`;
  const fullTrain = await loadFashionMnist({ split: 'train' });
  const fullTest = await loadFashionMnist({ split: 'test' });
  const first = (set: Dataset, n: number): Dataset => (n < set.length ? subset(set, Int32Array.from({ length: n }, (_, i) => i)) : set);
  const trainSet = first(fullTrain, size.trainSamples);
  const testSet = first(fullTest, size.testSamples);
  const loader = (): DataLoader => new DataLoader(trainSet, { batchSize: BATCH, shuffle: true, seed: DATA_SEED, backend: BACKEND });
  const test = new DataLoader(testSet, { batchSize: 1000, backend: BACKEND });
  const spread = Math.max(1, Math.floor(trainSet.length / CALIBRATION_IMAGES));
  const calibrationSet = subset(trainSet, Int32Array.from({ length: Math.min(CALIBRATION_IMAGES, trainSet.length) }, (_, i) => i * spread));
  const calibration = (): DataLoader => new DataLoader(calibrationSet, { batchSize: 256, backend: BACKEND });
  const accuracy = (model: Module<[Tensor], Tensor>): number => evaluate(model, test).accuracy;
  const fit = (model: Sequential, lr: number, epochs: number, label: string): void => {
    train({
      model, data: loader(), epochs, onProgress: progress(ctx, label),
      optimizer: (params) => new Adam(params, { lr }),
      schedule: (opt: AnyOptimizer) => new CosineAnnealingLR(opt, { tMax: epochs }),
    });
  };
  const row = (name: string, float: number, quantized: number): void => {
    ctx.emit({ bench: 'quant', impl: `minnow-${BACKEND}`, case: name, acc_float: percent(float), acc_quant: percent(quantized), acc_drop: Number((percent(float) - percent(quantized)).toFixed(2)) });
  };
  const measured = (name: string, float: number, result: QuantizedModuleResult): number => {
    const acc = accuracy(result.module);
    const bytes = result.report.reduce((a, r) => [a[0] + (r.bytesBefore ?? 0), a[1] + (r.bytesAfter ?? 0)], [0, 0]);
    ctx.note(`${name}: ${result.report.map((r) => `${r.layer} ${r.op} ${r.precision}`).join(', ')}; layer bytes ${bytes[0]} -> ${bytes[1]} (${(bytes[0] / bytes[1]).toFixed(2)}x) [${since()}]`);
    row(name, float, acc);
    result.module.dispose();
    return acc;
  };

  // The MLP: float, static int8, int4 post-training, int4 after QAT with distillation.
  const floatMlp = mlp();
  fit(floatMlp, MLP.lr, size.mlpEpochs, 'mlp');
  const mlpFloat = accuracy(floatMlp);
  ctx.note(`${describeMlp}: ${size.mlpEpochs} epochs, test accuracy ${(100 * mlpFloat).toFixed(2)}% [${since()}]`);
  measured('mlp-int8', mlpFloat, await quantizeModule(floatMlp, { weights: 'int8', activations: 'static', calibration: calibration() }));
  measured('mlp-int4', mlpFloat, await quantizeModule(floatMlp, { weights: 'int4', blockSize: INT4_BLOCK, activations: 'none' }));
  const student = prepareQat(floatMlp, { weights: 'int4', blockSize: INT4_BLOCK, activations: 'none' });
  distill({
    teacher: floatMlp, student, data: loader(), epochs: size.qatEpochs, temperature: QAT.temperature, alpha: QAT.alpha, cacheTeacher: true,
    optimizer: (params) => new Adam(params, { lr: QAT.lr }), onProgress: progress(ctx, 'mlp int4 QAT'),
  });
  measured('mlp-int4-qat', mlpFloat, convertQat(student));
  student.dispose();
  floatMlp.dispose();

  // The CNN: float and static int8.
  const floatCnn = cnn();
  fit(floatCnn, CNN.lr, size.cnnEpochs, 'cnn');
  const cnnFloat = accuracy(floatCnn);
  ctx.note(`${describeCnn}: ${size.cnnEpochs} epochs, test accuracy ${(100 * cnnFloat).toFixed(2)}% [${since()}]`);
  measured('cnn-int8', cnnFloat, await quantizeModule(floatCnn, { weights: 'int8', activations: 'static', calibration: calibration() }));
  floatCnn.dispose();
  ctx.note(`accuracy rows: ${since()} in all (data loading, training, quantization, evaluation); ${trainSet.length} training and ${testSet.length} test images, batch ${BATCH}, Adam with cosine annealing, backend ${BACKEND}`);
}

/** Lines for RESULTS.md under the quant table, about the accuracy rows. */
export const accuracyMethod: readonly string[] = [
  `Accuracy rows: Fashion-MNIST (Debian dataset-fashion-mnist), all ${FULL.trainSamples} training and ${FULL.testSamples} test images, backend-wasm, trained from scratch on every run with fixed seeds. acc_float and acc_quant are test accuracies in percent; acc_drop = acc_float - acc_quant in points.`,
  `MLP: ${describeMlp}, ${FULL.mlpEpochs} epochs of Adam (lr ${MLP.lr}, cosine to 0), batch ${BATCH}. CNN: ${describeCnn}, ${FULL.cnnEpochs} epochs of Adam (lr ${CNN.lr}, cosine to 0).`,
  `int8 rows: quantizeModule with int8 weights (symmetric, per output channel) and static int8 activations (affine, per tensor, min/max over ${CALIBRATION_IMAGES} training images); BatchNorm folded into the convolution before it; executed with matmulInteger (int8 x int8 -> int32, int32 bias, rescaled to float; convolutions through im2col).`,
  `int4 rows: int4 weights (symmetric, blocks of ${INT4_BLOCK} along the inputs), weight-only (activations float); mlp-int4-qat: prepareQat then ${FULL.qatEpochs} epoch of distill() from the float model (T = ${QAT.temperature}, alpha = ${QAT.alpha}, Adam lr ${QAT.lr}, clipped straight-through estimator), then convertQat.`,
];
