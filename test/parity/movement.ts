import fc from 'fast-check';
import * as m from '@minnow/core';
import { both, values } from './arbitraries.js';
import { EXACT, ParityFailure, expectParity } from './compare.js';
import type { ParityCase, Settings } from './profile.js';

/** gather and pad over every dtype the backend holds (exact), and gather's range check. */

function gatherPadCase(s: Settings, dtype: m.DType): ParityCase {
  return {
    name: `gather and pad (${dtype}, wide rows, negative indices and pads)`,
    run: () =>
      fc.assert(
        fc.property(
          fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 16, max: 90 }),
          fc.integer({ min: 0, max: 1 }), fc.tuple(fc.integer({ min: -1, max: 2 }), fc.integer({ min: -1, max: 2 }), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 3 })),
          fc.constantFrom(0, -0, 3), fc.integer(),
          (a, b, width, axis, pads, value, seed) => {
            const rng = new m.Random(seed);
            const shape = [a, b, width];
            const data = values(m.sizeOf(shape), rng, dtype === 'bool' ? [0, 1] : dtype === 'uint8' ? [0, 255] : [-100, 100], dtype);
            const dim = shape[axis];
            const idx = Int32Array.from({ length: 5 }, () => rng.int(2 * dim) - dim);
            // Negative pads crop; keep the crop within the first dim.
            const first: [number, number] = a + Math.min(0, pads[0]) + Math.min(0, pads[1]) >= 0 ? [pads[0], pads[1]] : [0, 0];
            const padSpec: [number, number][] = [first, [pads[2], 0], [pads[3], 1]];
            const r = both(s.backend, [{ data, shape, dtype }, { data: idx, shape: [5], dtype: 'int32' }], ([x, i]) =>
              m.concat([m.reshape(m.gather(x, i, axis), [-1]), m.reshape(m.pad(x, padSpec, dtype === 'bool' ? 0 : value), [-1])], 0),
            );
            expectParity(r.got, r.expected, EXACT, `gather axis ${axis} then pad [${padSpec.map((p) => p.join(' ')).join(', ')}] of [${shape.join(', ')}]`);
          },
        ),
        s.runs(20),
      ),
  };
}

/** An out-of-range index is OUT_OF_RANGE naming the index, its position and the axis size; nothing leaks (checked by the caller). */
function gatherOutOfRangeCase(s: Settings): ParityCase {
  return {
    name: 'gather rejects an out-of-range index (float32 wide rows, OUT_OF_RANGE, no leak)',
    run: () => {
      for (const bad of [4, -5]) {
        let error: unknown;
        m.scope(() => {
          const x = m.zeros([4, 32], { backend: s.backend });
          try {
            m.gather(x, m.tensor([1, bad], { dtype: 'int32', backend: s.backend }), 0);
          } catch (e) {
            error = e;
          }
        });
        const pattern = new RegExp(`index ${bad} at position 1 .* size 4`);
        if (!(error instanceof m.MinnowError) || error.code !== 'OUT_OF_RANGE' || !pattern.test(error.message)) {
          throw new ParityFailure(`gather index ${bad} of axis size 4: got ${error instanceof m.MinnowError ? `${error.code}: ${error.message}` : String(error)}, expected OUT_OF_RANGE matching ${pattern}`);
        }
      }
    },
  };
}

export function movementCases(s: Settings): ParityCase[] {
  if (!s.has('int32')) return []; // gather indices are int32
  const cases = s.dtypes.map((dtype) => gatherPadCase(s, dtype));
  if (s.has('float32')) cases.push(gatherOutOfRangeCase(s));
  return cases;
}
