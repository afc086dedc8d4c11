import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LinearAllocator, sizeClass } from '@minnow/backend-wasm';
import { MinnowError } from '@minnow/core';

const BASE = 65536;

describe('LinearAllocator', () => {
  it('size classes cover the request, are 64-byte aligned and waste under 25% above 256 bytes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1 << 28 }), (bytes) => {
        const size = sizeClass(bytes);
        expect(size).toBeGreaterThanOrEqual(bytes);
        expect(size % 64).toBe(0);
        if (bytes > 256) expect(size / bytes).toBeLessThan(1.25);
      }),
      { seed: 11, numRuns: 2000 },
    );
  });

  it('random allocate/free sequences never overlap, stay aligned, and return to baseline', () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.record({ alloc: fc.integer({ min: 0, max: 300_000 }) }), fc.record({ free: fc.nat() })), { maxLength: 200 }),
        (steps) => {
          const memory = new WebAssembly.Memory({ initial: 2 });
          const allocator = new LinearAllocator(memory, BASE);
          const live = new Map<number, number>(); // ptr -> requested bytes
          for (const step of steps) {
            if ('alloc' in step) {
              const ptr = allocator.allocate(step.alloc);
              expect(ptr % 64).toBe(0);
              expect(ptr).toBeGreaterThanOrEqual(BASE);
              expect(ptr + step.alloc).toBeLessThanOrEqual(memory.buffer.byteLength);
              for (const [other, bytes] of live) {
                const overlap = ptr < other + Math.max(bytes, 1) && other < ptr + Math.max(step.alloc, 1);
                expect(overlap, `block ${ptr}+${step.alloc} overlaps ${other}+${bytes}`).toBe(false);
              }
              live.set(ptr, step.alloc);
            } else if (live.size > 0) {
              const ptrs = [...live.keys()];
              const ptr = ptrs[step.free % ptrs.length];
              allocator.free(ptr);
              live.delete(ptr);
            }
          }
          for (const ptr of live.keys()) allocator.free(ptr);
          const stats = allocator.stats();
          expect(stats.liveBlocks).toBe(0);
          expect(stats.liveBytes).toBe(0);
          // Everything freed in any order coalesces back down to the base.
          expect(stats.top).toBe(BASE);
          expect(stats.freeBlocks).toBe(0);
        },
      ),
      { seed: 12, numRuns: 150 },
    );
  });

  it('reuses freed blocks instead of growing (a training loop allocating the same sizes)', () => {
    const memory = new WebAssembly.Memory({ initial: 2 });
    const allocator = new LinearAllocator(memory, BASE);
    const keep = allocator.allocate(1000); // pins the top so freed blocks go to free lists
    for (let step = 0; step < 1000; step++) {
      const blocks = [4096, 100_000, 33, 4096].map((b) => allocator.allocate(b));
      for (const b of blocks.reverse()) allocator.free(b);
    }
    expect(memory.buffer.byteLength).toBeLessThan(BASE + 4 * 65536);
    allocator.free(keep);
    expect(allocator.stats().top).toBe(BASE);
  });

  it('running out of linear memory is a MinnowError naming the request, and the allocator stays usable', () => {
    const allocator = new LinearAllocator(new WebAssembly.Memory({ initial: 2, maximum: 3 }), BASE);
    const error = (() => {
      try {
        allocator.allocate(1 << 20);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(MinnowError);
    expect((error as MinnowError).message).toMatch(/out of memory allocating 1048576 bytes/);
    expect(allocator.stats().liveBlocks).toBe(0);
    const p = allocator.allocate(1000);
    allocator.free(p);
    expect(allocator.stats().top).toBe(BASE);
  });

  it('double free is an internal error, not corruption', () => {
    const allocator = new LinearAllocator(new WebAssembly.Memory({ initial: 2 }), BASE);
    const p = allocator.allocate(10);
    allocator.free(p);
    expect(() => allocator.free(p)).toThrow(MinnowError);
  });
});
