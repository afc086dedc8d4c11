import { stat, unlink } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { MinnowError } from '@minnow/core';
import type { ModelProto } from '@minnow/onnx';
import { saveModel } from '@minnow/onnx/node';

/**
 * Output files of the commands that write models: refused before any work is done when they
 * cannot be written, and written atomically (saveModel: a temporary file beside the target, then a
 * rename), with the file system's refusals turned into bad input that names the file.
 */

const bad = (message: string, cause?: unknown): MinnowError => new MinnowError('INVALID_ARGUMENT', message, cause === undefined ? undefined : { cause });

/** Why a write failed, in words. */
export function writeFailure(error: unknown, path: string): string {
  const code = (error as NodeJS.ErrnoException).code;
  switch (code) {
    case 'ENOENT': return `the folder '${dirname(path)}' does not exist`;
    case 'ENOTDIR': return `'${dirname(path)}' is not a folder`;
    case 'EISDIR': return 'it is a folder';
    case 'EACCES':
    case 'EPERM': return 'permission denied';
    case 'EROFS': return 'the file system is read-only';
    case 'ENOSPC': return 'the disk is full';
    default: return (error as Error).message;
  }
}

/**
 * Refuses an output path that cannot be written: the wrong extension, one of `inputs` (unless
 * `force`), a folder, or a place whose folder does not exist.
 */
export async function checkOutputPath(path: string, options: { extension: string; what: string; inputs?: readonly string[]; force?: boolean }): Promise<void> {
  if (!path.toLowerCase().endsWith(options.extension)) throw bad(`the ${options.what} '${path}' must be a ${options.extension} file`);
  for (const input of options.inputs ?? []) {
    if (resolve(input) === resolve(path) && !options.force) throw bad(`the ${options.what} '${path}' is the input; pass --force to overwrite it`);
  }
  const target = await stat(path).catch(() => null);
  if (target?.isDirectory()) throw bad(`cannot write the ${options.what} '${path}': it is a folder`);
  const folder = dirname(resolve(path));
  const parent = await stat(folder).catch(() => null);
  if (parent === null) throw bad(`cannot write the ${options.what} '${path}': the folder '${folder}' does not exist`);
  if (!parent.isDirectory()) throw bad(`cannot write the ${options.what} '${path}': '${folder}' is not a folder`);
}

/** saveModel with the file system's refusals as bad input naming the file. */
export async function writeModelFile(path: string, model: ModelProto): Promise<void> {
  try {
    await saveModel(path, model);
  } catch (error) {
    if (error instanceof MinnowError || typeof (error as NodeJS.ErrnoException).code !== 'string') throw error;
    throw bad(`cannot write '${path}': ${writeFailure(error, path)}`, error);
  }
}

/** Removes a file this command wrote, when a later write failed (a missing file is fine). */
export async function removeWritten(path: string): Promise<void> {
  await unlink(path).catch(() => undefined);
}
