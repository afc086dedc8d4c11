import fc from 'fast-check';
import { ProtoWriter, type FieldKind, type MessageSpec } from '@minnow/onnx';

/** Random values of one scalar kind, covering its whole range (NaN, -0 and infinities for floats). */
export function scalarOf(kind: FieldKind): fc.Arbitrary<unknown> {
  switch (kind) {
    case 'int32': return fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 });
    case 'int64': return fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n });
    case 'int64n': return fc.oneof(fc.integer({ min: -5, max: 300 }), fc.maxSafeInteger());
    case 'uint64': return fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
    case 'bool': return fc.boolean();
    case 'float': return fc.float();
    case 'double': return fc.double();
    case 'string': return fc.string({ unit: 'grapheme', maxLength: 8 });
    case 'bytes': return fc.uint8Array({ maxLength: 12 });
    default: throw new Error(`no scalar arbitrary for ${kind}`);
  }
}

function typedOf(kind: FieldKind): fc.Arbitrary<unknown> {
  switch (kind) {
    case 'float': return fc.float32Array({ maxLength: 6 });
    case 'double': return fc.float64Array({ maxLength: 4 });
    case 'int32': return fc.int32Array({ maxLength: 6 });
    case 'int64': return fc.bigInt64Array({ maxLength: 4 });
    case 'uint64': return fc.bigUint64Array({ maxLength: 4 });
    default: throw new Error(`no typed-array arbitrary for ${kind}`);
  }
}

/** One field this schema does not know, as the raw bytes the reader keeps (a varint or a blob). */
const unknownField: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.tuple(fc.integer({ min: 1000, max: 5000 }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })).map(([n, v]) => new ProtoWriter().int(n, v).finish()),
  fc.tuple(fc.integer({ min: 1000, max: 5000 }), fc.uint8Array({ maxLength: 10 })).map(([n, b]) => new ProtoWriter().blob(n, b).finish()),
);

const cache = new Map<string, fc.Arbitrary<Record<string, unknown>>>();

/**
 * Random messages of `spec` (onnx.proto's tables), nested up to `depth` messages deep: every field
 * present or absent, repeated fields of 0 to 3 entries, and now and then unknown fields.
 */
export function messageOf(spec: MessageSpec, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const key = `${spec.name}/${depth}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of spec.fields) {
    if (f.kind === 'message') {
      if (depth <= 0) continue;
      const sub = messageOf(f.message!(), depth - 1);
      parts[f.name] = f.repeated ? fc.array(sub, { maxLength: 2 }) : fc.option(sub, { nil: undefined, freq: 2 });
    } else if (f.typed) parts[f.name] = fc.option(typedOf(f.kind), { nil: undefined });
    else if (f.repeated) parts[f.name] = fc.array(scalarOf(f.kind), { maxLength: 3 });
    else parts[f.name] = fc.option(scalarOf(f.kind), { nil: undefined, freq: 2 });
  }
  parts.unknownFields = fc.option(fc.array(unknownField, { minLength: 1, maxLength: 2 }), { nil: undefined, freq: 4 });
  const arb = fc.record(parts).map((raw) => {
    const out: Record<string, unknown> = {};
    for (const f of spec.fields) {
      const v = raw[f.name];
      if (v !== undefined) out[f.name] = v;
      else if (f.repeated && !f.typed) out[f.name] = [];
    }
    if (raw.unknownFields !== undefined) out.unknownFields = raw.unknownFields;
    return out;
  });
  cache.set(key, arb);
  return arb;
}
