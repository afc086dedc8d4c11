import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromArray, init } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { OnnxSession, diffModels, readModel, writeModel, type ModelProto } from '@minnow/onnx';
import { saveModel } from '@minnow/onnx/node';
import { tfjsLayersToOnnx } from '@minnow/formats';
import { convertTfjsLayersFile, loadTfjsLayersModel, type TfjsLayersArtifacts } from '@minnow/formats/node';
import { loadFromMemory, maxAbsDifference, opCounts, runOnnx, runTfjs, seededInput, tfjsReady } from './tfjs-helpers.js';

// @upscalerjs/default-model: a functional Keras 2.10 model (Conv2D, Activation relu, Concatenate, Add,
// UpSampling2D) with unknown spatial dims, converted by the TF.js converter. Its ONNX conversion must
// give what TF.js gives on the same input, within 1e-4, and load and run in onnxruntime from a file.
const modelDir = fileURLToPath(new URL('../../node_modules/@upscalerjs/default-model/models/', import.meta.url));
const TOLERANCE = 1e-4;

describe('tfjs: @upscalerjs/default-model to ONNX', () => {
  let artifacts: TfjsLayersArtifacts;
  let onnx: ModelProto;
  let folder: string;

  beforeAll(async () => {
    await tfjsReady();
    artifacts = await loadTfjsLayersModel(modelDir);
    onnx = tfjsLayersToOnnx(artifacts.modelJson, artifacts.weightData);
    folder = mkdtempSync(join(tmpdir(), 'minnow-upscaler-'));
  });
  afterAll(() => rmSync(folder, { recursive: true, force: true }));

  it('keeps the Keras names and TensorFlow layout at the boundary, NCHW inside', () => {
    const graph = onnx.graph!;
    expect(onnx.opsetImport).toEqual([{ domain: '', version: 17 }]);
    expect(onnx.irVersion).toBe(8);
    expect(graph.input.map((v) => v.name)).toEqual(['LR']);
    expect(graph.output.map((v) => v.name)).toEqual(['SR']);
    const dims = (v: typeof graph.input[number]): (string | number)[] => v.type!.tensorType!.shape!.dim.map((d) => d.dimValue ?? d.dimParam!);
    expect(dims(graph.input[0])).toEqual(['batch', 'LR_dim1', 'LR_dim2', 3]);
    expect(dims(graph.output[0])).toEqual(['batch', 'SR_dim1', 'SR_dim2', 3]);
    // One Transpose in, one out: the whole network runs channels-first between them.
    expect(opCounts(onnx)).toEqual({ Transpose: 2, Conv: 12, Relu: 4, Concat: 3, Add: 3, Resize: 1 });
    expect(graph.initializer.length).toBe(24 + 1);
  });

  it('gives the same output as TensorFlow.js within 1e-4 (1x16x16x3 and 2x9x13x3 seeded inputs), run from a saved file', async () => {
    const path = join(folder, 'upscaler.onnx');
    await saveModel(path, onnx);
    const reference = await loadFromMemory(artifacts);
    const errors: number[] = [];
    for (const [i, shape] of [[1, 16, 16, 3], [2, 9, 13, 3]].entries()) {
      const input = seededInput(shape, 1234 + i);
      const [expected] = runTfjs(reference, [input], [shape]);
      const [actual] = await runOnnx(path, [input], [shape]);
      expect(actual.dims).toEqual([shape[0], shape[1] * 2, shape[2] * 2, 3]);
      expect(actual.dims).toEqual(expected.dims);
      errors.push(maxAbsDifference(actual.data, expected.data));
    }
    reference.dispose();
    console.info(`upscaler: max |tfjs - onnxruntime| = ${errors.map((e) => e.toExponential(2)).join(', ')}`);
    for (const e of errors) expect(e).toBeLessThanOrEqual(TOLERANCE);
  });

  it('runs on minnow\'s own executor (js and wasm) with TensorFlow.js\'s output within 1e-4', async () => {
    await init(wasmBackend);
    const reference = await loadFromMemory(artifacts);
    const shape = [1, 12, 10, 3];
    const input = seededInput(shape, 77);
    const [expected] = runTfjs(reference, [input], [shape]);
    reference.dispose();
    for (const backend of ['js', 'wasm']) {
      const session = OnnxSession.create(onnx, { backend });
      const lr = fromArray(Float32Array.from(input), shape, { backend });
      const { SR } = session.run({ LR: lr });
      expect(SR.shape).toEqual(expected.dims);
      const error = maxAbsDifference(SR.dataSync() as Float32Array, expected.data);
      console.info(`upscaler on minnow-${backend}: max |tfjs - minnow| = ${error.toExponential(2)}`);
      expect(error).toBeLessThanOrEqual(TOLERANCE);
      for (const t of [lr, SR]) t.dispose();
      session.dispose();
    }
  });

  it('reads back from its bytes as the same model, and converts the same from the file', async () => {
    expect(diffModels(readModel(writeModel(onnx).model), onnx)).toBeUndefined();
    expect(diffModels(await convertTfjsLayersFile(join(modelDir, 'model.json')), onnx)).toBeUndefined();
  });
});
