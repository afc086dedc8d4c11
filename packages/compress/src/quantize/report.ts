import {
  DataType, tensorByteLength, tensorValues, type GraphProto, type ModelProto, type NodeProto, type TensorProto,
} from '@minnow/onnx';
import type { SensitivityResult } from './sensitivity.js';
import type { LayerPrecision, LayerReport } from './types.js';

/**
 * The per-layer quantization report: as data (cells and totals, for --json and tools) and as an
 * aligned text table (for the CLI); plus the rows read back from a QDQ model, for quantizers that
 * do not report.
 */

export const LAYER_TABLE_COLUMNS = ['layer', 'op', 'precision', 'bits', 'scale range', 'SQNR dB', 'bytes before', 'bytes after', 'note'] as const;

export interface LayerTotals {
  readonly layers: number;
  readonly byPrecision: Readonly<Record<LayerPrecision, number>>;
  /** Sums over the rows that give them. */
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** bytesBefore / bytesAfter (NaN when no row gives bytes). */
  readonly ratio: number;
}

export interface LayerTable {
  readonly columns: readonly string[];
  /** One array of cells per row, formatted as the text table shows them ('-' where a row gives nothing). */
  readonly rows: readonly (readonly string[])[];
  readonly totals: LayerTotals;
}

const formatNumber = (x: number, digits = 3): string => {
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (Number.isNaN(x)) return 'nan';
  if (x !== 0 && (Math.abs(x) < 1e-3 || Math.abs(x) >= 1e6)) return x.toExponential(digits - 1);
  return Number(x.toPrecision(digits)).toString();
};

function scaleRange(row: LayerReport): string {
  const parts: string[] = [];
  if (row.weightScale) {
    const { min, max } = row.weightScale;
    parts.push(min === max ? `w ${formatNumber(min)}` : `w ${formatNumber(min)}..${formatNumber(max)}`);
  }
  if (row.activationScale !== undefined) parts.push(`a ${formatNumber(row.activationScale)}`);
  return parts.length > 0 ? parts.join(' ') : '-';
}

export function layerTotals(rows: readonly LayerReport[]): LayerTotals {
  const byPrecision: Record<LayerPrecision, number> = { float: 0, int8: 0, int4: 0 };
  let bytesBefore = 0;
  let bytesAfter = 0;
  for (const row of rows) {
    byPrecision[row.precision] = (byPrecision[row.precision] ?? 0) + 1;
    bytesBefore += row.bytesBefore ?? 0;
    bytesAfter += row.bytesAfter ?? row.bytesBefore ?? 0;
  }
  return { layers: rows.length, byPrecision, bytesBefore, bytesAfter, ratio: bytesAfter === 0 ? NaN : bytesBefore / bytesAfter };
}

/** The report as cells and totals: what formatLayerTable prints. */
export function layerTable(rows: readonly LayerReport[]): LayerTable {
  const cells = rows.map((row) => [
    row.layer,
    row.op,
    row.precision,
    row.weightBits === undefined ? (row.precision === 'float' ? '32' : '-') : String(row.weightBits),
    scaleRange(row),
    row.sqnrDb === undefined ? '-' : formatNumber(row.sqnrDb),
    row.bytesBefore === undefined ? '-' : String(row.bytesBefore),
    row.bytesAfter === undefined ? '-' : String(row.bytesAfter),
    row.reason ?? '',
  ]);
  return { columns: LAYER_TABLE_COLUMNS, rows: cells, totals: layerTotals(rows) };
}

/** Columns whose cells are numbers: right-aligned. */
const NUMERIC = new Set(['bits', 'SQNR dB', 'bytes before', 'bytes after']);

/**
 * The per-layer report as aligned text: a header, a rule, one line per layer, a rule and a totals
 * line (bytes before and after; layers per precision and the size ratio in the note). The note
 * column (why a layer is float or was promoted) is last, so a long note pushes nothing apart.
 */
export function formatLayerTable(rows: readonly LayerReport[]): string {
  const table = layerTable(rows);
  const { totals } = table;
  const counts = (['int4', 'int8', 'float'] as const).filter((p) => totals.byPrecision[p] > 0).map((p) => `${totals.byPrecision[p]} ${p}`);
  const ratio = Number.isNaN(totals.ratio) ? [] : [`${formatNumber(totals.ratio)}x smaller`];
  const totalCells = ['total', '', '', '', '', '', String(totals.bytesBefore), String(totals.bytesAfter), [`${totals.layers} layers`, ...counts, ...ratio].join(', ')];
  const all = [table.columns, ...table.rows, totalCells];
  const widths = table.columns.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (cells: readonly string[]): string => cells
    .map((cell, i) => (NUMERIC.has(table.columns[i]) ? cell.padStart(widths[i]) : cell.padEnd(widths[i])))
    .join('  ')
    .trimEnd();
  // The note column is last and ragged, so the rule stops before it.
  const rule = widths.slice(0, -1).map((w) => '-'.repeat(w)).join('  ');
  return [line(table.columns), rule, ...table.rows.map(line), rule, line(totalCells)].join('\n');
}

/** The rows of a sensitivity analysis, most sensitive first, as report rows: each layer quantized alone, with the error it causes. */
export function sensitivityReport(result: SensitivityResult): LayerReport[] {
  return result.layers.map((l) => ({ ...l.report, layer: l.layer, op: l.op, precision: l.report.precision, sqnrDb: l.sqnrDb, mse: l.mse }));
}

// ------------------------------------------------------------------------------------------------
// reading a QDQ model back

const BITS: Partial<Record<number, number>> = {
  [DataType.INT8]: 8, [DataType.UINT8]: 8, [DataType.INT4]: 4, [DataType.UINT4]: 4, [DataType.INT16]: 16, [DataType.UINT16]: 16,
  [DataType.FLOAT]: 32, [DataType.FLOAT16]: 16, [DataType.BFLOAT16]: 16,
};

interface Indexed {
  readonly nodes: Map<string, NodeProto>;
  /** Each value's producing node, across graphs (names are unique in a valid model's scopes). */
  readonly producers: Map<string, NodeProto>;
  readonly initializers: Map<string, TensorProto>;
}

function index(model: ModelProto): Indexed {
  const nodes = new Map<string, NodeProto>();
  const producers = new Map<string, NodeProto>();
  const initializers = new Map<string, TensorProto>();
  const walk = (graph: GraphProto): void => {
    for (const t of graph.initializer) if (t.name) initializers.set(t.name, t);
    for (const node of graph.node) {
      if (node.name) nodes.set(node.name, node);
      for (const o of node.output) producers.set(o, node);
      for (const a of node.attribute) for (const g of a.g ? [a.g, ...a.graphs] : a.graphs) walk(g);
    }
  };
  if (model.graph) walk(model.graph);
  return { nodes, producers, initializers };
}

function floatRange(t: TensorProto | undefined): { min: number; max: number } | undefined {
  if (t === undefined) return undefined;
  const values = tensorValues(t);
  if (typeof values[0] !== 'number') return undefined;
  let min = Infinity;
  let max = -Infinity;
  const numbers = values as ArrayLike<number>;
  for (let i = 0; i < numbers.length; i++) {
    if (numbers[i] < min) min = numbers[i];
    if (numbers[i] > max) max = numbers[i];
  }
  return values.length === 0 ? undefined : { min, max };
}

const bytesOf = (t: TensorProto | undefined): number => (t === undefined ? 0 : tensorByteLength(t));

/**
 * Report rows for `layers` read from a quantized model in QDQ form: a weight (input 1) fed by a
 * DequantizeLinear of an initialiser gives the bits, the scale range and the stored bytes (values,
 * scales and zero points); an input 0 fed by a DequantizeLinear with one scale gives the activation
 * scale. Bytes before are the float model's weight initialiser. A layer not found, or not in QDQ
 * form (QOperator nodes are renamed), gets what can be said: its op and precision.
 */
export function describeQuantizedLayers(floatModel: ModelProto, quantizedModel: ModelProto, layers: ReadonlyMap<string, LayerPrecision>): LayerReport[] {
  const before = index(floatModel);
  const after = index(quantizedModel);
  const rows: LayerReport[] = [];
  for (const [layer, precision] of layers) {
    const original = before.nodes.get(layer);
    const node = after.nodes.get(layer) ?? original;
    const weightBefore = original && before.initializers.get(original.input[1] ?? '');
    let row: LayerReport = { layer, op: node?.opType ?? '?', precision, ...(weightBefore ? { bytesBefore: bytesOf(weightBefore) } : {}) };
    const weightIn = node && after.producers.get(node.input[1] ?? '');
    if (weightIn?.opType === 'DequantizeLinear' && after.initializers.has(weightIn.input[0])) {
      const stored = after.initializers.get(weightIn.input[0]) as TensorProto;
      const scale = after.initializers.get(weightIn.input[1] ?? '');
      const weightScale = floatRange(scale);
      row = {
        ...row,
        weightBits: BITS[stored.dataType ?? 0],
        ...(weightScale ? { weightScale } : {}),
        bytesAfter: bytesOf(stored) + bytesOf(scale) + bytesOf(after.initializers.get(weightIn.input[2] ?? '')),
      };
    } else if (weightBefore && node && after.initializers.get(node.input[1] ?? '') !== undefined) {
      const kept = after.initializers.get(node.input[1] ?? '') as TensorProto;
      row = { ...row, weightBits: BITS[kept.dataType ?? 0], bytesAfter: bytesOf(kept) };
    }
    const activationIn = node && after.producers.get(node.input[0] ?? '');
    if (activationIn?.opType === 'DequantizeLinear') {
      const scale = floatRange(after.initializers.get(activationIn.input[1] ?? ''));
      if (scale && scale.min === scale.max) row = { ...row, activationScale: scale.min };
    }
    rows.push(row);
  }
  return rows;
}
