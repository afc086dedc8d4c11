/**
 * Every failure a user can cause is a MinnowError with a stable `code`. Codes are part of the public
 * API: tests and callers match on them, so never rename one.
 */
export type MinnowErrorCode =
  | 'SHAPE_MISMATCH' // shapes that cannot be combined (broadcast, matmul, concat ...)
  | 'INVALID_SHAPE' // a shape that is malformed in itself (negative dim, wrong element count)
  | 'DTYPE_MISMATCH' // operands whose dtypes cannot be combined
  | 'UNSUPPORTED_DTYPE' // an op that does not accept this dtype at all
  | 'INVALID_ARGUMENT' // an attribute or option with a bad value
  | 'OUT_OF_RANGE' // an axis, index or slice bound outside the tensor
  | 'DISPOSED' // use of a tensor after dispose()
  | 'BACKEND_NOT_INITIALIZED' // a backend that is registered but was not `await init(name)`ed
  | 'UNKNOWN_BACKEND' // a backend name nobody registered
  | 'BACKEND_MISMATCH' // operands that live on different backends
  | 'SYNC_READ_UNSUPPORTED' // dataSync() on a backend that can only read asynchronously
  | 'ASYNC_IN_SCOPE' // scope(fn) or noGrad(fn) given an async function
  | 'BACKEND_UNAVAILABLE' // a backend that cannot run here in the form asked for (e.g. strict GPU mode on a CPU fallback)
  | 'PRECISION_LIMIT' // a value or result beyond what a backend holds exactly (e.g. int32 beyond 2^24 in GPU float textures)
  | 'LEAK' // tensors left alive by code that promised not to leave any
  | 'NO_GRAPH' // backward() on a tensor that does not require grad (no recorded op leads to it)
  | 'GRAPH_FREED' // backward() through a graph an earlier backward() already freed
  | 'CORRUPT_FILE' // file contents that do not parse (truncated, wrong magic, bad lengths); the message names the file and byte offset
  | 'UNSUPPORTED_OP' // an operator (or a form of one: opset, attribute, layer type) minnow does not implement; the message names it and where it is
  | 'INVALID_MODEL' // a model graph that breaks its format's rules (a cycle, an undefined input, an initialiser whose size disagrees with its dims)
  | 'DATASET_MISSING' // a data set that is not installed here; the message names the package to install
  | 'INTERNAL'; // a bug in minnow: please report it

export class MinnowError extends Error {
  readonly code: MinnowErrorCode;

  constructor(code: MinnowErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MinnowError';
    this.code = code;
  }
}

/** Formats a shape the way every message shows it: `[2,3,4]`. */
export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}
