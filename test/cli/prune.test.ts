import { mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Random, init, liveTensors } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { Adam, Conv2d, DataLoader, Flatten, Linear, MaxPool2d, ReLU, Sequential, subset, permutation, type Module } from '@minnow/nn';
import { loadMnistSplit } from '@minnow/nn/node';
import { train } from '@minnow/compress';
import { DataType, GraphBuilder, attr, exportModule, readModel, tensorValueInfo, tensorValues, writeModel, type ModelProto, type TensorProto } from '@minnow/onnx';
import { serializeNpy } from '@minnow/formats';
import type { Tensor } from '@minnow/core';
import { EXIT, runCli } from '@minnow/cli';
import { collector } from '../helpers/cli-output.js';

/**
 * `minnow prune` end to end through runCli: models built (and one trained) with minnow and the real
 * hello_deepa.onnx; the written files are read back and run in onnxruntime-node, and their weights
 * checked against what the flags asked for.
 */

const HELLO_DEEPA = 'node_modules/openwakeword-js/models/hello_deepa.onnx';


async function prune(argv: string[]): Promise<{ code: number; lines: string[]; errors: string[]; doc: PruneDoc }> {
  const { out, output } = collector();
  const code = await runCli(['prune', ...argv], output);
  return { code, lines: out.lines, errors: out.errors, doc: out.documents[0] as PruneDoc };
}

interface PruneDoc {
  bytesBefore: number;
  bytesAfter: number;
  params: { before: number; after: number };
  totals: { sparsityAfter: number; paramsBefore: number; paramsAfter: number };
  layers: { layer: string; op: string; paramsBefore: number; paramsAfter: number; sparsityAfter: number; storage: string; note?: string }[];
  groups?: { producers: string[]; pruned: boolean; reasons: string[] }[];
  sparseStorage: { applied: boolean; initializers: string[]; bytesIfApplied?: number };
  fineTune?: { trainSamples: number; testSamples: number; schedule: string; accuracy?: { before: number; pruned?: number; after: number } };
}

const workdir = (): string => mkdtempSync(join(tmpdir(), 'minnow-prune-'));

function save(dir: string, name: string, module: Module<[Tensor], Tensor>, inputShape: number[]): string {
  const path = join(dir, name);
  writeFileSync(path, writeModel(exportModule(module, { inputShape })).model);
  return path;
}

const mlp = (seed: number, inputs = 32): Sequential => {
  const rng = new Random(seed);
  return new Sequential(new Linear(inputs, 64, { seed: rng }), new ReLU(), new Linear(64, 32, { seed: rng }), new ReLU(), new Linear(32, 10, { seed: rng }));
};

/** [N,1,12,12] -> conv 8 -> pool -> conv 16 -> 16x3x3 -> 10. */
const cnn = (seed: number): Sequential => {
  const rng = new Random(seed);
  return new Sequential(
    new Conv2d(1, 8, 3, { seed: rng }), new ReLU(), new MaxPool2d(2), new Conv2d(8, 16, 3, { seed: rng }), new ReLU(), new Flatten(), new Linear(144, 10, { seed: rng }),
  );
};

const load = (path: string): ModelProto => readModel(new Uint8Array(readFileSync(path)));
const floats = (t: TensorProto): Float32Array => tensorValues(t) as Float32Array;

/** The model's weight matrices and conv kernels (rank >= 2 float initialisers), by name. */
function weights(model: ModelProto): Map<string, TensorProto> {
  return new Map(model.graph!.initializer.filter((t) => t.dims.length >= 2).map((t) => [t.name!, t]));
}

/** The weight (second input) of the node named `node`: structured pruning renames the initialisers it shrinks. */
function weightOf(model: ModelProto, node: string): TensorProto {
  const name = model.graph!.node.find((n) => n.name === node)!.input[1];
  return model.graph!.initializer.find((t) => t.name === name)!;
}

const zeros = (values: ArrayLike<number>): number => Array.from(values).filter((v) => v === 0).length;

async function runOrt(path: string, input: Float32Array, dims: number[]): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  try {
    const out = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, dims) });
    const y = out[session.outputNames[0]];
    return { data: y.data as Float32Array, dims: y.dims };
  } finally {
    await session.release();
  }
}

const randomInput = (n: number, seed: number): Float32Array => {
  const rng = new Random(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
};

describe('minnow prune', () => {
  it('unstructured per layer: every weight exactly 90% zeros, the table, the sizes; the file runs in onnxruntime', async () => {
    const dir = workdir();
    const input = save(dir, 'mlp.onnx', mlp(1), [1, 32]);
    const out = join(dir, 'mlp-90.onnx');
    const r = await prune([input, '-o', out, '--sparsity', '0.9']);
    expect(r.code, r.errors.join('\n')).toBe(EXIT.ok);
    expect(r.lines[0]).toMatch(/mlp\.onnx \(.+\) -> .*mlp-90\.onnx \(.+\): \d+\.\d+x smaller; magnitude pruning to 90% sparsity in each layer/);
    expect(r.lines[2]).toMatch(/^layer\s+op\s+weight shape\s+params before\s+params after\s+sparsity before\s+sparsity after\s+bytes before\s+bytes after/);
    const table = r.lines.join('\n');
    expect(table).toMatch(/total .* 3 layers, \d+\.\d+x fewer non-zero weights/);
    for (const [name, w] of weights(load(out))) {
      const values = floats(w);
      expect(zeros(values), name).toBe(Math.round(0.9 * values.length));
      expect(table).toContain('90.0%');
    }
    // The dense file is as big as before (zeros are stored), and says how much sparse storage would save.
    expect(r.lines.join('\n')).toMatch(/with --sparse-storage the file would be .+ \(\d+\.\d+x smaller than written\)/);
    const x = randomInput(4 * 32, 2);
    expect((await runOrt(out, x, [4, 32])).dims).toEqual([4, 10]);
    // Unpruned weights keep their values: the largest of the first layer's are untouched.
    const before = floats(weights(load(input)).get('0.weight')!);
    const after = floats(weights(load(out)).get('0.weight')!);
    after.forEach((v, i) => expect(v === 0 || v === before[i]).toBe(true));
  });

  it('--global prunes 90% of all weights together (layers differ), --criterion random too, and --exclude leaves a layer dense', async () => {
    const dir = workdir();
    const input = save(dir, 'mlp.onnx', mlp(2), [1, 32]);
    const g = await prune([input, '-o', join(dir, 'g.onnx'), '--sparsity', '0.9', '--global', '--json']);
    expect(g.code, g.errors.join('\n')).toBe(EXIT.ok);
    const all = [...weights(load(join(dir, 'g.onnx'))).values()].map(floats);
    const total = all.reduce((n, v) => n + v.length, 0);
    expect(all.reduce((n, v) => n + zeros(v), 0)).toBe(Math.round(0.9 * total));
    const per = all.map((v) => zeros(v) / v.length);
    expect(Math.max(...per) - Math.min(...per)).toBeGreaterThan(0.01);
    expect(g.doc.totals.sparsityAfter).toBeCloseTo(0.9, 3);

    const r = await prune([input, '-o', join(dir, 'r.onnx'), '--sparsity', '0.5', '--criterion', 'random', '--seed', '3', '--exclude', '2/Gemm/Gemm,4.weight', '--json']);
    expect(r.code, r.errors.join('\n')).toBe(EXIT.ok);
    const w = weights(load(join(dir, 'r.onnx')));
    expect(zeros(floats(w.get('0.weight')!))).toBe(Math.round(0.5 * 32 * 64));
    expect(r.doc.layers.map((l) => [l.sparsityAfter, l.note ?? ''])).toEqual([[0.5, ''], [0, 'excluded'], [0, 'excluded']]);
  });

  it('--structured 2:4: at most 2 non-zeros in every 4 consecutive inputs of every weight row', async () => {
    const dir = workdir();
    const input = save(dir, 'mlp.onnx', mlp(3), [1, 32]);
    const out = join(dir, 'mlp-24.onnx');
    const r = await prune([input, '-o', out, '--structured', '2:4']);
    expect(r.code, r.errors.join('\n')).toBe(EXIT.ok);
    expect(r.lines[0]).toContain('2:4 semi-structured magnitude pruning');
    for (const [name, w] of weights(load(out))) {
      // Gemm weights are [out, in] (transB): groups of 4 along each row.
      const values = floats(w);
      for (let g = 0; g < values.length; g += 4) expect(4 - zeros(values.subarray(g, g + 4)), `${name} group ${g / 4}`).toBe(2);
    }
    expect((await runOrt(out, randomInput(32, 4), [1, 32])).dims).toEqual([1, 10]);
  });

  it('--structured channels on a minnow CNN: smaller convs that onnxruntime runs; neurons on the MLP; channels,neurons on both', async () => {
    const dir = workdir();
    const input = save(dir, 'cnn.onnx', cnn(4), [1, 1, 12, 12]);
    const out = join(dir, 'cnn-half.onnx');
    const r = await prune([input, '-o', out, '--structured', 'channels', '--sparsity', '0.5', '--json']);
    expect(r.code, r.errors.join('\n')).toBe(EXIT.ok);
    const pruned = load(out);
    expect(weightOf(pruned, '0/Conv/Conv').dims).toEqual([4, 1, 3, 3]);
    expect(weightOf(pruned, '3/Conv/Conv').dims).toEqual([8, 4, 3, 3]);
    // The Linear after Flatten loses the 3x3 block of each removed channel, not its outputs.
    expect(weightOf(pruned, '6/Gemm/Gemm').dims).toEqual([10, 72]);
    expect(r.doc.params.after).toBeLessThan(0.55 * r.doc.params.before);
    const gemm = r.doc.layers.find((l) => l.op === 'Gemm')!;
    expect(gemm.note).toContain('left whole');
    const x = randomInput(2 * 144, 5);
    expect((await runOrt(out, x, [2, 1, 12, 12])).dims).toEqual([2, 10]);

    const text = await prune([input, '-o', join(dir, 'cnn-text.onnx'), '--structured', 'channels', '--sparsity', '0.5']);
    expect(text.lines.join('\n')).toMatch(/^0\/Conv\/Conv +Conv +8x1x3x3 -> 4x1x3x3 +72 +36 /m);
    expect(text.lines.join('\n')).toContain('8x1x3x3 -> 4x1x3x3');

    const mlpIn = save(dir, 'mlp.onnx', mlp(5), [1, 32]);
    const n = await prune([mlpIn, '-o', join(dir, 'mlp-n.onnx'), '--structured', 'neurons', '--sparsity', '0.5', '--json']);
    expect(n.code, n.errors.join('\n')).toBe(EXIT.ok);
    const nm = load(join(dir, 'mlp-n.onnx'));
    expect(['0/Gemm/Gemm', '2/Gemm/Gemm', '4/Gemm/Gemm'].map((node) => weightOf(nm, node).dims)).toEqual([[32, 32], [16, 32], [10, 16]]);
    // The output layer's neurons are the model's output: kept, with the reason.
    expect(n.doc.groups!.at(-1)!.reasons.join()).toContain('graph output');
    expect((await runOrt(join(dir, 'mlp-n.onnx'), randomInput(32, 6), [1, 32])).dims).toEqual([1, 10]);

    const both = await prune([input, '-o', join(dir, 'cnn-both.onnx'), '--structured', 'channels,neurons', '--sparsity', '0.5', '--json']);
    expect(both.code, both.errors.join('\n')).toBe(EXIT.ok);
    expect(weightOf(load(join(dir, 'cnn-both.onnx')), '3/Conv/Conv').dims).toEqual([8, 4, 3, 3]);
  });

  it('--sparse-storage writes sparse initialisers: a smaller file that gives onnxruntime the same outputs as the dense one', async () => {
    const dir = workdir();
    const input = save(dir, 'mlp.onnx', mlp(6), [1, 32]);
    const dense = join(dir, 'dense.onnx');
    const sparse = join(dir, 'sparse.onnx');
    expect((await prune([input, '-o', dense, '--sparsity', '0.9'])).code).toBe(EXIT.ok);
    const r = await prune([input, '-o', sparse, '--sparsity', '0.9', '--sparse-storage']);
    expect(r.code, r.errors.join('\n')).toBe(EXIT.ok);
    expect(statSync(sparse).size).toBeLessThan(0.5 * statSync(dense).size);
    expect(load(sparse).graph!.sparseInitializer.map((s) => s.values!.name).sort()).toEqual(['0.weight', '2.weight', '4.weight']);
    expect(r.lines.join('\n')).toContain('sparse storage: 3 weight(s) stored sparse');
    expect(r.lines.join('\n')).toMatch(/\(sparse\)/);
    const x = randomInput(3 * 32, 7);
    expect(Array.from((await runOrt(sparse, x, [3, 32])).data)).toEqual(Array.from((await runOrt(dense, x, [3, 32])).data));
    const j = await prune([input, '-o', join(dir, 'j.onnx'), '--sparsity', '0.9', '--sparse-storage', '--json']);
    expect(j.doc.sparseStorage).toEqual({ applied: true, initializers: ['0.weight', '2.weight', '4.weight'] });
    expect(j.doc.layers.every((l) => l.storage === 'sparse')).toBe(true);
    expect(j.doc.bytesAfter).toBe(statSync(join(dir, 'j.onnx')).size);
  });

  it('hello_deepa.onnx: unstructured works; structured leaves every group whole and says which and why', async () => {
    const dir = workdir();
    const u = await prune([HELLO_DEEPA, '-o', join(dir, 'hd-80.onnx'), '--sparsity', '0.8', '--json']);
    expect(u.code, u.errors.join('\n')).toBe(EXIT.ok);
    expect(u.doc.layers.map((l) => l.layer)).toEqual(['/layer1/Gemm', '/blocks.0/fcn_layer/Gemm', '/last_layer/Gemm']);
    for (const l of u.doc.layers) expect(l.sparsityAfter).toBe(Math.round(0.8 * l.paramsAfter) / l.paramsAfter);
    expect((await runOrt(join(dir, 'hd-80.onnx'), randomInput(25 * 96, 8), [1, 25, 96])).dims).toEqual([1, 1]);

    const s = await prune([HELLO_DEEPA, '-o', join(dir, 'hd-s.onnx'), '--structured', 'neurons', '--sparsity', '0.5']);
    expect(s.code, s.errors.join('\n')).toBe(EXIT.ok);
    const text = s.lines.join('\n');
    expect(text).toContain('3 of 3 channel groups left whole:');
    expect(text).toContain("group 0 (/layer1/Gemm; 32 channels): ReduceMean '/layernorm1/ReduceMean' reduces over the channels");
    expect(text).toMatch(/graph output/);
    expect(text).toContain('1.00x smaller');
  });

  it('--fine-tune mnist on a model trained with minnow: masked weights stay zero in the file, test accuracy before and after', async () => {
    await init(wasmBackend);
    const dir = workdir();
    // Train a small MLP on 2,000 MNIST digits first: the model a user would bring.
    const { train: trainSet } = await loadMnistSplit({ seed: 0 });
    const model = new Sequential(new Linear(784, 64, { seed: 1 }), new ReLU(), new Linear(64, 10, { seed: 2 }));
    await model.to('wasm');
    const few = subset(trainSet, permutation(trainSet.length, new Random(9)).subarray(0, 2000));
    train({ model, data: new DataLoader(few, { batchSize: 64, shuffle: true, seed: 1, backend: 'wasm' }), optimizer: (p) => new Adam(p, { lr: 3e-3 }), epochs: 2 });
    const input = save(dir, 'mnist-mlp.onnx', model, [1, 784]);
    model.dispose();

    const out = join(dir, 'mnist-80.onnx');
    const r = await prune([input, '-o', out, '--sparsity', '0.8', '--fine-tune', 'mnist', '--limit', '400', '--epochs', '1', '--json']);
    expect(r.code, r.errors.join('\n')).toBe(EXIT.ok);
    expect(r.lines).toEqual([]); // --json: the document only, no epoch lines
    const ft = r.doc.fineTune!;
    expect([ft.trainSamples, ft.testSamples, ft.schedule]).toEqual([400, 400, 'gradual']);
    expect(ft.accuracy!.before).toBeGreaterThan(0.8);
    expect(ft.accuracy!.after).toBeGreaterThan(0.7);
    const w = weights(load(out));
    for (const name of ['0.weight', '2.weight']) expect(zeros(floats(w.get(name)!))).toBeGreaterThanOrEqual(Math.round(0.8 * floats(w.get(name)!).length));
    const x = Float32Array.from({ length: 2 * 784 }, (_, i) => (i % 7) / 7);
    expect((await runOrt(out, x, [2, 784])).dims).toEqual([2, 10]);

    // One-shot neurons with distillation: the hidden layer halves; accuracy after pruning and after fine-tuning are both reported.
    const live = liveTensors();
    const s = await prune([input, '-o', join(dir, 'mnist-n.onnx'), '--structured', 'neurons', '--sparsity', '0.5', '--fine-tune', 'mnist', '--limit', '300', '--distill']);
    expect(s.code, s.errors.join('\n')).toBe(EXIT.ok);
    expect(liveTensors()).toBe(live); // student, teacher and the pruned copy all freed
    expect(weights(load(join(dir, 'mnist-n.onnx'))).get('0.weight')!.dims).toEqual([32, 784]);
    expect(weights(load(join(dir, 'mnist-n.onnx'))).get('2.weight')!.dims).toEqual([10, 32]);
    expect(s.lines.join('\n')).toMatch(/held-out accuracy \(300 examples\): \d+\.\d% before -> \d+\.\d% pruned -> \d+\.\d% after fine-tuning/);
    expect(s.lines.join('\n')).toContain('distilled from the unpruned model');
  });

  it('--fine-tune from a folder of .npy (inputs.npy, labels.npy), with a trailing Softmax put back on export', async () => {
    const dir = workdir();
    const rng = new Random(10);
    const n = 120;
    const write = (folder: string, seed: number): void => {
      mkdirSync(folder, { recursive: true });
      const r = new Random(seed);
      const xs = Float32Array.from({ length: n * 8 }, () => r.normal());
      const ys = Int32Array.from({ length: n }, (_, i) => (xs[i * 8] + xs[i * 8 + 1] > 0 ? 1 : 0) + (xs[i * 8 + 2] > 0 ? 2 : 0));
      writeFileSync(join(folder, 'inputs.npy'), serializeNpy({ dtype: 'float32', shape: [n, 8], data: xs }));
      writeFileSync(join(folder, 'labels.npy'), serializeNpy({ dtype: 'int64', shape: [n], data: BigInt64Array.from(ys, (v) => BigInt(v)) }));
    };
    // One batch file and its labels: recipes/data.ts holds out a seeded 20% (24 examples) for the accuracy.
    write(join(dir, 'data'), 1);
    // A classifier ending in Softmax, as exporters write them.
    const g = new GraphBuilder();
    g.reserve(['x', 'probs']);
    const w1 = g.floats('w1', Float32Array.from({ length: 16 * 8 }, () => rng.normal() * 0.5), [16, 8]);
    const w2 = g.floats('w2', Float32Array.from({ length: 4 * 16 }, () => rng.normal() * 0.5), [4, 16]);
    let h = g.node('Gemm', ['x', w1], 'fc1', [attr.int('transB', 1)]);
    h = g.node('Relu', [h], 'relu');
    h = g.node('Gemm', [h, w2], 'fc2', [attr.int('transB', 1)]);
    g.rename(g.node('Softmax', [h], 'softmax', [attr.int('axis', 1)]), 'probs');
    const model = g.build({
      graphName: 'softmax-mlp', opset: 13, irVersion: 8, producer: { name: 'hand-built' },
      inputs: [tensorValueInfo('x', DataType.FLOAT, ['N', 8])], outputs: [tensorValueInfo('probs', DataType.FLOAT, ['N', 4])],
    });
    const input = join(dir, 'softmax-mlp.onnx');
    writeFileSync(input, writeModel(model).model);
    const out = join(dir, 'tuned.onnx');
    const live = liveTensors();
    const r = await prune([input, '-o', out, '--sparsity', '0.5', '--fine-tune', join(dir, 'data'), '--epochs', '2', '--batch-size', '32', '--schedule', 'one-shot', '--backend', 'js']);
    expect(r.code, r.errors.join('\n')).toBe(EXIT.ok);
    // The imported model, its masks and every batch are freed.
    expect(liveTensors()).toBe(live);
    expect(r.lines.join('\n')).toMatch(/fine-tuned on .*data: 96 examples, 2 epoch\(s\), Adam lr 0\.001, one-shot/);
    expect(r.lines.join('\n')).toMatch(/held-out accuracy \(24 examples\): \d+\.\d% before -> \d+\.\d% pruned -> \d+\.\d% after/);
    expect(r.lines.join('\n')).toContain("(Softmax): the trailing Softmax (axis 1) is dropped");
    const result = await runOrt(out, randomInput(5 * 8, 11), [5, 8]);
    expect(result.dims).toEqual([5, 4]);
    for (let i = 0; i < 5; i++) expect(result.data.subarray(i * 4, i * 4 + 4).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const saved = load(out);
    expect(saved.graph!.input[0].name).toBe('x');
    expect(saved.graph!.output[0].name).toBe('probs');
  });

  it('bad input is exit 2 with a message naming it; nothing is written and no temporary file is left', async () => {
    const dir = workdir();
    const input = save(dir, 'mlp.onnx', mlp(7), [1, 32]);
    writeFileSync(join(dir, 'corrupt.onnx'), new Uint8Array([8, 7, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x12, 0x99]));
    writeFileSync(join(dir, 'afile'), 'not a folder');
    // A model moduleFromOnnx refuses: a residual Add.
    const g = new GraphBuilder();
    g.reserve(['x', 'y']);
    const w = g.floats('w', new Float32Array(16).fill(0.1), [4, 4]);
    g.rename(g.node('Add', ['x', g.node('MatMul', ['x', w], 'mm')], 'residual'), 'y');
    writeFileSync(join(dir, 'residual.onnx'), writeModel(g.build({
      graphName: 'residual', opset: 13, irVersion: 8, producer: { name: 'hand-built' },
      inputs: [tensorValueInfo('x', DataType.FLOAT, ['N', 4])], outputs: [tensorValueInfo('y', DataType.FLOAT, ['N', 4])],
    })).model);
    mkdirSync(join(dir, 'four'));
    writeFileSync(join(dir, 'four', 'inputs.npy'), serializeNpy({ dtype: 'float32', shape: [8, 4], data: randomInput(32, 12) }));
    writeFileSync(join(dir, 'four', 'labels.npy'), serializeNpy({ dtype: 'int32', shape: [8], data: Int32Array.from({ length: 8 }, (_, i) => i % 2) }));
    mkdirSync(join(dir, 'unlabelled'));
    writeFileSync(join(dir, 'unlabelled', 'x.npy'), serializeNpy({ dtype: 'float32', shape: [4, 32], data: randomInput(128, 13) }));
    const before = readFileSync(input);
    const files = readdirSync(dir).sort();
    const out = join(dir, 'out.onnx');
    const cases: [string[], string][] = [
      [[join(dir, 'missing.onnx'), '-o', out, '--sparsity', '0.5'], "cannot read '" + join(dir, 'missing.onnx') + "': no such file"],
      [[join(dir, 'corrupt.onnx'), '-o', out, '--sparsity', '0.5'], 'corrupt.onnx'],
      [[input, '-o', out, '--sparsity', '1.5'], "--sparsity '1.5' must be a number in [0, 1)"],
      [[input, '-o', out], '--sparsity is required'],
      [[input, '-o', input, '--sparsity', '0.5'], 'is the input; pass --force'],
      [[input, '-o', join(dir, 'nowhere', 'out.onnx'), '--sparsity', '0.5'], `the folder '${join(dir, 'nowhere')}' does not exist`],
      [[input, '-o', join(dir, 'afile', 'out.onnx'), '--sparsity', '0.5'], 'is not a folder'],
      [[input, '-o', join(dir, 'out.txt'), '--sparsity', '0.5'], 'must be a .onnx file'],
      [[input, '-o', out, '--structured', 'filters', '--sparsity', '0.5'], "--structured 'filters' is not one of"],
      [[input, '-o', out, '--structured', '2:4', '--sparsity', '0.5'], 'drop --sparsity'],
      [[input, '-o', out, '--structured', '3:2'], '3:2'],
      [[input, '-o', out, '--structured', 'channels', '--sparsity', '0.5', '--global'], '--global does not apply'],
      [[input, '-o', out, '--sparsity', '0.5', '--criterion', 'taylor'], "--criterion 'taylor'"],
      [[input, '-o', out, '--sparsity', '0.5', '--exclude', 'fc9'], 'fc9'],
      [[input, '-o', out, '--structured', 'neurons', '--sparsity', '0.5', '--include', 'fc9'], "--include 'fc9' names no node or op type"],
      [[input, '-o', out, '--sparsity', '0.5', '--epochs', '2'], '--epochs applies only with --fine-tune'],
      [[input, '-o', out, '--sparsity', '0.5', '--fine-tune', 'imagenet'], "--fine-tune 'imagenet': no such folder (give a folder of .npy files, or one of mnist, fashion-mnist)"],
      [[input, '-o', out, '--sparsity', '0.5', '--fine-tune', 'mnist', '--limit', '10'], "--fine-tune mnist holds 28x28 images (784 values each); the model's input 'input' takes [batch,32]"],
      [[input, '-o', out, '--sparsity', '0.5', '--fine-tune', join(dir, 'unlabelled')], 'has no labels.npy; fine-tuning needs a class label'],
      [[join(dir, 'residual.onnx'), '-o', out, '--sparsity', '0.5', '--fine-tune', join(dir, 'four')], "minnow cannot train this model: moduleFromOnnx: the graph branches at 'x'"],
      [[HELLO_DEEPA, '-o', out, '--sparsity', '0.5', '--fine-tune', join(dir, 'four')], "has shape [8,4]; the model's input"],
      [[HELLO_DEEPA, '-o', out, '--sparsity', '0.5', '--fine-tune', join(dir, 'nodata')], 'no such folder'],
    ];
    for (const [argv, message] of cases) {
      const r = await prune(argv);
      expect(r.code, argv.join(' ')).toBe(EXIT.badInput);
      expect(r.errors.join('\n'), argv.join(' ')).toContain(message);
    }
    expect(readFileSync(input)).toEqual(before);
    expect(readdirSync(dir).sort()).toEqual(files);
    // --force overwrites the input in place.
    const forced = await prune([input, '-o', input, '--sparsity', '0.5', '--force', '--quiet']);
    expect(forced.code).toBe(EXIT.ok);
    expect(forced.lines).toEqual([]);
    expect(zeros(floats(weights(load(input)).get('0.weight')!))).toBe(1024);
    expect(readdirSync(dir).sort()).toEqual(files);
  });

  it('--json is one document that survives JSON text', async () => {
    const dir = workdir();
    const input = save(dir, 'cnn.onnx', cnn(8), [1, 1, 12, 12]);
    const r = await prune([input, '-o', join(dir, 'o.onnx'), '--structured', 'channels', '--sparsity', '0.25', '--json']);
    expect(r.code, r.errors.join('\n')).toBe(EXIT.ok);
    expect(r.lines).toEqual([]);
    const text = JSON.stringify(r.doc);
    expect(JSON.parse(text)).toEqual(r.doc);
    expect(r.doc.bytesAfter).toBe(statSync(join(dir, 'o.onnx')).size);
    expect(r.doc.layers.map((l) => l.op)).toEqual(['Conv', 'Conv', 'Gemm']);
  });
});
