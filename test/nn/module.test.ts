import { describe, expect, it } from 'vitest';
import {
  MinnowError, Random, add, getBackend, init, liveTensors, mul, noGrad, scope, sum, tensor, zeros, type Tensor,
} from '@minnow/core';
import { createJsBackend } from '@minnow/backend-js';
import {
  BatchNorm1d, Conv2d, Dropout, Flatten, Linear, Module, ReLU, Sequential,
} from '@minnow/nn';
import { itNoLeaks } from '../helpers/leaks.js';
import { expectMinnowError } from '../helpers/reference.js';

/** A module with a parameter, a buffer and a child, registered interleaved, to pin naming and order. */
class Block extends Module<[Tensor], Tensor> {
  readonly inner: Linear;

  constructor(seed: number) {
    super();
    this.registerParameter('scale', tensor([2]));
    this.inner = this.registerModule('inner', new Linear(3, 2, { seed }));
    this.registerBuffer('steps', zeros([1]));
  }

  override forward(x: Tensor): Tensor {
    return scope(() => mul(this.inner.forward(x), this.ownParameter('scale')));
  }
}

class Tied extends Module<[Tensor], Tensor> {
  constructor() {
    super();
    const shared = new Linear(2, 2, { seed: 1 });
    this.registerModule('a', shared);
    this.registerModule('b', shared);
  }

  override forward(x: Tensor): Tensor {
    return x;
  }
}

const values = (t: Tensor): number[] => Array.from(t.dataSync());

describe('Module: registration and names', () => {
  itNoLeaks('dotted names in registration order, own tensors before children', () => {
    const model = new Sequential(new Block(1), new ReLU(), new Linear(2, 4, { seed: 2 }));
    expect(model.namedParameters().map(([n]) => n)).toEqual(['0.scale', '0.inner.weight', '0.inner.bias', '2.weight', '2.bias']);
    expect(model.namedBuffers().map(([n]) => n)).toEqual(['0.steps']);
    expect([...model.stateDict().keys()]).toEqual(['0.scale', '0.inner.weight', '0.inner.bias', '2.weight', '2.bias', '0.steps']);
    expect(model.namedModules().map(([n]) => n)).toEqual(['', '0', '0.inner', '1', '2']);
    expect(model.parameterCount()).toBe(1 + 6 + 2 + 8 + 4);
    expect(model.parameters().every((p) => p.requiresGrad && p.isLeaf)).toBe(true);
    expect(model.buffers().every((b) => !b.requiresGrad)).toBe(true);
    model.dispose();
  });

  itNoLeaks('tied modules: parameters listed once, state dict under every name', () => {
    const model = new Tied();
    expect(model.namedParameters().map(([n]) => n)).toEqual(['a.weight', 'a.bias']);
    expect(model.parameterCount()).toBe(6);
    expect([...model.stateDict().keys()]).toEqual(['a.weight', 'a.bias', 'b.weight', 'b.bias']);
    model.dispose();
  });

  itNoLeaks('bad names, duplicates, integer parameters, op results and cycles are refused', () => {
    class Probe extends Module<[Tensor], Tensor> {
      override forward(x: Tensor): Tensor {
        return x;
      }
      param(name: string, t: Tensor): Tensor {
        return this.registerParameter(name, t);
      }
      buffer(name: string, t: Tensor): Tensor {
        return this.registerBuffer(name, t);
      }
      child(name: string, m: Module<[Tensor], Tensor>): void {
        this.registerModule(name, m);
      }
    }
    const probe = new Probe();
    const w = probe.param('w', zeros([2]));
    const spare = zeros([2]);
    expectMinnowError(() => probe.param('w', spare), 'INVALID_ARGUMENT', 'already has', '"w"');
    expectMinnowError(() => probe.buffer('a.b', spare), 'INVALID_ARGUMENT', 'without dots');
    expectMinnowError(() => probe.param('', spare), 'INVALID_ARGUMENT');
    const ints = zeros([2], { dtype: 'int32' });
    expectMinnowError(() => probe.param('i', ints), 'UNSUPPORTED_DTYPE', '"i"', 'int32');
    const result = add(w, 1);
    expectMinnowError(() => probe.param('r', result), 'INVALID_ARGUMENT', 'leaf');
    expectMinnowError(() => probe.buffer('g', result), 'INVALID_ARGUMENT', 'requires grad');
    const outer = new Sequential(probe);
    expectMinnowError(() => probe.child('loop', outer), 'INVALID_ARGUMENT', 'cycle');
    for (const t of [ints, result, spare]) t.dispose();
    outer.dispose();
  });

  itNoLeaks('parameters survive the scope the model was built in', () => {
    const model = scope(() => {
      const m = new Linear(2, 3, { seed: 4 });
      return { m };
    }).m;
    expect(model.weight.isDisposed).toBe(false);
    const x = tensor([[1, 2]]);
    const y = model.forward(x);
    expect(y.shape).toEqual([1, 3]);
    y.dispose();
    x.dispose();
    model.dispose();
    expect(model.weight.isDisposed).toBe(true);
  });
});

describe('Module: train/eval', () => {
  itNoLeaks('train() and eval() reach every descendant', () => {
    const model = new Sequential(new Sequential(new Dropout(0.5, { seed: 1 }), new BatchNorm1d(2)), new Flatten());
    expect(model.namedModules().every(([, m]) => m.training)).toBe(true);
    expect(model.eval()).toBe(model);
    expect(model.namedModules().every(([, m]) => !m.training)).toBe(true);
    model.train();
    expect(model.namedModules().every(([, m]) => m.training)).toBe(true);
    model.train(false);
    expect(model.namedModules().some(([, m]) => m.training)).toBe(false);
    model.dispose();
  });
});

describe('Module: state dicts', () => {
  itNoLeaks('round trip into a differently seeded twin gives identical outputs, same tensor objects', () => {
    const a = new Sequential(new Conv2d(2, 3, 3, { seed: 1, padding: 1 }), new BatchNorm1d(3, {}), new ReLU());
    const b = new Sequential(new Conv2d(2, 3, 3, { seed: 99, padding: 1 }), new BatchNorm1d(3, {}), new ReLU());
    const before = b.parameters();
    const snapshot = a.stateDict({ clone: true });
    expect(b.loadStateDict(snapshot)).toEqual({ missingKeys: [], unexpectedKeys: [] });
    expect(b.parameters()).toEqual(before);
    for (const [name, t] of a.stateDict()) expect(values(b.stateDict().get(name)!)).toEqual(values(t));
    expect(b.parameters().every((p) => p.requiresGrad)).toBe(true);
    for (const t of snapshot.values()) t.dispose();
    a.dispose();
    b.dispose();
  });

  itNoLeaks('a cloned state dict is a snapshot: later assigns do not change it', () => {
    const model = new Linear(2, 2, { seed: 3 });
    const snapshot = model.stateDict({ clone: true });
    const original = values(model.weight);
    noGrad(() => scope(() => model.weight.assign(add(model.weight, 1))));
    expect(values(snapshot.get('weight')!)).toEqual(original);
    model.loadStateDict(snapshot);
    expect(values(model.weight)).toEqual(original);
    for (const t of snapshot.values()) t.dispose();
    model.dispose();
  });

  itNoLeaks('plain objects are accepted; loading the module\'s own state dict is a no-op', () => {
    const model = new Linear(2, 2, { seed: 3 });
    const w = values(model.weight);
    model.loadStateDict(Object.fromEntries(model.stateDict()));
    expect(values(model.weight)).toEqual(w);
    model.dispose();
  });

  itNoLeaks('missing and unexpected keys are named; strict: false loads the rest and reports them', () => {
    const model = new Sequential(new Linear(2, 2, { seed: 1 }), new Linear(2, 1, { seed: 2 }));
    const extra = zeros([1]);
    const entries = new Map(model.stateDict());
    entries.delete('1.bias');
    entries.set('2.weight', extra);
    const error = expectMinnowError(() => model.loadStateDict(entries), 'INVALID_ARGUMENT', 'missing keys 1.bias', 'unexpected keys 2.weight');
    expect(error).toBeInstanceOf(MinnowError);
    const replacement = zeros([2, 2]);
    entries.set('0.weight', replacement);
    expect(model.loadStateDict(entries, { strict: false })).toEqual({ missingKeys: ['1.bias'], unexpectedKeys: ['2.weight'] });
    expect(values(model.at(0)!.stateDict().get('weight')!)).toEqual([0, 0, 0, 0]);
    for (const t of [extra, replacement]) t.dispose();
    model.dispose();
  });

  itNoLeaks('shape, dtype and backend mismatches are named and change nothing', async () => {
    const model = new Sequential(new Linear(2, 2, { seed: 1 }), new Linear(2, 1, { seed: 2 }));
    const original = model.parameters().map(values);
    const good = zeros([2, 2]);
    const entries = new Map(model.stateDict());
    entries.set('0.weight', good);
    const badShape = zeros([1, 3]);
    entries.set('1.weight', badShape);
    expectMinnowError(() => model.loadStateDict(entries), 'SHAPE_MISMATCH', '"1.weight"', '[1,3]', '[1,2]');
    expect(model.parameters().map(values)).toEqual(original); // 0.weight was not written either
    const badDType = zeros([1, 2], { dtype: 'float64' });
    entries.set('1.weight', badDType);
    expectMinnowError(() => model.loadStateDict(entries), 'DTYPE_MISMATCH', '"1.weight"', 'float64', 'float32');
    await init({ name: 'js-other', create: async () => createJsBackend('js-other') });
    const elsewhere = zeros([1, 2], { backend: 'js-other' });
    entries.set('1.weight', elsewhere);
    expectMinnowError(() => model.loadStateDict(entries), 'BACKEND_MISMATCH', '"1.weight"', 'js-other');
    expect(model.parameters().map(values)).toEqual(original);
    for (const t of [good, badShape, badDType, elsewhere]) t.dispose();
    model.dispose();
  });
});

describe('Module: moving between backends', () => {
  it('to() replaces every parameter and buffer with a copy there, frees the old ones, keeps values and requiresGrad', async () => {
    await init({ name: 'js-moved', create: async () => createJsBackend('js-moved') });
    const baseline = liveTensors();
    const model = new Sequential(new Linear(3, 2, { seed: 5 }), new BatchNorm1d(2), new Tied());
    const count = model.stateDict().size;
    const old = model.stateDict();
    const oldValues = [...old.values()].map(values);
    await model.to('js-moved');
    expect([...old.values()].every((t) => t.isDisposed)).toBe(true);
    const moved = model.stateDict();
    expect(moved.size).toBe(count);
    expect([...moved.values()].every((t) => t.backend.name === 'js-moved')).toBe(true);
    expect([...moved.values()].map(values)).toEqual(oldValues);
    expect(model.parameters().every((p) => p.requiresGrad)).toBe(true);
    // Tied parameters stay tied.
    expect(moved.get('2.a.weight')).toBe(moved.get('2.b.weight'));
    // The layers read their parameters by name, so forward and backward work on the new backend.
    const x = tensor([[1, 2, 3], [0, -1, 2]], { backend: 'js-moved' });
    const loss = scope(() => sum(model.forward(x)));
    loss.backward();
    const trained = model.namedParameters().filter(([name]) => !name.startsWith('2.'));
    expect(trained.every(([, p]) => p.grad !== null && p.grad.backend.name === 'js-moved')).toBe(true);
    for (const t of [x, loss]) t.dispose();
    model.dispose();
    expect(liveTensors()).toBe(baseline);
    expect(getBackend('js-moved').memory().buffers).toBe(0);
  });
});

describe('Module: memory', () => {
  itNoLeaks('forward + backward + zeroGrad + dispose returns to the baseline', () => {
    const before = liveTensors();
    const model = new Sequential(new Linear(4, 8, { seed: new Random(1) }), new ReLU(), new Dropout(0.2, { seed: 3 }), new Linear(8, 2, { seed: 2 }));
    const x = tensor([[1, 2, 3, 4], [-1, 0, 1, 2]]);
    const loss = scope(() => sum(model.forward(x)));
    loss.backward();
    loss.dispose();
    expect(model.parameters().every((p) => p.grad !== null)).toBe(true);
    model.zeroGrad();
    expect(model.parameters().every((p) => p.grad === null)).toBe(true);
    model.dispose();
    x.dispose();
    expect(liveTensors()).toBe(before);
  });
});
