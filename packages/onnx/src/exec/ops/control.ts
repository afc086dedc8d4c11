import { contiguous, slice, squeeze, type Tensor } from '@minnow/core';
import { DataType, type GraphProto, type ValueInfoProto } from '../../ir/types.js';
import type { OpContext, OperatorTable, OpOutput } from '../operator.js';
import { Value } from '../value.js';
import { emptyScanOutput, stackValues } from './rnn/stack.js';

/**
 * Control flow: If, Loop and Scan run their subgraphs through ctx.runGraph, which sees the
 * enclosing scopes. Every value a subgraph returns belongs to the op: what is not returned is
 * disposed, on failure too.
 */

function disposeAll(values: Iterable<Value | undefined>): void {
  for (const v of values) v?.dispose();
}

/** A bool or integer scalar input as a truth value. */
function truth(ctx: OpContext, value: Value, name: string): boolean {
  if (value.size !== 1) throw ctx.error('INVALID_MODEL', `${name} must hold one value, it is ${value}`);
  return value.numbers()[0] !== 0;
}

/** Shape of a body's scalar input (iteration number, condition): [1] when the body declares it 1-D, as onnxruntime allows. */
function scalarShape(info: ValueInfoProto | undefined): number[] {
  return info?.type?.tensorType?.shape?.dim.length === 1 ? [1] : [];
}

function runIf(ctx: OpContext): OpOutput[] {
  const branchName = truth(ctx, ctx.input(0), 'cond') ? 'then_branch' : 'else_branch';
  const outputs = ctx.runGraph(ctx.attrs.graph(branchName), []);
  if (outputs.length !== ctx.node.output.length) {
    disposeAll(outputs);
    throw ctx.error('INVALID_MODEL', `${branchName} gives ${outputs.length} outputs, the node lists ${ctx.node.output.length}`);
  }
  return outputs;
}

/**
 * Loop: `for (i = 0; i < M && cond; i++) (cond, carried..., scans...) = body(i, cond, carried...)`.
 * As the spec writes it, the body's condition ends the loop only when the node is given a cond
 * input (with M alone it is a for loop and the body's cond is ignored); with neither the loop
 * would never end, which is refused rather than run.
 */
function runLoop(ctx: OpContext): OpOutput[] {
  const body = ctx.attrs.graph('body');
  const carriedCount = ctx.inputCount - 2;
  const scanCount = ctx.node.output.length - Math.max(0, carriedCount);
  if (carriedCount < 0) throw ctx.error('INVALID_MODEL', 'Loop takes inputs M and cond (either may be empty) before its loop-carried values');
  if (scanCount < 0) throw ctx.error('INVALID_MODEL', `${carriedCount} loop-carried values need as many outputs, the node lists ${ctx.node.output.length}`);
  if (body.output.length !== 1 + carriedCount + scanCount) {
    throw ctx.error('INVALID_MODEL', `the body gives ${body.output.length} outputs; cond, ${carriedCount} loop-carried values and ${scanCount} scan outputs make ${1 + carriedCount + scanCount}`);
  }
  if (!ctx.has(0) && !ctx.has(1)) throw ctx.error('INVALID_MODEL', 'neither a trip count M nor a condition is given: the loop would never end');
  const tripCount = ctx.has(0) ? ctx.scalar(0) : Infinity;
  const condGiven = ctx.has(1);
  let cond = condGiven ? truth(ctx, ctx.input(1), 'cond') : true;
  const iterationShape = scalarShape(body.input[0]);
  const condShape = scalarShape(body.input[1]);
  let carried: Value[] = Array.from({ length: carriedCount }, (_, i) => ctx.input(2 + i));
  let ownCarried = false;
  const scans: Value[][] = Array.from({ length: scanCount }, () => []);
  try {
    for (let i = 0; i < tripCount && cond; i++) {
      const iteration = Value.int64([i], iterationShape);
      const condIn = Value.fromHost(DataType.BOOL, condShape, Uint8Array.of(cond ? 1 : 0));
      let outputs: Value[];
      try {
        outputs = ctx.runGraph(body, [iteration, condIn, ...carried]);
      } finally {
        iteration.dispose();
        condIn.dispose();
      }
      const [condOut, ...rest] = outputs;
      try {
        if (condGiven) cond = truth(ctx, condOut, 'the body\'s cond output');
      } catch (error) {
        disposeAll(rest);
        throw error;
      } finally {
        condOut.dispose();
      }
      if (ownCarried) disposeAll(carried);
      carried = rest.slice(0, carriedCount);
      ownCarried = true;
      rest.slice(carriedCount).forEach((v, k) => scans[k].push(v));
    }
    const stacked = scans.map((values, k) => {
      const what = `${ctx.label} scan output ${k}`;
      return values.length === 0 ? emptyScanOutput(body.output[1 + carriedCount + k], 0, what) : stackValues(values, 0, ctx.backend, what);
    });
    return [...carried, ...stacked];
  } catch (error) {
    if (ownCarried) disposeAll(carried);
    throw error;
  } finally {
    for (const values of scans) disposeAll(values);
  }
}

/** One scan input: its tensor, ONNX type, the axis it is scanned along and whether in reverse. */
interface ScanInput {
  readonly tensor: Tensor;
  readonly elemType: number;
  readonly axis: number;
  readonly reverse: boolean;
}

/** An axis attribute entry in [-rank, rank), made non-negative. */
function normalizeAxis(ctx: OpContext, axis: number, rank: number, what: string): number {
  if (!Number.isInteger(axis) || axis < -rank || axis >= rank) throw ctx.error('INVALID_MODEL', `${what} is ${axis}, outside [${-rank}, ${rank - 1}]`);
  return axis < 0 ? axis + rank : axis;
}

/**
 * The Scan loop proper (opset 9 form): states thread through the body, each scan input is sliced
 * along its axis (from the end when reversed), and each scan output is stacked along its axis
 * (last iteration first when reversed). `states` stay the caller's.
 */
function scanLoop(ctx: OpContext, body: GraphProto, states: readonly Value[], inputs: readonly ScanInput[], outputAxes: readonly number[], outputReverse: readonly boolean[]): Value[] {
  const lengths = inputs.map((s) => s.tensor.shape[s.axis]);
  if (lengths.some((n) => n !== lengths[0])) throw ctx.error('INVALID_MODEL', `scan inputs have different lengths along their scan axes (${lengths.join(', ')})`);
  const steps = lengths[0] ?? 0;
  let current: Value[] = [...states];
  let ownStates = false;
  const scans: Value[][] = outputAxes.map(() => []);
  try {
    for (let t = 0; t < steps; t++) {
      const slices = inputs.map((s) => {
        const at = s.reverse ? steps - 1 - t : t;
        const starts = s.tensor.shape.map((_, d) => (d === s.axis ? at : 0));
        const ends = s.tensor.shape.map((n, d) => (d === s.axis ? at + 1 : n));
        return Value.fromTensor(contiguous(squeeze(slice(s.tensor, starts, ends), s.axis)), s.elemType);
      });
      let outputs: Value[];
      try {
        outputs = ctx.runGraph(body, [...current, ...slices]);
      } finally {
        disposeAll(slices);
      }
      if (ownStates) disposeAll(current);
      current = outputs.slice(0, states.length);
      ownStates = true;
      outputs.slice(states.length).forEach((v, k) => scans[k].push(v));
    }
    const stacked = scans.map((values, k) => {
      const what = `${ctx.label} scan output ${k}`;
      const declared = body.output[states.length + k];
      if (values.length === 0) return emptyScanOutput(declared, outputAxes[k], what);
      const axis = normalizeAxis(ctx, outputAxes[k], values[0].rank + 1, `scan_output_axes[${k}]`);
      return stackValues(outputReverse[k] ? [...values].reverse() : values, axis, ctx.backend, what);
    });
    // With no steps the states pass through: aliases, so the result never shares an owner with the caller's values.
    return [...(ownStates ? current : current.map((v) => v.alias())), ...stacked];
  } catch (error) {
    if (ownStates) disposeAll(current);
    throw error;
  } finally {
    for (const values of scans) disposeAll(values);
  }
}

/** An INTS attribute with one entry per item, zeros when absent. */
function perItem(ctx: OpContext, name: string, count: number): number[] {
  const values = ctx.attrs.ints(name, new Array<number>(count).fill(0));
  if (values.length !== count) throw ctx.error('INVALID_MODEL', `attribute '${name}' has ${values.length} entries, ${count} expected`);
  return values;
}

function runScan(ctx: OpContext): OpOutput[] {
  if (ctx.opset < 9) return runScan8(ctx);
  const body = ctx.attrs.graph('body');
  const scanInputCount = ctx.attrs.int('num_scan_inputs');
  const stateCount = ctx.inputCount - scanInputCount;
  if (scanInputCount < 1 || stateCount < 0) throw ctx.error('INVALID_MODEL', `num_scan_inputs is ${scanInputCount}, the node has ${ctx.inputCount} inputs`);
  const scanOutputCount = body.output.length - stateCount;
  if (scanOutputCount < 0 || ctx.node.output.length > body.output.length) {
    throw ctx.error('INVALID_MODEL', `the body gives ${body.output.length} outputs for ${stateCount} states, the node lists ${ctx.node.output.length}`);
  }
  const axes = perItem(ctx, 'scan_input_axes', scanInputCount);
  const directions = perItem(ctx, 'scan_input_directions', scanInputCount);
  const inputs = Array.from({ length: scanInputCount }, (_, j): ScanInput => {
    const value = ctx.input(stateCount + j);
    return {
      tensor: ctx.tensor(stateCount + j),
      elemType: value.elemType,
      axis: normalizeAxis(ctx, axes[j], value.rank, `scan_input_axes[${j}]`),
      reverse: directions[j] === 1,
    };
  });
  const states = Array.from({ length: stateCount }, (_, i) => ctx.input(i));
  const outputAxes = perItem(ctx, 'scan_output_axes', scanOutputCount);
  const outputReverse = perItem(ctx, 'scan_output_directions', scanOutputCount).map((d) => d === 1);
  const outputs = scanLoop(ctx, body, states, inputs, outputAxes, outputReverse);
  disposeAll(outputs.splice(ctx.node.output.length));
  return outputs;
}

/**
 * Scan as opset 8 defines it: every state and scan input has a leading batch axis, scan inputs are
 * scanned along axis 1, and the optional sequence_lens (input 0) may shorten each batch entry's
 * sequence. Each batch entry runs as its own opset-9 scan; shortened sequences are not supported.
 */
function runScan8(ctx: OpContext): OpOutput[] {
  const body = ctx.attrs.graph('body');
  const scanInputCount = ctx.attrs.int('num_scan_inputs');
  const stateCount = ctx.inputCount - 1 - scanInputCount;
  if (scanInputCount < 1 || stateCount < 0) throw ctx.error('INVALID_MODEL', `num_scan_inputs is ${scanInputCount}, the node has ${ctx.inputCount} inputs (sequence_lens first)`);
  const scanOutputCount = body.output.length - stateCount;
  const directions = perItem(ctx, 'directions', scanInputCount);
  const batched = Array.from({ length: stateCount + scanInputCount }, (_, i) => ({ value: ctx.input(1 + i), tensor: ctx.tensor(1 + i) }));
  const batch = batched[0].tensor.shape[0] ?? 0;
  for (const [i, b] of batched.entries()) {
    const minRank = i < stateCount ? 1 : 2;
    if (b.tensor.rank < minRank || b.tensor.shape[0] !== batch) throw ctx.error('INVALID_MODEL', `input ${1 + i} is ${b.value}; every input needs the batch axis ${batch} first`);
  }
  const steps = batched[stateCount].tensor.shape[1];
  const lengths = ctx.optionalInts(0);
  if (lengths !== undefined && lengths.some((n) => n !== steps)) {
    throw ctx.error('UNSUPPORTED_OP', `sequence_lens [${lengths.join(', ')}] shortens sequences of length ${steps}; minnow runs opset-8 Scan over full sequences only`);
  }
  const entry = (t: Tensor, b: number): Tensor => squeeze(slice(t, t.shape.map((_, d) => (d === 0 ? b : 0)), t.shape.map((n, d) => (d === 0 ? b + 1 : n))), 0);
  const perBatch: Value[][] = [];
  try {
    for (let b = 0; b < batch; b++) {
      const states = batched.slice(0, stateCount).map((s) => Value.fromTensor(entry(s.tensor, b), s.value.elemType));
      const inputs = batched.slice(stateCount).map((s, j): ScanInput => ({ tensor: entry(s.tensor, b), elemType: s.value.elemType, axis: 0, reverse: directions[j] === 1 }));
      try {
        perBatch.push(scanLoop(ctx, body, states, inputs, new Array<number>(scanOutputCount).fill(0), new Array<boolean>(scanOutputCount).fill(false)));
      } finally {
        disposeAll(states);
      }
    }
    if (batch === 0) throw ctx.error('UNSUPPORTED_OP', 'an opset-8 Scan over an empty batch has no outputs minnow can shape');
    return perBatch[0].slice(0, ctx.node.output.length).map((_, k) => stackValues(perBatch.map((outputs) => outputs[k]), 0, ctx.backend, `${ctx.label} output ${k}`));
  } finally {
    for (const outputs of perBatch) disposeAll(outputs);
  }
}

export const controlOperators: OperatorTable = {
  If: { run: runIf },
  Loop: { run: runLoop },
  Scan: { run: runScan },
};
