import type { Command } from 'commander';
import { probeBackends } from '../backends.js';
import type { Output } from '../output.js';

export function registerBackendsCommand(program: Command, output: Output): void {
  program
    .command('backends')
    .description('list the compute backends, and what each really runs as (build, mode, threads)')
    .option('--json', 'one JSON document for scripts')
    .action(async (options: { json?: boolean }) => {
      const reports = await probeBackends();
      if (options.json) {
        output.json({ backends: reports });
        return;
      }
      for (const r of reports) {
        if (!r.info) {
          output.line(`${r.name}: unavailable: ${r.error}`);
          continue;
        }
        output.line(`${r.name}: ${r.info.description}`);
        output.line(`  mode ${r.info.mode}, ${r.info.threads} thread(s), dtypes ${r.info.dtypes.join(' ')}, ${r.info.syncRead ? 'sync and async' : 'async-only'} reads`);
        for (const note of r.info.notes) output.line(`  note: ${note}`);
      }
    });
}
