import { MinnowError } from './errors.js';

/**
 * Tensors on WASM and GPU backends hold memory the garbage collector cannot see, so minnow counts
 * live tensors and offers scopes that dispose what a function created.
 */

export interface Disposable {
  readonly isDisposed: boolean;
  dispose(): void;
}

const live = new Set<Disposable>();
// Each open scope's tensors, in creation order. Arrays, not Sets: a scope opens for every op the
// ONNX executor runs, and most hold a handful of tensors, so allocation matters more than lookup.
const scopes: Disposable[][] = [];

/** Called by Tensor's constructor: the tensor is alive and belongs to the innermost scope. */
export function trackTensor(t: Disposable): void {
  live.add(t);
  scopes[scopes.length - 1]?.push(t);
}

/** Called by Tensor.dispose(). */
export function untrackTensor(t: Disposable): void {
  live.delete(t);
}

export function liveTensors(): number {
  return live.size;
}

/**
 * Runs `fn` and disposes every tensor created inside it except those in its result (a tensor, or
 * tensors anywhere in returned arrays and plain objects) and those passed to `keep`. Kept tensors
 * move to the enclosing scope. `fn` must be synchronous: an async function would let its tensors
 * escape the scope, so it is refused.
 */
export function scope<T>(fn: () => T): T {
  const own: Disposable[] = [];
  scopes.push(own);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const t of own) if (!t.isDisposed) t.dispose();
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    for (const t of own) if (!t.isDisposed) t.dispose();
    throw new MinnowError('ASYNC_IN_SCOPE', 'scope(fn): fn returned a Promise; scopes are synchronous (await outside, or dispose tensors yourself)');
  }
  const kept: Disposable[] = [];
  collectDisposables(result, kept, 0);
  // Most scopes return one or two tensors: a linear search beats building a Set; many go in a Set.
  const keptSet = kept.length > 16 ? new Set(kept) : undefined;
  const parent = scopes[scopes.length - 1];
  for (const t of own) {
    if ((keptSet ? keptSet.has(t) : kept.includes(t)) || keptForever.has(t)) parent?.push(t);
    else if (!t.isDisposed) t.dispose();
  }
  return result;
}

const keptForever = new WeakSet<Disposable>();

/** Exempts a tensor from every enclosing scope; the caller disposes it. */
export function keep<T extends Disposable>(t: T): T {
  keptForever.add(t);
  for (const s of scopes) {
    const at = s.indexOf(t);
    if (at >= 0) s.splice(at, 1);
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
  return live.has(value as Disposable) || ('dispose' in value && 'isDisposed' in value);
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
