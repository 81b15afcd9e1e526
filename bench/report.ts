/**
 * Bench results and their renderings: the streaming text table, --json, --csv and the
 * self-contained HTML report (--out report.html: inline SVG bar charts, the JSON embedded, no
 * network). All read the same BenchReport, so the four views never disagree.
 */
import type { TorchInfo } from './peers/torch';

export interface PeerResult {
  /** 'torch', 'tfjs-cpu', 'tfjs-wasm', 'ort', 'unfused', 'autograd'. */
  label: string;
  median?: number;
  p10?: number;
  p90?: number;
  repeats?: number;
  /** peer median / selfsup median: > 1 means selfsup is faster. */
  speedup?: number;
  /** Why there is no time (no definition for this workload, the peer failed...). */
  error?: string;
  /** Peers that check their output (ort): the timed variant and its max rel error against selfsup. */
  variant?: string;
  maxRelError?: number;
  /** One line under the text table (ort: every variant's time, or why it was skipped). */
  detail?: string;
}

export interface BenchRow {
  op: string;
  workload: string;
  shape: Record<string, number>;
  mode: string;
  dtype: string;
  flops: number;
  bytes: number;
  /** Seconds (absent when skipped). */
  median?: number;
  p10?: number;
  p90?: number;
  repeats?: number;
  gflops?: number;
  gbs?: number;
  bound?: 'compute' | 'memory';
  /** Floor time (roofline) / median, percent. */
  roofPct?: number;
  extraBytes?: number;
  extraSource?: 'stated' | 'measured';
  maxRelError?: number;
  tolerance?: number;
  errorOk?: boolean;
  /** Why check() threw (the row then fails). */
  checkError?: string;
  skipped?: string;
  peers: PeerResult[];
}

export interface BenchHeader {
  version: string;
  node: string;
  date: string;
  command: string;
  backend: string;
  addon?: string;
  cpuModel: string;
  cores: number;
  isa?: string;
  threads: number;
  peakGflops: number;
  bandwidthGBs: number;
  cuda: string;
  device: string;
  dtype: string;
  torch?: TorchInfo;
  tfjs?: string;
  /** onnxruntime-node's version, execution provider and threads (--vs ort). */
  ort?: string;
  notes: string[];
}

export interface BenchReport {
  header: BenchHeader;
  rows: BenchRow[];
  failures: Array<{ file: string; error: string }>;
}

// ---- formatting helpers ----------------------------------------------------------------------

export function fmtTime(s: number | undefined): string {
  if (s === undefined || !Number.isFinite(s)) return '-';
  if (s < 1e-3) return `${(s * 1e6).toFixed(s < 1e-5 ? 2 : 1)} µs`;
  if (s < 1) return `${(s * 1e3).toFixed(s < 1e-2 ? 3 : s < 0.1 ? 2 : 1)} ms`;
  return `${s.toFixed(3)} s`;
}

function fmtNum(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return '-';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000) return x.toFixed(0);
  return x.toPrecision(digits);
}

export function fmtRate(r: BenchRow): string {
  if (r.median === undefined) return '-';
  return r.bound === 'memory' || !(r.flops > 0) ? `${fmtNum(r.gbs ?? NaN)} GB/s` : `${fmtNum(r.gflops ?? NaN)} GFLOP/s`;
}

export function fmtBytes(b: number | undefined): string {
  if (b === undefined || !Number.isFinite(b)) return '-';
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(0)} KiB`;
  if (b < 1024 ** 3) return `${(b / 1024 ** 2).toFixed(1)} MiB`;
  return `${(b / 1024 ** 3).toFixed(2)} GiB`;
}

function fmtErr(r: BenchRow): string {
  if (r.maxRelError === undefined) return '-';
  const e = Number.isFinite(r.maxRelError) ? r.maxRelError.toExponential(1) : String(r.maxRelError);
  return r.errorOk === false ? `${e} FAIL` : e;
}

function fmtPeer(p: PeerResult | undefined): [string, string] {
  if (!p) return ['-', '-'];
  if (p.median === undefined) return [p.error && !p.error.startsWith('no ') ? 'n/a' : '-', '-'];
  return [fmtTime(p.median), p.speedup !== undefined ? `${p.speedup.toFixed(2)}x` : '-'];
}

export function shapeStr(s: Record<string, number>): string {
  return Object.entries(s).map(([k, v]) => `${k}=${v}`).join(',');
}

// ---- header ----------------------------------------------------------------------------------

export function headerLines(h: BenchHeader): string[] {
  const f = (x: number): string => (Number.isFinite(x) ? x.toFixed(1) : 'n/a');
  const lines = [
    `selfsup ${h.version} bench (node ${h.node}, ${h.date})`,
    `cpu:        ${h.cpuModel} (${h.cores} logical cores)`,
    `backend:    ${h.backend}${h.addon ? ` (${h.addon})` : ''}; isa ${h.isa ?? '-'}; ${h.threads} threads; dtype ${h.dtype}; device ${h.device}`,
    `peak:       ${f(h.peakGflops)} GFLOP/s FMA, ${f(h.bandwidthGBs)} GB/s triad (measured now, ${h.threads} threads)`,
    `cuda:       ${h.cuda}`,
  ];
  return lines;
}

// ---- streaming text table --------------------------------------------------------------------

export class TextTable {
  private widths: number[];
  readonly columns: string[];

  constructor(private peerLabels: string[], opWidth: number, wlWidth: number) {
    this.columns = ['op', 'workload', 'mode', 'median', 'p10', 'p90', 'rate', '%peak', 'extra mem', 'max rel err'];
    this.widths = [Math.max(2, opWidth), Math.max(8, wlWidth), 7, 10, 10, 10, 16, 6, 10, 12];
    for (const l of peerLabels) {
      this.columns.push(l, `vs ${l}`);
      this.widths.push(Math.max(10, l.length), Math.max(7, l.length + 3));
    }
  }

  private line(cells: string[]): string {
    return cells
      .map((c, i) => (i < 3 ? c.padEnd(this.widths[i]) : c.padStart(this.widths[i])))
      .join('  ')
      .trimEnd();
  }

  head(): string {
    const h = this.line(this.columns);
    return `${h}\n${'-'.repeat(h.length)}`;
  }

  row(r: BenchRow): string {
    if (r.median === undefined) {
      return this.line([r.op, r.workload, r.mode]) + `   skipped: ${r.skipped ?? '?'}`;
    }
    const cells = [
      r.op, r.workload, r.mode, fmtTime(r.median), fmtTime(r.p10), fmtTime(r.p90), fmtRate(r),
      r.roofPct !== undefined && Number.isFinite(r.roofPct) ? `${r.roofPct.toFixed(0)}%` : '-',
      fmtBytes(r.extraBytes), fmtErr(r),
    ];
    for (const l of this.peerLabels) cells.push(...fmtPeer(r.peers.find((p) => p.label === l)));
    return this.line(cells);
  }
}

/** Notes under the table: peer failures per row (the table only says n/a) and peers' details. */
export function peerErrorLines(rows: BenchRow[]): string[] {
  const out: string[] = [];
  for (const r of rows) {
    if (r.checkError) out.push(`check ${r.op}/${r.workload} ${r.mode}: ${r.checkError}`);
    for (const p of r.peers) {
      if (p.detail) out.push(`${p.label} ${r.op}/${r.workload} ${r.mode}: ${p.detail}`);
      else if (p.error && p.median === undefined && !p.error.startsWith('no ')) out.push(`${p.label} ${r.op}/${r.workload} ${r.mode}: ${p.error}`);
    }
  }
  return out;
}

// ---- JSON / CSV -----------------------------------------------------------------------------

export function toJSON(rep: BenchReport): string {
  return JSON.stringify(rep, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2);
}

export function csvColumns(peerLabels: string[]): string[] {
  const cols = [
    'op', 'workload', 'shape', 'mode', 'dtype', 'median_s', 'p10_s', 'p90_s', 'repeats', 'flops', 'bytes',
    'gflops', 'gbs', 'bound', 'roof_pct', 'extra_bytes', 'max_rel_error', 'tolerance', 'error_ok', 'skipped',
  ];
  for (const l of peerLabels) cols.push(`${l}_median_s`, `${l}_speedup`);
  return cols;
}

function csvCell(v: unknown): string {
  if (v === undefined || v === null || (typeof v === 'number' && !Number.isFinite(v))) return '';
  const s = String(v);
  return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCSV(rep: BenchReport, peerLabels: string[]): string {
  const lines = [csvColumns(peerLabels).join(',')];
  for (const r of rep.rows) {
    const cells: unknown[] = [
      r.op, r.workload, shapeStr(r.shape), r.mode, r.dtype, r.median, r.p10, r.p90, r.repeats, r.flops, r.bytes,
      r.gflops, r.gbs, r.bound, r.roofPct, r.extraBytes, r.maxRelError, r.tolerance, r.errorOk, r.skipped,
    ];
    for (const l of peerLabels) {
      const p = r.peers.find((q) => q.label === l);
      cells.push(p?.median, p?.speedup);
    }
    lines.push(cells.map(csvCell).join(','));
  }
  return lines.join('\n') + '\n';
}

// ---- HTML -----------------------------------------------------------------------------------

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const COLORS: Record<string, string> = { selfsup: '#2b6cb0', torch: '#dd6b20', 'tfjs-cpu': '#38a169', 'tfjs-wasm': '#805ad5', ort: '#c53030', unfused: '#718096' };

/** One horizontal bar chart (inline SVG) of median times for an op: a group per workload × mode. */
function opChart(op: string, rows: BenchRow[], labels: string[]): string {
  const groups = rows.filter((r) => r.median !== undefined);
  if (!groups.length) return `<p>${esc(op)}: no timed rows</p>`;
  const barH = 14, gap = 4, groupGap = 14, left = 190, width = 520, right = 250;
  // Each workload × mode group is scaled to its own slowest bar: groups of one op can differ 100x.
  const bars: Array<{ g: number; label: string; t: number; text: string }> = [];
  const max: number[] = [];
  groups.forEach((r, g) => {
    const items: Array<{ label: string; t: number; text: string }> = [
      { label: 'selfsup', t: r.median!, text: `${fmtTime(r.median)}${r.roofPct !== undefined && Number.isFinite(r.roofPct) ? ` · ${r.roofPct.toFixed(0)}% of roofline` : ''}` },
    ];
    for (const l of labels) {
      const p = r.peers.find((q) => q.label === l);
      if (p?.median !== undefined) items.push({ label: l, t: p.median, text: `${fmtTime(p.median)}${p.speedup !== undefined ? ` · selfsup ${p.speedup.toFixed(2)}x` : ''}` });
    }
    max[g] = Math.max(...items.map((it) => it.t));
    for (const it of items) bars.push({ g, ...it });
  });
  let y = 24;
  let lastG = -1;
  const parts: string[] = [];
  for (const b of bars) {
    if (b.g !== lastG) {
      if (lastG >= 0) y += groupGap;
      const r = groups[b.g];
      parts.push(`<text x="0" y="${y + barH - 3}" class="grp">${esc(`${r.workload} ${r.mode}`)}</text>`);
      lastG = b.g;
    }
    const w = Math.max(1, (b.t / max[b.g]) * width);
    parts.push(
      `<rect class="bar" data-impl="${esc(b.label)}" x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[b.label] ?? '#999'}"><title>${esc(`${b.label}: ${b.text}`)}</title></rect>`,
      `<text x="${(left + w + 4).toFixed(1)}" y="${y + barH - 3}" class="val">${esc(`${b.label} ${b.text}`)}</text>`,
    );
    y += barH + gap;
  }
  const h = y + 8;
  return `<svg class="chart" data-op="${esc(op)}" xmlns="http://www.w3.org/2000/svg" width="${left + width + right}" height="${h}" viewBox="0 0 ${left + width + right} ${h}">` +
    `<text x="0" y="14" class="title">${esc(op)} — median time per run, scaled per workload (shorter is faster)</text>${parts.join('')}</svg>`;
}

export function toHTML(rep: BenchReport, peerLabels: string[]): string {
  const h = rep.header;
  const ops = [...new Set(rep.rows.map((r) => r.op))];
  const table = new TextTable(peerLabels, 8, 8);
  const thead = `<tr>${table.columns.map((c) => `<th>${esc(c)}</th>`).join('')}</tr>`;
  const tbody = rep.rows
    .map((r) => {
      const cells = [r.op, r.workload, r.mode, fmtTime(r.median), fmtTime(r.p10), fmtTime(r.p90), r.median === undefined ? `skipped: ${r.skipped ?? ''}` : fmtRate(r),
        r.roofPct !== undefined && Number.isFinite(r.roofPct) ? `${r.roofPct.toFixed(0)}%` : '-', fmtBytes(r.extraBytes), fmtErr(r)];
      for (const l of peerLabels) cells.push(...fmtPeer(r.peers.find((p) => p.label === l)));
      return `<tr${r.errorOk === false ? ' class="fail"' : ''}>${cells.map((c) => `<td>${esc(c)}</td>`).join('')}</tr>`;
    })
    .join('\n');
  const legend = ['selfsup', ...peerLabels].map((l) => `<span class="key"><i style="background:${COLORS[l] ?? '#999'}"></i>${esc(l)}</span>`).join(' ');
  // The JSON goes in a script element; escaping '<' keeps "</script>" in a string from closing it.
  const json = toJSON(rep).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>selfsup bench ${esc(h.date)}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#1a202c}
pre{background:#f7fafc;padding:8px;border:1px solid #e2e8f0}
table{border-collapse:collapse;font-size:12px;margin:12px 0}
td,th{border:1px solid #e2e8f0;padding:2px 6px;text-align:right}
td:nth-child(-n+3),th:nth-child(-n+3){text-align:left}
tr.fail td{background:#fed7d7}
svg .title{font-weight:600;font-size:13px} svg text{font-size:11px;fill:#1a202c}
.key{margin-right:12px}.key i{display:inline-block;width:10px;height:10px;margin-right:4px}
</style></head><body>
<h1>selfsup bench</h1>
<pre>${esc([...headerLines(h), ...(h.torch ? [`torch:      ${h.torch.torch}, ${h.torch.threads} threads, BLAS ${h.torch.blas.kind}`] : []), ...(h.ort ? [`ort:        ${h.ort}`] : []), `command:    ${h.command}`, ...h.notes].join('\n'))}</pre>
<p>${legend}</p>
<div id="charts">${ops.map((op) => opChart(op, rep.rows.filter((r) => r.op === op), peerLabels)).join('\n')}</div>
<table>${thead}\n${tbody}</table>
<p>Roofline: % of the time floor max(FLOPs / measured FMA peak, bytes / measured triad bandwidth). Speedup = peer median / selfsup median.</p>
<script type="application/json" id="bench-data">${json}</script>
</body></html>
`;
}
