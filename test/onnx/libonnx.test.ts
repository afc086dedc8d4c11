import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeMessage, diffMessage, diffModels, encodeMessage, forEachMessage, readModel, readValue, schema, tensorValues, valueSpecFor,
  writeModel, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from '@minnow/onnx';
import { diffFromReference, loadReference } from './protobufjs-reference.js';

// ONNX's own backend test suite, from Debian (DATA.md): every model.onnx and every test_data_set_N
// input/output must read, decode, and survive write -> read with the same meaning. A missing package
// skips this suite with a message naming it, except under CI=true, where it fails.
const ROOT = '/usr/share/libonnx-testdata/data';
const CATEGORIES = ['node', 'pytorch-converted', 'pytorch-operator', 'simple'] as const;
const installed = existsSync(join(ROOT, 'node'));
if (!installed) console.warn(`libonnx-testdata tests skipped: ${ROOT} is missing (apt-get install libonnx-testdata)`);

const reference = loadReference();

type Obj = Record<string, unknown>;

interface Tally {
  models: number;
  roundTrips: number;
  /** Models whose rewrite is byte for byte the file (not required: only the meaning must survive). */
  identical: number;
  values: number;
  valueRoundTrips: number;
  tensorsDecoded: number;
  /** Op types of top-level graphs, and of every graph (subgraphs of If/Loop/Scan too). */
  opTypes: Set<string>;
  allOpTypes: Set<string>;
  opsets: Set<number>;
  failures: string[];
}

/** The value_info a test_data_set file is typed by: inputs not fed by an initialiser, then outputs. */
function valueInfoFor(model: ModelProto, file: string): ValueInfoProto | undefined {
  const match = /^(input|output)_(\d+)\.pb$/.exec(file);
  if (!match) return undefined;
  const graph = model.graph!;
  const initialised = new Set(graph.initializer.map((t) => t.name));
  const list = match[1] === 'input' ? graph.input.filter((i) => !initialised.has(i.name)) : graph.output;
  return list[Number(match[2])];
}

function decodeAllTensors(spec: typeof schema.MODEL, root: object, tally: Tally): void {
  forEachMessage(spec, root, (s, message) => {
    if (s !== schema.TENSOR) return;
    tensorValues(message as unknown as TensorProto);
    tally.tensorsDecoded++;
  });
}

function checkModel(dir: string, tally: Tally): void {
  const bytes = new Uint8Array(readFileSync(join(dir, 'model.onnx')));
  const model = readModel(bytes);
  tally.models++;
  for (const n of model.graph!.node) tally.opTypes.add(`${n.domain ?? ''}:${n.opType}`);
  forEachMessage(schema.MODEL, model, (s, m) => {
    if (s === schema.NODE) tally.allOpTypes.add(`${(m as unknown as NodeProto).domain ?? ''}:${(m as unknown as NodeProto).opType}`);
  });
  for (const o of model.opsetImport) if (!o.domain) tally.opsets.add(o.version ?? 0);
  if (reference) {
    const d = diffFromReference(schema.MODEL, model as unknown as Obj, reference.ModelProto.decode(bytes), 'model');
    if (d) throw new Error(`minnow and protobufjs read it differently: ${d}`);
  }
  decodeAllTensors(schema.MODEL, model, tally);
  const written = writeModel(model).model;
  if (written.length === bytes.length && written.every((b, i) => b === bytes[i])) tally.identical++;
  const back = readModel(written);
  const d = diffModels(model, back);
  if (d) throw new Error(`write -> read changed it: ${d}`);
  if (reference) {
    const r = diffFromReference(schema.MODEL, model as unknown as Obj, reference.ModelProto.decode(written), 'model');
    if (r) throw new Error(`protobufjs reads minnow's output differently: ${r}`);
  }
  tally.roundTrips++;
  for (const set of readdirSync(dir).filter((n) => n.startsWith('test_data_set_'))) {
    for (const file of readdirSync(join(dir, set)).sort()) {
      const where = `${set}/${file}`;
      try {
        const type = valueInfoFor(model, file)?.type;
        const spec = valueSpecFor(type);
        const value = readValue<Obj>(new Uint8Array(readFileSync(join(dir, set, file))), type);
        tally.values++;
        decodeAllTensors(spec, value, tally);
        const again = diffMessage(spec, value, decodeMessage<Obj>(encodeMessage(spec, value), spec));
        if (again) throw new Error(`write -> read changed it: ${again}`);
        tally.valueRoundTrips++;
      } catch (error) {
        tally.failures.push(`${dir}/${where}: ${(error as Error).message}`);
      }
    }
  }
}

describe.skipIf(!installed && process.env.CI !== 'true')('ONNX backend test data (Debian libonnx-testdata)', () => {
  it('is installed (apt-get install libonnx-testdata)', () => {
    expect(installed, `${ROOT} is missing: apt-get install libonnx-testdata`).toBe(true);
  });

  const totals: Tally = { models: 0, roundTrips: 0, identical: 0, values: 0, valueRoundTrips: 0, tensorsDecoded: 0, opTypes: new Set(), allOpTypes: new Set(), opsets: new Set(), failures: [] };

  for (const category of CATEGORIES) {
    it(`${category}: every model and test value reads, decodes, and survives write -> read`, () => {
      const start = performance.now();
      const tally: Tally = { ...totals, models: 0, roundTrips: 0, identical: 0, values: 0, valueRoundTrips: 0, tensorsDecoded: 0, failures: [] };
      const dirs = readdirSync(join(ROOT, category)).map((d) => join(ROOT, category, d)).filter((d) => existsSync(join(d, 'model.onnx')));
      for (const dir of dirs) {
        try {
          checkModel(dir, tally);
        } catch (error) {
          tally.failures.push(`${dir}: ${(error as Error).message}`);
        }
      }
      const ms = Math.round(performance.now() - start);
      console.log(`libonnx-testdata ${category}: ${tally.models}/${dirs.length} models read, ${tally.roundTrips} round-trip (${tally.identical} byte-identical), ${tally.valueRoundTrips}/${tally.values} test values round-trip, ${tally.tensorsDecoded} tensors decoded, ${tally.failures.length} failures, ${ms} ms${reference ? ', checked against protobufjs' : ''}`);
      expect(tally.failures).toEqual([]);
      expect(tally.roundTrips).toBe(dirs.length);
      for (const key of ['models', 'roundTrips', 'identical', 'values', 'valueRoundTrips', 'tensorsDecoded'] as const) totals[key] += tally[key];
    });
  }

  it('covers what DATA.md says: 1,072 models, opsets 1 to 17, 173 op types', () => {
    expect(totals.models).toBe(1072);
    expect(totals.roundTrips).toBe(1072);
    expect(totals.values).toBe(3205);
    expect(Math.min(...totals.opsets)).toBe(1);
    expect(Math.max(...totals.opsets)).toBe(17);
    console.log(`libonnx-testdata: ${totals.opTypes.size} op types in top-level graphs, ${totals.allOpTypes.size} with subgraphs`);
    expect(totals.opTypes.size).toBe(173);
    expect(totals.allOpTypes.size).toBe(174);
  });
});
