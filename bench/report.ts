// Small helpers the benchmark scripts share: the median, and aligned plain-text tables.
// (No imports: also loaded by the browser page of bench/browser.ts, through workloads.ts.)

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * `| a | b |` rows padded to each column's width, a `|---|` rule under the first (header) row.
 * Columns are left-aligned unless `rightAlign(column)` says otherwise.
 */
export function textTable(rows: string[][], rightAlign: (col: number) => boolean = () => false): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => `| ${r.map((c, i) => (rightAlign(i) ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join(' | ')} |`;
  return [line(rows[0]!), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}
