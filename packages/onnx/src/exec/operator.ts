import { MinnowError, type MinnowErrorCode, type Tensor } from '@minnow/core';
import type { GraphProto, NodeProto } from '../ir/types.js';
import type { Attributes } from './attributes.js';
import type { Value } from './value.js';

/**
 * What an operator implementation sees of the node it runs: attributes, inputs (as values, as
 * tensors on the session's backend, or as exact host numbers for shape-like inputs), the opset the
 * model imports for the node's domain, and a way to run subgraphs (If, Loop, Scan).
 */
export interface OpContext {
  readonly node: NodeProto;
  /** "node 'name' (OpType)", for messages. */
  readonly label: string;
  /** The opset version imported for the node's domain. */
  readonly opset: number;
  /** The backend the session runs on. */
  readonly backend: string;
  readonly attrs: Attributes;
  /** Number of input slots the node lists (including empty optional ones). */
  readonly inputCount: number;
  /** Whether input `i` is given (present and not the empty name). */
  has(i: number): boolean;
  /** Input `i`; a missing required input is an INVALID_MODEL error naming the node. */
  input(i: number): Value;
  /** Input `i` as a Tensor on the session's backend. */
  tensor(i: number): Tensor;
  optionalTensor(i: number): Tensor | undefined;
  /** Input `i`'s values as exact numbers, read on the host (shapes, axes, bounds). */
  ints(i: number): number[];
  optionalInts(i: number): number[] | undefined;
  /** A scalar (or one-element) input as a number. */
  scalar(i: number): number;
  /**
   * A tensor this node makes once and reuses on every run (an index table, a prepared weight),
   * freed with the session. `key` must name everything the tensor depends on besides the node.
   */
  memo(key: string, make: () => Tensor): Tensor;
  /**
   * This node's plan: whatever the op derives from its inputs' element types, shapes and host
   * values (checks, broadcast shapes, geometry, attributes normalised), made by `make` and reused
   * while a run's inputs agree with those of the run that made it, so a node that sees the same
   * shapes frame after frame (a streaming model) does that work once. A plan made from device data
   * (a shape input computed on the device) is not kept. One plan per node. A plan may hold the
   * node's memoised tensors (OpContext.memo), which live as long as it; never a run's own tensors.
   */
  steady<T>(make: () => T): T;
  /** Runs `graph` (an attribute of this node) with `inputs` bound to its inputs, the enclosing scopes visible. */
  runGraph(graph: GraphProto, inputs: readonly Value[]): Value[];
  /** A MinnowError that names this node. */
  error(code: MinnowErrorCode, message: string): MinnowError;
}

/** One output: a Value, a bare Tensor (typed as the first input computed in its dtype, else by its dtype), or undefined for an optional output not produced. */
export type OpOutput = Value | Tensor | undefined;

export interface OperatorDefinition {
  run(ctx: OpContext): readonly OpOutput[];
  /** Lowest opset whose form of the op this implementation follows (default 1). */
  readonly sinceVersion?: number;
  /** False for ops that must not be evaluated ahead of time (random ops): default true. */
  readonly foldable?: boolean;
}

/** Operator tables are keyed by op type; the domain is the table's. */
export type OperatorTable = Readonly<Record<string, OperatorDefinition>>;
