// Node-only parts of @minnow/onnx: loading and saving model files (node:fs), external data included.
import { randomBytes } from 'node:crypto';
import { readFile, realpath, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { MinnowError } from '@minnow/core';
import { externalDataRequest, readModel, readTensor, resolveExternalData, type ExternalDataRequest } from './read.js';
import type { ModelProto, TensorProto } from './ir/types.js';
import { forEachTensor } from './ir/walk.js';
import { writeModel, type WriteOptions } from './write.js';

function corrupt(message: string, cause?: unknown): MinnowError {
  return new MinnowError('CORRUPT_FILE', `onnx: ${message}`, cause === undefined ? undefined : { cause });
}

function asBytes(buffer: Buffer): Uint8Array {
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

function inside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel !== '' && !rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel);
}

/**
 * Reads the external file a request names, refusing one that leaves the model's folder: the
 * location was already checked (relative, no `..`); here the real path, links resolved, must also
 * lie inside the model's real folder.
 */
async function readExternalFile(folder: string, realFolder: string, request: ExternalDataRequest, modelPath: string): Promise<Uint8Array> {
  const name = request.tensor.name ?? '';
  const candidate = resolve(folder, request.location);
  if (!inside(folder, candidate)) throw corrupt(`${modelPath}: tensor '${name}': external data location '${request.location}' leaves the model's folder`);
  let real: string;
  try {
    real = await realpath(candidate);
  } catch (error) {
    throw corrupt(`${modelPath}: tensor '${name}': external data file '${request.location}' not found in ${folder}`, error);
  }
  if (!inside(realFolder, real)) {
    throw corrupt(`${modelPath}: tensor '${name}': external data location '${request.location}' is a link that leads out of the model's folder (to ${real})`);
  }
  if (!(await stat(real)).isFile()) throw corrupt(`${modelPath}: tensor '${name}': external data location '${request.location}' is not a file`);
  return asBytes(await readFile(real));
}

/** Reads a file the user named; a missing or unreadable one is a MinnowError naming it, not a bare Node error. */
export async function readUserFile(path: string): Promise<Uint8Array> {
  try {
    return asBytes(await readFile(path));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a folder' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
    throw new MinnowError('INVALID_ARGUMENT', `cannot read '${path}': ${why}`, { cause: error });
  }
}

/**
 * Loads an ONNX model file, with any external data it names: each location is resolved relative to
 * the model's folder and refused if it is absolute, contains `..`, or is a link that leads out of
 * that folder; each offset and length is checked against the external file's size. Initialisers
 * are views on the bytes read, not copies.
 */
export async function loadModel(path: string): Promise<ModelProto> {
  const bytes = await readUserFile(path);
  let model: ModelProto;
  try {
    model = readModel(bytes);
  } catch (error) {
    if (error instanceof MinnowError && error.code === 'CORRUPT_FILE') throw new MinnowError('CORRUPT_FILE', `${path}: ${error.message}`, { cause: error });
    throw error;
  }
  const requests: ExternalDataRequest[] = [];
  forEachTensor(model, (t, at) => {
    const request = externalDataRequest(t, at);
    if (request) requests.push(request);
  });
  if (requests.length === 0) return model;
  const folder = dirname(resolve(path));
  const realFolder = await realpath(folder);
  const files = new Map<string, Uint8Array>();
  for (const request of requests) {
    if (!files.has(request.location)) files.set(request.location, await readExternalFile(folder, realFolder, request, path));
  }
  resolveExternalData(model, (request) => {
    const file = files.get(request.location)!;
    const length = request.length ?? file.length - Math.min(request.offset, file.length);
    if (request.offset + length > file.length) {
      throw corrupt(`${path}: tensor '${request.tensor.name ?? ''}': external data offset ${request.offset} + length ${length} runs past the end of '${request.location}' (${file.length} bytes)`);
    }
    return file.subarray(request.offset, request.offset + length);
  });
  return model;
}

/** Loads a TensorProto file (a test suite's input_N.pb / output_N.pb). */
export async function loadTensor(path: string): Promise<TensorProto> {
  return readTensor(await readUserFile(path));
}

/** Writes `bytes` to `path` through a temporary file beside it and a rename, so no half-written file is ever left. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await writeFile(temp, bytes, { flag: 'wx' });
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/**
 * Saves a model to `path` (atomically: a temporary file, then a rename). With `externalData`, large
 * tensors go to a file of that name beside the model, written first, the same way.
 */
export async function saveModel(path: string, model: ModelProto, options: WriteOptions = {}): Promise<void> {
  const written = writeModel(model, options);
  if (written.externalData) {
    const dataPath = join(dirname(resolve(path)), written.externalData.location);
    if (dataPath === resolve(path)) {
      throw new MinnowError('INVALID_ARGUMENT', `saveModel: external data location '${written.externalData.location}' is the model file itself`);
    }
    await writeFileAtomic(dataPath, written.externalData.bytes);
  }
  await writeFileAtomic(path, written.model);
}
