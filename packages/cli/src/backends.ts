import { MinnowError, backendStatus, eraseBufferType, init, registerBackend, type BackendFactory, type BackendInfo } from '@minnow/core';
import { jsBackend } from '@minnow/backend-js';
import { wasmBackend } from '@minnow/backend-wasm';
import { gpuBackend } from '@minnow/backend-gpu';

/**
 * The backends this build of minnow ships; the CLI initialises each one it is asked about and
 * reports what really runs (for gpu, the gpu.js mode: headlessgl under an X display, else a
 * named fallback).
 */
export const BUILT_IN_BACKENDS: readonly BackendFactory[] = [eraseBufferType(jsBackend), eraseBufferType(wasmBackend), eraseBufferType(gpuBackend)];

export function registerBuiltInBackends(): void {
  for (const factory of BUILT_IN_BACKENDS) registerBackend(factory);
}

export interface BackendReport {
  readonly name: string;
  readonly available: boolean;
  readonly info: BackendInfo | null;
  /** Why the backend could not be initialised, when it could not. */
  readonly error: string | null;
  readonly default: boolean;
}

/** Tries to initialise every built-in backend and reports each honestly, failures included. */
export async function probeBackends(): Promise<BackendReport[]> {
  registerBuiltInBackends();
  const reports: Omit<BackendReport, 'default'>[] = [];
  for (const factory of BUILT_IN_BACKENDS) {
    try {
      const backend = await init(factory.name);
      reports.push({ name: factory.name, available: true, info: backend.info(), error: null });
    } catch (error) {
      reports.push({ name: factory.name, available: false, info: null, error: (error as Error).message });
    }
  }
  const isDefault = new Map(backendStatus().map((s) => [s.name, s.isDefault]));
  return reports.map((r) => ({ ...r, default: isDefault.get(r.name) ?? false }));
}

/** Initialises the named built-in backend for a command; an unknown name is bad input. */
export async function useBackend(name: string): Promise<void> {
  registerBuiltInBackends();
  if (!BUILT_IN_BACKENDS.some((f) => f.name === name)) {
    throw new MinnowError('UNKNOWN_BACKEND', `no backend named '${name}' (built in: ${BUILT_IN_BACKENDS.map((f) => f.name).join(', ')})`);
  }
  await init(name);
}
