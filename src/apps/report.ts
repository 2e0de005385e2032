// Reports of `rnnkit compare`: hand-made SVG line charts (axes, ticks, log scales, legend),
// Markdown tables, and a self-contained HTML page (inline SVG and CSS, no external assets).
// Pure string building: no DOM, works in Node and browsers.
import type { CompareResults, RunResult, TaskResult } from './compare.js';

export const PALETTE: Record<string, string> = { rnn: '#d62728', lstm: '#1f77b4', gru: '#2ca02c' };
const EXTRA_COLORS = ['#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf', '#7f7f7f'];

/** Colour for a cell name (rnn/lstm/gru fixed; others from a palette). */
export function colorOf(name: string, i = 0): string {
  return PALETTE[name] ?? EXTRA_COLORS[i % EXTRA_COLORS.length]!;
}

export interface Series {
  name: string;
  x: readonly number[];
  y: readonly number[];
  color?: string;
  /** SVG stroke-dasharray, e.g. '6 4'. */
  dash?: string;
  width?: number;
  opacity?: number;
  /** Draw a dot at every point (default: only when the series has ≤ 30 points). */
  markers?: boolean;
  /** Background series (e.g. individual seeds) are drawn thin, not counted as series, not in the legend. */
  background?: boolean;
}

export interface RefLine {
  y: number;
  label: string;
  color?: string;
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
  width?: number;
  height?: number;
  xMin?: number;
  xMax?: number;
  yMin?: number;
  yMax?: number;
  refLines?: RefLine[];
  /** Text shown instead of the plot when there is nothing to draw. */
  emptyText?: string;
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

/** "Nice" linear ticks (1, 2, 5 × 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / Math.max(1, target - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step - 1e-9) * step; v <= hi + step * 1e-9; v += step) out.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return out;
}

/** Decade ticks for a log axis; adds 2 and 5 multiples when the range is under ~2 decades. */
export function logTicks(lo: number, hi: number): number[] {
  const a = Math.floor(Math.log10(lo) + 1e-9), b = Math.ceil(Math.log10(hi) - 1e-9);
  const out: number[] = [];
  const step = Math.max(1, Math.ceil((b - a) / 8));
  for (let k = a; k <= b; k += step) out.push(10 ** k);
  if (b - a <= 2) {
    for (let k = a; k <= b; k++) for (const m of [2, 5]) out.push(m * 10 ** k);
  }
  return out.filter((v) => v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)).sort((p, q) => p - q);
}

/** Short tick label: 0.001 -> "0.001", 1e-5 -> "1e-5", 12000 -> "12k", 0.25 -> "0.25". */
export function fmtTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e6 || a < 1e-3) {
    const e = Math.floor(Math.log10(a) + 1e-9), m = v / 10 ** e;
    return `${Math.abs(m - Math.round(m)) < 1e-9 ? Math.round(m) : m.toPrecision(2)}e${e}`;
  }
  if (a >= 1e4) return `${+(v / 1000).toPrecision(3)}k`;
  return String(+v.toPrecision(3));
}

function finitePos(v: number, log: boolean): boolean {
  return Number.isFinite(v) && (!log || v > 0);
}

/**
 * A line chart as a standalone <svg> element. Every visible series is a
 * <g class="series" data-name="…"> (background ones: class "background"), so tests and scripts
 * can count them. Points that are not finite (or ≤ 0 on a log axis) break the line.
 */
export function lineChart(series: readonly Series[], o: ChartOptions): string {
  const W = o.width ?? 600, Hh = o.height ?? 340;
  const fg = series.filter((s) => !s.background);
  const legendW = fg.length ? Math.min(220, 24 + 6.6 * Math.max(...fg.map((s) => s.name.length))) : 0;
  const m = { l: 66, r: 14 + legendW, t: 30, b: 48 };
  const pw = W - m.l - m.r, ph = Hh - m.t - m.b;
  const logX = o.logX ?? false, logY = o.logY ?? false;
  const xs: number[] = [], ys: number[] = [];
  for (const s of series) {
    for (let i = 0; i < Math.min(s.x.length, s.y.length); i++) {
      if (finitePos(s.x[i]!, logX) && finitePos(s.y[i]!, logY)) { xs.push(s.x[i]!); ys.push(s.y[i]!); }
    }
  }
  for (const r of o.refLines ?? []) if (finitePos(r.y, logY)) ys.push(r.y);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${Hh}" viewBox="0 0 ${W} ${Hh}" role="img" aria-label="${escapeXml(o.title)}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  parts.push(`<title>${escapeXml(o.title)}</title>`);
  parts.push(`<rect x="0" y="0" width="${W}" height="${Hh}" fill="#ffffff"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="18" text-anchor="middle" font-size="14" font-weight="bold" fill="#222">${escapeXml(o.title)}</text>`);
  if (xs.length === 0) {
    parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="#fafafa" stroke="#999"/>`);
    parts.push(`<text x="${m.l + pw / 2}" y="${m.t + ph / 2}" text-anchor="middle" fill="#666">${escapeXml(o.emptyText ?? 'no data')}</text>`);
    parts.push('</svg>');
    return parts.join('\n');
  }
  let x0 = o.xMin ?? Math.min(...xs), x1 = o.xMax ?? Math.max(...xs);
  let y0 = o.yMin ?? Math.min(...ys), y1 = o.yMax ?? Math.max(...ys);
  if (logX) { x0 = Math.max(x0, 1e-300); if (x1 <= x0) x1 = x0 * 10; }
  else if (x1 <= x0) { x1 = x0 + 1; x0 -= x0 === 0 ? 0 : 1; }
  if (logY) {
    y0 = Math.max(y0, 1e-300);
    if (y1 <= y0) { y1 = y0 * 10; y0 /= 10; }
    if (o.yMin === undefined) y0 = 10 ** Math.floor(Math.log10(y0) + 1e-9);
    if (o.yMax === undefined) y1 = 10 ** Math.ceil(Math.log10(y1) - 1e-9);
  } else {
    if (y1 <= y0) { y1 = y0 + 1; y0 -= 1; }
    const pad = (y1 - y0) * 0.05;
    if (o.yMin === undefined) y0 = y0 >= 0 && y0 - pad < 0 ? 0 : y0 - pad;
    if (o.yMax === undefined) y1 += pad;
  }
  const xT = logX ? logTicks(x0, x1) : niceTicks(x0, x1);
  const yT = logY ? logTicks(y0, y1) : niceTicks(y0, y1);
  if (!logY && o.yMin === undefined) y0 = Math.min(y0, yT[0]!);
  if (!logY && o.yMax === undefined) y1 = Math.max(y1, yT[yT.length - 1]!);
  const sx = (v: number) => m.l + (logX ? (Math.log(v) - Math.log(x0)) / (Math.log(x1) - Math.log(x0)) : (v - x0) / (x1 - x0)) * pw;
  const sy = (v: number) => m.t + ph - (logY ? (Math.log(v) - Math.log(y0)) / (Math.log(y1) - Math.log(y0)) : (v - y0) / (y1 - y0)) * ph;
  const r1 = (v: number) => Math.round(v * 10) / 10;
  // Plot frame, grid and ticks.
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="#fcfcfc" stroke="#bbb"/>`);
  parts.push('<g class="grid" stroke="#e4e4e4" stroke-width="1">');
  for (const v of xT) parts.push(`<line x1="${r1(sx(v))}" y1="${m.t}" x2="${r1(sx(v))}" y2="${m.t + ph}"/>`);
  for (const v of yT) parts.push(`<line x1="${m.l}" y1="${r1(sy(v))}" x2="${m.l + pw}" y2="${r1(sy(v))}"/>`);
  parts.push('</g>');
  parts.push('<g class="axes" fill="#333">');
  parts.push(`<line x1="${m.l}" y1="${m.t + ph}" x2="${m.l + pw}" y2="${m.t + ph}" stroke="#333"/>`);
  parts.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${m.t + ph}" stroke="#333"/>`);
  for (const v of xT) {
    parts.push(`<line x1="${r1(sx(v))}" y1="${m.t + ph}" x2="${r1(sx(v))}" y2="${m.t + ph + 5}" stroke="#333"/>`);
    parts.push(`<text x="${r1(sx(v))}" y="${m.t + ph + 18}" text-anchor="middle">${escapeXml(fmtTick(v))}</text>`);
  }
  for (const v of yT) {
    parts.push(`<line x1="${m.l - 5}" y1="${r1(sy(v))}" x2="${m.l}" y2="${r1(sy(v))}" stroke="#333"/>`);
    parts.push(`<text x="${m.l - 8}" y="${r1(sy(v)) + 4}" text-anchor="end">${escapeXml(fmtTick(v))}</text>`);
  }
  parts.push(`<text x="${m.l + pw / 2}" y="${Hh - 10}" text-anchor="middle" font-size="13">${escapeXml(o.xLabel)}${logX ? ' (log scale)' : ''}</text>`);
  parts.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="13">${escapeXml(o.yLabel)}${logY ? ' (log scale)' : ''}</text>`);
  parts.push('</g>');
  // Reference lines.
  for (const r of o.refLines ?? []) {
    if (!finitePos(r.y, logY) || r.y < y0 || r.y > y1) continue;
    const y = r1(sy(r.y)), c = r.color ?? '#777';
    parts.push(`<g class="refline"><line x1="${m.l}" y1="${y}" x2="${m.l + pw}" y2="${y}" stroke="${c}" stroke-dasharray="3 3"/>` +
      `<text x="${m.l + pw - 4}" y="${y - 4}" text-anchor="end" font-size="11" fill="${c}">${escapeXml(r.label)}</text></g>`);
  }
  // Series, clipped to the plot area.
  const clipId = `clip${Math.abs(hash(o.title + o.xLabel + o.yLabel))}`;
  parts.push(`<defs><clipPath id="${clipId}"><rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}"/></clipPath></defs>`);
  parts.push(`<g clip-path="url(#${clipId})">`);
  const ordered = [...series.filter((s) => s.background), ...fg];
  ordered.forEach((s, si) => {
    const color = s.color ?? colorOf(s.name, si);
    const n = Math.min(s.x.length, s.y.length);
    const segs: string[] = [];
    let cur = '';
    const dots: string[] = [];
    for (let i = 0; i < n; i++) {
      const ok = finitePos(s.x[i]!, logX) && finitePos(s.y[i]!, logY);
      if (!ok) { if (cur) segs.push(cur); cur = ''; continue; }
      const px = r1(sx(s.x[i]!)), py = r1(sy(s.y[i]!));
      cur += `${cur ? ' L' : 'M'}${px} ${py}`;
      dots.push(`<circle cx="${px}" cy="${py}" r="2.6"/>`);
    }
    if (cur) segs.push(cur);
    const cls = s.background ? 'background' : 'series';
    const width = s.width ?? (s.background ? 1 : 2);
    const opacity = s.opacity ?? (s.background ? 0.3 : 1);
    parts.push(`<g class="${cls}" data-name="${escapeXml(s.name)}" stroke="${color}" fill="${color}" opacity="${opacity}">`);
    for (const d of segs) parts.push(`<path d="${d}" fill="none" stroke-width="${width}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''} stroke-linejoin="round"/>`);
    if (!s.background && (s.markers ?? n <= 30)) parts.push(...dots);
    parts.push('</g>');
  });
  parts.push('</g>');
  // Legend.
  if (fg.length) {
    const lx = W - legendW - 4;
    parts.push(`<g class="legend" font-size="12">`);
    fg.forEach((s, i) => {
      const y = m.t + 8 + i * 18, color = s.color ?? colorOf(s.name, i);
      parts.push(`<line x1="${lx}" y1="${y}" x2="${lx + 22}" y2="${y}" stroke="${color}" stroke-width="${s.width ?? 2}"${s.dash ? ` stroke-dasharray="${s.dash}"` : ''}/>`);
      parts.push(`<text x="${lx + 28}" y="${y + 4}" fill="#222">${escapeXml(s.name)}</text>`);
    });
    parts.push('</g>');
  }
  parts.push('</svg>');
  return parts.join('\n');
}

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h;
}

// ---------------------------------------------------------------------------------------------
// Tables

export type Cell = string | number;

/** A GitHub-flavoured Markdown table (pipes in cells escaped). */
export function mdTable(head: readonly string[], rows: readonly (readonly Cell[])[]): string {
  const esc = (c: Cell) => String(c).replace(/\|/g, '\\|').replace(/\n/g, ' ');
  const line = (r: readonly Cell[]) => `| ${r.map(esc).join(' | ')} |`;
  return [line(head), `|${head.map(() => '---').join('|')}|`, ...rows.map(line)].join('\n');
}

export function htmlTable(head: readonly string[], rows: readonly (readonly Cell[])[], cls = ''): string {
  const th = head.map((h) => `<th>${escapeXml(h)}</th>`).join('');
  const trs = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeXml(String(c))}</td>`).join('')}</tr>`).join('\n');
  return `<table${cls ? ` class="${cls}"` : ''}><thead><tr>${th}</tr></thead><tbody>\n${trs}\n</tbody></table>`;
}

// ---------------------------------------------------------------------------------------------
// Documents

/** A report as a list of blocks, rendered to Markdown (charts as linked SVG files) or HTML (inline SVG). */
export type Block =
  | { kind: 'h1' | 'h2' | 'h3'; text: string }
  | { kind: 'p'; text: string }
  | { kind: 'list'; items: string[] }
  | { kind: 'table'; head: string[]; rows: Cell[][]; caption?: string }
  | { kind: 'chart'; file: string; svg: string; caption?: string }
  | { kind: 'charts'; charts: { file: string; svg: string; caption?: string }[] }
  | { kind: 'pre'; text: string };

/** Minimal inline markup shared by both renderers: `code` and **bold**. */
function inlineHtml(s: string): string {
  return escapeXml(s).replace(/`([^`]+)`/g, '<code>$1</code>').replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>');
}

export function renderMarkdown(blocks: readonly Block[], chartDir = 'charts'): string {
  const out: string[] = [];
  for (const b of blocks) {
    switch (b.kind) {
      case 'h1': out.push(`# ${b.text}`); break;
      case 'h2': out.push(`## ${b.text}`); break;
      case 'h3': out.push(`### ${b.text}`); break;
      case 'p': out.push(b.text); break;
      case 'list': out.push(b.items.map((i) => `- ${i}`).join('\n')); break;
      case 'table': out.push((b.caption ? `${b.caption}\n\n` : '') + mdTable(b.head, b.rows)); break;
      case 'chart': out.push(`![${b.caption ?? b.file}](${chartDir}/${b.file})`); break;
      case 'charts': out.push(b.charts.map((c) => `![${c.caption ?? c.file}](${chartDir}/${c.file})`).join('\n')); break;
      case 'pre': out.push('```\n' + b.text + '\n```'); break;
    }
  }
  return out.join('\n\n') + '\n';
}

const CSS = `
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; max-width: 1280px; margin: 24px auto; padding: 0 20px; color: #222; line-height: 1.45; }
h1 { border-bottom: 2px solid #ddd; padding-bottom: 6px; }
h2 { margin-top: 40px; border-bottom: 1px solid #e4e4e4; padding-bottom: 4px; }
h3 { margin-top: 28px; }
table { border-collapse: collapse; margin: 10px 0 18px; font-size: 13px; }
th, td { border: 1px solid #d8d8d8; padding: 4px 9px; text-align: left; vertical-align: top; }
th { background: #f3f5f7; }
tr:nth-child(even) td { background: #fafbfc; }
caption, .caption { font-size: 13px; color: #555; text-align: left; margin: 4px 0; }
figure { margin: 8px 0 16px; display: inline-block; vertical-align: top; max-width: 604px; }
figure svg { border: 1px solid #eee; max-width: 100%; height: auto; }
.grid { display: flex; flex-wrap: wrap; gap: 10px; }
code { background: #f2f2f2; padding: 1px 4px; border-radius: 3px; font-size: 90%; }
pre { background: #f6f8fa; padding: 10px; overflow-x: auto; font-size: 12px; }
`;

export function renderHtml(title: string, blocks: readonly Block[]): string {
  const out: string[] = [];
  const fig = (c: { svg: string; caption?: string }) => `<figure>${c.svg}${c.caption ? `<figcaption class="caption">${inlineHtml(c.caption)}</figcaption>` : ''}</figure>`;
  for (const b of blocks) {
    switch (b.kind) {
      case 'h1': case 'h2': case 'h3': out.push(`<${b.kind}>${inlineHtml(b.text)}</${b.kind}>`); break;
      case 'p': out.push(`<p>${inlineHtml(b.text)}</p>`); break;
      case 'list': out.push(`<ul>${b.items.map((i) => `<li>${inlineHtml(i)}</li>`).join('')}</ul>`); break;
      case 'table':
        out.push((b.caption ? `<p class="caption">${inlineHtml(b.caption)}</p>` : '') + htmlTable(b.head, b.rows));
        break;
      case 'chart': out.push(fig(b)); break;
      case 'charts': out.push(`<div class="grid">${b.charts.map(fig).join('\n')}</div>`); break;
      case 'pre': out.push(`<pre>${escapeXml(b.text)}</pre>`); break;
    }
  }
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>${CSS}</style>
</head>
<body>
${out.join('\n')}
</body>
</html>
`;
}

// ---------------------------------------------------------------------------------------------
// Number formatting shared by the report

export function mean(v: readonly number[]): number {
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN;
}

/** Sample standard deviation (n-1); 0 for a single value. */
export function std(v: readonly number[]): number {
  if (v.length < 2) return 0;
  const m = mean(v);
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1));
}

/** 3 significant digits, or fixed for mid-range values. */
export function fmt(v: number, digits = 3): string {
  if (!Number.isFinite(v)) return Number.isNaN(v) ? 'n/a' : v > 0 ? '∞' : '-∞';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(digits - 1);
  return String(+v.toPrecision(digits));
}

export function fmtMeanStd(v: readonly number[], digits = 3): string {
  const f = v.filter(Number.isFinite);
  if (f.length === 0) return 'n/a';
  return f.length > 1 ? `${fmt(mean(f), digits)} ± ${fmt(std(f), 2)}` : fmt(f[0]!, digits);
}

// ---------------------------------------------------------------------------------------------
// The `rnnkit compare` report


export interface ReportFiles {
  markdown: string;
  html: string;
  /** SVG files referenced by the Markdown (the HTML has them inline). */
  charts: { file: string; svg: string }[];
}

const DASH_NOCLIP = '7 4';
const DASH_INIT = '2 3';

/** Mean curve over seeds, aligned by evaluation index. */
function meanCurve(runs: readonly RunResult[], xKey: 'time' | 'epoch', yKey: 'loss' | 'metric'): { x: number[]; y: number[] } {
  const n = Math.max(0, ...runs.map((r) => r.curve.length));
  const x: number[] = [], y: number[] = [];
  for (let i = 0; i < n; i++) {
    const pts = runs.map((r) => r.curve[i]).filter((p): p is NonNullable<typeof p> => p !== undefined && Number.isFinite(p[yKey]));
    if (!pts.length) continue;
    x.push(mean(pts.map((p) => p[xKey])));
    y.push(mean(pts.map((p) => p[yKey])));
  }
  return { x, y };
}

function lengthLabel(len: number | null, task: TaskResult): string {
  if (len === null) return '';
  return task.task === 'copy' ? `delay T=${len}` : `T=${len}`;
}

function curveCharts(task: TaskResult, len: number | null): { file: string; svg: string; caption: string }[] {
  const out: { file: string; svg: string; caption: string }[] = [];
  const main = task.runs.filter((r) => r.purpose === 'main' && r.length === len);
  const suffix = len === null ? '' : `-T${len}`;
  const lossLog = task.task === 'adding' || task.task === 'copy';
  const refs: RefLine[] = [];
  if (task.task === 'adding') {
    refs.push({ y: task.metric.baseline!, label: `baseline ${task.metric.baseline!.toFixed(3)}` });
    refs.push({ y: task.metric.threshold!, label: `solved < ${task.metric.threshold}`, color: '#2a7' });
  }
  if (task.task === 'copy' && len !== null) {
    const base = Number(task.data.symbols) * Math.log(Number(task.data.alphabet)) / (len + 2 * Number(task.data.symbols));
    refs.push({ y: base, label: `memoryless baseline ${base.toFixed(3)}` });
  }
  if (task.task === 'charlm' && task.metric.baseline) refs.push({ y: task.metric.baseline, label: `uniform ${task.metric.baseline.toFixed(2)}` });
  for (const [xKey, xLabel, tag] of [['time', 'training time (s)', 'time'], ['epoch', 'epochs', 'epochs']] as const) {
    const series: Series[] = [];
    task.cells.forEach(({ cell }) => {
      const runs = main.filter((r) => r.cell === cell);
      for (const r of runs) series.push({ name: `${cell} seed ${r.seed}`, x: r.curve.map((p) => p[xKey]), y: r.curve.map((p) => p.loss), color: colorOf(cell), background: true });
      const m = meanCurve(runs, xKey, 'loss');
      series.push({ name: `${cell} (H=${runs[0]?.hidden ?? '?'})`, x: m.x, y: m.y, color: colorOf(cell) });
    });
    const title = `${task.title}${len !== null ? `, ${lengthLabel(len, task)}` : ''}: ${task.metric.lossLabel.replace(/^validation /, 'validation ')} vs ${tag}`;
    out.push({
      file: `${task.task}-loss-${tag}${suffix}.svg`,
      svg: lineChart(series, { title, xLabel, yLabel: task.metric.lossLabel, logY: lossLog, refLines: refs, width: 600, height: 330 }),
      caption: `${task.metric.lossLabel} against ${xLabel}${len !== null ? ` (${lengthLabel(len, task)})` : ''}; thick line = mean over seeds, thin lines = individual seeds.`,
    });
  }
  return out;
}

function sweepChart(task: TaskResult): { file: string; svg: string; caption: string } | null {
  const lens = task.lengths.filter((l): l is number => l !== null);
  if (lens.length === 0) return null;
  const main = task.runs.filter((r) => r.purpose === 'main');
  const series: Series[] = [];
  for (const { cell, hidden } of task.cells) {
    const x: number[] = [], y: number[] = [];
    for (const l of lens) {
      const v = main.filter((r) => r.cell === cell && r.length === l).map((r) => r.bestMetric).filter(Number.isFinite);
      if (v.length) { x.push(l); y.push(mean(v)); }
      for (const r of main.filter((q) => q.cell === cell && q.length === l)) {
        series.push({ name: `${cell} seed ${r.seed} T=${l}`, x: [l], y: [r.bestMetric], color: colorOf(cell), background: true });
      }
    }
    series.push({ name: `${cell} (H=${hidden})`, x, y, color: colorOf(cell), markers: true });
  }
  const adding = task.task === 'adding';
  const refs: RefLine[] = adding
    ? [{ y: task.metric.baseline!, label: `baseline (predict 1) ${task.metric.baseline!.toFixed(3)}` }, { y: task.metric.threshold!, label: `solved < ${task.metric.threshold}`, color: '#2a7' }]
    : [{ y: task.metric.baseline!, label: `chance ${task.metric.baseline!.toFixed(3)}` }, { y: task.metric.threshold!, label: `solved ≥ ${task.metric.threshold}`, color: '#2a7' }];
  return {
    file: `${task.task}-sweep.svg`,
    svg: lineChart(series, {
      title: `${task.title}: best ${task.metric.label} vs sequence length`,
      xLabel: task.task === 'copy' ? 'delay T (steps between the symbols and their recall)' : 'sequence length T (steps)',
      yLabel: `best ${task.metric.label}`, logY: adding, logX: lens.length > 2 && lens[lens.length - 1]! / lens[0]! >= 8,
      ...(adding ? {} : { yMin: 0, yMax: 1 }), refLines: refs, width: 640, height: 360,
    }),
    caption: `Best ${task.metric.label} of each run (dots: seeds, line: mean over seeds) against the sequence length.`,
  };
}

function gradflowCharts(task: TaskResult): { file: string; svg: string; caption: string }[] {
  const g = task.gradflow;
  if (!g) return [];
  const out: { file: string; svg: string; caption: string }[] = [];
  const initSeries: Series[] = [], trainedSeries: Series[] = [];
  for (const f of g.flows) {
    const s: Series = {
      name: `${f.cell} ${f.state.replace(/^trained, /, '')}`, x: f.flow.distance, y: f.flow.dhNorm, color: colorOf(f.cell),
      ...(f.state.includes('no clip') ? { dash: DASH_NOCLIP } : {}), markers: false,
    };
    (f.state === 'init' ? initSeries : trainedSeries).push(s);
  }
  const common = { xLabel: 'distance from the loss T−1−t (steps)', yLabel: '‖∂L/∂h_t‖ (mean over probe sequences)', logY: true, width: 600, height: 340 };
  out.push({ file: `${task.task}-gradflow-init.svg`, svg: lineChart(initSeries, { ...common, title: `${task.title}: gradient vs distance, at initialisation` }),
    caption: `‖∂L/∂h_t‖ for a loss on the last step of ${g.examples} probe sequences of length ${g.length}, at initialisation.` });
  out.push({ file: `${task.task}-gradflow-trained.svg`, svg: lineChart(trainedSeries, { ...common, title: `${task.title}: gradient vs distance, after training` }),
    caption: `The same after training: solid = trained with gradient clipping, dashed = trained without clipping.` });
  // Largest singular value over training.
  const sm: Series[] = [], spec: Series[] = [];
  for (const s of g.spectra) {
    const label = `${s.cell} ${s.clip > 0 ? `clip ${s.clip}` : 'no clip'}`;
    sm.push({ name: label, x: s.points.map((p) => 100 * p.fraction), y: s.points.map((p) => p.spectrum.sigmaMax), color: colorOf(s.cell), ...(s.clip > 0 ? {} : { dash: DASH_NOCLIP }), markers: true });
    if (s.clip > 0 || !g.spectra.some((q) => q.cell === s.cell && q.clip > 0)) {
      const first = s.points[0], last = s.points[s.points.length - 1];
      if (first) spec.push({ name: `${s.cell} init`, x: first.spectrum.spectrum.map((_, i, a) => (i + 0.5) / a.length), y: first.spectrum.spectrum, color: colorOf(s.cell), dash: DASH_INIT, markers: false });
      if (last && last !== first) spec.push({ name: `${s.cell} trained`, x: last.spectrum.spectrum.map((_, i, a) => (i + 0.5) / a.length), y: last.spectrum.spectrum, color: colorOf(s.cell), markers: false });
    }
  }
  out.push({ file: `${task.task}-sigma-max.svg`, svg: lineChart(sm, {
    title: `${task.title}: largest singular value of ∂s_t/∂s_t−1`, xLabel: 'training progress (% of the run)', yLabel: 'σ_max (mean over sampled steps)', refLines: [{ y: 1, label: 'σ = 1' }], width: 600, height: 340,
  }), caption: 'Largest singular value of the state-transition Jacobian at checkpoints of training (solid: with clipping, dashed: without).' });
  out.push({ file: `${task.task}-spectrum.svg`, svg: lineChart(spec, {
    title: `${task.title}: singular values of ∂s_t/∂s_t−1`, xLabel: 'normalised rank i/n (0 = largest)', yLabel: 'singular value σ_i', logY: true, refLines: [{ y: 1, label: 'σ = 1' }], width: 600, height: 340,
  }), caption: 'The whole spectrum (sorted, averaged over sampled steps): dotted = at initialisation, solid = after training with clipping.' });
  return out;
}

/** Plain-language readings of the gradient-flow numbers, generated from them. */
function gradflowObservations(task: TaskResult): string[] {
  const g = task.gradflow!;
  const far = g.length - 1;
  const items: string[] = [];
  for (const { cell } of task.cells) {
    const init = g.flows.find((f) => f.cell === cell && f.state === 'init');
    const trained = g.flows.find((f) => f.cell === cell && f.state.startsWith('trained') && !f.state.includes('no clip'));
    const spec = g.spectra.find((s) => s.cell === cell && s.clip > 0) ?? g.spectra.find((s) => s.cell === cell);
    if (!init || !trained) continue;
    const s0 = spec?.points[0]?.spectrum, s1 = spec?.points[spec.points.length - 1]?.spectrum;
    const per = (r: number) => (r > 0 ? (r ** (1 / far)) : 0);
    items.push(`**${cell}**: the gradient ${far} steps back is ${fmt(init.flow.ratio[far]!)} of its value at the loss at initialisation ` +
      `(×${fmt(per(init.flow.ratio[far]!))} per step on average) and ${fmt(trained.flow.ratio[far]!)} after training (×${fmt(per(trained.flow.ratio[far]!))} per step)` +
      (s0 && s1 ? `; σ_max of the Jacobian ${fmt(s0.sigmaMax)} → ${fmt(s1.sigmaMax)}, median σ ${fmt(s0.spectrum[Math.floor(s0.n / 2)]!)} → ${fmt(s1.spectrum[Math.floor(s1.n / 2)]!)}.` : '.'));
  }
  return items;
}

function solvedText(runs: readonly RunResult[]): string {
  const s = runs.filter((r) => r.solved !== null);
  if (!s.length) return '-';
  const k = s.filter((r) => r.solved).length;
  return `${k === s.length ? 'yes' : k === 0 ? 'no' : 'partly'} (${k}/${s.length})`;
}

function taskBlocks(task: TaskResult, charts: { file: string; svg: string }[]): Block[] {
  const blocks: Block[] = [];
  const add = (c: { file: string; svg: string; caption: string }) => { charts.push(c); return c; };
  blocks.push({ kind: 'h2', text: task.title });
  blocks.push({ kind: 'p', text: task.description });
  blocks.push({ kind: 'table', head: ['data', 'value'], rows: Object.entries(task.data).map(([k, v]) => [k, typeof v === 'number' ? v.toLocaleString('en-US') : v]) });
  const main = task.runs.filter((r) => r.purpose === 'main');
  const synthetic = task.lengths.some((l) => l !== null);
  // The main table.
  const head = ['cell', ...(synthetic ? ['T'] : []), 'hidden', 'parameters', 's / epoch', task.tokenUnit, 'epochs trained', `best ${task.metric.label} (mean ± std)`, ...(synthetic ? ['solved (seeds)'] : [])];
  const rows: Cell[][] = [];
  for (const len of task.lengths) {
    for (const c of task.cells) {
      const rs = main.filter((r) => r.cell === c.cell && r.length === len);
      if (!rs.length) continue;
      const errs = rs.filter((r) => r.error).length;
      rows.push([
        c.cell, ...(synthetic ? [len ?? ''] : []), c.hidden, rs[0]!.params.toLocaleString('en-US'),
        fmtMeanStd(rs.map((r) => r.secondsPerEpoch)), fmtMeanStd(rs.map((r) => r.tokensPerSecond), 4), fmtMeanStd(rs.map((r) => r.epochs)),
        fmtMeanStd(rs.map((r) => r.bestMetric), 3) + (errs ? ` (${errs} diverged)` : ''),
        ...(synthetic ? [solvedText(rs)] : []),
      ]);
    }
  }
  blocks.push({ kind: 'h3', text: 'Results' });
  blocks.push({ kind: 'table', head, rows, caption: `Seeds per row: ${Math.max(...task.cells.map((c) => main.filter((r) => r.cell === c.cell).length / Math.max(1, task.lengths.length)))}. ` +
    `Parameters are the whole model's; the hidden sizes ${task.cells.length > 1 && new Set(task.cells.map((c) => c.hidden)).size > 1 ? 'were chosen to give (nearly) equal parameter counts without the embedding: ' + task.cells.map((c) => `${c.cell} ${c.cellParams.toLocaleString('en-US')}`).join(', ') : 'are equal'}. ` +
    `Throughput and s/epoch count training compute only (no evaluation).${task.metric.solvedRule ? ` Solved: ${task.metric.solvedRule}.` : ''}` });
  if (synthetic) {
    const lens = task.lengths.filter((l): l is number => l !== null);
    const sweepRows = task.cells.map((c) => [c.cell, ...lens.map((l) => {
      const rs = main.filter((r) => r.cell === c.cell && r.length === l);
      return rs.length ? `${fmtMeanStd(rs.map((r) => r.bestMetric))} ${solvedText(rs)}` : '-';
    }), (() => {
      const solvedLens = lens.filter((l) => main.some((r) => r.cell === c.cell && r.length === l && r.solved));
      return solvedLens.length ? String(Math.max(...solvedLens)) : 'none';
    })()]);
    blocks.push({ kind: 'table', head: ['cell', ...lens.map((l) => (task.task === 'copy' ? `delay ${l}` : `T=${l}`)), 'longest solved'], rows: sweepRows,
      caption: `Where each cell stops learning: best ${task.metric.label} (mean ± std) and solved seeds at each length.` });
    const sc = sweepChart(task);
    if (sc) blocks.push({ kind: 'chart', ...add(sc) });
  }
  blocks.push({ kind: 'h3', text: 'Training curves' });
  for (const len of task.lengths) blocks.push({ kind: 'charts', charts: curveCharts(task, len).map(add) });
  if (task.gradflow) {
    const g = task.gradflow;
    blocks.push({ kind: 'h3', text: 'Gradient flow through time' });
    blocks.push({ kind: 'p', text: `The loss is put on the last step of ${g.examples} validation sequences of length ${g.length}, and ‖∂L/∂h_t‖ is measured exactly for every earlier step t ` +
      `by backpropagating one step at a time with the library's own backward (see src/apps/gradflow.ts), in float64. Models: seed 1 at initialisation, after training with clipping, ` +
      `and after an extra run of the same budget without clipping. Clipping rescales the whole gradient of a step, so it never changes the shape of these curves within a step; it changes where training goes.` });
    for (const c of gradflowCharts(task).slice(0, 2)) blocks.push({ kind: 'chart', ...add(c) });
    const ds = [0, 1, 5, 10, 25, 50, 100, 200].filter((d) => d < g.length);
    if (!ds.includes(g.length - 1)) ds.push(g.length - 1);
    blocks.push({ kind: 'table', head: ['cell', 'model', ...ds.map((d) => `d=${d}`)],
      rows: g.flows.flatMap((f) => {
        const rows: Cell[][] = [[f.cell, f.state, ...ds.map((d) => fmt(f.flow.ratio[d]!))]];
        const c = f.flow.dcNorm;
        if (c) rows.push([f.cell, `${f.state}: ‖∂L/∂c_t‖`, ...ds.map((d) => fmt(c[d]! / f.flow.dhNorm[0]!))]);
        return rows;
      }),
      caption: '‖∂L/∂h_t‖ relative to its value at the loss (distance d = T−1−t): the fraction of the gradient that survives d steps back. ' +
        'For the LSTM the gradient also flows through the memory cell: the ‖∂L/∂c_t‖ rows (same normalisation) show that path.' });
    blocks.push({ kind: 'list', items: gradflowObservations(task) });
    blocks.push({ kind: 'h3', text: 'Spectrum of the recurrent Jacobian' });
    blocks.push({ kind: 'p', text: 'J_t = ∂s_t/∂s_t−1 is formed exactly with the library (one backward per unit vector, batched), for the state s = h (RNN, GRU) or s = (h, c) (LSTM, 2H×2H), ' +
      'at 2 steps (1/3 and 2/3 of the sequence) of 2 probe sequences, and its singular values come from a one-sided Jacobi SVD. The product of these matrices carries the gradient back in time: ' +
      'singular values well below 1 make it vanish geometrically, values near 1 preserve it.' });
    blocks.push({ kind: 'charts', charts: gradflowCharts(task).slice(2).map(add) });
    const srows: Cell[][] = [];
    for (const s of g.spectra) for (const p of s.points) {
      srows.push([s.cell, s.clip > 0 ? `clip ${s.clip}` : 'no clip', `${(100 * p.fraction).toFixed(0)}% (step ${p.step})`, `${fmt(p.spectrum.sigmaMax)} (${fmt(p.spectrum.sigmaMaxRange[0])}–${fmt(p.spectrum.sigmaMaxRange[1])})`,
        fmt(p.spectrum.spectrum[Math.floor(p.spectrum.spectrum.length / 2)] ?? NaN), `${(100 * p.spectrum.fracAbove05).toFixed(0)}%`, `${(100 * p.spectrum.fracAbove1).toFixed(0)}%`, p.spectrum.n]);
    }
    blocks.push({ kind: 'table', head: ['cell', 'training', 'checkpoint', 'σ_max mean (range)', 'median σ', 'σ > 0.5', 'σ > 1', 'n'], rows: srows });
  }
  if (task.speed) {
    const sp = task.speed;
    blocks.push({ kind: 'h3', text: 'Throughput benchmark' });
    blocks.push({ kind: 'table', head: ['cell', 'sizing', 'hidden', 'parameters', `${task.tokenUnit} (median)`, 'rounds'],
      rows: sp.entries.map((e) => [e.cell, e.sizing === 'same' ? 'same hidden size' : 'as trained', e.hidden, e.params.toLocaleString('en-US'), Math.round(e.tokensPerSecond), e.rounds.map((v) => Math.round(v)).join(', ')]),
      caption: `Training steps on the same batches${sp.length !== null ? ` (T=${sp.length})` : ''}, every configuration timed in ${sp.entries[0]?.rounds.length ?? 0} interleaved rounds ` +
        '(A, B, C, then B, C, A, …) so that changes in the machine\'s load affect every cell alike. This is the fair speed comparison; the per-run throughput above was measured at different times.' });
  }
  blocks.push({ kind: 'h3', text: 'GRU vs LSTM: the tutorial\'s claims, checked' });
  blocks.push({ kind: 'table', head: ['claim', 'measured as', 'LSTM', 'GRU', 'verdict', 'note'], rows: task.claims.map((c) => [c.claim, c.measure, c.lstm, c.gru, c.verdict, c.note]) });
  return blocks;
}

/** The Markdown report, the self-contained HTML report and the SVG chart files. */
export function compareReport(res: CompareResults): ReportFiles {
  const cfg = res.config;
  const charts: { file: string; svg: string }[] = [];
  const blocks: Block[] = [];
  blocks.push({ kind: 'h1', text: 'Comparing recurrent cells: RNN vs LSTM vs GRU' });
  blocks.push({ kind: 'p', text: `Generated by \`${res.command || 'rnnkit compare'}\` on ${res.createdAt.slice(0, 19).replace('T', ' ')} UTC ` +
    `(${res.environment.platform}, Node ${res.environment.node}, ${res.environment.cpus} CPUs, float32 backend ${res.environment.backend}); total wall time ${fmt(res.totalSeconds / 60)} min.` });
  blocks.push({ kind: 'list', items: [
    `Same for every cell: the data (generated or read once), Adam (learning rate ${cfg.lr}), batch ${cfg.batch}, gradient clipping ${cfg.clip > 0 ? `to global norm ${cfg.clip}` : 'off'}, ` +
      `and the budget: ${res.budgetPerRunSeconds !== null ? `${fmt(res.budgetPerRunSeconds)} s of training compute per run (the total budget split evenly over every run)` : `${cfg.epochs} epoch(s) per run`}.`,
    `Sizes: ${cfg.match === 'params' ? 'matched parameter counts — each cell\'s hidden size is the one whose parameter count (recurrent layer + output head, the embedding left out) is closest to the LSTM\'s at the reference hidden size' : 'the same hidden size for every cell'}.`,
    `${cfg.seeds} seed(s) per configuration (initialisation and batch order); tables give mean ± standard deviation over seeds, and "best" is the best validation value seen at the ${cfg.evalPoints} evaluation points of a run.`,
    'Timing was measured on a shared machine: throughput and wall times carry noise from other processes, so small speed differences are not meaningful.',
  ] });
  for (const t of res.tasks) blocks.push(...taskBlocks(t, charts));
  const html = renderHtml('rnnkit compare: RNN vs LSTM vs GRU', blocks);
  const markdown = renderMarkdown(blocks, 'charts');
  // Unique chart list (the same file may be referenced once).
  const seen = new Set<string>();
  const unique = charts.filter((c) => (seen.has(c.file) ? false : (seen.add(c.file), true)));
  return { markdown, html, charts: unique };
}
