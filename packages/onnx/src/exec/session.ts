import { MinnowError, Tensor, decodeFloat16, encodeFloat16, decodeBFloat16, encodeBFloat16, fromArray, getBackend, formatShape } from '@minnow/core';
import type { ModelProto, TensorProto, ValueInfoProto } from '../ir/types.js';
import { DataType } from '../ir/types.js';
import { dataTypeName } from '../ir/tensor.js';
import { computeDType, isComputable, naturalType } from './dtypes.js';
import { GraphPlan, type SessionShared, type ValueObserver } from './graph.js';
import { inferShapes, type ShapeInference } from './infer.js';
import { fuseQuantized } from './fuse/index.js';
import { normalizeDomain } from './registry.js';
import { Value } from './value.js';

export interface SessionOptions {
  /** Backend to run on (initialised with `await init(name)` first); default 'js'. */
  readonly backend?: string;
  /** Evaluate nodes that depend only on initialisers once, when the session is made (default true). */
  readonly constantFolding?: boolean;
  /** Called with every value a node produces, as the model runs (subgraphs included): see ValueObserver. */
  readonly observe?: ValueObserver;
  /**
   * Rewrite QDQ patterns (DequantizeLinear -> MatMul/Gemm/Conv -> QuantizeLinear) onto the integer
   * kernels when the session is made (default true). The fused products' float intermediates then
   * no longer reach `observe`: pass false to watch a QDQ model value by value.
   */
  readonly fuseQuantized?: boolean;
}

/** A declared graph input or output: name, ONNX element type, and dims (a number, a symbolic name, or undefined when unknown). */
export interface ValueDescription {
  readonly name: string;
  readonly elemType: number;
  readonly type: string;
  readonly dims: readonly (number | string | undefined)[] | undefined;
}

/** What `run` accepts for an input: a minnow Tensor (on any backend) or an ONNX TensorProto (for int64 and other types minnow narrows). */
export type Feed = Tensor | TensorProto;

function describeValue(v: ValueInfoProto): ValueDescription {
  const t = v.type?.tensorType;
  const elemType = t?.elemType ?? DataType.UNDEFINED;
  return {
    name: v.name ?? '',
    elemType,
    type: dataTypeName(elemType),
    dims: t?.shape?.dim.map((d) => d.dimValue ?? d.dimParam),
  };
}

/**
 * An ONNX model made ready to run on one backend: the plan is built and checked once (topological
 * order, every op supported, constants folded); `run` is synchronous and leaves nothing alive but
 * the outputs it returns.
 */
export class OnnxSession {
  readonly inputs: readonly ValueDescription[];
  readonly outputs: readonly ValueDescription[];
  readonly backend: string;
  private readonly plan: GraphPlan;
  private readonly shared: SessionShared;
  private disposed = false;

  private constructor(source: ModelProto, options: SessionOptions) {
    const model = options.fuseQuantized ?? true ? fuseQuantized(source) : source;
    const graph = model.graph;
    if (graph === undefined) throw new MinnowError('INVALID_MODEL', 'onnx: the model has no graph');
    this.backend = options.backend ?? 'js';
    getBackend(this.backend);
    const opsets = new Map<string, number>();
    for (const o of model.opsetImport) opsets.set(normalizeDomain(o.domain), o.version ?? 1);
    // IR 3 and earlier models may leave out the opset import; ONNX reads that as opset 1.
    if (!opsets.has('')) opsets.set('', 1);
    const shared: SessionShared = {
      backend: this.backend,
      opsets,
      functions: new Map(model.functions.map((f) => [`${normalizeDomain(f.domain)}:${f.name ?? ''}`, f])),
      constantFolding: options.constantFolding ?? true,
      observe: options.observe,
      subgraphPlans: new Map(),
    };
    this.shared = shared;
    this.plan = new GraphPlan(graph, shared, new Set(), `graph '${graph.name ?? ''}'`);
    const inputs = new Set(this.plan.inputNames);
    this.inputs = graph.input.filter((v) => inputs.has(v.name ?? '')).map(describeValue);
    this.outputs = graph.output.map(describeValue);
  }

  /** Nodes of the main graph that run each time (constant folding removes the rest). */
  get nodeCount(): number {
    return this.plan.nodeCount;
  }

  static create(model: ModelProto, options: SessionOptions = {}): OnnxSession {
    return new OnnxSession(model, options);
  }

  /** Runs the model; returns every graph output as a Tensor the caller owns (float16 outputs rounded to float16, computed in float32). */
  run(feeds: Readonly<Record<string, Feed>>): Record<string, Tensor> {
    const values = this.runValues(feeds);
    const out: Record<string, Tensor> = {};
    for (const [name, v] of values) {
      const device = v.deviceTensor;
      out[name] = device !== undefined && device.backend.name === this.backend ? device : v.tensor(this.backend, `output '${name}'`);
    }
    return out;
  }

  /** Runs the model and returns the outputs as values that keep their ONNX element types. */
  runValues(feeds: Readonly<Record<string, Feed>>): Map<string, Value> {
    if (this.disposed) throw new MinnowError('DISPOSED', 'onnx: the session was disposed');
    const bound = new Map<string, Value>();
    try {
      for (const description of this.inputs) {
        const feed = feeds[description.name];
        if (feed === undefined) throw new MinnowError('INVALID_ARGUMENT', `onnx: input '${description.name}' (${description.type} ${formatDims(description.dims)}) is not fed`);
        bound.set(description.name, this.bind(description, feed));
      }
      for (const name of Object.keys(feeds)) {
        if (!bound.has(name)) throw new MinnowError('INVALID_ARGUMENT', `onnx: '${name}' is not an input of the model (inputs: ${this.inputs.map((i) => i.name).join(', ')})`);
      }
      const outputs = this.plan.run(bound);
      return new Map(this.outputs.map((o, i) => [o.name, roundToDeclaredType(outputs[i], this.backend)]));
    } finally {
      for (const v of bound.values()) v.dispose();
    }
  }

  private bind(description: ValueDescription, feed: Feed): Value {
    const declared = description.elemType;
    let value: Value;
    if (feed instanceof Tensor) {
      const tensor = feed.backend.name === this.backend ? feed : undefined;
      if (tensor === undefined) throw new MinnowError('BACKEND_MISMATCH', `onnx: input '${description.name}' is on backend '${feed.backend.name}', the session runs on '${this.backend}'`);
      // The message naming the input is built only when the declared type cannot be computed (this runs on every run).
      const computed = declared === DataType.UNDEFINED ? undefined : isComputable(declared) ? computeDType(declared, '') : computeDType(declared, `input '${description.name}'`);
      const type = computed === feed.dtype ? declared : naturalType(feed.dtype);
      if (declared !== DataType.UNDEFINED && type !== declared) {
        throw new MinnowError('DTYPE_MISMATCH', `onnx: input '${description.name}' is ${description.type}, fed a ${feed.dtype} tensor`);
      }
      value = Value.fromTensor(feed, type).alias();
    } else {
      value = Value.fromProto(feed);
      if (declared !== DataType.UNDEFINED && value.elemType !== declared) {
        throw new MinnowError('DTYPE_MISMATCH', `onnx: input '${description.name}' is ${description.type}, fed ${dataTypeName(value.elemType)}`);
      }
    }
    const dims = description.dims;
    if (dims !== undefined) {
      const fits = dims.length === value.rank && dims.every((d, i) => typeof d !== 'number' || d === value.shape[i]);
      if (!fits) throw new MinnowError('SHAPE_MISMATCH', `onnx: input '${description.name}' is ${formatDims(dims)}, fed ${formatShape(value.shape)}`);
    }
    return value;
  }

  /**
   * Shapes and element types of every value in the main graph, inferred without running the model
   * (see infer.ts). `inputDims` pins inputs to concrete dims; other symbolic dims stay symbolic.
   */
  inferShapes(inputDims: Readonly<Record<string, readonly number[]>> = {}): Promise<ShapeInference> {
    return inferShapes(this.plan, this.inputs, inputDims);
  }

  dispose(): void {
    this.plan.dispose();
    for (const plan of this.shared.subgraphPlans.values()) plan.dispose();
    this.shared.subgraphPlans.clear();
    this.disposed = true;
  }
}

const formatDims = (dims: ValueDescription['dims']): string => (dims === undefined ? '[?]' : `[${dims.map((d) => d ?? '?').join(',')}]`);

/** float16 and bfloat16 are computed in float32; at the graph's edge they are rounded to the declared type. */
function roundToDeclaredType(v: Value, backend: string): Value {
  if (v.elemType !== DataType.FLOAT16 && v.elemType !== DataType.BFLOAT16) return v;
  const values = v.hostData() as Float32Array;
  const rounded = v.elemType === DataType.FLOAT16 ? decodeFloat16(encodeFloat16(values)) : decodeBFloat16(encodeBFloat16(values));
  const out = Value.fromTensor(fromArray(rounded, v.shape, { dtype: 'float32', backend }), v.elemType);
  v.dispose();
  return out;
}
