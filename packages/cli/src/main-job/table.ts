import { formatBytes, formatCount, formatTable } from '../format.js';
import type { MainJobFigures, ModelFigures } from './figures.js';
import { percent } from './progress.js';

/**
 * The closing account of the main job: one row per model (what it weighs, what it gets right, how
 * fast it answers on each backend), then what each step cost against the model before it.
 */

export function formatMs(ms: number): string {
  return ms >= 1 ? `${ms.toFixed(2)} ms` : `${(ms * 1000).toFixed(0)} µs`;
}

/** The backends latency was timed on, in the order the figures hold them. */
export function timedBackends(figures: MainJobFigures): string[] {
  return figures.backends.filter((b) => b.timed).map((b) => b.name);
}

export function formatModelTable(figures: MainJobFigures): string {
  const backends = timedBackends(figures);
  const latency = backends.map((b) => `latency ${b}`);
  const columns = ['model', 'layers', 'parameters', 'non-zero', 'bytes on disk', 'test accuracy', ...latency, 'file'];
  const rows = figures.models.map((m) => [
    m.name, m.architecture, formatCount(m.params), formatCount(m.nonzero), formatBytes(m.bytes), percent(m.accuracy),
    ...backends.map((b) => (b in m.latencyMs ? formatMs(m.latencyMs[b]) : 'refused')), m.path,
  ]);
  return formatTable(columns, rows, { numeric: ['parameters', 'non-zero', 'bytes on disk', 'test accuracy', ...latency] });
}

/** One line per step: what it saved and what it lost, against the model it started from. */
export function formatStepCosts(figures: MainJobFigures): string[] {
  const backends = timedBackends(figures);
  const lines: string[] = [];
  const { models } = figures;
  for (let i = 1; i < models.length; i++) lines.push(`  ${models[i].name.padEnd(8)} ${change(models[i - 1], models[i], backends)}, ${models[i].seconds.toFixed(1)} s: ${models[i].note}`);
  const first = models[0];
  const last = models[models.length - 1];
  if (first && last && first !== last) lines.push(`  overall  ${first.name} -> ${last.name}: ${change(first, last, backends)}`);
  return lines;
}

function change(before: ModelFigures, after: ModelFigures, backends: readonly string[]): string {
  const points = 100 * (after.accuracy - before.accuracy);
  const parts = [
    after.nonzero !== before.nonzero ? `${ratio(before.nonzero, after.nonzero)} non-zero parameters` : 'same non-zero parameters',
    `${ratio(before.bytes, after.bytes)} bytes`,
    `accuracy ${points >= 0 ? '+' : ''}${points.toFixed(2)} points`,
    ...backends.filter((b) => b in before.latencyMs && b in after.latencyMs).map((b) => `${b} ${speed(before.latencyMs[b], after.latencyMs[b])}`),
  ];
  return parts.join(', ');
}

/** '5.26x fewer' (or 'more'). */
function ratio(before: number, after: number): string {
  if (after === before) return 'same';
  return after < before ? `${(before / after).toFixed(2)}x fewer` : `${(after / before).toFixed(2)}x more`;
}

function speed(before: number, after: number): string {
  const r = before / after;
  if (r >= 1.05) return `${r.toFixed(2)}x faster`;
  if (r <= 1 / 1.05) return `${(1 / r).toFixed(2)}x slower`;
  return 'as fast';
}
