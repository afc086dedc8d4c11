import { Command, CommanderError } from 'commander';
import { MinnowError } from '@minnow/core';
import { registerBackendsCommand } from './commands/backends.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerConvertCommand } from './commands/convert.js';
import { registerInspectCommand } from './commands/inspect.js';
import { registerRunCommand } from './commands/run.js';
import { registerQuantizeCommand } from './commands/quantize.js';
import { registerPruneCommand } from './commands/prune.js';
import { registerCompressCommand } from './commands/compress.js';
import { registerDistillCommand } from './commands/distill.js';
import { consoleOutput, type Output } from './output.js';

export const VERSION = '0.1.0';

/** Exit codes: 0 success, 1 internal failure (a bug: please report), 2 bad input (the user can fix it). */
export const EXIT = { ok: 0, internal: 1, badInput: 2 } as const;

export function buildProgram(output: Output = consoleOutput()): Command {
  const program = new Command('minnow')
    .description('make neural networks small enough to ship anywhere JavaScript runs')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride();
  registerBackendsCommand(program, output);
  registerDemoCommand(program, output);
  registerInspectCommand(program, output);
  registerRunCommand(program, output);
  registerConvertCommand(program, output);
  registerQuantizeCommand(program, output);
  registerPruneCommand(program, output);
  registerCompressCommand(program, output);
  registerDistillCommand(program, output);
  return program;
}

/** Runs the CLI on `argv` (without node and script) and returns the exit code; never throws. */
export async function runCli(argv: readonly string[], output: Output = consoleOutput()): Promise<number> {
  const program = buildProgram(output);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here with exit code 0; usage errors are bad input.
      return error.exitCode === 0 ? EXIT.ok : EXIT.badInput;
    }
    if (error instanceof MinnowError) {
      output.error(`minnow: ${error.message} [${error.code}]`);
      return error.code === 'INTERNAL' ? EXIT.internal : EXIT.badInput;
    }
    output.error(`minnow: internal error: ${(error as Error).stack ?? String(error)}`);
    return EXIT.internal;
  }
}
