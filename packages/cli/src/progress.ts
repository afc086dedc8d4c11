/**
 * Progress for long commands (training, calibration, evaluation): a bar redrawn in place with its
 * rate and remaining time on a terminal, plain lines when the output is a file or a pipe, nothing
 * with --quiet or --json. Commands only see the ProgressSink interface; the terminal bar is
 * cli-progress's, in `terminalProgress` alone.
 */
import { SingleBar } from 'cli-progress';

export interface ProgressTask {
  /** `done` units of the total so far; `detail` is a short status ('loss 0.31'). */
  update(done: number, detail?: string): void;
  /** The task ended; `detail` sums it up. */
  finish(detail?: string): void;
}

export interface ProgressSink {
  /** Begins a task of `total` units (`unit` names them: 'batches', 'steps'). */
  task(label: string, total: number, unit: string): ProgressTask;
  /** A line of commentary: what starts now. */
  note(text: string): void;
}

/** Where progress is written: a stream-like sink (process.stderr by default). */
export interface ProgressStream {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  readonly columns?: number;
}

export type ProgressMode = 'terminal' | 'lines' | 'silent';

/** The sink a command's flags ask for: silent with --quiet or --json, else a bar on a terminal and lines elsewhere. */
export function progressFor(flags: { quiet?: boolean; json?: boolean }, stream: ProgressStream = process.stderr): ProgressSink {
  if (flags.quiet || flags.json) return silentProgress();
  return stream.isTTY ? terminalProgress(stream) : lineProgress(stream);
}

export function silentProgress(): ProgressSink {
  const task: ProgressTask = { update: () => undefined, finish: () => undefined };
  return { task: () => task, note: () => undefined };
}

/** Seconds as people read them: 42s, 3m05s. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

/** Rate and remaining time from the units done and the seconds elapsed. */
function pace(done: number, total: number, seconds: number, unit: string): string {
  const rate = seconds > 0 ? done / seconds : 0;
  const left = rate > 0 ? (total - done) / rate : Infinity;
  return `${rate >= 100 ? Math.round(rate) : rate.toFixed(1)} ${unit}/s, ${done < total ? `${formatDuration(left)} left` : `${formatDuration(seconds)}`}`;
}

/**
 * Plain lines: at each quarter of a task (or every 10 s, whichever comes first) once it has run
 * for a second, and when it ends, so a log shows the run's pace without a line per step.
 */
export function lineProgress(stream: ProgressStream, clock: () => number = () => performance.now()): ProgressSink {
  return {
    note: (text) => void stream.write(`${text}\n`),
    task(label, total, unit) {
      const start = clock();
      let lastQuarter = 0;
      let lastTime = start;
      return {
        update(done, detail) {
          const now = clock();
          const quarter = total > 0 ? Math.floor((4 * done) / total) : 0;
          // A task that ends within a second gets its closing line only.
          if (done >= total || now - start < 1000 || (quarter <= lastQuarter && now - lastTime < 10_000)) return;
          lastQuarter = quarter;
          lastTime = now;
          stream.write(`${label}: ${done}/${total} ${unit} (${pace(done, total, (now - start) / 1000, unit)})${detail ? `, ${detail}` : ''}\n`);
        },
        finish(detail) {
          const seconds = (clock() - start) / 1000;
          stream.write(`${label}: ${total} ${unit} in ${formatDuration(seconds)}${detail ? `, ${detail}` : ''}\n`);
        },
      };
    },
  };
}

/**
 * A bar redrawn in place by cli-progress: label, bar, percentage, count, rate and time left, and
 * the task's detail, written to `stream` (stderr by default), so stdout stays the command's output.
 */
export function terminalProgress(stream: ProgressStream, clock: () => number = () => performance.now()): ProgressSink {
  return {
    note: (text) => void stream.write(`${text}\n`),
    task(label, total, unit) {
      const start = clock();
      const bar = new SingleBar({
        stream: stream as unknown as NodeJS.WritableStream,
        format: `${label} [{bar}] {percentage}% {value}/{total} ${unit}, {pace}{detail}`,
        barCompleteChar: '#',
        barIncompleteChar: '-',
        barsize: 24,
        hideCursor: false,
        clearOnComplete: false,
        // Redraw at most 10 times a second, and only on a terminal (cli-progress checks isTTY itself).
        fps: 10,
        noTTYOutput: false,
        linewrap: false,
      });
      const payload = (done: number, detail: string | undefined) => ({ pace: pace(done, total, (clock() - start) / 1000, unit), detail: detail ? `, ${detail}` : '' });
      bar.start(total, 0, payload(0, undefined));
      return {
        update: (done, detail) => bar.update(done, payload(done, detail)),
        finish(detail) {
          bar.update(total, payload(total, detail));
          bar.stop();
        },
      };
    },
  };
}
