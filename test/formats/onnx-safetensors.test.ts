import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { encodeBFloat16, encodeFloat16 } from '@minnow/core';
import {
  DataType, diffModels, makeTensor, readModel, tensorRawBytes, tensorValues, writeModel, type ModelProto, type TensorProto,
} from '@minnow/onnx';
import {
  applySafetensorsToOnnx, parseSafetensors, safetensorsFromOnnx, safetensorsTensor, serializeSafetensors, tfjsLayersToOnnx,
} from '@minnow/formats';
import { loadTfjsLayersModel } from '@minnow/formats/node';
import { expectMinnowError } from '../helpers/reference.js';
import { maxAbsDifference, runOnnx, seededInput } from './tfjs-helpers.js';

const bytes = (view: ArrayBufferView): Uint8Array => new Uint8Array(view.buffer, view.byteOffset, view.byteLength);

function tensor(name: string, dataType: number, dims: number[], fields: Partial<TensorProto>): TensorProto {
  return { name, dataType, dims, stringData: [], externalData: [], metadataProps: [], ...fields };
}

/** Y = X W + B, W [3, 4] and B [4] as initialisers. */
function affineModel(w: Float32Array, b: Float32Array, extra: TensorProto[] = []): ModelProto {
  const info = (name: string, dims: number[]) => ({
    name, type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dimValue: d })) } } }, metadataProps: [],
  });
  const node = (opType: string, input: string[], output: string) => ({ opType, input, output: [output], name: output, attribute: [], metadataProps: [] });
  return {
    irVersion: 8, opsetImport: [{ domain: '', version: 17 }], metadataProps: [], trainingInfo: [], functions: [],
    graph: {
      name: 'affine', node: [node('MatMul', ['X', 'W'], 'XW'), node('Add', ['XW', 'B'], 'Y')],
      initializer: [makeTensor('W', DataType.FLOAT, [3, 4], bytes(w)), makeTensor('B', DataType.FLOAT, [4], bytes(b)), ...extra],
      sparseInitializer: [], input: [info('X', [2, 3])], output: [info('Y', [2, 4])], valueInfo: [], quantizationAnnotation: [], metadataProps: [],
    },
  };
}

/** Initialisers of many types, stored both as raw_data and in the typed fields. */
function manyTypes(): TensorProto[] {
  return [
    makeTensor('half', DataType.FLOAT16, [3], bytes(encodeFloat16([1, -2.5, 65504]))),
    makeTensor('brain', DataType.BFLOAT16, [2], bytes(encodeBFloat16([3, -0.25]))),
    makeTensor('fp8', DataType.FLOAT8E4M3FN, [2], Uint8Array.of(0x38, 0x7e)),
    tensor('long', DataType.INT64, [2], { int64Data: BigInt64Array.of(-(2n ** 60n), 5n) }),
    tensor('ulong', DataType.UINT64, [1], { uint64Data: BigUint64Array.of(2n ** 63n) }),
    tensor('small', DataType.INT8, [3], { int32Data: Int32Array.of(-128, 0, 127) }),
    tensor('flags', DataType.BOOL, [2, 1], { int32Data: Int32Array.of(1, 0) }),
    tensor('wide', DataType.DOUBLE, [1], { doubleData: Float64Array.of(Math.E) }),
    tensor('ints', DataType.INT32, [], { int32Data: Int32Array.of(-7) }),
    tensor('floats', DataType.FLOAT, [2], { floatData: Float32Array.of(0.5, -1) }),
  ];
}

/** The same model with every initialiser's values zeroed (dims and types kept). */
function zeroed(model: ModelProto): ModelProto {
  const initializer = model.graph!.initializer.map((t) => makeTensor(t.name!, t.dataType!, t.dims, new Uint8Array(tensorRawBytes(t).length)));
  return { ...model, graph: { ...model.graph!, initializer } };
}

describe('ONNX initialisers <-> safetensors', () => {
  const w = Float32Array.from({ length: 12 }, (_, i) => (i - 6) / 4);
  const b = Float32Array.of(0.5, -0.5, 1, 2);

  it('round-trips every initialiser type by name, the model unchanged in meaning', () => {
    const model = affineModel(w, b, manyTypes());
    const exported = safetensorsFromOnnx(model, { source: 'test' });
    expect(exported.metadata).toEqual({ source: 'test' });
    expect(Object.fromEntries([...exported.tensors].map(([n, t]) => [n, t.dtype]))).toEqual({
      W: 'F32', B: 'F32', half: 'F16', brain: 'BF16', fp8: 'F8_E4M3', long: 'I64', ulong: 'U64', small: 'I8', flags: 'BOOL', wide: 'F64', ints: 'I32', floats: 'F32',
    });
    const file = parseSafetensors(serializeSafetensors(exported.tensors, exported.metadata));
    const blank = zeroed(model);
    expect(diffModels(blank, model)).toBeDefined();
    const applied = applySafetensorsToOnnx(blank, file);
    expect(applied.updated).toEqual(model.graph!.initializer.map((t) => t.name));
    expect(applied.notInModel).toEqual([]);
    expect(applied.notInSafetensors).toEqual([]);
    expect(diffModels(applied.model, model)).toBeUndefined();
    expect(diffModels(readModel(writeModel(applied.model).model), model)).toBeUndefined();
    // The input model is left as it was; the new initialisers are views on the safetensors bytes.
    expect(Array.from(tensorValues(blank.graph!.initializer[0]) as Float32Array).every((v) => v === 0)).toBe(true);
    expect(applied.model.graph!.initializer[0].rawData!.buffer).toBe(file.tensors.get('W')!.data.buffer);
  });

  it('weights applied from safetensors change what onnxruntime computes', async () => {
    const model = affineModel(w, b);
    const doubled = { W: safetensorsTensor('F32', [3, 4], w.map((v) => 2 * v)), B: safetensorsTensor('F32', [4], b.map((v) => v - 1)) };
    const { model: updated } = applySafetensorsToOnnx(model, parseSafetensors(serializeSafetensors(doubled)));
    const x = Float32Array.of(1, 2, 3, -1, 0, 0.5);
    const [y] = await runOnnx(updated, [x], [[2, 3]]);
    const expected = new Float32Array(8);
    for (let r = 0; r < 2; r++) for (let c = 0; c < 4; c++) {
      expected[r * 4 + c] = b[c] - 1;
      for (let k = 0; k < 3; k++) expected[r * 4 + c] += x[r * 3 + k] * 2 * w[k * 4 + c];
    }
    expect(maxAbsDifference(y.data, expected)).toBeLessThanOrEqual(1e-6);
  });

  it('a converted TF.js model exports its weights and, reloaded from safetensors, runs the same in onnxruntime', async () => {
    const dir = fileURLToPath(new URL('../../node_modules/@upscalerjs/default-model/models/', import.meta.url));
    const { modelJson, weightData } = await loadTfjsLayersModel(dir);
    const onnx = tfjsLayersToOnnx(modelJson, weightData);
    const file = parseSafetensors(serializeSafetensors(safetensorsFromOnnx(onnx).tensors));
    expect(file.tensors.get('F_0/kernel')!.shape).toEqual([64, 64, 3, 3]);
    const { model, updated } = applySafetensorsToOnnx(zeroed(onnx), file, { strict: true });
    expect(updated.length).toBe(onnx.graph!.initializer.length);
    const input = seededInput([1, 8, 8, 3], 3);
    const [a] = await runOnnx(onnx, [input], [[1, 8, 8, 3]]);
    const [c] = await runOnnx(model, [input], [[1, 8, 8, 3]]);
    expect(c.data).toEqual(a.data);
  });

  it('reports names missing on either side, and refuses them with strict', () => {
    const model = affineModel(w, b);
    const partial = { W: safetensorsTensor('F32', [3, 4], w), extra: safetensorsTensor('U8', [1], Uint8Array.of(1)) };
    const result = applySafetensorsToOnnx(model, partial);
    expect(result).toMatchObject({ updated: ['W'], notInModel: ['extra'], notInSafetensors: ['B'] });
    expect(result.model.graph!.initializer[1]).toBe(model.graph!.initializer[1]);
    expectMinnowError(() => applySafetensorsToOnnx(model, partial, { strict: true }), 'INVALID_ARGUMENT', 'missing from the safetensors: B', 'does not have: extra');
  });

  it('a shape or dtype that disagrees: a MinnowError naming the tensor', () => {
    const model = affineModel(w, b);
    expectMinnowError(() => applySafetensorsToOnnx(model, { W: safetensorsTensor('F32', [4, 3], w) }), 'SHAPE_MISMATCH', "tensor 'W'", '[3,4] in the model', '[4,3] in the safetensors');
    expectMinnowError(() => applySafetensorsToOnnx(model, { B: safetensorsTensor('F64', [4], Float64Array.from(b)) }), 'DTYPE_MISMATCH', "tensor 'B'", 'float32', 'F64');
  });

  it('initialisers safetensors cannot hold, or that no name can match', () => {
    const strings = affineModel(w, b, [tensor('words', DataType.STRING, [1], { stringData: [Uint8Array.of(104, 105)] })]);
    expectMinnowError(() => safetensorsFromOnnx(strings), 'UNSUPPORTED_DTYPE', "'words'", 'string');
    const nibbles = affineModel(w, b, [makeTensor('nibbles', DataType.INT4, [2], Uint8Array.of(0x21))]);
    expectMinnowError(() => safetensorsFromOnnx(nibbles), 'UNSUPPORTED_DTYPE', "'nibbles'", 'int4');
    const twice = affineModel(w, b, [makeTensor('W', DataType.FLOAT, [1], bytes(Float32Array.of(1)))]);
    expectMinnowError(() => safetensorsFromOnnx(twice), 'INVALID_MODEL', "two initializers are named 'W'");
    expectMinnowError(() => applySafetensorsToOnnx(twice, {}), 'INVALID_MODEL', "two initializers are named 'W'");
    expectMinnowError(() => safetensorsFromOnnx({ ...strings, graph: undefined }), 'INVALID_MODEL', 'no graph');
  });
});
