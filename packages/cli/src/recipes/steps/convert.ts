import { toDenseInitializers, toSparseInitializers } from '@minnow/compress';
import type { ConvertStep } from '../recipe.js';
import type { StepContext, StepOutcome } from './context.js';

/**
 * How the ONNX file stores its weights: float32 initialisers that are mostly zeros (after pruning)
 * as ONNX sparse initialisers (values and int64 indices, which onnxruntime and minnow load), or,
 * with `sparse: false`, every sparse initialiser written out densely again.
 */
export function convertStep(options: ConvertStep, context: StepContext): StepOutcome {
  if (!options.sparse) {
    const had = context.model.graph?.sparseInitializer.length ?? 0;
    return { model: toDenseInitializers(context.model), note: `${had} sparse initialiser${had === 1 ? '' : 's'} written densely` };
  }
  const { model, initializers } = toSparseInitializers(context.model, { minSparsity: options.minSparsity, minElements: options.minElements });
  const converted = initializers.filter((i) => i.converted);
  const saved = converted.reduce((n, i) => n + i.denseBytes - i.bytes, 0);
  const warnings = converted.length === 0 && initializers.length > 0
    ? [`${context.where}: no float weight is ${Math.round(options.minSparsity * 100)}% zeros (after quantization the weights are integers, which stay dense): nothing to store sparse`]
    : [];
  return {
    model,
    note: `${converted.length} of ${initializers.length} float initialisers stored sparse (${saved.toLocaleString('en-US')} bytes saved)`,
    warnings,
    details: { initializers },
  };
}
