import { resolve } from 'node:path';
import { MinnowError, Random, noGrad, type Tensor } from '@minnow/core';
import { Conv2d, Flatten, Linear, ReLU, Sequential, TensorDataset, kaimingUniform, uniformInit, type AnyModule } from '@minnow/nn';
import { attr, exportModule, moduleFromOnnx, type ImportedModule, type ModelProto } from '@minnow/onnx';
import { loadModel } from '@minnow/onnx/node';
import type { EvaluationData, Samples } from './data.js';

/**
 * Between ONNX models (what compress reads and writes) and nn modules (what trains): import a
 * model as a trainable Sequential, export one back under the original's input and output names
 * (the trailing Softmax the import drops put back, so the output means what it meant), build a
 * student from a spec, and wrap examples as a training set.
 */

/** The model as a trainable nn Sequential, traced at the data's example shape. */
export function importTrainable(model: ModelProto, data: EvaluationData, backend: string): ImportedModule {
  return moduleFromOnnx(model, { inputShape: [data.input.fixedBatch ?? 1, ...data.sampleShape], backend });
}

/**
 * Exports `module` as an ONNX model that takes and gives what `like` (the model it was imported
 * from) did: the same input and output names and batch dim, and its trailing Softmax or LogSoftmax
 * restored after the logits.
 */
export function exportTrainable(module: AnyModule, like: ImportedModule): ModelProto {
  const dropped = like.report.droppedOutput;
  const outputName = like.outputName;
  const model = exportModule(module, {
    inputShape: like.inputShape, batchDim: like.batchDim, inputName: like.inputName, outputName: dropped ? `${outputName}_logits` : outputName,
  });
  if (!dropped) return model;
  const graph = model.graph!;
  graph.node.push({
    input: [`${outputName}_logits`], output: [outputName], name: dropped.node, opType: dropped.opType, domain: '',
    attribute: [attr.int('axis', dropped.axis)], metadataProps: [],
  });
  const output = graph.output[0];
  graph.output[0] = { ...output, name: outputName };
  return model;
}

/** Classes the model's last axis gives (a width of 1 is a probability: two classes). */
export function classCount(imported: ImportedModule): number {
  const width = imported.outputShape[imported.outputShape.length - 1];
  return width === 1 ? 2 : width;
}

export interface StudentOptions {
  readonly data: EvaluationData;
  /** The teacher's output width: the student's last layer gives as many. */
  readonly outputs: number;
  readonly backend: string;
  readonly seed: number;
  /** An .onnx student: draw new weights instead of keeping its own. */
  readonly reinit: boolean;
  /** Relative .onnx paths are resolved from here (the recipe file's folder, or the working directory). */
  readonly baseDir: string;
}

/**
 * A student from its spec: `mlp:<w1>[,<w2>...]` is Flatten (for examples of more than one dim),
 * Linear + ReLU per hidden width, and a Linear to the teacher's outputs, seeded; a path to an
 * .onnx model takes that model's architecture and, unless `reinit`, its weights.
 */
export async function buildStudent(spec: string, options: StudentOptions): Promise<{ module: Sequential; imported?: ImportedModule; description: string }> {
  const mlp = /^mlp:(.+)$/.exec(spec);
  if (mlp) {
    const widths = mlp[1].split(',').map((w) => w.trim());
    if (!widths.every((w) => /^[1-9]\d*$/.test(w))) throw new MinnowError('INVALID_ARGUMENT', `student '${spec}': expected mlp:<width>[,<width>...] with positive integer widths`);
    const random = new Random(options.seed);
    const sizes = [options.data.sampleShape.reduce((a, b) => a * b, 1), ...widths.map(Number), options.outputs];
    const layers: AnyModule[] = options.data.sampleShape.length > 1 ? [new Flatten()] : [];
    for (let i = 0; i + 1 < sizes.length; i++) {
      layers.push(new Linear(sizes[i], sizes[i + 1], { seed: random, backend: options.backend }));
      if (i + 2 < sizes.length) layers.push(new ReLU());
    }
    return { module: new Sequential(...(layers as never[])), description: `MLP ${sizes.join('-')}` };
  }
  if (!spec.toLowerCase().endsWith('.onnx')) {
    throw new MinnowError('INVALID_ARGUMENT', `student '${spec}': expected mlp:<width>[,<width>...] or the path of an .onnx model`);
  }
  const imported = importTrainable(await loadModel(resolve(options.baseDir, spec)), options.data, options.backend);
  const width = imported.outputShape[imported.outputShape.length - 1];
  if (width !== options.outputs) {
    imported.module.dispose();
    throw new MinnowError('SHAPE_MISMATCH', `student '${spec}' gives ${width} outputs per example; the teacher gives ${options.outputs}`);
  }
  if (options.reinit) reinitialize(imported.module, options.seed);
  return { module: imported.module, imported, description: `${spec}${options.reinit ? ' (re-initialised)' : ''}` };
}

/**
 * New weights for every Linear and Conv2d, drawn as PyTorch initialises them (weight
 * kaiming-uniform with a = sqrt(5), bias U(-1/sqrt(fanIn), 1/sqrt(fanIn))) from `seed`.
 * Normalisation layers keep their values.
 */
export function reinitialize(module: AnyModule, seed: number): void {
  const random = new Random(seed);
  noGrad(() => {
    for (const [, layer] of module.namedModules()) {
      if (!(layer instanceof Linear) && !(layer instanceof Conv2d)) continue;
      const weight = layer.weight;
      const fanIn = weight.shape.slice(1).reduce((a, b) => a * b, 1);
      replace(weight, kaimingUniform(weight.shape, { seed: random, a: Math.sqrt(5), backend: weight.backend.name }));
      const bias = layer.bias;
      if (bias) replace(bias, uniformInit(bias.shape, -1 / Math.sqrt(fanIn), 1 / Math.sqrt(fanIn), { seed: random, backend: bias.backend.name }));
    }
  });
}

function replace(target: Tensor, value: Tensor): void {
  target.assign(value);
  value.dispose();
}

/** Examples as an nn data set; without labels every label is 0 (the steps then train on soft targets alone). */
export function trainingSet(samples: Samples, data: EvaluationData): TensorDataset {
  return new TensorDataset(samples.features, [samples.count, ...data.sampleShape], samples.labels ?? new Int32Array(samples.count));
}
