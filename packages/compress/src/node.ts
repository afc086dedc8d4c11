// Node-only parts of @minnow/compress: calibration data read from disk (node:fs).
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MinnowError } from '@minnow/core';
import { npyToTensorProto, parseNpy } from '@minnow/formats';
import type { Feed } from '@minnow/onnx';

export interface NpyCalibrationOptions {
  /** The model's input names (OnnxSession's `inputs`), in order. */
  readonly inputs: readonly string[];
  /** Inputs that are the same for every batch (Silero's `sr`, say), fed where a batch has no file for them. */
  readonly fixed?: Readonly<Record<string, Feed>>;
}

/**
 * Calibration batches from a folder of .npy files, read one batch at a time (nothing is held
 * between batches, so the folder may be larger than memory). Two layouts:
 *
 * - files directly in the folder, for a model with one input (not counting `fixed` ones): each
 *   file is one batch for that input;
 * - one sub-folder per batch, holding `<input>.npy` for each input (characters other than
 *   letters, digits, '.', '_' and '-' in an input name written as '_', as `minnow run --out` does).
 *
 * Batches come in name order (natural: 'frame2' before 'frame10'). Each file must hold the
 * model input's exact shape and type; the session checks that when it runs. A folder with
 * neither .npy files nor sub-folders, a missing input file, and an unreadable folder are MinnowErrors.
 */
export async function* npyCalibrationBatches(dir: string, options: NpyCalibrationOptions): AsyncGenerator<Record<string, Feed>, void, undefined> {
  const fixed = options.fixed ?? {};
  const varying = options.inputs.filter((name) => !(name in fixed));
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    throw new MinnowError('INVALID_ARGUMENT', `calibration: cannot read the folder '${dir}': ${(error as Error).message}`, { cause: error });
  }
  const byName = (a: { name: string }, b: { name: string }): number => a.name.localeCompare(b.name, 'en', { numeric: true });
  const files = entries.filter((e) => e.isFile() && e.name.toLowerCase().endsWith('.npy')).sort(byName);
  const folders = entries.filter((e) => e.isDirectory()).sort(byName);
  if (files.length > 0 && folders.length > 0) {
    throw new MinnowError('INVALID_ARGUMENT', `calibration: '${dir}' mixes .npy files and sub-folders; use one file per batch (one input) or one sub-folder per batch`);
  }
  if (files.length > 0) {
    if (varying.length !== 1) {
      throw new MinnowError('INVALID_ARGUMENT', `calibration: '${dir}' holds .npy files directly, which suits a model with one input; this one takes ${varying.join(', ')}: put each batch in a sub-folder with one <input>.npy per input`);
    }
    for (const file of files) {
      const path = join(dir, file.name);
      yield { ...fixed, [varying[0]]: npyToTensorProto(parseNpy(await readFile(path), path), varying[0]) };
    }
    return;
  }
  if (folders.length === 0) throw new MinnowError('INVALID_ARGUMENT', `calibration: '${dir}' holds no .npy files and no batch sub-folders`);
  for (const folder of folders) {
    const batch: Record<string, Feed> = { ...fixed };
    for (const name of varying) {
      const path = join(dir, folder.name, npyFileName(name));
      if (!(await isFile(path))) throw new MinnowError('INVALID_ARGUMENT', `calibration: batch '${folder.name}' has no ${npyFileName(name)} for input '${name}' (in ${join(dir, folder.name)})`);
      batch[name] = npyToTensorProto(parseNpy(await readFile(path), path), name);
    }
    yield batch;
  }
}

/** The file an input's values are read from: the name with unsafe characters replaced by '_'. */
export function npyFileName(input: string): string {
  return `${input.replace(/[^A-Za-z0-9._-]/g, '_') || 'input'}.npy`;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
