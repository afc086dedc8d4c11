import { MinnowError } from '@minnow/core';
import { distill } from '@minnow/compress';
import type { Sequential } from '@minnow/nn';
import type { ImportedModule } from '@minnow/onnx';
import { curveFromProgress, curvesFromHistory } from '../../report/collect.js';
import type { DistillStep } from '../recipe.js';
import { buildStudent, exportTrainable, importTrainable } from '../trainable.js';
import type { StepContext, StepOutcome } from './context.js';
import { trainingLoop } from './train-loop.js';

/**
 * Knowledge distillation (Hinton et al. 2015) from the model into a smaller student: the model is
 * imported as the teacher (moduleFromOnnx), the student built from its spec, trained with
 * @minnow/compress's distill() on the training part of the data, and exported under the model's
 * input and output names. Without labels the loss is the soft targets' alone (alpha 0).
 */
export async function distillStep(options: DistillStep, context: StepContext): Promise<StepOutcome & { readonly student: string }> {
  const { data, backend } = context;
  if (data === null || data.synthetic) {
    throw new MinnowError('INVALID_ARGUMENT', `${context.where}: distillation trains the student on examples; pass --data (a folder of .npy files, mnist or fashion-mnist)`);
  }
  const warnings: string[] = [];
  let alpha = options.alpha;
  if (!data.labelled && alpha > 0) {
    warnings.push(`${context.where}: ${data.source} has no labels, so the student learns from the teacher's outputs alone (alpha 0 instead of ${alpha})`);
    alpha = 0;
  }
  let teacher: ImportedModule | undefined;
  let student: Sequential | undefined;
  try {
    teacher = importTrainable(context.model, data, backend);
    const width = teacher.outputShape[teacher.outputShape.length - 1];
    const built = await buildStudent(options.student, { data, outputs: width, backend, seed: options.seed, reinit: options.reinit, baseDir: context.baseDir });
    student = built.module;
    const { loop, reports, finish } = trainingLoop(data, options, backend, context.progress, `distill ${built.description}`);
    const history = distill({ ...loop, teacher: teacher.module, student, temperature: options.temperature, alpha, cacheTeacher: true });
    finish();
    const model = exportTrainable(student, teacher);
    return {
      model,
      student: built.description,
      note: `student ${built.description} distilled for ${options.epochs} epoch${options.epochs === 1 ? '' : 's'} on ${data.train.count.toLocaleString('en-US')} examples (T=${options.temperature}, alpha=${alpha})`,
      warnings,
      curves: [curveFromProgress('distillation loss', reports, { chart: 'Distillation loss' }), ...curvesFromHistory('distill', history, { chart: 'Distillation loss per epoch' })],
      details: { student: built.description, alpha, temperature: options.temperature, history },
    };
  } finally {
    student?.dispose();
    teacher?.module.dispose();
  }
}
