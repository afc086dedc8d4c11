import { MinnowError, keep, type MinnowErrorCode, type Tensor } from '@minnow/core';
import type { GraphProto, NodeProto } from '../ir/types.js';
import type { Attributes } from './attributes.js';
import type { GraphPlan, OuterScope } from './graph.js';
import type { OpContext } from './operator.js';
import type { Value } from './value.js';

/** The OpContext the graph runner hands each node: inputs resolved, errors naming the node. */
export class NodeContext implements OpContext {
  constructor(
    readonly node: NodeProto,
    readonly label: string,
    readonly opset: number,
    readonly backend: string,
    readonly attrs: Attributes,
    private readonly inputs: readonly (Value | undefined)[],
    /** Plans of the model's subgraphs, made with the session. */
    private readonly plans: ReadonlyMap<GraphProto, GraphPlan>,
    /** What this node's subgraphs see of the enclosing scopes. */
    private readonly outer: OuterScope,
    private readonly memos: Map<string, Tensor>,
  ) {}

  memo(key: string, make: () => Tensor): Tensor {
    const at = `${this.backend}|${key}`;
    let t = this.memos.get(at);
    if (t === undefined) {
      // Kept out of the step's scope: the plan owns it until the session is disposed.
      t = keep(make());
      this.memos.set(at, t);
    }
    return t;
  }

  get inputCount(): number {
    return this.inputs.length;
  }

  has(i: number): boolean {
    return this.inputs[i] !== undefined;
  }

  input(i: number): Value {
    const v = this.inputs[i];
    if (v === undefined) throw this.error('INVALID_MODEL', `input ${i} is required and not given`);
    return v;
  }

  tensor(i: number): Tensor {
    return this.input(i).tensor(this.backend, `${this.label} input ${i} ('${this.node.input[i]}')`);
  }

  optionalTensor(i: number): Tensor | undefined {
    return this.has(i) ? this.tensor(i) : undefined;
  }

  ints(i: number): number[] {
    return this.input(i).numbers();
  }

  optionalInts(i: number): number[] | undefined {
    return this.has(i) ? this.ints(i) : undefined;
  }

  scalar(i: number): number {
    const v = this.input(i);
    if (v.size !== 1) throw this.error('INVALID_MODEL', `input ${i} must hold one value, it has shape [${v.shape.join(',')}]`);
    return v.numbers()[0];
  }

  runGraph(graph: GraphProto, inputs: readonly Value[]): Value[] {
    const plan = this.plans.get(graph);
    if (plan === undefined) throw new MinnowError('INTERNAL', `onnx: ${this.label}: subgraph '${graph.name ?? ''}' was not planned`);
    if (inputs.length !== plan.inputNames.length) {
      throw new MinnowError('INVALID_MODEL', `onnx: ${this.label}: subgraph '${graph.name ?? ''}' takes ${plan.inputNames.length} inputs, ${inputs.length} given`);
    }
    const feeds = new Map<string, Value>();
    for (let i = 0; i < inputs.length; i++) feeds.set(plan.inputNames[i], inputs[i]);
    return plan.run(feeds, this.outer);
  }

  error(code: MinnowErrorCode, message: string): MinnowError {
    return new MinnowError(code, `onnx: ${this.label}: ${message}`);
  }
}
