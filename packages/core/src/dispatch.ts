import { recordOp } from './autograd/graph.js';
import type { BufferView } from './backend.js';
import type { DType } from './dtype.js';
import { assertDType } from './dtype.js';
import { MinnowError } from './errors.js';
import { PRIMITIVES, type KernelOp, type PrimitiveAttrs } from './ops/table.js';
import { contiguousStrides, sizeOf } from './shape.js';
import { Storage, Tensor } from './tensor.js';

/**
 * The one road from an op to a backend kernel: checks that operands are alive and share a backend,
 * allocates the output, runs the kernel, wraps the result, and records the op on the autograd tape
 * when an input requires grad. Op wrappers (ops/primitives.ts) own each primitive's shape and dtype
 * rules and hand this function views already broadcast; `inputs` are the tensors before
 * broadcasting, which is what gradient rules receive.
 */
export function runKernel<K extends KernelOp>(
  op: K,
  inputs: readonly Tensor[],
  attrs: PrimitiveAttrs[K],
  output: { shape: readonly number[]; dtype: DType },
  views?: readonly BufferView<unknown>[],
): Tensor {
  const spec = PRIMITIVES[op];
  if (inputs.length !== spec.arity) {
    throw new MinnowError('INTERNAL', `${op}: expected ${spec.arity} inputs, got ${inputs.length}`);
  }
  const backend = sameBackend(op, inputs);
  assertDType(op, inputs[0].dtype, spec.dtypes);
  // Plain loops, and the output's shape frozen once and shared with its strides by the view and
  // the tensor: this runs for every op, and for small tensors its allocations cost as much as the kernel.
  let inputViews = views;
  if (inputViews === undefined) {
    const made = new Array<BufferView<unknown>>(inputs.length);
    for (let i = 0; i < inputs.length; i++) made[i] = inputs[i].view();
    inputViews = made;
  } else {
    for (let i = 0; i < inputs.length; i++) if (inputs[i].isDisposed) inputs[i].view(); // throws DISPOSED naming the tensor
  }
  const shape = Object.isFrozen(output.shape) ? output.shape : Object.freeze(output.shape.slice());
  const strides = Object.freeze(contiguousStrides(shape));
  const storage = Storage.allocate(backend, output.dtype, sizeOf(shape));
  const outView: BufferView<unknown> = { buffer: storage.buffer, dtype: output.dtype, shape, strides, offset: 0 };
  try {
    backend.kernels[op](inputViews, outView, attrs);
  } catch (error) {
    backend.free(storage.buffer);
    throw error;
  }
  const result = new Tensor(storage, shape, strides);
  recordOp(op, inputs, attrs, result);
  return result;
}

function sameBackend(op: string, inputs: readonly Tensor[]) {
  const backend = inputs[0].backend;
  for (let i = 1; i < inputs.length; i++) {
    const t = inputs[i];
    if (t.backend !== backend) {
      throw new MinnowError(
        'BACKEND_MISMATCH',
        `${op}: operands live on backends "${backend.name}" and "${t.backend.name}"; move one with await tensor.to("${backend.name}")`,
      );
    }
  }
  return backend;
}
