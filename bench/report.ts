// Small helpers the benchmark scripts share: the median, and aligned plain-text tables.
// (No imports: also loaded by the browser page of bench/browser.ts, through workloads.ts.)

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * B/A taken round by round from two builds' (or libraries') per-round times, paired by index: their
 * median, geometric mean and range. On a host whose speed drifts between rounds, a pair timed
 * side by side shares the drift, so these describe the difference better than the ratio of the
 * two overall medians alone, and the range shows how far single rounds stray.
 */
export function pairedRatios(a: number[], b: number[]): { n: number; median: number; geomean: number; min: number; max: number } {
  if (a.length !== b.length || a.length === 0) throw new RangeError(`pairedRatios: two equal, non-empty lists expected, got ${a.length} and ${b.length}`);
  const r = a.map((x, i) => b[i]! / x);
  return {
    n: r.length, median: median(r), geomean: Math.exp(r.reduce((s, x) => s + Math.log(x), 0) / r.length),
    min: Math.min(...r), max: Math.max(...r),
  };
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
