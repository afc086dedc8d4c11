import { it } from 'vitest';
import { getBackend, liveTensors } from '@minnow/core';

/**
 * `it`, failing the test when it leaves tensors alive or backend buffers allocated. Every op test
 * runs inside it, so a leak in a kernel wrapper or composed op shows up where it happens.
 */
export function itNoLeaks(name: string, fn: () => void | Promise<void>, timeout?: number): void {
  it(name, async () => {
    const tensorsBefore = liveTensors();
    const buffersBefore = getBackend().memory().buffers;
    await fn();
    const leakedTensors = liveTensors() - tensorsBefore;
    const leakedBuffers = getBackend().memory().buffers - buffersBefore;
    if (leakedTensors !== 0 || leakedBuffers !== 0) {
      throw new Error(`leak: ${leakedTensors} tensor(s) and ${leakedBuffers} backend buffer(s) left alive by "${name}"`);
    }
  }, timeout);
}
