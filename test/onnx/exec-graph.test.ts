import { describe, expect, it } from 'vitest';
import { liveTensors, tensor } from '@minnow/core';
import { AttributeType, DataType, OnnxSession, makeTensor, type ModelProto } from '@minnow/onnx';
import { floatTensor, graph, model, node, refAttr, valueInfo } from './build.js';
import { expectMinnowError } from '../helpers/reference.js';

// The graph runner itself: planning, checking, constant folding, value lifetimes and feeds. Operator
// semantics are tested by the conformance suite and the exec-*.test.ts files.

const expectError = (fn: () => unknown, code: string, ...fragments: string[]): void => void expectMinnowError(fn, code, ...fragments);

/** y = (x + w) * (w + w), with nodes listed in reverse order. */
function addMulModel(): ModelProto {
  return model(graph({
    node: [node('Mul', ['xw', 'ww'], ['y']), node('Add', ['w', 'w'], ['ww']), node('Add', ['x', 'w'], ['xw'])],
    initializer: [floatTensor('w', [3], [1, 2, 3])],
    input: [valueInfo('x', DataType.FLOAT, ['n', 3])],
    output: [valueInfo('y', DataType.FLOAT)],
  }));
}

describe('ONNX graph runner', () => {
  it('runs nodes in dependency order, whatever order the file lists them in, and folds what depends only on initialisers', () => {
    const session = OnnxSession.create(addMulModel());
    expect(session.nodeCount).toBe(2);
    expect(OnnxSession.create(addMulModel(), { constantFolding: false }).nodeCount).toBe(3);
    const x = tensor([[1, 1, 1], [0, 0, 0]]);
    const { y } = session.run({ x });
    expect(y.arraySync()).toEqual([[4, 12, 24], [2, 8, 18]]);
    expect(session.inputs).toEqual([{ name: 'x', elemType: DataType.FLOAT, type: 'float32', dims: ['n', 3] }]);
    x.dispose();
    y.dispose();
    session.dispose();
  });

  it('leaves nothing alive but the outputs across many runs, and nothing after dispose', () => {
    const before = liveTensors();
    const session = OnnxSession.create(addMulModel());
    const x = tensor([[1, 2, 3]]);
    const afterCreate = liveTensors();
    for (let i = 0; i < 20; i++) session.run({ x }).y.dispose();
    expect(liveTensors()).toBe(afterCreate);
    x.dispose();
    session.dispose();
    expect(liveTensors()).toBe(before);
  });

  it('an output that is a graph input is the caller\'s own tensor: disposing it leaves the feed alive', () => {
    const m = model(graph({ node: [node('Identity', ['x'], ['y'])], input: [valueInfo('x')], output: [valueInfo('y'), valueInfo('x')] }));
    const session = OnnxSession.create(m);
    const x = tensor([1, 2]);
    const out = session.run({ x });
    out.y.dispose();
    out.x.dispose();
    expect(x.isDisposed).toBe(false);
    expect(x.arraySync()).toEqual([1, 2]);
    x.dispose();
  });

  it('refuses a cycle, naming the nodes', () => {
    const m = model(graph({
      node: [node('Add', ['b', 'x'], ['a']), node('Add', ['a', 'x'], ['b'])],
      input: [valueInfo('x')], output: [valueInfo('b')],
    }));
    expectError(() => OnnxSession.create(m), 'INVALID_MODEL', 'cycle', "node 'Add_a'", "node 'Add_b'");
  });

  it('refuses an input no node produces, naming node and input', () => {
    const m = model(graph({ node: [node('Add', ['x', 'nowhere'], ['y'])], input: [valueInfo('x')], output: [valueInfo('y')] }));
    expectError(() => OnnxSession.create(m), 'INVALID_MODEL', "node 'Add_y' (Add) reads 'nowhere'");
  });

  it('refuses an output no node produces, and a value written twice', () => {
    expectError(() => OnnxSession.create(model(graph({ input: [valueInfo('x')], output: [valueInfo('z')] }))), 'INVALID_MODEL', "output 'z'");
    const twice = model(graph({
      node: [node('Identity', ['x'], ['y']), node('Identity', ['x'], ['y'], [], { name: 'second' })],
      input: [valueInfo('x')], output: [valueInfo('y')],
    }));
    expectError(() => OnnxSession.create(twice), 'INVALID_MODEL', "node 'second'", "writes 'y'");
  });

  it('refuses an initialiser whose data disagrees with its dims, and an unknown data type', () => {
    const short = makeTensor('w', DataType.FLOAT, [2], new Uint8Array(8));
    short.dims = [3];
    const m = model(graph({ node: [node('Add', ['x', 'w'], ['y'])], initializer: [short], input: [valueInfo('x')], output: [valueInfo('y')] }));
    expectError(() => OnnxSession.create(m), 'CORRUPT_FILE', "tensor 'w'", 'raw_data holds 8 bytes, 12 expected');
    const unknown = { ...floatTensor('w', [1], [1]), dataType: 99 };
    const m2 = model(graph({ node: [node('Add', ['x', 'w'], ['y'])], initializer: [unknown], input: [valueInfo('x')], output: [valueInfo('y')] }));
    expectError(() => OnnxSession.create(m2), 'UNSUPPORTED_DTYPE', "tensor 'w'", 'data type 99');
  });

  it('names the op, its domain, the opset and the node of an unsupported op; a domain the model does not import is an error', () => {
    const m = model(graph({ node: [node('FancyOp', ['x'], ['y'], [], { name: 'fancy' })], input: [valueInfo('x')], output: [valueInfo('y')] }));
    expectError(() => OnnxSession.create(m), 'UNSUPPORTED_OP', "node 'fancy' (FancyOp)", "op 'FancyOp'", "domain 'ai.onnx'", 'opset 17');
    const foreign = model(graph({ node: [node('Thing', ['x'], ['y'], [], { domain: 'com.example' })], input: [valueInfo('x')], output: [valueInfo('y')] }));
    expectError(() => OnnxSession.create(foreign), 'INVALID_MODEL', "domain 'com.example' is not in the model's opset imports");
  });

  it('checks feeds: missing, unknown, of the wrong dtype or shape', () => {
    const session = OnnxSession.create(addMulModel());
    expectError(() => session.run({}), 'INVALID_ARGUMENT', "input 'x' (float32 [n,3]) is not fed");
    const x = tensor([[1, 2, 3]]);
    expectError(() => session.run({ x, extra: x }), 'INVALID_ARGUMENT', "'extra' is not an input");
    const wrongShape = tensor([1, 2, 3]);
    expectError(() => session.run({ x: wrongShape }), 'SHAPE_MISMATCH', "input 'x' is [n,3], fed [3]");
    const ints = tensor([[1, 2, 3]], { dtype: 'int32' });
    expectError(() => session.run({ x: ints }), 'DTYPE_MISMATCH', "input 'x' is float32, fed a int32 tensor");
    for (const t of [x, wrongShape, ints]) t.dispose();
  });

  it('runs a model-local function, with attributes passed by reference', () => {
    const fn = {
      name: 'Scale', domain: 'local', input: ['a'], output: ['b'], attribute: ['k'], attributeProto: [], docString: '',
      node: [node('Constant', [], ['kk'], [refAttr('value_float', 'k', AttributeType.FLOAT)]), node('Mul', ['a', 'kk'], ['b'])],
      opsetImport: [{ domain: '', version: 17 }], valueInfo: [], metadataProps: [],
    };
    const call = node('Scale', ['x'], ['y'], [{ name: 'k', type: AttributeType.FLOAT, f: 2.5, floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] }], { domain: 'local' });
    const m = model(graph({ node: [call], input: [valueInfo('x')], output: [valueInfo('y')] }), {
      opsetImport: [{ domain: '', version: 17 }, { domain: 'local', version: 1 }], functions: [fn],
    });
    const x = tensor([1, -2]);
    const { y } = OnnxSession.create(m).run({ x });
    expect(y.arraySync()).toEqual([2.5, -5]);
    x.dispose();
    y.dispose();
  });

  it('an int64 input fed as a TensorProto keeps its type; values beyond int32 are refused when computed', () => {
    const m = model(graph({ node: [node('Add', ['x', 'x'], ['y'])], input: [valueInfo('x', DataType.INT64, [2])], output: [valueInfo('y', DataType.INT64)] }));
    const session = OnnxSession.create(m);
    const proto = (values: bigint[]) => makeTensor('x', DataType.INT64, [2], new Uint8Array(BigInt64Array.from(values).buffer));
    const out = session.runValues({ x: proto([3n, -4n]) });
    const y = out.get('y');
    expect(y?.elemType).toBe(DataType.INT64);
    expect(y?.numbers()).toEqual([6, -8]);
    y?.dispose();
    expectError(() => session.runValues({ x: proto([1n << 40n, 0n]) }), 'PRECISION_LIMIT', 'int64 element 0 is 1099511627776');
  });
});

describe('ONNX shape inference', () => {
  it('infers every value\'s type and dims without running the model; symbolic dims stay symbolic, shape arithmetic is exact', async () => {
    const m = model(graph({
      node: [node('Mul', ['x', 'x'], ['sq']), node('Add', ['sq', 'w'], ['y']), node('Shape', ['y'], ['s']), node('Add', ['s', 's'], ['s2'])],
      initializer: [floatTensor('w', [3], [1, 2, 3])],
      input: [valueInfo('x', DataType.FLOAT, ['batch', 3])],
      output: [valueInfo('y'), valueInfo('s2', DataType.INT64)],
    }));
    const session = OnnxSession.create(m);
    const before = liveTensors();
    const { values, problems } = await session.inferShapes();
    expect(problems).toEqual([]);
    expect(values.get('y')).toEqual({ elemType: DataType.FLOAT, type: 'float32', dims: ['batch', 3] });
    expect(values.get('s')).toEqual({ elemType: DataType.INT64, type: 'int64', dims: [2] });
    expect((await session.inferShapes({ x: [4, 3] })).values.get('y')?.dims).toEqual([4, 3]);
    expect(liveTensors()).toBe(before);
    session.dispose();
  });
});

describe('observing values as the model runs', () => {
  it('shows every node output, in order, while it is alive', () => {
    const seen: string[] = [];
    const session = OnnxSession.create(addMulModel(), { observe: (name, value) => seen.push(`${name}=${value.numbers().join(',')}`) });
    const x = tensor([[1, 1, 1]]);
    session.run({ x }).y.dispose();
    expect(seen).toEqual(['xw=2,3,4', 'y=4,12,24']);
    x.dispose();
    session.dispose();
  });
});

describe('per-node memos', () => {
  it('a reflect Pad uploads its index table once, reuses it on every run, and frees it with the session', () => {
    const pads = makeTensor('pads', DataType.INT64, [4], new Uint8Array(BigInt64Array.of(0n, 2n, 0n, 2n).buffer));
    const m = model(graph({
      node: [node('Pad', ['x', 'pads'], ['y'], [{ name: 'mode', type: AttributeType.STRING, s: new TextEncoder().encode('reflect'), floats: [], ints: [], strings: [], tensors: [], graphs: [], sparseTensors: [], typeProtos: [] }])],
      initializer: [pads], input: [valueInfo('x', DataType.FLOAT, [1, 4])], output: [valueInfo('y')],
    }));
    const before = liveTensors();
    const session = OnnxSession.create(m);
    const x = tensor([[1, 2, 3, 4]]);
    const first = session.run({ x }).y;
    expect(first.arraySync()).toEqual([[3, 2, 1, 2, 3, 4, 3, 2]]);
    first.dispose();
    const afterFirst = liveTensors();
    for (let i = 0; i < 5; i++) session.run({ x }).y.dispose();
    expect(liveTensors()).toBe(afterFirst);
    x.dispose();
    session.dispose();
    expect(liveTensors()).toBe(before);
  });
});
