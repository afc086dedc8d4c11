import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { Random, init, liveTensors } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import { DataType, makeTensor, type ModelProto, OnnxSession, type TensorProto, writeModel } from '@minnow/onnx';
import { runs } from '../helpers/reference.js';
import { floatAttr, graph, intAttr, model, node, valueInfo } from './build.js';

// com.microsoft QGemm (onnxruntime's quantized Gemm, which fuseQuantized writes for QDQ Gemm
// nodes) against onnxruntime's own kernel, bit for bit: requantized and float outputs, int8 and
// uint8, transposed operands, per-tensor and per-column B, with and without the int32 bias.

const BACKENDS = ['js', 'wasm'] as const;

beforeAll(async () => {
  enableRelaxedSimd();
  await init(wasmBackend);
});

type Typed = Float32Array | Int8Array | Uint8Array | Int32Array;
const bytes = (a: Typed): Uint8Array => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const typeOf = (a: Typed): number => (a instanceof Float32Array ? DataType.FLOAT : a instanceof Int8Array ? DataType.INT8 : a instanceof Uint8Array ? DataType.UINT8 : DataType.INT32);
const tensor = (name: string, a: Typed, dims: readonly number[]): TensorProto => makeTensor(name, typeOf(a), [...dims], bytes(a));

interface Case {
  readonly m: number; readonly k: number; readonly n: number;
  readonly signedA: boolean; readonly signedB: boolean; readonly transA: boolean; readonly transB: boolean;
  readonly perColumn: boolean; readonly bias: boolean; readonly quantized: boolean; readonly alpha: number; readonly seed: number;
}

function qgemmModel(c: Case): { m: ModelProto; a: Typed; aDims: number[] } {
  const random = new Random(c.seed);
  const ints = (count: number, signed: boolean): Int8Array | Uint8Array => {
    const v = Array.from({ length: count }, () => random.int(256) - (signed ? 128 : 0));
    return signed ? Int8Array.from(v) : Uint8Array.from(v);
  };
  const aDims = c.transA ? [c.k, c.m] : [c.m, c.k];
  const bDims = c.transB ? [c.n, c.k] : [c.k, c.n];
  const scales = c.perColumn ? c.n : 1;
  const initializer = [
    tensor('as', Float32Array.of(Math.fround(0.01 + 0.02 * random.uniform())), []),
    tensor('az', ints(1, c.signedA), []),
    tensor('b', ints(c.k * c.n, c.signedB), bDims),
    tensor('bs', Float32Array.from({ length: scales }, () => Math.fround(0.002 + 0.01 * random.uniform())), c.perColumn ? [c.n] : []),
    // onnxruntime's int8 x int8 kernels take symmetric B (zero point 0); uint8 B any zero point.
    tensor('bz', c.signedB ? new Int8Array(scales) : ints(scales, false), c.perColumn ? [c.n] : []),
  ];
  const inputs = ['a', 'as', 'az', 'b', 'bs', 'bz'];
  if (c.bias) {
    initializer.push(tensor('c', Int32Array.from({ length: c.n }, () => random.int(40001) - 20000), [c.n]));
    inputs.push('c');
  } else if (c.quantized) {
    inputs.push('');
  }
  const outType = c.signedA ? DataType.INT8 : DataType.UINT8;
  if (c.quantized) {
    initializer.push(tensor('ys', Float32Array.of(Math.fround(0.05 + 0.3 * random.uniform())), []));
    initializer.push(c.signedA ? tensor('yz', Int8Array.of(random.int(256) - 128), []) : tensor('yz', Uint8Array.of(random.int(256)), []));
    inputs.push('ys', 'yz');
  }
  const attrs = [intAttr('transA', c.transA ? 1 : 0), intAttr('transB', c.transB ? 1 : 0), floatAttr('alpha', c.alpha)];
  const qgemm = { ...node('QGemm', inputs, ['y'], attrs), domain: 'com.microsoft' };
  const m = model(graph({
    node: [qgemm], initializer,
    input: [valueInfo('a', c.signedA ? DataType.INT8 : DataType.UINT8, aDims)],
    output: [valueInfo('y', c.quantized ? outType : DataType.FLOAT)],
  }), { opsetImport: [{ domain: '', version: 13 }, { domain: 'com.microsoft', version: 1 }] });
  return { m, a: ints(c.m * c.k, c.signedA), aDims };
}

async function runOrt(m: ModelProto, a: Typed, aDims: number[]): Promise<number[]> {
  const session = await ort.InferenceSession.create(writeModel(m).model, { logSeverityLevel: 3, intraOpNumThreads: 1 });
  const results = await session.run({ a: new ort.Tensor(a instanceof Int8Array ? 'int8' : 'uint8', a, aDims) });
  const out = Array.from(results.y.data as ArrayLike<number>, Number);
  await session.release();
  return out;
}

function runMinnow(m: ModelProto, a: Typed, aDims: number[], backend: string): number[] {
  const before = liveTensors();
  const session = OnnxSession.create(m, { backend });
  const out = [0, 1].map(() => {
    const values = session.runValues({ a: tensor('a', a, aDims) });
    const y = Array.from(values.get('y')!.hostData() as ArrayLike<number>, Number);
    for (const v of values.values()) v.dispose();
    return y;
  });
  session.dispose();
  expect(liveTensors(), 'tensors left alive').toBe(before);
  // The second run reuses the multipliers and bias made on the first.
  expect(out[1]).toEqual(out[0]);
  return out[0];
}

describe('com.microsoft QGemm', () => {
  it('matches onnxruntime bit for bit', async () => {
    await fc.assert(fc.asyncProperty(
      fc.record({
        m: fc.integer({ min: 1, max: 12 }), k: fc.integer({ min: 1, max: 80 }), n: fc.integer({ min: 1, max: 40 }),
        signedA: fc.boolean(), signedB: fc.boolean(), transA: fc.boolean(), transB: fc.boolean(), perColumn: fc.boolean(),
        bias: fc.boolean(), quantized: fc.boolean(), alpha: fc.constantFrom(1, 0.5, 1.75), seed: fc.integer({ min: 1, max: 1 << 30 }),
      }).filter((c) => !c.signedA || c.signedB), // onnxruntime has no int8 A x uint8 B QGemm
      async (c) => {
        const { m, a, aDims } = qgemmModel(c);
        const want = await runOrt(m, a, aDims);
        for (const backend of BACKENDS) expect(runMinnow(m, a, aDims, backend), `${backend} ${JSON.stringify(c)}`).toEqual(want);
      },
    ), runs(7101, 60));
  });

  it('refuses what it does not take: a 3-D A, a per-row bias, y_zero_point without y_scale', () => {
    const c: Case = { m: 2, k: 3, n: 4, signedA: false, signedB: true, transA: false, transB: false, perColumn: false, bias: true, quantized: false, alpha: 1, seed: 3 };
    const shaped = qgemmModel(c).m;
    const m = { ...shaped, graph: { ...shaped.graph!, input: [valueInfo('a', DataType.UINT8)] } };
    const session = OnnxSession.create(m, { backend: 'js' });
    expect(() => session.runValues({ a: tensor('a', new Uint8Array(12), [2, 2, 3]) })).toThrow(/must be 2-D/);
    session.dispose();
    const perRow = { ...m, graph: { ...m.graph!, initializer: m.graph!.initializer.map((t) => (t.name === 'c' ? tensor('c', new Int32Array(2), [2, 1]) : t)) } };
    const rowSession = OnnxSession.create(perRow, { backend: 'js' });
    expect(() => rowSession.runValues({ a: tensor('a', new Uint8Array(6), [2, 3]) })).toThrow(/bias per tensor or per column/);
    rowSession.dispose();
    const g = m.graph!;
    const noScale = {
      ...m, graph: { ...g, initializer: [...g.initializer, tensor('yz', Uint8Array.of(3), [])], node: [{ ...g.node[0], input: [...g.node[0].input, '', 'yz'] }] },
    };
    const noScaleSession = OnnxSession.create(noScale, { backend: 'js' });
    expect(() => noScaleSession.runValues({ a: tensor('a', new Uint8Array(6), [2, 3]) })).toThrow(/y_zero_point is given without y_scale/);
    noScaleSession.dispose();
  });
});
