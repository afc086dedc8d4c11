import { MinnowError, type Tensor } from '@minnow/core';
import { Conv2d, DataLoader, Linear, type Module } from '@minnow/nn';
import {
  distill, evaluate, maskedTraining, polynomialDecay, pruneChannels, pruneGradually, pruneModule, train, type ChannelGroupReport, type Classifier,
  type EpochRecord, type PruningMasks, type StepHooks,
} from '@minnow/compress';
import type { ImportedModule, ModelProto, NodeProto } from '@minnow/onnx';
import type { ProgressSink } from '../../progress.js';
import { loadEvaluationData, type EvaluationData } from '../../recipes/data.js';
import { trainingLoop } from '../../recipes/steps/train-loop.js';
import { exportTrainable, importTrainable, trainingSet } from '../../recipes/trainable.js';
import type { PruneMethod } from './method.js';

/**
 * `minnow prune --fine-tune`: the model is imported as a trainable nn Sequential (moduleFromOnnx),
 * pruned there with the same method, fine-tuned with the pruned weights held at zero (or, for
 * structured pruning, the smaller model trained as it is), optionally distilled from the unpruned
 * model, and exported back to ONNX under the input's input and output names. Data, import, export
 * and the training loop are the ones `minnow compress` and `minnow distill` use (recipes/), so the
 * three commands read the same data sets and .npy folders.
 */

export interface FineTuneOptions {
  readonly method: PruneMethod;
  /** ONNX node names, op types or weight initialiser names, as for the ONNX path. */
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  /** mnist, fashion-mnist or a folder of .npy files (recipes/data.ts's layouts, with labels.npy). */
  readonly data: string;
  /** At most this many training and this many held-out examples (a seeded choice). */
  readonly limit?: number;
  readonly epochs: number;
  readonly lr: number;
  readonly batchSize: number;
  readonly seed: number;
  /** Unstructured pruning: masks grown over training (Zhu and Gupta) or set once before it. */
  readonly schedule: 'gradual' | 'one-shot';
  readonly distill: boolean;
  readonly backend: string;
  readonly progress: ProgressSink;
}

export interface FineTuneReport {
  readonly data: string;
  readonly trainSamples: number;
  readonly testSamples: number;
  readonly epochs: number;
  /** How the pruning was laid over training: 'gradual' (polynomial decay over the first 2/3 of the steps) or 'one-shot'. */
  readonly schedule: 'gradual' | 'one-shot';
  readonly distilled: boolean;
  readonly lr: number;
  /** Held-out accuracy of the input model, of the pruned model before fine-tuning (one-shot only), and of the result. */
  readonly accuracy: { readonly before: number; readonly pruned?: number; readonly after: number };
  readonly history: readonly EpochRecord[];
  /** How the data was read and split, and what the import changed (a dropped trailing Softmax, put back on export). */
  readonly notes: readonly string[];
}

export interface FineTuneResult {
  readonly model: ModelProto;
  readonly report: FineTuneReport;
  /** Structured: the channel groups of the nn model and what happened to each, layers named by their ONNX nodes. */
  readonly groups?: readonly ChannelGroupReport[];
}

const fail = (message: string): MinnowError => new MinnowError('INVALID_ARGUMENT', `prune --fine-tune: ${message}`);

/** The label moduleFromOnnx's report gives a node: `node 'name' (Op)` or `node #index (Op)`. */
const importLabel = (node: NodeProto, index: number): string => `node ${node.name ? `'${node.name}'` : `#${index}`} (${node.opType ?? '?'})`;

/**
 * Module paths ('0', '3', ...) of the imported Linear and Conv2d layers that come from the ONNX
 * nodes `names` selects (node names, op types, or initialisers the nodes read), for nn's
 * include/exclude. A name that selects no such layer is an error naming it.
 */
function modulePaths(model: ModelProto, imported: ImportedModule, names: readonly string[] | undefined, what: string): string[] | undefined {
  if (names === undefined) return undefined;
  const nodes = model.graph!.node;
  const weighted = imported.report.layers.filter((l) => l.layer === 'Linear' || l.layer === 'Conv2d');
  const paths = new Set<string>();
  for (const name of names) {
    const labels = new Set(nodes.flatMap((n, i) => (n.name === name || n.opType === name || n.input.includes(name) ? [importLabel(n, i)] : [])));
    const hits = weighted.filter((l) => l.nodes.some((label) => labels.has(label)));
    if (hits.length === 0) throw fail(`--${what} '${name}' names no node, op type or weight of a Linear or Conv layer of the imported model`);
    for (const h of hits) paths.add(h.name);
  }
  return [...paths];
}

/**
 * The ONNX node a module path ('3') came from: the Conv, Gemm or MatMul among the nodes its layer
 * replaces, so reports about the nn model name what the user's model calls it.
 */
function nodeNameOf(imported: ImportedModule, path: string): string {
  const layer = imported.report.layers.find((l) => l.name === path);
  if (!layer) return path;
  const label = layer.nodes.find((n) => /\((Conv|Gemm|MatMul)\)$/.test(n)) ?? layer.nodes[0] ?? path;
  const named = /^node '(.*)' \([^)]*\)$/.exec(label);
  return named ? named[1] : label;
}

function importForTraining(model: ModelProto, data: EvaluationData, backend: string): ImportedModule {
  try {
    return importTrainable(model, data, backend);
  } catch (error) {
    if (!(error instanceof MinnowError) || error.code === 'INTERNAL') throw error;
    throw new MinnowError(error.code, `prune --fine-tune: minnow cannot train this model: ${error.message}. Prune it without --fine-tune (that works on the ONNX graph itself)`, { cause: error });
  }
}

/** The largest label + 1: the classes the model's output must have at least. */
const classesIn = (labels: Int32Array): number => labels.reduce((m, v) => Math.max(m, v + 1), 0);

/** Checks that the module is a classifier for the data: logits [N, C] with a column for every label. */
function checkClassifier(imported: ImportedModule, data: EvaluationData): void {
  const out = imported.outputShape;
  const classes = Math.max(classesIn(data.train.labels!), classesIn(data.test.labels!));
  if (out.length !== 2 || out[1] < 2 || out[1] < classes) {
    throw fail(`fine-tuning trains a classifier with cross-entropy: the model must output logits [N, C] with C >= ${Math.max(2, classes)} (the classes in ${data.source}), but it outputs [${out.join(', ')}]`);
  }
}

/** Loads the data, with the messages naming this command's flag (recipes/data.ts names its own, --data). */
async function loadData(model: ModelProto, options: FineTuneOptions): Promise<EvaluationData> {
  let data: EvaluationData;
  try {
    data = await loadEvaluationData(options.data, model, { seed: options.seed, ...(options.limit === undefined ? {} : { limit: options.limit }) });
  } catch (error) {
    if (error instanceof MinnowError && error.message.startsWith('--data')) throw new MinnowError(error.code, error.message.replace(/^--data/, '--fine-tune'), { cause: error });
    throw error;
  }
  if (!data.labelled) throw fail(`${data.source} has no labels.npy; fine-tuning needs a class label for every example`);
  return data;
}

export async function fineTunePrune(model: ModelProto, options: FineTuneOptions): Promise<FineTuneResult> {
  const { method, backend } = options;
  const data = await loadData(model, options);
  const inputShape = [data.input.fixedBatch ?? 1, ...data.sampleShape];
  const imported = importForTraining(model, data, backend);
  const owned: { dispose(): void }[] = [imported.module];
  try {
    checkClassifier(imported, data);
    const include = modulePaths(model, imported, options.include, 'include');
    const exclude = modulePaths(model, imported, options.exclude, 'exclude');
    const testLoader = new DataLoader(trainingSet(data.test, data), { batchSize: 500, backend });
    const accuracyOf = (m: Classifier): number => evaluate(m, testLoader).accuracy;
    const before = accuracyOf(imported.module);
    let teacher: Classifier | undefined;
    if (options.distill) {
      teacher = importForTraining(model, data, backend).module;
      owned.push(teacher);
    }
    let module: Module<[Tensor], Tensor> = imported.module;
    const label = `prune${options.distill ? ' (distilled)' : ''}: fine-tune`;
    const { loop, finish } = trainingLoop(data, { epochs: options.epochs, lr: options.lr, batchSize: options.batchSize, seed: options.seed }, backend, options.progress, label);
    const fit = (student: Classifier, stepHooks?: StepHooks): EpochRecord[] => (teacher
      ? distill({ ...loop, teacher, student, ...(stepHooks ? { stepHooks } : {}) })
      : train({ ...loop, model: student, ...(stepHooks ? { stepHooks } : {}) }));
    const criterion = method.kind !== 'structured' && method.criterion === 'random' ? { kind: 'random' as const, seed: options.seed } : 'magnitude' as const;
    let pruned: number | undefined;
    let history: EpochRecord[];
    let groups: ChannelGroupReport[] | undefined;
    let schedule = options.schedule;
    if (method.kind === 'structured') {
      schedule = 'one-shot';
      const classes = method.what === 'channels' ? ['Linear'] : method.what === 'neurons' ? ['Conv2d'] : [];
      const result = await pruneChannels(module, { sparsity: method.sparsity, inputShape, ...(include ? { include } : {}), exclude: [...(exclude ?? []), ...classes] });
      module = result.module;
      owned.push(module);
      const rename = (paths: readonly string[]): string[] => paths.map((p) => nodeNameOf(imported, p));
      groups = result.groups.map((g) => ({ ...g, producers: rename(g.producers), followers: rename(g.followers) }));
      pruned = accuracyOf(module);
      history = fit(module);
    } else if (method.kind === 'nm' || schedule === 'one-shot') {
      schedule = 'one-shot';
      const masks: PruningMasks = pruneModule(module, {
        ...(method.kind === 'nm' ? { nm: method.pattern } : { sparsity: method.sparsity, global: method.global }),
        criterion, types: [Linear, Conv2d], ...(include ? { include } : {}), ...(exclude ? { exclude } : {}),
      });
      owned.push(masks);
      pruned = accuracyOf(module);
      history = fit(module, maskedTraining(masks));
    } else {
      // Zhu and Gupta's cubic ramp over the first two thirds of the steps; the last third recovers at the final sparsity.
      const steps = options.epochs * loop.data.length;
      const endStep = Math.floor((2 * steps) / 3);
      const result = pruneGradually({
        ...loop, model: module, ...(teacher ? { teacher } : {}), criterion, global: method.global, ...(include ? { include } : {}), ...(exclude ? { exclude } : {}),
        pruningSchedule: polynomialDecay({ finalSparsity: method.sparsity, endStep, frequency: Math.max(1, Math.floor(endStep / 10)) }),
      });
      owned.push(result.masks);
      history = result.history;
    }
    finish();
    const after = accuracyOf(module);
    const exported = exportTrainable(module, imported);
    const report: FineTuneReport = {
      data: data.source, trainSamples: data.train.count, testSamples: data.test.count, epochs: options.epochs, schedule, distilled: options.distill,
      lr: options.lr, history, notes: [...data.notes, ...imported.report.notes.map((n) => `import: ${n}`)],
      accuracy: { before, ...(pruned === undefined ? {} : { pruned }), after },
    };
    return { model: exported, report, ...(groups ? { groups } : {}) };
  } finally {
    for (const o of owned.reverse()) o.dispose();
  }
}
