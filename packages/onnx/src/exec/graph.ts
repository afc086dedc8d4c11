import { MinnowError, enterScope, exitScope, type Tensor } from '@minnow/core';
import type { FunctionProto, GraphProto, NodeProto } from '../ir/types.js';
import { dataTypeName } from '../ir/tensor.js';
import { Attributes } from './attributes.js';
import { NodeContext, NodeState } from './context.js';
import { computeDType, isComputable, naturalType } from './dtypes.js';
import type { OperatorDefinition, OpOutput } from './operator.js';
import { findOperator, normalizeDomain } from './registry.js';
import { densifySparse } from './sparse.js';
import { aliasTensor, Value } from './value.js';
import { instantiateFunction } from './functions.js';
import { describeNode, freeNames, subgraphsOf, topologicalOrder } from './topology.js';

export { freeNames } from './topology.js';

/** What every graph of one session shares: the backend, the model's opsets and functions, and the plans of its subgraphs. */
export interface SessionShared {
  readonly backend: string;
  readonly opsets: ReadonlyMap<string, number>;
  readonly functions: ReadonlyMap<string, FunctionProto>;
  readonly constantFolding: boolean;
  readonly observe?: ValueObserver;
  /** Plans of every subgraph and function body, made with their parent; the session disposes them. */
  readonly subgraphPlans: Map<GraphProto, GraphPlan>;
}

/**
 * Sees every value a node produces while a graph runs (in subgraphs too), before it is released:
 * calibration and debugging read activations through this. `graph` names the graph it is in.
 */
export type ValueObserver = (name: string, value: Value, graph: string) => void;

/** Looks a name up in the scopes enclosing a subgraph. */
export type OuterScope = (name: string) => Value | undefined;

interface Step {
  readonly node: NodeProto;
  readonly label: string;
  readonly def: OperatorDefinition;
  readonly opset: number;
  readonly attrs: Attributes;
  /** Names this node reads from enclosing scopes through its subgraphs (If, Loop, Scan bodies). */
  readonly implicit: readonly string[];
  /** Values whose last reader is this step: released after it runs. */
  release: string[];
  /** What the op keeps from run to run (OpContext.memo and steady). */
  readonly state: NodeState;
  /** Where run() keeps each input, output and released value (-1: an empty optional name); set once the plan is final. */
  inputSlots: number[];
  outputSlots: number[];
  releaseSlots: number[];
}

/**
 * A graph made ready to run: nodes in topological order with their implementations looked up,
 * every input checked to resolve, initialisers (and, by default, every node computable from them
 * alone) evaluated once as constants, and each intermediate value released right after its last
 * reader. Subgraphs are planned with their parent, so a bad model fails when the session is made.
 */
export class GraphPlan {
  private readonly steps: Step[] = [];
  private readonly constants = new Map<string, Value>();
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  // run() keeps values in an array indexed by slot, one per name the graph defines or reads, rather
  // than in maps keyed by name: every step reads and writes several.
  private readonly slotOf = new Map<string, number>();
  /** The constants at their slots, the rest empty: each run starts from a copy. */
  private slotTemplate: (Value | undefined)[] = [];
  private inputSlots: number[] = [];
  private outputSlots: number[] = [];
  /** Names read here but defined in an enclosing scope, with their slots: looked up once per run. */
  private outerSlots: { readonly slot: number; readonly name: string }[] = [];
  /** Slots that steps produce into: what a run still holds there at its end is disposed. */
  private producedSlots: number[] = [];

  constructor(private readonly graph: GraphProto, private readonly shared: SessionShared, outerNames: ReadonlySet<string>, private readonly what = 'graph') {
    this.outputNames = graph.output.map((v) => v.name ?? '');
    for (const t of graph.initializer) this.constants.set(t.name ?? '', Value.fromProto(t, true));
    for (const s of graph.sparseInitializer) this.constants.set(s.values?.name ?? '', densifySparse(s));
    this.inputNames = graph.input.map((v) => v.name ?? '').filter((n) => !this.constants.has(n));
    const visible = new Set<string>([...outerNames, ...graph.input.map((v) => v.name ?? ''), ...this.constants.keys()]);
    for (const node of topologicalOrder(graph, visible, (name) => this.outerOnly(name), this.what)) this.steps.push(this.planStep(node.node, node.index, visible));
    for (const name of this.outputNames) {
      if (!visible.has(name)) throw new MinnowError('INVALID_MODEL', `onnx: ${this.what}: output '${name}' is not produced by any node, nor an input or initialiser`);
    }
    if (shared.constantFolding) this.foldConstants();
    this.planReleases();
    this.planSlots();
  }

  /** Graph inputs and initialisers are defined here; only names from enclosing scopes may be shadowed by a node. */
  private outerOnly(name: string): boolean {
    return !this.constants.has(name) && !this.graph.input.some((v) => v.name === name);
  }

  private planStep(node: NodeProto, index: number, visible: Set<string>): Step {
    const label = describeNode(node, index);
    const domain = normalizeDomain(node.domain);
    const opType = node.opType ?? '';
    const opset = this.shared.opsets.get(domain);
    const fn = this.shared.functions.get(`${domain}:${opType}`);
    let def: OperatorDefinition | undefined;
    if (fn) {
      const body = instantiateFunction(fn, node, label);
      this.shared.subgraphPlans.set(body, new GraphPlan(body, this.shared, new Set(), `${label} function '${opType}'`));
      def = { run: (ctx) => ctx.runGraph(body, node.input.map((_, i) => ctx.input(i))) };
    } else {
      if (opset === undefined) throw new MinnowError('INVALID_MODEL', `onnx: ${label}: its domain '${domain || 'ai.onnx'}' is not in the model's opset imports`);
      def = findOperator(domain, opType);
      if (def === undefined || opset < (def.sinceVersion ?? 1)) {
        throw new MinnowError('UNSUPPORTED_OP', `onnx: ${label}: op '${opType}' (domain '${domain || 'ai.onnx'}', opset ${opset}) is not supported by minnow${def ? ` before opset ${def.sinceVersion}` : ''}`);
      }
    }
    const innerVisible = new Set(visible);
    for (const g of subgraphsOf(node)) {
      if (!this.shared.subgraphPlans.has(g)) this.shared.subgraphPlans.set(g, new GraphPlan(g, this.shared, innerVisible, `${label} subgraph '${g.name ?? ''}'`));
    }
    for (const o of node.output) if (o !== '') visible.add(o);
    const implicit = [...new Set(subgraphsOf(node).flatMap((g) => [...freeNames(g)]))];
    return { node, label, def, opset: opset ?? 1, attrs: new Attributes(node, label), implicit, release: [], state: new NodeState(), inputSlots: [], outputSlots: [], releaseSlots: [] };
  }

  /** Evaluates, once, every node that reads only constants (initialisers and earlier folded nodes). */
  private foldConstants(): void {
    const kept: Step[] = [];
    for (const step of this.steps) {
      const foldable = step.def.foldable !== false && step.implicit.length === 0 && subgraphsOf(step.node).length === 0
        && step.node.input.every((i) => i === '' || this.constants.has(i));
      if (!foldable) {
        kept.push(step);
        continue;
      }
      const outputs = this.runStep(step, (name) => this.constants.get(name));
      step.node.output.forEach((name, i) => {
        const v = outputs[i];
        if (name !== '' && v !== undefined) this.constants.set(name, v.alias(true));
        v?.dispose();
      });
    }
    this.steps.length = 0;
    this.steps.push(...kept);
  }

  private planReleases(): void {
    const lastReader = new Map<string, Step>();
    for (const step of this.steps) {
      for (const name of [...step.node.input, ...step.implicit]) if (name !== '') lastReader.set(name, step);
      // An output nobody reads is released right after the step that made it.
      for (const name of step.node.output) if (name !== '' && !lastReader.has(name)) lastReader.set(name, step);
    }
    const produced = new Set(this.steps.flatMap((s) => s.node.output));
    const outputs = new Set(this.outputNames);
    for (const [name, step] of lastReader) if (produced.has(name) && !outputs.has(name)) step.release.push(name);
  }

  /** Gives every name a slot in run()'s value array and resolves each step's names to slots. */
  private planSlots(): void {
    const slot = (name: string): number => {
      let at = this.slotOf.get(name);
      if (at === undefined) this.slotOf.set(name, (at = this.slotOf.size));
      return at;
    };
    const local = new Set<string>([...this.constants.keys(), ...this.inputNames]);
    for (const [name, v] of this.constants) this.slotTemplate[slot(name)] = v;
    this.inputSlots = this.inputNames.map(slot);
    const produced = new Set<number>();
    const outer = new Set<string>();
    const read = (name: string): void => {
      if (name === '') return;
      slot(name);
      if (!local.has(name)) outer.add(name);
    };
    for (const step of this.steps) {
      step.inputSlots = step.node.input.map((name) => (name === '' ? -1 : slot(name)));
      for (const name of step.node.input) read(name);
      for (const name of step.implicit) read(name);
      step.outputSlots = step.node.output.map((name) => (name === '' ? -1 : slot(name)));
      for (const name of step.node.output) {
        if (name === '') continue;
        local.add(name);
        outer.delete(name);
        produced.add(slot(name));
      }
      step.releaseSlots = step.release.map(slot);
    }
    for (const name of this.outputNames) read(name);
    this.outputSlots = this.outputNames.map(slot);
    this.slotTemplate.length = this.slotOf.size;
    this.outerSlots = [...outer].map((name) => ({ slot: slot(name), name }));
    this.producedSlots = [...produced];
  }

  /**
   * Runs the graph. `feeds` are bound to the graph's inputs (they stay the caller's); the outputs
   * are new values the caller owns. Every intermediate is disposed, on failure too.
   */
  run(feeds: ReadonlyMap<string, Value>, outer?: OuterScope): Value[] {
    const values = this.slotTemplate.slice();
    for (let i = 0; i < this.inputSlots.length; i++) values[this.inputSlots[i]] = feeds.get(this.inputNames[i]);
    if (outer !== undefined) for (const { slot, name } of this.outerSlots) values[slot] = outer(name);
    // Subgraphs see this graph's values, then the enclosing scopes'.
    const lookup: OuterScope = (name) => {
      const at = this.slotOf.get(name);
      return (at === undefined ? undefined : values[at]) ?? outer?.(name);
    };
    const observe = this.shared.observe;
    const backend = this.shared.backend;
    try {
      for (const step of this.steps) {
        const slots = step.inputSlots;
        const inputs = new Array<Value | undefined>(slots.length);
        for (let i = 0; i < slots.length; i++) {
          if (slots[i] < 0) continue;
          const v = values[slots[i]];
          if (v === undefined) throw new MinnowError('INTERNAL', `onnx: ${step.label}: input '${step.node.input[i]}' has no value`);
          inputs[i] = v;
        }
        const outputs = this.execute(step, inputs, backend, lookup);
        const outSlots = step.outputSlots;
        for (let i = 0; i < outputs.length; i++) {
          const v = outputs[i];
          if (v === undefined) continue;
          if (i < outSlots.length && outSlots[i] >= 0) {
            values[outSlots[i]] = v;
            observe?.(step.node.output[i], v, this.what);
          } else v.dispose();
        }
        for (const at of step.releaseSlots) {
          values[at]?.dispose();
          values[at] = undefined;
        }
      }
      const results = new Array<Value>(this.outputSlots.length);
      for (let i = 0; i < results.length; i++) {
        const at = this.outputSlots[i];
        const v = values[at];
        if (v === undefined) throw new MinnowError('INVALID_MODEL', `onnx: ${this.what}: output '${this.outputNames[i]}' has no value (an optional output that was not produced?)`);
        // A value a step produced is handed over (once: the same name listed twice gets an alias
        // the second time); feeds, constants and outer values stay theirs, so the caller gets an alias.
        if (this.producedSlots.includes(at) && this.outputSlots.indexOf(at) === i) {
          results[i] = v;
          values[at] = undefined;
          if (this.outputSlots.lastIndexOf(at) !== i) values[at] = v.alias();
        } else results[i] = v.alias();
      }
      return results;
    } finally {
      for (const at of this.producedSlots) values[at]?.dispose();
    }
  }

  /**
   * Shape inference by abstract evaluation: each node runs on `meta` (a backend that computes shapes,
   * not values) unless all its inputs are known values, which it computes on the session backend
   * exactly (shape arithmetic: Shape -> Gather -> Concat -> Reshape). `prepare` turns each input into
   * the form the chosen backend needs. A node that cannot be inferred (its output shape depends on
   * data nobody knows yet, or it fails) leaves its outputs unknown (undefined) and a reason in
   * `problems`. Every value made here is disposed by the caller.
   */
  infer(
    feeds: ReadonlyMap<string, Value>,
    meta: string,
    prepare: (v: Value, onMeta: boolean) => Value,
  ): { values: Map<string, Value | undefined>; problems: string[] } {
    const values = new Map<string, Value | undefined>();
    const problems: string[] = [];
    const lookup = (name: string): Value | undefined => (values.has(name) ? values.get(name) : feeds.get(name) ?? this.constants.get(name));
    const isMeta = (v: Value): boolean => v.deviceTensor?.backend.name === meta;
    for (const step of this.steps) {
      const inputs = step.node.input.map((n) => (n === '' ? undefined : lookup(n)));
      let outputs: (Value | undefined)[] = [];
      if (step.node.input.some((n, i) => n !== '' && inputs[i] === undefined)) {
        problems.push(`${step.label}: an input's shape is unknown`);
      } else {
        const onMeta = inputs.some((v) => v !== undefined && isMeta(v));
        const prepared = new Map<string, Value>();
        step.node.input.forEach((n, i) => {
          if (n !== '' && !prepared.has(n)) prepared.set(n, prepare(inputs[i] as Value, onMeta));
        });
        try {
          outputs = this.runStep(step, (n) => prepared.get(n) ?? lookup(n), onMeta ? meta : this.shared.backend);
        } catch (error) {
          if (!(error instanceof MinnowError)) throw error;
          problems.push(`${step.label}: ${error.message}`);
        } finally {
          for (const [n, v] of prepared) if (v !== lookup(n)) v.dispose();
        }
      }
      step.node.output.forEach((name, i) => {
        if (name !== '') values.set(name, outputs[i]);
      });
    }
    return { values, problems };
  }

  /** Runs one step with its inputs found by `lookup` (constant folding, shape inference). */
  private runStep(step: Step, lookup: (name: string) => Value | undefined, backend = this.shared.backend): (Value | undefined)[] {
    const inputs = step.node.input.map((name) => {
      if (name === '') return undefined;
      const v = lookup(name);
      if (v === undefined) throw new MinnowError('INTERNAL', `onnx: ${step.label}: input '${name}' has no value`);
      return v;
    });
    return this.execute(step, inputs, backend, lookup);
  }

  /**
   * Runs one step's op on `inputs` inside a scope of its own, so whatever the op made on the way
   * is disposed, and types its outputs. `outer` is what the step's subgraphs see.
   */
  private execute(step: Step, inputs: readonly (Value | undefined)[], backend: string, outer: OuterScope): (Value | undefined)[] {
    const ctx = new NodeContext(step.node, step.label, step.opset, backend, step.attrs, inputs, this.shared.subgraphPlans, outer, step.state);
    const token = enterScope();
    let outputs: (Value | undefined)[];
    try {
      const results = step.def.run(ctx);
      if (results.length > step.node.output.length) {
        throw new MinnowError('INTERNAL', `onnx: ${step.label}: produced ${results.length} outputs, the node lists ${step.node.output.length}`);
      }
      outputs = new Array<Value | undefined>(results.length);
      const kept: Tensor[] = [];
      for (let i = 0; i < results.length; i++) {
        const v = this.toValue(results[i], inputs, step);
        outputs[i] = v;
        const t = v?.deviceTensor;
        if (t !== undefined) kept.push(t);
      }
      exitScope(token, kept);
    } catch (error) {
      exitScope(token);
      throw error;
    }
    return outputs;
  }

  /** An op's output as a value of its own: bare tensors are typed, and anything the op passed through from an input gets its own alias. */
  private toValue(result: OpOutput, inputs: readonly (Value | undefined)[], step: Step): Value | undefined {
    if (result === undefined) return undefined;
    if (result instanceof Value) {
      let shared = result.constant;
      const device = result.deviceTensor;
      for (let i = 0; !shared && i < inputs.length; i++) {
        const v = inputs[i];
        shared = v === result || (device !== undefined && v !== undefined && v.deviceTensor === device);
      }
      return shared ? result.alias() : result;
    }
    let passedThrough = false;
    // The first input computed in the output's dtype lends its ONNX type (Where's X, not its bool
    // condition); ops whose output type differs from every such input (Cast, ArgMax) say so themselves.
    let elemType: number | undefined;
    for (let i = 0; i < inputs.length; i++) {
      const v = inputs[i];
      if (v === undefined) continue;
      if (v.deviceTensor === result) passedThrough = true;
      if (elemType === undefined && isComputable(v.elemType) && computeDType(v.elemType, step.label) === result.dtype) elemType = v.elemType;
    }
    return Value.fromTensor(passedThrough ? aliasTensor(result) : result, elemType ?? naturalType(result.dtype));
  }

  /** Nodes left to run each time (after constant folding). */
  get nodeCount(): number {
    return this.steps.length;
  }

  dispose(): void {
    for (const step of this.steps) {
      step.state.dispose();
    }
    for (const v of this.constants.values()) v.dispose();
    this.constants.clear();
  }

  /** Element types of the graph's declared inputs, for checking feeds. */
  declaredType(name: string): string {
    const info = this.graph.input.find((v) => v.name === name);
    return dataTypeName(info?.type?.tensorType?.elemType);
  }
}
