import type { GradNode } from './autograd/graph.js';
import type { Backend, BufferView } from './backend.js';
import { isFloatDType, type DType, type TypedArray } from './dtype.js';
import { MinnowError, formatShape } from './errors.js';
import { trackTensor, untrackTensor } from './memory.js';
import { contiguousStrides, isContiguous, shapesEqual, sizeOf, type Shape } from './shape.js';
import { getBackend } from './registry.js';

/**
 * A backend buffer shared by a tensor and all its views, freed when the last of them is disposed.
 */
export class Storage {
  private refs = 0;

  constructor(
    readonly backend: Backend,
    readonly buffer: unknown,
    readonly dtype: DType,
    readonly length: number,
  ) {}

  retain(): void {
    this.refs++;
  }

  release(): void {
    if (--this.refs === 0) this.backend.free(this.buffer);
  }

  static allocate(backend: Backend, dtype: DType, length: number): Storage {
    return new Storage(backend, backend.allocate(dtype, length), dtype, length);
  }

  /** A buffer holding `data`; if the backend refuses the data (e.g. gpu int32 past 2^24) nothing stays allocated. */
  static fromData(backend: Backend, dtype: DType, data: TypedArray): Storage {
    const buffer = backend.allocate(dtype, data.length);
    try {
      backend.write(buffer, data);
    } catch (error) {
      backend.free(buffer);
      throw error;
    }
    return new Storage(backend, buffer, dtype, data.length);
  }
}

/** Nested JS arrays as `array()` returns them and `tensor()` accepts them. */
export type NestedArray = number | boolean | NestedArray[];

let nextId = 0;

export interface BackwardOptions {
  /** Keep the graph (and what it saved) for another backward() through it; it is freed when its tensors are disposed. */
  readonly retainGraph?: boolean;
}

/**
 * autograd/backward.ts installs backward() here: it needs the ops, which need Tensor, so this file
 * cannot import it.
 */
export const autogradHooks: { backward: ((root: Tensor, gradient: Tensor | undefined, options: BackwardOptions) => void) | null } = {
  backward: null,
};

/**
 * An n-dimensional array on one backend: a strided view (shape, strides, offset) over a Storage.
 * Ops never mutate a tensor; views share storage and cost no copy.
 */
export class Tensor {
  readonly id = nextId++;
  readonly shape: readonly number[];
  // Strides and offset as plain fields (assign() replaces them): a tensor is made for every op, so
  // the constructor allocates as little as it can.
  private layoutStrides: readonly number[];
  private layoutOffset: number;
  readonly dtype: DType;
  private buffer: Storage;
  private disposed = false;
  private leafRequiresGrad = false;
  private gradient: Tensor | null = null;
  /**
   * @internal The tape node that produced this tensor (null for leaves and tensors without history).
   * Set by autograd when the op is recorded.
   */
  gradNode: GradNode | null = null;

  constructor(storage: Storage, shape: Shape, strides?: readonly number[], offset = 0) {
    this.buffer = storage;
    this.dtype = storage.dtype;
    // A frozen array cannot change under us, so it is shared rather than copied (views pass their source's shape).
    this.shape = Object.isFrozen(shape) ? shape : Object.freeze([...shape]);
    this.layoutStrides = strides === undefined ? Object.freeze(contiguousStrides(shape)) : Object.isFrozen(strides) ? strides : Object.freeze([...strides]);
    this.layoutOffset = offset;
    storage.retain();
    trackTensor(this);
  }

  get storage(): Storage {
    return this.buffer;
  }

  /** Element strides over the storage (0 where broadcast, negative where reversed). */
  get strides(): readonly number[] {
    return this.layoutStrides;
  }

  get offset(): number {
    return this.layoutOffset;
  }

  get backend(): Backend {
    return this.buffer.backend;
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  /** True when the elements lie in row-major order with no gaps (the offset may be non-zero). */
  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /** The buffer view kernels receive. Throws DISPOSED on a disposed tensor. */
  view(): BufferView<unknown> {
    if (this.disposed) this.assertAlive('use');
    return { buffer: this.buffer.buffer, dtype: this.dtype, shape: this.shape, strides: this.layoutStrides, offset: this.layoutOffset };
  }

  /**
   * Whether gradients flow to this tensor: set on a leaf with requireGrad() (or the `requiresGrad`
   * creation option); true for every floating-point result of an op recorded on the tape.
   */
  get requiresGrad(): boolean {
    return this.leafRequiresGrad || this.gradNode !== null;
  }

  /** A leaf: a tensor no recorded op produced. Only leaves receive `.grad`. */
  get isLeaf(): boolean {
    return this.gradNode === null;
  }

  /**
   * Marks a leaf as requiring grad (or not) and returns it. Only floating-point tensors can:
   * UNSUPPORTED_DTYPE otherwise. A recorded result cannot be switched off (detach() it instead).
   */
  requireGrad(flag = true): this {
    this.assertAlive('requireGrad');
    if (flag && !isFloatDType(this.dtype)) {
      throw new MinnowError('UNSUPPORTED_DTYPE', `requireGrad: tensor #${this.id} is ${this.dtype}; only float32 and float64 tensors can require grad`);
    }
    if (this.gradNode) {
      if (!flag) throw new MinnowError('INVALID_ARGUMENT', `requireGrad(false): tensor #${this.id} is the result of a recorded op; use detach() for a tensor without history`);
      return this;
    }
    this.leafRequiresGrad = flag;
    return this;
  }

  /**
   * The gradient accumulated into this leaf by backward() calls (null until one reaches it). It is
   * owned by this tensor: disposed by zeroGrad(), by the next accumulation, and with the tensor.
   */
  get grad(): Tensor | null {
    return this.gradient;
  }

  /** @internal Replaces the accumulated gradient, disposing the old one. Used by backward(). */
  setGrad(gradient: Tensor | null): void {
    if (this.gradient && this.gradient !== gradient) this.gradient.dispose();
    this.gradient = gradient;
  }

  /** Disposes the accumulated gradient and sets `.grad` to null. */
  zeroGrad(): void {
    this.setGrad(null);
  }

  /**
   * Reverse-mode differentiation from this tensor: accumulates d(this)/d(leaf) into `.grad` of
   * every leaf that requires grad. A scalar (one element) defaults `gradient` to one; any other
   * shape needs it. The graph is freed afterwards unless `retainGraph`.
   */
  backward(gradient?: Tensor, options: BackwardOptions = {}): void {
    this.assertAlive('backward');
    const run = autogradHooks.backward;
    if (!run) throw new MinnowError('INTERNAL', 'backward: autograd is not installed (import minnow through @minnow/core)');
    run(this, gradient, options);
  }

  /**
   * Replaces this leaf's values with `value`'s (same shape, dtype and backend), in place: the
   * tensor object stays the one that modules and optimisers hold, and it owns a fresh contiguous
   * buffer afterwards. This is how parameters are updated. Views taken earlier, and anything the
   * autograd tape saved, keep the old values. Returns this.
   */
  assign(value: Tensor): this {
    this.assertAlive('assign');
    if (!(value instanceof Tensor)) throw new MinnowError('INVALID_ARGUMENT', 'assign: value must be a Tensor');
    value.assertAlive('assign');
    if (!this.isLeaf) throw new MinnowError('INVALID_ARGUMENT', 'assign: only a leaf tensor can be assigned (this one is an op result on the autograd tape; detach() it first)');
    if (!shapesEqual(this.shape, value.shape)) {
      throw new MinnowError('SHAPE_MISMATCH', `assign: value of shape ${formatShape(value.shape)} into a tensor of shape ${formatShape(this.shape)}`);
    }
    if (value.dtype !== this.dtype) throw new MinnowError('DTYPE_MISMATCH', `assign: value of dtype ${value.dtype} into a ${this.dtype} tensor`);
    if (value.backend !== this.backend) {
      throw new MinnowError('BACKEND_MISMATCH', `assign: value on backend "${value.backend.name}" into a tensor on "${this.backend.name}"; move it with await value.to("${this.backend.name}")`);
    }
    let storage = value.buffer;
    if (value.coversStorage()) {
      storage.retain();
    } else {
      // A copy through the cast kernel (same dtype: a contiguous copy), as contiguous() does.
      storage = Storage.allocate(this.backend, this.dtype, this.size);
      storage.retain();
      const out = { buffer: storage.buffer, dtype: this.dtype, shape: this.shape, strides: contiguousStrides(this.shape), offset: 0 };
      try {
        this.backend.kernels.cast([value.view()], out, { dtype: this.dtype });
      } catch (error) {
        storage.release();
        throw error;
      }
    }
    this.buffer.release();
    this.buffer = storage;
    this.layoutStrides = Object.freeze(contiguousStrides(this.shape));
    this.layoutOffset = 0;
    return this;
  }

  /** A view sharing this tensor's storage, with no history: gradients do not flow through it. */
  detach(): Tensor {
    this.assertAlive('detach');
    return new Tensor(this.storage, this.shape, this.strides, this.offset);
  }

  /** Frees this tensor's reference on its storage, its accumulated `.grad`, and its share of the tape. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    untrackTensor(this);
    this.storage.release();
    this.setGrad(null);
    const node = this.gradNode;
    if (node) node.unref();
  }

  [Symbol.dispose](): void {
    this.dispose();
  }

  /** The elements in row-major order, as a new typed array of the tensor's dtype (bool as 0/1 bytes). */
  async data(): Promise<TypedArray> {
    this.assertAlive('data');
    if (this.coversStorage()) return this.backend.read(this.storage.buffer);
    const dense = this.materialize();
    try {
      return await this.backend.read(dense);
    } finally {
      this.backend.free(dense);
    }
  }

  /** Like data(), synchronously; SYNC_READ_UNSUPPORTED on backends that can only read asynchronously. */
  dataSync(): TypedArray {
    this.assertAlive('dataSync');
    const readSync = this.backend.readSync;
    if (!readSync) {
      throw new MinnowError('SYNC_READ_UNSUPPORTED', `dataSync: backend "${this.backend.name}" reads asynchronously; use await tensor.data()`);
    }
    if (this.coversStorage()) return readSync(this.storage.buffer);
    const dense = this.materialize();
    try {
      return readSync(dense);
    } finally {
      this.backend.free(dense);
    }
  }

  /** Nested arrays of numbers (booleans for bool tensors); a scalar for rank 0. */
  async array(): Promise<NestedArray> {
    return nest(await this.data(), this.shape, this.dtype === 'bool');
  }

  arraySync(): NestedArray {
    return nest(this.dataSync(), this.shape, this.dtype === 'bool');
  }

  /** The single element of a size-1 tensor. */
  async item(): Promise<number> {
    this.assertAlive('item');
    this.assertSizeOne();
    return (await this.data())[0];
  }

  itemSync(): number {
    this.assertAlive('itemSync');
    this.assertSizeOne();
    return this.dataSync()[0];
  }

  /** A copy of this tensor on another backend: minnow's platform conversion. The source stays alive. */
  async to(backendName: string): Promise<Tensor> {
    this.assertAlive('to');
    const target = getBackend(backendName);
    const values = await this.data();
    return new Tensor(Storage.fromData(target, this.dtype, values), this.shape);
  }

  toString(): string {
    return `Tensor(${this.dtype}${formatShape(this.shape)} on ${this.backend.name}${this.disposed ? ', disposed' : ''})`;
  }

  private assertAlive(what: string): void {
    if (this.disposed) {
      throw new MinnowError('DISPOSED', `${what}: tensor #${this.id} ${this.dtype}${formatShape(this.shape)} was disposed`);
    }
  }

  private assertSizeOne(): void {
    if (this.size !== 1) {
      throw new MinnowError('INVALID_SHAPE', `item: tensor of shape ${formatShape(this.shape)} has ${this.size} elements, not 1`);
    }
  }

  private coversStorage(): boolean {
    return this.offset === 0 && this.size === this.storage.length && isContiguous(this.shape, this.strides);
  }

  /** A fresh dense buffer holding this view's elements, through the backend's copy (cast) kernel. */
  private materialize(): unknown {
    const backend = this.backend;
    const buffer = backend.allocate(this.dtype, this.size);
    const output: BufferView<unknown> = { buffer, dtype: this.dtype, shape: this.shape, strides: contiguousStrides(this.shape), offset: 0 };
    try {
      backend.kernels.cast([this.view()], output, { dtype: this.dtype });
    } catch (error) {
      backend.free(buffer);
      throw error;
    }
    return buffer;
  }
}

function nest(values: TypedArray, shape: readonly number[], asBool: boolean): NestedArray {
  const at = (i: number): number | boolean => (asBool ? values[i] !== 0 : values[i]);
  if (shape.length === 0) return at(0);
  const build = (dim: number, base: number): NestedArray[] => {
    const out: NestedArray[] = [];
    const stride = sizeOf(shape.slice(dim + 1));
    for (let i = 0; i < shape[dim]; i++) {
      out.push(dim === shape.length - 1 ? at(base + i) : build(dim + 1, base + i * stride));
    }
    return out;
  };
  return build(0, 0);
}
