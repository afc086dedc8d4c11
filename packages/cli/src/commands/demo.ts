import type { Command } from 'commander';
import {
  abs, div, dequantize, full, matmul, matmulInteger, max, mul, pad, quantize, randomNormal, randomUniform,
  reshape, scope, sub, transpose, type Tensor,
} from '@minnow/core';
import { probeBackends } from '../backends.js';
import type { Output } from '../output.js';

/**
 * What `npm start` runs while the main job (train, distill, prune, quantize and export on MNIST)
 * is being built: real work on the engine that exists, on seeded synthetic data, saying so.
 */
export function registerDemoCommand(program: Command, output: Output): void {
  program
    .command('demo')
    .description('run the foundation demo: per-channel int8 and blocked int4 weight quantization and an integer matmul, on the reference backend, and matmul speed on every backend')
    .option('--json', 'print the figures as one JSON document')
    .action(async (options: { json?: boolean }) => {
      const figures = await runDemo(options.json ? () => {} : (t) => output.line(t));
      if (options.json) output.json(figures);
    });
}

export interface DemoFigures {
  readonly backends: string[];
  readonly weightBytes: { float32: number; int8PerChannel: number; int4Blocked32: number };
  readonly maxAbsError: { int8PerChannel: number; int4Blocked32: number };
  readonly integerMatmulRelativeError: number;
  /** float32 512x512x512 matmul speed on each available backend. */
  readonly matmul512Gflops: Readonly<Record<string, number>>;
}

export async function runDemo(say: (text: string) => void): Promise<DemoFigures> {
  say('minnow foundation demo. The main job (train a teacher on MNIST, distill, prune, quantize, export ONNX)');
  say('is not built yet; this runs what exists today, on seeded synthetic data (quantization on the reference backend).\n');
  const backends = await probeBackends();
  for (const b of backends) say(`backend ${b.name}: ${b.info ? `${b.info.mode}, ${b.info.threads} thread(s)` : `unavailable (${b.error})`}`);

  const [outFeatures, inFeatures] = [256, 784];
  const figures = scope(() => {
    const weight = randomNormal([outFeatures, inFeatures], { seed: 7, std: Math.sqrt(2 / inFeatures) });
    // int8, symmetric, one scale per output channel (row): scale = max|w_row| / 127.
    const scale8 = div(max(abs(weight), { axes: 1 }), 127);
    const q8 = quantize(weight, scale8, undefined, 'int8', { axis: 0 });
    const err8 = maxAbs(sub(dequantize(q8, scale8, undefined, { axis: 0 }), weight));
    // int4, symmetric, one scale per block of 32 inputs (the last block is partial): scale = max|w_block| / 7.
    const blocks = Math.ceil(inFeatures / 32);
    const padded = pad(weight, [[0, 0], [0, blocks * 32 - inFeatures]]);
    const scale4 = div(max(abs(reshape(padded, [outFeatures, blocks, 32])), { axes: 2 }), 7);
    const q4 = quantize(weight, scale4, undefined, 'int4', { axis: 1, blockSize: 32 });
    const err4 = maxAbs(sub(dequantize(q4, scale4, undefined, { axis: 1, blockSize: 32 }), weight));

    // Integer execution: activations as uint8 (affine, per tensor), weights as int8 (per channel), int32 accumulation.
    const x = randomUniform([64, inFeatures], { seed: 8, low: 0, high: 1 });
    const xScale = 1 / 255;
    const xq = quantize(x, full([], xScale), undefined, 'uint8');
    const acc = matmulInteger(xq, transpose(q8));
    const yIntScaled = mul(dequantize(acc, scale8, undefined, { axis: 1 }), xScale);
    const yFloat = matmul(x, transpose(weight));
    const relative = maxAbs(sub(yIntScaled, yFloat)) / maxAbs(yFloat);
    const bytes4 = Math.ceil((outFeatures * inFeatures) / 2) + outFeatures * blocks * 4;
    return {
      weightBytes: { float32: outFeatures * inFeatures * 4, int8PerChannel: outFeatures * inFeatures + outFeatures * 4, int4Blocked32: bytes4 },
      maxAbsError: { int8PerChannel: err8, int4Blocked32: err4 },
      integerMatmulRelativeError: relative,
    };
  });
  say(`\nlayer ${outFeatures}x${inFeatures}, He-normal weights (seed 7):`);
  say(`  float32               ${figures.weightBytes.float32} bytes`);
  say(`  int8 per channel      ${figures.weightBytes.int8PerChannel} bytes (${ratio(figures.weightBytes.float32, figures.weightBytes.int8PerChannel)}), max |error| ${figures.maxAbsError.int8PerChannel.toExponential(2)}`);
  say(`  int4 blocked (32)     ${figures.weightBytes.int4Blocked32} bytes (${ratio(figures.weightBytes.float32, figures.weightBytes.int4Blocked32)}), max |error| ${figures.maxAbsError.int4Blocked32.toExponential(2)}`);
  say(`integer matmul (uint8 activations x int8 weights -> int32) vs float32: max relative error ${figures.integerMatmulRelativeError.toExponential(2)}`);

  const gflops: Record<string, number> = {};
  for (const b of backends.filter((r) => r.available)) {
    gflops[b.name] = timeMatmul(512, b.name);
    say(`float32 matmul 512x512x512 on ${b.name} (${b.info?.mode}): ${gflops[b.name].toFixed(2)} GFLOP/s`);
  }
  say('\nnext: `npx minnow backends`, `npm run bench -- gemm`, `npm test`');
  return { backends: backends.map((b) => b.name), ...figures, matmul512Gflops: gflops };
}

function maxAbs(t: Tensor): number {
  return scope(() => max(abs(t)).itemSync());
}

function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(1)}x smaller`;
}

function timeMatmul(n: number, backend: string): number {
  return scope(() => {
    const a = randomUniform([n, n], { seed: 1, backend });
    const b = randomUniform([n, n], { seed: 2, backend });
    matmul(a, b).dispose();
    const start = performance.now();
    const reps = 3;
    for (let i = 0; i < reps; i++) matmul(a, b).dataSync();
    const seconds = (performance.now() - start) / 1000 / reps;
    return (2 * n ** 3) / seconds / 1e9;
  });
}
