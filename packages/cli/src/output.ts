/** Where commands write: people get lines, scripts get JSON; --quiet silences the lines. */
export interface Output {
  line(text: string): void;
  json(value: unknown): void;
  error(text: string): void;
}

export function consoleOutput(options: { quiet?: boolean } = {}): Output {
  return {
    line: (text) => {
      if (!options.quiet) process.stdout.write(`${text}\n`);
    },
    json: (value) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`),
    error: (text) => process.stderr.write(`${text}\n`),
  };
}
