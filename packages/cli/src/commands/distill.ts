import { writeModel } from '@minnow/onnx';
import type { Command } from 'commander';
import { MinnowError } from '@minnow/core';
import { loadModel } from '@minnow/onnx/node';
import { useBackend } from '../backends.js';
import { checkOutputPath, writeModelFile } from '../files.js';
import { formatBytes, formatCount } from '../format.js';
import type { Output } from '../output.js';
import { progressFor } from '../progress.js';
import { onnxParamCount } from '../report/collect-onnx.js';
import { NAMED_DATA_SETS, loadEvaluationData } from '../recipes/data.js';
import { Evaluator, type Figures } from '../recipes/measure.js';
import { DISTILL_STEP, type DistillStep } from '../recipes/recipe.js';
import { Problems } from '../recipes/schema.js';
import { distillStep } from '../recipes/steps/distill.js';

/**
 * `minnow distill`: trains a small student on the outputs of a teacher ONNX model (Hinton et al.'s
 * loss, @minnow/compress's distill()) and saves the student as ONNX, with the teacher's and the
 * student's accuracy (or, without labels, the student's agreement with the teacher) and sizes.
 * The same step runs as `{ "distill": { ... } }` in a `minnow compress` recipe.
 */

interface DistillCommandOptions {
  teacher?: string;
  student?: string;
  data?: string;
  output?: string;
  epochs?: string;
  temperature?: string;
  alpha?: string;
  lr?: string;
  batchSize?: string;
  seed?: string;
  reinit?: boolean;
  limit?: string;
  backend: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
}

const bad = (message: string): MinnowError => new MinnowError('INVALID_ARGUMENT', `distill: ${message}`);

/** The flags as a distill step, checked by the recipe schema (so both say the same about a bad value). */
function stepOptions(options: DistillCommandOptions): DistillStep {
  const flags: [keyof DistillCommandOptions, string][] = [['epochs', 'epochs'], ['temperature', 'temperature'], ['alpha', 'alpha'], ['lr', 'lr'], ['batchSize', 'batchSize'], ['seed', 'seed']];
  const document: Record<string, unknown> = { student: options.student, reinit: options.reinit ?? false };
  for (const [flag, key] of flags) {
    const text = options[flag];
    if (text === undefined) continue;
    const value = Number(text);
    if (typeof text !== 'string' || text.trim() === '' || !Number.isFinite(value)) throw bad(`--${kebab(flag)} '${String(text)}' is not a number`);
    document[key] = value;
  }
  const problems = new Problems();
  const step = DISTILL_STEP.check(document, '', problems);
  if (step === undefined) throw bad(problems.list.map((p) => `--${kebab(p.split(':')[0])}${p.slice(p.indexOf(':'))}`).join('; '));
  return step;
}

const kebab = (name: string): string => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function registerDistillCommand(program: Command, baseOutput: Output): void {
  program
    .command('distill')
    .description('train a small student on the soft outputs of a teacher ONNX model (knowledge distillation) and save the student as ONNX')
    .requiredOption('--teacher <model.onnx>', 'the trained teacher')
    .requiredOption('--student <spec>', "mlp:<width>[,<width>...] (a multilayer perceptron, e.g. mlp:128 or mlp:256,128), or an .onnx model whose architecture (and, unless --reinit, weights) the student takes")
    .requiredOption('--data <dir|set>', `training and evaluation data: ${NAMED_DATA_SETS.join(', ')}, or a folder of .npy batches (labels.npy optional: without labels the student learns from the teacher alone)`)
    .requiredOption('-o, --output <student.onnx>', 'where to write the student')
    .option('--epochs <n>', 'passes over the training data (default 3)')
    .option('--temperature <T>', 'softening temperature (default 4)')
    .option('--alpha <a>', 'weight of the hard-label loss in [0, 1]; 1 - alpha goes to the soft targets (default 0.5)')
    .option('--lr <rate>', 'Adam learning rate (default 0.001)')
    .option('--batch-size <n>', 'examples per step (default 64)')
    .option('--seed <n>', "seeds the student's weights and the data order (default 0)")
    .option('--reinit', 'an .onnx student: draw new weights for its Linear and Conv layers instead of starting from its own')
    .option('--limit <n>', 'use at most n training and n held-out examples (a seeded choice)')
    .option('--backend <name>', 'where the models train and run: js or wasm', 'wasm')
    .option('--force', 'overwrite the teacher if -o names it')
    .option('--json', 'one JSON document for scripts (no progress)')
    .option('--quiet', 'print nothing but errors (and the --json document)')
    .action(async (options: DistillCommandOptions) => {
      const output: Output = options.quiet ? { ...baseOutput, line: () => undefined } : baseOutput;
      const progress = progressFor(options);
      const teacherPath = options.teacher!;
      const out = options.output!;
      const step = stepOptions(options);
      const limit = options.limit === undefined ? undefined : Number(options.limit);
      if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1)) throw bad(`--limit '${options.limit}' must be a whole number >= 1`);
      await checkOutputPath(out, { extension: '.onnx', what: 'output', inputs: [teacherPath], force: options.force });
      const teacher = await loadModel(teacherPath);
      await useBackend(options.backend);
      const data = await loadEvaluationData(options.data!, teacher, limit === undefined ? {} : { limit });
      const task = progress.task('evaluate the teacher', Math.ceil(data.test.count / data.batchSize), 'batches');
      const evaluator = Evaluator.create(teacher, data, options.backend, (done) => task.update(done));
      task.finish();
      const started = performance.now();
      const outcome = await distillStep(step, { model: teacher, data, backend: options.backend, progress, baseDir: process.cwd(), where: 'distill' });
      const seconds = (performance.now() - started) / 1000;
      const student = evaluator.measure(outcome.model);
      await writeModelFile(out, outcome.model);
      const size = (model: typeof teacher): { params: number; bytes: number } => ({ params: onnxParamCount(model), bytes: writeModel(model).model.length });
      const teacherSize = size(teacher);
      const studentSize = size(outcome.model);
      if (options.json) {
        output.json({
          teacher: { path: teacherPath, ...teacherSize, ...evaluator.original },
          student: { path: out, spec: step.student, description: outcome.student, ...studentSize, ...student },
          data: { source: data.source, labelled: data.labelled, trainExamples: data.train.count, heldOutExamples: data.test.count },
          options: step, seconds, history: outcome.details?.history, notes: [...data.notes, ...(outcome.warnings ?? [])],
        });
        return;
      }
      const line = (name: string, s: { params: number; bytes: number }, f: Figures, agreement: boolean): string =>
        `${name}: ${formatCount(s.params)} parameters, ${formatBytes(s.bytes)}${f.accuracy === undefined ? '' : `, accuracy ${(100 * f.accuracy).toFixed(2)}%`}${agreement ? `, agrees with the teacher on ${(100 * f.agreement).toFixed(2)}%` : ''}`;
      output.line(line(`teacher ${teacherPath}`, teacherSize, evaluator.original, false));
      output.line(line(`student ${outcome.student} -> ${out}`, studentSize, student, true));
      output.line(`${outcome.note}, in ${seconds.toFixed(1)}s; ${(teacherSize.params / studentSize.params).toFixed(1)}x fewer parameters; measured on ${formatCount(student.samples)} held-out examples of ${data.source}`);
      for (const note of outcome.warnings ?? []) output.line(`note: ${note}`);
    });
}
