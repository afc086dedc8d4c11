import { MinnowError } from '@minnow/core';
import { MODEL, TENSOR, TENSOR_STORAGE_FIELDS, type FieldSpec, type MessageSpec } from './schema.js';
import { isExternal, tensorValues } from './tensor.js';
import type { ModelProto, TensorProto } from './types.js';

type Obj = Record<string, unknown>;

/** Equal as values: NaN equals NaN (any payload), but 0 and -0 differ. */
function sameScalar(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));
  if (a instanceof Uint8Array && b instanceof Uint8Array) return sameBytes(a, b);
  return a === b;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function show(v: unknown): string {
  if (v instanceof Uint8Array) return `<${v.length} bytes>`;
  if (typeof v === 'bigint') return `${v}n`;
  return JSON.stringify(v) ?? String(v);
}

/** The first index where two array-likes differ, or -1. */
function firstDifference(a: ArrayLike<unknown>, b: ArrayLike<unknown>): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (!sameScalar(a[i], b[i])) return i;
  return a.length === b.length ? -1 : n;
}

function concat(parts: Uint8Array[] | undefined): Uint8Array {
  if (!parts || parts.length === 0) return new Uint8Array(0);
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Both tensors' decoded values, or undefined when either is external and not loaded, or does not decode. */
function decodedPair(a: TensorProto, b: TensorProto): [ArrayLike<unknown>, ArrayLike<unknown>] | undefined {
  if (isExternal(a) || isExternal(b)) return undefined;
  try {
    return [tensorValues(a), tensorValues(b)];
  } catch (error) {
    if (error instanceof MinnowError) return undefined;
    throw error;
  }
}

function diffField(f: FieldSpec, a: unknown, b: unknown, path: string): string | undefined {
  // A repeated field has no presence: absent and empty mean the same.
  if (f.repeated) {
    a ??= [];
    b ??= [];
  }
  if (a === undefined || b === undefined) return a === b ? undefined : `${path}: ${show(a)} vs ${show(b)}`;
  if (f.kind === 'message') {
    const sub = f.message!();
    if (!f.repeated) return diffMessage(sub, a as Obj, b as Obj, path);
    const la = a as Obj[];
    const lb = b as Obj[];
    if (la.length !== lb.length) return `${path}: ${la.length} vs ${lb.length} entries`;
    for (let i = 0; i < la.length; i++) {
      const d = diffMessage(sub, la[i], lb[i], `${path}[${i}]`);
      if (d !== undefined) return d;
    }
    return undefined;
  }
  if (f.repeated) {
    const i = firstDifference(a as ArrayLike<unknown>, b as ArrayLike<unknown>);
    return i < 0 ? undefined : `${path}[${i}]: ${show((a as ArrayLike<unknown>)[i])} vs ${show((b as ArrayLike<unknown>)[i])}`;
  }
  return sameScalar(a, b) ? undefined : `${path}: ${show(a)} vs ${show(b)}`;
}

/**
 * The first difference in meaning between two messages of `spec`, as a path and the two values, or
 * undefined when they mean the same. Tensors compare by decoded values, not by where those values
 * are stored (raw_data, typed fields, or external data once loaded); a tensor that cannot be decoded
 * (external and not loaded, or malformed) compares by its stored fields. Unknown fields compare as bytes.
 */
export function diffMessage(spec: MessageSpec, a: Obj, b: Obj, path = spec.name): string | undefined {
  const values = spec === TENSOR ? decodedPair(a as unknown as TensorProto, b as unknown as TensorProto) : undefined;
  for (const f of spec.fields) {
    if (values && TENSOR_STORAGE_FIELDS.has(f.name)) continue;
    const d = diffField(f, a[f.name], b[f.name], `${path}.${f.name}`);
    if (d !== undefined) return d;
  }
  if (values) {
    const [va, vb] = values;
    const i = firstDifference(va, vb);
    if (i >= 0) return `${path}: values differ at element ${i} (${show(va[i])} vs ${show(vb[i])}; ${va.length} vs ${vb.length} elements)`;
  }
  if (!sameBytes(concat(a.unknownFields as Uint8Array[]), concat(b.unknownFields as Uint8Array[]))) return `${path}: unknown fields differ`;
  return undefined;
}

/** The first difference in meaning between two models (see diffMessage), or undefined. */
export function diffModels(a: ModelProto, b: ModelProto): string | undefined {
  return diffMessage(MODEL, a as unknown as Obj, b as unknown as Obj, 'model');
}

/** The first difference in meaning between two tensors, or undefined. */
export function diffTensors(a: TensorProto, b: TensorProto): string | undefined {
  return diffMessage(TENSOR, a as unknown as Obj, b as unknown as Obj, 'tensor');
}
