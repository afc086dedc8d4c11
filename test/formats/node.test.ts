import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MinnowError } from '@minnow/core';
import { diffModels } from '@minnow/onnx';
import { safetensorsTensor, tfjsLayersToOnnx } from '@minnow/formats';
import { convertTfjsLayersFile, loadTfjsLayersModel, readSafetensorsFile, writeSafetensorsFile } from '@minnow/formats/node';

const upscaler = fileURLToPath(new URL('../../node_modules/@upscalerjs/default-model/models/', import.meta.url));
let folder: string;

beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'minnow-formats-'));
});
afterAll(() => rmSync(folder, { recursive: true, force: true }));

async function rejection(promise: Promise<unknown>): Promise<MinnowError> {
  const error = await promise.then(() => undefined, (e: unknown) => e);
  if (!(error instanceof MinnowError)) throw new Error(`expected a MinnowError, got ${String(error)}`);
  return error;
}

/** A copy of the upscaler's model.json in its own folder, with the manifest's shard paths replaced. */
function modelWithShards(name: string, paths: string[]): string {
  const dir = join(folder, name);
  mkdirSync(dir, { recursive: true });
  const json = JSON.parse(readFileSync(join(upscaler, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[] }[] };
  json.weightsManifest[0].paths = paths;
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  return dir;
}

describe('@minnow/formats/node: TF.js Layers models from disk', () => {
  it('reads model.json and its shards from the folder or the file, and converts', async () => {
    const fromFolder = await loadTfjsLayersModel(upscaler);
    const fromFile = await loadTfjsLayersModel(join(upscaler, 'model.json'));
    expect(Buffer.from(fromFile.weightData).equals(fromFolder.weightData)).toBe(true);
    expect(fromFolder.weightData.length).toBe(readFileSync(join(upscaler, 'group1-shard1of1.bin')).length);
    expect(diffModels(await convertTfjsLayersFile(upscaler), tfjsLayersToOnnx(fromFolder.modelJson, fromFolder.weightData))).toBeUndefined();
  });

  it('concatenates several shards in manifest order', async () => {
    const shard = readFileSync(join(upscaler, 'group1-shard1of1.bin'));
    const dir = modelWithShards('split', ['part-a.bin', 'sub/part-b.bin']);
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'part-a.bin'), shard.subarray(0, 1000));
    writeFileSync(join(dir, 'sub', 'part-b.bin'), shard.subarray(1000));
    const { weightData } = await loadTfjsLayersModel(dir);
    expect(Buffer.from(weightData).equals(shard)).toBe(true);
  });

  it('refuses shard paths that leave the folder, are absolute, are missing, or link out', async () => {
    const outside = join(folder, 'outside.bin');
    copyFileSync(join(upscaler, 'group1-shard1of1.bin'), outside);
    const cases: [string, string][] = [['../outside.bin', '`..`'], [outside, 'not a relative path'], ['missing.bin', 'not found']];
    for (const [i, [path, words]] of cases.entries()) {
      const error = await rejection(loadTfjsLayersModel(modelWithShards(`bad${i}`, [path])));
      expect(error.code).toBe('CORRUPT_FILE');
      expect(error.message).toContain(words);
      expect(error.message).toContain('model.json');
    }
    const linked = modelWithShards('linked', ['link.bin']);
    symlinkSync(outside, join(linked, 'link.bin'));
    const error = await rejection(loadTfjsLayersModel(linked));
    expect(error.message).toContain('is a link that leads out');
  });

  it('names the file when model.json is not JSON', async () => {
    const dir = join(folder, 'broken');
    mkdirSync(dir);
    writeFileSync(join(dir, 'model.json'), '{"modelTopology": ');
    const error = await rejection(loadTfjsLayersModel(dir));
    expect(error.code).toBe('CORRUPT_FILE');
    expect(error.message).toContain(join(dir, 'model.json'));
  });
});

describe('@minnow/formats/node: safetensors files', () => {
  it('writes atomically and reads back', async () => {
    const path = join(folder, 'weights.safetensors');
    const tensors = { a: safetensorsTensor('F32', [2], Float32Array.of(1, 2)), b: safetensorsTensor('I64', [1], BigInt64Array.of(-3n)) };
    await writeSafetensorsFile(path, tensors, { format: 'pt' });
    const file = await readSafetensorsFile(path);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(file.tensors.get('a')!.data).toEqual(tensors.a.data);
    expect(readdirSync(folder).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('leaves no file when the tensors cannot be written, and names the file when it is corrupt', async () => {
    const path = join(folder, 'never.safetensors');
    await expect(writeSafetensorsFile(path, { x: { dtype: 'F32', shape: [2], data: new Uint8Array(3) } })).rejects.toThrow(MinnowError);
    expect(readdirSync(folder).filter((n) => n.startsWith('never') || n.includes('never.safetensors'))).toEqual([]);
    const corrupt = join(folder, 'corrupt.safetensors');
    writeFileSync(corrupt, Uint8Array.of(1, 2, 3));
    const error = await rejection(readSafetensorsFile(corrupt));
    expect(error.code).toBe('CORRUPT_FILE');
    expect(error.message).toMatch(/^.*corrupt\.safetensors: safetensors: the file is 3 bytes/);
  });
});
