import { MinnowError } from '@minnow/core';
import { DataType, densifySparse, isExternal, makeTensor, tensorValues, type GraphProto, type ModelProto, type SparseTensorProto, type TensorProto } from '@minnow/onnx';

/**
 * ONNX sparse initialisers (GraphProto.sparse_initializer, SparseTensorProto): a pruned float32
 * initialiser stored as its non-zero values [NNZ] plus their linearised int64 indices [NNZ]
 * (ascending, as ONNX requires), under the initialiser's own name. onnxruntime and minnow's
 * OnnxSession turn them back into dense tensors when they load the model, so the graph is
 * unchanged; only the file shrinks. Each stored element costs 12 bytes (4 value + 8 index)
 * against 4 dense, so an initialiser pays off only when more than 2/3 of it is zero: one that
 * would grow is left dense whatever minSparsity says.
 */

export interface SparseInitializerOptions {
  /** Initialisers at least this sparse (fraction of zeros) are stored sparse; default 0.7. */
  readonly minSparsity?: number;
  /** Initialisers with fewer elements stay dense (biases, scalars); default 64. */
  readonly minElements?: number;
}

export interface SparseInitializerReport {
  readonly name: string;
  readonly dims: readonly number[];
  readonly sparsity: number;
  readonly converted: boolean;
  /** Bytes of the dense data (raw float32). */
  readonly denseBytes: number;
  /** Bytes of the data as stored after the call: values plus int64 indices when converted. */
  readonly bytes: number;
  readonly reason?: string;
}

export interface SparseInitializerResult {
  readonly model: ModelProto;
  readonly initializers: readonly SparseInitializerReport[];
}

const littleEndianFloats = (values: Float32Array): Uint8Array => {
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return out;
};

const littleEndianInt64 = (values: readonly number[] | Int32Array | Float64Array): Uint8Array => {
  const out = new Uint8Array(values.length * 8);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values.length; i++) view.setBigInt64(i * 8, BigInt(values[i]), true);
  return out;
};

/** The sparse form of a float32 initialiser: its non-zeros (either sign of zero is dropped) and their linear indices. */
export function sparseInitializer(t: TensorProto): SparseTensorProto {
  if (t.dataType !== DataType.FLOAT) throw new MinnowError('UNSUPPORTED_DTYPE', `sparseInitializer: '${t.name ?? ''}' is not float32`);
  const dense = tensorValues(t) as Float32Array;
  let nnz = 0;
  for (let i = 0; i < dense.length; i++) if (dense[i] !== 0) nnz++;
  const values = new Float32Array(nnz);
  const indices = new Float64Array(nnz);
  let p = 0;
  for (let i = 0; i < dense.length; i++) {
    if (dense[i] !== 0) {
      values[p] = dense[i];
      indices[p++] = i;
    }
  }
  return {
    values: makeTensor(t.name ?? '', DataType.FLOAT, [nnz], littleEndianFloats(values)),
    indices: makeTensor('', DataType.INT64, [nnz], littleEndianInt64(indices)),
    dims: [...t.dims],
  };
}

function mainGraph(op: string, model: ModelProto): GraphProto {
  if (!model || typeof model !== 'object' || !model.graph) throw new MinnowError('INVALID_MODEL', `${op}: the model has no graph`);
  return model.graph;
}

/**
 * Moves the main graph's float32 initialisers that are at least `minSparsity` zeros (and smaller
 * sparse than dense) to sparse_initializer. Initialisers that are also graph inputs (overridable
 * defaults) and external ones stay as they are. Returns a new model (the input is not modified)
 * and one report per float32 initialiser.
 */
export function toSparseInitializers(model: ModelProto, options: SparseInitializerOptions = {}): SparseInitializerResult {
  const minSparsity = options.minSparsity ?? 0.7;
  const minElements = options.minElements ?? 64;
  if (!(minSparsity >= 0 && minSparsity <= 1)) throw new MinnowError('INVALID_ARGUMENT', `toSparseInitializers: minSparsity must lie in [0, 1], got ${minSparsity}`);
  if (!(minElements >= 0)) throw new MinnowError('INVALID_ARGUMENT', `toSparseInitializers: minElements must be >= 0, got ${minElements}`);
  const graph = mainGraph('toSparseInitializers', model);
  const inputs = new Set(graph.input.map((v) => v.name ?? ''));
  const kept: TensorProto[] = [];
  const added: SparseTensorProto[] = [];
  const reports: SparseInitializerReport[] = [];
  for (const t of graph.initializer) {
    if (t.dataType !== DataType.FLOAT) {
      kept.push(t);
      continue;
    }
    const name = t.name ?? '';
    const size = t.dims.reduce((a, b) => a * b, 1);
    const denseBytes = 4 * size;
    const leave = (reason: string, sparsity = NaN) => {
      kept.push(t);
      reports.push({ name, dims: t.dims, sparsity, converted: false, denseBytes, bytes: denseBytes, reason });
    };
    if (isExternal(t)) {
      leave('its data is in an external file (load it first)');
      continue;
    }
    if (inputs.has(name)) {
      leave('it is also a graph input (a default a caller may override)');
      continue;
    }
    const dense = tensorValues(t) as Float32Array;
    let zeros = 0;
    for (let i = 0; i < dense.length; i++) if (dense[i] === 0) zeros++;
    const sparsity = size === 0 ? 0 : zeros / size;
    const sparseBytes = 12 * (size - zeros);
    if (size < minElements) leave(`${size} elements, fewer than minElements ${minElements}`, sparsity);
    else if (sparsity < minSparsity) leave(`sparsity ${sparsity.toFixed(3)} is below minSparsity ${minSparsity}`, sparsity);
    else if (sparseBytes >= denseBytes) leave(`sparse it would take ${sparseBytes} bytes against ${denseBytes} dense`, sparsity);
    else {
      added.push(sparseInitializer(t));
      reports.push({ name, dims: t.dims, sparsity, converted: true, denseBytes, bytes: sparseBytes });
    }
  }
  return {
    model: { ...model, graph: { ...graph, initializer: kept, sparseInitializer: [...graph.sparseInitializer, ...added] } },
    initializers: reports,
  };
}

/**
 * The reverse: every float32 sparse initialiser of the main graph becomes a dense initialiser
 * again (indices linear or coordinates; each checked against the dims). Sparse initialisers of
 * other types stay sparse. Returns a new model.
 */
export function toDenseInitializers(model: ModelProto): ModelProto {
  const graph = mainGraph('toDenseInitializers', model);
  const dense: TensorProto[] = [];
  const sparse: SparseTensorProto[] = [];
  for (const s of graph.sparseInitializer) {
    if (s.values?.dataType !== DataType.FLOAT) {
      sparse.push(s);
      continue;
    }
    const value = densifySparse(s);
    try {
      dense.push(makeTensor(s.values.name ?? '', DataType.FLOAT, s.dims, littleEndianFloats(value.hostData() as Float32Array)));
    } finally {
      value.dispose();
    }
  }
  return { ...model, graph: { ...graph, initializer: [...graph.initializer, ...dense], sparseInitializer: sparse } };
}
