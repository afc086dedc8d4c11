import { beforeAll, describe, expect, it } from 'vitest';
import { Random, fromArray, init, liveTensors, tensor, type Tensor } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { DataType, OnnxSession, makeTensor, type ModelProto } from '@minnow/onnx';
import { floatTensor, graph, intAttr, model, node, valueInfo } from './build.js';
import type { AttributeProto } from '@minnow/onnx';

// Steady plans (OpContext.steady): a node keeps what it derived from its inputs' shapes, types and
// host values while they stay the same from run to run. These tests change them between runs, on
// both backends, and check that every run still gives the right answer.

const BACKENDS = ['js', 'wasm'] as const;

beforeAll(async () => {
  await init(wasmBackend);
});

const int64 = (name: string, values: number[]) => makeTensor(name, DataType.INT64, [values.length], new Uint8Array(BigInt64Array.from(values, BigInt).buffer));
const intsAttr = (name: string, ints: number[]): AttributeProto => ({ ...intAttr(name, 0), type: 7, i: undefined, ints: ints.map(BigInt) });

/** Conv1d by definition: y[m, t] = b[m] + sum_c sum_k w[m, c, k] x[c, t * stride + k - pad]. */
function conv1d(x: Float32Array, c: number, length: number, w: Float32Array, m: number, k: number, b: Float32Array, stride: number, pad: number): number[][] {
  const out = Math.floor((length + 2 * pad - k) / stride) + 1;
  return Array.from({ length: m }, (_, o) => Array.from({ length: out }, (_, t) => {
    let s = b[o];
    for (let ci = 0; ci < c; ci++) {
      for (let j = 0; j < k; j++) {
        const at = t * stride + j - pad;
        if (at >= 0 && at < length) s += w[(o * c + ci) * k + j] * x[ci * length + at];
      }
    }
    return s;
  }));
}

describe('steady plans', () => {
  const rng = new Random(11);
  const [C, M, K] = [3, 4, 3];
  const w = Float32Array.from({ length: M * C * K }, () => rng.uniform() - 0.5);
  const b = Float32Array.from({ length: M }, () => rng.uniform() - 0.5);
  const convModel = (): ModelProto => model(graph({
    node: [node('Conv', ['x', 'w', 'b'], ['y'], [intsAttr('pads', [1, 1]), intsAttr('strides', [2])])],
    initializer: [floatTensor('w', [M, C, K], [...w]), floatTensor('b', [M], [...b])],
    input: [valueInfo('x', DataType.FLOAT, [1, C, 'n'])],
    output: [valueInfo('y')],
  }));

  for (const backend of BACKENDS) {
    it(`Conv on ${backend}: input lengths change between runs (7, 4, 7, 9) and every run is right`, () => {
      const session = OnnxSession.create(convModel(), { backend });
      let live: number | undefined;
      for (const length of [7, 4, 7, 9]) {
        const data = Float32Array.from({ length: C * length }, () => rng.uniform() * 2 - 1);
        const x = fromArray(data, [1, C, length], { backend });
        const { y } = session.run({ x });
        const expected = conv1d(data, C, length, w, M, K, b, 2, 1);
        expect(y.shape).toEqual([1, M, expected[0].length]);
        const got = y.arraySync() as number[][][];
        for (let o = 0; o < M; o++) for (let t = 0; t < expected[0].length; t++) expect(got[0][o][t]).toBeCloseTo(expected[o][t], 5);
        x.dispose();
        y.dispose();
        // The first run uploads the initialisers and memoises their views, which the session
        // owns; after it nothing else outlives a run.
        live ??= liveTensors();
        expect(liveTensors()).toBe(live);
      }
      const before = liveTensors();
      session.dispose();
      expect(liveTensors()).toBeLessThan(before);
    });

    it(`Reshape on ${backend}: a shape fed as host values changes between runs`, () => {
      const m = model(graph({
        node: [node('Reshape', ['x', 's'], ['y'])],
        input: [valueInfo('x', DataType.FLOAT, [6]), valueInfo('s', DataType.INT64, ['r'])],
        output: [valueInfo('y')],
      }));
      const session = OnnxSession.create(m, { backend });
      const x = fromArray(Float32Array.of(0, 1, 2, 3, 4, 5), [6], { backend });
      for (const shape of [[2, 3], [3, 2], [2, 3], [6], [1, -1]]) {
        const { y } = session.run({ x, s: int64('s', shape) });
        expect(y.shape).toEqual(shape[1] === -1 ? [1, 6] : shape);
        expect(Array.from(y.dataSync())).toEqual([0, 1, 2, 3, 4, 5]);
        y.dispose();
      }
      x.dispose();
      session.dispose();
    });

    it(`Reshape on ${backend}: a shape computed on the device is read every run, never kept`, () => {
      // s + 0 runs on the device, so Reshape reads its target from device data each time.
      const m = model(graph({
        node: [node('Add', ['s', 'zero'], ['s2']), node('Reshape', ['x', 's2'], ['y'])],
        initializer: [int64('zero', [0, 0])],
        input: [valueInfo('x', DataType.FLOAT, [6]), valueInfo('s', DataType.INT64, [2])],
        output: [valueInfo('y')],
      }));
      const session = OnnxSession.create(m, { backend });
      const x = fromArray(Float32Array.of(0, 1, 2, 3, 4, 5), [6], { backend });
      for (const shape of [[2, 3], [3, 2], [1, 6], [2, 3]]) {
        const s: Tensor = tensor(shape, { dtype: 'int32', backend });
        const { y } = session.run({ x, s });
        expect(y.shape).toEqual(shape);
        y.dispose();
        s.dispose();
      }
      x.dispose();
      session.dispose();
    });

    it(`Slice, Split and Concat on ${backend}: shapes and host bounds change between runs`, () => {
      const m = model(graph({
        node: [
          node('Slice', ['x', 'starts', 'ends', 'axes'], ['s']),
          node('Split', ['s'], ['a', 'b'], [intAttr('axis', 1), intAttr('num_outputs', 2)]),
          node('Concat', ['b', 'a'], ['y'], [intAttr('axis', 0)]),
        ],
        initializer: [int64('axes', [1])],
        input: [valueInfo('x', DataType.FLOAT, [2, 'n']), valueInfo('starts', DataType.INT64, [1]), valueInfo('ends', DataType.INT64, [1])],
        output: [valueInfo('y')],
      }));
      const session = OnnxSession.create({ ...m, opsetImport: [{ domain: '', version: 18 }] }, { backend });
      for (const [n, start, end] of [[8, 0, 8], [8, 2, 6], [6, 1, 5], [8, 2, 6]]) {
        const rows = [Array.from({ length: n }, (_, i) => i), Array.from({ length: n }, (_, i) => 10 + i)];
        const x = tensor(rows, { backend });
        const { y } = session.run({ x, starts: int64('starts', [start]), ends: int64('ends', [end]) });
        const half = (end - start) / 2;
        const cut = rows.map((r) => r.slice(start, end));
        expect(y.arraySync()).toEqual([...cut.map((r) => r.slice(half)), ...cut.map((r) => r.slice(0, half))]);
        x.dispose();
        y.dispose();
      }
      session.dispose();
    });
  }

  for (const backend of BACKENDS) {
    it(`Gather on ${backend}: one index known on the host takes a view of device data, on every axis, negative too`, () => {
      const data = Array.from({ length: 24 }, (_, i) => i);
      const at = (i: number, j: number, k: number): number => data[(i * 3 + j) * 4 + k];
      for (const [axis, index, indexShape] of [[0, 1, []], [1, -1, [1]], [2, 2, []], [2, -4, [1]]] as [number, number, number[]][]) {
        const m = model(graph({
          node: [node('Gather', ['x', 'i'], ['y'], [intAttr('axis', axis)])],
          initializer: [makeTensor('i', DataType.INT64, indexShape, new Uint8Array(BigInt64Array.of(BigInt(index)).buffer))],
          input: [valueInfo('x', DataType.FLOAT, [2, 3, 4])],
          output: [valueInfo('y')],
        }));
        const session = OnnxSession.create(m, { backend, constantFolding: false });
        const x = fromArray(Float32Array.from(data), [2, 3, 4], { backend });
        for (let run = 0; run < 2; run++) {
          const { y } = session.run({ x });
          const dims = [2, 3, 4];
          const resolved = index < 0 ? index + dims[axis] : index;
          const expectedShape = [...dims.slice(0, axis), ...indexShape, ...dims.slice(axis + 1)];
          expect(y.shape).toEqual(expectedShape);
          const expected: number[] = [];
          for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) {
            if ([i, j, k][axis] === resolved) expected.push(at(i, j, k));
          }
          expect(Array.from(y.dataSync())).toEqual(expected);
          y.dispose();
        }
        x.dispose();
        session.dispose();
      }
    });
  }

  it('Gather refuses an index out of range, naming the node', () => {
    const m = model(graph({
      node: [node('Gather', ['x', 'i'], ['y'])],
      initializer: [makeTensor('i', DataType.INT64, [], new Uint8Array(BigInt64Array.of(5n).buffer))],
      input: [valueInfo('x', DataType.FLOAT, [3])],
      output: [valueInfo('y')],
    }));
    const session = OnnxSession.create(m, { backend: 'wasm', constantFolding: false });
    const x = fromArray(Float32Array.of(1, 2, 3), [3], { backend: 'wasm' });
    expect(() => session.run({ x })).toThrow(/Gather.*index 5 .*out of range/);
    x.dispose();
    session.dispose();
  });

  it('an error a plan finds is raised again on the next run with the same inputs (nothing is kept from a failure)', () => {
    const m = model(graph({
      node: [node('Reshape', ['x', 's'], ['y'])],
      initializer: [int64('s', [4, 2])],
      input: [valueInfo('x', DataType.FLOAT, ['n'])],
      output: [valueInfo('y')],
    }));
    const session = OnnxSession.create(m);
    const x = tensor([1, 2, 3, 4, 5, 6]);
    for (let i = 0; i < 2; i++) expect(() => session.run({ x })).toThrow(/cannot reshape \[6\] to \[4,2\]/);
    const ok = tensor([1, 2, 3, 4, 5, 6, 7, 8]);
    const { y } = session.run({ x: ok });
    expect(y.shape).toEqual([4, 2]);
    for (const t of [x, ok, y]) t.dispose();
    session.dispose();
  });
});
