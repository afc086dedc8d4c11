import { MinnowError } from '@minnow/core';
import { DataType, tensorValues, type ModelProto, type NodeProto, type TensorProto } from '@minnow/onnx';
import { weightLayout } from '../quantize/onnx/layout.js';
import { cloneModel, findInitializer, floatTensor, graphScopes, type GraphScope } from '../quantize/onnx/model-edit.js';
import {
  checkNM, checkScores, checkSparsity, criterionKind, globalMasks, layerwiseMasks, magnitudeScores, nmMask, randomScores, scoreEntries,
  type Criterion, type NMPattern, type ScoreTable,
} from './criteria.js';

/**
 * Unstructured and N:M pruning of the weight initialisers of Conv, MatMul and Gemm in an ONNX
 * model (every graph, If/Loop bodies included), per layer or with one global threshold. The
 * pruned weights are written back densely, zeros in place (sparse storage is a separate step);
 * the input model is not changed. A weight read by several nodes is pruned once.
 */

/** The criteria that need no training graph: magnitude, random, or scores by initialiser name. */
export type OnnxCriterion = Exclude<Criterion, { kind: 'taylor' }>;

export interface PruneOnnxOptions {
  /** Fraction of each weight pruned (or of all of them, with `global`), in [0, 1). Not with `nm`. */
  readonly sparsity?: number;
  /** N:M along each weight's input (reduction) axis instead; a weight whose axis is not a multiple of M is left as it is, with the reason in the report. */
  readonly nm?: NMPattern;
  /** Default 'magnitude'. Scores are keyed by initialiser name. */
  readonly criterion?: OnnxCriterion;
  /** One threshold across all pruned weights (default false: the same sparsity in each). */
  readonly global?: boolean;
  /** Op types whose weights are pruned (default Conv, MatMul, Gemm). */
  readonly ops?: readonly string[];
  /** Only these nodes, by node name or weight initialiser name. */
  readonly include?: readonly string[];
  /** Nodes left as they are, by node name, op type or weight initialiser name. */
  readonly exclude?: readonly string[];
}

/** One weight-carrying node of the report. */
export interface PrunedOnnxLayer {
  /** The node's name (or graph path, op type and index when it has none). */
  readonly node: string;
  readonly op: string;
  /** The weight initialiser ('' when the node has none minnow can prune). */
  readonly weight: string;
  readonly shape: readonly number[];
  readonly params: number;
  /** Zero weights before and after pruning. */
  readonly zerosBefore: number;
  readonly zeros: number;
  /** zeros / params after pruning. */
  readonly sparsity: number;
  /** Why the node's weight was left as it was (absent when it was pruned). */
  readonly reason?: string;
}

export interface PruneOnnxResult {
  readonly model: ModelProto;
  readonly report: PrunedOnnxLayer[];
}

export const PRUNABLE_OPS: readonly string[] = ['Conv', 'MatMul', 'Gemm'];

interface Target {
  readonly row: number;
  readonly name: string;
  readonly tensor: TensorProto;
  readonly owner: GraphScope;
  readonly values: Float32Array;
  readonly axis: number;
}

/**
 * Prunes a copy of `model` and reports every Conv/MatMul/Gemm it considered.
 *
 * ```ts
 * const { model: pruned, report } = pruneOnnx(model, { sparsity: 0.9, global: true });
 * const pruned24 = pruneOnnx(model, { nm: { n: 2, m: 4 } }).model;
 * ```
 */
export function pruneOnnx(model: ModelProto, options: PruneOnnxOptions): PruneOnnxResult {
  const op = 'pruneOnnx';
  if (model === null || typeof model !== 'object' || model.graph === undefined) throw new MinnowError('INVALID_MODEL', `${op}: the model has no graph`);
  if (options === null || typeof options !== 'object') throw new MinnowError('INVALID_ARGUMENT', `${op}: options must be an object`);
  const { nm } = options;
  if (nm === undefined && options.sparsity === undefined) throw new MinnowError('INVALID_ARGUMENT', `${op}: give a sparsity in [0, 1) or an N:M pattern`);
  if (nm !== undefined && options.sparsity !== undefined) throw new MinnowError('INVALID_ARGUMENT', `${op}: give either a sparsity or an N:M pattern, not both`);
  if (nm !== undefined && options.global) throw new MinnowError('INVALID_ARGUMENT', `${op}: an N:M pattern holds in every group of every layer; it cannot be global`);
  const pattern = nm === undefined ? undefined : checkNM(op, nm);
  const sparsity = nm === undefined ? checkSparsity(op, options.sparsity) : 0;
  const kind = criterionKind(op, options.criterion as Criterion | undefined);
  if (kind === 'taylor') throw new MinnowError('INVALID_ARGUMENT', `${op}: the taylor criterion needs gradients, which an ONNX graph does not give; prune the nn Module, or pass scores`);
  const ops = new Set(options.ops ?? PRUNABLE_OPS);
  for (const o of ops) if (!PRUNABLE_OPS.includes(o)) throw new MinnowError('INVALID_ARGUMENT', `${op}: minnow prunes the weights of ${PRUNABLE_OPS.join(', ')}, not ${JSON.stringify(o)}`);

  const out = cloneModel(model);
  const scopes = graphScopes(out);
  checkNames(op, scopes, options);
  const report: PrunedOnnxLayer[] = [];
  const targets: Target[] = [];
  const seen = new Map<string, string>();
  /** Rows of nodes that read a weight another node's row prunes: [their row, the pruning row]. */
  const sharers: [number, number][] = [];
  for (const scope of scopes) {
    scope.graph.node.forEach((node, index) => {
      const opType = node.opType ?? '';
      if (!ops.has(opType) || ((node.domain ?? '') !== '' && node.domain !== 'ai.onnx')) return;
      const label = node.name || `${scope.path}:${opType}#${index}`;
      const weightName = node.input[1] ?? '';
      const found = weightName ? findInitializer(scope, weightName) : undefined;
      const skip = (reason: string, tensor?: TensorProto): void => {
        const values = tensor && tensor.dataType === DataType.FLOAT ? (tensorValues(tensor) as Float32Array) : undefined;
        const zeros = values ? countZeros(values) : 0;
        const params = values?.length ?? 0;
        report.push({ node: label, op: opType, weight: tensor ? weightName : '', shape: tensor ? [...tensor.dims] : [], params, zerosBefore: zeros, zeros, sparsity: params ? zeros / params : 0, reason });
      };
      const why = selectionReason(node, weightName, options);
      if (why) return skip(why, found?.tensor);
      if (node.input[0] && findInitializer(scope, node.input[0])) return skip(`its first input '${node.input[0]}' is a constant: minnow prunes the second operand as the weight`, found?.tensor);
      const layout = weightLayout(node, scope);
      if ('reason' in layout) return skip(layout.reason, found?.tensor);
      const { weight, owner, reduceAxis } = layout.layout;
      if (pattern && weight.dims[reduceAxis] % pattern.m !== 0) {
        return skip(`its input axis (length ${weight.dims[reduceAxis]}) is not a multiple of ${pattern.m}`, weight);
      }
      const key = `${owner.path}\u0000${weightName}`;
      const first = seen.get(key);
      if (first !== undefined) {
        const pruning = targets.find((t) => t.owner === owner && t.name === weightName);
        if (pruning) sharers.push([report.length, pruning.row]);
        return skip(`reads the same weight as node '${first}', pruned there`, weight);
      }
      seen.set(key, label);
      const values = tensorValues(weight) as Float32Array;
      targets.push({ row: report.length, name: weightName, tensor: weight, owner, values, axis: reduceAxis });
      const zeros = countZeros(values);
      report.push({ node: label, op: opType, weight: weightName, shape: [...weight.dims], params: values.length, zerosBefore: zeros, zeros, sparsity: zeros / Math.max(1, values.length) });
    });
  }
  if (targets.length === 0) return { model: out, report };

  const scores = kind === 'magnitude' ? targets.map((t) => checkScores(op, `'${t.name}'`, magnitudeScores(t.values)))
    : kind === 'random' ? randomScores(targets.map((t) => t.values.length), (options.criterion as { seed: number }).seed)
    : scoreEntries(op, (options.criterion as { scores: ScoreTable }).scores, targets.map((t) => ({ name: t.name, dims: t.tensor.dims })));
  const masks = pattern ? targets.map((t, i) => nmMask(scores[i], t.tensor.dims, t.axis, pattern))
    : (options.global ? globalMasks : layerwiseMasks)(scores, sparsity);

  targets.forEach((t, i) => {
    const mask = masks[i];
    const values = t.values.map((v, k) => (mask[k] ? v : 0));
    const initializers = t.owner.graph.initializer;
    const at = initializers.indexOf(t.tensor);
    if (at < 0) throw new MinnowError('INTERNAL', `${op}: weight '${t.name}' is not among its graph's initialisers`);
    initializers[at] = { ...floatTensor(t.name, t.tensor.dims, values), docString: t.tensor.docString, metadataProps: [...t.tensor.metadataProps] };
    const zeros = countZeros(values);
    report[t.row] = { ...report[t.row], zeros, sparsity: zeros / Math.max(1, values.length) };
  });
  for (const [row, from] of sharers) report[row] = { ...report[row], zeros: report[from].zeros, sparsity: report[from].sparsity };
  return { model: out, report };
}

/** Why the options leave `node` alone, or undefined when they select it. */
function selectionReason(node: NodeProto, weight: string, options: PruneOnnxOptions): string | undefined {
  const names = [node.name ?? '', weight].filter((n) => n !== '');
  if (options.include !== undefined && !names.some((n) => options.include!.includes(n))) return 'not among the nodes included';
  if (options.exclude?.some((e) => e === node.opType || names.includes(e))) return 'excluded';
  return undefined;
}

/** INVALID_ARGUMENT for an include/exclude entry that names no node, op type or initialiser of the model. */
function checkNames(op: string, scopes: readonly GraphScope[], options: PruneOnnxOptions): void {
  const names = new Set<string>();
  const opTypes = new Set<string>();
  for (const { graph } of scopes) {
    for (const node of graph.node) {
      if (node.name) names.add(node.name);
      if (node.opType) opTypes.add(node.opType);
    }
    for (const t of graph.initializer) if (t.name) names.add(t.name);
  }
  for (const [what, list, byOp] of [['include', options.include, false], ['exclude', options.exclude, true]] as const) {
    if (list === undefined) continue;
    if (!Array.isArray(list)) throw new MinnowError('INVALID_ARGUMENT', `${op}: ${what} must be an array of names`);
    for (const name of list) {
      if (!names.has(name) && !(byOp && opTypes.has(name))) {
        throw new MinnowError('INVALID_ARGUMENT', `${op}: ${what} names ${JSON.stringify(name)}, which is no node${byOp ? ', op type' : ''} or initialiser of the model`);
      }
    }
  }
}

function countZeros(values: Float32Array): number {
  let zeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === 0) zeros++;
  return zeros;
}
