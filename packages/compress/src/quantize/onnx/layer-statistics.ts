import { MinnowError } from '@minnow/core';
import { OnnxSession, type Feed, type ModelProto, type NodeProto } from '@minnow/onnx';
import type { BatchSource } from '../calibrate.js';
import type { InputMoments } from '../weight-rounding.js';
import { floatFeed, inputGeometry, MomentAccumulator } from './layer-inputs.js';
import { WEIGHT_OPS, weightLayout, type WeightLayout } from './layout.js';
import { graphScopes, type GraphScope } from './model-edit.js';

/**
 * Calibration of what each weight layer sees: one run over the calibration batches that keeps,
 * for every Conv, Gemm and MatMul with a constant weight (If/Loop bodies included), the mean and
 * the second moment of its input vectors. quantizeOnnx reads them for bias correction, output-aware
 * MSE clipping and GPTQ rounding. Memory is fixed by the layers (size^2 per layer with the second
 * moment), not by the amount of data.
 */

export interface LayerStatisticsOptions {
  /** Keep E[x x^T] (needed by GPTQ and output-weighted MSE clipping; default true). */
  readonly secondMoment?: boolean;
  /** Layers whose input vectors are longer keep the mean only (their size^2 moment would not be worth its memory; default 2048). */
  readonly maxSecondMomentSize?: number;
  /** Only these nodes, by name (default: every weight op). */
  readonly nodes?: readonly string[];
  /** The backend the model runs on (default 'js'). */
  readonly backend?: string;
}

/** Input moments of the model's weight layers, found by node (a node's input and geometry). */
export class LayerStatistics {
  constructor(private readonly byKey: ReadonlyMap<string, InputMoments>) {}

  /** The moments of `node`'s input in `scope`, if calibrated. */
  of(node: NodeProto, scope: GraphScope): InputMoments | undefined {
    const found = weightLayout(node, scope);
    return 'reason' in found ? undefined : this.forLayout(node, found.layout);
  }

  /** The moments of the input of `node`, whose weight layout is `layout`. */
  forLayout(node: NodeProto, layout: WeightLayout): InputMoments | undefined {
    const geometry = inputGeometry(node, layout);
    return geometry && this.byKey.get(geometry.key);
  }

  /** Calibrated inputs (distinct input tensors and geometries). */
  get size(): number {
    return this.byKey.size;
  }
}

export async function calibrateLayerInputs(model: ModelProto, batches: BatchSource<Readonly<Record<string, Feed>>>, options: LayerStatisticsOptions = {}): Promise<LayerStatistics> {
  const maxSize = options.maxSecondMomentSize ?? 2048;
  const byInput = new Map<string, MomentAccumulator[]>();
  const byKey = new Map<string, MomentAccumulator>();
  for (const scope of graphScopes(model)) {
    for (const node of scope.graph.node) {
      if (!WEIGHT_OPS.has(node.opType ?? '') || (options.nodes !== undefined && !options.nodes.includes(node.name ?? ''))) continue;
      const found = weightLayout(node, scope);
      if ('reason' in found) continue;
      const geometry = inputGeometry(node, found.layout);
      if (geometry === undefined || byKey.has(geometry.key)) continue;
      const accumulator = new MomentAccumulator(geometry, (options.secondMoment ?? true) && geometry.size <= maxSize);
      byKey.set(geometry.key, accumulator);
      const input = node.input[found.layout.activations[0]];
      byInput.set(input, [...(byInput.get(input) ?? []), accumulator]);
    }
  }
  const observe = (name: string, values: ArrayLike<number>, shape: readonly number[]): void => {
    for (const a of byInput.get(name) ?? []) a.observe(values, shape, name);
  };
  const session = OnnxSession.create(model, {
    backend: options.backend,
    observe: (name, value) => {
      if (byInput.has(name)) observe(name, value.hostData() as ArrayLike<number>, value.shape);
    },
  });
  const inputs = new Set(session.inputs.map((i) => i.name));
  let count = 0;
  try {
    for await (const feeds of batches) {
      for (const [name, feed] of Object.entries(feeds)) {
        const float = inputs.has(name) && byInput.has(name) ? await floatFeed(feed) : undefined;
        if (float) observe(name, float.values, float.shape);
      }
      const outputs = session.run(feeds);
      for (const t of Object.values(outputs)) t.dispose();
      count++;
    }
  } finally {
    session.dispose();
  }
  if (count === 0) throw new MinnowError('INVALID_ARGUMENT', 'calibrateLayerInputs: the calibration set is empty; calibration needs at least one batch');
  return new LayerStatistics(new Map([...byKey].map(([key, a]) => [key, a.moments()])));
}
