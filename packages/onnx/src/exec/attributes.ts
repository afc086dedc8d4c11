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

/** Typed access to a node's attributes; a missing required one or one of the wrong type names the node. */
export class Attributes {
  private readonly byName = new Map<string, AttributeProto>();

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
    const a = this.get(name, AttributeType.INT, fallback);
    return a === undefined ? (fallback as number) : toNumber(a.i ?? 0n, this.where(name));
  }

  ints(name: string, fallback?: readonly number[]): number[] {
    const a = this.get(name, AttributeType.INTS, fallback);
    return a === undefined ? [...(fallback as readonly number[])] : a.ints.map((v) => toNumber(v, this.where(name)));
  }

  float(name: string, fallback?: number): number {
    const a = this.get(name, AttributeType.FLOAT, fallback);
    return a === undefined ? (fallback as number) : (a.f ?? 0);
  }

  floats(name: string, fallback?: readonly number[]): number[] {
    const a = this.get(name, AttributeType.FLOATS, fallback);
    return a === undefined ? [...(fallback as readonly number[])] : [...a.floats];
  }

  string(name: string, fallback?: string): string {
    const a = this.get(name, AttributeType.STRING, fallback);
    return a === undefined ? (fallback as string) : utf8.decode(a.s ?? new Uint8Array());
  }

  strings(name: string, fallback?: readonly string[]): string[] {
    const a = this.get(name, AttributeType.STRINGS, fallback);
    return a === undefined ? [...(fallback as readonly string[])] : a.strings.map((s) => utf8.decode(s));
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
