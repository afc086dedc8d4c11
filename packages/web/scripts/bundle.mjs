// Bundles @minnow/web (core and the js, wasm and gpu backends) into ONE browser ESM file,
// packages/web/dist/minnow.js, straight from the TypeScript sources (the "source" export condition).
// gpu.js resolves to its browser build through its package.json "browser" field; the script fails
// if anything Node-only (headless-gl, the webgpu Node bindings, node:* or other built-ins) gets in.
import { build } from 'esbuild';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(root, '../..');
const outfile = resolve(root, 'dist/minnow.js');

/** Packages that only work in Node; one of them in the bundle means a Node build was picked. */
const NODE_ONLY_PACKAGES = ['gl', 'webgpu', 'bindings', 'node-gyp-build', 'node-addon-api'];
const NODE_BUILTIN = /^(node:|(assert|buffer|child_process|crypto|fs|module|net|os|path|perf_hooks|stream|tls|url|util|v8|vm|worker_threads|zlib)(\/|$))/;

/** The esbuild settings every browser build of minnow uses (the bundle here, and the test pages). */
export const BROWSER_BUILD = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  conditions: ['source'],
  sourcemap: true,
  logLevel: 'warning',
};

export async function bundle({ quiet = false } = {}) {
  mkdirSync(dirname(outfile), { recursive: true });
  const started = performance.now();
  const result = await build({
    absWorkingDir: repo,
    entryPoints: [resolve(root, 'src/index.ts')],
    outfile,
    ...BROWSER_BUILD,
    metafile: true,
    legalComments: 'eof',
  });

  const problems = [];
  for (const input of Object.keys(result.metafile.inputs)) {
    const pkg = packageOf(input);
    if (pkg !== null && NODE_ONLY_PACKAGES.includes(pkg)) problems.push(`${input} (Node-only package "${pkg}")`);
    if (NODE_BUILTIN.test(input)) problems.push(`${input} (Node built-in)`);
  }
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    for (const imported of output.imports) {
      // A single self-contained file imports nothing; an external import is a module the page lacks.
      problems.push(`${file} imports "${imported.path}"${imported.external ? ' (external)' : ''}`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`@minnow/web bundle pulls in Node-only code:\n  ${problems.join('\n  ')}`);
  }

  const output = result.metafile.outputs[relative(repo, outfile)];
  const bytes = output.bytes;
  const gzipped = gzipSync(readFileSync(outfile)).length;
  const byPackage = new Map();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const key = packageOf(input) ?? (input.startsWith('packages/') ? `@minnow/${input.split('/')[1]}` : input);
    byPackage.set(key, (byPackage.get(key) ?? 0) + bytesInOutput);
  }
  if (!quiet) {
    const parts = [...byPackage].filter(([, n]) => n > 0).sort((a, b) => b[1] - a[1]).map(([name, n]) => `${name} ${kib(n)}`);
    console.log(
      `@minnow/web: ${relative(repo, outfile)} ${kib(bytes)} (${kib(gzipped)} gzipped) in ${Math.round(performance.now() - started)} ms; ${parts.join(', ')}`,
    );
  }
  return { outfile, bytes, gzipped };
}

/** The npm package a metafile input path belongs to, or null for our own sources. */
function packageOf(input) {
  const at = input.lastIndexOf('node_modules/');
  if (at < 0) return null;
  const rest = input.slice(at + 'node_modules/'.length).split('/');
  return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
}

function kib(n) {
  return `${(n / 1024).toFixed(1)} KiB`;
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    await bundle();
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
