#!/usr/bin/env node
import { enableRelaxedSimd } from '@minnow/backend-wasm/node';

// Node 20 runs relaxed SIMD only behind a V8 flag that NODE_OPTIONS refuses; set it before any
// WASM is compiled so the wasm backend can load its relaxed build.
enableRelaxedSimd();
const { runCli } = await import('./program.js');
process.exitCode = await runCli(process.argv.slice(2));
