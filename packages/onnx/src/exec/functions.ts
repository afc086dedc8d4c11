import { MinnowError } from '@minnow/core';
import type { AttributeProto, FunctionProto, GraphProto, NodeProto } from '../ir/types.js';

/**
 * A model-local function (ModelProto.functions) called by `node`, as a graph to run: the body's
 * nodes with attribute references (ref_attr_name) replaced by the caller's attributes or the
 * function's defaults, and its inputs and outputs in the function's order.
 */
export function instantiateFunction(fn: FunctionProto, node: NodeProto, label: string): GraphProto {
  const given = new Map<string, AttributeProto>(node.attribute.map((a) => [a.name ?? '', a]));
  const defaults = new Map<string, AttributeProto>(fn.attributeProto.map((a) => [a.name ?? '', a]));
  if (node.input.length > fn.input.length || node.output.length > fn.output.length) {
    throw new MinnowError('INVALID_MODEL', `onnx: ${label}: calls function '${fn.name ?? ''}' with ${node.input.length} inputs and ${node.output.length} outputs; it takes ${fn.input.length} and gives ${fn.output.length}`);
  }
  const resolve = (a: AttributeProto): AttributeProto | undefined => {
    if (a.refAttrName === undefined) return a;
    const value = given.get(a.refAttrName) ?? defaults.get(a.refAttrName);
    return value === undefined ? undefined : { ...value, name: a.name };
  };
  const body: NodeProto[] = fn.node.map((n) => ({
    ...n,
    attribute: n.attribute.map(resolve).filter((a): a is AttributeProto => a !== undefined),
  }));
  return {
    name: fn.name,
    node: body,
    initializer: [],
    sparseInitializer: [],
    input: fn.input.map((name) => ({ name, metadataProps: [] })),
    output: fn.output.slice(0, node.output.length).map((name) => ({ name, metadataProps: [] })),
    valueInfo: [],
    quantizationAnnotation: [],
    metadataProps: [],
  };
}
