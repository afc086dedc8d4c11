import { MinnowError, type Tensor } from '@minnow/core';
import { Conv2d, Dropout, Linear, Module, type AnyModule } from '@minnow/nn';
import type { LayerReport } from '../types.js';
import { convertLayer } from './convert.js';
import type { ActivationMode } from './integer-path.js';
import { isQuantizable, resolveWeightScheme, selects, sourceLayer, type WeightQuantization } from './layer-spec.js';
import { QatLayer } from './qat-layer.js';
import type { QuantizedModuleResult } from './quantize-module.js';
import { checkSchemeFits } from './quantized-layer.js';
import { rebuild } from './rebuild.js';

export interface QatOptions {
  /** As quantizeModule: 'int8' per output channel, 'int4' blocked, or a QuantScheme. */
  readonly weights: WeightQuantization;
  readonly blockSize?: number;
  /** As quantizeModule; 'static' learns the input ranges as moving averages over training batches. */
  readonly activations: ActivationMode;
  /** Straight-through estimator of the weights: 'clipped' (default) or 'lsq' (learned step sizes). */
  readonly ste?: 'clipped' | 'lsq';
  /** 'static': weight of each training batch in the input ranges' moving average (default 0.01). */
  readonly averagingConstant?: number;
  readonly include?: readonly string[];
  readonly exclude?: readonly string[];
  /** Seeds the QAT model's own Dropout layers (they replay differently from the source's). Default 0. */
  readonly seed?: number;
}

/**
 * Prepares `model` for quantization-aware training: a new model whose Linear and Conv2d layers
 * (BatchNorm folded in) are QatLayers, with their own copies of the weights, so the float model
 * stays intact to teach its quantized self:
 *
 * ```ts
 * const student = prepareQat(floatModel, { weights: 'int4', activations: 'none' });
 * distill({ teacher: floatModel, student, data, epochs: 1, optimizer: (p) => new Adam(p, { lr: 1e-4 }) });
 * const { module, report } = convertQat(student);
 * ```
 *
 * Dropout layers get fresh copies (a shared one would follow the student's training mode inside
 * the teacher); activations, pooling and Flatten are shared. A layer with parameters that cannot
 * be copied (one inside a container other than Sequential, a LayerNorm, a BatchNorm that does not
 * follow a Linear or Conv2d) is an UNSUPPORTED_OP error: training it would train the float model too.
 */
export function prepareQat(model: AnyModule, options: QatOptions): Module<[Tensor], Tensor> {
  if (!(model instanceof Module)) throw new MinnowError('INVALID_ARGUMENT', 'prepareQat: model must be a Module');
  const scheme = resolveWeightScheme(options?.weights, options.blockSize);
  const ste = options.ste ?? 'clipped';
  if (ste !== 'clipped' && ste !== 'lsq') throw new MinnowError('INVALID_ARGUMENT', `prepareQat: ste must be 'clipped' or 'lsq', got ${JSON.stringify(ste)}`);
  checkSchemeFits('prepareQat', scheme, options.activations);
  if (!scheme.symmetric) throw new MinnowError('INVALID_ARGUMENT', `prepareQat: weights must be symmetric (zero point 0), got an affine ${scheme.type} scheme`);
  let dropouts = 0;
  const { module } = rebuild('prepareQat', model, (m) => isQuantizable(m) || m instanceof Dropout, (visit) => {
    if (visit.module instanceof Dropout) {
      return { module: new Dropout(visit.module.p, { seed: (options.seed ?? 0) + dropouts++ }), consumedNext: false };
    }
    const source = sourceLayer(visit);
    const quantized = selects(visit.path, visit.module.constructor.name, options.include, options.exclude);
    const layer = new QatLayer(source.spec, source.weight, source.bias, {
      scheme: quantized ? scheme : null,
      activations: quantized ? options.activations : 'none',
      ste,
      averagingConstant: options.averagingConstant ?? 0.01,
    });
    return { module: layer, consumedNext: source.foldedNext };
  });
  const own = new Set(module.namedModules().filter(([, m]) => m instanceof QatLayer || m instanceof Dropout).map(([, m]) => m));
  const sourceParameters = new Set(model.parameters());
  const shared = module.namedModules().filter(([, m]) => !own.has(m) && m.parameters().some((p) => sourceParameters.has(p)) && !m.namedChildren().length);
  if (shared.length > 0) {
    module.dispose();
    throw new MinnowError('UNSUPPORTED_OP', `prepareQat: ${shared.map(([path, m]) => `${m.constructor.name} "${path}"`).join(', ')} would be shared with the float model (only Linear and Conv2d, with the BatchNorm after them, are copied), so QAT would train the float model too`);
  }
  return module;
}

/**
 * The quantized model of a QAT model: each QatLayer becomes a QuantizedLinear or QuantizedConv2d
 * with the weights as trained (scales: learned with LSQ, max |w| per group otherwise) and, for
 * static activations, the input ranges learned in training. Excluded layers become plain Linear
 * and Conv2d copies. The QAT model is not changed.
 */
export function convertQat(model: AnyModule): QuantizedModuleResult {
  const report: LayerReport[] = [];
  const { module, unreachable } = rebuild('convertQat', model, (m) => m instanceof QatLayer, (visit) => {
    const layer = visit.module as QatLayer;
    if (!layer.scheme) {
      report.push({ layer: layer.spec.path, op: layer.spec.op, precision: 'float', reason: 'excluded (include/exclude)' });
      return { module: floatCopy(layer), consumedNext: false };
    }
    const scale = layer.weightScale();
    try {
      const input = layer.activations === 'static' ? layer.inputParams() : undefined;
      const converted = convertLayer({
        spec: layer.spec, weight: layer.weight, bias: layer.bias, scheme: layer.scheme, activations: layer.activations, input, scale,
      });
      report.push(converted.report);
      return { module: converted.module, consumedNext: false };
    } finally {
      scale.dispose();
    }
  });
  return { module, report: [...report, ...unreachable] };
}

/** A plain Linear or Conv2d holding a QatLayer's float weights (the constructor's random initial values are overwritten). */
function floatCopy(layer: QatLayer): Module<[Tensor], Tensor> {
  const { weight, bias, spec } = layer;
  const where = { seed: 0, bias: bias !== null, backend: weight.backend.name, dtype: weight.dtype === 'float64' ? 'float64' as const : 'float32' as const };
  const copy = spec.kind === 'Linear'
    ? new Linear(weight.shape[1], weight.shape[0], where)
    : new Conv2d(weight.shape[1] * spec.geometry!.groups, weight.shape[0], [weight.shape[2], weight.shape[3]], { ...where, ...spec.geometry! });
  copy.loadStateDict(bias ? { weight, bias } : { weight });
  return copy;
}
