import {
  Random, type Tensor, fromArray, getBackend, gpuBackend, init, jsBackend, liveTensors, matmul, mul, wasmBackend,
  type BackendFactory,
} from '@minnow/web';
import { parityCases, type ParityProfile } from '../parity/suite.js';
import { gpuParityProfile, wasmParityProfile } from '../parity/profiles.js';
import { type CaseResult, type InitResult, type ParityPageResult, RESULT_GLOBAL, describeError } from './protocol.js';

/**
 * The page test/browser/chromium.test.ts opens in Chromium. It imports minnow only as '@minnow/web',
 * which the page's import map points at the shipped bundle (packages/web/dist/minnow.js); the
 * parity suite's '@minnow/core' is mapped to that same module, so there is one registry and one
 * Tensor class in the page. It starts js, wasm and gpu, runs the parity suite on wasm and gpu
 * against js, checks gpu's asynchronous read, and publishes the outcome on window.__minnowResult.
 */

const PROFILES: Readonly<Record<'wasm' | 'gpu', ParityProfile>> = { wasm: wasmParityProfile('wasm'), gpu: gpuParityProfile('gpu') };

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0));

function publish(result: unknown): void {
  (globalThis as unknown as Record<string, unknown>)[RESULT_GLOBAL] = result;
}

function status(text: string): void {
  document.title = text;
  const el = document.getElementById('status');
  if (el !== null) el.textContent = text;
}

async function start<Buf>(factory: BackendFactory<Buf>): Promise<InitResult> {
  try {
    const backend = await init(factory);
    return { ok: true, info: backend.info() };
  } catch (error) {
    return { ok: false, error: describeError(error) };
  }
}

async function runSuite(name: 'wasm' | 'gpu', ready: InitResult): Promise<CaseResult[]> {
  if (!ready.ok) return [{ name: 'init', backend: name, passed: false, error: `not initialised: ${ready.error}`, ms: 0 }];
  const results: CaseResult[] = [];
  const cases = parityCases(PROFILES[name]);
  for (const [i, c] of cases.entries()) {
    status(`${name} ${i + 1}/${cases.length}: ${c.name}`);
    await yieldToEventLoop();
    const t0 = performance.now();
    try {
      c.run();
      results.push({ name: c.name, backend: name, passed: true, ms: performance.now() - t0 });
    } catch (error) {
      results.push({ name: c.name, backend: name, passed: false, error: describeError(error), ms: performance.now() - t0 });
    }
  }
  return results;
}

/**
 * `await data()` on gpu takes WebGL2's non-blocking path (pixel-pack buffer and fence): it must
 * give exactly what the blocking read gives, with the right typed array, and free what it used.
 */
async function checkAsyncData(): Promise<ParityPageResult['asyncData']> {
  const t0 = performance.now();
  const owned: Tensor[] = [];
  const track = (t: Tensor): Tensor => (owned.push(t), t);
  const tensorsBefore = liveTensors();
  const buffersBefore = getBackend('gpu').memory().buffers;
  try {
    const rng = new Random(7);
    const host = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.normal());
    const [m, k, n] = [67, 45, 33];
    const a = host(m * k);
    const b = host(k * n);
    const product = track(matmul(track(fromArray(a, [m, k], { backend: 'gpu' })), track(fromArray(b, [k, n], { backend: 'gpu' }))));
    const asyncValues = await product.data();
    const syncValues = product.dataSync();
    if (!(asyncValues instanceof Float32Array)) throw new Error(`float32 data() gave ${asyncValues.constructor.name}`);
    if (asyncValues.length !== m * n) throw new Error(`float32 data() gave ${asyncValues.length} values, expected ${m * n}`);
    for (let i = 0; i < asyncValues.length; i++) {
      if (!Object.is(asyncValues[i], syncValues[i])) throw new Error(`float32 data()[${i}] = ${asyncValues[i]}, dataSync() = ${syncValues[i]}`);
    }
    const reference = track(matmul(track(fromArray(a, [m, k], { backend: 'js' })), track(fromArray(b, [k, n], { backend: 'js' })))).dataSync();
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let bound = 0;
        for (let p = 0; p < k; p++) bound += Math.abs(a[i * k + p] * b[p * n + j]);
        const err = Math.abs(asyncValues[i * n + j] - reference[i * n + j]);
        if (err > 4 * k * 2 ** -24 * bound) throw new Error(`float32 data()[${i},${j}] = ${asyncValues[i * n + j]}, js says ${reference[i * n + j]}`);
      }
    }

    const ints = Int32Array.from({ length: 1001 }, (_, i) => (i * 7919) % 4001 - 2000);
    const squared = track(mul(track(fromArray(ints, [1001], { backend: 'gpu' })), track(fromArray(ints, [1001], { backend: 'gpu' }))));
    const intValues = await squared.data();
    if (!(intValues instanceof Int32Array)) throw new Error(`int32 data() gave ${intValues.constructor.name}`);
    for (let i = 0; i < ints.length; i++) {
      if (intValues[i] !== ints[i] * ints[i]) throw new Error(`int32 data()[${i}] = ${intValues[i]}, expected ${ints[i] * ints[i]}`);
    }
    for (const t of owned.splice(0)) t.dispose();
    const tensorsAfter = liveTensors();
    const buffersAfter = getBackend('gpu').memory().buffers;
    if (tensorsAfter !== tensorsBefore || buffersAfter !== buffersBefore) {
      throw new Error(`left things behind: live tensors ${tensorsBefore} -> ${tensorsAfter}, gpu buffers ${buffersBefore} -> ${buffersAfter}`);
    }
    return { passed: true, ms: performance.now() - t0 };
  } catch (error) {
    return { passed: false, error: describeError(error), ms: performance.now() - t0 };
  } finally {
    for (const t of owned) t.dispose();
  }
}

async function main(): Promise<void> {
  const t0 = performance.now();
  status('initialising js, wasm, gpu');
  // In this order: js first becomes the default backend and is the reference the suite compares against.
  const js = await start(jsBackend);
  const wasm = await start(wasmBackend);
  const gpu = await start(gpuBackend);
  const cases = [...(await runSuite('wasm', wasm)), ...(await runSuite('gpu', gpu))];
  status('gpu: async data()');
  await yieldToEventLoop();
  const asyncData = gpu.ok ? await checkAsyncData() : { passed: false, error: 'gpu not initialised', ms: 0 };
  const result: ParityPageResult = {
    kind: 'parity',
    userAgent: navigator.userAgent,
    init: { js, wasm, gpu },
    cases,
    asyncData,
    totalMs: performance.now() - t0,
  };
  status('done');
  publish(result);
}

main().catch((error: unknown) => publish({ kind: 'fatal', error: describeError(error, 40) }));
