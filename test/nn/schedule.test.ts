import { describe, expect, it } from 'vitest';
import { scope, square, sum, tensor } from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import {
  CosineAnnealingLR, LambdaLR, LinearWarmup, MultiStepLR, OneCycleLR, SGD, StepLR, type LRSchedule, type ScheduledOptimizer,
} from '@minnow/nn';

/**
 * Schedules against closed forms and against PyTorch's own recursive (chainable) forms, simulated
 * here in float64 as torch.optim.lr_scheduler computes them step by step.
 */

const groups = (...lrs: number[]): ScheduledOptimizer & { paramGroups: { lr: number; initialLr?: number }[] } => ({ paramGroups: lrs.map((lr) => ({ lr })) });

/** The lr of every group at steps 0..n (constructing the schedule counts as step 0). */
function sequence(opt: ScheduledOptimizer, schedule: LRSchedule, n: number): number[][] {
  const out = [opt.paramGroups.map((g) => g.lr)];
  const start = schedule.lastStep;
  expect(schedule.lr).toEqual(out[0]);
  for (let t = 1; t <= n; t++) {
    schedule.step();
    out.push(opt.paramGroups.map((g) => g.lr));
    expect(schedule.lr).toEqual(out[t]);
    expect(schedule.lastStep).toBe(start + t);
  }
  return out;
}

function expectSequence(actual: number[][], expected: number[][], tol = 1e-12): void {
  expect(actual.length).toBe(expected.length);
  actual.forEach((row, t) =>
    row.forEach((lr, g) => {
      if (!(Math.abs(lr - expected[t][g]) <= tol * Math.max(1, Math.abs(expected[t][g])))) {
        throw new Error(`step ${t}, group ${g}: lr ${lr}, expected ${expected[t][g]}`);
      }
    }),
  );
}

describe('StepLR and MultiStepLR', () => {
  it('StepLR: base · γ^⌊t/stepSize⌋ per group (the PyTorch docs example: 0.05 → 0.005 at 30 → 0.0005 at 60)', () => {
    const opt = groups(0.05, 0.2);
    const lrs = sequence(opt, new StepLR(opt, { stepSize: 30, gamma: 0.1 }), 95);
    expectSequence(lrs, lrs.map((_, t) => [0.05, 0.2].map((b) => b * 0.1 ** Math.floor(t / 30))));
    expect(lrs[29][0]).toBe(0.05);
    expect(lrs[30][0]).toBeCloseTo(0.005, 15);
    expect(lrs[60][0]).toBeCloseTo(0.0005, 15);
  });

  it('MultiStepLR: γ per milestone passed, unsorted and repeated milestones as PyTorch (a Counter)', () => {
    const opt = groups(0.05);
    const lrs = sequence(opt, new MultiStepLR(opt, { milestones: [80, 30, 80], gamma: 0.1 }), 100);
    expectSequence(lrs, lrs.map((_, t) => [0.05 * (t < 30 ? 1 : t < 80 ? 0.1 : 0.001)]));
  });

  it('refuses bad options with MinnowErrors', () => {
    const opt = groups(0.1);
    expect(() => new StepLR(opt, { stepSize: 0 })).toThrow(/stepSize must be a positive integer/);
    expect(() => new StepLR(opt, { stepSize: 2, gamma: -1 })).toThrow(/gamma/);
    expect(() => new MultiStepLR(opt, { milestones: [3, 1.5] })).toThrow(/milestone must be a positive integer/);
    expect(() => new CosineAnnealingLR(opt, { tMax: 0 })).toThrow(/tMax/);
    expect(() => new LinearWarmup(opt, { steps: 5, startFactor: 0 })).toThrow(/startFactor must be in \(0, 1\]/);
    expect(() => new StepLR({ paramGroups: [] }, { stepSize: 1 })).toThrow(/at least one parameter group/);
  });
});

/** PyTorch's CosineAnnealingLR.get_lr(): the recursive form that step() uses. */
function torchCosine(base: number, etaMin: number, tMax: number, n: number, start = base): number[] {
  const out = [start];
  let lr = start;
  for (let t = 1; t <= n; t++) {
    if ((t - 1 - tMax) % (2 * tMax) === 0) lr = lr + ((base - etaMin) * (1 - Math.cos(Math.PI / tMax))) / 2;
    else lr = ((1 + Math.cos((Math.PI * t) / tMax)) / (1 + Math.cos((Math.PI * (t - 1)) / tMax))) * (lr - etaMin) + etaMin;
    out.push(lr);
  }
  return out;
}

describe('CosineAnnealingLR', () => {
  it('follows ηmin + (base − ηmin)(1 + cos(πt/tMax))/2 and agrees with PyTorch\'s recursive form over three periods', () => {
    const opt = groups(0.1, 0.03);
    const lrs = sequence(opt, new CosineAnnealingLR(opt, { tMax: 10, etaMin: 0.001 }), 30);
    expectSequence(lrs, lrs.map((_, t) => [0.1, 0.03].map((b) => 0.001 + ((b - 0.001) * (1 + Math.cos((Math.PI * t) / 10))) / 2)));
    const torch = [torchCosine(0.1, 0.001, 10, 30), torchCosine(0.03, 0.001, 10, 30)];
    expectSequence(lrs, lrs.map((_, t) => [torch[0][t], torch[1][t]]), 1e-10);
    expect(lrs[10][0]).toBeCloseTo(0.001, 15);
    expect(lrs[20][0]).toBeCloseTo(0.1, 15);
  });
});

/** PyTorch's LinearLR.get_lr() (end_factor 1), recursive. */
function torchLinear(base: number, start: number, total: number, n: number): number[] {
  const out = [base * start];
  let lr = out[0];
  for (let t = 1; t <= n; t++) {
    if (t <= total) lr = lr * (1 + (1 - start) / (total * start + (t - 1) * (1 - start)));
    out.push(lr);
  }
  return out;
}

describe('LinearWarmup', () => {
  it('alone: base·(s + (1 − s)t/steps), then base; agrees with PyTorch LinearLR', () => {
    const opt = groups(0.1);
    const lrs = sequence(opt, new LinearWarmup(opt, { startFactor: 0.25, steps: 4 }), 8);
    expectSequence(lrs, lrs.map((_, t) => [0.1 * (t < 4 ? 0.25 + (0.75 * t) / 4 : 1)]));
    expectSequence(lrs, torchLinear(0.1, 0.25, 4, 8).map((lr) => [lr]), 1e-12);
  });

  it('warm-up then cosine, per group: PyTorch SequentialLR([LinearLR, CosineAnnealingLR], milestones=[steps])', () => {
    const opt = groups(0.1, 0.5);
    const cosine = new CosineAnnealingLR(opt, { tMax: 12, etaMin: 0.01 });
    const schedule = new LinearWarmup(opt, { startFactor: 0.1, steps: 5, then: cosine });
    const lrs = sequence(opt, schedule, 40);
    const expected = lrs.map((_, t) =>
      [0.1, 0.5].map((b) => (t < 5 ? b * (0.1 + (0.9 * t) / 5) : 0.01 + ((b - 0.01) * (1 + Math.cos((Math.PI * (t - 5)) / 12))) / 2)),
    );
    expectSequence(lrs, expected);
    // As torch: LinearLR's recursive steps until the milestone, then the cosine's recursive steps from its step 0.
    const torch = [0.1, 0.5].map((b) => [...torchLinear(b, 0.1, 5, 4), ...torchCosine(b, 0.01, 12, 35)]);
    expectSequence(lrs, lrs.map((_, t) => [torch[0][t], torch[1][t]]), 1e-10);
    expect(() => cosine.step()).toThrow(/driven by LinearWarmup/);
    expect(() => new LinearWarmup(groups(0.1), { steps: 2, then: new StepLR(groups(0.1), { stepSize: 1 }) })).toThrow(/another optimiser/);
  });

  it('counts from each group\'s initialLr, as PyTorch\'s initial_lr, whichever schedule is made first', () => {
    const opt = groups(0.2);
    const first = new StepLR(opt, { stepSize: 1, gamma: 0.5 });
    first.step();
    expect(opt.paramGroups[0]).toEqual({ lr: 0.1, initialLr: 0.2 });
    const second = new CosineAnnealingLR(opt, { tMax: 4 });
    expect(second.baseLrs).toEqual([0.2]);
    expect(opt.paramGroups[0].lr).toBe(0.2);
  });
});

describe('OneCycleLR (cycle_momentum=False)', () => {
  /** torch OneCycleLR.get_lr() transcribed. */
  function torchOneCycle(maxLr: number, total: number, pct: number, strategy: 'cos' | 'linear', div: number, finalDiv: number, three: boolean): number[] {
    const initial = maxLr / div;
    const min = initial / finalDiv;
    const phases = three
      ? [{ end: pct * total - 1, s: initial, e: maxLr }, { end: 2 * pct * total - 2, s: maxLr, e: initial }, { end: total - 1, s: initial, e: min }]
      : [{ end: pct * total - 1, s: initial, e: maxLr }, { end: total - 1, s: maxLr, e: min }];
    const anneal = (s: number, e: number, p: number): number => (strategy === 'cos' ? e + ((s - e) / 2) * (Math.cos(Math.PI * p) + 1) : (e - s) * p + s);
    return Array.from({ length: total + 1 }, (_, t) => {
      let start = 0;
      for (let i = 0; i < phases.length; i++) {
        if (t <= phases[i].end || i === phases.length - 1) return anneal(phases[i].s, phases[i].e, (t - start) / (phases[i].end - start));
        start = phases[i].end;
      }
      throw new Error('unreachable');
    });
  }

  for (const [strategy, three] of [['cos', false], ['linear', false], ['cos', true], ['linear', true]] as const) {
    it(`${strategy}${three ? ', three phases' : ''}: the lr sequence of torch's closed form; past totalSteps is OUT_OF_RANGE`, () => {
      const opt = groups(123, 456);
      const schedule = new OneCycleLR(opt, { maxLr: [0.1, 1], totalSteps: 20, pctStart: 0.25, annealStrategy: strategy, divFactor: 10, finalDivFactor: 100, threePhase: three });
      const lrs = sequence(opt, schedule, 20);
      const t0 = torchOneCycle(0.1, 20, 0.25, strategy, 10, 100, three);
      const t1 = torchOneCycle(1, 20, 0.25, strategy, 10, 100, three);
      expectSequence(lrs, lrs.map((_, t) => [t0[t], t1[t]]));
      expectSequence([lrs[0]], [[0.01, 0.1]]); // initial = max / divFactor
      expect(lrs[4][0]).toBeCloseTo(0.1, 15); // the peak at pct·total − 1
      expect(lrs[19][1]).toBeCloseTo(0.001, 12); // min = max / div / finalDiv at total − 1
      expect(() => schedule.step()).toThrow(expect.objectContaining({ code: 'OUT_OF_RANGE' }));
      expect(schedule.lastStep).toBe(20);
      expect(opt.paramGroups.map((g) => g.lr)).toEqual(lrs[20]);
    });
  }
});

describe('LambdaLR, checkpoints, and driving a real optimiser', () => {
  it('LambdaLR: base · factor(t, group)', () => {
    const opt = groups(1, 2);
    const lrs = sequence(opt, new LambdaLR(opt, (t, g) => 0.9 ** t * (g + 1)), 10);
    expectSequence(lrs, lrs.map((_, t) => [0.9 ** t, 2 * 2 * 0.9 ** t]));
    expect(() => new LambdaLR(groups(1), () => Number.NaN)).toThrow(/not a finite number/);
  });

  it('stateDict/loadStateDict resumes the same sequence on a fresh optimiser', () => {
    const make = (opt: ScheduledOptimizer): LRSchedule => new LinearWarmup(opt, { startFactor: 0.2, steps: 3, then: new CosineAnnealingLR(opt, { tMax: 7 }) });
    const a = groups(0.3);
    const first = make(a);
    for (let t = 0; t < 5; t++) first.step();
    const dict = first.stateDict();
    const rest = sequence(a, first, 6).slice(1);
    const b = groups(999);
    const second = make(b);
    second.loadStateDict(JSON.parse(JSON.stringify(dict)) as typeof dict);
    expect(b.paramGroups[0].lr).toBe(first.lrAt(5));
    expect(second.lastStep).toBe(5);
    for (const expected of rest) {
      second.step();
      expect([b.paramGroups[0].lr]).toEqual(expected);
    }
    expect(() => second.loadStateDict({ lastStep: 1, baseLrs: [1, 2] })).toThrow(/need 1 finite base lr/);
    expect(() => second.loadStateDict({ lastStep: 1, baseLrs: [1] })).toThrow(/0 inner schedule state/);
    expect(second.lastStep).toBe(11);
  });

  itNoLeaks('an SGD step uses the lr its schedule set, per group', () => {
    const p = tensor([1], { dtype: 'float64', requiresGrad: true });
    const q = tensor([1], { dtype: 'float64', requiresGrad: true });
    const opt = new SGD([{ params: [p] }, { params: [q], lr: 0.01 }], { lr: 0.1 });
    const schedule = new StepLR(opt, { stepSize: 1, gamma: 0.5 });
    let expectedP = 1;
    let expectedQ = 1;
    for (let t = 0; t < 4; t++) {
      scope(() => sum(square(p)).backward());
      scope(() => sum(square(q)).backward());
      opt.step();
      opt.zeroGrad();
      expectedP -= 0.1 * 0.5 ** t * 2 * expectedP;
      expectedQ -= 0.01 * 0.5 ** t * 2 * expectedQ;
      schedule.step();
      expect(p.dataSync()[0]).toBeCloseTo(expectedP, 14);
      expect(q.dataSync()[0]).toBeCloseTo(expectedQ, 14);
    }
    expect(opt.paramGroups.map((g) => g.lr)).toEqual([0.1 / 16, 0.01 / 16]);
    opt.dispose();
    p.dispose();
    q.dispose();
  });
});
