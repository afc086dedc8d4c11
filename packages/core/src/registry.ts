import type { Backend, BackendFactory, BackendInfo } from './backend.js';
import { MinnowError } from './errors.js';

/**
 * Backends are registered by name and initialised explicitly with `await init(name)`: nothing
 * initialises lazily, so a failing backend fails where the user asked for it. The first backend
 * initialised becomes the default for new tensors unless `setDefaultBackend` says otherwise.
 */

const factories = new Map<string, BackendFactory>();
const ready = new Map<string, Backend>();
const pending = new Map<string, Promise<Backend>>();
let defaultName: string | null = null;

/**
 * Core only ever hands a backend buffers that backend allocated, so erasing the buffer type here is
 * sound; it lets `Backend<Float32Array>` and `Backend<WasmBuffer>` live in one registry.
 */
export function eraseBufferType<Buf>(factory: BackendFactory<Buf>): BackendFactory {
  return factory as unknown as BackendFactory;
}

export function registerBackend<Buf>(typedFactory: BackendFactory<Buf>): void {
  const factory = eraseBufferType(typedFactory);
  const existing = factories.get(factory.name);
  if (existing && existing !== factory) {
    throw new MinnowError('INVALID_ARGUMENT', `registerBackend: a different backend named "${factory.name}" is already registered`);
  }
  factories.set(factory.name, factory);
}

export function registeredBackends(): string[] {
  return [...factories.keys()];
}

/** Initialises a backend (registering it first when given a factory) and returns it. Idempotent. */
export async function init<Buf>(backend: string | BackendFactory<Buf>): Promise<Backend> {
  if (typeof backend !== 'string') registerBackend(backend);
  const name = typeof backend === 'string' ? backend : backend.name;
  const done = ready.get(name);
  if (done) return done;
  const factory = factories.get(name);
  if (!factory) {
    throw new MinnowError(
      'UNKNOWN_BACKEND',
      `init: no backend named "${name}" is registered (registered: ${registeredBackends().join(', ') || 'none'})`,
    );
  }
  let promise = pending.get(name);
  if (!promise) {
    promise = factory.create();
    pending.set(name, promise);
  }
  try {
    const created = await promise;
    ready.set(name, created);
    defaultName ??= name;
    return created;
  } finally {
    pending.delete(name);
  }
}

export function getBackend(name?: string): Backend {
  const wanted = name ?? defaultName;
  if (wanted === null) {
    throw new MinnowError('BACKEND_NOT_INITIALIZED', 'no backend is initialised: call `await init("js")` (or another backend) first');
  }
  const backend = ready.get(wanted);
  if (backend) return backend;
  if (factories.has(wanted)) {
    throw new MinnowError('BACKEND_NOT_INITIALIZED', `backend "${wanted}" is registered but not initialised: call \`await init("${wanted}")\` first`);
  }
  throw new MinnowError('UNKNOWN_BACKEND', `no backend named "${wanted}" (registered: ${registeredBackends().join(', ') || 'none'})`);
}

export function setDefaultBackend(name: string): void {
  getBackend(name);
  defaultName = name;
}

export function defaultBackendName(): string | null {
  return defaultName;
}

export function isInitialized(name: string): boolean {
  return ready.has(name);
}

export interface BackendStatus {
  readonly name: string;
  readonly initialized: boolean;
  readonly isDefault: boolean;
  readonly info: BackendInfo | null;
}

export function backendStatus(): BackendStatus[] {
  return registeredBackends().map((name) => {
    const backend = ready.get(name);
    return { name, initialized: !!backend, isDefault: name === defaultName, info: backend ? backend.info() : null };
  });
}

/** Disposes a backend's memory and forgets it; tensors still on it become unusable. */
export function shutdownBackend(name: string): void {
  const backend = ready.get(name);
  if (!backend) return;
  backend.dispose();
  ready.delete(name);
  if (defaultName === name) defaultName = ready.keys().next().value ?? null;
}
