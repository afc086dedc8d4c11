import { arch, cpus, platform } from 'node:os';
import { MinnowError, defaultBackendName, getBackend, type Tensor } from '@minnow/core';
import type { EpochRecord, Progress, SensitivityResult, SparsityReport } from '@minnow/compress';
import { histogram } from './histogram.js';
import type { ReportCurve, ReportLayer } from './types.js';

/**
 * Helpers that build the parts of ReportData from minnow's own objects: loss curves from the
 * training loop's progress reports and histories, layers from a module's weights, a pruning
 * report and a sensitivity analysis, and the environment. Layers from different steps are joined
 * by mergeLayers (ONNX layers are in collect-onnx.ts).
 */

// ------------------------------------------------------------------------------------------------
// curves

export interface ProgressCurveOptions {
  /** Chart title the curve is drawn on (default 'Loss'). */
  readonly chart?: string;
  /** Which reports: the training steps (default) or the evaluations. */
  readonly phase?: Progress['phase'];
}

/**
 * A loss curve from the progress reports of train or distill (collect them with onProgress): x is
 * the optimiser step counted over the whole run (epoch * stepsPerEpoch + step), y the report's
 * loss, which is the mean over the epoch so far (so each epoch's curve starts noisy and settles).
 */
export function curveFromProgress(name: string, reports: readonly Progress[], options: ProgressCurveOptions = {}): ReportCurve {
  const phase = options.phase ?? 'train';
  const points = reports
    .filter((p) => p.phase === phase)
    .map((p) => [p.epoch * p.stepsPerEpoch + p.step, p.loss] as const);
  return { name, points, chart: options.chart ?? 'Loss', xLabel: 'step' };
}

/**
 * Per-epoch curves from a train/distill history: the training objective, and the evaluation
 * cross-entropy when the run evaluated (epochs counted from 1).
 */
export function curvesFromHistory(name: string, history: readonly EpochRecord[], options: { readonly chart?: string } = {}): ReportCurve[] {
  const chart = options.chart ?? 'Loss per epoch';
  const curves: ReportCurve[] = [{ name: `${name} train`, points: history.map((r) => [r.epoch + 1, r.trainLoss] as const), chart, xLabel: 'epoch' }];
  const tested = history.filter((r) => r.testLoss !== undefined);
  if (tested.length > 0) curves.push({ name: `${name} test`, points: tested.map((r) => [r.epoch + 1, r.testLoss as number] as const), chart, xLabel: 'epoch' });
  return curves;
}

// ------------------------------------------------------------------------------------------------
// layers

/** What moduleWeightLayers needs of a module: nn's Module has it. */
export interface NamedParameters {
  namedParameters(): [string, Tensor][];
}

export interface ModuleLayerOptions {
  readonly bins?: number;
  /** Which parameters are layers (default: names ending in 'weight' with rank >= 2: Linear and Conv weights). */
  readonly include?: (name: string, parameter: Tensor) => boolean;
}

const isWeight = (name: string, p: Tensor): boolean => /(^|\.)weight$/.test(name) && p.rank >= 2;

/** One layer per weight of a module (read from any backend, hence async), named by its parameter path. */
export async function moduleWeightLayers(model: NamedParameters, options: ModuleLayerOptions = {}): Promise<ReportLayer[]> {
  if (model === null || typeof model !== 'object' || typeof model.namedParameters !== 'function') {
    throw new MinnowError('INVALID_ARGUMENT', 'report: moduleWeightLayers needs a module (an object with namedParameters())');
  }
  const include = options.include ?? isWeight;
  const layers: ReportLayer[] = [];
  for (const [name, p] of model.namedParameters()) {
    if (!include(name, p)) continue;
    const values = (await p.data()) as ArrayLike<number>;
    layers.push({ name, weight: name, params: p.size, before: histogram(values, { bins: options.bins }) });
  }
  return layers;
}

/** Module parameters in all (for a step's `params`). */
export function moduleParamCount(model: NamedParameters): number {
  return model.namedParameters().reduce((n, [, p]) => n + p.size, 0);
}

/** One layer per pruned tensor of a PruningMasks report: its sparsity (the zeros it holds now). */
export function sparsityLayers(report: SparsityReport): ReportLayer[] {
  return report.layers.map((l) => ({ name: l.name, weight: l.name, params: l.params, sparsity: l.sparsity }));
}

/**
 * One layer per row of a sensitivity analysis (layerSensitivity), most sensitive first as it ranks
 * them. Given the analysed model, each row also names the layer's weight, so it joins the other
 * steps' records of that weight.
 */
export function sensitivityLayers(result: SensitivityResult, weightOf?: (layer: string) => string | undefined): ReportLayer[] {
  return result.layers.map((l) => {
    const weight = weightOf?.(l.layer);
    return {
      name: l.layer,
      op: l.op,
      ...(weight === undefined ? {} : { weight }),
      sensitivity: { precision: l.precision, sqnrDb: l.sqnrDb, mse: l.mse, ...(l.accuracyDrop === undefined ? {} : { accuracyDrop: l.accuracyDrop }) },
    };
  });
}

const keyOf = (layer: ReportLayer): string => layer.weight ?? layer.name;

/**
 * Joins layer records from several steps into one per layer: records match when they name the same
 * weight (or, without one, the same name), or when one's name is the other's weight. Each field
 * keeps its first value, so pass the groups whose names should show first (ONNX node names, say);
 * layers keep the order they are first seen in.
 */
export function mergeLayers(...groups: readonly (readonly ReportLayer[])[]): ReportLayer[] {
  const merged: ReportLayer[] = [];
  const byKey = new Map<string, number>();
  for (const group of groups) {
    for (const layer of group) {
      const at = byKey.get(keyOf(layer)) ?? byKey.get(layer.name) ?? (layer.weight === undefined ? undefined : byKey.get(layer.weight));
      if (at === undefined) {
        byKey.set(keyOf(layer), merged.length);
        byKey.set(layer.name, merged.length);
        merged.push(layer);
        continue;
      }
      // Earlier values win: spread the new record first, then the kept one over it (skipping undefined fields).
      const kept = merged[at];
      const defined = Object.fromEntries(Object.entries(kept).filter(([, v]) => v !== undefined));
      merged[at] = { ...layer, ...defined } as ReportLayer;
      byKey.set(keyOf(layer), at);
      byKey.set(layer.name, at);
    }
  }
  return merged;
}

// ------------------------------------------------------------------------------------------------
// environment

/** Where the job ran: Node, the OS and CPU, and the default backend as it describes itself. */
export function environmentInfo(extra: Readonly<Record<string, string>> = {}): Record<string, string> {
  const info: Record<string, string> = {
    node: process.version,
    platform: `${platform()} ${arch()}`,
    cpu: `${cpus()[0]?.model.trim() ?? 'unknown'} (${cpus().length} cores)`,
  };
  const name = defaultBackendName();
  if (name !== null) {
    const b = getBackend(name).info();
    info.backend = `${b.name} (${b.mode}, ${b.threads} thread${b.threads === 1 ? '' : 's'})`;
  }
  return { ...info, ...extra };
}
