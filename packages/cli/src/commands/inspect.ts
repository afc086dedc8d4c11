import type { Command } from 'commander';
import { MinnowError } from '@minnow/core';
import { OnnxSession, summarizeModel, type ModelProto, type ModelSummary, type ValueDescription } from '@minnow/onnx';
import { loadModel } from '@minnow/onnx/node';
import { formatBytes, formatCount } from '../format.js';
import type { Output } from '../output.js';
import { useBackend } from '../backends.js';

interface OnnxInspection {
  readonly format: 'onnx';
  readonly path: string;
  readonly summary: ModelSummary;
  readonly inputs: readonly ValueDescription[];
  readonly outputs: readonly ValueDescription[];
  /** Whether minnow can run the model, and if not, why (the first unsupported op). */
  readonly runsOnMinnow: boolean;
  readonly unsupported?: string;
}

const dims = (d: ValueDescription['dims']): string => (d === undefined ? '[?]' : `[${d.map((x) => x ?? '?').join(', ')}]`);

/** Inputs and outputs with dims filled in by shape inference where the file leaves them out. */
async function describeOnnx(path: string, model: ModelProto): Promise<OnnxInspection> {
  const summary = summarizeModel(model);
  const graph = model.graph;
  const declared = (v: NonNullable<typeof graph>['input'][number]): ValueDescription => {
    const t = v.type?.tensorType;
    return { name: v.name ?? '', elemType: t?.elemType ?? 0, type: '', dims: t?.shape?.dim.map((d) => d.dimValue ?? d.dimParam) };
  };
  await useBackend('js');
  let session: OnnxSession | undefined;
  try {
    session = OnnxSession.create(model, { backend: 'js' });
  } catch (error) {
    if (!(error instanceof MinnowError) || (error.code !== 'UNSUPPORTED_OP' && error.code !== 'UNSUPPORTED_DTYPE')) throw error;
    const initialised = new Set(graph?.initializer.map((t) => t.name));
    return {
      format: 'onnx', path, summary, runsOnMinnow: false, unsupported: error.message,
      inputs: (graph?.input ?? []).filter((v) => !initialised.has(v.name)).map(declared),
      outputs: (graph?.output ?? []).map(declared),
    };
  }
  try {
    const inferred = await session.inferShapes();
    const outputs = session.outputs.map((o) => {
      const known = inferred.values.get(o.name);
      return o.dims === undefined && known !== undefined ? { ...o, dims: known.dims } : o;
    });
    return { format: 'onnx', path, summary, inputs: session.inputs, outputs, runsOnMinnow: true };
  } finally {
    session.dispose();
  }
}

function printOnnx(output: Output, r: OnnxInspection): void {
  const s = r.summary;
  output.line(`${r.path}: ONNX, IR ${s.irVersion ?? '?'}, opsets ${s.opsets.map((o) => `${o.domain} ${o.version}`).join(', ')}${s.producer ? `, made by ${s.producer}` : ''}`);
  output.line('inputs:');
  for (const v of r.inputs) output.line(`  ${v.name}  ${v.type} ${dims(v.dims)}`);
  output.line('outputs:');
  for (const v of r.outputs) output.line(`  ${v.name}  ${v.type} ${dims(v.dims)}`);
  output.line(`ops: ${formatCount(s.nodes)} nodes of ${s.ops.length} types: ${s.ops.map((o) => `${o.op} ${o.count}`).join(', ')}`);
  const total = Object.values(s.bytesByType).reduce((a, b) => a + b, 0);
  output.line(`parameters: ${formatCount(s.parameters)} in ${s.tensors} stored tensors, ${formatBytes(total)}`
    + ` (${Object.entries(s.bytesByType).sort((a, b) => b[1] - a[1]).map(([t, b]) => `${t} ${formatBytes(b)}`).join(', ')})`);
  output.line(r.runsOnMinnow ? 'runs on minnow: yes' : `runs on minnow: no: ${r.unsupported ?? ''}`);
}

export function registerInspectCommand(program: Command, output: Output): void {
  program
    .command('inspect')
    .description('what a model holds: inputs, outputs, opsets, op histogram, parameters and bytes by type')
    .argument('<model>', 'an .onnx file')
    .option('--json', 'one JSON document for scripts')
    .action(async (path: string, options: { json?: boolean }) => {
      const model = await loadModel(path);
      const report = await describeOnnx(path, model);
      if (options.json) output.json(report);
      else printOnnx(output, report);
    });
}
