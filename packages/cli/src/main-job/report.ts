import type { SensitivityResult, SparsityReport } from '@minnow/compress';
import type { ModelProto } from '@minnow/onnx';
import {
  curveFromProgress, environmentInfo, mergeLayers, onnxWeightName, quantizedLayers, sensitivityLayers, sparsityLayers, writeReport,
  type ReportCurve, type ReportData, type ReportStep, type StepKind,
} from '../report/index.js';
import { formatBytes, formatCount } from '../format.js';
import type { MainJobFigures, ModelName } from './figures.js';
import { describeCheck } from './measure.js';
import type { TrainingProgress } from './progress.js';
import { formatMs, timedBackends } from './table.js';

/**
 * The main job's HTML report, made with the CLI's report module from the job's own figures: the
 * steps (size and accuracy of each model, and the trade-off between them), the loss and accuracy
 * curves of the three training runs, the student's weights before and after int8 with the
 * quantization grid, the sparsity pruning left in each layer, and each layer's int8 sensitivity.
 */

export interface ReportInputs {
  /** The pruned student as exported (dense), the float model that was quantized. */
  readonly dense: ModelProto;
  readonly quantized: ModelProto;
  readonly logs: Partial<Record<ModelName, TrainingProgress>>;
  readonly sparsity: SparsityReport;
  readonly sensitivity: SensitivityResult;
}

const KIND: Record<ModelName, StepKind> = { teacher: 'train', student: 'distill', pruned: 'prune', int8: 'quantize' };

const LOSS: Record<ModelName, string> = {
  teacher: 'teacher (cross-entropy)', student: 'student (distillation loss)', pruned: 'pruning (distillation loss)', int8: '',
};

export function jobReportData(figures: MainJobFigures, inputs: ReportInputs): ReportData {
  const backends = timedBackends(figures);
  const steps: ReportStep[] = figures.models.map((m) => ({
    name: m.name, kind: KIND[m.name], params: m.nonzero, bytes: m.bytes, accuracy: m.accuracy, seconds: m.seconds,
    note: `${m.architecture}, ${formatCount(m.nonzero)} non-zero of ${formatCount(m.params)} parameters, ${formatBytes(m.bytes)}; ` +
      `batch-1 latency ${backends.map((b) => `${b} ${b in m.latencyMs ? formatMs(m.latencyMs[b]) : 'refused'}`).join(', ')}. ${m.note}`,
  }));
  const curves: ReportCurve[] = [];
  for (const name of ['teacher', 'student', 'pruned'] as const) {
    const log = inputs.logs[name];
    if (!log) continue;
    curves.push(curveFromProgress(LOSS[name], log.reports, { chart: 'Training loss (running mean over each epoch)' }));
    const history = figures.histories[name];
    curves.push({ name, points: history.filter((r) => r.testLoss !== undefined).map((r) => [r.epoch + 1, r.testLoss as number] as const), chart: 'Test loss per epoch (cross-entropy)', xLabel: 'epoch' });
    curves.push({ name, points: history.filter((r) => r.testAccuracy !== undefined).map((r) => [r.epoch + 1, 100 * (r.testAccuracy as number)] as const), chart: 'Test accuracy per epoch (%)', xLabel: 'epoch' });
  }
  const layers = mergeLayers(
    quantizedLayers(inputs.dense, inputs.quantized, figures.quantization),
    sparsityLayers(inputs.sparsity),
    sensitivityLayers(inputs.sensitivity, (layer) => onnxWeightName(inputs.dense, layer)),
  );
  const notes = [
    `Data: ${figures.data.source}; ${formatCount(figures.data.train)} training and ${formatCount(figures.data.test)} test digits (seeded stratified split); accuracy is measured on the test digits by minnow's OnnxSession running each file as written.`,
    ...figures.models.flatMap((m) => m.checks.map((c) =>
      `${m.name} file against ${c.reference}: ${describeCheck(c)} test digits.`)),
    'The pruned file stores its zeros implicitly (ONNX sparse initialisers: values and int64 indices); runtimes expand it to dense at load, so it runs as fast as the student. The int8 file stores every weight as one byte, zeros included.',
    ...figures.backends.filter((b) => !b.timed).map((b) => `Backend ${b.name} not timed: ${b.why}.`),
    ...figures.backends.filter((b) => b.detail).map((b) => `Backend ${b.name} (${b.mode}): ${b.detail}.`),
    ...figures.models.flatMap((m) => Object.entries(m.latencyRefused).map(([b, why]) => `${m.name} on ${b} not timed: ${why}`)),
    `Whole job: ${figures.seconds.toFixed(1)} s (${figures.config.name} configuration).`,
  ];
  return {
    title: 'minnow main job: MNIST teacher, distilled student, pruned, int8',
    createdAt: new Date().toISOString(),
    steps, curves, layers, notes,
    environment: environmentInfo({ configuration: figures.config.name, backends: figures.backends.map((b) => `${b.name}: ${b.mode ?? 'unavailable'}`).join(', ') }),
  };
}

/** Writes the report (atomically) and returns where it went. */
export async function writeJobReport(path: string, figures: MainJobFigures, inputs: ReportInputs): Promise<string> {
  return (await writeReport(path, jobReportData(figures, inputs))).path;
}
