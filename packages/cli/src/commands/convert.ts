import { resolve } from 'node:path';
import type { Command } from 'commander';
import { MinnowError } from '@minnow/core';
import { summarizeModel, type ModelProto } from '@minnow/onnx';
import { loadModel, saveModel } from '@minnow/onnx/node';
import { applySafetensorsToOnnx, safetensorsFromOnnx } from '@minnow/formats';
import { convertTfjsLayersFile, readSafetensorsFile, writeSafetensorsFile } from '@minnow/formats/node';
import { formatCount } from '../format.js';
import type { Output } from '../output.js';

type Format = 'onnx' | 'safetensors' | 'tfjs';

/** The format a path names, by its extension (a TensorFlow.js Layers model is its model.json). */
function formatOf(path: string): Format | undefined {
  if (path.endsWith('.onnx')) return 'onnx';
  if (path.endsWith('.safetensors')) return 'safetensors';
  if (path.endsWith('.json')) return 'tfjs';
  return undefined;
}

interface ConvertOptions {
  model?: string;
  force?: boolean;
  externalData?: string;
  json?: boolean;
}

const CONVERSIONS = [
  'model.json (TensorFlow.js Layers) -> .onnx',
  '.onnx -> .safetensors (the initialisers, by name)',
  '.safetensors -> .onnx (with --model base.onnx: its initialisers replaced by name)',
  '.onnx -> .onnx (rewritten; --external-data moves large tensors beside it)',
];

export function registerConvertCommand(program: Command, output: Output): void {
  program
    .command('convert')
    .description(`convert between formats, chosen by extension: ${CONVERSIONS.join('; ')}`)
    .argument('<in>', 'input: .onnx, .safetensors or a TensorFlow.js model.json')
    .argument('<out>', 'output: .onnx or .safetensors')
    .option('--model <base.onnx>', 'for .safetensors -> .onnx: the model whose initialisers the tensors replace')
    .option('--external-data <file>', 'for -> .onnx: put tensors of 1 KiB or more in this file beside the model')
    .option('--force', 'overwrite the input if <out> names it')
    .option('--json', 'one JSON document for scripts')
    .action(async (input: string, out: string, options: ConvertOptions) => {
      const from = formatOf(input);
      const to = formatOf(out);
      if (from === undefined || to === undefined || to === 'tfjs') {
        throw new MinnowError('INVALID_ARGUMENT', `convert: cannot tell the formats of '${input}' -> '${out}'; supported: ${CONVERSIONS.join('; ')}`);
      }
      if (resolve(input) === resolve(out) && !options.force) {
        throw new MinnowError('INVALID_ARGUMENT', `convert: '${out}' is the input; pass --force to overwrite it`);
      }
      const saveOnnx = async (model: ModelProto): Promise<Record<string, unknown>> => {
        await saveModel(out, model, options.externalData ? { externalData: { location: options.externalData, threshold: 1024 } } : {});
        const s = summarizeModel(model);
        return { nodes: s.nodes, parameters: s.parameters };
      };
      let figures: Record<string, unknown>;
      if (from === 'tfjs' && to === 'onnx') figures = await saveOnnx(await convertTfjsLayersFile(input));
      else if (from === 'onnx' && to === 'safetensors') {
        const st = safetensorsFromOnnx(await loadModel(input), { converted_by: 'minnow' });
        await writeSafetensorsFile(out, st.tensors, st.metadata);
        figures = { tensors: st.tensors.size };
      } else if (from === 'safetensors' && to === 'onnx') {
        if (options.model === undefined) throw new MinnowError('INVALID_ARGUMENT', 'convert: .safetensors -> .onnx needs --model base.onnx (the graph the weights belong to)');
        const { model, updated, ...rest } = applySafetensorsToOnnx(await loadModel(options.model), await readSafetensorsFile(input));
        figures = { ...(await saveOnnx(model)), updated: updated.length, ...rest };
      } else if (from === 'onnx' && to === 'onnx') figures = await saveOnnx(await loadModel(input));
      else throw new MinnowError('INVALID_ARGUMENT', `convert: ${from} -> ${to} is not a conversion minnow makes; supported: ${CONVERSIONS.join('; ')}`);
      if (options.json) output.json({ input, output: out, from, to, ...figures });
      else output.line(`${input} (${from}) -> ${out} (${to}): ${Object.entries(figures).map(([k, v]) => `${k} ${Array.isArray(v) ? v.length : typeof v === 'number' ? formatCount(v) : String(v)}`).join(', ')}`);
    });
}
