import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { MinnowError } from '@minnow/core';
import { OnnxSession, type TensorProto, type Value } from '@minnow/onnx';
import { loadModel, readUserFile, writeFileAtomic } from '@minnow/onnx/node';
import { npyToTensorProto, parseNpy, serializeNpy, valuesToNpy } from '@minnow/formats';
import { useBackend } from '../backends.js';
import type { Output } from '../output.js';

interface RunOptions {
  input: string[];
  backend: string;
  out?: string;
  json?: boolean;
}

const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** `name=file.npy` pairs, read and checked. */
async function readFeeds(pairs: readonly string[]): Promise<Record<string, TensorProto>> {
  const feeds: Record<string, TensorProto> = {};
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (at <= 0) throw new MinnowError('INVALID_ARGUMENT', `--input '${pair}': expected name=file.npy`);
    const name = pair.slice(0, at);
    const file = pair.slice(at + 1);
    feeds[name] = npyToTensorProto(parseNpy(await readUserFile(file), file), name);
  }
  return feeds;
}

/** A short account of a value: type, shape, and a few numbers (min, max, mean, first values). */
function describeValue(name: string, v: Value): Record<string, unknown> {
  const values = v.numbers();
  const finite = values.filter(Number.isFinite);
  return {
    name,
    type: v.toString().replace(/\[.*$/, ''),
    shape: v.shape,
    min: finite.length ? Math.min(...finite) : null,
    max: finite.length ? Math.max(...finite) : null,
    mean: finite.length ? finite.reduce((a, b) => a + b, 0) / finite.length : null,
    first: values.slice(0, 8),
  };
}

/** File names from output names: ONNX names may hold '/' or ':'. */
const fileNameOf = (name: string): string => `${name.replace(/[^A-Za-z0-9._-]/g, '_') || 'output'}.npy`;

export function registerRunCommand(program: Command, output: Output): void {
  program
    .command('run')
    .description('run an ONNX model on minnow with inputs from .npy files; print the outputs, or write them as .npy')
    .argument('<model>', 'an .onnx file')
    .option('--input <name=file.npy>', 'an input (repeat for each)', collect, [])
    .option('--backend <name>', 'js, wasm or gpu', 'wasm')
    .option('--out <dir>', 'write each output to <dir>/<name>.npy')
    .option('--json', 'one JSON document for scripts')
    .action(async (path: string, options: RunOptions) => {
      await useBackend(options.backend);
      const model = await loadModel(path);
      const feeds = await readFeeds(options.input);
      const session = OnnxSession.create(model, { backend: options.backend });
      try {
        const started = performance.now();
        const outputs = session.runValues(feeds);
        const ms = performance.now() - started;
        try {
          const described = [...outputs].map(([name, v]) => describeValue(name, v));
          const written: string[] = [];
          if (options.out !== undefined) {
            await mkdir(options.out, { recursive: true });
            for (const [name, v] of outputs) {
              const file = join(options.out, fileNameOf(name));
              await writeFileAtomic(file, serializeNpy(valuesToNpy(v.elemType, v.shape, v.hostData())));
              written.push(file);
            }
          }
          if (options.json) {
            output.json({ model: path, backend: options.backend, ms, outputs: described, written });
            return;
          }
          output.line(`${path} on ${options.backend}: ${ms.toFixed(1)} ms`);
          for (const d of described) {
            output.line(`  ${String(d.name)}  ${String(d.type)} [${(d.shape as number[]).join(', ')}]  min ${fmt(d.min)} max ${fmt(d.max)} mean ${fmt(d.mean)}  first ${(d.first as number[]).map(fmt).join(' ')}`);
          }
          for (const file of written) output.line(`  wrote ${file}`);
        } finally {
          for (const v of outputs.values()) v.dispose();
        }
      } finally {
        session.dispose();
      }
    });
}

const fmt = (x: unknown): string => (typeof x === 'number' ? (Number.isInteger(x) ? String(x) : x.toPrecision(5)) : String(x));
