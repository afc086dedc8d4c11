import * as ort from 'onnxruntime-node';
import { DataType, OnnxSession, tensorValues, writeModel, type GraphProto, type ModelProto, type TensorProto, type ValueInfoProto } from '@minnow/onnx';

/**
 * How closely minnow's executor reproduces onnxruntime's on a quantized Silero model, code by code.
 *
 * Both engines compute each float op (Conv, Gemm, Sqrt ...) in float32 but sum in different
 * orders, so a value that lands within a last-bit difference of a rounding boundary of the next
 * QuantizeLinear gets codes one apart; that code, fed on, moves the next op's sum by a whole step
 * times a weight, and the difference grows along the chain. To see each op's own rounding, the
 * 16 kHz branch is cut at every QuantizeLinear: each one's output becomes an input fed with
 * minnow's codes, and onnxruntime's own codes for it come out beside. Per quantized tensor that
 * gives the largest code difference with both engines reading the same codes, and how often the
 * codes differ; the model's outputs, computed by onnxruntime from minnow's codes, show what the
 * float ops after the last QuantizeLinear add.
 */

export interface CodeAgreement {
  /** Per quantized tensor: the largest |code difference| with the same input codes, and how many codes differed of how many. */
  readonly tensors: { readonly name: string; readonly maxCodes: number; readonly differing: number; readonly total: number }[];
  /** The largest |difference| of the model's outputs (probability, state) computed from the same codes. */
  readonly outputAbs: number;
}

const vi = (name: string, elemType: number): ValueInfoProto => ({ name, type: { tensorType: { elemType } }, metadataProps: [] }) as unknown as ValueInfoProto;

const ortFeed = (t: TensorProto): ort.Tensor => (t.dataType === DataType.INT64
  ? new ort.Tensor('int64', tensorValues(t) as BigInt64Array, t.dims.map(Number))
  : new ort.Tensor('float32', tensorValues(t) as Float32Array, t.dims.map(Number)));

/** `quantized`'s 16 kHz branch (the If's then_branch) as the main graph, cut at every QuantizeLinear of `type`. */
function cutBranch(quantized: ModelProto, type: number): { model: ModelProto; codes: string[]; outputs: string[] } {
  const main = quantized.graph!;
  const ifNode = main.node.find((n) => n.opType === 'If')!;
  const branch = ifNode.attribute.find((a) => a.name === 'then_branch')!.g!;
  const codes = branch.node.filter((n) => n.opType === 'QuantizeLinear').map((n) => n.output[0]);
  const nodes = [...main.node.filter((n) => n !== ifNode), ...branch.node].map((n) => (n.opType === 'QuantizeLinear' && codes.includes(n.output[0]) ? { ...n, output: [`${n.output[0]}_ort`] } : n));
  const outputs = branch.output.map((o) => o.name ?? '');
  const graph: GraphProto = {
    ...main,
    node: nodes,
    initializer: [...main.initializer, ...branch.initializer],
    input: [...main.input, ...codes.map((c) => vi(c, type))],
    output: [...branch.output, ...codes.map((c) => vi(`${c}_ort`, type))],
  };
  return { model: { ...quantized, graph }, codes, outputs };
}

/** Compares the engines code by code on 16 kHz frames (`feeds`: input, state and sr of each frame). */
export async function codeAgreement(quantized: ModelProto, feeds: readonly Record<string, TensorProto>[], type = DataType.UINT16): Promise<CodeAgreement> {
  const { model, codes, outputs } = cutBranch(quantized, type);
  const session = await ort.InferenceSession.create(writeModel(model).model, { logSeverityLevel: 3 });
  let seen = new Map<string, { data: ArrayLike<number>; shape: readonly number[] }>();
  const minnow = OnnxSession.create(quantized, {
    observe: (name, value) => {
      if (codes.includes(name)) seen.set(name, { data: Array.from(value.hostData() as ArrayLike<number>), shape: value.shape });
    },
  });
  const stats = new Map(codes.map((c) => [c, { maxCodes: 0, differing: 0, total: 0 }]));
  let outputAbs = 0;
  try {
    for (const frame of feeds) {
      seen = new Map();
      const out = minnow.run(frame);
      const mine = [...(out.output.dataSync() as Float32Array), ...(out.stateN.dataSync() as Float32Array)];
      for (const t of Object.values(out)) t.dispose();
      const ortFeeds: Record<string, ort.Tensor> = Object.fromEntries(Object.entries(frame).map(([k, v]) => [k, ortFeed(v)]));
      for (const c of codes) {
        const v = seen.get(c);
        if (v === undefined) throw new Error(`minnow did not produce '${c}'`);
        ortFeeds[c] = new ort.Tensor(type === DataType.UINT16 ? 'uint16' : 'uint8', type === DataType.UINT16 ? Uint16Array.from(v.data) : Uint8Array.from(v.data), [...v.shape]);
      }
      const theirs = await session.run(ortFeeds);
      const theirOut = outputs.flatMap((o) => Array.from(theirs[o].data as Float32Array));
      theirOut.forEach((v, i) => { outputAbs = Math.max(outputAbs, Math.abs(v - mine[i])); });
      for (const c of codes) {
        const a = theirs[`${c}_ort`].data as ArrayLike<number>;
        const b = seen.get(c)!.data;
        const s = stats.get(c)!;
        for (let i = 0; i < a.length; i++) {
          const d = Math.abs(Number(a[i]) - b[i]);
          if (d > 0) s.differing++;
          s.maxCodes = Math.max(s.maxCodes, d);
        }
        s.total += a.length;
      }
    }
  } finally {
    minnow.dispose();
    await session.release();
  }
  return { tensors: codes.map((name) => ({ name, ...stats.get(name)! })), outputAbs };
}
