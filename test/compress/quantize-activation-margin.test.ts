import fc from 'fast-check';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Random } from '@minnow/core';
import { DataType, makeTensor, tensorValues, writeModel, type ModelProto, type TensorProto } from '@minnow/onnx';
import { calibrateOnnx, quantizeOnnx, type QuantizeOnnxOptions, type TensorRange } from '@minnow/compress';
import { floatTensor, graph, model as makeModel, node, valueInfo } from '../onnx/build.js';
import { expectMinnowError } from '../helpers/reference.js';

/**
 * Static quantization's activation margin: calibrated ranges are widened (2x by default for
 * 16-bit activations, not at all for 8-bit) so that inputs past what calibration saw are not
 * clipped. Checked on the scales written into the model and on onnxruntime's outputs.
 */

const f32 = (name: string, dims: number[], values: Float32Array): TensorProto =>
  makeTensor(name, DataType.FLOAT, dims, new Uint8Array(values.buffer, values.byteOffset, values.byteLength));

/** input [4, 8] -> MatMul W [8, 5] -> output. */
function matmulModel(): ModelProto {
  const rng = new Random(3);
  return makeModel(graph({
    node: [node('MatMul', ['input', 'W'], ['output'])],
    initializer: [floatTensor('W', [8, 5], Array.from({ length: 40 }, () => rng.normal()))],
    input: [valueInfo('input', DataType.FLOAT, [4, 8])],
    output: [valueInfo('output', DataType.FLOAT, [4, 5])],
  }));
}

function feedOf(seed: number, gain: number): Record<string, TensorProto> {
  const rng = new Random(seed);
  return { input: f32('input', [4, 8], Float32Array.from({ length: 32 }, () => gain * rng.normal())) };
}

/** The scale and zero point QuantizeLinear applies to `tensor`. */
function activationParams(m: ModelProto, tensor: string): { scale: number; zeroPoint: number } {
  const q = m.graph!.node.find((n) => n.opType === 'QuantizeLinear' && n.input[0] === tensor)!;
  const init = (name: string): TensorProto => m.graph!.initializer.find((t) => t.name === name)!;
  return { scale: (tensorValues(init(q.input[1])) as Float32Array)[0], zeroPoint: Number((tensorValues(init(q.input[2])) as ArrayLike<number>)[0]) };
}

/** onnxruntime at its 'basic' level: 'extended' would rewrite DequantizeLinear(weight) -> MatMul into a dynamically quantized product. */
async function runOrt(m: ModelProto, feeds: Record<string, TensorProto>): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(writeModel(m).model, { logSeverityLevel: 3, graphOptimizationLevel: 'basic' });
  const out = await session.run({ input: new ort.Tensor('float32', tensorValues(feeds.input) as Float32Array, feeds.input.dims) });
  return out.output.data as Float32Array;
}

const range = (lo: number, hi: number): TensorRange => ({ min: Float32Array.of(lo), max: Float32Array.of(hi), granularity: { kind: 'tensor' } });

describe('quantizeOnnx: activation margin', () => {
  it('scale = margin x calibrated width / codes, 0 stays exact, and every value within margin x the range is quantized without clipping (property)', () => {
    const m = matmulModel();
    fc.assert(fc.property(
      fc.double({ min: -50, max: 0, noNaN: true }), fc.double({ min: 1e-3, max: 50, noNaN: true }), fc.double({ min: 1, max: 8, noNaN: true }),
      fc.constantFrom('uint16' as const, 'int16' as const, 'uint8' as const), fc.double({ min: -1, max: 1, noNaN: true }),
      (lo, hi, margin, type, where) => {
        const ranges = new Map([['input', range(lo, hi)], ['output', range(-1, 1)]]);
        const { scale, zeroPoint } = activationParams(quantizeOnnx(m, { mode: 'static', activationRanges: ranges, activationType: type, activationMargin: margin }).model, 'input');
        const [qmin, qmax] = type === 'uint16' ? [0, 65535] : type === 'int16' ? [-32768, 32767] : [0, 255];
        expect(scale).toBeCloseTo(Math.fround((margin * (hi - lo)) / (qmax - qmin)), 6 - Math.ceil(Math.log10(Math.max(1, scale))));
        expect(Number.isInteger(zeroPoint) && zeroPoint >= qmin && zeroPoint <= qmax).toBe(true);
        // A value anywhere in the widened range comes back within a step (half a step of rounding,
        // at most half of the zero point's): it is not clipped.
        const x = where < 0 ? -where * margin * lo : where * margin * hi;
        const code = Math.min(qmax, Math.max(qmin, Math.round(x / scale) + zeroPoint));
        expect(Math.abs((code - zeroPoint) * scale - x)).toBeLessThanOrEqual(scale * (1 + 1e-9));
      },
    ), { seed: 71, numRuns: 150 });
  });

  it('defaults: 2x for 16-bit activations, 1x (the calibrated range) for 8-bit', () => {
    const m = matmulModel();
    const ranges = new Map([['input', range(-2, 3)], ['output', range(-1, 1)]]);
    const scaleOf = (options: Partial<QuantizeOnnxOptions>): number => activationParams(quantizeOnnx(m, { mode: 'static', activationRanges: ranges, ...options }).model, 'input').scale;
    expect(scaleOf({ activationType: 'uint16' })).toBeCloseTo(Math.fround((2 * 5) / 65535), 12);
    expect(scaleOf({ activationType: 'uint16', activationMargin: 1 })).toBeCloseTo(Math.fround(5 / 65535), 12);
    expect(scaleOf({ activationType: 'uint8' })).toBeCloseTo(Math.fround(5 / 255), 9);
    expect(scaleOf({ activationType: 'int8', activationMargin: 1.5 })).toBeCloseTo(Math.fround(7.5 / 255), 9);
  });

  it('onnxruntime on inputs 1.6x louder than calibration: clipped without a margin, not with the default one', async () => {
    const m = matmulModel();
    const calibration = await calibrateOnnx(m, [1, 2, 3, 4].map((s) => feedOf(s, 1)), { method: 'minmax' });
    const loud = feedOf(9, 1.6);
    // The reference has the same int8 weights and float activations: what is left is the activations' error.
    const ref = await runOrt(quantizeOnnx(m, { mode: 'weight-only' }).model, loud);
    const errorOf = async (margin?: number): Promise<number> => {
      const got = await runOrt(quantizeOnnx(m, { mode: 'static', activationRanges: calibration, activationType: 'uint16', ...(margin ? { activationMargin: margin } : {}) }).model, loud);
      let num = 0;
      let den = 0;
      ref.forEach((r, i) => {
        num += Math.abs(got[i] - r);
        den += Math.abs(r);
      });
      return num / den;
    };
    const clipped = await errorOf(1);
    const widened = await errorOf();
    expect(clipped).toBeGreaterThan(0.01);
    expect(widened).toBeLessThan(1e-4);
  });

  it('a margin below 1 or not finite is an INVALID_ARGUMENT naming activationMargin', () => {
    const ranges = new Map([['input', range(-1, 1)]]);
    for (const margin of [0.5, 0, Number.NaN, Number.POSITIVE_INFINITY]) {
      expectMinnowError(() => quantizeOnnx(matmulModel(), { mode: 'static', activationRanges: ranges, activationType: 'uint16', activationMargin: margin }), 'INVALID_ARGUMENT', 'activationMargin');
    }
  });
});
