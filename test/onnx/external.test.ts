import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MinnowError } from '@minnow/core';
import {
  DataLocation, DataType, diffModels, forEachTensor, isExternal, makeTensor, readModel, tensorValues, writeModel,
  type ModelProto, type TensorProto,
} from '@minnow/onnx';
// The vitest config aliases '@minnow/onnx' to its index, which also catches '@minnow/onnx/node'.
import { loadModel, saveModel } from '@minnow/onnx/node';
import { expectMinnowError } from '../helpers/reference.js';
import { sampleModel } from './sample.js';

const root = mkdtempSync(join(tmpdir(), 'minnow-onnx-external-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;
const folder = (): string => {
  const dir = join(root, `case${folders++}`);
  mkdirSync(dir);
  return dir;
};

/** The sample model plus a 4 KiB initialiser and a 2 KiB Constant inside the If's else branch. */
function modelWithLargeTensors(): ModelProto {
  const model = sampleModel();
  const big = new Float32Array(1024).map((_, i) => Math.sin(i));
  model.graph!.initializer.push(makeTensor('big', DataType.FLOAT, [32, 32], new Uint8Array(big.buffer)));
  const branch = model.graph!.node[1].attribute[1].g!;
  branch.node[0].attribute[0].t = makeTensor('', DataType.INT64, [256], new Uint8Array(new BigInt64Array(256).map((_, i) => BigInt(i) - 128n).buffer));
  return model;
}

async function rejection(promise: Promise<unknown>): Promise<MinnowError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof MinnowError)) throw new Error(`expected a MinnowError, got ${String(error)}`);
  return error;
}

/** A model whose one initialiser points at `location` (offset, and length unless null), saved as dir/model.onnx. */
function pointingAt(dir: string, location: string, offset = '0', length: string | null = '16'): string {
  const externalData = [{ key: 'location', value: location }, { key: 'offset', value: offset }];
  if (length !== null) externalData.push({ key: 'length', value: length });
  const t: TensorProto = {
    name: 'w', dataType: DataType.FLOAT, dims: [4], stringData: [], metadataProps: [], dataLocation: DataLocation.EXTERNAL, externalData,
  };
  const model = sampleModel();
  model.graph!.initializer = [t];
  const path = join(dir, 'model.onnx');
  writeFileSync(path, writeModel(model).model);
  return path;
}

describe('external data', () => {
  it('writes tensors at or above the threshold to one aligned external file, and reads them back the same', async () => {
    const dir = folder();
    const model = modelWithLargeTensors();
    const written = writeModel(model, { externalData: { location: 'weights.bin', threshold: 1024 } });
    expect(written.externalData!.bytes.length).toBe(2048 + 4096);
    const shallow = readModel(written.model);
    const external: string[] = [];
    forEachTensor(shallow, (t, path) => {
      if (isExternal(t)) external.push(`${path} ${t.externalData.map((e) => `${e.key}=${e.value}`).join(' ')}`);
    });
    // Written in field order: graph.node (field 1) before graph.initializer (field 5).
    expect(external).toEqual([
      'graph.node[1].attribute[1].g.node[0].attribute[0].t location=weights.bin offset=0 length=2048',
      'graph.initializer[1] location=weights.bin offset=2048 length=4096',
    ]);
    expectMinnowError(() => tensorValues(shallow.graph!.initializer[1]), 'INVALID_ARGUMENT', "external file 'weights.bin', not loaded");
    // Small tensors stay inline; a model whose tensors are still external writes its references unchanged.
    expect(isExternal(shallow.graph!.initializer[0])).toBe(false);
    expect(diffModels(shallow, readModel(writeModel(shallow).model))).toBeUndefined();
    expectMinnowError(() => writeModel(shallow, { externalData: { location: 'weights.bin' } }), 'INVALID_ARGUMENT', "still refers to 'weights.bin'");

    await saveModel(join(dir, 'model.onnx'), model, { externalData: { location: 'weights.bin', threshold: 1024 } });
    expect(readdirSync(dir).sort()).toEqual(['model.onnx', 'weights.bin']);
    const loaded = await loadModel(join(dir, 'model.onnx'));
    expect(diffModels(model, loaded)).toBeUndefined();
    forEachTensor(loaded, (t) => expect(isExternal(t) || t.dataLocation !== undefined).toBe(false));
    // Loaded data is a view on the external file's bytes; written inline again, the model carries it.
    expect(diffModels(model, readModel(writeModel(loaded).model))).toBeUndefined();
  });

  it('readModel takes a resolver, so external data loads without Node too', () => {
    const model = modelWithLargeTensors();
    const written = writeModel(model, { externalData: { location: 'w.bin', threshold: 0, align: 1 } });
    let tensors = 0;
    forEachTensor(model, () => tensors++);
    const requests: string[] = [];
    const loaded = readModel(written.model, {
      externalData: ({ location, offset, length }) => {
        requests.push(`${location}@${offset}+${length}`);
        return written.externalData!.bytes.subarray(offset, offset + length!);
      },
    });
    expect(requests.length).toBe(tensors);
    expect(requests[0]).toBe('w.bin@0+4');
    expect(diffModels(model, loaded)).toBeUndefined();
  });

  it('refuses absolute locations, `..`, and links that lead out of the model folder', async () => {
    const outside = join(root, 'outside.bin');
    writeFileSync(outside, new Uint8Array(64));
    for (const location of [outside, '../outside.bin', 'sub/../../outside.bin', '..\\outside.bin', 'C:\\weights.bin', '']) {
      const error = await rejection(loadModel(pointingAt(folder(), location)));
      expect([error.code, error.message]).toEqual(['CORRUPT_FILE', expect.stringContaining(`external data location '${location}' refused`)]);
    }
    const dir = folder();
    symlinkSync(outside, join(dir, 'link.bin'));
    const link = await rejection(loadModel(pointingAt(dir, 'link.bin')));
    expect([link.code, link.message]).toEqual(['CORRUPT_FILE', expect.stringContaining("'link.bin' is a link that leads out of the model's folder")]);
    const linkedDir = folder();
    symlinkSync(root, join(linkedDir, 'up'));
    const viaDir = await rejection(loadModel(pointingAt(linkedDir, 'up/outside.bin')));
    expect(viaDir.message).toContain('leads out of the model');
    // A link that stays inside the folder is fine.
    const inside = folder();
    writeFileSync(join(inside, 'real.bin'), new Uint8Array(new Float32Array([1, 2, 3, 4]).buffer));
    symlinkSync(join(inside, 'real.bin'), join(inside, 'alias.bin'));
    const ok = await loadModel(pointingAt(inside, 'alias.bin'));
    expect(tensorValues(ok.graph!.initializer[0])).toEqual(new Float32Array([1, 2, 3, 4]));
  });

  it('checks offset and length against the file and the tensor', async () => {
    const dir = folder();
    writeFileSync(join(dir, 'w.bin'), new Uint8Array(20));
    const past = await rejection(loadModel(pointingAt(dir, 'w.bin', '8', '16')));
    expect([past.code, past.message]).toEqual(['CORRUPT_FILE', expect.stringContaining("offset 8 + length 16 runs past the end of 'w.bin' (20 bytes)")]);
    const short = await rejection(loadModel(pointingAt(dir, 'w.bin', '0', '12')));
    expect(short.message).toContain('external data length 12');
    const bad = await rejection(loadModel(pointingAt(dir, 'w.bin', '-4')));
    expect(bad.message).toContain("offset '-4' is not a non-negative integer");
    const huge = await rejection(loadModel(pointingAt(dir, 'w.bin', '99999999999999999999')));
    expect(huge.message).toContain('is not a non-negative integer');
    const missing = await rejection(loadModel(pointingAt(dir, 'nothing.bin')));
    expect(missing.message).toContain("external data file 'nothing.bin' not found");
    // Without a length, the data runs to the end of the file: 16 bytes from offset 4.
    const toEnd = await loadModel(pointingAt(dir, 'w.bin', '4', null));
    expect(tensorValues(toEnd.graph!.initializer[0])).toEqual(new Float32Array(4));
    const tooLong = await rejection(loadModel(pointingAt(dir, 'w.bin', '0', null)));
    expect(tooLong.message).toContain("external data in 'w.bin' at offset 0 gave 20 bytes, 16 expected");
  });

  it('saveModel leaves no partial file behind when writing fails', async () => {
    const dir = folder();
    const broken = sampleModel();
    broken.graph!.node[0].attribute[0].type = 2 ** 40;
    const error = await rejection(saveModel(join(dir, 'model.onnx'), broken));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(readdirSync(dir)).toEqual([]);
    for (const location of ['../escape.bin', 'sub/w.bin', '/abs.bin']) {
      await rejection(saveModel(join(dir, 'model.onnx'), modelWithLargeTensors(), { externalData: { location } }));
    }
    await rejection(saveModel(join(dir, 'model.onnx'), modelWithLargeTensors(), { externalData: { location: 'model.onnx' } }));
    expect(readdirSync(dir)).toEqual([]);
    // A failing rename (the target is a folder) removes its temporary file.
    mkdirSync(join(dir, 'taken.onnx'));
    await expect(saveModel(join(dir, 'taken.onnx'), sampleModel())).rejects.toThrow();
    expect(readdirSync(dir)).toEqual(['taken.onnx']);
    // And a successful save replaces the file whole.
    await saveModel(join(dir, 'model.onnx'), sampleModel());
    expect(readModel(new Uint8Array(readFileSync(join(dir, 'model.onnx')))).producerName).toBe('minnow-test');
    expect(existsSync(join(dir, 'model.onnx'))).toBe(true);
  });
});
