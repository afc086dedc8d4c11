import {
  add, contiguous, fromArray, matmul, permute, reshape, slice, squeeze, transpose, where, zeros, formatShape, type Tensor,
} from '@minnow/core';
import type { OpContext, OpOutput } from '../../operator.js';
import { resolveActivations, withClip, type Activation } from './activations.js';
import { stack } from './stack.js';

/**
 * What LSTM, GRU and RNN share: reading and checking the inputs (X, W, R, B, sequence_lens,
 * initial_h), the layouts, directions and sequence-length masks, running each direction over time,
 * and assembling Y and Y_h in the node's layout.
 */

export interface RecurrentKind {
  readonly opType: 'LSTM' | 'GRU' | 'RNN';
  /** Gate blocks stacked in W and R (LSTM 4: iofc, GRU 3: zrh, RNN 1). */
  readonly gates: number;
  /** Default activation functions of one direction. */
  readonly activations: readonly string[];
  /**
   * How many of them (from the first) take clipped inputs. The spec applies clip "to the input of
   * activations"; onnxruntime clips the gate inputs but not the cell state LSTM's h() reads, and
   * minnow does the same.
   */
  readonly clipped: number;
}

/** One direction's weights, sliced out of W, R, B (and P for LSTM by the caller). */
export interface DirectionWeights {
  /** W^T: [input, gates*hidden]. */
  readonly wT: Tensor;
  /** R^T: [hidden, gates*hidden]. */
  readonly rT: Tensor;
  /** Wb: [gates*hidden], or undefined without B. */
  readonly wBias: Tensor | undefined;
  /** Rb: [gates*hidden], or undefined without B. */
  readonly rBias: Tensor | undefined;
  /** The direction's activations, clip applied where it belongs. */
  readonly activations: readonly Activation[];
  /** Index of the direction in the num_directions axis. */
  readonly index: number;
  readonly reverse: boolean;
}

export interface RecurrentInputs {
  readonly x: Tensor;
  readonly seqLength: number;
  readonly batch: number;
  readonly hidden: number;
  readonly directions: DirectionWeights[];
  /** Per time step, a [batch, 1] bool mask of the batch entries still inside their sequence; undefined when every sequence is full length. */
  readonly masks: (Tensor | undefined)[];
  /** Layout 1 puts batch first in X, the initial states and the outputs. */
  readonly batchFirst: boolean;
}

const DIRECTIONS = ['forward', 'reverse', 'bidirectional'];

/** Reads and checks the inputs every recurrent op shares; X comes back as [seq, batch, input]. */
export function readRecurrentInputs(ctx: OpContext, kind: RecurrentKind): RecurrentInputs {
  const direction = ctx.attrs.string('direction', 'forward');
  if (!DIRECTIONS.includes(direction)) throw ctx.error('INVALID_MODEL', `attribute 'direction' is '${direction}', expected forward, reverse or bidirectional`);
  const numDirections = direction === 'bidirectional' ? 2 : 1;
  // layout arrived in opset 14; earlier forms are always sequence-first.
  const layout = ctx.opset >= 14 ? ctx.attrs.int('layout', 0) : 0;
  if (layout !== 0 && layout !== 1) throw ctx.error('INVALID_MODEL', `attribute 'layout' is ${layout}, expected 0 or 1`);
  const batchFirst = layout === 1;
  const clip = ctx.attrs.has('clip') ? ctx.attrs.float('clip') : undefined;
  if (clip !== undefined && !(clip > 0)) throw ctx.error('INVALID_MODEL', `attribute 'clip' is ${clip}, it must be positive`);

  const xIn = ctx.tensor(0);
  if (xIn.dtype !== 'float32' && xIn.dtype !== 'float64') throw ctx.error('UNSUPPORTED_DTYPE', `X is ${xIn.dtype}; ${kind.opType} computes float tensors only`);
  if (xIn.rank !== 3) throw ctx.error('INVALID_MODEL', `X must be 3-D, it has shape ${formatShape(xIn.shape)}`);
  const x = batchFirst ? transpose(xIn, 0, 1) : xIn;
  const [seqLength, batch, inputSize] = x.shape;
  const w = ctx.tensor(1);
  const r = ctx.tensor(2);
  const hidden = ctx.attrs.has('hidden_size') ? ctx.attrs.int('hidden_size') : (r.shape[r.rank - 1] ?? 0);
  const gh = kind.gates * hidden;
  const expectShape = (t: Tensor, name: string, shape: readonly number[]): void => {
    if (t.dtype !== xIn.dtype) throw ctx.error('INVALID_MODEL', `${name} is ${t.dtype}, X is ${xIn.dtype}`);
    if (t.rank !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw ctx.error('INVALID_MODEL', `${name} has shape ${formatShape(t.shape)}, expected ${formatShape(shape)} (num_directions ${numDirections}, hidden_size ${hidden}, input_size ${inputSize}, batch ${batch})`);
    }
  };
  expectShape(w, 'W', [numDirections, gh, inputSize]);
  expectShape(r, 'R', [numDirections, gh, hidden]);
  const b = ctx.optionalTensor(3);
  if (b !== undefined) expectShape(b, 'B', [numDirections, 2 * gh]);

  const perDirection = resolveActivations(ctx, kind.activations, numDirections);
  const directions: DirectionWeights[] = [];
  for (let d = 0; d < numDirections; d++) {
    const pick = (t: Tensor): Tensor => squeeze(slice(t, [d, ...t.shape.slice(1).map(() => 0)], [d + 1, ...t.shape.slice(1)]), 0);
    const bias = b === undefined ? undefined : pick(b);
    directions.push({
      wT: transpose(pick(w)),
      rT: transpose(pick(r)),
      wBias: bias === undefined ? undefined : slice(bias, [0], [gh]),
      rBias: bias === undefined ? undefined : slice(bias, [gh], [2 * gh]),
      activations: perDirection[d].map((a, k) => (k < kind.clipped ? withClip(a, clip) : a)),
      index: d,
      reverse: direction === 'reverse' || d === 1,
    });
  }
  return { x, seqLength, batch, hidden, directions, masks: sequenceMasks(ctx, seqLength, batch, x.backend.name), batchFirst };
}

/** sequence_lens as per-step masks; none when absent or when every sequence runs the full length. */
function sequenceMasks(ctx: OpContext, seqLength: number, batch: number, backend: string): (Tensor | undefined)[] {
  const none = Array.from({ length: seqLength }, () => undefined);
  const lengths = ctx.optionalInts(4);
  if (lengths === undefined) return none;
  if (lengths.length !== batch) throw ctx.error('INVALID_MODEL', `sequence_lens has ${lengths.length} entries, the batch is ${batch}`);
  const bad = lengths.findIndex((n) => !Number.isInteger(n) || n < 0 || n > seqLength);
  if (bad >= 0) throw ctx.error('INVALID_MODEL', `sequence_lens[${bad}] is ${lengths[bad]}, outside [0, ${seqLength}]`);
  if (lengths.every((n) => n === seqLength)) return none;
  return none.map((_, t) => fromArray(Uint8Array.from(lengths, (n) => (t < n ? 1 : 0)), [batch, 1], { dtype: 'bool', backend }));
}

/**
 * An initial state input (initial_h or initial_c) as one [batch, hidden] tensor per direction:
 * zeros when absent, the layout's batch-first form transposed.
 */
export function initialStates(ctx: OpContext, index: number, name: string, inputs: RecurrentInputs): Tensor[] {
  const numDirections = inputs.directions.length;
  const given = ctx.optionalTensor(index);
  if (given === undefined) {
    return inputs.directions.map(() => zeros([inputs.batch, inputs.hidden], { dtype: inputs.x.dtype, backend: inputs.x.backend.name }));
  }
  const state = inputs.batchFirst && given.rank === 3 ? transpose(given, 0, 1) : given;
  const expected = [numDirections, inputs.batch, inputs.hidden];
  if (given.dtype !== inputs.x.dtype || state.rank !== 3 || state.shape.some((d, i) => d !== expected[i])) {
    throw ctx.error('INVALID_MODEL', `${name} is ${given.dtype}${formatShape(given.shape)}, expected ${inputs.x.dtype}${formatShape(inputs.batchFirst ? [inputs.batch, numDirections, inputs.hidden] : expected)}`);
  }
  return inputs.directions.map((_, d) => squeeze(slice(state, [d, 0, 0], [d + 1, inputs.batch, inputs.hidden]), 0));
}

/** X W^T + bias for every time step at once: [seq, batch, gates*hidden]. */
export function inputProjection(x: Tensor, weights: DirectionWeights, bias: Tensor | undefined): Tensor {
  const projected = reshape(matmulRows(x, weights.wT), [x.shape[0], x.shape[1], weights.wT.shape[1]]);
  return bias === undefined ? projected : add(projected, bias);
}

/** [seq, batch, in] x [in, out] as one [seq*batch, in] product. */
function matmulRows(x: Tensor, wT: Tensor): Tensor {
  const rows = reshape(contiguous(x), [x.shape[0] * x.shape[1], x.shape[2]]);
  return matmul(rows, wT);
}

/** Row t of a [seq, batch, n] tensor as [batch, n]. */
export function stepOf(t: Tensor, step: number): Tensor {
  return squeeze(slice(t, [step, 0, 0], [step + 1, t.shape[1], t.shape[2]]), 0);
}

/** Columns [from, to) of a [batch, n] tensor. */
export function columns(t: Tensor, from: number, to: number): Tensor {
  return slice(t, [0, from], [t.shape[0], to]);
}

/**
 * Where the step's mask is off (past the sequence's length), the state keeps its previous value
 * and the step's output is zero, as ONNX's reference and onnxruntime do.
 */
export function masked(mask: Tensor | undefined, next: Tensor, previous: Tensor): Tensor {
  return mask === undefined ? next : where(mask, next, previous);
}

export function maskedOutput(mask: Tensor | undefined, next: Tensor): Tensor {
  return mask === undefined ? next : where(mask, next, 0);
}

/** Time steps in the order a direction visits them. */
export function stepOrder(seqLength: number, reverse: boolean): number[] {
  const order = Array.from({ length: seqLength }, (_, t) => t);
  return reverse ? order.reverse() : order;
}

/**
 * The op's outputs in the node's layout: Y [seq, dirs, batch, hidden] (or [batch, seq, dirs, hidden])
 * from each direction's per-step outputs in time order, and each final state [dirs, batch, hidden]
 * (or [batch, dirs, hidden]). Y is only assembled when the node asks for it.
 */
export function assembleOutputs(ctx: OpContext, inputs: RecurrentInputs, ys: Tensor[][], finals: Tensor[][]): OpOutput[] {
  const wantY = (ctx.node.output[0] ?? '') !== '';
  const out: OpOutput[] = [];
  if (wantY) {
    if (inputs.seqLength === 0) {
      const shape = [0, inputs.directions.length, inputs.batch, inputs.hidden];
      out.push(zeros(inputs.batchFirst ? [shape[2], 0, shape[1], shape[3]] : shape, { dtype: inputs.x.dtype, backend: inputs.x.backend.name }));
    } else {
      const y = stack(ys.map((perStep) => stack(perStep, 0)), 1);
      out.push(contiguous(inputs.batchFirst ? permute(y, [2, 0, 1, 3]) : y));
    }
  } else {
    out.push(undefined);
  }
  for (const states of finals) {
    const state = stack(states, 0);
    out.push(contiguous(inputs.batchFirst ? transpose(state, 0, 1) : state));
  }
  return out.slice(0, Math.max(1, ctx.node.output.length));
}
