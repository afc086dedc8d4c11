import { describe, expect } from 'vitest';
import {
  Random, add, getBackend, liveTensors, matmul, mean, mul, scope, square, sub, sum, tensor, zeros, type DType, type Tensor,
} from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import {
  Adam, AdamW, SGD, type AdamOptions, type Optimizer, type OptimizerStateDict, type SGDOptions,
} from '@minnow/nn';

/**
 * Optimisers against plain float64 re-implementations of PyTorch's update rules (torch.optim.SGD,
 * Adam, AdamW; single-tensor path). The loss is f(p) = Σ a·p²/2 + b·p, whose gradient a·p + b the
 * references compute from their own trajectory, so every step of the tensor optimiser is checked.
 */

type Vec = number[];

interface RefState {
  step: number;
  buf?: Vec;
  m?: Vec;
  v?: Vec;
  vmax?: Vec;
}

function refSGD(p: Vec, grad: Vec, s: RefState, h: SGDOptions): Vec {
  let g = grad.map((gi, i) => gi + h.weightDecay * p[i]);
  if (h.momentum !== 0) {
    if (!s.buf) s.buf = g.slice();
    else s.buf = s.buf.map((b, i) => h.momentum * b + (1 - h.dampening) * g[i]);
    const buf = s.buf;
    g = h.nesterov ? g.map((gi, i) => gi + h.momentum * buf[i]) : buf.slice();
  }
  return p.map((pi, i) => pi - h.lr * g[i]);
}

function refAdam(p: Vec, grad: Vec, s: RefState, h: AdamOptions, decoupled: boolean): Vec {
  const [b1, b2] = h.betas;
  s.step++;
  let g = grad;
  if (h.weightDecay !== 0) {
    if (decoupled) p = p.map((pi) => pi * (1 - h.lr * h.weightDecay));
    else g = g.map((gi, i) => gi + h.weightDecay * p[i]);
  }
  s.m = (s.m ?? p.map(() => 0)).map((mi, i) => b1 * mi + (1 - b1) * g[i]);
  s.v = (s.v ?? p.map(() => 0)).map((vi, i) => b2 * vi + (1 - b2) * g[i] * g[i]);
  const v = s.v;
  s.vmax = (s.vmax ?? p.map(() => 0)).map((x, i) => Math.max(x, v[i]));
  const second = h.amsgrad ? s.vmax : s.v;
  const bc1 = 1 - b1 ** s.step;
  const bc2 = 1 - b2 ** s.step;
  const m = s.m;
  return p.map((pi, i) => pi - (h.lr / bc1) * (m[i] / (Math.sqrt(second[i]) / Math.sqrt(bc2) + h.eps)));
}

/** A problem instance: curvature a > 0 and offset b, per element. */
interface Problem {
  p0: Vec;
  a: Vec;
  b: Vec;
}

function problem(seed: number, n: number): Problem {
  const r = new Random(seed);
  return {
    p0: Array.from({ length: n }, () => 4 * r.uniform() - 2),
    a: Array.from({ length: n }, () => 0.2 + 2 * r.uniform()),
    b: Array.from({ length: n }, () => 2 * r.uniform() - 1),
  };
}

const gradOf = (pr: Problem, p: Vec): Vec => p.map((pi, i) => pr.a[i] * pi + pr.b[i]);

/** Backward of f(p) = Σ a·p²/2 + b·p into p.grad, leaving nothing else alive. */
function backwardQuadratic(p: Tensor, a: Tensor, b: Tensor): void {
  scope(() => sum(add(mul(mul(a, square(p)), 0.5), mul(b, p))).backward());
}

function expectClose(actual: ArrayLike<number>, expected: Vec, rtol: number, atol: number, what: string): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    if (!(err <= atol + rtol * Math.abs(expected[i]))) {
      throw new Error(`${what}: element ${i} is ${actual[i]}, reference ${expected[i]} (|err| ${err})`);
    }
  }
}

type Make = (params: Tensor[]) => Optimizer<SGDOptions> | Optimizer<AdamOptions>;
type RefStep = (p: Vec, g: Vec, s: RefState) => Vec;

/** Runs `steps` optimiser steps on the quadratic, checks every step against `refStep`, and returns the trajectory. */
function checkTrajectory(make: Make, refStep: RefStep, dtype: DType, steps: number, seed: number): Vec[] {
  const pr = problem(seed, 7);
  const tol = dtype === 'float64' ? { rtol: 1e-12, atol: 1e-13 } : { rtol: 2e-5, atol: 2e-6 };
  const p = tensor(pr.p0, { dtype, requiresGrad: true });
  const a = tensor(pr.a, { dtype });
  const b = tensor(pr.b, { dtype });
  const opt = make([p]);
  const state: RefState = { step: 0 };
  let expected = pr.p0.slice();
  const trajectory: Vec[] = [];
  for (let t = 1; t <= steps; t++) {
    backwardQuadratic(p, a, b);
    opt.step();
    opt.zeroGrad();
    expected = refStep(expected, gradOf(pr, expected), state);
    const got = Array.from(p.dataSync());
    expectClose(got, expected, tol.rtol * t, tol.atol * t, `step ${t}`);
    trajectory.push(got);
  }
  opt.dispose();
  for (const t of [p, a, b]) t.dispose();
  return trajectory;
}

const SGD_CASES: [string, Partial<SGDOptions>][] = [
  ['plain', { lr: 0.1 }],
  ['momentum', { lr: 0.05, momentum: 0.9 }],
  ['momentum + dampening', { lr: 0.05, momentum: 0.9, dampening: 0.3 }],
  ['nesterov', { lr: 0.05, momentum: 0.8, nesterov: true }],
  ['weight decay', { lr: 0.1, weightDecay: 0.05 }],
  ['momentum + dampening + weight decay', { lr: 0.03, momentum: 0.7, dampening: 0.1, weightDecay: 0.2 }],
  ['nesterov + weight decay', { lr: 0.04, momentum: 0.95, nesterov: true, weightDecay: 0.01 }],
];

const ADAM_CASES: [string, 'Adam' | 'AdamW', Partial<AdamOptions>][] = [
  ['Adam defaults', 'Adam', { lr: 0.05 }],
  ['Adam amsgrad', 'Adam', { lr: 0.1, amsgrad: true }],
  ['Adam amsgrad, fast β2 (v̂ departs from v)', 'Adam', { lr: 0.1, amsgrad: true, betas: [0.9, 0.6] }],
  ['Adam L2 weight decay', 'Adam', { lr: 0.05, weightDecay: 0.1 }],
  ['Adam L2 weight decay + amsgrad, custom betas', 'Adam', { lr: 0.05, weightDecay: 0.1, amsgrad: true, betas: [0.8, 0.9] }],
  ['Adam large eps (outside the sqrt)', 'Adam', { lr: 0.05, eps: 0.1 }],
  ['AdamW defaults (decoupled 1e-2)', 'AdamW', { lr: 0.05 }],
  ['AdamW amsgrad, strong decay', 'AdamW', { lr: 0.05, weightDecay: 0.5, amsgrad: true }],
];

describe('SGD matches torch.optim.SGD step by step', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const [name, options] of SGD_CASES) {
      itNoLeaks(`${name} (${dtype})`, () => {
        const h: SGDOptions = { lr: 1e-3, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, ...options };
        checkTrajectory((params) => new SGD(params, options), (p, g, s) => refSGD(p, g, s, h), dtype, 12, 11);
      });
    }
  }
});

describe('Adam and AdamW match torch.optim step by step', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    for (const [name, kind, options] of ADAM_CASES) {
      itNoLeaks(`${name} (${dtype})`, () => {
        const defaults: AdamOptions = { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: kind === 'AdamW' ? 1e-2 : 0, amsgrad: false };
        const h: AdamOptions = { ...defaults, ...options };
        const make: Make = (params) => (kind === 'Adam' ? new Adam(params, options) : new AdamW(params, options));
        checkTrajectory(make, (p, g, s) => refAdam(p, g, s, h, kind === 'AdamW'), dtype, 15, 23);
      });
    }
  }

  itNoLeaks('amsgrad and decoupled decay change the trajectory (the options are not ignored)', () => {
    const run = (make: Make, h: AdamOptions, decoupled: boolean): Vec =>
      checkTrajectory(make, (p, g, s) => refAdam(p, g, s, h, decoupled), 'float64', 15, 23).at(-1)!;
    // A fast second-moment decay (β2 = 0.6) so v falls as the gradients shrink and v̂ = max(v̂, v) departs from it.
    const base: AdamOptions = { lr: 0.1, betas: [0.9, 0.6], eps: 1e-8, weightDecay: 0.1, amsgrad: false };
    const plain = run((ps) => new Adam(ps, base), base, false);
    const ams = run((ps) => new Adam(ps, { ...base, amsgrad: true }), { ...base, amsgrad: true }, false);
    const decoupled = run((ps) => new AdamW(ps, base), base, true);
    expect(Math.max(...plain.map((x, i) => Math.abs(x - ams[i])))).toBeGreaterThan(1e-3);
    expect(Math.max(...plain.map((x, i) => Math.abs(x - decoupled[i])))).toBeGreaterThan(1e-3);
  });
});

describe('parameter groups, lr and zeroGrad', () => {
  itNoLeaks('each group steps with its own hyperparameters; options it omits come from the defaults', () => {
    const pr1 = problem(5, 4);
    const pr2 = problem(6, 3);
    const p1 = tensor(pr1.p0, { dtype: 'float64', requiresGrad: true });
    const p2 = tensor(pr2.p0, { dtype: 'float64', requiresGrad: true });
    const consts = [pr1.a, pr1.b, pr2.a, pr2.b].map((v) => tensor(v, { dtype: 'float64' }));
    const opt = new SGD([{ params: [p1] }, { params: [p2], lr: 0.01, nesterov: true }], { lr: 0.1, momentum: 0.9 });
    expect(opt.paramGroups.map((g) => [g.lr, g.momentum, g.nesterov])).toEqual([[0.1, 0.9, false], [0.01, 0.9, true]]);
    const h1: SGDOptions = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false };
    const h2: SGDOptions = { ...h1, lr: 0.01, nesterov: true };
    let r1 = pr1.p0.slice();
    let r2 = pr2.p0.slice();
    const s1: RefState = { step: 0 };
    const s2: RefState = { step: 0 };
    for (let t = 0; t < 6; t++) {
      if (t === 3) {
        opt.paramGroups[0].lr = 0.02; // as a schedule would
        h1.lr = 0.02;
      }
      backwardQuadratic(p1, consts[0], consts[1]);
      backwardQuadratic(p2, consts[2], consts[3]);
      opt.step();
      opt.zeroGrad();
      r1 = refSGD(r1, gradOf(pr1, r1), s1, h1);
      r2 = refSGD(r2, gradOf(pr2, r2), s2, h2);
      expectClose(p1.dataSync(), r1, 1e-12, 1e-13, `group 0, step ${t + 1}`);
      expectClose(p2.dataSync(), r2, 1e-12, 1e-13, `group 1, step ${t + 1}`);
    }
    expect(() => opt.lr).toThrow(/different learning rates/);
    opt.lr = 0.5;
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.5, 0.5]);
    expect(opt.lr).toBe(0.5);
    opt.dispose();
    for (const t of [p1, p2, ...consts]) t.dispose();
  });

  itNoLeaks('addParamGroup adds parameters with their own options', () => {
    const p1 = tensor([1, 2], { requiresGrad: true });
    const p2 = tensor([3], { requiresGrad: true });
    const opt = new Adam([p1], { lr: 0.1 });
    opt.addParamGroup({ params: [p2], lr: 0.5, amsgrad: true });
    expect(opt.paramGroups[1]).toMatchObject({ lr: 0.5, amsgrad: true, eps: 1e-8 });
    expect(() => opt.addParamGroup({ params: [p1] })).toThrow(/more than once/);
    opt.dispose();
    p1.dispose();
    p2.dispose();
  });

  itNoLeaks('zeroGrad clears grads; a step without grads changes nothing; parameters without a grad are skipped', () => {
    const p = tensor([1, -2, 3], { requiresGrad: true });
    const q = tensor([5, 6], { requiresGrad: true });
    const opt = new SGD([p, q], { lr: 0.1, momentum: 0.9 });
    scope(() => sum(square(p)).backward());
    expect(p.grad).not.toBeNull();
    opt.step();
    expect(Array.from(p.dataSync())).toEqual(Array.from(new Float32Array([1 - 0.2, -2 + 0.4, 3 - 0.6])));
    expect(Array.from(q.dataSync())).toEqual([5, 6]);
    expect(opt.state.has(q)).toBe(false);
    expect(opt.state.get(p)!.step).toBe(1);
    opt.zeroGrad();
    expect(p.grad).toBeNull();
    const before = Array.from(p.dataSync());
    opt.step();
    expect(Array.from(p.dataSync())).toEqual(before);
    expect(opt.state.get(p)!.step).toBe(1);
    opt.dispose();
    p.dispose();
    q.dispose();
  });

  itNoLeaks('refuses bad parameters and hyperparameters with MinnowErrors that name them', () => {
    const p = tensor([1, 2], { requiresGrad: true });
    scope(() => {
      expect(() => new SGD([])).toThrow(/empty parameter list/);
      expect(() => new SGD([mul(p, 2)])).toThrow(/not a leaf/);
      expect(() => new SGD([tensor([1], { dtype: 'int32' })])).toThrow(/only float32 and float64/);
      expect(() => new SGD([p, p])).toThrow(/more than once/);
      expect(() => new SGD(p as unknown as Tensor[])).toThrow(/wrap it in an array/);
      expect(() => new SGD([p], { lr: -1 })).toThrow(/lr must be a finite number >= 0/);
      expect(() => new SGD([p], { nesterov: true })).toThrow(/Nesterov momentum needs momentum > 0/);
      expect(() => new SGD([p], { momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(/dampening 0/);
      expect(() => new SGD([{ params: [p], lr: Number.NaN }])).toThrow(/group 0.*lr/);
      expect(() => new Adam([p], { betas: [0.9, 1] })).toThrow(/betas must be two numbers in \[0, 1\)/);
      expect(() => new AdamW([p], { eps: -1 })).toThrow(/AdamW.*eps/);
    });
    const opt = new SGD([p], { lr: 0.1 });
    opt.paramGroups[0].lr = Number.POSITIVE_INFINITY;
    expect(() => opt.step()).toThrow(/group 0.*lr/);
    opt.dispose();
    expect(() => opt.step()).toThrow(expect.objectContaining({ code: 'DISPOSED' }));
    p.dispose();
  });
});

describe('state: no leaks, checkpoints', () => {
  for (const [name, make] of [
    ['SGD nesterov + weight decay', (ps: Tensor[]) => new SGD(ps, { lr: 0.01, momentum: 0.9, nesterov: true, weightDecay: 0.1 })],
    ['Adam amsgrad + weight decay', (ps: Tensor[]) => new Adam(ps, { lr: 0.01, amsgrad: true, weightDecay: 0.1 })],
    ['AdamW', (ps: Tensor[]) => new AdamW(ps, { lr: 0.01 })],
  ] as const) {
    itNoLeaks(`${name}: every step returns liveTensors and backend buffers to the baseline; dispose() frees the state`, () => {
      const p = tensor([[1, 2, 3], [4, 5, 6]], { requiresGrad: true });
      const opt = make([p]);
      const x = tensor([0.5, -1, 2]);
      const loss = (): void => scope(() => sum(square(matmul(p, x))).backward());
      loss();
      opt.step();
      opt.zeroGrad();
      const tensors = liveTensors();
      const buffers = getBackend().memory().buffers;
      for (let t = 0; t < 5; t++) {
        loss();
        scope(() => opt.step()); // a caller's scope does not take the optimiser's state
        opt.zeroGrad();
        expect([liveTensors(), getBackend().memory().buffers]).toEqual([tensors, buffers]);
      }
      expect(Object.values(opt.state.get(p)!.buffers).every((b) => !b.isDisposed)).toBe(true);
      opt.dispose();
      p.dispose();
      x.dispose();
    });
  }

  const disposeDict = (dict: OptimizerStateDict<SGDOptions> | OptimizerStateDict<AdamOptions>): void => {
    for (const s of dict.state) if (s) for (const t of Object.values(s.buffers)) t.dispose();
  };

  for (const [name, make] of [
    ['SGD momentum + dampening', (ps: Tensor[]) => new SGD(ps, { lr: 0.05, momentum: 0.9, dampening: 0.2 })],
    ['Adam amsgrad', (ps: Tensor[]) => new Adam(ps, { lr: 0.05, amsgrad: true })],
    ['AdamW, two groups', (ps: Tensor[]) => new AdamW([{ params: [ps[0]] }, { params: [ps[1]], lr: 0.2 }], { lr: 0.05 })],
  ] as const) {
    itNoLeaks(`${name}: stateDict/loadStateDict resumes identically`, () => {
      const pr = problem(31, 6);
      const consts = [[pr.a.slice(0, 4), pr.b.slice(0, 4)], [pr.a.slice(4), pr.b.slice(4)]].map((pair) => pair.map((v) => tensor(v, { dtype: 'float64' })));
      const makeParams = (values: Vec): Tensor[] => [tensor(values.slice(0, 4), { dtype: 'float64', requiresGrad: true }), tensor(values.slice(4), { dtype: 'float64', requiresGrad: true })];
      const backwardBoth = (ps: Tensor[]): void => ps.forEach((p, i) => backwardQuadratic(p, consts[i][0], consts[i][1]));
      const values = (ps: Tensor[]): Vec => ps.flatMap((p) => Array.from(p.dataSync()));
      const run = (opt: Optimizer<SGDOptions> | Optimizer<AdamOptions>, ps: Tensor[], steps: number): Vec[] =>
        Array.from({ length: steps }, () => {
          backwardBoth(ps);
          opt.step();
          opt.zeroGrad();
          return values(ps);
        });

      const original = makeParams(pr.p0);
      const first = make(original);
      run(first, original, 4);
      const dict = first.stateDict();
      const snapshot = values(original);
      const continued = run(first, original, 5);

      const resumedParams = makeParams(snapshot);
      const resumed = make(resumedParams);
      resumed.paramGroups.forEach((g) => (g.lr = 123)); // loadStateDict restores the hyperparameters too
      resumed.loadStateDict(dict as never);
      expect(resumed.paramGroups.map((g) => g.lr)).toEqual(first.paramGroups.map((g) => g.lr));
      expect(run(resumed, resumedParams, 5)).toEqual(continued);
      // The dict holds copies: the optimisers moved on, it did not.
      expect(dict.state[0]!.step).toBe(4);
      disposeDict(dict);
      first.dispose();
      resumed.dispose();
      for (const t of [...original, ...resumedParams, ...consts.flat()]) t.dispose();
    });
  }

  itNoLeaks('loadStateDict refuses a dict that does not fit, and leaves the state alone', () => {
    const p = tensor([1, 2, 3], { requiresGrad: true });
    const q = tensor([1, 2], { requiresGrad: true });
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9 });
    scope(() => sum(square(p)).backward());
    opt.step();
    const other = new SGD([q], { lr: 0.1, momentum: 0.9 });
    scope(() => sum(square(q)).backward());
    other.step();
    const wrongShape = other.stateDict();
    expect(() => opt.loadStateDict(wrongShape)).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => opt.loadStateDict({ ...wrongShape, paramGroups: [] })).toThrow(/0 parameter group/);
    expect(opt.state.get(p)!.step).toBe(1);
    disposeDict(wrongShape);
    for (const t of [p, q]) t.zeroGrad();
    opt.dispose();
    other.dispose();
    p.dispose();
    q.dispose();
  });
});

describe('convergence: linear regression with each optimiser', () => {
  const cases: [string, (ps: Tensor[]) => Optimizer<SGDOptions> | Optimizer<AdamOptions>, number][] = [
    ['SGD', (ps) => new SGD(ps, { lr: 0.1 }), 300],
    ['SGD momentum', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9 }), 200],
    ['SGD nesterov + weight decay 1e-4', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true, weightDecay: 1e-4 }), 200],
    ['Adam', (ps) => new Adam(ps, { lr: 0.05 }), 400],
    ['Adam amsgrad', (ps) => new Adam(ps, { lr: 0.05, amsgrad: true }), 400],
    ['AdamW (weight decay 1e-4)', (ps) => new AdamW(ps, { lr: 0.05, weightDecay: 1e-4 }), 400],
  ];
  for (const [name, make, steps] of cases) {
    itNoLeaks(`${name} fits y = Xw + b`, () => {
      const r = new Random(7);
      const n = 64;
      const trueW = [1.5, -2, 0.5];
      const trueB = 0.3;
      const xs = Array.from({ length: n * 3 }, () => 2 * r.uniform() - 1);
      const ys = Array.from({ length: n }, (_, i) => trueW.reduce((acc, w, j) => acc + w * xs[i * 3 + j], trueB));
      const X = tensor(xs, [n, 3]);
      const y = tensor(ys, [n, 1]);
      const w = zeros([3, 1], { requiresGrad: true });
      const bias = zeros([1], { requiresGrad: true });
      const opt = make([w, bias]);
      let last = Infinity;
      for (let t = 0; t < steps; t++) {
        last = scope(() => {
          const loss = mean(square(sub(add(matmul(X, w), bias), y)));
          loss.backward();
          return loss.itemSync();
        });
        opt.step();
        opt.zeroGrad();
      }
      expect(last).toBeLessThan(1e-4);
      expectClose(w.dataSync(), trueW, 0, 2e-2, `${name}: w`);
      expectClose(bias.dataSync(), [trueB], 0, 2e-2, `${name}: b`);
      opt.dispose();
      for (const t of [X, y, w, bias]) t.dispose();
    });
  }
});
