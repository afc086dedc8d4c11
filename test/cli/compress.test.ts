import { mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { Random, liveTensors } from '@minnow/core';
import { permutation } from '@minnow/nn';
import { DataType, readModel, tensorValues, type ModelProto } from '@minnow/onnx';
import { serializeNpy } from '@minnow/formats';
import { EXIT, runCli } from '@minnow/cli';
import { HELLO_DEEPA, collector, filesIn, mnistNpyFolder, trainedMnistMlp, workdir, type MnistMlp } from './compress-fixture.js';

/**
 * `minnow compress` end to end through runCli: the real hello_deepa.onnx with `--recipe int8`, and
 * each built-in recipe on an MLP trained with minnow on MNIST; the written models are read back and
 * run in onnxruntime-node; the error paths leave no output and no temporary file behind.
 */

interface StepDoc {
  name: string;
  kind: string;
  params: number;
  bytes: number;
  gzipBytes: number;
  accuracy?: number;
  agreement?: number;
  relativeError?: number;
  note: string;
  warnings: string[];
  details?: Record<string, unknown>;
}
interface CompressDoc {
  bytesBefore: number;
  bytesAfter: number;
  steps: StepDoc[];
  notes: string[];
  data: { labelled: boolean; synthetic: boolean; trainExamples: number; heldOutExamples: number } | null;
  report?: string;
}

async function compress(argv: string[]): Promise<{ code: number; lines: string[]; errors: string[]; doc: CompressDoc }> {
  const { out, output } = collector();
  const code = await runCli(['compress', ...argv], output);
  return { code, lines: out.lines, errors: out.errors, doc: out.documents[0] as CompressDoc };
}

const loadOnnx = (path: string): ModelProto => readModel(new Uint8Array(readFileSync(path)));
const opTypes = (model: ModelProto): Set<string> => new Set(model.graph!.node.map((n) => n.opType ?? ''));

async function ortRun(path: string, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  const out = await session.run(feeds);
  return out[session.outputNames[0]].data as Float32Array;
}

/** A folder of seeded normal [1, 25, 96] inputs for hello_deepa (it fixes its batch to 1). */
function helloDeepaInputs(dir: string, count: number): string {
  const folder = join(dir, 'hd-inputs');
  mkdirSync(folder);
  const rng = new Random(4);
  for (let i = 0; i < count; i++) {
    writeFileSync(join(folder, `x${i}.npy`), serializeNpy({ dtype: 'float32', shape: [1, 25, 96], data: Float32Array.from({ length: 2400 }, () => rng.normal()) }));
  }
  return folder;
}

describe('minnow compress', () => {
  let mlp: MnistMlp;
  beforeAll(async () => {
    mlp = await trainedMnistMlp();
  });

  it('hello_deepa --recipe int8: calibrated on a folder of inputs (no labels: agreement), 3.5x smaller, onnxruntime agrees; --report writes the page', async () => {
    const dir = workdir('compress-hd');
    const data = helloDeepaInputs(dir, 30);
    const out = join(dir, 'hd-int8.onnx');
    const report = join(dir, 'r.html');
    const { code, lines, errors } = await compress([HELLO_DEEPA, '-o', out, '--recipe', 'int8', '--data', data, '--report', report]);
    expect(code, errors.join('\n')).toBe(EXIT.ok);
    expect(lines[0]).toMatch(/hello_deepa\.onnx \(316 kB\) -> .*hd-int8\.onnx \(.+\): \d\.\d\dx smaller, recipe int8/);
    expect(lines[1]).toMatch(/^model\s+params\s+bytes\s+gzipped\s+agreement\s+rel\. error/);
    expect(lines.join('\n')).toContain('static uint8 activations (minmax), qdq: 3 of 3 layers quantized');
    expect(lines.join('\n')).toContain(`report: ${report}`);
    expect(statSync(out).size).toBeLessThan(statSync(HELLO_DEEPA).size / 3.5);
    expect(opTypes(loadOnnx(out))).toContain('QuantizeLinear');
    const html = readFileSync(report, 'utf8');
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain('<svg');
    const rng = new Random(9);
    const x = new ort.Tensor('float32', Float32Array.from({ length: 2400 }, () => rng.normal()), [1, 25, 96]);
    const [ref] = await ortRun(HELLO_DEEPA, { 'onnx::Flatten_0': x });
    const [got] = await ortRun(out, { 'onnx::Flatten_0': x });
    expect(Math.abs(got - ref)).toBeLessThan(0.05);
    expect(filesIn(dir)).toEqual(['hd-inputs', 'hd-int8.onnx', 'r.html']);
  });

  it('hello_deepa --recipe int8 without --data: weights only, measured on made-up inputs, and it says so', async () => {
    const dir = workdir('compress-hd-nodata');
    const out = join(dir, 'hd.onnx');
    const { code, lines, errors } = await compress([HELLO_DEEPA, '-o', out, '--recipe', 'int8']);
    expect(code, errors.join('\n')).toBe(EXIT.ok);
    const text = lines.join('\n');
    expect(text).toContain('note: no --data: 128 seeded random normal inputs stand in');
    expect(text).toContain('no --data to calibrate activation ranges on, so only the weights are quantized');
    expect(text).toContain('int8 weights per-channel, float activations: 3 of 3 layers quantized');
    expect(opTypes(loadOnnx(out)).has('QuantizeLinear')).toBe(false);
    expect(statSync(out).size).toBeLessThan(statSync(HELLO_DEEPA).size / 3.5);
  });

  it('each built-in recipe on a minnow-trained MNIST MLP with --data mnist: sizes, accuracy, sparsity, and onnxruntime runs the result', async () => {
    const dir = workdir('compress-mlp');
    const docs: Record<string, CompressDoc> = {};
    const live = liveTensors();
    for (const recipe of ['int8', 'int4-mixed', 'prune-90-int8']) {
      const out = join(dir, `${recipe}.onnx`);
      const { code, errors, doc } = await compress([mlp.path, '-o', out, '--recipe', recipe, '--data', 'mnist', '--limit', '1000', '--json']);
      expect(code, `${recipe}: ${errors.join('\n')}`).toBe(EXIT.ok);
      docs[recipe] = doc;
      const x = new ort.Tensor('float32', Float32Array.from(mlp.test.get(0).features), [1, 784]);
      const y = await ortRun(out, { input: x });
      expect(y.length).toBe(10);
      expect(y.every(Number.isFinite)).toBe(true);
    }
    // Training, calibration, sensitivity and every evaluation freed what they made.
    expect(liveTensors()).toBe(live);
    const original = docs.int8.steps[0];
    expect(original.name).toBe('original');
    expect(docs.int8.data).toMatchObject({ labelled: true, synthetic: false, trainExamples: 1000, heldOutExamples: 1000 });
    // The original's accuracy on 1,000 of the 2,000 held-out digits, near its accuracy on all of them.
    expect(Math.abs(original.accuracy! - mlp.accuracy)).toBeLessThan(0.03);

    const int8 = docs.int8.steps[1];
    expect(int8.kind).toBe('quantize');
    expect(docs.int8.bytesAfter).toBeLessThan(docs.int8.bytesBefore / 3.5);
    expect(Math.abs(int8.accuracy! - original.accuracy!)).toBeLessThan(0.01);
    expect(int8.agreement!).toBeGreaterThan(0.98);

    const mixed = docs['int4-mixed'].steps[1];
    const budget = mixed.details!.budget as { met: boolean; relativeError: number; promoted: string[] };
    expect(budget.met).toBe(true);
    expect(budget.relativeError).toBeLessThanOrEqual(0.02);
    expect(docs['int4-mixed'].bytesAfter).toBeLessThan(docs.int8.bytesAfter);
    expect(mixed.accuracy!).toBeGreaterThan(original.accuracy! - 0.02);

    const [pruned, prunedInt8] = docs['prune-90-int8'].steps.slice(1);
    expect(pruned.details!.schedule).toBe('gradual');
    const layers = pruned.details!.layers as { params: number; zeros: number }[];
    const zeros = layers.reduce((n, l) => n + l.zeros, 0) / layers.reduce((n, l) => n + l.params, 0);
    // 90% of the 50,816 weights, rounded as PyTorch rounds the count.
    expect(zeros).toBeCloseTo(0.9, 4);
    expect(pruned.gzipBytes).toBeLessThan(original.gzipBytes / 5);
    expect(pruned.accuracy!).toBeGreaterThan(original.accuracy! - 0.1);
    expect(prunedInt8.accuracy!).toBeGreaterThan(pruned.accuracy! - 0.02);
    // The int8 weights keep the zeros: (at least) 90% of the quantized weight codes are 0.
    const final = loadOnnx(join(dir, 'prune-90-int8.onnx'));
    const codes = final.graph!.initializer.filter((t) => t.dataType === DataType.INT8 && t.dims.length === 2).flatMap((t) => Array.from(tensorValues(t) as Int8Array));
    expect(codes.length).toBe(784 * 64 + 64 * 10);
    expect(codes.filter((c) => c === 0).length / codes.length).toBeGreaterThanOrEqual(0.8999);
  });

  it('a recipe file with every kind of step, on unlabelled .npy digits: agreement figures, and the fallbacks it took are reported', async () => {
    const dir = workdir('compress-file');
    const data = mnistNpyFolder(mlp.test, dir, { count: 1000, batch: 100, labels: false });
    const recipe = join(dir, 'r.json');
    writeFileSync(recipe, JSON.stringify({
      name: 'small-sparse',
      steps: [
        { distill: { student: 'mlp:32', epochs: 4, temperature: 2, lr: 0.005 } },
        { prune: { sparsity: 0.8, scope: 'global', fineTune: { epochs: 1 } } },
        { convert: { sparse: true } },
      ],
    }));
    const out = join(dir, 'small.onnx');
    const live = liveTensors();
    const { code, errors, doc } = await compress([mlp.path, '-o', out, '--recipe', recipe, '--data', data, '--json']);
    expect(code, errors.join('\n')).toBe(EXIT.ok);
    expect(liveTensors()).toBe(live);
    expect(doc.data).toMatchObject({ labelled: false, trainExamples: 800, heldOutExamples: 200 });
    const [original, student, pruned, stored] = doc.steps;
    expect(original.accuracy).toBeUndefined();
    expect(original.agreement).toBe(1);
    expect(student.params).toBe(784 * 32 + 32 + 32 * 10 + 10);
    expect(student.agreement!).toBeGreaterThan(0.8);
    expect(pruned.agreement!).toBeGreaterThan(0.75);
    expect(doc.notes.join('\n')).toContain('has no labels, so the student learns from the teacher\'s outputs alone (alpha 0 instead of 0.5)');
    expect(pruned.note).toMatch(/^80% of the weights pruned at once by magnitude \(global\): .* has no labels to fine-tune on$/);
    // Each non-zero costs 4 bytes of value and 8 of int64 index: 20% of 4-byte weights become 2.4 bytes a weight.
    expect(stored.bytes).toBeLessThan(pruned.bytes * 0.7);
    const model = loadOnnx(out);
    expect(model.graph!.sparseInitializer.length).toBeGreaterThan(0);
    const x = new ort.Tensor('float32', Float32Array.from(mlp.test.get(3).features), [1, 784]);
    expect((await ortRun(out, { input: x })).length).toBe(10);
  });

  it('--data in the other folder layouts: inputs.npy + labels.npy + test/ (as minnow prune reads), and one sub-folder per batch', async () => {
    const dir = workdir('compress-layouts');
    const order = permutation(mlp.test.length, new Random(3));
    const write = (folder: string, from: number, count: number, labels = true): void => {
      mkdirSync(folder, { recursive: true });
      const x = new Float32Array(count * 784);
      const y = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const example = mlp.test.get(order[from + i]);
        x.set(example.features, i * 784);
        y[i] = example.label;
      }
      writeFileSync(join(folder, 'inputs.npy'), serializeNpy({ dtype: 'float32', shape: [count, 784], data: x }));
      if (labels) writeFileSync(join(folder, 'labels.npy'), serializeNpy({ dtype: 'int32', shape: [count], data: y }));
    };
    const pruneLayout = join(dir, 'prune-layout');
    write(pruneLayout, 0, 400);
    write(join(pruneLayout, 'test'), 400, 300);
    const first = await compress([mlp.path, '-o', join(dir, 'a.onnx'), '--recipe', 'int8', '--data', pruneLayout, '--json']);
    expect(first.code, first.errors.join('\n')).toBe(EXIT.ok);
    expect(first.doc.data).toMatchObject({ labelled: true, trainExamples: 400, heldOutExamples: 300 });
    expect(first.doc.steps[0].accuracy!).toBeGreaterThan(0.8);
    expect(Math.abs(first.doc.steps[1].accuracy! - first.doc.steps[0].accuracy!)).toBeLessThan(0.02);

    const batches = join(dir, 'batches');
    for (let b = 0; b < 3; b++) write(join(batches, `b${b}`), 700 + 20 * b, 20);
    // The file in each batch folder is named after the model's input.
    for (let b = 0; b < 3; b++) renameSync(join(batches, `b${b}`, 'inputs.npy'), join(batches, `b${b}`, 'input.npy'));
    const second = await compress([mlp.path, '-o', join(dir, 'b.onnx'), '--recipe', 'int8', '--data', batches, '--json']);
    expect(second.code, second.errors.join('\n')).toBe(EXIT.ok);
    expect(second.doc.data).toMatchObject({ labelled: true, trainExamples: 48, heldOutExamples: 12 });

    const mixed = join(dir, 'mixed');
    write(mixed, 0, 20);
    write(join(mixed, 'test'), 20, 10, false);
    const third = await compress([mlp.path, '-o', join(dir, 'c.onnx'), '--recipe', 'int8', '--data', mixed]);
    expect(third.code).toBe(EXIT.badInput);
    expect(third.errors.join('\n')).toContain(`give labels.npy in both ${mixed} and ${join(mixed, 'test')}, or in neither`);
  });

  it('bad input is exit 2 with a message naming it, and leaves no output or temporary file', async () => {
    const dir = workdir('compress-errors');
    const corrupt = join(dir, 'corrupt.onnx');
    writeFileSync(corrupt, new Uint8Array([0x08, 0x07, 0x12, 0xff, 0xff, 0x01]));
    const typo = join(dir, 'typo.json');
    writeFileSync(typo, JSON.stringify({ steps: [{ quantize: {} }, { prune: { sparsty: 0.5 } }] }));
    const notJson = join(dir, 'bad.json');
    writeFileSync(notJson, '{ "steps": [');
    const out = join(dir, 'out.onnx');
    const before = readFileSync(mlp.path);
    const listing = filesIn(dir);
    const cases: [string[], string][] = [
      [[join(dir, 'missing.onnx'), '-o', out, '--recipe', 'int8'], `cannot read '${join(dir, 'missing.onnx')}': no such file`],
      [[corrupt, '-o', out, '--recipe', 'int8'], corrupt],
      [[mlp.path, '-o', out, '--recipe', typo], 'steps[1].prune.sparsty: unknown key (did you mean sparsity?)'],
      [[mlp.path, '-o', out, '--recipe', typo], 'steps[1].prune.sparsity: missing'],
      [[mlp.path, '-o', out, '--recipe', notJson], 'not valid JSON'],
      [[mlp.path, '-o', out, '--recipe', 'int9'], "no built-in recipe named 'int9' (did you mean int8?)"],
      [[mlp.path, '-o', out, '--recipe', join(dir, 'nowhere.json')], 'no such file'],
      [[mlp.path, '-o', join(dir, 'no-such-folder', 'out.onnx'), '--recipe', 'int8'], 'does not exist'],
      [[mlp.path, '-o', join(corrupt, 'out.onnx'), '--recipe', 'int8'], 'is not a folder'],
      [[mlp.path, '-o', dir + '/', '--recipe', 'int8'], 'must be a .onnx file'],
      [[mlp.path, '-o', mlp.path, '--recipe', 'int8'], 'is the input; pass --force'],
      [[mlp.path, '-o', out, '--recipe', 'int8', '--report', join(dir, 'nowhere', 'r.html')], 'does not exist'],
      [[mlp.path, '-o', out, '--recipe', 'int8', '--data', join(dir, 'nowhere')], 'no such folder'],
      [[mlp.path, '-o', out, '--recipe', 'int8', '--data', 'cifar'], "--data 'cifar': no such folder"],
      [[mlp.path, '-o', out, '--recipe', 'int8', '--limit', '0'], "--limit '0'"],
      [[HELLO_DEEPA, '-o', out, '--recipe', 'int8', '--data', 'mnist'], "--data mnist holds 28x28 images (784 values each); the model's input 'onnx::Flatten_0' takes [1,25,96]"],
      [[mlp.path, '-o', out, '--recipe', 'int8', '--backend', 'tpu'], "no backend named 'tpu'"],
    ];
    for (const [argv, message] of cases) {
      const { code, errors } = await compress(argv);
      expect(code, argv.join(' ')).toBe(EXIT.badInput);
      expect(errors.join('\n'), argv.join(' ')).toContain(message);
      expect(filesIn(dir), argv.join(' ')).toEqual(listing);
    }
    expect(readFileSync(mlp.path)).toEqual(before);
  });

  it('a distill step without data is refused before anything is written', async () => {
    const dir = workdir('compress-nodata');
    const recipe = join(dir, 'd.json');
    writeFileSync(recipe, JSON.stringify({ steps: [{ distill: { student: 'mlp:8' } }] }));
    const { code, errors } = await compress([mlp.path, '-o', join(dir, 'out.onnx'), '--recipe', recipe]);
    expect(code).toBe(EXIT.badInput);
    expect(errors.join('\n')).toContain('steps[0].distill: distillation trains the student on examples; pass --data');
    expect(filesIn(dir)).toEqual(['d.json']);
  });
});
