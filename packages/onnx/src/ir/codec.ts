import { MinnowError } from '@minnow/core';
import { ProtoReader } from '../wire/reader.js';
import { ProtoWriter } from '../wire/writer.js';
import { WIRE_TYPE, type FieldSpec, type MessageSpec } from './schema.js';

/** Deeper nesting than this is refused (protobuf's own default limit), so a crafted file cannot exhaust the stack. */
export const MAX_NESTING = 100;

type Obj = Record<string, unknown>;
type TypedRepeated = Float32Array | Float64Array | Int32Array | BigInt64Array | BigUint64Array;

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** A new message object: repeated (non-typed) fields start as empty arrays, everything else absent. */
export function emptyMessage(spec: MessageSpec): Obj {
  const obj: Obj = {};
  for (const f of spec.fields) if (f.repeated && !f.typed) obj[f.name] = [];
  return obj;
}

/** Values of one typed repeated field, in wire order, gathered while its message is read. */
class TypedParts {
  readonly parts: (TypedRepeated | (number | bigint)[])[] = [];
  private pending: (number | bigint)[] = [];
  count = 0;

  push(v: number | bigint): void {
    this.pending.push(v);
    this.count++;
  }

  block(a: TypedRepeated): void {
    if (this.pending.length > 0) this.parts.push(this.pending);
    this.pending = [];
    this.parts.push(a);
    this.count += a.length;
  }

  finish(make: (n: number) => TypedRepeated): TypedRepeated {
    if (this.pending.length > 0) this.parts.push(this.pending);
    if (this.parts.length === 1 && !Array.isArray(this.parts[0])) return this.parts[0] as TypedRepeated;
    const out = make(this.count) as unknown as { [i: number]: number | bigint; set(a: ArrayLike<number | bigint>, at: number): void };
    let at = 0;
    for (const p of this.parts) {
      if (Array.isArray(p)) for (const v of p) out[at++] = v;
      else {
        out.set(p as ArrayLike<number | bigint>, at);
        at += p.length;
      }
    }
    return out as unknown as TypedRepeated;
  }
}

const TYPED: Record<string, (n: number) => TypedRepeated> = {
  float: (n) => new Float32Array(n),
  double: (n) => new Float64Array(n),
  int32: (n) => new Int32Array(n),
  int64: (n) => new BigInt64Array(n),
  uint64: (n) => new BigUint64Array(n),
};

/** `an int64`, `a float` ...: the proto type a field holds, for error messages. */
function kindName(f: FieldSpec): string {
  const kind = f.kind === 'int64n' ? 'int64' : f.kind;
  return /^[aeiou]/.test(kind) ? `an ${kind}` : `a ${kind}`;
}

function readScalar(r: ProtoReader, f: FieldSpec): unknown {
  switch (f.kind) {
    case 'int32': return r.int32();
    case 'int64': return r.int64();
    case 'int64n': return r.int64Number(f.name);
    case 'uint64': return r.uint64();
    case 'bool': return r.bool();
    case 'float': return r.float();
    case 'double': return r.double();
    case 'string': return r.string();
    case 'bytes': return r.bytes();
    default: throw new MinnowError('INTERNAL', `onnx: readScalar of a ${f.kind} field`);
  }
}

/** A packed block of a typed field, decoded in one pass (fixed-size values straight from the bytes). */
function readPackedBlock(r: ProtoReader, f: FieldSpec): TypedRepeated {
  const at = r.pos;
  const outer = r.enter();
  const n = r.end - r.pos;
  let out: TypedRepeated;
  if (f.kind === 'float' || f.kind === 'double') {
    const size = f.kind === 'float' ? 4 : 8;
    if (n % size !== 0) throw r.error(`packed ${f.kind} field of ${n} bytes is not a multiple of ${size}`, at);
    const bytes = new Uint8Array(r.buf.subarray(r.pos, r.end));
    if (LITTLE_ENDIAN) out = size === 4 ? new Float32Array(bytes.buffer) : new Float64Array(bytes.buffer);
    else {
      const dv = new DataView(bytes.buffer);
      out = size === 4 ? new Float32Array(n / 4) : new Float64Array(n / 8);
      for (let i = 0; i < out.length; i++) out[i] = size === 4 ? dv.getFloat32(i * 4, true) : dv.getFloat64(i * 8, true);
    }
    r.pos = r.end;
  } else {
    const count = r.packedVarintCount(n);
    out = TYPED[f.kind](count);
    const write = out as unknown as { [i: number]: number | bigint };
    for (let i = 0; i < count; i++) write[i] = readScalar(r, f) as number | bigint;
  }
  r.leave(outer);
  return out;
}

/**
 * Reads the message in the reader's current range into `target` (protobuf merge semantics: a
 * scalar read again replaces, a repeated field appends). Unknown fields are kept as raw bytes.
 */
export function decodeInto(r: ProtoReader, spec: MessageSpec, target: Obj, depth: number): Obj {
  let typed: Map<FieldSpec, TypedParts> | undefined;
  while (r.pos < r.end) {
    const tagAt = r.pos;
    const number = r.tag();
    const f = spec.byNumber.get(number);
    if (f === undefined) {
      r.skip();
      ((target.unknownFields ??= []) as Uint8Array[]).push(r.buf.subarray(tagAt, r.pos));
      continue;
    }
    const wire = r.wireType;
    const expected = WIRE_TYPE[f.kind];
    const list = f.repeated && !f.typed ? (target[f.name] as unknown[]) : undefined;
    r.path.push(list ? `${f.name}[${list.length}]` : f.name);
    if (f.kind === 'message') {
      if (wire !== 2) throw r.error(`wire type ${wire} where a ${f.message!().name} message (wire type 2) belongs`, tagAt);
      if (depth >= MAX_NESTING) throw r.error(`messages nested more than ${MAX_NESTING} deep`, tagAt);
      const outer = r.enter();
      const sub = f.message!();
      const existing = list ? undefined : (target[f.name] as Obj | undefined);
      const child = decodeInto(r, sub, existing ?? emptyMessage(sub), depth + 1);
      r.leave(outer);
      if (list) list.push(child);
      else target[f.name] = child;
    } else if (f.typed) {
      const parts = (typed ??= new Map()).get(f) ?? new TypedParts();
      typed.set(f, parts);
      if (parts.count === 0 && target[f.name] !== undefined) parts.block(target[f.name] as TypedRepeated);
      if (wire === 2) parts.block(readPackedBlock(r, f));
      else if (wire === expected) parts.push(readScalar(r, f) as number | bigint);
      else throw r.error(`wire type ${wire} where ${kindName(f).replace(/^an? /, '')} values (wire type ${expected} or 2) belong`, tagAt);
    } else if (list) {
      if (expected === 2 || wire === expected) {
        if (wire !== expected) throw r.error(`wire type ${wire} where ${kindName(f)} (wire type ${expected}) belongs`, tagAt);
        list.push(readScalar(r, f));
      } else if (wire === 2) {
        const size = f.kind === 'float' ? 4 : f.kind === 'double' ? 8 : 0;
        r.repeated(size, () => list.push(readScalar(r, f)));
      } else throw r.error(`wire type ${wire} where ${kindName(f).replace(/^an? /, '')} values (wire type ${expected} or 2) belong`, tagAt);
    } else {
      if (wire !== expected) throw r.error(`wire type ${wire} where ${kindName(f)} (wire type ${expected}) belongs`, tagAt);
      target[f.name] = readScalar(r, f);
    }
    r.path.pop();
  }
  if (typed) for (const [f, parts] of typed) target[f.name] = parts.finish(TYPED[f.kind]);
  return target;
}

/** Decodes a whole buffer as one message of `spec`; `root` names it in error messages. */
export function decodeMessage<T>(bytes: Uint8Array, spec: MessageSpec, root = spec.name): T {
  const r = new ProtoReader(bytes, root);
  return decodeInto(r, spec, emptyMessage(spec), 0) as T;
}

/** Called on every message before it is written; returns the message to write in its place. */
export type MessageHook = (spec: MessageSpec, message: Obj) => Obj;

function invalid(spec: MessageSpec, f: FieldSpec, why: string): MinnowError {
  return new MinnowError('INVALID_ARGUMENT', `onnx: cannot write ${spec.name}.${f.name}: ${why}`);
}

function writeScalar(w: ProtoWriter, spec: MessageSpec, f: FieldSpec, v: unknown): void {
  switch (f.kind) {
    case 'int32':
      if (typeof v !== 'number' || !Number.isInteger(v) || v < -0x80000000 || v > 0x7fffffff) throw invalid(spec, f, `${String(v)} is not an int32`);
      w.int(f.number, v);
      return;
    case 'int64n':
      if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw invalid(spec, f, `${String(v)} is not a safe integer`);
      w.int(f.number, v);
      return;
    case 'int64':
    case 'uint64':
      if (typeof v !== 'bigint') throw invalid(spec, f, `${String(v)} is not a bigint`);
      if (f.kind === 'int64' ? BigInt.asIntN(64, v) !== v : BigInt.asUintN(64, v) !== v) throw invalid(spec, f, `${v} is outside ${f.kind}`);
      w.int(f.number, v);
      return;
    case 'bool':
      w.int(f.number, Boolean(v));
      return;
    case 'float':
      w.float(f.number, Number(v));
      return;
    case 'double':
      w.double(f.number, Number(v));
      return;
    case 'string':
      if (typeof v !== 'string') throw invalid(spec, f, `${String(v)} is not a string`);
      w.string(f.number, v);
      return;
    case 'bytes':
      if (!(v instanceof Uint8Array)) throw invalid(spec, f, 'not a Uint8Array');
      w.blob(f.number, v);
      return;
    default:
      throw new MinnowError('INTERNAL', `onnx: writeScalar of a ${f.kind} field`);
  }
}

/** Writes `message` (and its unknown fields) field by field in number order. */
export function encodeInto(w: ProtoWriter, spec: MessageSpec, message: Obj, hook?: MessageHook): void {
  const m = hook ? hook(spec, message) : message;
  for (const f of spec.fields) {
    const v = m[f.name];
    if (v === undefined) continue;
    if (f.kind === 'message') {
      const sub = f.message!();
      if (f.repeated) {
        if (!Array.isArray(v)) throw invalid(spec, f, 'not an array');
        for (const child of v as Obj[]) w.message(f.number, (c) => encodeInto(c, sub, child, hook));
      } else w.message(f.number, (c) => encodeInto(c, sub, v as Obj, hook));
    } else if (f.repeated) {
      const values = v as ArrayLike<unknown>;
      if (typeof values.length !== 'number') throw invalid(spec, f, 'not an array');
      if (values.length === 0) continue;
      if (f.packed && f.kind === 'float') w.packedFloats(f.number, values as ArrayLike<number>, 4);
      else if (f.packed && f.kind === 'double') w.packedFloats(f.number, values as ArrayLike<number>, 8);
      else if (f.packed) w.packedInts(f.number, values as ArrayLike<number | bigint>);
      else for (let i = 0; i < values.length; i++) writeScalar(w, spec, f, values[i]);
    } else writeScalar(w, spec, f, v);
  }
  const unknown = m.unknownFields as Uint8Array[] | undefined;
  if (unknown) for (const u of unknown) w.bytes(u);
}

export function encodeMessage(spec: MessageSpec, message: object, hook?: MessageHook): Uint8Array {
  const w = new ProtoWriter();
  encodeInto(w, spec, message as Obj, hook);
  return w.finish();
}
