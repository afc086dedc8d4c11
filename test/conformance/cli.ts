import { parseArgs } from 'node:util';
import { init } from '@minnow/core';
import { jsBackend } from '@minnow/backend-js';
import { wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import { CATEGORIES, TESTDATA_ROOT, listCases, runCase, summarize, type CaseResult, type Category } from './runner.js';

/**
 * `npm run conformance [-- --json] [--backend js|wasm|all] [--op Name] [--failures]`: ONNX's backend
 * test cases on minnow's backends; a table per op type, totals, and with --json one line per backend:
 * {"suite":"onnx-node","backend":…,"passed":N,"failed":N,"unsupported":N,"ops":N}.
 */
async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      backend: { type: 'string', default: 'all' },
      op: { type: 'string' },
      failures: { type: 'boolean', default: false },
    },
  });
  if (listCases('node').length === 0) {
    console.error(`conformance: ${TESTDATA_ROOT} is missing: apt-get install libonnx-testdata`);
    return 2;
  }
  enableRelaxedSimd();
  await init(jsBackend);
  await init(wasmBackend);
  const backends = values.backend === 'all' ? ['js', 'wasm'] : [values.backend as string];
  const log = values.json ? (m: string) => console.error(m) : (m: string) => console.log(m);
  for (const backend of backends) {
    const results: CaseResult[] = [];
    for (const category of CATEGORIES as readonly Category[]) {
      for (const name of listCases(category)) {
        const result = await runCase(category, name, backend);
        if (values.op !== undefined && result.op !== values.op) continue;
        results.push(result);
        if (values.failures && result.outcome !== 'pass') log(`  ${result.outcome.padEnd(11)} ${category}/${name}: ${result.reason ?? ''}`);
      }
    }
    const s = summarize(backend, results);
    log(`\nbackend ${backend}: op type, passed, failed, unsupported`);
    for (const [op, t] of [...s.byOp].sort((a, b) => a[0].localeCompare(b[0]))) {
      log(`  ${op.padEnd(28)} ${String(t.passed).padStart(4)} ${String(t.failed).padStart(4)} ${String(t.unsupported).padStart(4)}`);
    }
    log(`backend ${backend}: ${s.passed} passed, ${s.failed} failed, ${s.unsupported} unsupported of ${results.length} cases; `
      + `${s.ops} op types pass; node tests of supported ops pass at ${(100 * s.nodePassRate).toFixed(1)}%; ${s.crashed} crashes`);
    if (values.json) {
      console.log(JSON.stringify({ suite: 'onnx-node', backend, passed: s.passed, failed: s.failed, unsupported: s.unsupported, ops: s.ops, crashed: s.crashed, node_pass_rate: Number(s.nodePassRate.toFixed(4)) }));
    }
  }
  return 0;
}

main().then((code) => process.exit(code), (error) => {
  console.error(error);
  process.exit(1);
});
