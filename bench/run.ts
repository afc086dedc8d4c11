import { parseArgs } from 'node:util';
import { init, backendStatus } from '@minnow/core';
import { jsBackend } from '@minnow/backend-js';
import { loadWasmBackend, wasmBackend } from '@minnow/backend-wasm';
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';
import { gpuBackend } from '@minnow/backend-gpu';
import { formatTable, writeResults, type Bench, type Row } from './lib/harness.js';

/**
 * `npm run bench -- <name> [--json] [--quick] [--no-write]`: runs one benchmark, prints a table for
 * people (or one JSON object per line with --json) and rewrites its section of bench/RESULTS.md.
 */

const BENCHES: Record<string, () => Promise<{ bench: Bench }>> = {
  gemm: () => import('./gemm.js'),
  qgemm: () => import('./qgemm.js'),
  conv: () => import('./conv.js'),
  ops: () => import('./ops.js'),
  kd: () => import('./kd.js'),
  onnx: () => import('./onnx.js'),
  quant: () => import('./quant.js'),
  prune: () => import('./prune.js'),
};

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      quick: { type: 'boolean', default: false },
      'no-write': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const name = positionals[0];
  if (values.help || !name || !(name in BENCHES)) {
    const usage = `usage: npm run bench -- <${Object.keys(BENCHES).join('|')}> [--json] [--quick] [--no-write]`;
    (values.help ? console.log : console.error)(usage);
    return values.help ? 0 : 2;
  }
  enableRelaxedSimd();
  await init(jsBackend);
  await init(wasmBackend);
  // The SIMD128 build side by side with the best build (relaxed SIMD where the engine has it).
  await init({ name: 'wasm-simd128', create: () => loadWasmBackend({ build: 'simd', name: 'wasm-simd128' }) });
  // gpu.js's mode labels the gpu rows (headlessgl under Xvfb; a named fallback without a display).
  await init(gpuBackend);
  const { bench } = await BENCHES[name]();
  const rows: Row[] = [];
  const notes: string[] = [];
  const log = values.json ? (m: string) => console.error(m) : (m: string) => console.log(m);
  if (!values.json) log(`${bench.title}\nbackends: ${backendStatus().map((b) => `${b.name} (${b.info?.mode ?? 'not initialised'})`).join(', ')}`);
  await bench.run({
    quick: values.quick,
    emit(row) {
      rows.push(row);
      if (values.json) console.log(JSON.stringify(row));
      else log(`  ${bench.columns.map((c) => `${c}=${typeof row[c] === 'number' ? Number(row[c]).toFixed(2) : row[c]}`).join(' ')}`);
    },
    note(message) {
      notes.push(message);
      log(message);
    },
  });
  const summary = bench.summary?.(rows) ?? [];
  if (!values.json) console.log(`\n${formatTable(bench.columns, rows)}\n${summary.join('\n')}`);
  else for (const line of summary) console.error(line);
  if (!values['no-write'] && !values.quick) writeResults(bench, rows, [...summary, ...notes.map((n) => `Note: ${n}`)]);
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
