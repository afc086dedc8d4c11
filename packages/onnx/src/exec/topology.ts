import { MinnowError } from '@minnow/core';
import type { GraphProto, NodeProto } from '../ir/types.js';

/** How a graph's nodes depend on each other: the names they read, and an order to run them in. */

export const describeNode = (node: NodeProto, index: number): string =>
  `node ${node.name ? `'${node.name}'` : `#${index}`} (${node.opType ?? '?'})`;

/** The graphs held in a node's attributes. */
export function subgraphsOf(node: NodeProto): GraphProto[] {
  const graphs: GraphProto[] = [];
  for (const a of node.attribute) {
    if (a.g) graphs.push(a.g);
    graphs.push(...a.graphs);
  }
  return graphs;
}

/** Names a graph reads without defining them: its implicit inputs from enclosing scopes. */
export function freeNames(graph: GraphProto): Set<string> {
  const defined = new Set<string>([...graph.input.map((v) => v.name ?? ''), ...graph.initializer.map((t) => t.name ?? ''), ...graph.sparseInitializer.map((s) => s.values?.name ?? '')]);
  for (const node of graph.node) for (const o of node.output) defined.add(o);
  const free = new Set<string>();
  for (const node of graph.node) {
    for (const i of node.input) if (i !== '' && !defined.has(i)) free.add(i);
    for (const g of subgraphsOf(node)) for (const n of freeNames(g)) if (!defined.has(n)) free.add(n);
  }
  return free;
}

/**
 * The nodes in an order that runs each after what it reads: Kahn's algorithm, keeping the file's
 * order among ready nodes. A cycle, a name written twice (only names of enclosing scopes, those
 * `redefinable` accepts, may be shadowed) or an unresolvable input is an error naming the node.
 */
export function topologicalOrder(graph: GraphProto, visible: ReadonlySet<string>, redefinable: (name: string) => boolean, what: string): { node: NodeProto; index: number }[] {
  const nodes = graph.node;
  const producer = new Map<string, number>();
  nodes.forEach((node, index) => {
    for (const o of node.output) {
      if (o === '') continue;
      if (producer.has(o) || visible.has(o) && !redefinable(o)) {
        throw new MinnowError('INVALID_MODEL', `onnx: ${what}: ${describeNode(node, index)} writes '${o}', which is already defined`);
      }
      producer.set(o, index);
    }
  });
  const waitingOn = nodes.map(() => 0);
  const readers = new Map<number, number[]>();
  nodes.forEach((node, index) => {
    const reads = new Set<string>([...node.input.filter((i) => i !== ''), ...subgraphsOf(node).flatMap((g) => [...freeNames(g)])]);
    for (const name of reads) {
      const from = producer.get(name);
      if (from === undefined) {
        if (!visible.has(name)) {
          throw new MinnowError('INVALID_MODEL', `onnx: ${what}: ${describeNode(node, index)} reads '${name}', which no node produces and is not an input or initialiser`);
        }
        continue;
      }
      waitingOn[index]++;
      readers.set(from, [...(readers.get(from) ?? []), index]);
    }
  });
  const order: { node: NodeProto; index: number }[] = [];
  const ready = nodes.map((_, i) => i).filter((i) => waitingOn[i] === 0);
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const index = ready.shift() as number;
    order.push({ node: nodes[index], index });
    for (const r of readers.get(index) ?? []) if (--waitingOn[r] === 0) ready.push(r);
  }
  if (order.length < nodes.length) {
    const stuck = nodes.map((n, i) => (waitingOn[i] > 0 ? describeNode(n, i) : '')).filter(Boolean);
    throw new MinnowError('INVALID_MODEL', `onnx: ${what}: the nodes form a cycle (${stuck.slice(0, 5).join(', ')}${stuck.length > 5 ? ', ...' : ''})`);
  }
  return order;
}
