import { MinnowError } from '@minnow/core';
import { writeFileAtomic } from '@minnow/onnx/node';
import { writeFailure } from '../files.js';
import { renderReport } from './html.js';
import type { ReportData } from './types.js';

/**
 * Writes the report page where the user asked, atomically (onnx's writeFileAtomic: a temporary
 * file beside it, then a rename), so an interrupted or refused write leaves neither a half-written
 * page nor a temporary file. A path that cannot be written is a MinnowError naming it and why.
 */
/** Renders `data` and writes it to `path`; returns the bytes written. */
export async function writeReport(path: string, data: ReportData): Promise<{ path: string; bytes: number }> {
  if (typeof path !== 'string' || path.trim() === '') throw new MinnowError('INVALID_ARGUMENT', 'report: the output path is empty');
  const bytes = new TextEncoder().encode(renderReport(data));
  try {
    await writeFileAtomic(path, bytes);
  } catch (error) {
    throw new MinnowError('INVALID_ARGUMENT', `report: cannot write '${path}': ${writeFailure(error, path)}`, { cause: error });
  }
  return { path, bytes: bytes.length };
}
