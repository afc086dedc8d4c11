import { MinnowError } from './errors.js';

/**
 * Tensors on WASM and GPU backends hold memory the garbage collector cannot see, so minnow counts
 * live tensors and offers scopes that dispose what a function created.
 */

export interface Disposable {
  readonly isDisposed: boolean;
  dispose(): void;
}

// A count, not a Set: every tensor passes through here twice, and putting an object in a Set
// gives it an identity hash (an executed ONNX node makes several tensors).
let live = 0;
// The tensors of every open scope, innermost last, in creation order; `marks[k]` is where scope k's
// begin. One flat stack rather than an array per scope: a scope opens for every op the ONNX
// executor runs, and most hold a handful of tensors, so allocation matters more than lookup.
const stack: (Disposable | undefined)[] = [];
const marks: number[] = [];

/** Called by Tensor's constructor: the tensor is alive and belongs to the innermost scope. */
export function trackTensor(t: Disposable): void {
  live++;
  if (marks.length > 0) stack.push(t);
}

/** Called by Tensor.dispose(). */
export function untrackTensor(_t: Disposable): void {
  live--;
}

export function liveTensors(): number {
  return live;
}

/**
 * Opens a scope by hand: what is created until the matching exitScope belongs to it. For hot loops
 * that cannot afford a closure per call (the ONNX executor opens one per node); scope(fn) is the
 * safe form. Returns a token for exitScope.
 */
export function enterScope(): number {
  marks.push(stack.length);
  return marks.length;
}

/**
 * Closes the scope `token` names: disposes every tensor created in it except those in `kept`, which
 * move to the enclosing scope. Scopes opened inside it and left open (a failure between enter and
 * exit) close with it. On a failure pass no `kept`, disposing all.
 */
export function exitScope(token: number, kept: readonly Disposable[] = []): void {
  if (token < 1 || token > marks.length) throw new MinnowError('INTERNAL', `exitScope: scope ${token} is not open (${marks.length} open)`);
  const start = marks[token - 1];
  marks.length = token - 1;
  const hasParent = token > 1;
  // Many kept tensors (a scope returning a model's parameters): a Set beats the linear search.
  const keptSet = kept.length > 16 ? new Set(kept) : undefined;
  // Kept tensors are compacted in place: they now belong to the parent scope, whose part of the stack this becomes.
  let w = start;
  for (let i = start; i < stack.length; i++) {
    const t = stack[i];
    if (t === undefined) continue;
    if (keptSet !== undefined ? keptSet.has(t) : isKept(t, kept)) {
      if (hasParent) stack[w++] = t;
    } else if (!t.isDisposed) t.dispose();
  }
  stack.length = w;
}

function isKept(t: Disposable, kept: readonly Disposable[]): boolean {
  for (let i = 0; i < kept.length; i++) if (kept[i] === t) return true;
  return false;
}

/**
 * Runs `fn` and disposes every tensor created inside it except those in its result (a tensor, or
 * tensors anywhere in returned arrays and plain objects) and those passed to `keep`. Kept tensors
 * move to the enclosing scope. `fn` must be synchronous: an async function would let its tensors
 * escape the scope, so it is refused.
 */
export function scope<T>(fn: () => T): T {
  const token = enterScope();
  let result: T;
  try {
    result = fn();
  } catch (error) {
    exitScope(token);
    throw error;
  }
  if (result instanceof Promise) {
    exitScope(token);
    throw new MinnowError('ASYNC_IN_SCOPE', 'scope(fn): fn returned a Promise; scopes are synchronous (await outside, or dispose tensors yourself)');
  }
  const kept: Disposable[] = [];
  collectDisposables(result, kept, 0);
  exitScope(token, kept);
  return result;
}

/** Exempts a tensor from every enclosing scope; the caller disposes it. */
export function keep<T extends Disposable>(t: T): T {
  for (let i = stack.length - 1; i >= 0; i--) {
    if (stack[i] === t) {
      stack[i] = undefined;
      break;
    }
  }
  return t;
}

function collectDisposables(value: unknown, into: Disposable[], depth: number): void {
  if (depth > 8 || value === null || typeof value !== 'object') return;
  if (isDisposable(value)) {
    into.push(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectDisposables(v, into, depth + 1);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collectDisposables(v, into, depth + 1);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectDisposables(v, into, depth + 1);
  }
}

function isDisposable(value: object): value is Disposable {
  return 'dispose' in value && 'isDisposed' in value;
}

/**
 * Runs `fn` and throws a LEAK error when it leaves more live tensors than it found. For tests and
 * for users property-testing their own ops.
 */
export async function assertNoLeaks<T>(fn: () => T | Promise<T>): Promise<T> {
  const before = liveTensors();
  const result = await fn();
  const after = liveTensors();
  if (after !== before) {
    throw new MinnowError('LEAK', `${after - before} tensor(s) leaked (live before: ${before}, after: ${after})`);
  }
  return result;
}
