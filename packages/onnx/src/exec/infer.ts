import { init, zeros } from '@minnow/core';
import { dataTypeName } from '../ir/tensor.js';
import { computeDType } from './dtypes.js';
import type { GraphPlan } from './graph.js';
import { META_BACKEND, metaBackendFactory } from './meta-backend.js';
import type { ValueDescription } from './session.js';
import { Value } from './value.js';

/** A value's inferred type and dims: a number, the name of the input dim it follows, or undefined when unknown. */
export interface InferredValue {
  readonly elemType: number;
  readonly type: string;
  readonly dims: readonly (number | string | undefined)[] | undefined;
}

export interface ShapeInference {
  /** Every input and node output of the main graph, by name. */
  readonly values: ReadonlyMap<string, InferredValue>;
  /** Nodes whose outputs could not be inferred, and why. */
  readonly problems: readonly string[];
}

/** Known values this small are carried exactly through inference (they are shapes, axes, bounds). */
const KNOWN_VALUE_LIMIT = 4096;

/**
 * Shapes and types of every value, for inputs of the given dims (symbolic dims stay symbolic). The
 * graph is evaluated abstractly twice, each symbolic input dim set to a different probe size each
 * time: an output dim equal in both runs is a number; one that follows a symbolic dim in both runs
 * is named after it; one that changes otherwise (2*batch, say) is unknown.
 */
export async function inferShapes(
  plan: GraphPlan,
  inputs: readonly ValueDescription[],
  fixed: Readonly<Record<string, readonly number[]>> = {},
): Promise<ShapeInference> {
  await init(metaBackendFactory);
  const params = new Map<string, number>();
  for (const input of inputs) {
    (input.dims ?? []).forEach((d, i) => {
      if (typeof d !== 'number' && fixed[input.name] === undefined) params.set(d ?? `${input.name}[${i}]`, params.size);
    });
  }
  const probe = (run: number, index: number): number => 7 + 2 * index + run * (2 * params.size + 3);
  const runs = [0, 1].map((run) => abstractRun(plan, inputs, (input) => fixed[input.name] ?? (input.dims ?? []).map((d, i) => (
    typeof d === 'number' ? d : probe(run, params.get(d ?? `${input.name}[${i}]`) as number)))));
  const nameOf = new Map<string, string>();
  for (const [name, index] of params) nameOf.set(`${probe(0, index)}:${probe(1, index)}`, name);
  const values = new Map<string, InferredValue>();
  for (const [name, a] of runs[0].shapes) {
    const b = runs[1].shapes.get(name);
    const elemType = a?.elemType ?? b?.elemType;
    if (elemType === undefined) continue;
    const dims = a?.shape !== undefined && b?.shape !== undefined && a.shape.length === b.shape.length
      ? a.shape.map((d, i) => (d === b.shape[i] ? d : nameOf.get(`${d}:${b.shape[i]}`)))
      : undefined;
    values.set(name, { elemType, type: dataTypeName(elemType), dims });
  }
  return { values, problems: [...new Set([...runs[0].problems, ...runs[1].problems])] };
}

function abstractRun(
  plan: GraphPlan,
  inputs: readonly ValueDescription[],
  dimsOf: (input: ValueDescription) => readonly number[],
): { shapes: Map<string, { elemType: number; shape: readonly number[] } | undefined>; problems: string[] } {
  const feeds = new Map<string, Value>();
  const shapes = new Map<string, { elemType: number; shape: readonly number[] } | undefined>();
  for (const input of inputs) {
    const dims = dimsOf(input);
    feeds.set(input.name, Value.fromTensor(zeros(dims, { dtype: computeDType(input.elemType, `input '${input.name}'`), backend: META_BACKEND }), input.elemType));
    shapes.set(input.name, { elemType: input.elemType, shape: dims });
  }
  const prepare = (v: Value, onMeta: boolean): Value => {
    if (!onMeta || v.deviceTensor?.backend.name === META_BACKEND) return v;
    if (v.size <= KNOWN_VALUE_LIMIT) return Value.fromHost(v.elemType, v.shape, v.hostData());
    return Value.fromTensor(zeros(v.shape, { dtype: computeDType(v.elemType, 'shape inference'), backend: META_BACKEND }), v.elemType);
  };
  const { values, problems } = plan.infer(feeds, META_BACKEND, prepare);
  for (const [name, v] of values) {
    shapes.set(name, v === undefined ? undefined : { elemType: v.elemType, shape: v.shape });
    v?.dispose();
  }
  for (const v of feeds.values()) v.dispose();
  return { shapes, problems };
}
