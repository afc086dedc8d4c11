import { stat } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  pruneChannelsOnnx, pruneOnnx, toSparseInitializers, type ChannelGroupReport, type PruneOnnxOptions,
} from '@minnow/compress';
import { writeModel, type ModelProto } from '@minnow/onnx';
import { loadModel } from '@minnow/onnx/node';
import { useBackend } from '../backends.js';
import { checkOutputPath, writeModelFile } from '../files.js';
import { formatBytes } from '../format.js';
import type { Output } from '../output.js';
import { fineTunePrune, type FineTuneReport } from './prune/fine-tune.js';
import { progressFor } from '../progress.js';
import { NAMED_DATA_SETS } from '../recipes/data.js';
import { formatPruneTable, layerWeights, modelParameters, pairLayers, percent, pruneTotals } from './prune/layers.js';
import { bad, describeMethod, parseMethod, type PruneMethod } from './prune/method.js';

/**
 * `minnow prune`: unstructured (per layer or global), N:M or structured pruning of an ONNX model,
 * optionally with fine-tuning on labelled data, written atomically, with the per-layer
 * parameters, sparsity and bytes before and after and the file sizes.
 *
 * Sparse storage is opt-in (--sparse-storage): sparse initialisers make a file smaller only past
 * about 2/3 zeros, and not every runtime reads them (onnxruntime and minnow do), so a model is not
 * changed in form unasked; when they would make the file smaller, the output says by how much.
 */

interface PruneCommandOptions {
  output?: string;
  sparsity?: string;
  structured?: string;
  global?: boolean;
  criterion: string;
  include: string[];
  exclude: string[];
  sparseStorage?: boolean;
  fineTune?: string;
  epochs?: string;
  lr?: string;
  batchSize?: string;
  limit?: string;
  schedule?: string;
  distill?: boolean;
  seed: string;
  backend: string;
  force?: boolean;
  json?: boolean;
  quiet?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];
const list = (values: readonly string[]): string[] => values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');

function integer(flag: string, text: string | undefined, fallback: number, min: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min) throw bad(`${flag} '${text}' must be a whole number >= ${min}`);
  return value;
}

/** Every node name, op type and initialiser name of the model, subgraphs included. */
function modelNames(model: ModelProto): { nodes: Set<string>; ops: Set<string>; weights: Set<string> } {
  const names = { nodes: new Set<string>(), ops: new Set<string>(), weights: new Set<string>() };
  const visit = (graph: NonNullable<ModelProto['graph']>): void => {
    for (const t of graph.initializer) names.weights.add(t.name ?? '');
    for (const node of graph.node) {
      names.nodes.add(node.name ?? '');
      names.ops.add(node.opType ?? '');
      for (const a of node.attribute) for (const g of a.g ? [a.g, ...a.graphs] : a.graphs) visit(g);
    }
  };
  if (model.graph) visit(model.graph);
  return names;
}

/** Structured pruning selects by node name or op type; a name that is neither is an error rather than a silent no-op. */
function checkStructuredNames(model: ModelProto, flag: string, values: readonly string[]): void {
  const { nodes, ops } = modelNames(model);
  for (const v of values) if (!nodes.has(v) && !ops.has(v)) throw bad(`${flag} '${v}' names no node or op type of the model (structured pruning selects layers by node name or op type)`);
}

/** The op types `--structured <what>` leaves alone. */
const OTHER_KIND: Record<'channels' | 'neurons' | 'channels,neurons', readonly string[]> = { channels: ['Gemm', 'MatMul'], neurons: ['Conv'], 'channels,neurons': [] };

/**
 * The groups with the reason `--structured channels` (or neurons) gives for the layers it leaves:
 * the library only knows they were excluded, by op type (ONNX) or class (nn).
 */
function explainGroups(model: ModelProto, groups: readonly ChannelGroupReport[], what: keyof typeof OTHER_KIND): ChannelGroupReport[] {
  const opOf = new Map(model.graph!.node.map((n) => [n.name ?? '', n.opType ?? '']));
  const skip = OTHER_KIND[what];
  return groups.map((g) => {
    if (g.pruned || !g.producers.every((p) => skip.includes(opOf.get(p) ?? ''))) return g;
    const why = `--structured ${what} leaves ${[...new Set(g.producers.map((p) => opOf.get(p)))].join('/')} outputs alone`;
    return { ...g, reasons: [...g.reasons.filter((r) => !r.endsWith('is not selected (include/exclude)')), why] };
  });
}

/** Table notes for the layers that produce each group's channels. */
function groupNotes(groups: readonly ChannelGroupReport[]): Map<string, string> {
  const notes = new Map<string, string>();
  for (const g of groups) {
    const note = g.pruned ? `${g.kept.length} of ${g.channels} channels kept` : `left whole (group ${g.id}, below)`;
    for (const p of g.producers) notes.set(p, note);
  }
  return notes;
}

interface Pruned {
  model: ModelProto;
  notes: Map<string, string>;
  groups?: readonly ChannelGroupReport[];
  fineTune?: FineTuneReport;
}

async function pruneGraph(model: ModelProto, method: PruneMethod, include: string[] | undefined, exclude: string[], seed: number): Promise<Pruned> {
  if (method.kind === 'structured') {
    const result = await pruneChannelsOnnx(model, { sparsity: method.sparsity, ...(include ? { include } : {}), exclude: [...exclude, ...OTHER_KIND[method.what]] });
    const groups = explainGroups(model, result.groups, method.what);
    return { model: result.model, notes: groupNotes(groups), groups };
  }
  const options: PruneOnnxOptions = {
    ...(method.kind === 'nm' ? { nm: method.pattern } : { sparsity: method.sparsity, global: method.global }),
    criterion: method.criterion === 'random' ? { kind: 'random', seed } : 'magnitude',
    ...(include ? { include } : {}),
    exclude,
  };
  const result = pruneOnnx(model, options);
  const notes = new Map<string, string>();
  for (const row of result.report) if (row.reason) notes.set(row.node, row.reason);
  return { model: result.model, notes };
}

export function registerPruneCommand(program: Command, baseOutput: Output): void {
  program
    .command('prune')
    .description('prune an ONNX model: unstructured (per layer or global), N:M (2:4) or structured (channels, neurons, physically removed), optionally fine-tuned on labelled data')
    .argument('<in>', 'the .onnx model')
    .requiredOption('-o, --output <out.onnx>', 'where to write the pruned model (never the input, unless --force)')
    .option('--sparsity <s>', 'fraction of weights (or of each group\'s channels, with --structured) removed, in [0, 1)')
    .option('--structured <kind>', 'channels (Conv filters), neurons (Gemm/MatMul outputs), channels,neurons, or an N:M pattern such as 2:4')
    .option('--global', 'unstructured: one magnitude threshold across all layers instead of the same sparsity in each')
    .option('--criterion <name>', 'which weights go: magnitude (smallest |w|) or random (a baseline, seeded by --seed)', 'magnitude')
    .option('--include <names>', 'prune only these nodes: node names or weight names (structured: node names or op types); comma-separated or repeated', collect, [])
    .option('--exclude <names>', 'leave these nodes alone (node names, op types or weight names)', collect, [])
    .option('--sparse-storage', 'store weights that are mostly zeros as ONNX sparse initialisers (a smaller file; onnxruntime and minnow read them)')
    .option('--fine-tune <data>', `train after pruning, pruned weights held at zero: ${NAMED_DATA_SETS.join(' or ')}, or a folder of .npy batches with labels.npy (as minnow compress --data)`)
    .option('--epochs <n>', 'fine-tuning epochs (default 1)')
    .option('--lr <rate>', 'fine-tuning Adam learning rate (default 0.001)')
    .option('--batch-size <n>', 'fine-tuning batch size (default 64)')
    .option('--limit <n>', 'fine-tuning: use at most n training and n held-out examples (a seeded choice)')
    .option('--schedule <gradual|one-shot>', 'unstructured fine-tuning: raise the sparsity gradually over the first 2/3 of the steps (default), or prune once before training')
    .option('--distill', 'fine-tune by distillation from the unpruned model (soft targets, T = 4, alpha = 0.5)')
    .option('--seed <n>', 'seeds --criterion random, sampling and shuffling', '0')
    .option('--backend <name>', 'where structured pruning traces shapes and fine-tuning trains: js or wasm', 'wasm')
    .option('--force', 'overwrite the input if -o names it')
    .option('--json', 'one JSON document for scripts')
    .option('--quiet', 'print nothing but errors (and the --json document)')
    .action(async (input: string, options: PruneCommandOptions) => {
      // --json prints one document and nothing else; --quiet drops the lines too.
      const output: Output = options.quiet || options.json ? { ...baseOutput, line: () => undefined } : baseOutput;
      const out = options.output!;
      const method = parseMethod(options);
      const seed = integer('--seed', options.seed, 0, 0);
      const include = options.include.length > 0 ? list(options.include) : undefined;
      const exclude = list(options.exclude);
      const fineTuneOnly = (['epochs', 'lr', 'batchSize', 'limit', 'schedule', 'distill'] as const).filter((k) => options[k] !== undefined);
      if (options.fineTune === undefined && fineTuneOnly.length > 0) throw bad(`--${fineTuneOnly[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} applies only with --fine-tune <data>`);
      const schedule = options.schedule ?? 'gradual';
      if (schedule !== 'gradual' && schedule !== 'one-shot') throw bad(`--schedule '${schedule}' is not one of gradual, one-shot`);
      const lr = Number(options.lr ?? '0.001');
      if (!(lr > 0 && Number.isFinite(lr))) throw bad(`--lr '${options.lr}' must be a positive number`);
      await checkOutputPath(out, { extension: '.onnx', what: 'output', inputs: [input], force: options.force });
      const model = await loadModel(input);
      if (method.kind === 'structured') checkStructuredNames(model, '--include', include ?? []);
      if (method.kind === 'structured' || options.fineTune !== undefined) await useBackend(options.backend);
      if (method.kind === 'structured') checkStructuredNames(model, '--exclude', exclude);

      let pruned: Pruned;
      if (options.fineTune !== undefined) {
        const epochs = integer('--epochs', options.epochs, 1, 1);
        const result = await fineTunePrune(model, {
          method, ...(include ? { include } : {}), exclude, data: options.fineTune, epochs, lr, seed, schedule, distill: options.distill ?? false,
          batchSize: integer('--batch-size', options.batchSize, 64, 1), backend: options.backend,
          ...(options.limit === undefined ? {} : { limit: integer('--limit', options.limit, 0, 1) }),
          progress: progressFor(options),
        });
        const groups = result.groups && method.kind === 'structured' ? explainGroups(model, result.groups, method.what) : undefined;
        pruned = { model: result.model, notes: groups ? groupNotes(groups) : new Map(), ...(groups ? { groups } : {}), fineTune: result.report };
      } else {
        pruned = await pruneGraph(model, method, include, exclude, seed);
      }

      // Sparse storage, or what it would save.
      const sparse = toSparseInitializers(pruned.model);
      const converted = sparse.initializers.filter((r) => r.converted).map((r) => r.name);
      let written = pruned.model;
      let sparseHint: number | undefined;
      if (options.sparseStorage) written = sparse.model;
      else if (converted.length > 0) sparseHint = writeModel(sparse.model).model.length;
      await writeModelFile(out, written);
      const bytesBefore = (await stat(input)).size;
      const bytesAfter = (await stat(out)).size;
      const rows = pairLayers(layerWeights(model), layerWeights(written), pruned.notes);
      const totals = pruneTotals(rows);
      const params = { before: modelParameters(model), after: modelParameters(written) };
      const skipped = (pruned.groups ?? []).filter((g) => !g.pruned);
      if (options.json) {
        output.json({
          input, output: out, bytesBefore, bytesAfter, ratio: bytesBefore / bytesAfter, method: { ...method, description: describeMethod(method) }, params, totals,
          // The weights stored sparse (applied) or that --sparse-storage would store sparse, and then the file's size.
          sparseStorage: { applied: options.sparseStorage ?? false, initializers: converted, ...(sparseHint === undefined ? {} : { bytesIfApplied: sparseHint }) },
          layers: rows, ...(pruned.groups ? { groups: pruned.groups } : {}), ...(pruned.fineTune ? { fineTune: pruned.fineTune } : {}),
        });
        return;
      }
      output.line(`${input} (${formatBytes(bytesBefore)}) -> ${out} (${formatBytes(bytesAfter)}): ${(bytesBefore / bytesAfter).toFixed(2)}x smaller; ${describeMethod(method)}`);
      output.line(`parameters ${params.before.toLocaleString('en-US')} -> ${params.after.toLocaleString('en-US')}; weights ${percent(totals.sparsityBefore)} -> ${percent(totals.sparsityAfter)} zeros`);
      if (rows.length === 0) output.line('no layer to prune: the model has no Conv, MatMul or Gemm with a stored weight');
      else output.line(formatPruneTable(rows));
      if (skipped.length > 0) {
        output.line(`${skipped.length} of ${pruned.groups!.length} channel groups left whole:`);
        for (const g of skipped) output.line(`  group ${g.id} (${g.producers.join(', ')}; ${g.channels} channel${g.channels === 1 ? '' : 's'}): ${g.reasons.join('; ')}`);
      }
      if (options.sparseStorage) output.line(`sparse storage: ${converted.length} weight(s) stored sparse${converted.length > 0 ? ` (${converted.join(', ')})` : ': none is sparse enough (more than 2/3 zeros) to be smaller that way'}`);
      else if (sparseHint !== undefined && sparseHint < bytesAfter) output.line(`with --sparse-storage the file would be ${formatBytes(sparseHint)} (${(bytesAfter / sparseHint).toFixed(2)}x smaller than written)`);
      const ft = pruned.fineTune;
      if (ft) {
        output.line(`fine-tuned on ${ft.data}: ${ft.trainSamples} examples, ${ft.epochs} epoch(s), Adam lr ${ft.lr}, ${ft.schedule}${ft.distilled ? ', distilled from the unpruned model' : ''}`);
        const mid = ft.accuracy.pruned === undefined ? '' : ` -> ${percent(ft.accuracy.pruned)} pruned`;
        output.line(`held-out accuracy (${ft.testSamples} examples): ${percent(ft.accuracy.before)} before${mid} -> ${percent(ft.accuracy.after)} after fine-tuning`);
        for (const note of ft.notes) output.line(`  ${note}`);
      }
    });
}
