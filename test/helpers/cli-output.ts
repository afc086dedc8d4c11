import type { Output } from '@minnow/cli';

/** An Output that keeps what a command printed: lines, JSON documents and error lines. */
export function collector(): { out: { lines: string[]; errors: string[]; documents: unknown[] }; output: Output } {
  const out = { lines: [] as string[], errors: [] as string[], documents: [] as unknown[] };
  const output: Output = { line: (t) => out.lines.push(t), json: (v) => out.documents.push(v), error: (t) => out.errors.push(t) };
  return { out, output };
}
