import { MinnowError, keep, type MinnowErrorCode, type Tensor } from '@minnow/core';
import type { GraphProto, NodeProto } from '../ir/types.js';
import type { Attributes } from './attributes.js';
import type { GraphPlan, OuterScope } from './graph.js';
import type { OpContext } from './operator.js';
import { deviceReadCount, type HostData, type Value } from './value.js';

/** The inputs a steady plan was made from, and the plan. */
interface SteadyPlan {
  readonly backend: string;
  readonly elemTypes: readonly number[];
  readonly onDevice: readonly boolean[];
  readonly shapes: readonly (readonly number[] | undefined)[];
  readonly hosts: readonly (HostData | undefined)[];
  readonly value: unknown;
}

/** What a node keeps from run to run: the tensors it memoised (per backend) and its steady plan. */
export class NodeState {
  readonly memos = new Map<string, Map<string, Tensor>>();
  plan: SteadyPlan | undefined;

  dispose(): void {
    for (const byKey of this.memos.values()) for (const t of byKey.values()) t.dispose();
    this.memos.clear();
    this.plan = undefined;
  }
}

/** Host data equal in value (the same array, or the same elements). */
function sameHost(a: HostData | undefined, b: HostData | undefined): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined || a.length !== b.length || a.constructor !== b.constructor) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameShape(a: readonly number[] | undefined, b: readonly number[]): boolean {
  if (a === b) return true;
  if (a === undefined || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

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
    private readonly state: NodeState,
  ) {}

  memo(key: string, make: () => Tensor): Tensor {
    let byKey = this.state.memos.get(this.backend);
    if (byKey === undefined) this.state.memos.set(this.backend, (byKey = new Map()));
    let t = byKey.get(key);
    if (t === undefined) {
      // Kept out of the step's scope: the plan owns it until the session is disposed.
      t = keep(make());
      byKey.set(key, t);
    }
    return t;
  }

  steady<T>(make: () => T): T {
    const known = this.state.plan;
    if (known !== undefined && this.matches(known)) return known.value as T;
    const reads = deviceReadCount();
    const value = make();
    if (deviceReadCount() !== reads) {
      this.state.plan = undefined;
      return value;
    }
    const n = this.inputs.length;
    const elemTypes = new Array<number>(n);
    const onDevice = new Array<boolean>(n);
    const shapes = new Array<readonly number[] | undefined>(n);
    const hosts = new Array<HostData | undefined>(n);
    for (let i = 0; i < n; i++) {
      const v = this.inputs[i];
      elemTypes[i] = v === undefined ? -1 : v.elemType;
      onDevice[i] = v !== undefined && v.isOnDevice;
      shapes[i] = v?.shape;
      hosts[i] = v?.hostForm;
    }
    this.state.plan = { backend: this.backend, elemTypes, onDevice, shapes, hosts, value };
    return value;
  }

  /** Whether this run's inputs agree with those `plan` was made from. */
  private matches(plan: SteadyPlan): boolean {
    if (plan.backend !== this.backend || plan.elemTypes.length !== this.inputs.length) return false;
    for (let i = 0; i < this.inputs.length; i++) {
      const v = this.inputs[i];
      if (v === undefined) {
        if (plan.elemTypes[i] !== -1) return false;
        continue;
      }
      if (v.elemType !== plan.elemTypes[i] || v.isOnDevice !== plan.onDevice[i] || !sameShape(plan.shapes[i], v.shape)) return false;
      if (!sameHost(plan.hosts[i], v.hostForm)) return false;
    }
    return true;
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
    const v = this.input(i);
    // Already on the session's backend (the usual case): no need to build the message naming it.
    const device = v.deviceTensor;
    if (device !== undefined && device.backend.name === this.backend) return device;
    return v.tensor(this.backend, `${this.label} input ${i} ('${this.node.input[i]}')`);
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
