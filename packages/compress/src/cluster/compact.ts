import { MinnowError, allocateArray, formatShape, fromArray, isFloatDType, type Tensor } from '@minnow/core';
import type { CompactEncoding, CompactTensor, CompactTensorInput } from '@minnow/formats';
import { Module, type AnyModule } from '@minnow/nn';

/**
 * A Module's state to and from @minnow/formats' compact container, the last stage of Deep
 * Compression. Every parameter and buffer is stored by its state-dict name with encoding 'auto':
 * clustered (and pruned) weights take the sparse + clustered encoding, anything else (biases,
 * unclustered layers) stays raw float32. Integer buffers (BatchNorm's batch count) are stored as
 * float32, which holds them exactly up to 2^24.
 */

/** The model's state as compact-container tensors (values copied off the backend), in state-dict order. */
export function compactTensorsOf(model: AnyModule, encoding: CompactEncoding | 'auto' = 'auto'): Map<string, CompactTensorInput> {
  if (!(model instanceof Module)) throw new MinnowError('INVALID_ARGUMENT', 'compactTensorsOf: model must be a Module');
  const out = new Map<string, CompactTensorInput>();
  for (const [name, t] of model.stateDict()) {
    const data = t.dataSync();
    const values = data instanceof Float32Array ? data : new Float32Array(data.length);
    if (!(data instanceof Float32Array)) {
      for (let i = 0; i < data.length; i++) {
        const v = Number(data[i]);
        values[i] = v;
        if (!isFloatDType(t.dtype) && values[i] !== v) {
          throw new MinnowError('INVALID_ARGUMENT', `compactTensorsOf: '${name}' (${t.dtype}) holds ${v} at element ${i}, which float32 cannot hold exactly`);
        }
      }
    }
    // A float64 parameter is stored as float32: exact for clustered weights, whose centroids are float32.
    out.set(name, { shape: [...t.shape], values, encoding });
  }
  return out;
}

/**
 * Loads decoded compact tensors into `model` (loadStateDict: strict, shapes checked, nothing
 * written unless everything fits), each converted to its target's dtype on its backend.
 */
export function loadCompact(model: AnyModule, tensors: ReadonlyMap<string, CompactTensor>): void {
  if (!(model instanceof Module)) throw new MinnowError('INVALID_ARGUMENT', 'loadCompact: model must be a Module');
  const targets = model.stateDict();
  const made: Tensor[] = [];
  try {
    const entries = new Map<string, Tensor>();
    for (const [name, t] of tensors) {
      const target = targets.get(name);
      if (!target) {
        entries.set(name, fromArray(t.values, t.shape));
        made.push(entries.get(name) as Tensor);
        continue;
      }
      if (t.values.length !== target.size) {
        throw new MinnowError('SHAPE_MISMATCH', `loadCompact: '${name}' is ${formatShape(t.shape)} in the file, ${formatShape(target.shape)} in the model`);
      }
      const values = allocateArray(target.dtype, t.values.length);
      for (let i = 0; i < t.values.length; i++) (values as Float32Array)[i] = t.values[i];
      const tensor = fromArray(values, t.shape, { dtype: target.dtype, backend: target.backend.name });
      made.push(tensor);
      entries.set(name, tensor);
    }
    model.loadStateDict(entries);
  } finally {
    for (const t of made) t.dispose();
  }
}
