import { MinnowError, add, formatShape, fromArray, reshape, scope, sparseMatmul, transpose, type CsrMatrix, type Tensor } from '@minnow/core';
import { Linear, Module, type AnyModule } from '@minnow/nn';
import { rebuild } from '../../quantize/nn/rebuild.js';
import { checkCsrArrays, csrFromTensor, csrToDense, type CsrArrays } from './csr.js';

export interface SparseLinearOptions {
  /** Backend the layer's tensors live on (the default backend when omitted). */
  readonly backend?: string;
}

/**
 * A Linear layer whose weight [out, in] is held in CSR form on its backend: y = x W^T + b runs
 * through core's sparse product (W x^T, then transposed back as a view into the bias add), so
 * its cost scales with the stored weights, not with out * in.
 *
 * The stored values and the bias are parameters: training a SparseLinear trains only the weights
 * it stores, with its sparsity pattern fixed (the indices are buffers). It saves and moves
 * (stateDict, to()) like any module.
 */
export class SparseLinear extends Module<[Tensor], Tensor> {
  readonly inFeatures: number;
  readonly outFeatures: number;

  /** From CSR arrays of the weight [out, in] and an optional bias [out]; the layer keeps its own copies. */
  constructor(weight: CsrArrays, bias: Float32Array | null, options: SparseLinearOptions = {}) {
    super();
    checkCsrArrays('SparseLinear', weight);
    const [out, inFeatures] = weight.shape;
    if (bias !== null && (!(bias instanceof Float32Array) || bias.length !== out)) {
      throw new MinnowError('INVALID_ARGUMENT', `SparseLinear: bias must be a Float32Array of ${out} values (one per output), got ${bias instanceof Float32Array ? bias.length : typeof bias}`);
    }
    this.outFeatures = out;
    this.inFeatures = inFeatures;
    const backend = options.backend;
    this.registerParameter('values', fromArray(weight.values.slice(), [weight.values.length], { backend }));
    this.registerBuffer('colIndices', fromArray(weight.colIndices.slice(), [weight.colIndices.length], { dtype: 'int32', backend }));
    this.registerBuffer('rowPointers', fromArray(weight.rowPointers.slice(), [weight.rowPointers.length], { dtype: 'int32', backend }));
    if (bias) this.registerParameter('bias', fromArray(bias.slice(), [out], { backend }));
  }

  /** The sparse form of a (pruned) float32 Linear: its zero weights are dropped, on the same backend unless told otherwise. */
  static fromLinear(linear: Linear, options: SparseLinearOptions = {}): SparseLinear {
    if (!(linear instanceof Linear)) throw new MinnowError('INVALID_ARGUMENT', 'SparseLinear.fromLinear: expected a Linear');
    const bias = linear.bias ? (linear.bias.dataSync() as Float32Array) : null;
    if (linear.bias && linear.bias.dtype !== 'float32') throw new MinnowError('UNSUPPORTED_DTYPE', `SparseLinear.fromLinear: bias is ${linear.bias.dtype}; only float32 layers convert`);
    return new SparseLinear(csrFromTensor(linear.weight), bias, { backend: options.backend ?? linear.weight.backend.name });
  }

  /** The weight as core's CsrMatrix over this layer's own tensors (valid until they are replaced by to() or disposed). */
  get weight(): CsrMatrix {
    return {
      shape: [this.outFeatures, this.inFeatures],
      values: this.ownParameter('values'),
      colIndices: this.ownBuffer('colIndices'),
      rowPointers: this.ownBuffer('rowPointers'),
    };
  }

  get bias(): Tensor | null {
    return this.optionalParameter('bias');
  }

  /** Stored weights. */
  get nnz(): number {
    return this.ownParameter('values').shape[0];
  }

  /** Fraction of the weight matrix that is zero (not stored). */
  get sparsity(): number {
    const size = this.outFeatures * this.inFeatures;
    return size === 0 ? 0 : 1 - this.nnz / size;
  }

  /** The weight's CSR arrays, read back from the backend. */
  weightArrays(): CsrArrays {
    const w = this.weight;
    return {
      shape: [this.outFeatures, this.inFeatures],
      values: w.values.dataSync() as Float32Array,
      colIndices: w.colIndices.dataSync() as Int32Array,
      rowPointers: w.rowPointers.dataSync() as Int32Array,
    };
  }

  /** Bytes the layer holds in memory: CSR weight arrays plus bias. */
  byteSize(): number {
    return 4 * (2 * this.nnz + this.outFeatures + 1) + (this.bias ? 4 * this.outFeatures : 0);
  }

  /** The dense weight [out, in] as a new tensor on the layer's backend (the caller owns it). */
  denseWeight(): Tensor {
    return fromArray(csrToDense(this.weightArrays()), [this.outFeatures, this.inFeatures], { backend: this.ownParameter('values').backend.name });
  }

  override forward(x: Tensor): Tensor {
    if (x.rank < 1 || x.shape[x.rank - 1] !== this.inFeatures) {
      throw new MinnowError('SHAPE_MISMATCH', `SparseLinear: expected input [..., ${this.inFeatures}], got ${formatShape(x.shape)}`);
    }
    return scope(() => {
      const rows = reshape(x, [-1, this.inFeatures]);
      // (x W^T)^T = W x^T: the sparse operand on the left, x^T a view; the result comes back as a view.
      const y = transpose(sparseMatmul(this.weight, transpose(rows)));
      const bias = this.bias;
      return reshape(bias ? add(y, bias) : y, [...x.shape.slice(0, -1), this.outFeatures]);
    });
  }
}

export interface SparsifyOptions {
  /** Linear layers at least this sparse (fraction of zero weights) become SparseLinear; default 0.5. */
  readonly minSparsity?: number;
}

export interface SparsifiedLayer {
  readonly layer: string;
  readonly sparsity: number;
  readonly converted: boolean;
  /** Bytes of the float32 weight and bias, dense. */
  readonly denseBytes: number;
  /** Bytes as held after conversion (the dense bytes when not converted). */
  readonly bytes: number;
  readonly reason?: string;
}

export interface SparsifyResult {
  /** The rebuilt model: converted layers are new; every other layer is shared with the source. */
  readonly module: Module<[Tensor], Tensor>;
  readonly layers: readonly SparsifiedLayer[];
}

/**
 * Rebuilds a model (Sequential containers, nested ones included) with every float32 Linear layer
 * at least `minSparsity` sparse replaced by a SparseLinear; the source model is left intact.
 */
export function sparsifyLinears(model: AnyModule, options: SparsifyOptions = {}): SparsifyResult {
  const minSparsity = options.minSparsity ?? 0.5;
  if (!(minSparsity >= 0 && minSparsity <= 1)) throw new MinnowError('INVALID_ARGUMENT', `sparsifyLinears: minSparsity must lie in [0, 1], got ${minSparsity}`);
  if (!model.namedModules().some(([, m]) => m instanceof Linear)) throw new MinnowError('INVALID_ARGUMENT', `sparsifyLinears: the model (${model.constructor.name}) has no Linear layer`);
  const layers: SparsifiedLayer[] = [];
  const isLinear = (m: AnyModule): boolean => m instanceof Linear;
  const { module, unreachable } = rebuild('sparsifyLinears', model, isLinear, ({ module: m, path }) => {
    const linear = m as Linear;
    const denseBytes = 4 * (linear.outFeatures * linear.inFeatures + (linear.bias ? linear.outFeatures : 0));
    const weights = linear.weight.dataSync();
    let zeros = 0;
    for (const v of weights) if (v === 0) zeros++;
    const sparsity = weights.length === 0 ? 0 : zeros / weights.length;
    const keep = (reason: string) => {
      layers.push({ layer: path, sparsity, converted: false, denseBytes, bytes: denseBytes, reason });
      return null;
    };
    if (linear.weight.dtype !== 'float32') return keep(`weight is ${linear.weight.dtype}; only float32 layers convert`);
    if (sparsity < minSparsity) return keep(`sparsity ${sparsity.toFixed(3)} is below minSparsity ${minSparsity}`);
    const sparse = SparseLinear.fromLinear(linear);
    layers.push({ layer: path, sparsity, converted: true, denseBytes, bytes: sparse.byteSize() });
    return { module: sparse, consumedNext: false };
  });
  for (const r of unreachable) layers.push({ layer: r.layer, sparsity: NaN, converted: false, denseBytes: NaN, bytes: NaN, reason: r.reason?.replace('left float', 'left dense') });
  return { module: module as Module<[Tensor], Tensor>, layers };
}

