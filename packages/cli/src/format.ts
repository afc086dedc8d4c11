/** Numbers for people: 1,234,567 and 1.2 MB. */
export const formatCount = (n: number): string => n.toLocaleString('en-US');

export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = -1;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(value >= 100 ? 0 : value >= 10 ? 1 : 2)} ${units[unit]}`;
}

/**
 * An aligned text table: the header, a rule, the rows, then (with `totals`) a rule and the totals
 * row. Columns named in `numeric` are right-aligned; the last column is left ragged (a note), so
 * the rules stop before it and a long note pushes nothing apart.
 */
export function formatTable(columns: readonly string[], rows: readonly (readonly string[])[], options: { numeric?: readonly string[]; totals?: readonly string[] } = {}): string {
  const numeric = new Set(options.numeric ?? []);
  const all = [columns, ...rows, ...(options.totals ? [options.totals] : [])];
  const widths = columns.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => columns
    .map((column, i) => (numeric.has(column) ? (cells[i] ?? '').padStart(widths[i]) : (cells[i] ?? '').padEnd(widths[i])))
    .join('  ')
    .trimEnd();
  const rule = widths.slice(0, -1).map((w) => '-'.repeat(w)).join('  ');
  return [line(columns), rule, ...rows.map(line), ...(options.totals ? [rule, line(options.totals)] : [])].join('\n');
}
