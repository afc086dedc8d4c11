import { MinnowError, Tensor, keep, noGrad, scope } from '@minnow/core';
import { Conv2d, Linear, type AnyModule } from '@minnow/nn';
import { DataType, OnnxSession, tensorValues, type Feed, type ModelProto, type Value } from '@minnow/onnx';
import { createObserver } from './observers/index.js';
import type { QuantTarget } from './observers/histogram.js';
import type { CalibrationOptions, Observer, TensorRange } from './types.js';

/**
 * Calibration: run a model over calibration batches and reduce every float activation to a range,
 * streaming. Each activation is handed to its tensor's observer the moment it is produced and is
 * released by the executor as usual, so memory is the observers' (fixed) size plus one batch's
 * activations, however many batches are fed.
 */

/** A source of batches: an array, a generator, a DataLoader, or an async stream (a folder of .npy files). */
export type BatchSource<T> = Iterable<T> | AsyncIterable<T>;

export interface CalibrationRunOptions extends CalibrationOptions {
  /** What the ranges will quantize to; the entropy and MSE searches optimise for it (default uint8 affine). */
  readonly target?: QuantTarget;
  /** Called after each batch with the number of batches done. */
  readonly onProgress?: (batches: number) => void;
}

export interface OnnxCalibrationOptions extends CalibrationRunOptions {
  /** Which float tensors to observe, by name (default: every one, graph inputs included). */
  readonly tensors?: (name: string) => boolean;
  /** The backend the model runs on (default 'js'); it must read synchronously (js, wasm). */
  readonly backend?: string;
}

const FLOAT_TYPES = new Set<number>([DataType.FLOAT, DataType.FLOAT16, DataType.BFLOAT16, DataType.DOUBLE]);

/**
 * Runs `model` on every batch and returns the calibrated range of each float value it computes,
 * by name: graph inputs and every node output, in subgraphs (If, Loop, Scan bodies) too. A value
 * computed several times per run (in a Loop body) is observed each time. Names are unique within a
 * well-formed model; where a subgraph reuses a name from another graph, both feed one observer and
 * the range covers both. Constants (initialisers and what constant folding computes) are not
 * activations and are not observed; a tensor that never held an element has no range and is left
 * out. An empty calibration set, and NaN or Inf in any observed tensor, are MinnowErrors.
 */
export async function calibrateOnnx(
  model: ModelProto,
  batches: BatchSource<Readonly<Record<string, Feed>>>,
  options: OnnxCalibrationOptions,
): Promise<Map<string, TensorRange>> {
  const table = new ObserverTable(options);
  const wanted = (name: string): boolean => options.tensors === undefined || options.tensors(name);
  const observe = (name: string, value: Value): void => {
    if (FLOAT_TYPES.has(value.elemType) && wanted(name)) table.observe(name, value.hostData() as ArrayLike<number>, value.shape);
  };
  const session = OnnxSession.create(model, { backend: options.backend, observe });
  const inputs = new Set(session.inputs.map((i) => i.name));
  let count = 0;
  try {
    for await (const feeds of batches) {
      try {
        for (const [name, feed] of Object.entries(feeds)) {
          if (inputs.has(name) && wanted(name)) await observeFeed(name, feed, table);
        }
        const outputs = session.run(feeds);
        for (const t of Object.values(outputs)) t.dispose();
      } catch (error) {
        throw inBatch(error, count);
      }
      count++;
      options.onProgress?.(count);
    }
  } finally {
    session.dispose();
  }
  if (count === 0) throw new MinnowError('INVALID_ARGUMENT', 'calibrateOnnx: the calibration set is empty; calibration needs at least one batch');
  return table.ranges();
}

async function observeFeed(name: string, feed: Feed, table: ObserverTable): Promise<void> {
  if (feed instanceof Tensor) {
    if (feed.dtype === 'float32' || feed.dtype === 'float64') table.observe(name, await feed.data(), feed.shape);
  } else if (FLOAT_TYPES.has(feed.dataType ?? DataType.UNDEFINED)) {
    table.observe(name, tensorValues(feed) as ArrayLike<number>, feed.dims);
  }
}

/** The path-qualified name under which calibrateModule reports a layer's input or output range ('0.input', 'encoder.fc.output'; the root module's are 'input' and 'output'). */
export function moduleTensorName(path: string, which: 'input' | 'output'): string {
  return path === '' ? which : `${path}.${which}`;
}

export interface ModuleCalibrationOptions extends CalibrationRunOptions {
  /** Which layers to observe (default: every Linear and Conv2d). */
  readonly layers?: (path: string, module: AnyModule) => boolean;
}

/** One calibration batch for a module: its input tensor, or a DataLoader batch (whose `x` is fed). */
export type ModuleBatch = Tensor | { readonly x: Tensor; dispose?(): void };

const isQuantizableLayer = (_path: string, m: AnyModule): boolean => m instanceof Linear || m instanceof Conv2d;

/**
 * Runs `module` in eval mode over every batch and returns the range of the input and the output
 * of each observed layer, keyed by `moduleTensorName(path, 'input' | 'output')`. nn has no
 * forward hooks, so each observed layer's `forward` is shadowed by an instance property for the
 * length of the call and restored after, errors included. DataLoader batches (objects with `x`
 * and `dispose`) are disposed once used, since the loop consumes them; plain tensors stay the
 * caller's. The module's training flag is restored afterwards.
 */
export async function calibrateModule(
  module: AnyModule,
  batches: BatchSource<ModuleBatch>,
  options: ModuleCalibrationOptions,
): Promise<Map<string, TensorRange>> {
  const select = options.layers ?? isQuantizableLayer;
  const observed = module.namedModules().filter(([path, m]) => select(path, m));
  const table = new ObserverTable(options);
  // Activations waiting to be read, on backends that only read asynchronously.
  const pending: [string, Tensor][] = [];
  const capture = (name: string, t: unknown): void => {
    if (!(t instanceof Tensor) || (t.dtype !== 'float32' && t.dtype !== 'float64')) return;
    if (t.backend.readSync !== undefined) table.observe(name, t.dataSync(), t.shape);
    else pending.push([name, keep(t.detach())]);
  };
  const restore: (() => void)[] = [];
  for (const [path, layer] of observed) {
    const own = Object.prototype.hasOwnProperty.call(layer, 'forward');
    const original = layer.forward;
    (layer as { forward: AnyModule['forward'] }).forward = function observedForward(...inputs: unknown[]): unknown {
      capture(moduleTensorName(path, 'input'), inputs[0]);
      const output = original.apply(layer, inputs);
      capture(moduleTensorName(path, 'output'), output);
      return output;
    };
    restore.push(() => {
      if (own) (layer as { forward: AnyModule['forward'] }).forward = original;
      else delete (layer as { forward?: unknown }).forward;
    });
  }
  const wasTraining = module.training;
  module.eval();
  let count = 0;
  try {
    for await (const batch of batches) {
      const x = batch instanceof Tensor ? batch : batch.x;
      try {
        noGrad(() => scope(() => {
          module.forward(x);
        }));
        for (const [name, t] of pending) table.observe(name, await t.data(), t.shape);
      } catch (error) {
        throw inBatch(error, count);
      } finally {
        for (const [, t] of pending) t.dispose();
        pending.length = 0;
        if (!(batch instanceof Tensor)) batch.dispose?.();
      }
      count++;
      options.onProgress?.(count);
    }
  } finally {
    for (const undo of restore) undo();
    module.train(wasTraining);
  }
  if (count === 0) throw new MinnowError('INVALID_ARGUMENT', 'calibrateModule: the calibration set is empty; calibration needs at least one batch');
  return table.ranges();
}

/**
 * One observer per tensor name, made on first sight; remembers which ones ever saw an element,
 * since a tensor that never held one (a zero-size batch dim, say) has nothing to calibrate.
 */
class ObserverTable {
  private readonly observers = new Map<string, Observer>();
  private readonly fed = new Set<string>();

  constructor(private readonly options: CalibrationRunOptions) {}

  observe(name: string, values: ArrayLike<number>, shape: readonly number[]): void {
    let observer = this.observers.get(name);
    if (observer === undefined) {
      observer = createObserver({ ...this.options, name });
      this.observers.set(name, observer);
    }
    observer.observe(asFloat32(values), shape);
    if (values.length > 0) this.fed.add(name);
  }

  ranges(): Map<string, TensorRange> {
    const ranges = new Map<string, TensorRange>();
    for (const [name, observer] of this.observers) if (this.fed.has(name)) ranges.set(name, observer.range());
    return ranges;
  }
}

function asFloat32(values: ArrayLike<number>): Float32Array {
  return values instanceof Float32Array ? values : Float32Array.from(values);
}

/** Adds the batch number to a MinnowError's message (the code stays), so a bad sample can be found. */
function inBatch(error: unknown, batch: number): unknown {
  if (!(error instanceof MinnowError)) return error;
  return new MinnowError(error.code, `${error.message} (calibration batch ${batch})`, { cause: error });
}
