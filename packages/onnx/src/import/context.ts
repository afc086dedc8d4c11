import { MinnowError, Random, fromArray, noGrad, scope, type Tensor } from '@minnow/core';
import type { AnyModule, Module } from '@minnow/nn';
import type { Attributes } from '../exec/attributes.js';
import type { WindowContext } from '../exec/ops/nn/spatial.js';
import type { HostData } from '../exec/value.js';
import type { NodeProto } from '../ir/types.js';

/**
 * What the importer's walk along the chain and the converter of each ONNX op share: the value
 * flowing along the chain with its traced shape, the graph's constants, lookahead to the next node,
 * and the errors and notes that name the node at fault.
 */

/** An nn layer as Sequential holds it. */
export type Layer = Module<[Tensor], Tensor>;

/** The value flowing along the chain: its name in the graph and its shape traced at the import's input shape. */
export interface ChainValue {
  readonly name: string;
  readonly shape: readonly number[];
}

/** A constant of the graph (an initialiser, a Constant node, or a node folded from them) as exact host values. */
export class ConstantTensor {
  constructor(readonly name: string, readonly dims: readonly number[], readonly elemType: number, readonly raw: HostData) {}

  get size(): number {
    return this.raw.length;
  }

  /** The values as JS numbers (int64 beyond 2^53 rounds: only shapes and axes are read this way). */
  numbers(): number[] {
    return Array.from(this.raw as ArrayLike<number | bigint>, Number);
  }

  /** The values as float64, for weights (float16/bfloat16 already decoded). */
  floats(): Float64Array {
    return Float64Array.from(this.raw as ArrayLike<number | bigint>, Number);
  }
}

/** The batch dim as the import treats it: traced at one size, and symbolic (any size) in the model or not. */
export interface BatchDim {
  /** The size the chain's shapes are traced at. */
  readonly traced: number;
  /** The symbolic dim's name when the model's input leaves dim 0 open, else null (the model fixes it). */
  readonly symbolic: string | null;
}

/** What a converter hands back: the layers (none for an identity), the value after them, and any nodes after `node` it folded in. */
export interface Converted {
  readonly layers: readonly Layer[];
  readonly output: ChainValue;
  readonly consumed?: readonly NodeProto[];
}

export interface ImportContext {
  /** The model's default-domain opset. */
  readonly opset: number;
  readonly batch: BatchDim;
  /** "node 'name' (OpType)" for messages. */
  label(node: NodeProto): string;
  attributes(node: NodeProto): Attributes;
  /** The node as the executor's window geometry reads it (attributes, and errors naming the node). */
  windowContext(node: NodeProto): WindowContext;
  constant(name: string): ConstantTensor | undefined;
  /** Input `index` of `node` as a constant; an activation or a missing one there is an error naming `what`. */
  constantInput(node: NodeProto, index: number, what: string): ConstantTensor;
  /** Input `index` as a constant, or undefined when the node leaves the optional input out. */
  optionalConstant(node: NodeProto, index: number, what: string): ConstantTensor | undefined;
  /** The one node that reads `value` on the way to the output, if exactly one does and `value` is not the graph output. */
  soleReader(value: string): NodeProto | undefined;
  /** Refuses a node whose extra outputs (a mask, indices, training statistics) something reads. */
  checkUnusedOutputs(node: NodeProto, from: number): void;
  unsupported(node: NodeProto, why: string): MinnowError;
  invalid(node: NodeProto, why: string): MinnowError;
  note(text: string): void;
  /** Where layers are created. */
  readonly where: LayerPlacement;
}

export interface LayerPlacement {
  readonly dtype: 'float32' | 'float64';
  readonly backend: string;
  /** Seeds the layers' (overwritten) initialisation and Dropout's masks. */
  readonly random: Random;
}

export type NodeConverter = (node: NodeProto, x: ChainValue, context: ImportContext) => Converted;

/** One op's converter with the lowest opset whose form it reads. */
export interface ConverterEntry {
  readonly convert: NodeConverter;
  readonly sinceVersion?: number;
}

/**
 * Overwrites a freshly built layer's parameters and buffers with the model's values (by state dict
 * name, under noGrad), so the layer keeps nn's own tensors and trains like any other.
 */
export function loadValues<M extends AnyModule>(layer: M, values: Readonly<Record<string, ArrayLike<number>>>): M {
  const targets = layer.stateDict();
  noGrad(() =>
    scope(() => {
      const entries = new Map<string, Tensor>();
      for (const [name, data] of Object.entries(values)) {
        const target = targets.get(name);
        if (!target) throw new MinnowError('INTERNAL', `moduleFromOnnx: ${layer.constructor.name} has no "${name}" to load`);
        const typed = target.dtype === 'float64' ? Float64Array.from(data) : Float32Array.from(data);
        entries.set(name, fromArray(typed, target.shape, { dtype: target.dtype, backend: target.backend.name }));
      }
      layer.loadStateDict(entries, { strict: false });
    }),
  );
  return layer;
}

/** The product of dims. */
export function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/** An axis counted from the end when negative; the error `fail` makes (naming the node) when it is outside [0, rank). */
export function normalizeAxis(axis: number, rank: number, fail: (why: string) => MinnowError): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) throw fail(`axis ${axis} is outside a rank-${rank} input`);
  return a;
}

/**
 * A constant's values broadcast (numpy rules, right-aligned) to `shape`, or null when they do not
 * broadcast to exactly that shape (a constant that would grow the result is not a per-feature one).
 */
export function broadcastValues(constant: ConstantTensor, shape: readonly number[]): Float64Array | null {
  const dims = constant.dims;
  if (dims.length > shape.length) {
    // Leading unit dims beyond the target's rank broadcast away.
    const extra = dims.slice(0, dims.length - shape.length);
    if (extra.some((d) => d !== 1)) return null;
  }
  const aligned = shape.map((_, i) => dims[dims.length - shape.length + i] ?? 1);
  if (aligned.some((d, i) => d !== 1 && d !== shape[i])) return null;
  const source = constant.floats();
  const out = new Float64Array(product(shape));
  const sourceStrides = stridesOf(aligned).map((s, i) => (aligned[i] === 1 ? 0 : s));
  const index = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < out.length; flat++) {
    let at = 0;
    for (let i = 0; i < shape.length; i++) at += index[i] * sourceStrides[i];
    out[flat] = source[at];
    for (let i = shape.length - 1; i >= 0; i--) {
      if (++index[i] < shape[i]) break;
      index[i] = 0;
    }
  }
  return out;
}

function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** A [rows, cols] matrix transposed, as a flat row-major array. */
export function transpose2d(values: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = values[r * cols + c];
  return out;
}

/** Values times a scalar (Gemm's alpha and beta), as a new array. */
export function scaled(values: ArrayLike<number>, factor: number): Float64Array {
  return Float64Array.from(values, (v) => v * factor);
}
