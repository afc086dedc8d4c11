// What every layer converter works with: values (an ONNX name, the Keras shape, and which layout the
// ONNX tensor is in), layout changes made once per value, typed access to a layer's config, and its
// weights by name.
import { MinnowError, formatShape } from '@minnow/core';
import { attr, type GraphBuilder } from '@minnow/onnx';
import { invalid, type KerasLayer } from './model-json.js';
import type { TfjsWeight } from './weights.js';

/** A dim as Keras knows it: a size, or null where it is only known at run time. */
export type Dim = number | null;

/**
 * A tensor of the graph being built. `shape` is always the Keras (channels-last) shape. A rank-4
 * value may be held channels-first in ONNX (`channelsFirst`: NCHW, the layout ONNX's Conv, pooling,
 * BatchNormalization and Resize work in); values switch layout only where an op needs the other one,
 * so a chain of convolutions pays for one Transpose at each end.
 */
export interface Value {
  readonly name: string;
  readonly shape: readonly Dim[];
  readonly channelsFirst: boolean;
}

const TO_CHANNELS_FIRST = [0, 3, 1, 2];
const TO_CHANNELS_LAST = [0, 2, 3, 1];

/** How UpSampling2D's bilinear mode maps coordinates: as TF.js computes it, or as Keras in Python (TF 2) does. */
export type ResizeSemantics = 'tfjs' | 'keras';

export class ConversionContext {
  private readonly transposed = new Map<string, Value>();

  constructor(
    readonly builder: GraphBuilder,
    private readonly weights: ReadonlyMap<string, TfjsWeight>,
    readonly resizeSemantics: ResizeSemantics,
  ) {}

  channelsFirst(v: Value): Value {
    if (v.channelsFirst) return v;
    if (v.shape.length !== 4) throw new MinnowError('INTERNAL', `tfjs: channels-first asked of a rank-${v.shape.length} value '${v.name}'`);
    return this.transpose(v, TO_CHANNELS_FIRST, true);
  }

  channelsLast(v: Value): Value {
    return v.channelsFirst ? this.transpose(v, TO_CHANNELS_LAST, false) : v;
  }

  private transpose(v: Value, perm: number[], channelsFirst: boolean): Value {
    let out = this.transposed.get(v.name);
    if (out === undefined) {
      const name = this.builder.node('Transpose', [v.name], `${v.name}_${channelsFirst ? 'nchw' : 'nhwc'}`, [attr.ints('perm', perm)]);
      out = { name, shape: v.shape, channelsFirst };
      this.transposed.set(v.name, out);
      // The way back is the value we came from: no second Transpose if it is asked for.
      this.transposed.set(name, v);
    }
    return out;
  }

  /** The ONNX axis of Keras axis `axis` (negative counts from the end) in the value's layout. */
  onnxAxis(v: Value, axis: number): number {
    const rank = v.shape.length;
    const k = axis < 0 ? axis + rank : axis;
    if (!Number.isInteger(k) || k < 0 || k >= rank) throw invalid(`axis ${axis} is outside a rank-${rank} tensor`);
    return v.channelsFirst ? [0, 2, 3, 1][k] : k;
  }

  /**
   * The layer's weight `weightName`. tfjs and the Keras converter name weights `<layer>/<weight>`,
   * nested models with a scope in front; `expected` (null: any size) is checked when given.
   */
  weight(layer: KerasLayer, weightName: string, expected?: readonly Dim[]): TfjsWeight {
    const exact = `${layer.name}/${weightName}`;
    let found = this.weights.get(exact);
    if (found === undefined) {
      const scoped = [...this.weights.keys()].filter((n) => n.endsWith(`/${exact}`));
      if (scoped.length > 1) throw invalid(`layer '${layer.name}' (${layer.className}): weights ${scoped.join(', ')} all fit '${exact}'`);
      found = scoped.length === 1 ? this.weights.get(scoped[0]) : undefined;
    }
    if (found === undefined) throw invalid(`layer '${layer.name}' (${layer.className}): weight '${exact}' is not in the weights manifest`);
    if (expected && (found.shape.length !== expected.length || expected.some((d, i) => d !== null && d !== found!.shape[i]))) {
      const want = `[${expected.map((d) => d ?? '?').join(',')}]`;
      throw invalid(`layer '${layer.name}' (${layer.className}): weight '${found.name}' is ${formatShape(found.shape)}, ${want} expected`);
    }
    return found;
  }
}

/** Typed reads of one layer's config, each refusing a value of the wrong form with INVALID_MODEL naming the layer and key. */
export class LayerConfigReader {
  constructor(readonly layer: KerasLayer) {}

  private fail(key: string, want: string): never {
    throw invalid(`layer '${this.layer.name}' (${this.layer.className}): config ${key} is ${JSON.stringify(this.layer.config[key])}, ${want} expected`);
  }

  private value(key: string): unknown {
    const v = this.layer.config[key];
    return v === null ? undefined : v;
  }

  string(key: string, fallback: string): string {
    const v = this.value(key);
    if (v === undefined) return fallback;
    return typeof v === 'string' ? v : this.fail(key, 'a string');
  }

  number(key: string, fallback: number): number {
    const v = this.value(key);
    if (v === undefined) return fallback;
    return typeof v === 'number' && Number.isFinite(v) ? v : this.fail(key, 'a number');
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.value(key);
    if (v === undefined) return fallback;
    return typeof v === 'boolean' ? v : this.fail(key, 'true or false');
  }

  /** A positive integer. */
  count(key: string, fallback?: number): number {
    const v = this.value(key) ?? fallback;
    return typeof v === 'number' && Number.isSafeInteger(v) && v > 0 ? v : this.fail(key, 'a positive integer');
  }

  /** An int (for both dims) or a pair of positive integers: kernel sizes, strides, dilations. */
  pair(key: string, fallback?: [number, number]): [number, number] {
    const v = this.value(key) ?? fallback;
    const ok = (x: unknown): x is number => typeof x === 'number' && Number.isSafeInteger(x) && x > 0;
    if (ok(v)) return [v, v];
    if (Array.isArray(v) && v.length === 2 && ok(v[0]) && ok(v[1])) return [v[0], v[1]];
    return this.fail(key, 'a positive integer or a pair of them');
  }

  /** A list of sizes where -1 (written null by TF.js) means "whatever is left": Reshape's target_shape. */
  sizes(key: string): number[] {
    const v = this.value(key);
    const list: unknown[] = Array.isArray(v) ? Array.from(v) : [];
    if (Array.isArray(v) && list.every((x) => x === null || (typeof x === 'number' && Number.isSafeInteger(x) && x >= -1))) {
      return list.map((x) => (x as number | null) ?? -1);
    }
    return this.fail(key, 'a list of sizes (-1 or null for one unknown)');
  }

  /** An axis: an integer, or a one-element list of one (Keras 3 writes BatchNormalization's axis as a list). */
  axis(key: string, fallback: number): number {
    const v = this.value(key) ?? fallback;
    if (typeof v === 'number' && Number.isSafeInteger(v)) return v;
    if (Array.isArray(v) && v.length === 1 && Number.isSafeInteger(v[0])) return v[0] as number;
    return this.fail(key, 'a single axis');
  }

  /** Refuses channels_first data, which minnow's converter does not lay out. */
  channelsLastOnly(): void {
    const format = this.string('data_format', 'channels_last');
    if (format !== 'channels_last') {
      throw new MinnowError('UNSUPPORTED_OP', `tfjs: layer '${this.layer.name}' (${this.layer.className}): data_format '${format}' is not supported (channels_last is)`);
    }
  }
}

/** Everything a layer converter is given. */
export interface LayerCall {
  readonly ctx: ConversionContext;
  readonly layer: KerasLayer;
  readonly config: LayerConfigReader;
  readonly inputs: readonly Value[];
}

export type LayerConverter = (call: LayerCall) => Value;

export function unsupported(layer: KerasLayer, what: string): MinnowError {
  return new MinnowError('UNSUPPORTED_OP', `tfjs: layer '${layer.name}' (${layer.className}): ${what}`);
}

/** The single input of a layer that takes one, of the given ranks. */
export function singleInput(call: LayerCall, ranks?: readonly number[]): Value {
  if (call.inputs.length !== 1) throw invalid(`layer '${call.layer.name}' (${call.layer.className}) takes one input, it was given ${call.inputs.length}`);
  const v = call.inputs[0];
  if (ranks && !ranks.includes(v.shape.length)) {
    throw unsupported(call.layer, `input of rank ${v.shape.length} ([${v.shape.map((d) => d ?? '?').join(',')}]); rank ${ranks.join(' or ')} is supported`);
  }
  return v;
}
