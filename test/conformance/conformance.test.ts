import { describe, expect, it } from 'vitest';
import { init } from '@minnow/core';
import { wasmBackend } from '@minnow/backend-wasm';
import { CATEGORIES, TESTDATA_ROOT, listCases, runCase, summarize, type CaseResult } from './runner.js';

// ONNX's backend test cases (Debian libonnx-testdata) on backend-js and backend-wasm; the totals are
// printed. Issue 6's bar: at least 80 op types pass, at least 95% of the node tests of supported ops
// pass, and no case crashes (each ends as pass, fail with a reason, or unsupported naming the op).
// A missing package skips the suite with a message naming it, except under CI=true, where it fails.
const installed = listCases('node').length > 0;
if (!installed && process.env.CI !== 'true') console.warn(`conformance skipped: ${TESTDATA_ROOT} is missing (apt-get install libonnx-testdata)`);

describe.skipIf(!installed && process.env.CI !== 'true')('ONNX conformance (libonnx-testdata)', () => {
  for (const backend of ['js', 'wasm']) {
    it(`${backend}: 1,072 cases, >= 80 op types, >= 95% of supported node tests pass, no crashes`, async () => {
      if (backend === 'wasm') await init(wasmBackend);
      const results: CaseResult[] = [];
      for (const category of CATEGORIES) for (const name of listCases(category)) results.push(await runCase(category, name, backend));
      const s = summarize(backend, results);
      console.log(`conformance ${backend}: ${s.passed} passed, ${s.failed} failed, ${s.unsupported} unsupported of ${results.length}; `
        + `${s.ops} op types pass; node tests of supported ops pass at ${(100 * s.nodePassRate).toFixed(1)}%; ${s.crashed} crashes`);
      expect(results.length).toBe(1072);
      expect(results.filter((r) => r.crashed).map((r) => `${r.name}: ${r.reason}`)).toEqual([]);
      expect(s.ops).toBeGreaterThanOrEqual(80);
      expect(s.nodePassRate).toBeGreaterThanOrEqual(0.95);
      for (const r of results) if (r.outcome !== 'pass') expect(r.reason, r.name).toBeTruthy();
    }, 300_000);
  }
});
