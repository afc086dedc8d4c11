import { Random, type Tensor } from '@minnow/core';
import {
  Adam, CosineAnnealingLR, DataLoader, Dropout, Flatten, Linear, ReLU, Sequential, subset, type Dataset, type Module,
} from '@minnow/nn';
import { loadFashionMnist } from '@minnow/nn/node';
import { distill, train, type AnyOptimizer, type EpochRecord, type Progress } from '@minnow/compress';
import type { Bench, BenchContext, Row } from './lib/harness.js';
import { minnowMlp, trainingThroughput, type NetSpec, type ThroughputImpl } from './kd/throughput.js';

/**
 * Hinton, Vinyals and Dean 2015 (arXiv:1503.02531), section 3, on Fashion-MNIST with backend-wasm:
 * a large MLP teacher trained with dropout, a small student trained alone on the labels, and the
 * same student distilled from the teacher, all with the same epochs, optimiser, schedule, batch
 * order and initial weights; test errors on the 10,000 test images, and the fraction of the
 * teacher-student gap that distillation closes.
 */

const BACKEND = 'wasm';
const BATCH = 128;
const LR = 1e-3;
const DATA_SEED = 1;
const TEACHER = { hidden: [512, 512], inputDropout: 0.1, hiddenDropout: 0.3, seed: 11 };
const STUDENT = { hidden: [256], seeds: [22, 23, 24] };
const TEMPERATURE = 1.5;
const ALPHA = 0.7;
const FULL = { trainSamples: 60000, epochs: 30 };
const QUICK = { trainSamples: 6000, epochs: 1 };

/** Hinton et al.'s MNIST rows (test errors of 10,000). */
const HINTON = { teacher: 67, alone: 146, distilled: 74 };

function mlp(hidden: readonly number[], seed: number, dropout?: { input: number; hidden: number }): Sequential {
  return minnowMlp({ hidden, seed, dropout }, BACKEND);
}

const describeNet = (hidden: readonly number[], dropout?: string): string => `784-${hidden.join('-')}-10${dropout ? ` (dropout ${dropout})` : ''}`;
const TEACHER_NET = describeNet(TEACHER.hidden, `${TEACHER.inputDropout} input, ${TEACHER.hiddenDropout} hidden`);
const STUDENT_NET = describeNet(STUDENT.hidden);

/** Adam with a cosine schedule over the run's epochs: the same for every row. */
const optimizer = (params: Tensor[]): AnyOptimizer => new Adam(params, { lr: LR });
const schedule = (epochs: number) => (opt: AnyOptimizer) => new CosineAnnealingLR(opt, { tMax: epochs });

/** One line per epoch on stderr, so people see progress and --json's stdout stays rows only. */
function progress(label: string): (p: Progress) => void {
  return (p) => {
    if (p.step !== p.stepsPerEpoch) return;
    const what = p.phase === 'train'
      ? `train loss ${p.loss.toFixed(4)} accuracy ${p.accuracy.toFixed(4)}, ${p.samplesPerSecond.toFixed(0)} samples/s`
      : `test errors ${Math.round(p.samples * (1 - p.accuracy))} of ${p.samples}, ${p.samplesPerSecond.toFixed(0)} samples/s`;
    process.stderr.write(`  ${label} epoch ${p.epoch + 1}/${p.epochs} ${p.phase}: ${what}\n`);
  };
}

type Case = 'teacher' | 'student-alone' | 'student-distilled';

/** The issue's names for the three rows of Hinton's table in --json output. */
const ROW_NAME: Record<Case, 'teacher' | 'student' | 'distilled'> = { teacher: 'teacher', 'student-alone': 'student', 'student-distilled': 'distilled' };

/**
 * Throughput: every implementation trains the first batches of an epoch, after warm-up steps: 100
 * batches on the WASM implementations, 25 on the plain-JS ones (minnow-js, tfjs-cpu), whose rate
 * is as steady after warm-up and whose 100 teacher batches alone took 2.7 minutes of the run.
 */
const THROUGHPUT_IMPLS: readonly ThroughputImpl[] = ['minnow-wasm', 'minnow-js', 'tfjs-wasm', 'tfjs-cpu'];
const THROUGHPUT = { full: { 'minnow-wasm': 100, 'tfjs-wasm': 100, 'minnow-js': 25, 'tfjs-cpu': 25 }, quick: 20, warmupSteps: 10 } as const;
const throughputSamples = (quick: boolean): Record<ThroughputImpl, number> =>
  Object.fromEntries(THROUGHPUT_IMPLS.map((impl) => [impl, BATCH * (quick ? THROUGHPUT.quick : THROUGHPUT.full[impl])])) as Record<ThroughputImpl, number>;

/** One training run: its history and wall-clock seconds (training and the test evaluation). */
interface Run {
  readonly history: EpochRecord[];
  readonly seconds: number;
}

const lastErrors = (run: Run): number => run.history[run.history.length - 1].testErrors!;
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;

/** A row over one or more runs (seeds) of the same case: mean test errors, and each seed's. */
function rowOf(name: Case, net: string, params: number, seeds: readonly number[], runs: readonly Run[], testSamples: number): Row {
  const errors = runs.map(lastErrors);
  const trainSeconds = runs.flatMap((r) => r.history).reduce((a, h) => a + h.seconds, 0);
  const trainSamples = runs.flatMap((r) => r.history).reduce((a, h) => a + h.samplesPerSecond * h.seconds, 0);
  const meanErrors = mean(errors);
  return {
    bench: 'kd', impl: `minnow-${BACKEND}`, case: name, row: ROW_NAME[name], net, params, epochs: runs[0].history.length, seeds: seeds.join(' '),
    test_errors: Number(meanErrors.toFixed(1)), test_errors_per_seed: errors.join(' '), test_accuracy: Number((1 - meanErrors / testSamples).toFixed(4)),
    seconds: Number(runs.reduce((a, r) => a + r.seconds, 0).toFixed(1)), train_samples_per_s: Math.round(trainSamples / trainSeconds),
  };
}

/** Training samples/s of the first epoch and of the later ones, over runs. */
function speed(runs: readonly Run[]): string {
  const first = mean(runs.map((r) => r.history[0].samplesPerSecond));
  const later = runs.flatMap((r) => r.history.slice(1)).map((h) => h.samplesPerSecond);
  return `${Math.round(first)}${later.length ? ` (epoch 1), ${Math.round(mean(later))} (later epochs)` : ''}`;
}

export const bench: Bench = {
  name: 'kd',
  title: 'kd: knowledge distillation (Hinton et al. 2015, section 3) on Fashion-MNIST, backend-wasm',
  columns: ['case', 'impl', 'net', 'params', 'epochs', 'seeds', 'test_errors', 'test_errors_per_seed', 'test_accuracy', 'seconds', 'train_samples_per_s', 'samples_per_s'],
  method: [
    `Data: Fashion-MNIST from Debian's dataset-fashion-mnist (loadFashionMnist), all 60,000 training images to train every row and the 10,000 test images to count errors; pixels / 255, no augmentation (Hinton jittered MNIST images for the teacher; nothing here is jittered).`,
    `Teacher: ${TEACHER_NET}, ReLU. Student: ${STUDENT_NET}, ReLU, no dropout. The student rows are the mean over seeds ${STUDENT.seeds.join(', ')} (initial weights), each seed used by both rows, so they differ only in the loss; per-seed errors are in the table.`,
    `Every row: ${FULL.epochs} epochs of Adam (lr ${LR}, betas 0.9/0.999) with cosine annealing to 0 over the epochs, batch ${BATCH}, the same shuffled order (DataLoader seed ${DATA_SEED}), backend-wasm (relaxed SIMD), single thread. Teacher seed ${TEACHER.seed} (weights and dropout masks).`,
    `Distilled row: @minnow/compress distill(), loss alpha * CE(labels) + (1 - alpha) * T^2 * KL(softmax(teacher/T) || softmax(student/T)) with T = ${TEMPERATURE}, alpha = ${ALPHA}; the teacher in eval mode under noGrad, its logits computed once per image in the first epoch and reused (cacheTeacher).`,
    `T, alpha and the student's size were chosen on a validation split (train on the first 50,000 training images, count errors on the last 10,000), not on the test set; validation errors at ${FULL.epochs} epochs, teacher 984. A 784-128-10 student (seed 22: alone 1069; T = 1, alpha 0.3: 1034; T = 1.5 / 2 / 4: 1080 / 1069 / 1167; logit MSE 1307) closed about a third of the gap on validation (seeds 22-24: 32%) and none on the test set (a run of this bench with it: teacher 1005, alone 1092, distilled 1094): it has too little capacity to take what the teacher knows. A 784-512-10 student alone (969) beats the teacher, so there is no gap. The 784-256-10 student alone: 1038 / 1038 / 1026 (seeds 22 / 23 / 24); distilled with T = 1.5, alpha = 0.7: 990 / 1005 / 996 (74% of the gap); T = 1.5, alpha 0.5: 996 / 1014 / 1009 (55%); T = 1.25, alpha 0.5: 1001 / 1016 / 1002 (55%); T = 2, alpha 0.5: 1009 / 1009 / 1022 (42%); T = 1.5, alpha 0.85: 1012 / 1028 / 1030; T = 2, alpha 0.7 (seeds 22, 24): 1003 / 996; T = 2 / 3 with alpha 0.3 / 0.5 (seeds 22, 24): 1020 / 1042 and 1035 / 1059.`,
    'Also tried on the validation split: teachers trained on jittered images (shifted up to 2 pixels: 1170 errors; up to 1 pixel and mirrored: 1077) are worse than the plain one after 30 epochs (an MLP is not shift-invariant, and the augmented task is not learnt in time), and the 784-128-10 student on mirrored, shifted images made 1164; a teacher with less dropout (none on the input, 0.2 hidden) is better (970) but teaches worse (784-256-10 seed 22 distilled: 1030 at T = 2, alpha 0.5; 1033 at T = 1, alpha 0.3); one with more (0.2 / 0.5) is worse (1017) and teaches worse (784-128-10, T = 1: 1070). Earlier, at 15 epochs: a 784-1024-1024-10 teacher with Hinton\'s dropout 0.2 / 0.5 made 1061 errors, 2.5x slower; SGD with momentum 0.9 (lr 0.05) left the teacher no better than a 784-128-10 student at 12 epochs. The full run is sized to stay under 15 minutes on 2 cores.',
    'Why a low T: a Fashion-MNIST teacher is already unsure at T = 1 (shirt, T-shirt, pullover, coat), so its "dark knowledge" shows with little softening; raising T mostly makes the student regress the teacher\'s large, unconstrained negative logits, which a small student cannot afford (Hinton et al. found students too small to hold all of the teacher\'s knowledge do best at intermediate temperatures). And a large hard-label weight: the soft term is T^2-scaled, so at T = 1.5, alpha = 0.7 the two terms weigh 0.7 and 0.68.',
    'Robustness, measured outside the bench (bench/kd/explore.ts, which also made the validation runs above) on the test set with the same teacher (the same seed gives the same teacher, 1005 errors) and two more student seeds: seed 25 alone 1000, distilled 1027 (distillation cost 27 errors); seed 26 alone 1037, distilled 1008. Over the five seeds 22-26: alone 1025.8, distilled 1011.4, 69% of a 20.8-error gap. The gap is smaller than the students\' seed-to-seed spread (37 errors over five seeds), so single seeds can go either way; the mean gain holds.',
    `gap closed = (student-alone errors - student-distilled errors) / (student-alone errors - teacher errors). Hinton et al. on MNIST: teacher 2x1200 with dropout ${HINTON.teacher} errors, student 2x800 alone ${HINTON.alone}, distilled at T = 20 ${HINTON.distilled}, so ${((HINTON.alone - HINTON.distilled) / (HINTON.alone - HINTON.teacher)).toFixed(2)} of the gap closed.`,
    'seconds: wall clock of the row (training and the test evaluation); train_samples_per_s: training samples per second over the row\'s epochs (forward, backward, optimiser step, data loading; for the distilled row also the teacher\'s forward in the first epoch).',
    `Throughput rows (samples_per_s, one per implementation and model, in the same run): the student and the teacher above (dropout included), identical in minnow (backend-wasm, backend-js) and TensorFlow.js 4.22 (tfjs-backend-wasm and tfjs-backend-cpu, one thread; tfjs-core ops, tf.train.adam, softmax cross-entropy from logits, weights initialised from the same U(-1/sqrt(in), 1/sqrt(in)) distribution), batch ${BATCH}, Adam lr ${LR}, the same shuffled Fashion-MNIST batches in the same order. Each trains the first batches of an epoch (${THROUGHPUT.full['minnow-wasm']} on minnow-wasm and tfjs-wasm, ${THROUGHPUT.full['minnow-js']} on minnow-js and tfjs-cpu) after ${THROUGHPUT.warmupSteps} untimed warm-up steps; samples_per_s = samples / wall-clock seconds of those steps (batch assembly, forward, loss, backward, optimiser step). A whole epoch of the teacher on tfjs-cpu would take ten minutes; the rate is steady after the warm-up steps, and minnow-wasm's whole-epoch rate is the train_samples_per_s column of the rows above.`,
  ],
  summary(rows: readonly Row[]) {
    const at = (name: Case): number | undefined => rows.find((r) => r.case === name)?.test_errors as number | undefined;
    const teacher = at('teacher');
    const alone = at('student-alone');
    const distilled = at('student-distilled');
    const total = rows.find((r) => r.case === 'summary')?.seconds as number | undefined;
    if (teacher === undefined || alone === undefined || distilled === undefined) return throughputSummary(rows);
    // The seed-to-seed spread of each student row, next to the difference distillation makes.
    const perSeed = (name: Case): number[] => String(rows.find((r) => r.case === name)?.test_errors_per_seed ?? '').split(' ').filter(Boolean).map(Number);
    const spread = (xs: number[]): number => (xs.length ? Math.max(...xs) - Math.min(...xs) : 0);
    const noise = Math.max(spread(perSeed('student-alone')), spread(perSeed('student-distilled')));
    const paired = perSeed('student-alone').map((a, i) => a - perSeed('student-distilled')[i]);
    return [
      ...throughputSummary(rows),
      `Test errors: teacher ${teacher}, student alone ${alone}, student distilled ${distilled}: distillation closes ${gapClosed(teacher, alone, distilled)} of the teacher-student gap of ${(alone - teacher).toFixed(1)} errors (${((alone - teacher) / 100).toFixed(2)} points) (Hinton et al. on MNIST: ${HINTON.teacher} / ${HINTON.alone} / ${HINTON.distilled}, ${gapClosed(HINTON.teacher, HINTON.alone, HINTON.distilled)}).`,
      ...(paired.length > 1 ? [`Errors saved by distillation, seed by seed: ${paired.join(', ')}; the student rows' seed-to-seed spread is ${noise} errors${Math.abs(alone - distilled) <= noise ? ', so the difference between them is within seed noise' : ''}.`] : []),
      ...(total !== undefined ? [`Whole benchmark: ${total.toFixed(0)} s (${(total / 60).toFixed(1)} min), data loading included.`] : []),
    ];
  },
  async run(ctx: BenchContext) {
    const size = ctx.quick ? QUICK : FULL;
    const start = performance.now();
    const full = await loadFashionMnist({ split: 'train' });
    const trainSet: Dataset = size.trainSamples < full.length ? subset(full, Int32Array.from({ length: size.trainSamples }, (_, i) => i)) : full;
    const testSet = await loadFashionMnist({ split: 'test' });

    // Training throughput first: every implementation on the same batches, in this run.
    const nets: [model: 'student' | 'teacher', spec: NetSpec, net: string][] = [
      ['student', { hidden: STUDENT.hidden, seed: STUDENT.seeds[0] }, STUDENT_NET],
      ['teacher', { hidden: TEACHER.hidden, seed: TEACHER.seed, dropout: { input: TEACHER.inputDropout, hidden: TEACHER.hiddenDropout } }, TEACHER_NET],
    ];
    for (const [model, spec, net] of nets) {
      for (const impl of THROUGHPUT_IMPLS) {
        try {
          const r = await trainingThroughput(impl, spec, full, {
            batchSize: BATCH, lr: LR, dataSeed: DATA_SEED, warmupSteps: THROUGHPUT.warmupSteps,
            samples: throughputSamples(ctx.quick),
          });
          ctx.emit({ bench: 'kd', impl, case: 'throughput', model, net, samples_per_s: Math.round(r.samplesPerSecond), seconds: Number(r.seconds.toFixed(2)), samples: r.samples });
        } catch (error) {
          ctx.note(`throughput ${impl} ${model}: skipped (${(error as Error).message})`);
        }
      }
    }
    const loader = (): DataLoader => new DataLoader(trainSet, { batchSize: BATCH, shuffle: true, seed: DATA_SEED, backend: BACKEND });
    const test = new DataLoader(testSet, { batchSize: 1000, backend: BACKEND });
    const common = { optimizer, schedule: schedule(size.epochs), epochs: size.epochs, evaluate: { data: test, every: size.epochs } };
    const timed = (fn: () => EpochRecord[]): Run => {
      const t0 = performance.now();
      const history = fn();
      return { history, seconds: (performance.now() - t0) / 1000 };
    };

    const teacher = mlp(TEACHER.hidden, TEACHER.seed, { input: TEACHER.inputDropout, hidden: TEACHER.hiddenDropout });
    const teacherRun = timed(() => train({ model: teacher, data: loader(), ...common, onProgress: progress('teacher') }));
    ctx.emit(rowOf('teacher', TEACHER_NET, teacher.parameterCount(), [TEACHER.seed], [teacherRun], testSet.length));

    // Each seed gives both student rows the same initial weights; the rows report the mean.
    const aloneRuns: Run[] = [];
    const distilledRuns: Run[] = [];
    let studentParams = 0;
    for (const seed of STUDENT.seeds) {
      const alone = mlp(STUDENT.hidden, seed);
      studentParams = alone.parameterCount();
      aloneRuns.push(timed(() => train({ model: alone, data: loader(), ...common, onProgress: progress(`student alone (seed ${seed})`) })));
      alone.dispose();
      const student = mlp(STUDENT.hidden, seed);
      distilledRuns.push(timed(() => distill({
        teacher, student, data: loader(), ...common, temperature: TEMPERATURE, alpha: ALPHA, cacheTeacher: true,
        onProgress: progress(`student distilled (seed ${seed})`),
      })));
      student.dispose();
    }
    teacher.dispose();
    ctx.emit(rowOf('student-alone', STUDENT_NET, studentParams, STUDENT.seeds, aloneRuns, testSet.length));
    ctx.emit(rowOf('student-distilled', STUDENT_NET, studentParams, STUDENT.seeds, distilledRuns, testSet.length));

    const teacherErrors = lastErrors(teacherRun);
    const aloneErrors = mean(aloneRuns.map(lastErrors));
    const distilledErrors = mean(distilledRuns.map(lastErrors));
    const gap = gapClosedValue(teacherErrors, aloneErrors, distilledErrors);
    const perSeed = STUDENT.seeds.map((seed, i) => `seed ${seed}: ${gapClosed(teacherErrors, lastErrors(aloneRuns[i]), lastErrors(distilledRuns[i]))}`).join(', ');
    // Blank cells for the table's other columns; tools read gap_closed and the three error counts.
    ctx.emit({
      bench: 'kd', impl: `minnow-${BACKEND}`, case: 'summary', net: `gap closed: ${gapClosed(teacherErrors, aloneErrors, distilledErrors)}`,
      params: '', epochs: '', seeds: '', test_errors: '', test_errors_per_seed: '', test_accuracy: '', train_samples_per_s: '',
      gap_closed: Number.isFinite(gap) ? Number(gap.toFixed(4)) : 'n/a', teacher_errors: teacherErrors, alone_errors: aloneErrors,
      distilled_errors: distilledErrors, seconds: Number(((performance.now() - start) / 1000).toFixed(1)),
    });
    ctx.note(`gap closed per student seed: ${perSeed}.`);
    ctx.note(`training samples/s: teacher ${speed([teacherRun])}; student alone ${speed(aloneRuns)}; student distilled ${speed(distilledRuns)} (its epoch 1 runs the teacher forward and fills the cache).`);
  },
};

/** minnow-wasm's training rate over TensorFlow.js's, per model, from this run's throughput rows. */
function throughputSummary(rows: readonly Row[]): string[] {
  const rate = (impl: string, model: string): number | undefined => rows.find((r) => r.case === 'throughput' && r.impl === impl && r.model === model)?.samples_per_s as number | undefined;
  const ratios = (['student', 'teacher'] as const).flatMap((model) => {
    const mine = rate('minnow-wasm', model);
    const parts = (['tfjs-wasm', 'tfjs-cpu'] as const).flatMap((peer) => {
      const theirs = rate(peer, model);
      return mine !== undefined && theirs ? [`${(mine / theirs).toFixed(1)}x ${peer}`] : [];
    });
    return parts.length ? [`${model} ${parts.join(', ')}`] : [];
  });
  return ratios.length ? [`Training throughput, minnow-wasm against TensorFlow.js in this run: ${ratios.join('; ')} (targets: at least 2x tfjs-wasm and 10x tfjs-cpu).`] : [];
}

function gapClosedValue(teacher: number, alone: number, distilled: number): number {
  return alone === teacher ? NaN : (alone - distilled) / (alone - teacher);
}

function gapClosed(teacher: number, alone: number, distilled: number): string {
  const g = gapClosedValue(teacher, alone, distilled);
  return Number.isFinite(g) ? `${(100 * g).toFixed(0)}%` : 'n/a (no gap)';
}
