import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import { liveTensors } from '@minnow/core';
import { Linear, ReLU, Sequential } from '@minnow/nn';
import { attr, exportModule, readModel, writeModel } from '@minnow/onnx';
import { EXIT, runCli } from '@minnow/cli';
import { collector, filesIn, trainedMnistMlp, workdir, type MnistMlp } from './compress-fixture.js';

/**
 * `minnow distill` end to end through runCli: a student distilled from an MLP trained with minnow
 * on MNIST, from an `mlp:` spec and from an .onnx architecture; the student file is run in
 * onnxruntime-node; bad flags are exit 2 with the flag named, and nothing is written.
 */

interface Side {
  params: number;
  bytes: number;
  accuracy?: number;
  agreement: number;
  samples: number;
  description?: string;
}
interface DistillDoc {
  teacher: Side;
  student: Side;
  data: { labelled: boolean; trainExamples: number; heldOutExamples: number };
  history: { trainLoss: number }[];
}

async function distill(argv: string[]): Promise<{ code: number; lines: string[]; errors: string[]; doc: DistillDoc }> {
  const { out, output } = collector();
  const code = await runCli(['distill', ...argv], output);
  return { code, lines: out.lines, errors: out.errors, doc: out.documents[0] as DistillDoc };
}

async function ortOutput(path: string, x: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  const out = await session.run({ input: new ort.Tensor('float32', x, [1, 784]) });
  return out[session.outputNames[0]].data as Float32Array;
}

describe('minnow distill', () => {
  let mlp: MnistMlp;
  beforeAll(async () => {
    mlp = await trainedMnistMlp();
  });

  it('mlp:16 from the MNIST teacher: 4x fewer parameters, most of the accuracy, saved as ONNX that onnxruntime runs', async () => {
    const dir = workdir('distill-mlp');
    const out = join(dir, 'student.onnx');
    const live = liveTensors();
    const { code, errors, doc } = await distill(['--teacher', mlp.path, '--student', 'mlp:16', '--data', 'mnist', '--limit', '1500', '--epochs', '3', '--lr', '0.005', '-o', out, '--json']);
    expect(code, errors.join('\n')).toBe(EXIT.ok);
    expect(liveTensors()).toBe(live);
    expect(doc.teacher.params).toBe(784 * 64 + 64 + 64 * 10 + 10);
    expect(doc.student.params).toBe(784 * 16 + 16 + 16 * 10 + 10);
    expect(doc.student.description).toBe('MLP 784-16-10');
    expect(doc.data).toMatchObject({ labelled: true, trainExamples: 1500, heldOutExamples: 1500 });
    expect(doc.teacher.accuracy!).toBeGreaterThan(0.85);
    expect(doc.student.accuracy!).toBeGreaterThan(doc.teacher.accuracy! - 0.1);
    expect(doc.student.agreement).toBeGreaterThan(0.85);
    expect(doc.history).toHaveLength(3);
    expect(doc.history[2].trainLoss).toBeLessThan(doc.history[0].trainLoss);
    expect(doc.student.bytes).toBeLessThan(doc.teacher.bytes / 3.5);
    const y = await ortOutput(out, Float32Array.from(mlp.test.get(0).features));
    expect(y.length).toBe(10);
    expect(filesIn(dir)).toEqual(['student.onnx']);
  });

  it('an .onnx student (re-initialised) from a teacher ending in Softmax: the student ends in Softmax too; the text says teacher and student figures', async () => {
    const dir = workdir('distill-onnx');
    // The teacher with a Softmax after its logits, as many exporters write classifiers.
    const teacher = readModel(new Uint8Array(readFileSync(mlp.path)));
    const graph = teacher.graph!;
    const last = graph.node[graph.node.length - 1];
    last.output = ['logits'];
    graph.node.push({ input: ['logits'], output: ['output'], name: 'softmax', opType: 'Softmax', attribute: [attr.int('axis', 1)], metadataProps: [] });
    const teacherPath = join(dir, 'teacher.onnx');
    writeFileSync(teacherPath, writeModel(teacher).model);
    const architecture = join(dir, 'arch.onnx');
    writeFileSync(architecture, writeModel(exportModule(new Sequential(new Linear(784, 24, { seed: 3 }), new ReLU(), new Linear(24, 10, { seed: 4 })), { inputShape: [1, 784] })).model);
    const out = join(dir, 'student.onnx');
    const { code, lines, errors } = await distill(['--teacher', teacherPath, '--student', architecture, '--reinit', '--data', 'mnist', '--limit', '1000', '--epochs', '3', '--lr', '0.005', '--temperature', '2', '--alpha', '0.3', '-o', out]);
    expect(code, errors.join('\n')).toBe(EXIT.ok);
    expect(lines[0]).toMatch(new RegExp(`^teacher .*teacher\\.onnx: 50,890 parameters, 204 kB, accuracy \\d+\\.\\d\\d%$`));
    expect(lines[1]).toMatch(/^student .*arch\.onnx \(re-initialised\) -> .*student\.onnx: 19,090 parameters, .* kB, accuracy \d+\.\d\d%, agrees with the teacher on \d+\.\d\d%$/);
    expect(lines[2]).toMatch(/distilled for 3 epochs on 1,000 examples \(T=2, alpha=0\.3\), in \d+\.\ds; 2\.7x fewer parameters; measured on 1,000 held-out examples of mnist$/);
    const student = readModel(new Uint8Array(readFileSync(out)));
    expect(student.graph!.node[student.graph!.node.length - 1].opType).toBe('Softmax');
    const y = await ortOutput(out, Float32Array.from(mlp.test.get(1).features));
    expect(y.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    const accuracy = Number(/accuracy (\d+\.\d\d)%, agrees/.exec(lines[1])![1]);
    expect(accuracy).toBeGreaterThan(75);
  });

  it('bad flags are exit 2 naming the flag, and nothing is written', async () => {
    const dir = workdir('distill-errors');
    const out = join(dir, 's.onnx');
    const base = ['--teacher', mlp.path, '--data', 'mnist', '-o', out];
    const cases: [string[], string][] = [
      [[...base, '--student', 'mlp:abc'], "student 'mlp:abc': expected mlp:<width>[,<width>...] with positive integer widths"],
      [[...base, '--student', 'cnn:3'], "student 'cnn:3': expected mlp:<width>[,<width>...] or the path of an .onnx model"],
      [[...base, '--student', join(dir, 'missing.onnx')], 'no such file'],
      [[...base, '--student', 'mlp:8', '--alpha', '2'], '--alpha: expected a number in [0, 1], got 2'],
      [[...base, '--student', 'mlp:8', '--epochs', '0'], '--epochs: expected an integer >= 1, got 0'],
      [[...base, '--student', 'mlp:8', '--batch-size', 'many'], "--batch-size 'many' is not a number"],
      [['--teacher', join(dir, 'none.onnx'), '--student', 'mlp:8', '--data', 'mnist', '-o', out], 'no such file'],
      [['--teacher', mlp.path, '--student', 'mlp:8', '--data', join(dir, 'nowhere'), '-o', out], 'no such folder'],
      [['--teacher', mlp.path, '--student', 'mlp:8', '--data', 'mnist', '-o', mlp.path], 'is the input; pass --force'],
    ];
    for (const [argv, message] of cases) {
      const { code, errors } = await distill(argv);
      expect(code, argv.join(' ')).toBe(EXIT.badInput);
      expect(errors.join('\n'), argv.join(' ')).toContain(message);
      expect(filesIn(dir), argv.join(' ')).toEqual([]);
    }
  });
});
