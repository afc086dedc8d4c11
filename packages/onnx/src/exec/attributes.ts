import { MinnowError } from '@minnow/core';
import { AttributeType, type AttributeProto, type GraphProto, type NodeProto, type TensorProto } from '../ir/types.js';

const utf8 = new TextDecoder('utf-8');

/** The attribute's type: its `type` field, or for models before IR 2 the value field that is set. */
function attributeType(a: AttributeProto): number {
  if (a.type !== undefined && a.type !== AttributeType.UNDEFINED) return a.type;
  if (a.f !== undefined) return AttributeType.FLOAT;
  if (a.i !== undefined) return AttributeType.INT;
  if (a.s !== undefined) return AttributeType.STRING;
  if (a.t !== undefined) return AttributeType.TENSOR;
  if (a.g !== undefined) return AttributeType.GRAPH;
  if (a.floats.length) return AttributeType.FLOATS;
  if (a.ints.length) return AttributeType.INTS;
  if (a.strings.length) return AttributeType.STRINGS;
  if (a.graphs.length) return AttributeType.GRAPHS;
  return AttributeType.UNDEFINED;
}

const TYPE_NAMES: Record<number, string> = Object.fromEntries(Object.entries(AttributeType).map(([k, v]) => [v, k.toLowerCase()]));

/**
 * Typed access to a node's attributes; a missing required one or one of the wrong type names the
 * node. Values are decoded once (ops read their attributes on every run): lists come back as copies.
 */
export class Attributes {
  private readonly byName = new Map<string, AttributeProto>();
  private readonly decoded = new Map<string, { readonly type: number; readonly value: unknown }>();

  constructor(private readonly node: NodeProto, private readonly label: string) {
    for (const a of node.attribute) this.byName.set(a.name ?? '', a);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  int(name: string, fallback?: number): number {
    return this.value(name, AttributeType.INT, fallback, (a) => toNumber(a.i ?? 0n, this.where(name)));
  }

  ints(name: string, fallback?: readonly number[]): number[] {
    return [...this.value(name, AttributeType.INTS, fallback, (a) => a.ints.map((v) => toNumber(v, this.where(name))))];
  }

  float(name: string, fallback?: number): number {
    return this.value(name, AttributeType.FLOAT, fallback, (a) => a.f ?? 0);
  }

  floats(name: string, fallback?: readonly number[]): number[] {
    return [...this.value(name, AttributeType.FLOATS, fallback, (a) => [...a.floats])];
  }

  string(name: string, fallback?: string): string {
    return this.value(name, AttributeType.STRING, fallback, (a) => utf8.decode(a.s ?? new Uint8Array()));
  }

  strings(name: string, fallback?: readonly string[]): string[] {
    return [...this.value(name, AttributeType.STRINGS, fallback, (a) => a.strings.map((s) => utf8.decode(s)))];
  }

  /** The attribute `name` of `type` decoded (once), or `fallback` when it is absent. */
  private value<T>(name: string, type: number, fallback: T | undefined, decode: (a: AttributeProto) => T): T {
    const known = this.decoded.get(name);
    if (known !== undefined && known.type === type) return known.value as T;
    const a = this.get(name, type, fallback);
    if (a === undefined) return fallback as T;
    const value = decode(a);
    this.decoded.set(name, { type, value });
    return value;
  }

  tensor(name: string): TensorProto {
    return this.get(name, AttributeType.TENSOR)?.t as TensorProto;
  }

  graph(name: string): GraphProto {
    return this.get(name, AttributeType.GRAPH)?.g as GraphProto;
  }

  /** The attribute proto itself (Constant's value_* forms pick by name). */
  raw(name: string): AttributeProto | undefined {
    return this.byName.get(name);
  }

  private get(name: string, type: number, fallback?: unknown): AttributeProto | undefined {
    const a = this.byName.get(name);
    if (a === undefined) {
      if (fallback !== undefined) return undefined;
      throw new MinnowError('INVALID_MODEL', `onnx: ${this.label}: required attribute '${name}' is missing`);
    }
    if (a.refAttrName !== undefined) {
      throw new MinnowError('UNSUPPORTED_OP', `onnx: ${this.label}: attribute '${name}' refers to a function attribute ('${a.refAttrName}') outside a function`);
    }
    const actual = attributeType(a);
    if (actual !== type) {
      throw new MinnowError('INVALID_MODEL', `onnx: ${this.where(name)} is ${TYPE_NAMES[actual] ?? actual}, ${TYPE_NAMES[type]} expected`);
    }
    return a;
  }

  private where(name: string): string {
    return `${this.label}: attribute '${name}'`;
  }
}

function toNumber(v: bigint, where: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    // INT64_MAX/MIN are ONNX's "to the end" sentinels (Slice, say): keep them as huge numbers.
    if (v === 9223372036854775807n || v === -9223372036854775808n) return n;
    throw new MinnowError('OUT_OF_RANGE', `onnx: ${where}: ${v} is beyond 2^53`);
  }
  return n;
}
