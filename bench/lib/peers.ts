import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/**
 * The peers minnow is measured against, loaded on demand so a missing or broken peer costs only its
 * own rows (the harness reports why). All are devDependencies, never runtime dependencies.
 */

type Tf = typeof import('@tensorflow/tfjs-core');

let tfPromise: Promise<Tf> | null = null;

async function loadTf(): Promise<Tf> {
  tfPromise ??= (async () => {
    const tf = await import('@tensorflow/tfjs-core');
    tf.env().set('PROD', true); // silences the 'install tfjs-node' banner; no effect on kernels
    // tfjs-core registers no gradient functions itself; the @tensorflow/tfjs bundle does, into the
    // same tfjs-core, and training (the kd bench's throughput rows) needs them.
    await import('@tensorflow/tfjs');
    await import('@tensorflow/tfjs-backend-cpu');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
    wasm.setWasmPaths(`${wasmDir}/`);
    wasm.setThreadsCount(1);
    return tf;
  })();
  return tfPromise;
}

/** TensorFlow.js on the given backend ('cpu' or 'wasm'), single thread. */
export async function tfjs(backend: 'cpu' | 'wasm'): Promise<Tf> {
  const tf = await loadTf();
  const ok = await tf.setBackend(backend);
  if (!ok || tf.getBackend() !== backend) throw new Error(`tfjs backend ${backend} failed to initialise`);
  await tf.ready();
  return tf;
}

export async function ortNode(): Promise<typeof import('onnxruntime-node')> {
  return import('onnxruntime-node');
}

export async function ortWeb(): Promise<typeof import('onnxruntime-web')> {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = true;
  return ort;
}
