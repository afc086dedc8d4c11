import { polynomialDecay, pruneGradually, pruneOnnx, type PrunedOnnxLayer } from '@minnow/compress';
import type { ModelProto } from '@minnow/onnx';
import { curveFromProgress, curvesFromHistory } from '../../report/collect.js';
import type { ReportLayer } from '../../report/types.js';
import type { PruneStep } from '../recipe.js';
import { exportTrainable, importTrainable } from '../trainable.js';
import type { StepContext, StepOutcome } from './context.js';
import { trainingLoop } from './train-loop.js';

/**
 * Unstructured pruning of the Conv/MatMul/Gemm weights. With `fineTune` and labelled data, the
 * model is imported as an nn module and pruned gradually while it trains (pruneGradually: Zhu and
 * Gupta's cubic schedule over the first two thirds of the steps, then training at the final
 * sparsity), learning from the unpruned model too when `fineTune.distill`; otherwise the ONNX
 * graph's weights are pruned at once (pruneOnnx), and the step says why.
 */
export async function pruneStep(options: PruneStep, context: StepContext): Promise<StepOutcome> {
  const { data } = context;
  const tune = options.fineTune;
  const canTrain = tune !== undefined && data !== null && !data.synthetic && data.labelled;
  if (!canTrain) {
    const why = tune === undefined ? 'the recipe asks for no fine-tuning'
      : data === null || data.synthetic ? 'no --data to fine-tune on' : `${data.source} has no labels to fine-tune on`;
    const { model } = pruneOnnx(context.model, {
      sparsity: options.sparsity, global: options.scope === 'global',
      criterion: options.criterion === 'random' ? { kind: 'random', seed: 0 } : 'magnitude',
    });
    const report = sparsityOf(model);
    return {
      model,
      note: `${pct(options.sparsity)} of the weights pruned at once by ${options.criterion} (${options.scope}): ${why}`,
      warnings: tune === undefined ? [] : [`${context.where}: pruned at once without fine-tuning: ${why}`],
      layers: sparsityLayers(report),
      details: { schedule: 'one-shot', layers: report },
    };
  }
  const student = importTrainable(context.model, data, context.backend);
  const teacher = tune.distill ? importTrainable(context.model, data, context.backend) : undefined;
  try {
    const { loop, reports, finish } = trainingLoop(data, tune, context.backend, context.progress, `prune ${pct(options.sparsity)} while fine-tuning`);
    const steps = tune.epochs * loop.data.length;
    const endStep = Math.floor((2 * steps) / 3);
    const { history, masks, events } = pruneGradually({
      ...loop,
      model: student.module,
      ...(teacher ? { teacher: teacher.module, temperature: tune.temperature, alpha: tune.alpha, cacheTeacher: true } : {}),
      criterion: options.criterion === 'random' ? { kind: 'random', seed: tune.seed } : 'magnitude',
      global: options.scope === 'global',
      pruningSchedule: polynomialDecay({ finalSparsity: options.sparsity, endStep, frequency: Math.max(1, Math.floor(endStep / 10)) }),
    });
    finish();
    masks.dispose();
    const model = exportTrainable(student.module, student);
    const report = sparsityOf(model);
    return {
      model,
      note: `${pct(options.sparsity)} of the weights pruned by ${options.criterion} (${options.scope}), gradually over ${endStep} of ${steps} steps of fine-tuning${teacher ? ' distilled from the unpruned model' : ''}`,
      curves: [
        curveFromProgress('pruning fine-tune loss', reports, { chart: 'Fine-tuning loss while pruning' }),
        ...curvesFromHistory('prune', history, { chart: 'Fine-tuning loss per epoch' }),
      ],
      layers: sparsityLayers(report),
      details: { schedule: 'gradual', endStep, steps, events, history, layers: report },
    };
  } finally {
    teacher?.module.dispose();
    student.module.dispose();
  }
}

/** The zeros each prunable weight of a model holds (pruneOnnx at sparsity 0 prunes nothing and counts them). */
export function sparsityOf(model: ModelProto): PrunedOnnxLayer[] {
  return pruneOnnx(model, { sparsity: 0 }).report;
}

function sparsityLayers(report: readonly PrunedOnnxLayer[]): ReportLayer[] {
  return report.filter((l) => l.params > 0).map((l) => ({ name: l.node, op: l.op, weight: l.weight, params: l.params, sparsity: l.sparsity }));
}

const pct = (x: number): string => `${+(x * 100).toFixed(2)}%`;
