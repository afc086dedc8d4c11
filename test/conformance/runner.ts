import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { MinnowError } from '@minnow/core';
import {
  DataType, OnnxSession, dataTypeName, readTensor, tensorValues, type GraphProto, type ModelProto, type TensorProto, type Value,
} from '@minnow/onnx';
import { loadModel } from '@minnow/onnx/node';

/**
 * The ONNX project's backend test cases (Debian's libonnx-testdata) run on a minnow backend: load
 * model.onnx, feed each test_data_set_N/input_K.pb, compare with output_K.pb at the tolerances of
 * ONNX's own runner (onnx/backend/test/runner: rtol 1e-3, atol 1e-7, NaN equal to NaN, element
 * types equal). Every case ends as pass, fail with a reason, or unsupported naming what is missing.
 */

export const TESTDATA_ROOT = '/usr/share/libonnx-testdata/data';
export const CATEGORIES = ['node', 'pytorch-converted', 'pytorch-operator', 'simple', 'real'] as const;
export type Category = (typeof CATEGORIES)[number];

const RTOL = 1e-3;
const ATOL = 1e-7;

export type Outcome = 'pass' | 'fail' | 'unsupported';

export interface CaseResult {
  readonly name: string;
  readonly category: Category;
  /** The op this case tests (a node test's op; '(model)' for multi-op models). */
  readonly op: string;
  readonly outcome: Outcome;
  readonly reason?: string;
  /** A failure that was not a MinnowError (a crash): minnow promises none. */
  readonly crashed?: boolean;
  readonly ms: number;
}

export function listCases(category: Category): string[] {
  const dir = join(TESTDATA_ROOT, category);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((d) => existsSync(join(dir, d, 'model.onnx'))).sort();
}

function opTypes(graph: GraphProto | undefined, into = new Set<string>()): Set<string> {
  for (const node of graph?.node ?? []) {
    into.add(node.opType ?? '');
    for (const a of node.attribute) {
      if (a.g) opTypes(a.g, into);
      for (const g of a.graphs) opTypes(g, into);
    }
  }
  return into;
}

/** The op a node test is about: its only op, or the op its name starts with (test_reduce_sum_... -> ReduceSum). */
export function primaryOp(name: string, model: ModelProto | undefined, category: Category): string {
  const ops = [...opTypes(model?.graph)];
  if (category !== 'node') return '(model)';
  if (ops.length === 1) return ops[0];
  const flat = name.replace(/^test_/, '').replace(/_/g, '').toLowerCase();
  const matches = ops.filter((op) => flat.startsWith(op.toLowerCase())).sort((a, b) => b.length - a.length);
  return matches[0] ?? '(multi-op)';
}

/** `ok` or why `actual` is not `expected` under ONNX's runner tolerances. */
export function compareOutput(expected: TensorProto, actual: Value): string | undefined {
  const type = expected.dataType ?? 0;
  if (actual.elemType !== type) return `type ${dataTypeName(actual.elemType)}, expected ${dataTypeName(type)}`;
  if (actual.shape.length !== expected.dims.length || actual.shape.some((d, i) => d !== expected.dims[i])) {
    return `shape [${actual.shape.join(',')}], expected [${expected.dims.join(',')}]`;
  }
  const want = tensorValues(expected);
  if (Array.isArray(want)) return 'string outputs are not compared';
  const got = actual.hostData();
  const float = type === DataType.FLOAT || type === DataType.DOUBLE || type === DataType.FLOAT16 || type === DataType.BFLOAT16;
  let worst = -1;
  let worstError = 0;
  for (let i = 0; i < want.length; i++) {
    const e = Number(want[i]);
    const a = Number(got[i]);
    if (Number.isNaN(e) && Number.isNaN(a)) continue;
    if (e === a) continue;
    const error = Math.abs(a - e);
    const ok = float && error <= ATOL + RTOL * Math.abs(e);
    if (!ok && (worst < 0 || error > worstError || Number.isNaN(error))) {
      worst = i;
      worstError = error;
    }
  }
  if (worst >= 0) return `element ${worst}: ${Number(got[worst])}, expected ${Number(want[worst])} (${float ? `|error| ${worstError.toExponential(2)}` : 'exact'})`;
  return undefined;
}

/**
 * numpy has no bfloat16, so ONNX's test generator stores bfloat16 values as their uint16 bits: a
 * uint16 file standing for a bfloat16 value is read as the bfloat16 it holds.
 */
function asDeclaredBFloat16(t: TensorProto, declared: number | undefined): TensorProto {
  return declared === DataType.BFLOAT16 && t.dataType === DataType.UINT16 ? { ...t, dataType: DataType.BFLOAT16 } : t;
}

function classify(error: unknown): { outcome: Outcome; reason: string; crashed?: boolean } {
  if (error instanceof MinnowError) {
    const unsupported = error.code === 'UNSUPPORTED_OP' || error.code === 'UNSUPPORTED_DTYPE';
    return { outcome: unsupported ? 'unsupported' : 'fail', reason: `${error.code}: ${error.message}` };
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { outcome: 'fail', reason: `crash: ${message}`, crashed: true };
}

/** Runs one case on `backend` (already initialised). */
export async function runCase(category: Category, name: string, backend: string): Promise<CaseResult> {
  const dir = join(TESTDATA_ROOT, category, name);
  const started = performance.now();
  let model: ModelProto | undefined;
  const done = (outcome: Outcome, reason?: string, crashed?: boolean): CaseResult => ({
    name, category, op: primaryOp(name, model, category), outcome, reason, crashed, ms: performance.now() - started,
  });
  let session: OnnxSession | undefined;
  try {
    model = await loadModel(join(dir, 'model.onnx'));
    const graph = model.graph;
    const initialised = new Set(graph?.initializer.map((t) => t.name) ?? []);
    const inputs = (graph?.input ?? []).filter((v) => !initialised.has(v.name));
    const nonTensor = [...inputs, ...(graph?.output ?? [])].find((v) => v.type !== undefined && v.type.tensorType === undefined);
    if (nonTensor) return done('unsupported', `value '${nonTensor.name ?? ''}' is a sequence, map or optional; minnow computes tensors only`);
    session = OnnxSession.create(model, { backend });
    const sets = readdirSync(dir).filter((d) => d.startsWith('test_data_set_')).sort();
    for (const set of sets) {
      const feeds: Record<string, TensorProto> = {};
      inputs.forEach((v, k) => {
        const file = join(dir, set, `input_${k}.pb`);
        if (existsSync(file)) feeds[v.name ?? ''] = asDeclaredBFloat16(readTensor(readFileSync(file)), v.type?.tensorType?.elemType);
      });
      const outputs = session.runValues(feeds);
      try {
        const names = [...outputs.keys()];
        for (let k = 0; k < names.length; k++) {
          const file = join(dir, set, `output_${k}.pb`);
          if (!existsSync(file)) continue;
          const actual = outputs.get(names[k]) as Value;
          const mismatch = compareOutput(asDeclaredBFloat16(readTensor(readFileSync(file)), actual.elemType), actual);
          if (mismatch !== undefined) return done('fail', `${set} output '${names[k]}': ${mismatch}`);
        }
      } finally {
        for (const v of outputs.values()) v.dispose();
      }
    }
    return done('pass');
  } catch (error) {
    const { outcome, reason, crashed } = classify(error);
    return done(outcome, reason, crashed);
  } finally {
    session?.dispose();
  }
}

export interface OpTally {
  passed: number;
  failed: number;
  unsupported: number;
}

export interface Summary {
  readonly backend: string;
  readonly passed: number;
  readonly failed: number;
  readonly unsupported: number;
  readonly crashed: number;
  /** Op types with at least one passing node test. */
  readonly ops: number;
  /** passed / (passed + failed) over the node tests of supported ops. */
  readonly nodePassRate: number;
  readonly byOp: ReadonlyMap<string, OpTally>;
}

export function summarize(backend: string, results: readonly CaseResult[]): Summary {
  const byOp = new Map<string, OpTally>();
  for (const r of results) {
    const key = r.category === 'node' ? r.op : `(${r.category})`;
    const tally = byOp.get(key) ?? { passed: 0, failed: 0, unsupported: 0 };
    if (r.outcome === 'pass') tally.passed++;
    else if (r.outcome === 'fail') tally.failed++;
    else tally.unsupported++;
    byOp.set(key, tally);
  }
  const node = results.filter((r) => r.category === 'node');
  const nodePassed = node.filter((r) => r.outcome === 'pass').length;
  const nodeFailed = node.filter((r) => r.outcome === 'fail').length;
  const ops = new Set(node.filter((r) => r.outcome === 'pass' && !r.op.startsWith('(')).map((r) => r.op)).size;
  return {
    backend,
    passed: results.filter((r) => r.outcome === 'pass').length,
    failed: results.filter((r) => r.outcome === 'fail').length,
    unsupported: results.filter((r) => r.outcome === 'unsupported').length,
    crashed: results.filter((r) => r.crashed).length,
    ops,
    nodePassRate: nodePassed + nodeFailed === 0 ? 0 : nodePassed / (nodePassed + nodeFailed),
    byOp,
  };
}
