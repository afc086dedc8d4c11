import { MinnowError } from '@minnow/core';

/**
 * Learning-rate schedules after torch.optim.lr_scheduler, in their closed forms: each schedule is a
 * function of the step count t and a group's base lr, so schedules compose (LinearWarmup hands over
 * to another) and a checkpoint is just t. Constructing one sets the lr for t = 0; step() advances t
 * and sets every group's lr. Call it after optimizer.step(), once per epoch or per batch as the
 * schedule was sized.
 */

/** What a schedule drives: the optimiser's parameter groups (any minnow optimiser). */
export interface ScheduledOptimizer {
  readonly paramGroups: readonly { lr: number; initialLr?: number }[];
}

export interface ScheduleStateDict {
  readonly lastStep: number;
  readonly baseLrs: readonly number[];
  /** The states of the schedules this one drives (LinearWarmup's `then`). */
  readonly inner?: readonly ScheduleStateDict[];
}

export abstract class LRSchedule {
  private t = 0;
  private readonly base: number[];
  private driver: LRSchedule | null = null;
  private readonly driven: LRSchedule[] = [];

  protected constructor(
    readonly optimizer: ScheduledOptimizer,
    /** The schedule's name, used in error messages. */
    readonly name: string,
    baseLrs?: readonly number[],
  ) {
    if (!optimizer || !Array.isArray(optimizer.paramGroups) || optimizer.paramGroups.length === 0) {
      throw new MinnowError('INVALID_ARGUMENT', `${name}: needs an optimiser with at least one parameter group`);
    }
    // As PyTorch: the first schedule records each group's lr as `initialLr`; later ones count from it.
    this.base = baseLrs ? [...baseLrs] : optimizer.paramGroups.map((g) => (g.initialLr ??= g.lr));
  }

  /** The closed form: group `group`'s lr after `step` steps, given its base lr. */
  protected abstract closedForm(step: number, baseLr: number, group: number): number;

  /** The lr of group `group` after `step` steps (what step() would set). */
  lrAt(step: number, group = 0): number {
    if (!Number.isInteger(step) || step < 0) throw new MinnowError('INVALID_ARGUMENT', `${this.name}.lrAt: step must be an integer >= 0, got ${step}`);
    if (!Number.isInteger(group) || group < 0 || group >= this.base.length) {
      throw new MinnowError('OUT_OF_RANGE', `${this.name}.lrAt: group ${group} of ${this.base.length}`);
    }
    return this.closedForm(step, this.base[group], group);
  }

  /** How many times step() has run (PyTorch's last_epoch). */
  get lastStep(): number {
    return this.t;
  }

  /** The base lr of each group, which the schedule scales. */
  get baseLrs(): readonly number[] {
    return this.base;
  }

  /** The lr this schedule sets for each group now (PyTorch's get_last_lr()). */
  get lr(): number[] {
    return this.base.map((_, i) => this.lrAt(this.t, i));
  }

  /** Advances one step and sets every group's lr. */
  step(): void {
    if (this.driver) {
      throw new MinnowError('INVALID_ARGUMENT', `${this.name}.step: this schedule is driven by ${this.driver.name}; step that one instead`);
    }
    this.apply(this.t + 1);
  }

  stateDict(): ScheduleStateDict {
    const dict = { lastStep: this.t, baseLrs: [...this.base] };
    return this.driven.length > 0 ? { ...dict, inner: this.driven.map((s) => s.stateDict()) } : dict;
  }

  /** Restores a checkpoint (with the schedules this one drives) and sets the groups' lrs for its step. */
  loadStateDict(dict: ScheduleStateDict): void {
    this.checkStateDict(dict);
    const saved = this.snapshot();
    try {
      this.restore(dict);
      this.apply(dict.lastStep);
    } catch (error) {
      this.restore(saved);
      throw error;
    }
  }

  private checkStateDict(dict: ScheduleStateDict): void {
    if (!Number.isInteger(dict.lastStep) || dict.lastStep < 0) {
      throw new MinnowError('INVALID_ARGUMENT', `${this.name}.loadStateDict: lastStep must be an integer >= 0, got ${dict.lastStep}`);
    }
    if (!Array.isArray(dict.baseLrs) || dict.baseLrs.length !== this.base.length || !dict.baseLrs.every((b) => typeof b === 'number' && Number.isFinite(b))) {
      throw new MinnowError('INVALID_ARGUMENT', `${this.name}.loadStateDict: need ${this.base.length} finite base lr(s), one per group, got ${JSON.stringify(dict.baseLrs)}`);
    }
    const inner = dict.inner ?? [];
    if (inner.length !== this.driven.length) {
      throw new MinnowError('INVALID_ARGUMENT', `${this.name}.loadStateDict: the dict has ${inner.length} inner schedule state(s), this schedule drives ${this.driven.length}`);
    }
    this.driven.forEach((s, i) => s.checkStateDict(inner[i]));
  }

  private snapshot(): ScheduleStateDict {
    return { lastStep: this.t, baseLrs: [...this.base], inner: this.driven.map((s) => s.snapshot()) };
  }

  /** Sets step and base lrs (recursively), without touching the optimiser. */
  private restore(dict: ScheduleStateDict): void {
    this.base.splice(0, this.base.length, ...dict.baseLrs);
    this.t = dict.lastStep;
    this.driven.forEach((s, i) => s.restore(dict.inner![i]));
  }

  /**
   * Moves to `step` and sets each group's lr for it; nothing changes if the closed form throws.
   * Subclasses call it (with no argument: step 0) at the end of their constructor.
   */
  protected apply(step = this.t): void {
    const groups = this.optimizer.paramGroups;
    if (groups.length !== this.base.length) {
      throw new MinnowError('INVALID_ARGUMENT', `${this.name}: the optimiser has ${groups.length} parameter group(s) but the schedule was made for ${this.base.length}`);
    }
    const lrs = groups.map((_, i) => this.lrAt(step, i));
    this.t = step;
    groups.forEach((g, i) => (g.lr = lrs[i]));
  }

  /** Marks `inner` as driven by this schedule (its step() then refuses to run on its own). */
  protected adopt(inner: LRSchedule): void {
    if (inner.optimizer !== this.optimizer) {
      throw new MinnowError('INVALID_ARGUMENT', `${this.name}: the schedule to hand over to (${inner.name}) drives another optimiser`);
    }
    if (inner.driver) throw new MinnowError('INVALID_ARGUMENT', `${this.name}: ${inner.name} is already driven by ${inner.driver.name}`);
    inner.driver = this;
    this.driven.push(inner);
  }
}

/** lr = base · γ^⌊t / stepSize⌋ (torch StepLR). */
export class StepLR extends LRSchedule {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: ScheduledOptimizer, options: { stepSize: number; gamma?: number }) {
    super(optimizer, 'StepLR');
    this.stepSize = positiveInteger('StepLR', 'stepSize', options.stepSize);
    this.gamma = nonNegative('StepLR', 'gamma', options.gamma ?? 0.1);
    this.apply();
  }

  protected closedForm(t: number, base: number): number {
    return base * this.gamma ** Math.floor(t / this.stepSize);
  }
}

/** lr = base · γ^(number of milestones ≤ t) (torch MultiStepLR; a repeated milestone counts twice). */
export class MultiStepLR extends LRSchedule {
  readonly milestones: readonly number[];
  readonly gamma: number;

  constructor(optimizer: ScheduledOptimizer, options: { milestones: readonly number[]; gamma?: number }) {
    super(optimizer, 'MultiStepLR');
    if (!Array.isArray(options.milestones)) throw new MinnowError('INVALID_ARGUMENT', 'MultiStepLR: milestones must be an array of step counts');
    this.milestones = Object.freeze([...options.milestones].map((m) => positiveInteger('MultiStepLR', 'milestone', m)).sort((a, b) => a - b));
    this.gamma = nonNegative('MultiStepLR', 'gamma', options.gamma ?? 0.1);
    this.apply();
  }

  protected closedForm(t: number, base: number): number {
    return base * this.gamma ** this.milestones.filter((m) => m <= t).length;
  }
}

/** lr = ηmin + (base − ηmin)·(1 + cos(π·t / tMax)) / 2 (torch CosineAnnealingLR's closed form; periodic past tMax). */
export class CosineAnnealingLR extends LRSchedule {
  readonly tMax: number;
  readonly etaMin: number;

  constructor(optimizer: ScheduledOptimizer, options: { tMax: number; etaMin?: number }) {
    super(optimizer, 'CosineAnnealingLR');
    this.tMax = positiveInteger('CosineAnnealingLR', 'tMax', options.tMax);
    this.etaMin = nonNegative('CosineAnnealingLR', 'etaMin', options.etaMin ?? 0);
    this.apply();
  }

  protected closedForm(t: number, base: number): number {
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * t) / this.tMax))) / 2;
  }
}

/** lr = base · factor(t), for a factor function of your own (torch LambdaLR). */
export class LambdaLR extends LRSchedule {
  private readonly factor: (step: number, group: number) => number;

  constructor(optimizer: ScheduledOptimizer, factor: (step: number, group: number) => number) {
    super(optimizer, 'LambdaLR');
    if (typeof factor !== 'function') throw new MinnowError('INVALID_ARGUMENT', 'LambdaLR: factor must be a function of the step (and group index)');
    this.factor = factor;
    this.apply();
  }

  protected closedForm(t: number, base: number, group: number): number {
    const f = this.factor(t, group);
    if (typeof f !== 'number' || !Number.isFinite(f)) throw new MinnowError('INVALID_ARGUMENT', `LambdaLR: factor(${t}, ${group}) returned ${String(f)}, not a finite number`);
    return base * f;
  }
}

/**
 * Linear warm-up: lr = base · (s + (1 − s)·t / steps) for t < steps, with start factor s; from then
 * on `then`'s lr at t − steps (or base without one). That is torch's LinearLR(start_factor=s,
 * total_iters=steps) followed by SequentialLR(milestones=[steps]) handing over to `then`. Make
 * `then` on the same optimiser first, and step only the warm-up.
 */
export class LinearWarmup extends LRSchedule {
  readonly startFactor: number;
  readonly steps: number;
  readonly then: LRSchedule | null;

  constructor(optimizer: ScheduledOptimizer, options: { startFactor?: number; steps: number; then?: LRSchedule }) {
    super(optimizer, 'LinearWarmup');
    const s = options.startFactor ?? 1 / 3;
    if (typeof s !== 'number' || !(s > 0 && s <= 1)) {
      throw new MinnowError('INVALID_ARGUMENT', `LinearWarmup: startFactor must be in (0, 1], got ${String(s)}`);
    }
    this.startFactor = s;
    this.steps = positiveInteger('LinearWarmup', 'steps', options.steps);
    this.then = options.then ?? null;
    if (this.then) this.adopt(this.then);
    this.apply();
  }

  protected closedForm(t: number, base: number, group: number): number {
    if (t < this.steps) return base * (this.startFactor + ((1 - this.startFactor) * t) / this.steps);
    return this.then ? this.then.lrAt(t - this.steps, group) : base;
  }
}

export interface OneCycleOptions {
  /** The peak lr, for every group or one per group. */
  readonly maxLr: number | readonly number[];
  /** The number of steps in the cycle; stepping past it is OUT_OF_RANGE. */
  readonly totalSteps: number;
  /** Fraction of the cycle spent increasing the lr (default 0.3). */
  readonly pctStart?: number;
  readonly annealStrategy?: 'cos' | 'linear';
  /** initial lr = maxLr / divFactor (default 25). */
  readonly divFactor?: number;
  /** min lr = initial lr / finalDivFactor (default 1e4). */
  readonly finalDivFactor?: number;
  /** Three phases (up, back down to the initial lr, then to the min lr) instead of two (default false). */
  readonly threePhase?: boolean;
}

/**
 * The one-cycle policy (torch OneCycleLR with cycle_momentum=False: only the lr is scheduled, momentum
 * and betas are left alone). The lr rises from maxLr/divFactor to maxLr over pctStart of the cycle,
 * then anneals to the min lr; each phase interpolates by cos or linearly on pct = (t − start)/(end − start).
 */
export class OneCycleLR extends LRSchedule {
  private readonly phases: readonly { end: number; from: 'initial' | 'max' | 'min'; to: 'initial' | 'max' | 'min' }[];
  private readonly levels: readonly { initial: number; max: number; min: number }[];
  readonly totalSteps: number;
  readonly annealStrategy: 'cos' | 'linear';

  constructor(optimizer: ScheduledOptimizer, options: OneCycleOptions) {
    const n = optimizer?.paramGroups?.length ?? 0;
    const maxLrs = typeof options.maxLr === 'number' ? new Array<number>(n).fill(options.maxLr) : [...options.maxLr];
    if (maxLrs.length !== n) throw new MinnowError('INVALID_ARGUMENT', `OneCycleLR: ${maxLrs.length} maxLr value(s) for ${n} parameter group(s)`);
    maxLrs.forEach((m) => nonNegative('OneCycleLR', 'maxLr', m));
    const divFactor = positive('OneCycleLR', 'divFactor', options.divFactor ?? 25);
    const finalDivFactor = positive('OneCycleLR', 'finalDivFactor', options.finalDivFactor ?? 1e4);
    super(optimizer, 'OneCycleLR', maxLrs.map((m) => m / divFactor));
    this.totalSteps = positiveInteger('OneCycleLR', 'totalSteps', options.totalSteps);
    const pct = options.pctStart ?? 0.3;
    if (typeof pct !== 'number' || !(pct >= 0 && pct <= 1)) throw new MinnowError('INVALID_ARGUMENT', `OneCycleLR: pctStart must be in [0, 1], got ${String(pct)}`);
    const strategy = options.annealStrategy ?? 'cos';
    if (strategy !== 'cos' && strategy !== 'linear') throw new MinnowError('INVALID_ARGUMENT', `OneCycleLR: annealStrategy must be "cos" or "linear", got ${String(strategy)}`);
    this.annealStrategy = strategy;
    const total = this.totalSteps;
    this.phases = options.threePhase
      ? [
          { end: pct * total - 1, from: 'initial', to: 'max' },
          { end: 2 * pct * total - 2, from: 'max', to: 'initial' },
          { end: total - 1, from: 'initial', to: 'min' },
        ]
      : [
          { end: pct * total - 1, from: 'initial', to: 'max' },
          { end: total - 1, from: 'max', to: 'min' },
        ];
    this.levels = maxLrs.map((max) => ({ initial: max / divFactor, max, min: max / divFactor / finalDivFactor }));
    optimizer.paramGroups.forEach((g, i) => (g.initialLr = this.levels[i].initial));
    this.apply();
  }

  protected closedForm(t: number, _base: number, group: number): number {
    if (t > this.totalSteps) {
      throw new MinnowError('OUT_OF_RANGE', `OneCycleLR: stepped ${t} times, past the cycle's totalSteps ${this.totalSteps}`);
    }
    const level = this.levels[group];
    let start = 0;
    for (let i = 0; i < this.phases.length; i++) {
      const phase = this.phases[i];
      if (t <= phase.end || i === this.phases.length - 1) {
        const pct = (t - start) / (phase.end - start);
        const from = level[phase.from];
        const to = level[phase.to];
        return this.annealStrategy === 'cos' ? to + ((from - to) / 2) * (Math.cos(Math.PI * pct) + 1) : (to - from) * pct + from;
      }
      start = phase.end;
    }
    throw new MinnowError('INTERNAL', 'OneCycleLR: no phase matched');
  }
}

function positiveInteger(schedule: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new MinnowError('INVALID_ARGUMENT', `${schedule}: ${name} must be a positive integer, got ${String(value)}`);
  }
  return value;
}

function nonNegative(schedule: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new MinnowError('INVALID_ARGUMENT', `${schedule}: ${name} must be a finite number >= 0, got ${String(value)}`);
  }
  return value;
}

function positive(schedule: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new MinnowError('INVALID_ARGUMENT', `${schedule}: ${name} must be a finite number > 0, got ${String(value)}`);
  }
  return value;
}
