import { cpus, totalmem } from 'node:os';
import { readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One measured row; `bench` and `impl` always, then the bench's own fields. */
export type Row = { bench: string; impl: string } & Record<string, string | number>;

export interface BenchContext {
  /** Emit a row as soon as it is measured (printed at once in --json mode). */
  emit(row: Row): void;
  /** Log a line for people (stderr in --json mode so stdout stays one JSON object per line). */
  note(message: string): void;
  readonly quick: boolean;
}

export interface Bench {
  readonly name: string;
  readonly title: string;
  /** Column order for the human table and RESULTS.md. */
  readonly columns: readonly string[];
  run(ctx: BenchContext): Promise<void>;
  /** Lines under the table in RESULTS.md: what was measured and how. */
  readonly method: readonly string[];
  /** Ratios against the peers and targets, computed from this run's rows. */
  summary?(rows: readonly Row[]): string[];
}

/**
 * Times `fn` (which must leave no work pending when it returns): warms up, then repeats until
 * `minSeconds` have passed or `maxReps` runs, and returns the median seconds per run. The median
 * resists the noise of a shared machine better than the mean.
 */
export async function timeIt(fn: () => unknown | Promise<unknown>, options: { warmup?: number; minSeconds?: number; maxReps?: number; minReps?: number } = {}): Promise<number> {
  const { warmup = 2, minSeconds = 1, maxReps = 50, minReps = 3 } = options;
  // Warm up for at least `warmup` runs and 0.3 s: V8 compiles WASM with its baseline tier first and
  // swaps in optimised code in the background, so the first calls of a kernel can be several times slower.
  const warmStart = performance.now();
  for (let i = 0; i < warmup || performance.now() - warmStart < 300; i++) await fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minReps || (times.length < maxReps && performance.now() - start < minSeconds * 1000)) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

/**
 * Times one implementation and emits its row; an implementation that fails to load or run costs
 * only its own row, and the note says which and why.
 */
export async function measure(ctx: BenchContext, label: string, time: () => Promise<number>, toRow: (seconds: number) => Row): Promise<void> {
  try {
    ctx.emit(toRow(await time()));
  } catch (error) {
    ctx.note(`${label}: skipped (${(error as Error).message})`);
  }
}

export function machineDescription(): string {
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${cpu}, ${cpus().length} cores, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}, ${process.platform}-${process.arch}`;
}

export function formatTable(columns: readonly string[], rows: readonly Row[]): string {
  const cells = rows.map((r) => columns.map((c) => format(r[c])));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i].length)));
  const line = (values: readonly string[]): string => `| ${values.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
  return [line(columns), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...cells.map(line)].join('\n');
}

function format(value: string | number | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(value >= 100 ? 1 : 2);
  return value;
}

const RESULTS = fileURLToPath(new URL('../RESULTS.md', import.meta.url));

/** Replaces this bench's section of bench/RESULTS.md (written atomically: temp file, then rename). */
export function writeResults(bench: Bench, rows: readonly Row[], extra: readonly string[]): void {
  const start = `<!-- bench:${bench.name}:start -->`;
  const end = `<!-- bench:${bench.name}:end -->`;
  const section = [
    start,
    `## ${bench.title}`,
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${machineDescription()}.`,
    `Command: \`npm run bench -- ${bench.name}\``,
    '',
    formatTable(bench.columns, rows),
    '',
    ...extra,
    ...(extra.length ? [''] : []),
    ...bench.method.map((m) => `- ${m}`),
    end,
  ].join('\n');
  const header = '# Benchmark results\n\nEach section is rewritten by its benchmark; figures come from one run, side by side, on the machine named.\n';
  let text = existsSync(RESULTS) ? readFileSync(RESULTS, 'utf8') : header;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  text = from >= 0 && to > from ? text.slice(0, from) + section + text.slice(to + end.length) : `${text.trimEnd()}\n\n${section}\n`;
  const temp = `${RESULTS}.tmp-${process.pid}`;
  writeFileSync(temp, text);
  renameSync(temp, RESULTS);
}
