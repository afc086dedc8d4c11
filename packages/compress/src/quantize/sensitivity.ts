import { MinnowError, type Tensor } from '@minnow/core';
import { OnnxSession, type Feed, type GraphProto, type ModelProto, type NodeProto } from '@minnow/onnx';
import { quantizeOnnx, type QuantizeOnnxOptions } from './onnx/index.js';
import { describeQuantizedLayers } from './report.js';
import type { LayerPrecision, LayerReport } from './types.js';

/**
 * Sensitivity analysis: quantize one layer at a time, run the float and the quantized model on the
 * same evaluation inputs with minnow's OnnxSession, and rank the layers by the error each causes at
 * the outputs. The quantizer is injected (`quantizeWith`), so any quantizer can be ranked.
 */

/** What a quantizer returns: the model, or the model with its per-layer report (quantizeOnnx's form). */
export type QuantizedModel = ModelProto | { readonly model: ModelProto; readonly report?: readonly LayerReport[] };

/**
 * Quantizes the model with the given precision for each layer (node name) named; every layer not
 * named stays float. May be async.
 */
export type QuantizeWith = (precisions: ReadonlyMap<string, LayerPrecision>) => QuantizedModel | Promise<QuantizedModel>;

/** One run's inputs, by graph input name. */
export type FeedRecord = Readonly<Record<string, Feed>>;

export interface EvaluationOptions {
  /** Records run in order, each one model run. Tensors must live on `backend`; they stay the caller's. */
  readonly evaluationFeeds: readonly FeedRecord[];
  /**
   * Recurrent state: the feeds the next record takes from this run's outputs, merged over that
   * record (Silero: `(o) => ({ state: o.stateN })`). Each model carries its own state, so errors
   * compound over a sequence as they do in use. Tensors returned are disposed after the next run.
   */
  readonly carry?: (outputs: Readonly<Record<string, Tensor>>, step: number) => Record<string, Feed>;
  /** Class labels aligned with evaluationFeeds: one per row of `labelOutput` in each run. */
  readonly labels?: readonly ArrayLike<number>[];
  /** Graph outputs the error is measured on (default: every output). */
  readonly outputs?: readonly string[];
  /**
   * The output read for accuracy (default: the first measured output). Its last axis holds the
   * class scores; a last axis of 1 is read as the probability of class 1 (threshold 0.5).
   */
  readonly labelOutput?: string;
  /** The backend both models run on (initialised first); default 'js'. */
  readonly backend?: string;
}

/** The error a model makes at the measured outputs, over every run, against the float model. */
export interface OutputError {
  /** Signal-to-quantization-noise ratio, 10 log10(sum ref^2 / sum (q - ref)^2): Infinity when identical. */
  readonly sqnrDb: number;
  /** Mean squared error per element. */
  readonly mse: number;
  /** sum |q - ref| / sum |ref|: the mean absolute error relative to the mean magnitude. */
  readonly relativeError: number;
  readonly maxAbsError: number;
  /** Fraction of rows classified correctly (with labels). */
  readonly accuracy?: number;
  /** Float accuracy minus this accuracy, in percentage points (with labels). */
  readonly accuracyDrop?: number;
}

/**
 * Runs the float model once on the evaluation inputs and keeps its outputs, then measures any
 * other model of the same signature against them (the quantized variants, one run each).
 */
export class OutputMeter {
  /** The measured outputs' names. */
  readonly outputs: readonly string[];
  private reference: Float32Array[][] = [];
  private referenceShapes: (readonly number[])[][] = [];
  private referenceCorrect = 0;
  private readonly labelRows: number;
  /** Model runs so far, the reference's included (the float model counts as one). */
  evaluations = 0;

  private constructor(private readonly options: EvaluationOptions, outputs: readonly string[]) {
    this.outputs = outputs;
    this.labelRows = (options.labels ?? []).reduce((n, l) => n + l.length, 0);
  }

  static async create(model: ModelProto, options: EvaluationOptions): Promise<OutputMeter> {
    checkEvaluationOptions(options);
    const session = OnnxSession.create(model, { backend: options.backend ?? 'js' });
    const declared = session.outputs.map((o) => o.name);
    const outputs = options.outputs ?? declared;
    try {
      if (outputs.length === 0) throw new MinnowError('INVALID_ARGUMENT', 'sensitivity: no outputs to measure');
      for (const name of [...outputs, ...(options.labelOutput === undefined ? [] : [options.labelOutput])]) {
        if (!declared.includes(name)) throw new MinnowError('INVALID_ARGUMENT', `sensitivity: '${name}' is not an output of the model (outputs: ${declared.join(', ')})`);
      }
      const meter = new OutputMeter(options, outputs);
      await meter.runSequence(session, (step, values, shapes, correct) => {
        meter.reference.push(values);
        meter.referenceShapes.push(shapes);
        meter.referenceCorrect += correct;
      });
      return meter;
    } finally {
      session.dispose();
    }
  }

  /** The float model's accuracy on the labels (undefined without labels). */
  get referenceAccuracy(): number | undefined {
    return this.options.labels === undefined ? undefined : this.referenceCorrect / Math.max(1, this.labelRows);
  }

  /** Runs `model` on the evaluation inputs and measures its outputs against the float model's. */
  async measure(model: ModelProto): Promise<OutputError> {
    const session = OnnxSession.create(model, { backend: this.options.backend ?? 'js' });
    let sumRef2 = 0;
    let sumErr2 = 0;
    let sumAbsRef = 0;
    let sumAbsErr = 0;
    let maxAbsError = 0;
    let count = 0;
    let correct = 0;
    try {
      await this.runSequence(session, (step, values, shapes, stepCorrect) => {
        correct += stepCorrect;
        values.forEach((q, k) => {
          const ref = this.reference[step][k];
          const shape = this.referenceShapes[step][k];
          if (q.length !== ref.length || shapes[k].length !== shape.length || shapes[k].some((d, i) => d !== shape[i])) {
            throw new MinnowError('SHAPE_MISMATCH', `sensitivity: output '${this.outputs[k]}' of run ${step} is [${shapes[k].join(',')}], the float model's is [${shape.join(',')}]`);
          }
          for (let i = 0; i < q.length; i++) {
            const r = ref[i];
            // A NaN or Inf in the quantized output is an infinitely bad model, not a skipped value.
            const e = Number.isFinite(q[i]) ? Math.abs(q[i] - r) : Infinity;
            sumRef2 += r * r;
            sumAbsRef += Math.abs(r);
            sumErr2 += e * e;
            sumAbsErr += e;
            if (e > maxAbsError) maxAbsError = e;
          }
          count += q.length;
        });
      });
    } finally {
      session.dispose();
    }
    const sqnrDb = sumErr2 === 0 ? Infinity : sumRef2 === 0 || !Number.isFinite(sumErr2) ? -Infinity : 10 * Math.log10(sumRef2 / sumErr2);
    const relativeError = sumAbsErr === 0 ? 0 : sumAbsRef === 0 ? Infinity : sumAbsErr / sumAbsRef;
    const error: OutputError = { sqnrDb, mse: count === 0 ? 0 : sumErr2 / count, relativeError, maxAbsError };
    const referenceAccuracy = this.referenceAccuracy;
    if (referenceAccuracy === undefined) return error;
    const accuracy = correct / Math.max(1, this.labelRows);
    return { ...error, accuracy, accuracyDrop: 100 * (referenceAccuracy - accuracy) };
  }

  /** Runs every record in order, threading carried state, and hands each run's measured outputs (copied out of the tensors) to `visit`. */
  private async runSequence(session: OnnxSession, visit: (step: number, values: Float32Array[], shapes: (readonly number[])[], correct: number) => void): Promise<void> {
    const { evaluationFeeds: feeds, carry, labels } = this.options;
    const userTensors = new Set<unknown>(feeds.flatMap((record) => Object.values(record)));
    const labelOutput = this.options.labelOutput ?? this.outputs[0];
    let carried: Record<string, Feed> = {};
    let owned: Tensor[] = [];
    this.evaluations++;
    try {
      for (let step = 0; step < feeds.length; step++) {
        const outputs = session.run({ ...feeds[step], ...carried });
        for (const t of owned) t.dispose();
        owned = Object.values(outputs);
        const values: Float32Array[] = [];
        for (const name of this.outputs) values.push(toFloat32(await outputs[name].data()));
        const correct = labels === undefined ? 0 : countCorrect(outputs[labelOutput], await outputs[labelOutput].data(), labels[step], step);
        visit(step, values, this.outputs.map((name) => outputs[name].shape), correct);
        if (carry !== undefined && step + 1 < feeds.length) {
          carried = carry(outputs, step);
          for (const feed of Object.values(carried)) if (isTensor(feed) && !userTensors.has(feed) && !owned.includes(feed)) owned.push(feed);
        }
      }
    } finally {
      for (const t of owned) t.dispose();
    }
  }
}

const isTensor = (feed: Feed): feed is Tensor => typeof (feed as Tensor).dispose === 'function';

function toFloat32(data: ArrayLike<number>): Float32Array {
  return data instanceof Float32Array ? Float32Array.from(data) : Float32Array.from(data, Number);
}

/** Rows of `output` whose arg-max (or, with one column, whether p >= 0.5) is the label. */
function countCorrect(output: Tensor, data: ArrayLike<number>, labels: ArrayLike<number>, step: number): number {
  const classes = output.shape.length === 0 ? 1 : output.shape[output.shape.length - 1];
  const rows = classes === 0 ? 0 : data.length / classes;
  if (rows !== labels.length) {
    throw new MinnowError('SHAPE_MISMATCH', `sensitivity: run ${step} has ${labels.length} labels for ${rows} rows of output [${output.shape.join(',')}]`);
  }
  let correct = 0;
  for (let row = 0; row < rows; row++) {
    let predicted: number;
    if (classes === 1) predicted = data[row] >= 0.5 ? 1 : 0;
    else {
      predicted = 0;
      for (let c = 1; c < classes; c++) if (data[row * classes + c] > data[row * classes + predicted]) predicted = c;
    }
    if (predicted === labels[row]) correct++;
  }
  return correct;
}

function checkEvaluationOptions(options: EvaluationOptions): void {
  const { evaluationFeeds, labels, carry } = options;
  if (!Array.isArray(evaluationFeeds) || evaluationFeeds.length === 0) {
    throw new MinnowError('INVALID_ARGUMENT', 'sensitivity: evaluationFeeds must hold at least one record of inputs');
  }
  if (labels !== undefined && labels.length !== evaluationFeeds.length) {
    throw new MinnowError('INVALID_ARGUMENT', `sensitivity: ${labels.length} label arrays for ${evaluationFeeds.length} evaluation records; give one per record`);
  }
  if (carry !== undefined && typeof carry !== 'function') throw new MinnowError('INVALID_ARGUMENT', 'sensitivity: carry must be a function of the outputs');
}

// ------------------------------------------------------------------------------------------------
// layers

/** A node of the model (in the main graph or any subgraph) with its weight initialiser. */
export interface QuantizableLayer {
  readonly name: string;
  readonly op: string;
  /** The initialiser holding its weight (input 1), resolved in the node's scope. */
  readonly weight: string;
}

/** Op types with a weight at input 1 that quantizers handle. */
export const QUANTIZABLE_OPS: readonly string[] = ['MatMul', 'Gemm', 'Conv'];

/** Visits every node of every graph, with the initialiser names visible to it (enclosing graphs' included). */
export function forEachNode(model: ModelProto, visit: (node: NodeProto, initializers: ReadonlySet<string>) => void): void {
  const walk = (graph: GraphProto, outer: ReadonlySet<string>): void => {
    const visible = new Set(outer);
    for (const t of graph.initializer) if (t.name) visible.add(t.name);
    // A graph input shadows an outer initialiser of the same name.
    for (const v of graph.input) if (v.name && !graph.initializer.some((t) => t.name === v.name)) visible.delete(v.name);
    for (const node of graph.node) {
      visit(node, visible);
      for (const a of node.attribute) for (const g of a.g ? [a.g, ...a.graphs] : a.graphs) walk(g, visible);
    }
  };
  if (model.graph === undefined) throw new MinnowError('INVALID_MODEL', 'sensitivity: the model has no graph');
  walk(model.graph, new Set());
}

/** Named MatMul, Gemm and Conv nodes whose weight is an initialiser, in graph order (subgraphs included). */
export function quantizableLayers(model: ModelProto, ops: readonly string[] = QUANTIZABLE_OPS): QuantizableLayer[] {
  const layers: QuantizableLayer[] = [];
  forEachNode(model, (node, initializers) => {
    const weight = node.input[1];
    if (node.name && ops.includes(node.opType ?? '') && weight !== undefined && initializers.has(weight)) {
      layers.push({ name: node.name, op: node.opType ?? '', weight });
    }
  });
  return layers;
}

/** The named nodes of the model by name, with their op types; a name given twice in the model is refused. */
export function resolveLayers(model: ModelProto, names: readonly string[] | undefined): { readonly name: string; readonly op: string }[] {
  if (names === undefined) return quantizableLayers(model);
  const ops = new Map<string, string>();
  forEachNode(model, (node) => {
    if (node.name) ops.set(node.name, ops.has(node.name) ? '' : node.opType ?? '?');
  });
  const seen = new Set<string>();
  return names.map((name) => {
    const op = ops.get(name);
    if (op === undefined) throw new MinnowError('INVALID_ARGUMENT', `sensitivity: the model has no node named '${name}'`);
    if (op === '') throw new MinnowError('INVALID_MODEL', `sensitivity: more than one node is named '${name}'; layers are chosen by unique node names`);
    if (seen.has(name)) throw new MinnowError('INVALID_ARGUMENT', `sensitivity: candidate '${name}' is listed twice`);
    seen.add(name);
    return { name, op };
  });
}

/** The model and report of a quantizer's result, whichever form it came in. */
export async function runQuantizer(quantizeWith: QuantizeWith, precisions: ReadonlyMap<string, LayerPrecision>): Promise<{ model: ModelProto; report?: readonly LayerReport[] }> {
  const result = await quantizeWith(precisions);
  if (result === null || typeof result !== 'object') throw new MinnowError('INVALID_ARGUMENT', 'sensitivity: quantizeWith returned no model');
  if (!('model' in result)) return { model: result };
  return { model: result.model, report: result.report };
}

// ------------------------------------------------------------------------------------------------
// ranking

export type RankBy = 'sqnr' | 'mse' | 'relative' | 'accuracy';

/** One layer quantized alone: the error it causes at the outputs. */
export interface LayerSensitivity extends OutputError {
  readonly layer: string;
  readonly op: string;
  readonly precision: LayerPrecision;
  /** The quantizer's report row for this layer (scales, bytes, or why it left the layer float); read from the QDQ model when it gave none. */
  readonly report: LayerReport;
}

export interface LayerSensitivityOptions extends EvaluationOptions {
  /** The quantizer (default: quantizeOnnx with `quantizeOptions`, these precisions overriding per node; see onnxQuantizer). */
  readonly quantizeWith?: QuantizeWith;
  /** Options of the default quantizer (default weight-only); not with quantizeWith. */
  readonly quantizeOptions?: QuantizeOnnxOptions;
  /** Node names to rank (default: every MatMul, Gemm and Conv with an initialiser weight). */
  readonly candidates?: readonly string[];
  /** The precision each layer is tried at (default int8). */
  readonly precision?: Exclude<LayerPrecision, 'float'>;
  /** Order of the ranking (default: accuracy with labels, else SQNR); ties go to the next measure, then to candidate order. */
  readonly rankBy?: RankBy;
  /** Called as each layer is measured, for progress. */
  readonly onLayer?: (row: LayerSensitivity, index: number, total: number) => void;
}

export interface SensitivityResult {
  readonly precision: LayerPrecision;
  readonly rankBy: RankBy;
  /** Most sensitive first. */
  readonly layers: readonly LayerSensitivity[];
  readonly referenceAccuracy?: number;
  /** Model runs over the evaluation inputs, the float reference's included. */
  readonly evaluations: number;
}

/** Sort key per ranking: lower sorts first (more sensitive). */
const KEYS: Record<RankBy, (r: OutputError) => number[]> = {
  sqnr: (r) => [r.sqnrDb, -r.mse],
  mse: (r) => [-r.mse, r.sqnrDb],
  relative: (r) => [-r.relativeError, r.sqnrDb],
  accuracy: (r) => [-(r.accuracyDrop ?? 0), r.sqnrDb],
};

export function compareSensitivity(rankBy: RankBy): (a: OutputError, b: OutputError) => number {
  return (a, b) => {
    const ka = KEYS[rankBy](a);
    const kb = KEYS[rankBy](b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i] < kb[i] ? -1 : 1;
    return 0;
  };
}

/** Every candidate float except `layer` at `precision`: the map a quantizeWith takes. */
export function onlyLayer(candidates: readonly string[], layer: string, precision: LayerPrecision): Map<string, LayerPrecision> {
  return new Map(candidates.map((name) => [name, name === layer ? precision : 'float']));
}

/**
 * Quantizes each candidate alone at `precision`, runs it against the float model on the
 * evaluation inputs and ranks the candidates, most sensitive first. Deterministic: the same model,
 * inputs and quantizer give the same ranking.
 */
export async function layerSensitivity(model: ModelProto, options: LayerSensitivityOptions, meter?: OutputMeter): Promise<SensitivityResult> {
  const precision = options.precision ?? 'int8';
  if (precision !== 'int8' && precision !== 'int4') throw new MinnowError('INVALID_ARGUMENT', `sensitivity: precision must be int8 or int4, got ${JSON.stringify(precision)}`);
  const rankBy = options.rankBy ?? (options.labels === undefined ? 'sqnr' : 'accuracy');
  if (!(rankBy in KEYS)) throw new MinnowError('INVALID_ARGUMENT', `sensitivity: rankBy must be one of ${Object.keys(KEYS).join(', ')}, got ${JSON.stringify(rankBy)}`);
  if (rankBy === 'accuracy' && options.labels === undefined) throw new MinnowError('INVALID_ARGUMENT', 'sensitivity: ranking by accuracy needs labels');
  const quantizeWith = resolveQuantizer(model, options.quantizeWith, options.quantizeOptions);
  const layers = resolveLayers(model, options.candidates);
  const names = layers.map((l) => l.name);
  const measuring = meter ?? (await OutputMeter.create(model, options));
  const rows: LayerSensitivity[] = [];
  for (const { name, op } of layers) {
    const quantized = await runQuantizer(quantizeWith, onlyLayer(names, name, precision));
    // A quantizer that does not report is read back from its QDQ model.
    const report = quantized.report?.find((r) => r.layer === name) ?? describeQuantizedLayers(model, quantized.model, new Map([[name, precision]]))[0];
    const row: LayerSensitivity = { layer: name, op, precision, ...(await measuring.measure(quantized.model)), report };
    rows.push(row);
    options.onLayer?.(row, rows.length - 1, layers.length);
  }
  const order = compareSensitivity(rankBy);
  // Array.prototype.sort is stable, so equal errors keep candidate order.
  const ranked = [...rows].sort(order);
  const referenceAccuracy = measuring.referenceAccuracy;
  return { precision, rankBy, layers: ranked, ...(referenceAccuracy === undefined ? {} : { referenceAccuracy }), evaluations: measuring.evaluations };
}

/**
 * quantizeOnnx as a QuantizeWith: `options` (default weight-only: int8 per channel, int4 in blocks
 * of 32) for every node, the precisions given overriding per node. Unless `options.nodes` says
 * otherwise, only the nodes named in the precisions are quantized.
 */
export function onnxQuantizer(model: ModelProto, options: QuantizeOnnxOptions = { mode: 'weight-only' }): QuantizeWith {
  return (precisions) => quantizeOnnx(model, {
    ...options,
    nodes: options.nodes ?? [...precisions.keys()],
    precision: { ...options.precision, ...Object.fromEntries(precisions) },
  });
}

/** The injected quantizer, else quantizeOnnx with `quantizeOptions`. */
export function resolveQuantizer(model: ModelProto, quantizeWith: QuantizeWith | undefined, quantizeOptions?: QuantizeOnnxOptions): QuantizeWith {
  if (quantizeWith === undefined) return onnxQuantizer(model, quantizeOptions);
  if (typeof quantizeWith !== 'function') throw new MinnowError('INVALID_ARGUMENT', 'sensitivity: quantizeWith must be a function of the layer precisions');
  if (quantizeOptions !== undefined) throw new MinnowError('INVALID_ARGUMENT', 'sensitivity: give quantizeWith or quantizeOptions (for the default quantizeOnnx), not both');
  return quantizeWith;
}
