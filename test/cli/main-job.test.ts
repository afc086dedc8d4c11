import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { fromArray, init, liveTensors, type Tensor } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import { loadMnistSplit } from '@minnow/nn/node';
import { OnnxSession } from '@minnow/onnx';
import { loadModel } from '@minnow/onnx/node';
import { EXIT, runCli, type MainJobFigures } from '@minnow/cli';
import { collector } from '../helpers/cli-output.js';

/**
 * `minnow demo` (what `npm start` runs) end to end on its quick configuration: a few hundred MNIST
 * digits, every step for real (train, distill, prune, quantize, export, check, time, report).
 */


const work = mkdtempSync(join(tmpdir(), 'minnow-main-job-'));
let figures: MainJobFigures;
let leaked: number;

beforeAll(async () => {
  enableRelaxedSimd();
  await init(wasmBackend);
  const { out, output } = collector();
  const before = liveTensors();
  expect(await runCli(['demo', '--quick', '--json', '--out', join(work, 'json')], output)).toBe(EXIT.ok);
  leaked = liveTensors() - before;
  expect(out.lines).toEqual([]);
  expect(out.documents).toHaveLength(1);
  figures = out.documents[0] as MainJobFigures;
}, 120_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('minnow demo --quick --json', () => {
  it('has the four rows, every figure finite, and each step shrinking the file', () => {
    expect(figures.models.map((m) => m.name)).toEqual(['teacher', 'student', 'pruned', 'int8']);
    const timed = figures.backends.filter((b) => b.timed).map((b) => b.name);
    expect(timed).toEqual(expect.arrayContaining(['js', 'wasm']));
    for (const m of figures.models) {
      for (const v of [m.params, m.nonzero, m.bytes, m.accuracy, m.seconds]) expect(Number.isFinite(v)).toBe(true);
      expect(m.accuracy).toBeGreaterThanOrEqual(0);
      expect(m.accuracy).toBeLessThanOrEqual(1);
      // Every timed backend either timed the model or said why not (gpu refuses int8 sums past float32's exact integers); js and wasm run everything.
      expect([...Object.keys(m.latencyMs), ...Object.keys(m.latencyRefused)].sort()).toEqual([...timed].sort());
      expect(Object.keys(m.latencyMs)).toEqual(expect.arrayContaining(['js', 'wasm']));
      for (const ms of Object.values(m.latencyMs)) expect(ms).toBeGreaterThan(0);
      expect(m.bytes).toBe(readFileSync(m.path).length);
    }
    const [teacher, student, pruned, int8] = figures.models;
    expect(student.params).toBeLessThan(teacher.params);
    expect(pruned.params).toBe(student.params);
    // Every Linear weight is pruned to 80%; the biases stay, so a little over 20% of the parameters remain.
    const weights = figures.pruning.layers.reduce((n, l) => n + l.params, 0);
    expect(pruned.nonzero).toBeGreaterThanOrEqual(Math.round(0.2 * weights));
    expect(pruned.nonzero).toBeLessThan(0.25 * pruned.params);
    expect(int8.nonzero).toBe(pruned.nonzero);
    expect(student.bytes).toBeLessThan(teacher.bytes);
    expect(pruned.bytes).toBeLessThan(student.bytes);
    expect(int8.bytes).toBeLessThan(pruned.bytes);
    expect(figures.histories.teacher).toHaveLength(figures.config.teacher.epochs);
    expect(figures.histories.pruned.every((r) => Number.isFinite(r.trainLoss))).toBe(true);
    expect(figures.quantization.length).toBeGreaterThan(0);
    expect(leaked, 'tensors the job left alive').toBe(0);
  });

  it('checked each file against minnow\'s own execution of what it was made from', () => {
    for (const m of figures.models) {
      expect(m.checks.length).toBeGreaterThan(0);
      for (const c of m.checks) {
        expect(c.samples).toBe(figures.data.test);
        expect(Number.isFinite(c.maxAbsDiff)).toBe(true);
      }
    }
    // Float files against the nn modules they were exported from; int8's integer kernels against its own QDQ reading.
    for (const m of figures.models.slice(0, 3)) {
      expect(m.checks[0].maxAbsDiff).toBeLessThan(1e-4 * Math.max(1, m.checks[0].maxAbsReference));
      expect(m.checks[0].sameTopClass).toBe(m.checks[0].samples);
    }
    const int8 = figures.models[3];
    expect(int8.checks[0].reference).toMatch(/QDQ/);
    expect(int8.checks[0].maxAbsDiff).toBeLessThan(1e-3 * Math.max(1, int8.checks[0].maxAbsReference));
  });

  it('wrote ONNX files that onnxruntime runs and agrees with minnow on', async () => {
    const { test } = await loadMnistSplit({ seed: figures.config.seed });
    const n = 64;
    const x = new Float32Array(n * 784);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const e = test.get((i * 31) % test.length);
      x.set(e.features, i * 784);
      labels[i] = e.label;
    }
    for (const m of figures.models) {
      const bytes = readFileSync(m.path);
      const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3, intraOpNumThreads: 1 });
      const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', x, [n, 784]) });
      const theirs = result[session.outputNames[0]].data as Float32Array;
      await session.release();
      const minnow = OnnxSession.create(await loadModel(m.path), { backend: 'wasm' });
      const input: Tensor = fromArray(x, [n, 784], { backend: 'wasm' });
      const output = Object.values(minnow.run({ [minnow.inputs[0].name]: input }))[0];
      const ours = output.dataSync() as Float32Array;
      output.dispose();
      input.dispose();
      minnow.dispose();
      expect(theirs.length).toBe(n * 10);
      let worst = 0;
      let scale = 0;
      for (let k = 0; k < ours.length; k++) {
        worst = Math.max(worst, Math.abs(ours[k] - theirs[k]));
        scale = Math.max(scale, Math.abs(theirs[k]));
      }
      // Float files: the same products in another order. int8: onnxruntime and minnow may round a requantized value apart by one step.
      expect(worst, `${m.name}: minnow vs onnxruntime`).toBeLessThan((m.name === 'int8' ? 0.05 : 1e-4) * Math.max(1, scale));
    }
  });

  it('wrote the report with the steps and charts', () => {
    expect(figures.reportPath).toBe(join(work, 'json', 'report.html'));
    const html = readFileSync(figures.reportPath!, 'utf8');
    for (const name of ['teacher', 'student', 'pruned', 'int8']) expect(html).toContain(name);
    expect((html.match(/<svg/g) ?? []).length).toBeGreaterThanOrEqual(5);
    expect(readdirSync(join(work, 'json')).sort()).toEqual(['report.html', 'student-int8.onnx', 'student-pruned.onnx', 'student.onnx', 'teacher.onnx']);
  });
});

describe('minnow demo --quick for people', () => {
  it('ends with the table (a row per model, latency per timed backend) and the report path', async () => {
    const { out, output } = collector();
    const dir = join(work, 'people');
    expect(await runCli(['demo', '--quick', '--out', dir, '--report', join(work, 'r.html')], output)).toBe(EXIT.ok);
    const header = out.lines.findIndex((l) => l.includes('model') && l.includes('bytes on disk'));
    expect(header).toBeGreaterThan(0);
    const table = out.lines[header].split('\n').filter((l) => l !== '');
    expect(table[0]).toMatch(/latency js +latency wasm/);
    expect(table.slice(2).map((row) => row.split(/\s+/)[0])).toEqual(['teacher', 'student', 'pruned', 'int8']);
    expect(out.lines.some((l) => l.includes('what each step cost'))).toBe(true);
    expect(out.lines.map((l) => l.trim())).toContain(`report: ${join(work, 'r.html')}`);
    expect(existsSync(join(work, 'r.html'))).toBe(true);
    expect(existsSync(join(dir, 'report.html'))).toBe(false);
  }, 120_000);

  it('--quiet prints nothing; an output folder that is a file, or a report folder that does not exist, is bad input and writes nothing', async () => {
    const quiet = collector();
    expect(await runCli(['demo', '--quick', '--quiet', '--no-report', '--out', join(work, 'quiet')], quiet.output)).toBe(EXIT.ok);
    expect(quiet.out.lines).toEqual([]);
    expect(readdirSync(join(work, 'quiet')).sort()).toEqual(['student-int8.onnx', 'student-pruned.onnx', 'student.onnx', 'teacher.onnx']);

    const blocked = join(work, 'a-file');
    writeFileSync(blocked, 'not a folder');
    const bad = collector();
    expect(await runCli(['demo', '--quick', '--out', blocked], bad.output)).toBe(EXIT.badInput);
    expect(bad.out.errors.join('\n')).toContain(`'${blocked}' is a file`);
    expect(readFileSync(blocked, 'utf8')).toBe('not a folder');

    const nowhere = collector();
    const missing = join(work, 'no-such-folder', 'r.html');
    expect(await runCli(['demo', '--quick', '--out', join(work, 'unused'), '--report', missing], nowhere.output)).toBe(EXIT.badInput);
    expect(nowhere.out.errors.join('\n')).toContain(`cannot write the report '${missing}'`);
    expect(existsSync(join(work, 'unused'))).toBe(false);
  }, 120_000);
});
