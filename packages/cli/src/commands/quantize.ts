import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { MinnowError } from '@minnow/core';
import { OnnxSession, type Feed, type ModelProto } from '@minnow/onnx';
import { loadModel, saveModel } from '@minnow/onnx/node';
import {
  calibrateLayerInputs, calibrateOnnx, formatLayerTable, layerTotals, mixedPrecision, quantizeOnnx, type CalibrationMethod, type LayerReport, type QuantizeOnnxOptions,
} from '@minnow/compress';
import { npyCalibrationBatches } from '@minnow/compress/node';
import { useBackend } from '../backends.js';
import { formatBytes } from '../format.js';
import type { Output } from '../output.js';

/**
 * `minnow quantize`: post-training quantization of an ONNX model (weight-only, dynamic or static
 * with calibration from a folder of .npy files), written atomically as QDQ or QOperator ONNX,
 * with the size before and after and the per-layer table.
 */

interface QuantizeCommandOptions {
  output?: string;
  weights: string;
  perChannel?: boolean;
  perTensor?: boolean;
  block?: string;
  activations?: string;
  activationType: string;
  activationMargin?: string;
  affineWeights?: boolean;
  rounding: string;
  weightMethod: string;
  biasCorrection?: boolean;
  calibrate?: string;
  method: string;
  format: string;
  ops?: string;
  exclude: string[];
  nodes?: string;
  weightOnly: string[];
  precision: string[];
  budget?: string;
  foldBatchnorm: boolean;
  keepMetadata?: boolean;
  backend: string;
  force?: boolean;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];
const list = (values: readonly string[]): string[] => values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter((v) => v !== '');
const bad = (message: string): MinnowError => new MinnowError('INVALID_ARGUMENT', `quantize: ${message}`);

function oneOf<T extends string>(what: string, value: string, allowed: readonly T[]): T {
  if (!allowed.includes(value as T)) throw bad(`${what} '${value}' is not one of ${allowed.join(', ')}`);
  return value as T;
}

/** `name=int4` pairs (comma-separated or repeated). */
function precisions(pairs: readonly string[]): Record<string, 'float' | 'int8' | 'int4'> {
  const out: Record<string, 'float' | 'int8' | 'int4'> = {};
  for (const pair of list(pairs)) {
    const at = pair.lastIndexOf('=');
    if (at <= 0) throw bad(`--precision '${pair}': expected node=float|int8|int4`);
    out[pair.slice(0, at)] = oneOf('precision', pair.slice(at + 1), ['float', 'int8', 'int4'] as const);
  }
  return out;
}

/** The error budget: a relative output error (0.01), or `sqnr:<dB>`. */
function budgetOf(text: string): { maxRelativeError: number } | { minSqnrDb: number } {
  const sqnr = /^sqnr:(.+)$/.exec(text);
  const value = Number(sqnr ? sqnr[1] : text);
  if (text.trim() === '' || !Number.isFinite(value) || (!sqnr && value < 0)) throw bad(`--budget '${text}': expected a relative output error such as 0.01, or sqnr:<dB>`);
  return sqnr ? { minSqnrDb: value } : { maxRelativeError: value };
}

/** --activation-margin: a factor >= 1 that widens every calibrated activation range. */
function marginOf(text: string): number {
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < 1) throw bad(`--activation-margin '${text}': expected a factor of at least 1, such as 2`);
  return value;
}

/** The quantizeOnnx options the flags describe (ranges added later for static). */
function quantizeOptions(options: QuantizeCommandOptions): QuantizeOnnxOptions {
  const weights = oneOf('--weights', options.weights, ['int8', 'int4'] as const);
  const granularities = [options.perChannel && 'per-channel', options.perTensor && 'per-tensor', options.block !== undefined && `--block ${options.block}`].filter(Boolean);
  if (granularities.length > 1) throw bad(`choose one of --per-channel, --per-tensor and --block (got ${granularities.join(', ')})`);
  let granularity: QuantizeOnnxOptions['granularity'];
  if (options.block !== undefined) {
    granularity = Number(options.block);
    if (!/^\d+$/.test(options.block)) throw bad(`--block '${options.block}' is not a block size (32, 64, 128 ...)`);
  } else if (options.perChannel) granularity = 'per-channel';
  else if (options.perTensor) granularity = 'per-tensor';
  const activations = oneOf('--activations', options.activations ?? (options.calibrate ? 'static' : 'none'), ['static', 'dynamic', 'none'] as const);
  if (activations === 'static' && options.calibrate === undefined) throw bad('--activations static needs --calibrate <dir of .npy> to measure the activation ranges');
  const weightRounding = oneOf('--rounding', options.rounding, ['nearest', 'gptq'] as const);
  if ((weightRounding === 'gptq' || options.biasCorrection) && options.calibrate === undefined) {
    throw bad(`${weightRounding === 'gptq' ? '--rounding gptq' : '--bias-correction'} needs --calibrate <dir of .npy>: it works from what each layer's input looked like on those batches`);
  }
  const ops = options.ops === undefined ? undefined : list([options.ops]);
  const nodes = options.nodes === undefined ? undefined : list([options.nodes]);
  const quantize: QuantizeOnnxOptions = {
    mode: activations === 'none' ? 'weight-only' : activations,
    weights,
    ...(granularity === undefined ? {} : { granularity }),
    format: oneOf('--format', options.format, ['qdq', 'qop'] as const),
    activationType: oneOf('--activation-type', options.activationType, ['uint8', 'int8', 'uint16', 'int16'] as const),
    ...(options.activationMargin === undefined ? {} : { activationMargin: marginOf(options.activationMargin) }),
    ...(options.affineWeights ? { affineWeights: true } : {}),
    weightRounding,
    weightMethod: oneOf('--weight-method', options.weightMethod, ['minmax', 'mse'] as const),
    ...(options.biasCorrection ? { biasCorrection: true } : {}),
    ...(ops ? { ops } : {}),
    ...(nodes ? { nodes } : {}),
    exclude: list(options.exclude),
    weightOnly: list(options.weightOnly),
    precision: precisions(options.precision),
    foldBatchNorm: options.foldBatchnorm,
    keepMetadata: options.keepMetadata ?? false,
  };
  if (activations !== 'static' && options.calibrate !== undefined && options.budget === undefined && !usesLayerInputs(quantize, options.calibrate)) {
    throw bad(`--calibrate is for static activations, --budget, --rounding gptq, --weight-method mse or --bias-correction; with --activations ${activations} alone it would not be used`);
  }
  return quantize;
}

/** Whether the weights are rounded from what each layer's input looked like (GPTQ, bias correction; MSE scales when there is data). */
function usesLayerInputs(options: QuantizeOnnxOptions, calibrate: string | undefined): boolean {
  return options.weightRounding === 'gptq' || options.biasCorrection === true || (options.weightMethod === 'mse' && calibrate !== undefined);
}

/** Calibration batches from the folder, for the model's inputs (read lazily, one batch at a time). */
function batchesFrom(dir: string, model: ModelProto, backend: string): AsyncGenerator<Record<string, Feed>> {
  const session = OnnxSession.create(model, { backend });
  const inputs = session.inputs.map((i) => i.name);
  session.dispose();
  return npyCalibrationBatches(dir, { inputs });
}

async function fileSize(path: string): Promise<number> {
  return (await stat(path)).size;
}

export function registerQuantizeCommand(program: Command, output: Output): void {
  program
    .command('quantize')
    .description('quantize an ONNX model after training: int8/int4 weights (per channel or blocked), activations static (calibrated), dynamic or float; writes QDQ or QOperator ONNX')
    .argument('<in>', 'the float .onnx model')
    .requiredOption('-o, --output <out.onnx>', 'where to write the quantized model (never the input, unless --force)')
    .option('--weights <int8|int4>', 'weight precision', 'int8')
    .option('--per-channel', 'one weight scale per output channel (the int8 default)')
    .option('--per-tensor', 'one weight scale per tensor')
    .option('--block <n>', 'one weight scale per n weights along the reduction axis (opset 21; the int4 default is 32)')
    .option('--activations <static|dynamic|none>', 'static: calibrated ranges (needs --calibrate); dynamic: quantized at run time; none: weight-only (default: static with --calibrate, else none)')
    .option('--activation-type <type>', 'static activations: uint8, int8, or 16-bit uint16/int16 (opset 21)', 'uint8')
    .option('--activation-margin <factor>', 'widen calibrated activation ranges by this factor, so louder inputs than the calibration data are not clipped (default 2 for 16-bit activations, 1 for 8-bit)')
    .option('--affine-weights', 'a zero point per weight channel or block (QDQ and weight-only forms): finer steps for weights that are not centred on zero')
    .option('--rounding <nearest|gptq>', 'how weights are rounded: nearest, or gptq (each rounding error compensated in the weights not yet rounded, from the layer inputs seen on --calibrate)', 'nearest')
    .option('--weight-method <minmax|mse>', 'weight scales: minmax (absolute maximum), or mse (the clipped range with the least squared error, at the layer output when --calibrate is given)', 'minmax')
    .option('--bias-correction', "subtract each layer's mean output shift caused by its quantized weights from its bias (needs --calibrate)")
    .option('--calibrate <dir>', 'calibration inputs: one sub-folder per batch holding <input>.npy for each model input, or, for a one-input model, one .npy per batch')
    .option('--method <name>', 'calibration: minmax, moving-average, percentile, entropy or mse', 'minmax')
    .option('--format <qdq|qop>', 'qdq: QuantizeLinear/DequantizeLinear around float ops; qop: QLinearConv, QLinearMatMul, MatMulInteger', 'qdq')
    .option('--ops <types>', 'op types to quantize, comma-separated (default Conv,MatMul,Gemm; static qdq also takes Add, Mul, pooling ...)')
    .option('--exclude <names>', 'node names or op types to keep in float (comma-separated or repeated)', collect, [])
    .option('--nodes <names>', 'quantize only these nodes (comma-separated)')
    .option('--weight-only <names>', 'nodes whose weights only are quantized, whatever --activations says', collect, [])
    .option('--precision <node=p>', 'per-node precision float|int8|int4 (comma-separated or repeated): mixed precision', collect, [])
    .option('--budget <error>', 'choose per-layer precision automatically: keep the most sensitive layers higher (int4 -> int8, or int8 -> float) until the relative output error on the --calibrate inputs is at most <error> (or sqnr:<dB>)')
    .option('--no-fold-batchnorm', 'keep BatchNormalization nodes (they are folded into the Conv/Gemm before them by default)')
    .option('--keep-metadata', "keep nodes' metadata_props and doc strings (exporters' stack traces; stripped by default)")
    .option('--backend <name>', 'where calibration and --budget run the model: js or wasm', 'wasm')
    .option('--force', 'overwrite the input if -o names it')
    .option('--json', 'one JSON document for scripts')
    .action(async (input: string, options: QuantizeCommandOptions) => {
      const out = options.output!;
      if (!out.endsWith('.onnx')) throw bad(`the output '${out}' must be an .onnx file`);
      if (resolve(input) === resolve(out) && !options.force) throw bad(`'${out}' is the input; pass --force to overwrite it`);
      const method = oneOf('--method', options.method, ['minmax', 'moving-average', 'percentile', 'entropy', 'mse'] as const) as CalibrationMethod;
      const base = quantizeOptions(options);
      const model = await loadModel(input);
      const layerInputs = usesLayerInputs(base, options.calibrate);
      const needsData = base.mode === 'static' || options.budget !== undefined || layerInputs;
      if (needsData && options.calibrate === undefined) throw bad('--budget needs --calibrate <dir of .npy>: its batches are the inputs the error is measured on');
      if (needsData) await useBackend(options.backend);
      let quantize: QuantizeOnnxOptions = base;
      if (base.mode === 'static') {
        const ranges = await calibrateOnnx(model, batchesFrom(options.calibrate!, model, options.backend), { method, backend: options.backend });
        quantize = { ...quantize, activationRanges: ranges };
      }
      if (layerInputs) {
        const layerStatistics = await calibrateLayerInputs(model, batchesFrom(options.calibrate!, model, options.backend), { backend: options.backend });
        quantize = { ...quantize, layerStatistics };
      }
      let result: { model: ModelProto; report: readonly LayerReport[] };
      let budget: Record<string, unknown> | undefined;
      if (options.budget !== undefined) {
        const target = budgetOf(options.budget);
        const evaluationFeeds: Record<string, Feed>[] = [];
        for await (const batch of batchesFrom(options.calibrate!, model, options.backend)) evaluationFeeds.push(batch);
        const low = base.weights ?? 'int8';
        const chosen = await mixedPrecision(model, {
          evaluationFeeds, budget: target, backend: options.backend, quantizeOptions: quantize, low, high: low === 'int4' ? 'int8' : 'float',
        });
        result = { model: chosen.model, report: chosen.report };
        budget = { ...target, met: chosen.budgetMet, relativeError: chosen.error.relativeError, sqnrDb: chosen.error.sqnrDb, promoted: chosen.promoted };
      } else result = quantizeOnnx(model, quantize);
      await saveModel(out, result.model);
      const before = await fileSize(input);
      const after = await fileSize(out);
      const totals = layerTotals(result.report);
      if (options.json) {
        output.json({ input, output: out, bytesBefore: before, bytesAfter: after, ratio: before / after, mode: quantize.mode, format: quantize.format, totals, ...(budget ? { budget } : {}), layers: result.report });
        return;
      }
      output.line(`${input} (${formatBytes(before)}) -> ${out} (${formatBytes(after)}): ${(before / after).toFixed(2)}x smaller; ${describe(quantize)}`);
      if (budget) output.line(`budget ${options.budget}: ${budget.met ? 'met' : 'NOT met'}, relative error ${(budget.relativeError as number).toPrecision(3)}, SQNR ${(budget.sqnrDb as number).toFixed(1)} dB; promoted ${(budget.promoted as string[]).join(', ') || 'none'}`);
      if (result.report.length === 0) output.line('no layer to quantize: the model has no Conv, MatMul or Gemm with a constant weight');
      else output.line(formatLayerTable(result.report));
    });
}

function describe(options: QuantizeOnnxOptions): string {
  const weights = `${options.weights ?? 'int8'} weights ${typeof options.granularity === 'number' ? `in blocks of ${options.granularity}` : options.granularity ?? (options.weights === 'int4' ? 'in blocks of 32' : 'per channel')}`;
  const activations = options.mode === 'static' ? `static ${options.activationType ?? 'uint8'} activations, ${options.format ?? 'qdq'}` : options.mode === 'dynamic' ? 'dynamic activations' : 'float activations';
  const rounding = [
    options.affineWeights && 'affine',
    options.weightMethod === 'mse' && 'MSE scales',
    options.weightRounding === 'gptq' && 'GPTQ-rounded',
    options.biasCorrection && 'bias-corrected',
  ].filter(Boolean).join(', ');
  return `${weights}${rounding ? ` (${rounding})` : ''}, ${activations}`;
}
