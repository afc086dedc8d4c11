import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Random } from '@minnow/core';
import { Linear, ReLU, Sequential } from '@minnow/nn';
import { DataType, OnnxSession, exportModule, makeTensor, type Feed, type ModelProto } from '@minnow/onnx';
import { calibrateOnnx } from '@minnow/compress';
import type { BenchContext } from '../lib/harness.js';

/**
 * The quant bench's calibration-memory rows: a 3-layer MLP (256-512-512-10, exported to ONNX)
 * calibrated with the entropy method (a 2048-bin histogram per activation, the heaviest observer)
 * on 100 and on 1,000 batches of 32 random inputs, made one at a time by a generator as a data
 * loader would. process.memoryUsage() is sampled after every batch; peak_mb is the peak resident
 * set of the process during the run. Flat means peak_mb (and the heap and array-buffer peaks
 * beside it) does not grow from 100 to 1,000 batches, while stored_mb, what keeping every
 * observed activation would take (onnxruntime's MinMax calibrator without
 * max_intermediate_outputs, onnxruntime #11020), grows tenfold.
 */

const LAYERS = [256, 512, 512, 10];
const BATCH = 32;
const QUICK_BATCH = 8;
const COUNTS = [100, 1000] as const;
const MB = 2 ** 20;

function mlpModel(): ModelProto {
  const random = new Random(17);
  const layers = [];
  for (let i = 0; i + 1 < LAYERS.length; i++) {
    if (i > 0) layers.push(new ReLU());
    layers.push(new Linear(LAYERS[i], LAYERS[i + 1], { seed: random, backend: 'js' }));
  }
  const net = new Sequential(...layers);
  try {
    return exportModule(net, { inputShape: [BATCH, LAYERS[0]] });
  } finally {
    net.dispose();
  }
}

/** Calibration batches made on demand: nothing but the current batch exists at any time. */
function* batches(count: number, rows: number, seed: number): Generator<Record<string, Feed>> {
  const random = new Random(seed);
  for (let b = 0; b < count; b++) {
    const values = Float32Array.from({ length: rows * LAYERS[0] }, () => random.normal());
    yield { input: makeTensor('input', DataType.FLOAT, [rows, LAYERS[0]], new Uint8Array(values.buffer)) };
  }
}

/** Bytes of float activations one batch produces (input included): what storing them all would cost per batch. */
function activationBytesPerBatch(model: ModelProto, rows: number): number {
  let bytes = 0;
  const session = OnnxSession.create(model, { observe: (_, v) => { if (v.elemType === DataType.FLOAT) bytes += v.size * 4; } });
  const [feeds] = batches(1, rows, 1);
  for (const t of Object.values(session.run(feeds))) t.dispose();
  session.dispose();
  return bytes + rows * LAYERS[0] * 4;
}

/** The engine's collector, reachable without --expose-gc: baselines are taken after a full collection. */
function collector(): (() => void) | undefined {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return undefined;
  }
}

interface Peaks { rss: number; heapUsed: number; arrayBuffers: number }

export async function calibrationMemoryRows(ctx: BenchContext, quick: boolean): Promise<void> {
  const rows = quick ? QUICK_BATCH : BATCH;
  const model = mlpModel();
  const perBatch = activationBytesPerBatch(model, rows);
  const gc = collector();
  if (gc === undefined) ctx.note('calib-memory: no gc() to call, so baselines include garbage from earlier rows');
  for (const count of COUNTS) {
    gc?.();
    const start = process.memoryUsage();
    const peaks: Peaks = { rss: start.rss, heapUsed: start.heapUsed, arrayBuffers: start.arrayBuffers };
    const sample = (): void => {
      const m = process.memoryUsage();
      peaks.rss = Math.max(peaks.rss, m.rss);
      peaks.heapUsed = Math.max(peaks.heapUsed, m.heapUsed);
      peaks.arrayBuffers = Math.max(peaks.arrayBuffers, m.arrayBuffers);
    };
    const t0 = performance.now();
    const ranges = await calibrateOnnx(model, batches(count, rows, 100 + count), { method: 'entropy', onProgress: sample });
    const seconds = (performance.now() - t0) / 1000;
    sample();
    ctx.emit({
      bench: 'quant',
      impl: 'minnow',
      case: 'calib-memory',
      batches: count,
      peak_mb: round(peaks.rss / MB),
      rss_growth_mb: round((peaks.rss - start.rss) / MB),
      heap_peak_mb: round(peaks.heapUsed / MB),
      array_buffers_peak_mb: round(peaks.arrayBuffers / MB),
      stored_mb: round((perBatch * count) / MB),
      tensors: ranges.size,
      method: 'entropy',
      batch: rows,
      seconds: round(seconds),
    });
  }
}

const round = (x: number): number => Math.round(x * 100) / 100;
