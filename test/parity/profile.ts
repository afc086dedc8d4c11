import type { DType } from '@minnow/core';

/**
 * What a backend under test is, and how far it may stray from the reference backend 'js'. Only
 * '@minnow/core' and 'fast-check' are imported under test/parity/, so a browser page can bundle
 * the suite with esbuild and run it without a test runner.
 */
export interface ParityProfile {
  /** Name of an initialised backend, compared against the initialised 'js' backend. */
  readonly backend: string;
  /** dtypes the backend holds. Cases and random dtype choices outside this list are skipped (the gpu backend refuses float64). */
  readonly dtypes: readonly DType[];
  /** Relative tolerance for exp, log, tanh, pow; default 2 ** -21 (wasm). The gpu backend will pass something looser, e.g. 2 ** -16. */
  readonly transcendentalRtol?: number;
  /** Extra absolute tolerance factor for accumulations (sum, matmul, conv) on top of the current n*eps bounds; default 1. */
  readonly accumulationSlack?: number;
  /** Multiplies every fast-check numRuns (software-rendered GPU is slow); default 1; at least 1 run per property. */
  readonly runScale?: number;
  /** Largest |integer| the backend holds exactly in int32 (gpu: 2 ** 24). Keep int32 test data and int32 results (e.g. mul of int32) within it. Default Infinity. */
  readonly int32Limit?: number;
}

export interface ParityCase {
  readonly name: string;
  run(): void;
}

/** Every property runs from this seed, so a failure replays. */
export const SEED = 20261127;

/** A profile with its defaults filled in, as the case builders use it. */
export interface Settings {
  readonly backend: string;
  readonly dtypes: readonly DType[];
  readonly transcendentalRtol: number;
  readonly accumulationSlack: number;
  readonly int32Limit: number;
  /** True when the backend holds every one of `dtypes`. */
  has(...dtypes: DType[]): boolean;
  /** fast-check parameters: the fixed seed, `n` runs scaled by runScale (at least 1), the failure's message in the report. */
  runs(n: number): { seed: number; numRuns: number; includeErrorInReport: true };
}

export function resolveProfile(profile: ParityProfile): Settings {
  const positive = (value: number | undefined, fallback: number, what: string): number => {
    const v = value ?? fallback;
    if (!(v > 0)) throw new RangeError(`parity profile for "${profile.backend}": ${what} must be > 0, got ${v}`);
    return v;
  };
  const scale = positive(profile.runScale, 1, 'runScale');
  const dtypes = [...profile.dtypes];
  return {
    backend: profile.backend,
    dtypes,
    transcendentalRtol: positive(profile.transcendentalRtol, 2 ** -21, 'transcendentalRtol'),
    accumulationSlack: positive(profile.accumulationSlack, 1, 'accumulationSlack'),
    int32Limit: positive(profile.int32Limit, Infinity, 'int32Limit'),
    has: (...wanted) => wanted.every((d) => dtypes.includes(d)),
    runs: (n) => ({ seed: SEED, numRuns: Math.max(1, Math.round(n * scale)), includeErrorInReport: true }),
  };
}
