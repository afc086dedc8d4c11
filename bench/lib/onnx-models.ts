import { ProtoWriter } from '@minnow/onnx';

/** ONNX TensorProto element types used by the benchmarks. */
export const ELEM = { float: 1, uint8: 2, int8: 3, int32: 6 } as const;

export interface ValueSpec {
  readonly name: string;
  readonly elemType: number;
  readonly shape: readonly number[];
}

/**
 * A one-node ONNX model (IR 8, opset 17) whose graph inputs and outputs are given: the smallest
 * model that lets onnxruntime run a single operator.
 */
/** Integer and integer-list node attributes (AttributeProto types INT = 2, INTS = 7). */
export type IntAttributes = Readonly<Record<string, number | readonly number[]>>;

export function singleNodeModel(opType: string, inputs: readonly ValueSpec[], outputs: readonly ValueSpec[], attributes: IntAttributes = {}): Uint8Array {
  const valueInfo = (w: ProtoWriter, v: ValueSpec): void => {
    w.string(1, v.name);
    w.message(2, (type) =>
      type.message(1, (tensor) => {
        tensor.int(1, v.elemType);
        tensor.message(2, (shape) => {
          for (const d of v.shape) shape.message(1, (dim) => dim.int(1, d));
        });
      }),
    );
  };
  const model = new ProtoWriter();
  model.int(1, 8); // ir_version
  model.string(2, 'minnow-bench');
  model.message(7, (graph) => {
    graph.message(1, (node) => {
      for (const i of inputs) node.string(1, i.name);
      for (const o of outputs) node.string(2, o.name);
      node.string(3, `${opType}_0`);
      node.string(4, opType);
      for (const [name, value] of Object.entries(attributes)) {
        node.message(5, (attr) => {
          attr.string(1, name);
          if (typeof value === 'number') attr.int(20, 2).int(3, value);
          else attr.int(20, 7).packedInts(8, value);
        });
      }
    });
    graph.string(2, `${opType}_graph`);
    for (const i of inputs) graph.message(11, (w) => valueInfo(w, i));
    for (const o of outputs) graph.message(12, (w) => valueInfo(w, o));
  });
  model.message(8, (opset) => {
    opset.string(1, '');
    opset.int(2, 17);
  });
  return model.finish();
}
