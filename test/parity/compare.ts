import { getBackend, liveTensors, type DType, type TypedArray } from '@minnow/core';
import type { ParityCase } from './profile.js';

/** A mismatch between a backend and the reference, or a case that left tensors or buffers behind. */
export class ParityFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ParityFailure';
  }
}

/** One op's result, read back to the host. */
export interface Result {
  readonly data: TypedArray;
  readonly shape: readonly number[];
  readonly dtype: DType;
}

export interface Tolerance {
  readonly rtol: number;
  readonly atol: number;
}

export const EXACT: Tolerance = { rtol: 0, atol: 0 };

/**
 * Element by element: |got - expected| <= atol + rtol * |expected|. NaN matches only NaN, and an
 * infinity matches only itself (a finite value never passes for an infinite one, whatever rtol).
 */
export function expectClose(got: TypedArray, expected: TypedArray, tol: Tolerance, what: string): void {
  if (got.length !== expected.length) {
    throw new ParityFailure(`${what}: got ${got.length} elements, expected ${expected.length}`);
  }
  for (let i = 0; i < got.length; i++) {
    const a = got[i];
    const e = expected[i];
    if (a === e) continue;
    const bothNaN = Number.isNaN(a) && Number.isNaN(e);
    if (bothNaN) continue;
    const finite = Number.isFinite(a) && Number.isFinite(e);
    if (!finite || Math.abs(a - e) > tol.atol + tol.rtol * Math.abs(e)) {
      throw new ParityFailure(`${what}[${i}]: got ${a}, expected ${e} (rtol ${tol.rtol}, atol ${tol.atol})`);
    }
  }
}

/** Same shape, same dtype, values within `tol`. */
export function expectParity(got: Result, expected: Result, tol: Tolerance, what: string): void {
  if (got.shape.length !== expected.shape.length || got.shape.some((d, i) => d !== expected.shape[i])) {
    throw new ParityFailure(`${what}: got shape [${got.shape.join(', ')}], expected [${expected.shape.join(', ')}]`);
  }
  if (got.dtype !== expected.dtype) throw new ParityFailure(`${what}: got dtype ${got.dtype}, expected ${expected.dtype}`);
  expectClose(got.data, expected.data, tol, what);
}

/** Wraps a case so that it fails when it leaves live tensors or backend buffers behind. */
export function leakChecked(backendName: string, name: string, body: () => void): ParityCase {
  return {
    name,
    run() {
      const backend = getBackend(backendName);
      const tensors = liveTensors();
      const buffers = backend.memory().buffers;
      body();
      const tensorsAfter = liveTensors();
      const buffersAfter = backend.memory().buffers;
      if (tensorsAfter !== tensors || buffersAfter !== buffers) {
        throw new ParityFailure(
          `${name}: left things behind: live tensors ${tensors} before, ${tensorsAfter} after; ` +
            `"${backendName}" buffers ${buffers} before, ${buffersAfter} after`,
        );
      }
    },
  };
}
