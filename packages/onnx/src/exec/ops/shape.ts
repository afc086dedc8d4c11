import type { OperatorTable } from '../operator.js';
import { densifySparse } from '../sparse.js';
import { Value } from '../value.js';
import { createOperators } from './shape/create.js';
import { gatherOperators } from './shape/gather.js';
import { padOperators } from './shape/pad.js';
import { resizeOperators } from './shape/resize.js';
import { scatterOperators } from './shape/scatter.js';
import { slicingOperators } from './shape/slicing.js';
import { viewOperators } from './shape/views.js';

/**
 * Shape and movement ops: Constant and Shape here; the rest, grouped by what they do, in shape/.
 * Small host values (shape arithmetic) are moved on the host, everything else on the device: see
 * shape/movable.ts.
 */

const CONSTANT_FORMS = ['value', 'value_float', 'value_floats', 'value_int', 'value_ints', 'sparse_value', 'value_string', 'value_strings'];

const constantOperators: OperatorTable = {
  Constant: {
    run: (ctx) => {
      const given = CONSTANT_FORMS.filter((f) => ctx.attrs.has(f));
      if (given.length !== 1) throw ctx.error('INVALID_MODEL', `exactly one of ${CONSTANT_FORMS.join(', ')} must be set, found ${given.length}`);
      switch (given[0]) {
        case 'value': return [Value.fromProto(ctx.attrs.tensor('value'))];
        case 'value_float': return [Value.fromHost(1, [], Float32Array.of(ctx.attrs.float('value_float')))];
        case 'value_floats': return [Value.fromHost(1, [ctx.attrs.floats('value_floats').length], Float32Array.from(ctx.attrs.floats('value_floats')))];
        case 'value_int': return [Value.int64([ctx.attrs.int('value_int')], [])];
        case 'value_ints': return [Value.int64(ctx.attrs.ints('value_ints'))];
        case 'sparse_value': {
          const sparse = ctx.attrs.raw('sparse_value')?.sparseTensor;
          if (sparse === undefined) throw ctx.error('INVALID_MODEL', 'attribute sparse_value holds no sparse tensor');
          return [densifySparse(sparse)];
        }
        default: throw ctx.error('UNSUPPORTED_DTYPE', `Constant ${given[0]}: strings are not computed by minnow`);
      }
    },
  },
  Shape: {
    run: (ctx) => {
      const shape = ctx.input(0).shape;
      const rank = shape.length;
      const clampAxis = (a: number): number => Math.min(Math.max(a < 0 ? a + rank : a, 0), rank);
      const start = clampAxis(ctx.attrs.int('start', 0));
      const end = clampAxis(ctx.attrs.int('end', rank));
      return [Value.int64(shape.slice(start, Math.max(start, end)))];
    },
  },
};

export const shapeOperators: OperatorTable = {
  ...constantOperators,
  ...viewOperators,
  ...slicingOperators,
  ...gatherOperators,
  ...scatterOperators,
  ...padOperators,
  ...createOperators,
  ...resizeOperators,
};
