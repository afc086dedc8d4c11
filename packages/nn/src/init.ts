import { MinnowError, Random, formatShape, full, randomNormal, randomUniform, type Tensor } from '@minnow/core';

/**
 * Weight initialisers, as PyTorch's torch.nn.init defines them, returning new tensors. Every random
 * one takes a seed or a Random: pass one Random to several calls to give them different draws from
 * one replayable stream (a number seeds a fresh stream per call).
 *
 * To re-initialise a layer in place: `noGrad(() => layer.weight.assign(kaimingNormal(...)))`.
 */

/** A seed for a fresh stream, or a Random whose stream the draws continue. */
export type Seed = number | Random;

export type Nonlinearity = 'linear' | 'sigmoid' | 'tanh' | 'relu' | 'leakyRelu';

export interface InitOptions {
  readonly seed: Seed;
  /** float32 (default) or float64. */
  readonly dtype?: 'float32' | 'float64';
  /** A backend name; defaults to the default backend. */
  readonly backend?: string;
}

export interface KaimingOptions extends InitOptions {
  /** The negative slope of the leaky ReLU that follows (default 0: plain ReLU). */
  readonly a?: number;
  /** Preserve the variance of activations ('fanIn', the default) or of gradients ('fanOut'). */
  readonly mode?: 'fanIn' | 'fanOut';
  /** Default 'leakyRelu' (with `a` = 0 that is ReLU's gain, sqrt 2), as PyTorch. */
  readonly nonlinearity?: Nonlinearity;
}

export interface XavierOptions extends InitOptions {
  /** Scales the result (default 1); `calculateGain(...)` gives the usual values. */
  readonly gain?: number;
}

/** A Random from a seed, or the Random itself (its stream continues). */
export function toRandom(op: string, seed: Seed | undefined): Random {
  if (seed instanceof Random) return seed;
  if (typeof seed !== 'number' || !Number.isFinite(seed)) {
    throw new MinnowError('INVALID_ARGUMENT', `${op}: a seed (a finite number or a Random) is required so results can be replayed`);
  }
  return new Random(seed);
}

/**
 * The recommended gain for a nonlinearity (PyTorch's calculate_gain): 1 for linear and sigmoid,
 * 5/3 for tanh, sqrt(2) for ReLU, sqrt(2 / (1 + slope^2)) for leaky ReLU (slope default 0.01).
 */
export function calculateGain(nonlinearity: Nonlinearity, slope?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leakyRelu': {
      const s = slope ?? 0.01;
      if (!Number.isFinite(s)) throw new MinnowError('INVALID_ARGUMENT', `calculateGain: leaky ReLU slope must be finite, got ${s}`);
      return Math.sqrt(2 / (1 + s * s));
    }
    default:
      throw new MinnowError('INVALID_ARGUMENT', `calculateGain: unknown nonlinearity ${JSON.stringify(nonlinearity)}`);
  }
}

/**
 * fan_in and fan_out of a weight laid out [out, in, ...kernel] (Linear [out, in], Conv2d
 * [out, in/groups, kH, kW]): in (or out) times the kernel's size.
 */
export function computeFans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) {
    throw new MinnowError('INVALID_SHAPE', `computeFans: fan in and fan out need a weight of rank >= 2, got ${formatShape(shape)}`);
  }
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/** Uniform in [-bound, bound] with bound = gain * sqrt(3 / fan) (He et al. 2015). */
export function kaimingUniform(shape: readonly number[], options: KaimingOptions): Tensor {
  const std = kaimingStd('kaimingUniform', shape, options);
  const bound = Math.sqrt(3) * std;
  return uniformInit(shape, -bound, bound, options);
}

/** Normal with mean 0 and std = gain / sqrt(fan) (He et al. 2015). */
export function kaimingNormal(shape: readonly number[], options: KaimingOptions): Tensor {
  const std = kaimingStd('kaimingNormal', shape, options);
  return randomNormal(shape, { seed: toRandom('kaimingNormal', options.seed), std, dtype: options.dtype, backend: options.backend });
}

/** Uniform in [-bound, bound] with bound = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010). */
export function xavierUniform(shape: readonly number[], options: XavierOptions): Tensor {
  const bound = Math.sqrt(3) * xavierStd('xavierUniform', shape, options);
  return uniformInit(shape, -bound, bound, options);
}

/** Normal with mean 0 and std = gain * sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio 2010). */
export function xavierNormal(shape: readonly number[], options: XavierOptions): Tensor {
  const std = xavierStd('xavierNormal', shape, options);
  return randomNormal(shape, { seed: toRandom('xavierNormal', options.seed), std, dtype: options.dtype, backend: options.backend });
}

/** Uniform in [low, high). */
export function uniformInit(shape: readonly number[], low: number, high: number, options: InitOptions): Tensor {
  if (!Number.isFinite(low) || !Number.isFinite(high) || low > high) {
    throw new MinnowError('INVALID_ARGUMENT', `uniformInit: bounds [${low}, ${high}] must be finite with low <= high`);
  }
  return randomUniform(shape, { seed: toRandom('uniformInit', options.seed), low, high, dtype: options.dtype, backend: options.backend });
}

/** Zeros (named apart from core's `zeros` so both can be imported together); no randomness, no seed. */
export function zerosInit(shape: readonly number[], options: Omit<InitOptions, 'seed'> = {}): Tensor {
  return full(shape, 0, { dtype: options.dtype ?? 'float32', backend: options.backend });
}

/** Ones (named apart from core's `ones`); no randomness, no seed. */
export function onesInit(shape: readonly number[], options: Omit<InitOptions, 'seed'> = {}): Tensor {
  return full(shape, 1, { dtype: options.dtype ?? 'float32', backend: options.backend });
}

function kaimingStd(op: string, shape: readonly number[], options: KaimingOptions): number {
  const { fanIn, fanOut } = computeFans(shape);
  const mode = options.mode ?? 'fanIn';
  if (mode !== 'fanIn' && mode !== 'fanOut') throw new MinnowError('INVALID_ARGUMENT', `${op}: mode must be 'fanIn' or 'fanOut', got ${JSON.stringify(mode)}`);
  const fan = mode === 'fanIn' ? fanIn : fanOut;
  if (fan === 0) throw new MinnowError('INVALID_SHAPE', `${op}: ${mode} of shape ${formatShape(shape)} is 0`);
  const gain = calculateGain(options.nonlinearity ?? 'leakyRelu', options.a ?? 0);
  return gain / Math.sqrt(fan);
}

function xavierStd(op: string, shape: readonly number[], options: XavierOptions): number {
  const { fanIn, fanOut } = computeFans(shape);
  if (fanIn + fanOut === 0) throw new MinnowError('INVALID_SHAPE', `${op}: shape ${formatShape(shape)} has no fan`);
  const gain = options.gain ?? 1;
  if (!Number.isFinite(gain)) throw new MinnowError('INVALID_ARGUMENT', `${op}: gain must be finite, got ${gain}`);
  return gain * Math.sqrt(2 / (fanIn + fanOut));
}
