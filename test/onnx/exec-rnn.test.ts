import { beforeAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { Random, init, liveTensors } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import {
  AttributeType, DataType, OnnxSession, makeTensor, writeModel, type AttributeProto, type GraphProto, type ModelProto, type TensorProto,
} from '@minnow/onnx';
import { floatAttr, graph, graphAttr, intAttr, model, node, valueInfo } from './build.js';
import { expectMinnowError } from '../helpers/reference.js';

// LSTM, GRU and RNN in the forms the ONNX backend tests leave out (both directions, sequence_lens,
// peepholes, every activation with its alpha and beta, clip, input_forget, batch-first layout,
// linear_before_reset), compared with onnxruntime on both backends; then If, Loop and Scan, and the
// errors a bad node gives.

const BACKENDS = ['js', 'wasm'] as const;

beforeAll(async () => {
  enableRelaxedSimd();
  await init(wasmBackend);
});

interface Input {
  readonly name: string;
  readonly type: 'float32' | 'float64' | 'int32' | 'int64' | 'bool';
  readonly dims: readonly number[];
  readonly data: readonly number[];
}

const ELEM_TYPES = { float32: DataType.FLOAT, float64: DataType.DOUBLE, int32: DataType.INT32, int64: DataType.INT64, bool: DataType.BOOL } as const;

function bytesOf(input: Input): Uint8Array {
  switch (input.type) {
    case 'float32': return new Uint8Array(Float32Array.from(input.data).buffer);
    case 'float64': return new Uint8Array(Float64Array.from(input.data).buffer);
    case 'int32': return new Uint8Array(Int32Array.from(input.data).buffer);
    case 'int64': return new Uint8Array(BigInt64Array.from(input.data, (v) => BigInt(v)).buffer);
    case 'bool': return Uint8Array.from(input.data);
  }
}

const protoOf = (input: Input): TensorProto => makeTensor(input.name, ELEM_TYPES[input.type], [...input.dims], bytesOf(input));

function ortOf(input: Input): ort.Tensor {
  const dims = [...input.dims];
  switch (input.type) {
    case 'float32': return new ort.Tensor('float32', Float32Array.from(input.data), dims);
    case 'float64': return new ort.Tensor('float64', Float64Array.from(input.data), dims);
    case 'int32': return new ort.Tensor('int32', Int32Array.from(input.data), dims);
    case 'int64': return new ort.Tensor('int64', BigInt64Array.from(input.data, (v) => BigInt(v)), dims);
    case 'bool': return new ort.Tensor('bool', Uint8Array.from(input.data), dims);
  }
}

const utf8 = new TextEncoder();
const attrBase = { floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] };
const stringAttr = (name: string, s: string): AttributeProto => ({ ...attrBase, name, type: AttributeType.STRING, s: utf8.encode(s) });
const stringsAttr = (name: string, values: string[]): AttributeProto => ({ ...attrBase, name, type: AttributeType.STRINGS, strings: values.map((v) => utf8.encode(v)) });
const floatsAttr = (name: string, values: number[]): AttributeProto => ({ ...attrBase, name, type: AttributeType.FLOATS, floats: values });
const intsAttr = (name: string, values: number[]): AttributeProto => ({ ...attrBase, name, type: AttributeType.INTS, ints: values.map(BigInt) });

/** A model of one node whose given inputs are graph inputs; `undefined` leaves an optional input empty. */
function singleNode(opType: string, inputs: readonly (Input | undefined)[], outputs: readonly string[], attributes: AttributeProto[], opset = 14): ModelProto {
  const given = inputs.filter((i): i is Input => i !== undefined);
  return model(graph({
    node: [node(opType, inputs.map((i) => i?.name ?? ''), [...outputs], attributes)],
    input: given.map((i) => valueInfo(i.name, ELEM_TYPES[i.type], [...i.dims])),
    output: outputs.filter((o) => o !== '').map((o) => valueInfo(o, ELEM_TYPES[given[0].type])),
  }), { opsetImport: [{ domain: '', version: opset }] });
}

const given = (inputs: readonly (Input | undefined)[]): Input[] => inputs.filter((i): i is Input => i !== undefined);

async function runOrt(m: ModelProto, inputs: readonly Input[]): Promise<Map<string, { dims: readonly number[]; data: number[] }>> {
  const session = await ort.InferenceSession.create(writeModel(m).model, { logSeverityLevel: 3 });
  const results = await session.run(Object.fromEntries(inputs.map((i) => [i.name, ortOf(i)])));
  const out = new Map<string, { dims: readonly number[]; data: number[] }>();
  for (const name of session.outputNames) {
    const t = results[name];
    out.set(name, { dims: t.dims, data: Array.from(t.data as ArrayLike<number | bigint>, Number) });
  }
  await session.release();
  return out;
}

function runMinnow(m: ModelProto, inputs: readonly Input[], backend: string): Map<string, { dims: readonly number[]; data: number[] }> {
  const session = OnnxSession.create(m, { backend });
  const before = liveTensors();
  const values = session.runValues(Object.fromEntries(inputs.map((i) => [i.name, protoOf(i)])));
  const out = new Map<string, { dims: readonly number[]; data: number[] }>();
  for (const [name, v] of values) {
    out.set(name, { dims: v.shape, data: Array.from(v.hostData() as ArrayLike<number | bigint>, Number) });
    v.dispose();
  }
  expect(liveTensors(), 'tensors left alive by the run').toBe(before);
  session.dispose();
  return out;
}

/** minnow on both backends gives onnxruntime's outputs: same shapes, values within `tolerance`. */
async function expectOrtAgreement(m: ModelProto, inputs: readonly Input[], tolerance = 1e-5): Promise<void> {
  const expected = await runOrt(m, inputs);
  for (const backend of BACKENDS) {
    const actual = runMinnow(m, inputs, backend);
    expect([...actual.keys()]).toEqual([...expected.keys()]);
    for (const [name, want] of expected) {
      const got = actual.get(name)!;
      expect(got.dims, `${backend} ${name} shape`).toEqual(want.dims);
      const worst = want.data.reduce((w, e, i) => Math.max(w, Math.abs(e - got.data[i])), 0);
      expect(worst, `${backend} ${name}: largest difference from onnxruntime`).toBeLessThanOrEqual(tolerance);
    }
  }
}

/** `data` of shape `dims` with its axes permuted (numpy.transpose). */
function permuted(data: readonly number[], dims: readonly number[], perm: readonly number[]): { dims: number[]; data: number[] } {
  const outDims = perm.map((p) => dims[p]);
  const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
  const out: number[] = [];
  const index = outDims.map(() => 0);
  for (let n = 0; n < data.length; n++) {
    out.push(data[index.reduce((at, v, i) => at + v * strides[perm[i]], 0)]);
    for (let d = outDims.length - 1; d >= 0 && ++index[d] === outDims[d]; d--) index[d] = 0;
  }
  return { dims: outDims, data: out };
}

/**
 * onnxruntime runs batch-first recurrent ops (layout 1) on no CPU kernel, so the batch-first node
 * is checked against onnxruntime's sequence-first run of the same data: X and the initial states
 * have their first two axes swapped going in, and Y ([batch, seq, dirs, hidden]) and the final
 * states ([batch, dirs, hidden]) come back permuted.
 */
async function expectBatchFirstAgreement(opType: string, inputs: readonly (Input | undefined)[], outputs: string[], attributes: AttributeProto[]): Promise<void> {
  const sequenceFirst = singleNode(opType, inputs, outputs, attributes);
  const expected = await runOrt(sequenceFirst, given(inputs));
  const swap = (i: Input | undefined): Input | undefined => {
    if (i === undefined || !['X', 'initial_h', 'initial_c'].includes(i.name)) return i;
    return { ...i, ...permuted(i.data, i.dims, [1, 0, 2]) };
  };
  const batchFirstInputs = inputs.map(swap);
  const batchFirst = singleNode(opType, batchFirstInputs, outputs, [...attributes, intAttr('layout', 1)]);
  for (const backend of BACKENDS) {
    const actual = runMinnow(batchFirst, given(batchFirstInputs), backend);
    for (const [name, want] of expected) {
      const got = actual.get(name)!;
      const back = permuted(got.data, got.dims, name === 'Y' ? [1, 2, 0, 3] : [1, 0, 2]);
      expect(back.dims, `${backend} ${name} shape`).toEqual(want.dims);
      const worst = want.data.reduce((w, e, i) => Math.max(w, Math.abs(e - back.data[i])), 0);
      expect(worst, `${backend} ${name}: largest difference from onnxruntime`).toBeLessThanOrEqual(1e-5);
    }
  }
}

function randomInput(r: Random, name: string, dims: readonly number[], scale = 1): Input {
  const n = dims.reduce((a, b) => a * b, 1);
  return { name, type: 'float32', dims, data: Array.from({ length: n }, () => scale * (2 * r.uniform() - 1)) };
}

const seq = 5;
const batch = 3;
const inputSize = 4;
const hidden = 3;

/** The inputs of a recurrent op with `gates` gate blocks, sequence-first: X, W, R, B, sequence_lens, initial_h (and initial_c, P). */
function recurrentInputs(seed: number, gates: number, directions: number, options: { lengths?: number[]; cell?: boolean; peepholes?: boolean } = {}): (Input | undefined)[] {
  const r = new Random(seed);
  const stateDims = [directions, batch, hidden];
  return [
    randomInput(r, 'X', [seq, batch, inputSize], 2),
    randomInput(r, 'W', [directions, gates * hidden, inputSize], 0.8),
    randomInput(r, 'R', [directions, gates * hidden, hidden], 0.8),
    randomInput(r, 'B', [directions, 2 * gates * hidden], 0.5),
    options.lengths ? { name: 'sequence_lens', type: 'int32', dims: [batch], data: options.lengths } : undefined,
    randomInput(r, 'initial_h', stateDims),
    ...(options.cell ? [randomInput(r, 'initial_c', stateDims)] : []),
    ...(options.peepholes ? [randomInput(r, 'P', [directions, 3 * hidden], 0.5)] : []),
  ];
}


describe('ONNX LSTM, GRU and RNN against onnxruntime', () => {
  it('LSTM: bidirectional with bias, initial states, peepholes and uneven sequence lengths; all three outputs', async () => {
    const inputs = recurrentInputs(1, 4, 2, { lengths: [5, 2, 3], cell: true, peepholes: true });
    const m = singleNode('LSTM', inputs, ['Y', 'Y_h', 'Y_c'], [intAttr('hidden_size', hidden), stringAttr('direction', 'bidirectional')]);
    await expectOrtAgreement(m, given(inputs));
  });

  it('LSTM: reverse, batch-first layout, coupled input and forget gates', async () => {
    const inputs = recurrentInputs(2, 4, 1, { cell: true, lengths: [4, 5, 1] });
    await expectBatchFirstAgreement('LSTM', inputs, ['Y', 'Y_h', 'Y_c'], [
      intAttr('hidden_size', hidden), stringAttr('direction', 'reverse'), intAttr('input_forget', 1),
    ]);
  });

  it('LSTM: other activations with their alphas and betas, consumed in order', async () => {
    const inputs = recurrentInputs(3, 4, 2, { cell: true });
    const m = singleNode('LSTM', inputs, ['Y', 'Y_h', 'Y_c'], [
      intAttr('hidden_size', hidden), stringAttr('direction', 'bidirectional'),
      stringsAttr('activations', ['HardSigmoid', 'LeakyRelu', 'Softsign', 'Sigmoid', 'Elu', 'Softplus']),
      floatsAttr('activation_alpha', [0.3, 0.05, 0.7]), floatsAttr('activation_beta', [0.45]),
    ]);
    await expectOrtAgreement(m, given(inputs));
  });

  it('LSTM: no optional inputs, only Y_h asked', async () => {
    const [x, w, r] = recurrentInputs(4, 4, 1);
    const m = singleNode('LSTM', [x, w, r], ['', 'Y_h'], [intAttr('hidden_size', hidden)]);
    await expectOrtAgreement(m, given([x, w, r]));
  });

  it('GRU: bidirectional, linear_before_reset, uneven sequence lengths', async () => {
    const inputs = recurrentInputs(5, 3, 2, { lengths: [3, 5, 1] });
    const m = singleNode('GRU', inputs, ['Y', 'Y_h'], [
      intAttr('hidden_size', hidden), stringAttr('direction', 'bidirectional'), intAttr('linear_before_reset', 1),
    ]);
    await expectOrtAgreement(m, given(inputs));
  });

  it('GRU: reset before the linear map, batch-first, other activations', async () => {
    const inputs = recurrentInputs(6, 3, 1);
    await expectBatchFirstAgreement('GRU', inputs, ['Y', 'Y_h'], [
      intAttr('hidden_size', hidden), stringsAttr('activations', ['HardSigmoid', 'ScaledTanh']),
      floatsAttr('activation_alpha', [0.25, 0.9]), floatsAttr('activation_beta', [0.5, 1.2]),
    ]);
  });

  it('RNN: bidirectional with Relu and ScaledTanh, sequence lengths, batch-first', async () => {
    const inputs = recurrentInputs(7, 1, 2, { lengths: [2, 5, 4] });
    await expectBatchFirstAgreement('RNN', inputs, ['Y', 'Y_h'], [
      intAttr('hidden_size', hidden), stringAttr('direction', 'bidirectional'),
      stringsAttr('activations', ['Relu', 'ScaledTanh']), floatsAttr('activation_alpha', [0.7]), floatsAttr('activation_beta', [1.3]),
    ]);
  });

  it('RNN: Affine and ThresholdedRelu, reverse', async () => {
    for (const activation of ['Affine', 'ThresholdedRelu', 'Sigmoid', 'Tanh']) {
      const inputs = recurrentInputs(8, 1, 1);
      const m = singleNode('RNN', inputs, ['Y', 'Y_h'], [
        intAttr('hidden_size', hidden), stringAttr('direction', 'reverse'),
        stringsAttr('activations', [activation]), floatsAttr('activation_alpha', [0.4]), floatsAttr('activation_beta', [0.1]),
      ]);
      await expectOrtAgreement(m, given(inputs));
    }
  });

  it('LSTM and GRU in float64 (onnxruntime has no float64 kernels: checked against its float32 run)', async () => {
    const toDouble = (inputs: (Input | undefined)[]): (Input | undefined)[] => inputs.map((i) => (i?.type === 'float32' ? { ...i, type: 'float64' } : i));
    const cases: [string, (Input | undefined)[], string[], AttributeProto[]][] = [
      ['LSTM', recurrentInputs(13, 4, 2, { cell: true, peepholes: true, lengths: [5, 3, 4] }), ['Y', 'Y_h', 'Y_c'], [intAttr('hidden_size', hidden), stringAttr('direction', 'bidirectional')]],
      ['GRU', recurrentInputs(14, 3, 1), ['Y', 'Y_h'], [intAttr('hidden_size', hidden), intAttr('linear_before_reset', 1)]],
    ];
    for (const [opType, inputs, outputs, attributes] of cases) {
      const expected = await runOrt(singleNode(opType, inputs, outputs, attributes), given(inputs));
      const doubles = toDouble(inputs);
      for (const backend of BACKENDS) {
        const session = OnnxSession.create(singleNode(opType, doubles, outputs, attributes), { backend });
        const values = session.runValues(Object.fromEntries(given(doubles).map((i) => [i.name, protoOf(i)])));
        for (const [name, want] of expected) {
          const v = values.get(name)!;
          expect(v.elemType).toBe(DataType.DOUBLE);
          const got = v.hostData() as Float64Array;
          expect(want.data.reduce((w, e, i) => Math.max(w, Math.abs(e - got[i])), 0), `${backend} ${opType} ${name}`).toBeLessThanOrEqual(1e-5);
          v.dispose();
        }
        session.dispose();
      }
    }
  });

  it('clip bounds the inputs of the gate activations', async () => {
    const lstm = recurrentInputs(9, 4, 2, { cell: true });
    await expectOrtAgreement(singleNode('LSTM', lstm, ['Y', 'Y_h', 'Y_c'], [intAttr('hidden_size', hidden), stringAttr('direction', 'bidirectional'), floatAttr('clip', 0.6)]), given(lstm));
    const gru = recurrentInputs(10, 3, 1);
    await expectOrtAgreement(singleNode('GRU', gru, ['Y', 'Y_h'], [intAttr('hidden_size', hidden), floatAttr('clip', 0.5)]), given(gru));
    const gruLinear = recurrentInputs(11, 3, 1);
    await expectOrtAgreement(singleNode('GRU', gruLinear, ['Y', 'Y_h'], [intAttr('hidden_size', hidden), intAttr('linear_before_reset', 1), floatAttr('clip', 0.5)]), given(gruLinear));
    const rnn = recurrentInputs(12, 1, 1);
    await expectOrtAgreement(singleNode('RNN', rnn, ['Y', 'Y_h'], [intAttr('hidden_size', hidden), floatAttr('clip', 0.4)]), given(rnn));
  });
});

const tensorAttr = (name: string, t: TensorProto): AttributeProto => ({ ...attrBase, name, type: AttributeType.TENSOR, t });
const floats = (name: string, dims: number[], data: number[]): Input => ({ name, type: 'float32', dims, data });
const flag = (name: string, on: boolean): Input => ({ name, type: 'bool', dims: [], data: [on ? 1 : 0] });
const int64 = (name: string, value: number): Input => ({ name, type: 'int64', dims: [], data: [value] });

/** A model of one control-flow node over `inputs`; `outputs` are [name, ONNX type] pairs. */
function controlModel(nodeSpec: ReturnType<typeof node>, inputs: readonly Input[], outputs: [string, number][], opset = 13): ModelProto {
  return model(graph({
    node: [nodeSpec],
    input: inputs.map((i) => valueInfo(i.name, ELEM_TYPES[i.type], [...i.dims])),
    output: outputs.map(([name, type]) => valueInfo(name, type)),
  }), { opsetImport: [{ domain: '', version: opset }] });
}

function body(name: string, nodes: ReturnType<typeof node>[], inputs: [string, number, number[]?][], outputs: [string, number, number[]?][]): GraphProto {
  return graph({
    name,
    node: nodes,
    input: inputs.map(([n, type, dims]) => valueInfo(n, type, dims)),
    output: outputs.map(([n, type, dims]) => valueInfo(n, type, dims)),
  });
}

const expectError = (fn: () => unknown, code: string, ...fragments: string[]): void => void expectMinnowError(fn, code, ...fragments);

/** Adds the loop-carried `acc` to itself plus the outer `x` each turn; scans out acc and the iteration number. */
function accumulatingLoop(condOut: ReturnType<typeof node>): GraphProto {
  return body('loop_body', [
    condOut,
    node('Add', ['acc_in', 'x'], ['acc_out']),
    node('Identity', ['acc_out'], ['acc_scan']),
    node('Identity', ['i'], ['i_scan']),
  ], [['i', DataType.INT64, []], ['cond_in', DataType.BOOL, []], ['acc_in', DataType.FLOAT, [2]]],
  [['cond_out', DataType.BOOL, []], ['acc_out', DataType.FLOAT, [2]], ['acc_scan', DataType.FLOAT, [2]], ['i_scan', DataType.INT64, []]]);
}

const loopOutputs: [string, number][] = [['acc', DataType.FLOAT], ['accs', DataType.FLOAT], ['is', DataType.INT64]];
const falseConstant = (): ReturnType<typeof node> => node('Constant', [], ['cond_out'], [tensorAttr('value', makeTensor('f', DataType.BOOL, [], Uint8Array.of(0)))]);

describe('ONNX If, Loop and Scan', () => {
  it('If runs the branch its condition picks, reading values of the enclosing graph', async () => {
    const then = body('then', [node('Add', ['x', 'y'], ['sum'])], [], [['sum', DataType.FLOAT]]);
    const otherwise = body('else', [node('Sub', ['x', 'y'], ['difference'])], [], [['difference', DataType.FLOAT]]);
    const x = floats('x', [3], [1, 2, 3]);
    const y = floats('y', [3], [0.5, 0.25, 4]);
    for (const on of [true, false]) {
      const m = controlModel(node('If', ['c'], ['out'], [graphAttr('then_branch', then), graphAttr('else_branch', otherwise)]), [flag('c', on), x, y], [['out', DataType.FLOAT]]);
      await expectOrtAgreement(m, [flag('c', on), x, y]);
      expect(runMinnow(m, [flag('c', on), x, y], 'js').get('out')!.data).toEqual(on ? [1.5, 2.25, 7] : [0.5, 1.75, -1]);
    }
  });

  it('Loop carries values and stacks scan outputs (int64 iteration numbers stay int64)', async () => {
    const inputs = [int64('M', 4), flag('c', true), floats('acc0', [2], [1, -1]), floats('x', [2], [0.5, 2])];
    const m = controlModel(node('Loop', ['M', 'c', 'acc0'], ['acc', 'accs', 'is'], [graphAttr('body', accumulatingLoop(node('Identity', ['cond_in'], ['cond_out'])))]), inputs, loopOutputs);
    await expectOrtAgreement(m, inputs);
    const out = runMinnow(m, inputs, 'js');
    expect(out.get('acc')!.data).toEqual([3, 7]);
    expect(out.get('accs')).toEqual({ dims: [4, 2], data: [1.5, 1, 2, 3, 2.5, 5, 3, 7] });
    expect(out.get('is')).toEqual({ dims: [4], data: [0, 1, 2, 3] });
  });

  it('Loop with a condition and no trip count stops when the body says so', async () => {
    const inputs = [flag('c', true), floats('acc0', [2], [1, -1]), floats('x', [2], [0.5, 2])];
    const m = controlModel(node('Loop', ['', 'c', 'acc0'], ['acc', 'accs', 'is'], [graphAttr('body', accumulatingLoop(falseConstant()))]), inputs, loopOutputs);
    await expectOrtAgreement(m, inputs);
    expect(runMinnow(m, inputs, 'wasm').get('is')).toEqual({ dims: [1], data: [0] });
  });

  it('Loop with a trip count and no condition ignores the body\'s condition, as the spec writes it', () => {
    const inputs = [int64('M', 3), floats('acc0', [2], [1, -1]), floats('x', [2], [0.5, 2])];
    const m = controlModel(node('Loop', ['M', '', 'acc0'], ['acc', 'accs', 'is'], [graphAttr('body', accumulatingLoop(falseConstant()))]), inputs, loopOutputs);
    for (const backend of BACKENDS) {
      const out = runMinnow(m, inputs, backend);
      expect(out.get('acc')!.data).toEqual([2.5, 5]);
      expect(out.get('is')!.data).toEqual([0, 1, 2]);
    }
  });

  it('Loop that runs zero times passes its initial values through and gives empty scan outputs of the declared shape', async () => {
    const inputs = [int64('M', 0), flag('c', true), floats('acc0', [2], [1, -1]), floats('x', [2], [0.5, 2])];
    const m = controlModel(node('Loop', ['M', 'c', 'acc0'], ['acc', 'accs', 'is'], [graphAttr('body', accumulatingLoop(node('Identity', ['cond_in'], ['cond_out'])))]), inputs, loopOutputs);
    await expectOrtAgreement(m, inputs);
    const out = runMinnow(m, inputs, 'js');
    expect(out.get('acc')!.data).toEqual([1, -1]);
    expect(out.get('accs')).toEqual({ dims: [0, 2], data: [] });
  });

  it('Loop with neither trip count nor condition is refused rather than run forever', () => {
    const inputs = [floats('acc0', [2], [1, -1]), floats('x', [2], [0.5, 2])];
    const m = controlModel(node('Loop', ['', '', 'acc0'], ['acc', 'accs', 'is'], [graphAttr('body', accumulatingLoop(falseConstant()))]), inputs, loopOutputs);
    const session = OnnxSession.create(m);
    expectError(() => session.runValues(Object.fromEntries(inputs.map((i) => [i.name, protoOf(i)]))), 'INVALID_MODEL', 'Loop', 'never end');
  });

  it('Scan (opset 11) over axis 1 in reverse, stacking outputs along axis 1 last-first', async () => {
    const r = new Random(21);
    const scanBody = body('scan_body', [
      node('Add', ['sum_in', 'a'], ['sum_out']),
      node('Mul', ['sum_out', 'b'], ['product']),
    ], [['sum_in', DataType.FLOAT, [2]], ['a', DataType.FLOAT, [2]], ['b', DataType.FLOAT, [2]]],
    [['sum_out', DataType.FLOAT, [2]], ['product', DataType.FLOAT, [2]], ['sum_out_scan', DataType.FLOAT, [2]]]);
    scanBody.node.push(node('Identity', ['sum_out'], ['sum_out_scan']));
    const inputs = [randomInput(r, 'init', [2]), randomInput(r, 'a', [2, 4]), randomInput(r, 'b', [4, 2])];
    const m = controlModel(node('Scan', ['init', 'a', 'b'], ['final', 'products', 'sums'], [
      graphAttr('body', scanBody), intAttr('num_scan_inputs', 2), intsAttr('scan_input_axes', [1, 0]), intsAttr('scan_input_directions', [1, 0]),
      intsAttr('scan_output_axes', [-1, 0]), intsAttr('scan_output_directions', [1, 0]),
    ]), inputs, [['final', DataType.FLOAT], ['products', DataType.FLOAT], ['sums', DataType.FLOAT]], 11);
    await expectOrtAgreement(m, inputs);
  });

  it('Scan (opset 8) runs each batch entry, scanning axis 1', async () => {
    const r = new Random(22);
    const scanBody = body('scan_body', [node('Add', ['sum_in', 'next'], ['sum_out']), node('Identity', ['sum_out'], ['scan_out'])],
      [['sum_in', DataType.FLOAT, [2]], ['next', DataType.FLOAT, [2]]], [['sum_out', DataType.FLOAT, [2]], ['scan_out', DataType.FLOAT, [2]]]);
    const inputs = [randomInput(r, 'init', [3, 2]), randomInput(r, 'x', [3, 4, 2])];
    const m = controlModel(node('Scan', ['', 'init', 'x'], ['final', 'sums'], [graphAttr('body', scanBody), intAttr('num_scan_inputs', 1), intsAttr('directions', [1])]),
      inputs, [['final', DataType.FLOAT], ['sums', DataType.FLOAT]], 8);
    await expectOrtAgreement(m, inputs);
  });
});

describe('errors of recurrent and control-flow nodes', () => {
  const run = (m: ModelProto, inputs: readonly (Input | undefined)[]): unknown => OnnxSession.create(m).runValues(Object.fromEntries(given(inputs).map((i) => [i.name, protoOf(i)])));

  it('names a bad direction, an unknown activation, a wrong activation count and a wrong W shape', () => {
    const inputs = recurrentInputs(30, 4, 1);
    expectError(() => run(singleNode('LSTM', inputs, ['Y'], [intAttr('hidden_size', hidden), stringAttr('direction', 'sideways')]), inputs), 'INVALID_MODEL', 'LSTM', 'sideways');
    expectError(() => run(singleNode('LSTM', inputs, ['Y'], [intAttr('hidden_size', hidden), stringsAttr('activations', ['Sigmoid', 'Swish', 'Tanh'])]), inputs), 'UNSUPPORTED_OP', 'Swish');
    expectError(() => run(singleNode('LSTM', inputs, ['Y'], [intAttr('hidden_size', hidden), stringsAttr('activations', ['Sigmoid', 'Tanh'])]), inputs), 'INVALID_MODEL', '2 functions, 3 expected');
    expectError(() => run(singleNode('GRU', inputs, ['Y'], [intAttr('hidden_size', hidden)]), inputs), 'INVALID_MODEL', 'W has shape [1,12,4], expected [1,9,4]');
    expectError(() => run(singleNode('LSTM', inputs, ['Y'], [intAttr('hidden_size', hidden), floatAttr('clip', -1)]), inputs), 'INVALID_MODEL', 'clip');
  });

  it('checks sequence_lens and the initial state shapes', () => {
    const tooLong = recurrentInputs(31, 1, 1, { lengths: [1, 9, 2] });
    expectError(() => run(singleNode('RNN', tooLong, ['Y'], [intAttr('hidden_size', hidden)]), tooLong), 'INVALID_MODEL', 'sequence_lens[1] is 9');
    const [x, w, r, b] = recurrentInputs(32, 1, 1);
    const badState = floats('initial_h', [1, batch + 1, hidden], new Array<number>((batch + 1) * hidden).fill(0));
    expectError(() => run(singleNode('RNN', [x, w, r, b, undefined, badState], ['Y'], [intAttr('hidden_size', hidden)]), [x, w, r, b, badState]), 'INVALID_MODEL', 'initial_h');
  });

  it('refuses integer inputs with UNSUPPORTED_DTYPE', () => {
    const [, w, r] = recurrentInputs(33, 1, 1);
    const x: Input = { name: 'X', type: 'int32', dims: [seq, batch, inputSize], data: new Array<number>(seq * batch * inputSize).fill(1) };
    expectError(() => run(singleNode('RNN', [x, w, r], ['Y'], [intAttr('hidden_size', hidden)]), [x, w, r]), 'UNSUPPORTED_DTYPE', 'int32');
  });

  it('If whose branch gives the wrong number of outputs is an INVALID_MODEL error', () => {
    const then = body('then', [node('Identity', ['x'], ['a']), node('Identity', ['x'], ['b'])], [], [['a', DataType.FLOAT], ['b', DataType.FLOAT]]);
    const x = floats('x', [1], [1]);
    const m = controlModel(node('If', ['c'], ['out'], [graphAttr('then_branch', then), graphAttr('else_branch', then)]), [flag('c', true), x], [['out', DataType.FLOAT]]);
    const before = liveTensors();
    expectError(() => run(m, [flag('c', true), x]), 'INVALID_MODEL', 'then_branch gives 2 outputs');
    expect(liveTensors()).toBe(before);
  });
});
