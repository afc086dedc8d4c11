// Node-only parts of @minnow/formats: reading and writing files (node:fs).
import { readFile, realpath, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { MinnowError } from '@minnow/core';
import type { ModelProto } from '@minnow/onnx';
import { readUserFile, writeFileAtomic } from '@minnow/onnx/node';
import { decodeCompact, encodeCompact, type CompactTensor, type CompactTensors, type DecodeCompactOptions } from './compact/index.js';
import type { SafetensorsFile } from './safetensors/dtypes.js';
import { parseSafetensors, type ParseSafetensorsOptions } from './safetensors/parse.js';
import { serializeSafetensors, type SafetensorsTensors } from './safetensors/serialize.js';
import { tfjsLayersToOnnx, type TfjsToOnnxOptions } from './tfjs/convert.js';
import { parseWeightsManifest, type TfjsModelJson } from './tfjs/model-json.js';

function asBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Puts the file's path in front of a CORRUPT_FILE message, so the user knows which file is at fault. */
function naming<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof MinnowError && error.code === 'CORRUPT_FILE') throw new MinnowError('CORRUPT_FILE', `${path}: ${error.message}`, { cause: error });
    throw error;
  }
}

/** Reads a safetensors file; the tensors' data are views on the bytes read. */
export async function readSafetensorsFile(path: string, options: ParseSafetensorsOptions = {}): Promise<SafetensorsFile> {
  const bytes = await readUserFile(path);
  return naming(path, () => parseSafetensors(bytes, options));
}

/** Writes a safetensors file atomically (a temporary file beside it, then a rename): never half-written. */
export async function writeSafetensorsFile(path: string, tensors: SafetensorsTensors, metadata: Readonly<Record<string, string>> = {}): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

/** Reads a compact container file (see decodeCompact); CORRUPT_FILE messages name the file. */
export async function readCompactFile(path: string, options: DecodeCompactOptions = {}): Promise<Map<string, CompactTensor>> {
  const bytes = await readUserFile(path);
  return naming(path, () => decodeCompact(bytes, options));
}

/** Writes tensors as a compact container file, atomically (a temporary file beside it, then a rename). */
export async function writeCompactFile(path: string, tensors: CompactTensors): Promise<void> {
  await writeFileAtomic(path, encodeCompact(tensors));
}

/** A TensorFlow.js Layers model as read from disk: model.json, and its weight shards concatenated in manifest order. */
export interface TfjsLayersArtifacts {
  readonly modelJson: TfjsModelJson;
  readonly weightData: Uint8Array;
}

function inside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/**
 * Reads one weight shard. Shards are named relative to model.json's folder and must stay in it: an
 * absolute path, `..`, or a link leading out is refused (CORRUPT_FILE), as is a missing shard.
 */
async function readShard(folder: string, realFolder: string, shard: string, modelPath: string): Promise<Uint8Array> {
  const refuse = (why: string): never => {
    throw new MinnowError('CORRUPT_FILE', `${modelPath}: tfjs: weight shard '${shard}' ${why}`);
  };
  if (shard === '' || shard.includes('\0') || isAbsolute(shard) || /^[A-Za-z]:/.test(shard) || shard.startsWith('\\')) refuse('is not a relative path');
  if (shard.split(/[\\/]/).includes('..')) refuse("leaves model.json's folder (`..`)");
  const candidate = resolve(folder, shard);
  if (!inside(folder, candidate)) refuse("leaves model.json's folder");
  let real = '';
  try {
    real = await realpath(candidate);
  } catch {
    refuse(`is not found in ${folder}`);
  }
  if (!inside(realFolder, real)) refuse(`is a link that leads out of model.json's folder (to ${real})`);
  if (!(await stat(real)).isFile()) refuse('is not a file');
  return asBytes(await readFile(real));
}

/**
 * Reads a TensorFlow.js Layers model: `path` is model.json or the folder holding it. Every weight
 * shard the manifest lists is read from beside model.json and concatenated in manifest order, as
 * tfjsLayersToOnnx expects.
 */
export async function loadTfjsLayersModel(path: string): Promise<TfjsLayersArtifacts> {
  const isFolder = await stat(path).then((s) => s.isDirectory(), () => false);
  const modelPath = isFolder ? join(path, 'model.json') : path;
  const text = new TextDecoder().decode(await readUserFile(modelPath));
  const modelJson = naming(modelPath, () => {
    try {
      return JSON.parse(text) as TfjsModelJson;
    } catch (error) {
      throw new MinnowError('CORRUPT_FILE', `tfjs: model.json is not valid JSON: ${(error as Error).message}`);
    }
  });
  const manifest = naming(modelPath, () => parseWeightsManifest((modelJson as { weightsManifest?: unknown } | null)?.weightsManifest));
  const folder = dirname(resolve(modelPath));
  const realFolder = await realpath(folder);
  const shards: Uint8Array[] = [];
  for (const group of manifest) for (const shard of group.paths) shards.push(await readShard(folder, realFolder, shard, modelPath));
  const weightData = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
  let at = 0;
  for (const shard of shards) {
    weightData.set(shard, at);
    at += shard.length;
  }
  return { modelJson, weightData };
}

/** loadTfjsLayersModel and tfjsLayersToOnnx in one step, errors naming the model file. */
export async function convertTfjsLayersFile(path: string, options: TfjsToOnnxOptions = {}): Promise<ModelProto> {
  const { modelJson, weightData } = await loadTfjsLayersModel(path);
  return naming(path, () => tfjsLayersToOnnx(modelJson, weightData, options));
}
