import type { Bench, Row } from './lib/harness.js';
import { accuracyMethod, accuracyRows } from './quant/accuracy.js';
import { calibrationMemoryRows } from './quant/calibration.js';
import { sileroRows } from './quant/silero.js';
import { speedRows } from './quant/speed.js';

/**
 * Quantization (issue 7): Silero VAD int8 (size and error), accuracy of int8/int4 models trained
 * with minnow on Fashion-MNIST (before and after QAT), int8 speed against float32 on minnow-wasm,
 * and calibration memory as the data grows. Each part lives in bench/quant/.
 */
export const bench: Bench = {
  name: 'quant',
  title: 'Quantization: size, error, accuracy, speed and calibration memory',
  columns: ['case', 'impl', 'batch', 'batches', 'size_ratio', 'rel_error', 'acc_float', 'acc_quant', 'acc_drop', 'speedup_int8', 'peak_mb'],
  method: [
    'silero-int8: silero_vad_op18_ifless.onnx, every Conv/Gemm with int8 weights per output channel and per block of 16 input channels (affine, GPTQ), static uint16 activations calibrated on seeded speech-like audio; size_ratio = float file / quantized file; rel_error = mean relative output error over 100 stateful frames against the float model (rel_error_clips_* over ten clips); ort_minnow_codes = the largest code difference between onnxruntime and minnow at any QuantizeLinear fed the same codes.',
    ...accuracyMethod,
    'speed-*: end-to-end session.run (host read of the output included) of the float32 and the int8 model on minnow-wasm, single thread; speedup_int8 = float time / int8 time.',
    'calib-memory: peak resident memory of streaming calibration over 100 and 1,000 batches (histogram observers keep a fixed number of bins).',
  ],
  async run(ctx) {
    await sileroRows(ctx, ctx.quick);
    await accuracyRows(ctx, ctx.quick);
    await speedRows(ctx, ctx.quick);
    await calibrationMemoryRows(ctx, ctx.quick);
  },
  summary(rows: readonly Row[]) {
    return rows.map((r) => `${String(r.case)}${r.batch !== undefined ? ` batch ${String(r.batch)}` : ''}${r.batches !== undefined ? ` ${String(r.batches)} batches` : ''}: `
      + Object.entries(r).filter(([k]) => !['bench', 'impl', 'case', 'batch', 'batches'].includes(k)).map(([k, v]) => `${k} ${typeof v === 'number' ? v.toFixed(3) : String(v)}`).join(', '));
  },
};
