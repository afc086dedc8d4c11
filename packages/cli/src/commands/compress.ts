import { basename, dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { MinnowError } from '@minnow/core';
import { loadModel } from '@minnow/onnx/node';
import { useBackend } from '../backends.js';
import { checkOutputPath, removeWritten, writeModelFile } from '../files.js';
import { formatBytes, formatCount, formatTable } from '../format.js';
import type { Output } from '../output.js';
import { progressFor } from '../progress.js';
import { environmentInfo } from '../report/collect.js';
import type { ReportData } from '../report/types.js';
import { writeReport } from '../report/write.js';
import { BUILT_IN_RECIPE_NAMES, loadRecipe } from '../recipes/builtin.js';
import { NAMED_DATA_SETS, loadEvaluationData, randomData, type EvaluationData } from '../recipes/data.js';
import { describeStep } from '../recipes/recipe.js';
import { runRecipe, type RecipeRun, type StepRecord } from '../recipes/runner.js';

/**
 * `minnow compress`: runs a recipe (distill, prune, quantize, convert, in the order it lists them)
 * on an ONNX model, measures the model after every step on the evaluation data, and writes the
 * result atomically, with a table of what each step cost and kept and, with --report, one HTML page.
 */

interface CompressOptions {
  output?: string;
  recipe?: string;
  data?: string;
  limit?: string;
  report?: string;
  backend: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
}

/** Made-up inputs measured without --data (when the model's input shape allows them). */
const RANDOM_EXAMPLES = 128;

const bad = (message: string): MinnowError => new MinnowError('INVALID_ARGUMENT', `compress: ${message}`);

function positiveInteger(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  if (!/^\s*[1-9]\d*\s*$/.test(text)) throw bad(`${flag} '${text}' must be a whole number >= 1`);
  return Number(text);
}

export function registerCompressCommand(program: Command, baseOutput: Output): void {
  program
    .command('compress')
    .description(`compress an ONNX model with a recipe of steps (distill, prune, quantize, convert), measured on evaluation data after every step; built-in recipes: ${BUILT_IN_RECIPE_NAMES.join(', ')}`)
    .argument('<in>', 'the .onnx model')
    .requiredOption('-o, --output <out.onnx>', 'where to write the compressed model (never the input, unless --force)')
    .requiredOption('--recipe <name|file>', `a built-in recipe (${BUILT_IN_RECIPE_NAMES.join(', ')}) or the path of a JSON recipe`)
    .option('--data <dir|set>', `evaluation data: ${NAMED_DATA_SETS.join(', ')}, or a folder of .npy batches of the model's input (labels.npy optional); drives calibration, fine-tuning and the figures. Without it, int8 falls back to weight-only and the figures are agreement on made-up inputs`)
    .option('--limit <n>', 'use at most n examples for training and calibration, and n for the figures (a seeded choice)')
    .option('--report <file.html>', 'also write one self-contained HTML page: steps, loss curves, weight histograms with the quantization grid, sparsity, sensitivity')
    .option('--backend <name>', 'where the models run and train: js or wasm', 'wasm')
    .option('--force', 'overwrite the input if -o names it')
    .option('--json', 'one JSON document for scripts (no progress)')
    .option('--quiet', 'print nothing but errors (and the --json document)')
    .action(async (input: string, options: CompressOptions) => {
      const output: Output = options.quiet ? { ...baseOutput, line: () => undefined } : baseOutput;
      const progress = progressFor(options);
      const out = options.output!;
      const limit = positiveInteger('--limit', options.limit);
      await checkOutputPath(out, { extension: '.onnx', what: 'output', inputs: [input], force: options.force });
      if (options.report !== undefined) {
        await checkOutputPath(options.report, { extension: '.html', what: 'report', inputs: [input] });
        if (resolve(options.report) === resolve(out)) throw bad(`--report '${options.report}' is also the output model`);
      }
      const recipe = await loadRecipe(options.recipe!);
      const model = await loadModel(input);
      await useBackend(options.backend);
      let data: EvaluationData | null;
      if (options.data !== undefined) data = await loadEvaluationData(options.data, model, { ...(limit === undefined ? {} : { limit }) });
      else {
        const made = randomData(model, limit ?? RANDOM_EXAMPLES);
        data = typeof made === 'string' ? null : made;
      }
      const baseDir = recipe.source.endsWith('(built in)') ? process.cwd() : dirname(resolve(recipe.source));
      const run = await runRecipe({ recipe, model, data, backend: options.backend, progress, baseDir });
      let report: { path: string; bytes: number } | undefined;
      if (options.report !== undefined) report = await writeReport(options.report, reportData(input, recipe.name, run, data));
      try {
        await writeModelFile(out, run.model);
      } catch (error) {
        // The model could not be written: take back the report, so a failed run leaves nothing behind.
        if (report) await removeWritten(report.path);
        throw error;
      }
      const first = run.steps[0];
      const last = run.steps[run.steps.length - 1];
      if (options.json) {
        output.json({
          input, output: out, recipe: { name: recipe.name, source: recipe.source, steps: recipe.steps }, data: data === null ? null : dataSummary(data),
          bytesBefore: first.bytes, bytesAfter: last.bytes, ratio: first.bytes / last.bytes, steps: run.steps, notes: run.notes,
          ...(report ? { report: report.path } : {}),
        });
        return;
      }
      output.line(`${input} (${formatBytes(first.bytes)}) -> ${out} (${formatBytes(last.bytes)}): ${(first.bytes / last.bytes).toFixed(2)}x smaller, recipe ${recipe.name}: ${recipe.steps.map(describeStep).join('; ')}`);
      output.line(stepsTable(run.steps, data));
      for (const note of run.notes) output.line(`note: ${note}`);
      if (report) output.line(`report: ${report.path} (${formatBytes(report.bytes)})`);
    });
}

const pct = (x: number | undefined): string => (x === undefined ? '' : `${(100 * x).toFixed(2)}%`);

function stepsTable(steps: readonly StepRecord[], data: EvaluationData | null): string {
  const figure = data === null ? [] : data.labelled ? ['accuracy', 'agreement'] : ['agreement'];
  const columns = ['model', 'params', 'bytes', 'gzipped', ...figure, ...(data === null ? [] : ['rel. error']), 'time', 'what it did'];
  const rows = steps.map((s) => [
    s.name, formatCount(s.params), formatBytes(s.bytes), formatBytes(s.gzipBytes),
    ...(data === null ? [] : data.labelled ? [pct(s.accuracy), pct(s.agreement)] : [pct(s.agreement)]),
    ...(data === null ? [] : [s.relativeError === undefined ? '' : s.relativeError.toPrecision(3)]),
    `${s.seconds.toFixed(1)}s`, s.note ?? '',
  ]);
  return formatTable(columns, rows, { numeric: ['params', 'bytes', 'gzipped', 'accuracy', 'agreement', 'rel. error', 'time'] });
}

function dataSummary(data: EvaluationData): Record<string, unknown> {
  return {
    source: data.source, labelled: data.labelled, synthetic: data.synthetic, exampleShape: data.sampleShape,
    trainExamples: data.train.count, heldOutExamples: data.test.count,
  };
}

function reportData(input: string, recipeName: string, run: RecipeRun, data: EvaluationData | null): ReportData {
  return {
    title: `minnow compress ${basename(input)}, recipe ${recipeName}`,
    createdAt: new Date().toISOString(),
    steps: run.steps.map((s) => ({
      name: s.name, kind: s.kind, params: s.params, bytes: s.bytes, seconds: s.seconds,
      ...(s.accuracy === undefined ? {} : { accuracy: s.accuracy }), ...(s.agreement === undefined ? {} : { agreement: s.agreement }),
      ...(s.note === undefined ? {} : { note: s.note }),
    })),
    curves: run.curves,
    layers: run.layers,
    notes: run.notes,
    environment: environmentInfo({ data: data === null ? 'none' : `${data.source} (${data.test.count} held-out examples)`, recipe: recipeName }),
  };
}
