import { describe, expect, it } from 'vitest';
import { formatDuration, lineProgress, progressFor, terminalProgress, type ProgressStream } from '../../packages/cli/src/progress.js';

/** The progress sinks on a fake stream and a fake clock: what a log and a terminal would show. */

function fakeStream(isTTY: boolean, columns?: number): ProgressStream & { text: string } {
  const stream = { text: '', isTTY, columns, write: (t: string) => (stream.text += t) };
  return stream;
}

describe('progress', () => {
  it('lines: a short task gets its closing line only; a long one a line per quarter with rate and time left', () => {
    const stream = fakeStream(false);
    let now = 0;
    const sink = lineProgress(stream, () => now);
    const quick = sink.task('calibrate', 4, 'batches');
    for (let i = 1; i <= 4; i++) quick.update(i);
    now = 200;
    quick.finish('4 ranges');
    const slow = sink.task('train', 100, 'steps');
    for (let i = 1; i <= 100; i++) {
      now += 100;
      slow.update(i, `loss ${(1 / i).toFixed(2)}`);
    }
    slow.finish('loss 0.01');
    sink.note('step 2/2');
    expect(stream.text.split('\n')).toEqual([
      'calibrate: 4 batches in 0s, 4 ranges',
      'train: 25/100 steps (10.0 steps/s, 8s left), loss 0.04',
      'train: 50/100 steps (10.0 steps/s, 5s left), loss 0.02',
      'train: 75/100 steps (10.0 steps/s, 3s left), loss 0.01',
      'train: 100 steps in 10s, loss 0.01',
      'step 2/2',
      '',
    ]);
  });

  it('terminal: a cli-progress bar redrawn in place, with count, rate and detail, ended by a newline', () => {
    const stream = fakeStream(true, 200);
    let now = 0;
    const task = terminalProgress(stream, () => now).task('evaluate', 10, 'batches');
    for (let i = 1; i <= 10; i++) {
      now += 50;
      task.update(i);
    }
    task.finish('accuracy 90.00%');
    // Each frame starts at column 1 (CSI 1G) and clears the rest of the line (CSI 0K).
    const frames = stream.text.split('\u001b[1G').slice(1).map((f) => f.slice(0, f.indexOf('\u001b[0K')));
    expect(frames.length).toBeGreaterThanOrEqual(2);
    expect(frames[0]).toMatch(/^evaluate \[-{24}\] 0% 0\/10 batches/);
    expect(frames.at(-1)).toBe('evaluate [########################] 100% 10/10 batches, 20.0 batches/s, 1s, accuracy 90.00%');
    expect(stream.text.endsWith('\n')).toBe(true);
  });

  it('picks silent for --quiet and --json, a bar on a terminal, lines elsewhere', () => {
    for (const flags of [{ quiet: true }, { json: true }]) {
      const stream = fakeStream(true);
      const sink = progressFor(flags, stream);
      sink.task('x', 1, 'steps').finish();
      sink.note('y');
      expect(stream.text).toBe('');
    }
    const tty = fakeStream(true);
    progressFor({}, tty).task('x', 1, 'steps').finish();
    expect(tty.text).toContain('x [########################] 100% 1/1 steps');
    const log = fakeStream(false);
    progressFor({}, log).task('x', 1, 'steps').finish();
    expect(log.text).toMatch(/^x: 1 steps in 0s\n$/);
    expect(formatDuration(185)).toBe('3m05s');
  });
});
