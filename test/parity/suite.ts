import * as m from '@minnow/core';
import { ParityFailure, leakChecked } from './compare.js';
import { castCase, quantizeCase } from './conversion.js';
import { elementwiseCases } from './elementwise.js';
import { linalgCases } from './linalg.js';
import { movementCases } from './movement.js';
import { type ParityCase, type ParityProfile, resolveProfile, type Settings } from './profile.js';
import { reductionCases } from './reductions.js';

/**
 * Backend parity, framework-free: every primitive on a backend against the reference backend 'js',
 * on random shapes (empty, size 1, odd sizes) and non-contiguous views, with fast-check from a
 * fixed seed. Tolerances: exact where both sides round once (+ - * / sqrt, comparisons, moves,
 * casts, integers); the profile's transcendentalRtol for exp, log, tanh and pow; accumulation-length
 * bounds (times accumulationSlack) for sums and products.
 *
 * Each case is synchronous, throws on a mismatch (ParityFailure, or fast-check's error carrying it
 * with the counterexample), and fails when it leaves live tensors or backend buffers behind. Run
 * them under a test runner (`for (const c of parityCases(profile)) it(c.name, c.run)`) or in a page.
 * Only '@minnow/core' and 'fast-check' are imported here, so esbuild can bundle it for a browser.
 */

export { ParityFailure, type ParityCase, type ParityProfile };

export function parityCases(profile: ParityProfile): ParityCase[] {
  const s = resolveProfile(profile);
  const cases: (ParityCase | null)[] = [
    ...elementwiseCases(s),
    ...reductionCases(s),
    castCase(s),
    quantizeCase(s),
    ...linalgCases(s),
    ...movementCases(s),
    freesWhatItAllocates(s),
  ];
  const names = new Set<string>();
  return cases
    .filter((c): c is ParityCase => c !== null)
    .map((c) => {
      if (names.has(c.name)) throw new Error(`parityCases: duplicate case name "${c.name}"`);
      names.add(c.name);
      return leakChecked(s.backend, c.name, c.run);
    });
}

/** A composed op (softmax) over a random tensor created on the backend leaves no buffer behind. */
function freesWhatItAllocates(s: Settings): ParityCase | null {
  if (!s.has('float32')) return null;
  return {
    name: 'frees what it allocates (softmax of randomNormal)',
    run: () => {
      m.scope(() => {
        const x = m.randomNormal([64, 33], { seed: 1, backend: s.backend });
        m.softmax(m.add(x, 1)).dataSync();
      });
    },
  };
}
