import { conv2d, fromArray, Random, type Tensor } from '@minnow/core';
import { ELEM, singleNodeModel } from './lib/onnx-models.js';
import { measure, timeIt, type Bench, type BenchContext, type Row } from './lib/harness.js';
import { ortNode, tfjs } from './lib/peers.js';

/** Real convolution shapes from ResNet/MobileNet-style networks, batch 1, float32, single thread. */
interface ConvShape {
  readonly label: string;
  readonly c: number;
  readonly hw: number;
  readonly o: number;
  readonly k: number;
  readonly stride: number;
  readonly pad: number;
  readonly groups: number;
}

const SHAPES: readonly ConvShape[] = [
  { label: '3x3 64->64 56x56', c: 64, hw: 56, o: 64, k: 3, stride: 1, pad: 1, groups: 1 },
  { label: '1x1 64->256 56x56', c: 64, hw: 56, o: 256, k: 1, stride: 1, pad: 0, groups: 1 },
  { label: '3x3 s2 128->128 28x28', c: 128, hw: 28, o: 128, k: 3, stride: 2, pad: 1, groups: 1 },
  { label: 'dw3x3 64 56x56', c: 64, hw: 56, o: 64, k: 3, stride: 1, pad: 1, groups: 64 },
];

function outSize(s: ConvShape): number {
  return Math.floor((s.hw + 2 * s.pad - s.k) / s.stride) + 1;
}

function flops(s: ConvShape): number {
  return 2 * s.o * outSize(s) ** 2 * (s.c / s.groups) * s.k * s.k;
}

function random(length: number, seed: number): Float32Array {
  const rng = new Random(seed);
  return Float32Array.from({ length }, () => rng.uniform() * 2 - 1);
}

export const bench: Bench = {
  name: 'conv',
  title: 'conv: float32 conv2d, batch 1, single thread',
  columns: ['impl', 'shape', 'ms', 'gflops'],
  method: [
    'NCHW input and OIHW weights for minnow and onnxruntime-node; tfjs-wasm gets the same data as NHWC/HWIO (tf.conv2d, tf.depthwiseConv2d for the depthwise shape).',
    'No bias, no activation. Median of repeated runs after warm-up, output read back.',
    'gflops = 2 * O * outH * outW * (C / groups) * kH * kW / seconds / 1e9.',
  ],
  summary(rows: readonly Row[]) {
    const lines = SHAPES.flatMap((s) => {
      const at = (impl: string) => rows.find((r) => r.impl === impl && r.shape === s.label)?.gflops as number | undefined;
      return ['minnow-wasm', 'minnow-wasm-simd128'].flatMap((impl) => {
        const mine = at(impl);
        const parts = ['tfjs-wasm', 'ort-node'].flatMap((p) => (mine && at(p) ? [`${(mine / at(p)!).toFixed(2)}x ${p}`] : []));
        return parts.length ? [`- ${s.label}: ${impl} runs at ${parts.join(', ')}.`] : [];
      });
    });
    return lines.length ? ['Ratios (same run):', '', ...lines] : [];
  },
  async run(ctx: BenchContext) {
    const shapes = ctx.quick ? SHAPES.slice(3) : SHAPES;
    for (const s of shapes) {
      const cg = s.c / s.groups;
      const x = random(s.c * s.hw * s.hw, 1);
      const w = random(s.o * cg * s.k * s.k, 2);
      const attempt = (impl: string, time: () => Promise<number>) =>
        measure(ctx, `conv ${impl} ${s.label}`, time, (seconds) => ({ bench: 'conv', impl, shape: s.label, ms: seconds * 1000, gflops: flops(s) / seconds / 1e9 }));
      for (const backend of ['wasm', 'wasm-simd128', 'js']) {
        await attempt(`minnow-${backend}`, async () => {
          const tx = fromArray(x, [1, s.c, s.hw, s.hw], { backend });
          const tw = fromArray(w, [s.o, cg, s.k, s.k], { backend });
          try {
            return await timeIt(() => {
              const y: Tensor = conv2d(tx, tw, { stride: s.stride, padding: s.pad, groups: s.groups });
              y.dataSync();
              y.dispose();
            });
          } finally {
            tx.dispose();
            tw.dispose();
          }
        });
      }
      await attempt('tfjs-wasm', async () => {
        const tf = await tfjs('wasm');
        type T4 = import('@tensorflow/tfjs-core').Tensor4D;
        const nhwc = tf.tidy(() => tf.transpose(tf.tensor4d(x, [1, s.c, s.hw, s.hw]), [0, 2, 3, 1])) as T4;
        // OIHW -> HWIO for conv2d; depthwise wants [kH, kW, C, 1].
        const hwio = tf.tidy(() => tf.transpose(tf.tensor4d(w, [s.o, cg, s.k, s.k]), s.groups === 1 ? [2, 3, 1, 0] : [2, 3, 0, 1])) as T4;
        try {
          return await timeIt(() => {
            const y = s.groups === 1
              ? tf.conv2d(nhwc, hwio, s.stride, s.pad === 0 ? 'valid' : [[0, 0], [s.pad, s.pad], [s.pad, s.pad], [0, 0]])
              : tf.depthwiseConv2d(nhwc, hwio, s.stride, [[0, 0], [s.pad, s.pad], [s.pad, s.pad], [0, 0]]);
            y.dataSync();
            y.dispose();
          });
        } finally {
          nhwc.dispose();
          hwio.dispose();
        }
      });
      await attempt('ort-node', async () => {
        const ort = await ortNode();
        const out = outSize(s);
        const model = singleNodeModel('Conv', [
          { name: 'X', elemType: ELEM.float, shape: [1, s.c, s.hw, s.hw] },
          { name: 'W', elemType: ELEM.float, shape: [s.o, cg, s.k, s.k] },
        ], [{ name: 'Y', elemType: ELEM.float, shape: [1, s.o, out, out] }], {
          kernel_shape: [s.k, s.k], strides: [s.stride, s.stride], pads: [s.pad, s.pad, s.pad, s.pad], group: s.groups,
        });
        const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1, executionMode: 'sequential' });
        const feeds = { X: new ort.Tensor('float32', x, [1, s.c, s.hw, s.hw]), W: new ort.Tensor('float32', w, [s.o, cg, s.k, s.k]) };
        try {
          return await timeIt(() => session.run(feeds));
        } finally {
          await session.release();
        }
      });
    }
  },
};
