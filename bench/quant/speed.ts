import { Random, fromArray, type Tensor } from '@minnow/core';
import { calibrateOnnx, quantizeOnnx } from '@minnow/compress';
import { Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential } from '@minnow/nn';
import { exportModule, type ModelProto, OnnxSession } from '@minnow/onnx';
import type { BenchContext } from '../lib/harness.js';

/**
 * The quant bench's speed rows: an MLP (784-512-256-10) and a small CNN (conv 3x3 1->32, conv 3x3
 * 32->64, max pool 2, linear 9216->10, on 28x28), each run as its float32 model and as its static
 * int8 model on minnow-wasm (single thread), batch 1 and 32. The int8 model is what minnow's
 * post-training quantizer writes (quantizeOnnx, static: uint8 activations calibrated by min/max
 * on image-like batches, int8 weights per output channel, QDQ form), rewritten by fuseQuantized
 * to run on the integer kernels, as a session does.
 * speedup_int8 = float32 time / int8 time, each the median of session.run plus reading the output
 * back to the host, the two timed in alternating rounds.
 */

export interface SpeedModels {
  readonly float: ModelProto;
  readonly qdq: ModelProto;
  readonly inputShape: readonly number[];
}

const CALIBRATION_BATCHES = 4;

function mlp(seed: number): Sequential {
  const rng = new Random(seed);
  return new Sequential(new Linear(784, 512, { seed: rng, backend: 'js' }), new ReLU(), new Linear(512, 256, { seed: rng, backend: 'js' }), new ReLU(), new Linear(256, 10, { seed: rng, backend: 'js' }));
}

function cnn(seed: number): Sequential {
  const rng = new Random(seed);
  return new Sequential(
    new Conv2d(1, 32, 3, { seed: rng, backend: 'js' }), new ReLU(), new Conv2d(32, 64, 3, { seed: rng, backend: 'js' }), new ReLU(),
    new MaxPool2d(2), new Flatten(), new Linear(64 * 12 * 12, 10, { seed: rng, backend: 'js' }),
  );
}

/** Image-like inputs in [0, 1): smooth blobs plus noise, seeded. */
export function sampleInputs(shape: readonly number[], batch: number, seed: number, backend: string): Tensor {
  const rng = new Random(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(batch * size);
  for (let b = 0; b < batch; b++) {
    const phase = rng.uniform() * 6;
    for (let i = 0; i < size; i++) data[b * size + i] = Math.min(0.999, Math.max(0, 0.5 + 0.4 * Math.sin(phase + i / 37) + 0.1 * (rng.uniform() - 0.5)));
  }
  return fromArray(data, [batch, ...shape], { backend });
}

/** The float model exported from nn, and its static int8 QDQ model. */
export async function speedModels(which: 'mlp' | 'cnn'): Promise<SpeedModels> {
  const inputShape = which === 'mlp' ? [784] : [1, 28, 28];
  const float = exportModule(which === 'mlp' ? mlp(7) : cnn(7), { inputShape: [1, ...inputShape] });
  const batches = Array.from({ length: CALIBRATION_BATCHES }, (_, i) => ({ input: sampleInputs(inputShape, 32, 100 + i, 'js') }));
  const ranges = await calibrateOnnx(float, batches, { method: 'minmax' });
  for (const b of batches) b.input.dispose();
  const { model: qdq } = quantizeOnnx(float, { mode: 'static', activationRanges: ranges });
  return { float, qdq, inputShape };
}

/** One session.run on `input` with every output read back to the host. */
function runner(session: OnnxSession, input: Tensor): () => void {
  const name = session.inputs[0].name;
  return () => {
    for (const t of Object.values(session.run({ [name]: input }))) {
      t.dataSync();
      t.dispose();
    }
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/**
 * Median ms per run of `first` and `second`, timed in alternating rounds (about 40 ms of each per
 * round) so that the load of a shared machine falls on both alike; warmed up first (V8 tiers WASM
 * up in the background).
 */
export async function timePair(first: () => void, second: () => void, quick: boolean): Promise<[number, number]> {
  const once = (fn: () => void): number => {
    const t0 = performance.now();
    fn();
    return performance.now() - t0;
  };
  const perRound = [first, second].map((fn) => {
    const start = performance.now();
    let reps = 0;
    while (reps < 3 || performance.now() - start < 300) {
      fn();
      reps++;
    }
    return Math.max(1, Math.round(40 / ((performance.now() - start) / reps)));
  });
  const samples: [number[], number[]] = [[], []];
  for (let round = 0; round < (quick ? 4 : 16); round++) {
    [first, second].forEach((fn, i) => {
      for (let r = 0; r < perRound[i]; r++) samples[i].push(once(fn));
    });
    await new Promise((resolve) => setImmediate(resolve));
  }
  return [median(samples[0]), median(samples[1])];
}

export async function speedRows(ctx: BenchContext, quick: boolean): Promise<void> {
  for (const which of ['mlp', 'cnn'] as const) {
    const models = await speedModels(which);
    const float = OnnxSession.create(models.float, { backend: 'wasm' });
    // OnnxSession fuses the QDQ graph onto the integer kernels itself (fuseQuantized, on by default).
    const int8 = OnnxSession.create(models.qdq, { backend: 'wasm' });
    for (const batch of quick ? [32] : [1, 32]) {
      const input = sampleInputs(models.inputShape, batch, 7, 'wasm');
      const [msFloat, msInt8] = await timePair(runner(float, input), runner(int8, input), quick);
      input.dispose();
      ctx.emit({ bench: 'quant', impl: 'minnow-wasm', case: `speed-${which}`, batch, speedup_int8: msFloat / msInt8, ms_float: msFloat, ms_int8: msInt8 });
    }
    float.dispose();
    int8.dispose();
  }
}
