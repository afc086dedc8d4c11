import { MODEL, TENSOR, type MessageSpec } from './schema.js';
import type { ModelProto, TensorProto } from './types.js';

type Obj = Record<string, unknown>;

/**
 * Calls `visit` on every message under `root` (root included), depth first, with its spec and a
 * path such as `graph.node[3].attribute[0].g.initializer[1]`.
 */
export function forEachMessage(spec: MessageSpec, root: object, visit: (spec: MessageSpec, message: Obj, path: string) => void, path = ''): void {
  const stack: [MessageSpec, Obj, string][] = [[spec, root as Obj, path]];
  while (stack.length > 0) {
    const [s, m, p] = stack.pop()!;
    visit(s, m, p);
    for (let i = s.fields.length - 1; i >= 0; i--) {
      const f = s.fields[i];
      if (f.kind !== 'message') continue;
      const v = m[f.name];
      if (v === undefined) continue;
      const sub = f.message!();
      const at = p === '' ? f.name : `${p}.${f.name}`;
      if (f.repeated) {
        const list = v as Obj[];
        for (let j = list.length - 1; j >= 0; j--) stack.push([sub, list[j], `${at}[${j}]`]);
      } else stack.push([sub, v as Obj, at]);
    }
  }
}

/**
 * Every TensorProto in a model: initialisers, sparse initialisers' values and indices, tensors in
 * node attributes (Constant values included), in subgraphs of If/Loop/Scan at any depth, in
 * functions and in training info.
 */
export function forEachTensor(model: ModelProto, visit: (tensor: TensorProto, path: string) => void): void {
  forEachMessage(MODEL, model, (spec, message, path) => {
    if (spec === TENSOR) visit(message as unknown as TensorProto, path);
  });
}
