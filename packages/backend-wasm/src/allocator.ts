import { MinnowError } from '@minnow/core';

/**
 * The allocator of WASM linear memory: size classes (4 per power of two, 64-byte aligned) with a
 * free list each, a bump pointer for fresh memory, and release of free blocks that end at the top,
 * so long training runs reuse memory instead of growing it without bound. Linear memory never
 * shrinks, so freed memory is kept for reuse.
 */
export interface GrowableMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

const PAGE = 65536;
const ALIGN = 64;

/** Rounds up to a size class: 64, 128, 192, 256, 320, 384, 448, 512, 640, ... (4 steps per doubling). */
export function sizeClass(bytes: number): number {
  if (bytes <= ALIGN) return ALIGN;
  // The highest power of two <= bytes (clz32 below 2^31: one instruction instead of log2 and pow, on every allocation).
  const top = bytes < 0x40000000 ? 1 << (31 - Math.clz32(bytes)) : 2 ** Math.floor(Math.log2(bytes));
  const step = Math.max(ALIGN, top / 4);
  return Math.ceil(bytes / step) * step;
}

export class LinearAllocator {
  private top: number;
  private readonly freeLists = new Map<number, number[]>();
  private readonly live = new Map<number, number>(); // ptr -> class size
  private readonly freeByEnd = new Map<number, number>(); // end address -> ptr, for free blocks
  private liveBytes = 0;

  constructor(private readonly memory: GrowableMemory, private readonly base: number) {
    if (base % ALIGN !== 0) throw new MinnowError('INTERNAL', `allocator base ${base} is not ${ALIGN}-byte aligned`);
    this.top = base;
  }

  /** A 64-byte-aligned block of at least `bytes` bytes (zero-size requests get a minimal block). */
  allocate(bytes: number): number {
    const size = sizeClass(Math.max(1, bytes));
    const list = this.freeLists.get(size);
    let ptr = list?.pop();
    if (ptr !== undefined) {
      this.freeByEnd.delete(ptr + size);
    } else {
      ptr = this.top;
      const end = ptr + size;
      if (end > this.memory.buffer.byteLength) {
        const pages = Math.ceil((end - this.memory.buffer.byteLength) / PAGE);
        try {
          this.memory.grow(pages);
        } catch (error) {
          throw new MinnowError('INVALID_ARGUMENT', `wasm: out of memory allocating ${bytes} bytes (linear memory is ${this.memory.buffer.byteLength} bytes)`, { cause: error });
        }
      }
      this.top = end;
    }
    this.live.set(ptr, size);
    this.liveBytes += size;
    return ptr;
  }

  free(ptr: number): void {
    const size = this.live.get(ptr);
    if (size === undefined) throw new MinnowError('INTERNAL', `wasm allocator: free of ${ptr}, which is not allocated`);
    this.live.delete(ptr);
    this.liveBytes -= size;
    if (ptr + size === this.top) {
      this.top = ptr;
      this.releaseTop();
      return;
    }
    let list = this.freeLists.get(size);
    if (!list) this.freeLists.set(size, (list = []));
    list.push(ptr);
    this.freeByEnd.set(ptr + size, ptr);
  }

  /** Gives back free blocks that now end at the top, so the bump pointer can reuse their space. */
  private releaseTop(): void {
    let ptr = this.freeByEnd.get(this.top);
    while (ptr !== undefined) {
      const size = this.top - ptr;
      this.freeByEnd.delete(this.top);
      const list = this.freeLists.get(size)!;
      list.splice(list.lastIndexOf(ptr), 1);
      this.top = ptr;
      ptr = this.freeByEnd.get(this.top);
    }
  }

  sizeOf(ptr: number): number | undefined {
    return this.live.get(ptr);
  }

  stats(): { liveBlocks: number; liveBytes: number; freeBlocks: number; top: number; memoryBytes: number } {
    return { liveBlocks: this.live.size, liveBytes: this.liveBytes, freeBlocks: this.freeByEnd.size, top: this.top, memoryBytes: this.memory.buffer.byteLength };
  }
}
