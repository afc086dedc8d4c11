import { describe, expect } from 'vitest';
import fc from 'fast-check';
import {
  MinnowError, add, conv2d, exp, expand, flatten, gather, matmul, maximum, mul, normalizeAxis, permute, reshape, resolveReshape,
  scope, slice, softmax, squeeze, sub, sum, tensor, transpose, unsqueeze, where, zeros, type Tensor,
} from '@minnow/core';
import { itNoLeaks } from '../helpers/leaks.js';
import { arbShape, expectMinnowError, runs, size } from '../helpers/reference.js';

const fmt = (s: readonly number[]) => `[${s.join(',')}]`;

describe('shape mismatches name the op and both shapes', () => {
  itNoLeaks('add [2,3] + [4]', () => {
    scope(() => {
      const err = expectMinnowError(() => add(zeros([2, 3]), zeros([4])), 'SHAPE_MISMATCH', 'add', '[2,3]', '[4]');
      expect(err).toBeInstanceOf(MinnowError);
      expect(err).toBeInstanceOf(Error);
      expect(err.name).toBe('MinnowError');
    });
  });

  itNoLeaks('every binary op on random incompatible shapes', () => {
    fc.assert(fc.property(arbShape(1, 3, 4, false), arbShape(1, 3, 4, false), fc.constantFrom(['add', add], ['sub', sub], ['mul', mul], ['max', maximum]) as fc.Arbitrary<[string, typeof add]>,
      (a, b, [name, op]) => {
        const lead = Math.min(a.length, b.length);
        const clash = a.slice(-lead).some((d, i) => { const e = b.slice(-lead)[i]; return d !== e && d !== 1 && e !== 1; });
        if (!clash) return;
        scope(() => {
          expectMinnowError(() => op(zeros(a), zeros(b)), 'SHAPE_MISMATCH', name, fmt(a), fmt(b));
        });
      }), runs(1201, 100));
  });

  itNoLeaks('where with incompatible branches names all shapes', () => {
    scope(() => {
      expectMinnowError(() => where(zeros([2], { dtype: 'bool' }), zeros([3]), zeros([2])), 'SHAPE_MISMATCH', 'where', '[2]', '[3]');
    });
  });

  itNoLeaks('matmul [2,3] x [4,5]', () => {
    scope(() => {
      expectMinnowError(() => matmul(zeros([2, 3]), zeros([4, 5])), 'SHAPE_MISMATCH', 'matmul', '[2,3]', '[4,5]');
      expectMinnowError(() => matmul(zeros([3]), zeros([4])), 'SHAPE_MISMATCH', 'matmul');
      expectMinnowError(() => matmul(zeros([2, 2, 3]), zeros([3, 3, 1])), 'SHAPE_MISMATCH', 'matmul', '[2]', '[3]');
    });
  });

  itNoLeaks('conv2d group mismatch', () => {
    scope(() => {
      expectMinnowError(() => conv2d(zeros([1, 6, 4, 4]), zeros([4, 4, 3, 3]), { groups: 2 }), 'SHAPE_MISMATCH', 'conv2d', '[1,6,4,4]', '[4,4,3,3]');
      expectMinnowError(() => conv2d(zeros([1, 6, 4, 4]), zeros([3, 3, 3, 3]), { groups: 2 }), 'SHAPE_MISMATCH', 'conv2d', 'groups=2');
    });
  });

  itNoLeaks('expand to an incompatible shape', () => {
    scope(() => {
      expectMinnowError(() => expand(zeros([2, 3]), [3, 3]), 'SHAPE_MISMATCH', 'expand', '[2,3]', '[3,3]');
      expectMinnowError(() => expand(zeros([2, 3]), [3]), 'SHAPE_MISMATCH', 'expand', '[2,3]', '[3]');
      expectMinnowError(() => expand(zeros([0]), [1]), 'SHAPE_MISMATCH', 'expand');
    });
  });
});

describe('dtype errors', () => {
  itNoLeaks('add float32 + int32 is DTYPE_MISMATCH; exp on int32 is UNSUPPORTED_DTYPE', () => {
    scope(() => {
      expectMinnowError(() => add(zeros([2]), zeros([2], { dtype: 'int32' })), 'DTYPE_MISMATCH', 'add', 'float32', 'int32');
      expectMinnowError(() => exp(zeros([2], { dtype: 'int32' })), 'UNSUPPORTED_DTYPE', 'exp', 'int32');
    });
  });
});

describe('bad reshapes', () => {
  itNoLeaks('element count mismatch names both shapes and counts; two -1s; negative dims', () => {
    scope(() => {
      const x = zeros([2, 3]);
      expectMinnowError(() => reshape(x, [4]), 'INVALID_SHAPE', 'reshape', '[2,3]', '[4]', '6', '4');
      expectMinnowError(() => reshape(x, [-1, -1]), 'INVALID_SHAPE', 'reshape', '[-1,-1]');
      expectMinnowError(() => reshape(x, [4, -1]), 'INVALID_SHAPE', 'reshape', '[2,3]', '[4,-1]');
      expectMinnowError(() => reshape(x, [-2, -3]), 'INVALID_SHAPE', 'reshape');
      expectMinnowError(() => reshape(x, [0, -1]), 'INVALID_SHAPE', 'reshape');
      expectMinnowError(() => flatten(x, 2), 'OUT_OF_RANGE', 'flatten');
    });
  });

  itNoLeaks('resolveReshape accepts exactly the shapes with the same element count', () => {
    fc.assert(fc.property(arbShape(0, 3, 4), arbShape(0, 3, 4), (from, to) => {
      if (size(from) === size(to)) expect(resolveReshape('reshape', from, to)).toEqual(to);
      else expectMinnowError(() => resolveReshape('reshape', from, to), 'INVALID_SHAPE', 'reshape', fmt(from), fmt(to));
    }), runs(1202, 200));
  });
});

describe('out-of-range slices and axes', () => {
  itNoLeaks('slice bounds outside the dim name the op, the bounds and the shape', () => {
    scope(() => {
      const x = zeros([2, 3]);
      expectMinnowError(() => slice(x, [0, 4], [1, 3]), 'OUT_OF_RANGE', 'slice', '[2,3]', '4');
      expectMinnowError(() => slice(x, [0, 0], [1, 4]), 'OUT_OF_RANGE', 'slice', '[2,3]');
      expectMinnowError(() => slice(x, [-3, 0], [1, 1]), 'OUT_OF_RANGE', 'slice', '[2,3]', '-3');
      expectMinnowError(() => slice(x, [0, 3], [1, null], [1, -1]), 'OUT_OF_RANGE', 'slice');
      expectMinnowError(() => slice(x, [0, 0], [1, -5], [1, -1]), 'OUT_OF_RANGE', 'slice');
      expectMinnowError(() => slice(x, [0, 0], [1, 1], [1, 0]), 'INVALID_ARGUMENT', 'slice', 'step');
      expectMinnowError(() => slice(x, [0, 0.5], [1, 1]), 'OUT_OF_RANGE', 'slice');
      expectMinnowError(() => slice(x, [0], [1]), 'INVALID_ARGUMENT', 'slice', '[2,3]');
    });
  });

  itNoLeaks('axes outside the rank are OUT_OF_RANGE naming the op and the shape', () => {
    scope(() => {
      const x = zeros([2, 3]);
      expectMinnowError(() => sum(x, { axes: 2 }), 'OUT_OF_RANGE', 'sum', '[2,3]', '2');
      expectMinnowError(() => sum(x, { axes: -3 }), 'OUT_OF_RANGE', 'sum', '[2,3]', '-3');
      expectMinnowError(() => permute(x, [0, 2]), 'OUT_OF_RANGE', 'permute', '[2,3]');
      expectMinnowError(() => permute(x, [0, 0]), 'INVALID_ARGUMENT', 'permute', '[2,3]');
      expectMinnowError(() => permute(x, [0]), 'INVALID_ARGUMENT', 'permute', '[2,3]');
      expectMinnowError(() => transpose(x, 0, 5), 'OUT_OF_RANGE', 'transpose', '[2,3]');
      expectMinnowError(() => unsqueeze(x, 4), 'OUT_OF_RANGE', 'unsqueeze');
      expectMinnowError(() => squeeze(x, 0), 'INVALID_ARGUMENT', 'squeeze', '[2,3]');
      expectMinnowError(() => gather(x, zeros([1], { dtype: 'int32' }), 2), 'OUT_OF_RANGE', 'gather', '[2,3]');
      expectMinnowError(() => sum(x, { axes: 0.5 }), 'OUT_OF_RANGE', 'sum');
      // composed ops surface the same error (the message names the primitive that failed)
      expectMinnowError(() => softmax(x, 2), 'OUT_OF_RANGE', '[2,3]');
    });
  });

  itNoLeaks('normalizeAxis accepts exactly -rank..rank-1', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 5 }), fc.integer({ min: -8, max: 8 }), (rank, axis) => {
      if (axis >= -rank && axis < rank) expect(normalizeAxis('op', axis, rank)).toBe(axis < 0 ? axis + rank : axis);
      else expectMinnowError(() => normalizeAxis('op', axis, rank), 'OUT_OF_RANGE', 'op', String(axis));
    }), runs(1203, 200));
  });

  itNoLeaks('gather index out of range names the index and the axis size', () => {
    scope(() => {
      const x = zeros([2, 3]);
      expectMinnowError(() => gather(x, tensor([0, 3], { dtype: 'int32' }), 1), 'OUT_OF_RANGE', 'gather', '3', 'size 3');
      expectMinnowError(() => gather(x, tensor([[-3]], { dtype: 'int32' }), 0), 'OUT_OF_RANGE', 'gather', '-3', 'size 2');
      expectMinnowError(() => gather(zeros([0]), tensor([0], { dtype: 'int32' })), 'OUT_OF_RANGE', 'gather');
    });
  });

  describe('arguments that are not tensors', () => {
    itNoLeaks('name the op and the argument instead of failing with a TypeError', () => {
      const x = zeros([2, 2]);
      const bad = undefined as unknown as Tensor;
      expectMinnowError(() => matmul(x, bad), 'INVALID_ARGUMENT', 'matmul', 'b', 'undefined');
      expectMinnowError(() => exp(null as unknown as Tensor), 'INVALID_ARGUMENT', 'exp', 'null');
      expectMinnowError(() => add(x, 'a' as unknown as number), 'INVALID_ARGUMENT', 'add', 'operand 1', 'string');
      const cond = tensor([true]);
      expectMinnowError(() => where(cond, 1, 2), 'INVALID_ARGUMENT', 'where', 'at least one operand');
      expectMinnowError(() => sum({} as unknown as Tensor), 'INVALID_ARGUMENT', 'sum', 'object');
      x.dispose();
      cond.dispose();
    });
  });
});

