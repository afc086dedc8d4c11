import { MinnowError, type Tensor } from '@minnow/core';
import { Module, type AnyModule } from '@minnow/nn';
import { calibrateModule, moduleTensorName, type BatchSource, type ModuleBatch } from '../calibrate.js';
import type { CalibrationOptions, LayerReport, TensorRange } from '../types.js';
import { paramsOfRange } from './activation.js';
import { convertLayer } from './convert.js';
import type { ActivationMode } from './integer-path.js';
import { isQuantizable, resolveWeightScheme, selects, sourceLayer, type WeightQuantization } from './layer-spec.js';
import { checkSchemeFits } from './quantized-layer.js';
import { rebuild } from './rebuild.js';

export interface ModuleQuantizationOptions {
  /** 'int8' (symmetric, per output channel), 'int4' (symmetric, blocks along the input), or a QuantScheme. */
  readonly weights: WeightQuantization;
  /** 'int4' blocks (default 32). */
  readonly blockSize?: number;
  /**
   * 'static': int8 with ranges calibrated on `calibration`; 'dynamic': int8 with each batch's own
   * range; 'none': weight-only. Quantized activations run on integer kernels; they need weights
   * quantized per tensor or per output channel.
   */
  readonly activations: ActivationMode;
  /** 'static': batches of model inputs (tensors you own, or a DataLoader, whose batches are disposed once used). */
  readonly calibration?: BatchSource<ModuleBatch>;
  /** 'static': how each layer's input range is estimated (default min/max), as calibrateModule takes it. */
  readonly calibrationOptions?: CalibrationOptions;
  /** Quantize only these layers (module paths or class names, 'Linear', 'Conv2d'); default all. */
  readonly include?: readonly string[];
  /** Leave these layers float (module paths or class names). */
  readonly exclude?: readonly string[];
}

/** A quantized model and what happened to each Linear and Conv2d of the source. */
export interface QuantizedModuleResult {
  readonly module: Module<[Tensor], Tensor>;
  readonly report: LayerReport[];
}

/**
 * Post-training quantization of a module: every Linear and Conv2d (BatchNorm after it folded in
 * first) becomes a QuantizedLinear or QuantizedConv2d that runs on core's integer kernels, int8 x
 * int8 -> int32 then requantized, or weight-only for blocked int4. Static activation ranges come
 * from calibrateModule (../calibrate.ts) over the layers' inputs in the source model, which
 * folding leaves as they are. The source model is not changed; the result shares its other layers
 * (activations, pooling, ...) and disposes only what it created. Sequential trees are rebuilt;
 * layers inside other containers stay float and the report names them.
 *
 * ```ts
 * const { module, report } = await quantizeModule(model, { weights: 'int8', activations: 'static', calibration: loader });
 * const int4 = await quantizeModule(model, { weights: 'int4', blockSize: 32, activations: 'none' });
 * ```
 */
export async function quantizeModule(model: AnyModule, options: ModuleQuantizationOptions): Promise<QuantizedModuleResult> {
  if (!(model instanceof Module)) throw new MinnowError('INVALID_ARGUMENT', 'quantizeModule: model must be a Module');
  const scheme = resolveWeightScheme(options?.weights, options.blockSize);
  const activations = options.activations;
  checkSchemeFits('quantizeModule', scheme, activations);
  if (!scheme.symmetric) throw new MinnowError('INVALID_ARGUMENT', `quantizeModule: weights must be symmetric (zero point 0), got an affine ${scheme.type} scheme`);
  if (activations === 'static' && options.calibration === undefined) {
    throw new MinnowError('INVALID_ARGUMENT', 'quantizeModule: static activations need calibration data (options.calibration: tensors or a DataLoader of model inputs)');
  }
  const chosen = (path: string, m: AnyModule): boolean => isQuantizable(m) && selects(path, m.constructor.name, options.include, options.exclude);
  let ranges: Map<string, TensorRange> | null = null;
  if (activations === 'static') {
    ranges = await calibrateModule(model, options.calibration!, {
      ...(options.calibrationOptions ?? { method: 'minmax' }),
      target: { type: 'int8', symmetric: false },
      layers: chosen,
    });
  }
  const notes = new Map<string, LayerReport>();
  const { module, unreachable } = rebuild('quantizeModule', model, isQuantizable, (visit) => {
    if (!chosen(visit.path, visit.module)) {
      notes.set(visit.path, { layer: visit.path, op: visit.module.constructor.name, precision: 'float', reason: 'excluded (include/exclude)' });
      return null;
    }
    const source = sourceLayer(visit);
    try {
      const name = visit.path || source.spec.kind;
      let input;
      if (ranges) {
        const range = ranges.get(moduleTensorName(visit.path, 'input'));
        if (!range) throw new MinnowError('INVALID_ARGUMENT', `quantizeModule: layer "${name}" never ran on the calibration data, so its input range is unknown`);
        input = paramsOfRange(range, name);
      }
      const converted = convertLayer({ spec: source.spec, weight: source.weight, bias: source.bias, scheme, activations, input });
      notes.set(visit.path, converted.report);
      return { module: converted.module, consumedNext: source.foldedNext };
    } finally {
      source.weight.dispose();
      source.bias?.dispose();
    }
  });
  for (const r of unreachable) notes.set(r.layer, r);
  const order = model.namedModules().filter(([, m]) => isQuantizable(m)).map(([path]) => path);
  return { module, report: order.map((path) => notes.get(path)).filter((r): r is LayerReport => r !== undefined) };
}
