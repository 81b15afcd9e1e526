/**
 * The run's HTML report (report.html in the run directory): the recipe and its hyper-parameters,
 * loss and LR against step, RankMe and kNN over training, the probe accuracy per depth, the
 * per-factor accuracy and the timings. One self-contained file (inline CSS and SVG, no script, no
 * network), rendered from log.jsonl alone, so `selfsup report DIR` regenerates it for any run,
 * a killed one included.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SelfsupError } from '../errors';
import { barChart, esc, fmtNum, lineChart } from './report-svg';

export interface StepRecord {
  step: number;
  loss: number;
  lr: number;
  /** Wall seconds since the start of training (this process). */
  seconds: number;
  /** Wall seconds of the step, and of it the main thread's wait for its data. */
  stepSeconds?: number;
  waitSeconds?: number;
}

export interface EvalRecord {
  step: number;
  knnTop1: number | null;
  rankme: number | null;
}

/** What log.jsonl holds: the config line, the step and periodic eval lines, the result line. */
export interface RunLog {
  config: Record<string, unknown> | null;
  steps: StepRecord[];
  evals: EvalRecord[];
  result: Record<string, unknown> | null;
}

type Probe = { depth: string; dim: number; linearTop1?: number; knnTop1?: number };

/** Reads a run directory's log.jsonl, or throws naming what is wrong. */
export function readRunLog(dir: string): RunLog {
  const file = path.join(dir, 'log.jsonl');
  if (!fs.existsSync(file)) throw new SelfsupError('ERR_INVALID_ARGUMENT', `Expected a run directory with log.jsonl for report but received "${dir}" (no such file)`);
  const log: RunLog = { config: null, steps: [], evals: [], result: null };
  fs.readFileSync(file, 'utf8').split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    let e: Record<string, unknown>;
    try {
      e = JSON.parse(line);
    } catch {
      throw new SelfsupError('ERR_INVALID_ARGUMENT', `Expected one JSON object per line in ${file} for report but received line ${i + 1}: ${line.slice(0, 60)}`);
    }
    if (e.type === 'config') log.config = e;
    else if (e.type === 'step') log.steps.push(e as unknown as StepRecord);
    else if (e.type === 'eval') log.evals.push(e as unknown as EvalRecord);
    else if (e.type === 'result') log.result = e;
  });
  return log;
}

/** Writes DIR/report.html (or `file`) from DIR/log.jsonl; returns the file written. */
export function writeReport(dir: string, file = path.join(dir, 'report.html')): string {
  fs.writeFileSync(file, renderReport(readRunLog(dir)));
  return file;
}

const pct = (v: unknown) => (typeof v === 'number' ? `${(100 * v).toFixed(1)}%` : '–');
const num = (v: unknown, digits = 4) => (typeof v === 'number' ? fmtNum(v, digits) : '–');
const secs = (v: unknown) => (typeof v === 'number' ? `${v.toFixed(v < 10 ? 2 : 1)} s` : '–');
const value = (v: unknown) => (typeof v === 'number' ? ` data-value="${v}"` : '');

function table(id: string, head: string[], rows: string[][]): string {
  return `<table id="${id}"><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.join('')}</tr>`).join('')}</tbody></table>`;
}
const td = (text: string, v?: unknown) => `<td${value(v)}>${esc(text)}</td>`;

function median(a: number[]): number {
  const s = [...a].sort((x, y) => x - y);
  return s.length ? (s.length % 2 ? s[(s.length - 1) >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
}

function hyperParameters(c: Record<string, unknown>): string {
  const opt = (c.optimizer ?? {}) as Record<string, unknown>;
  const flags = Object.entries((c.flags ?? {}) as Record<string, unknown>).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
  const rows: Array<[string, unknown]> = [
    ['recipe', c.recipe], ['paper', c.paper], ['data', c.data], ['classes', c.classes && Object.entries(c.classes as object).map(([k, v]) => `${k} ${v}`).join(', ')],
    ['steps', c.steps], ['batch', c.batch], ['seed', c.seed], ['dtype', c.dtype], ['threads', c.threads],
    ['optimizer', opt.kind], ['base LR (batch 256)', opt.lr], ['peak LR (this batch)', c.lr], ['weight decay', opt.weightDecay],
    ['betas', opt.betas], ['momentum', opt.momentum], ['warm-up (fraction of steps)', opt.warmup], ['final LR (fraction of peak)', opt.finalLr ?? 0],
    ['flags', flags || 'none'], ['evaluations', Array.isArray(c.eval) ? c.eval.join(', ') || 'none' : undefined],
    ['periodic evaluation', c.evalEvery ? `every ${c.evalEvery} steps` : c.evalEvery === 0 ? 'off' : undefined], ['prefetch depth', c.prefetch],
  ];
  const main = table('hyper', ['setting', 'value'], rows.filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => [td(k), td(typeof v === 'object' ? JSON.stringify(v) : String(v))]));
  const views = Array.isArray(c.augment) ? (c.augment as Array<Record<string, unknown> | null>) : [];
  if (!views.length) return main;
  const keys = [...new Set(views.flatMap((v) => (v ? Object.keys(v) : [])))];
  const aug = table('augment', ['view', ...keys], views.map((v, i) => [td(`view ${i + 1}`), ...(v ? keys.map((k) => td(JSON.stringify(v[k]))) : [`<td colspan="${keys.length}">the raw image (no augmentation)</td>`])]));
  return `${main}<h3>Augmentations</h3>${aug}`;
}

function timings(log: RunLog): string {
  const r = log.result ?? {};
  const st = log.steps.map((s, i) => s.stepSeconds ?? s.seconds - (i ? log.steps[i - 1].seconds : 0));
  const wait = log.steps.map((s) => s.waitSeconds).filter((w): w is number => typeof w === 'number');
  const total = st.reduce((a, b) => a + b, 0), waited = wait.reduce((a, b) => a + b, 0);
  const rows: Array<[string, string, unknown?]> = [
    ['steps logged', String(log.steps.length)],
    ['median step', `${(1000 * median(st)).toFixed(1)} ms`, median(st)],
    ['steps per second', log.steps.length ? (log.steps.length / total).toFixed(2) : '–'],
    ['main thread waiting on data', wait.length ? `${secs(waited)} (${(100 * waited / total).toFixed(1)}% of the step time)` : '–', wait.length ? waited / total : undefined],
    ['prefetch depth', String(r.prefetch ?? log.config?.prefetch ?? '–')],
    ['training (this process)', secs(r.trainSeconds)], ['evaluation', secs(r.evalSeconds)], ['total (this process)', secs(r.seconds)],
    ['threads', String(r.threads ?? log.config?.threads ?? '–')],
  ];
  const chart = lineChart('chart-time', 'Step time', 'step', 'ms', [
    { name: 'step', color: '#2b6cb0', points: log.steps.map((s, i) => [s.step, 1000 * st[i]]) },
    ...(wait.length === log.steps.length && wait.length ? [{ name: 'waiting on data', color: '#dd6b20', points: log.steps.map((s, i): [number, number] => [s.step, 1000 * wait[i]]) }] : []),
  ], { yFrom0: true });
  return table('timings', ['', ''], rows.map(([k, v, x]) => [td(k), td(v, x)])) + chart;
}

function overTime(log: RunLog): string {
  const pts = log.evals.map((e) => ({ step: e.step, knn: e.knnTop1, rankme: e.rankme }));
  const r = log.result;
  if (r && (typeof r.rankme === 'number' || typeof r.knnTop1 === 'number')) pts.push({ step: r.step as number, knn: r.knnTop1 as number | null, rankme: r.rankme as number | null });
  const series = (k: 'knn' | 'rankme') => pts.filter((p) => typeof p[k] === 'number').map((p): [number, number] => [p.step, p[k] as number]);
  const note = log.evals.length ? '' : '<p class="note">Only the final evaluation was run; <code>--eval-every N</code> adds points during training.</p>';
  return note
    + lineChart('chart-rankme', 'RankMe over training', 'step', 'RankMe', [{ name: 'RankMe', color: '#805ad5', points: series('rankme'), markers: true }], { yFrom0: true })
    + lineChart('chart-knn', 'kNN top-1 over training', 'step', 'kNN top-1', [{ name: 'kNN top-1', color: '#2f855a', points: series('knn'), markers: true }], { yFrom0: true, yMax: 1 });
}

function probes(log: RunLog): string {
  const list = (log.result?.probes ?? []) as Probe[];
  if (!list.length) return '<p class="empty">No probe was run (<code>--eval</code> without <code>linear</code>, or the run did not finish).</p>';
  const chance = 1 / (((log.config?.classes as Record<string, number>) ?? {}).object ?? NaN);
  const rows = list.map((p) => [td(p.depth), td(String(p.dim), p.dim), td(pct(p.linearTop1), p.linearTop1), td(pct(p.knnTop1), p.knnTop1)]);
  const bars = barChart('chart-probes', 'Probe accuracy per depth', [{ name: 'linear', color: '#2b6cb0' }, { name: 'kNN', color: '#2f855a' }],
    list.map((p) => ({ label: p.depth, values: [p.linearTop1 ?? null, p.knnTop1 ?? null] })), list.map(() => chance));
  return table('probes', ['depth', 'dim', 'linear top-1', 'kNN top-1'], rows) + bars;
}

function factors(log: RunLog): string {
  const per = log.result?.perFactor as Record<string, number> | null | undefined;
  if (!per) return '<p class="empty">No per-factor accuracy (it needs the synthetic data and the kNN evaluation).</p>';
  const classes = (log.config?.classes ?? {}) as Record<string, number>;
  const names = Object.keys(per);
  const rows = names.map((f) => [td(f), td(String(classes[f] ?? '–'), classes[f]), td(pct(per[f]), per[f]), td(classes[f] ? pct(1 / classes[f]) : '–')]);
  const bars = barChart('chart-factors', 'kNN top-1 per factor', [{ name: 'kNN', color: '#2f855a' }], names.map((f) => ({ label: f, values: [per[f]] })), names.map((f) => 1 / classes[f]));
  return table('factors', ['factor', 'classes', 'kNN top-1', 'chance'], rows) + bars;
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1a202c;margin:0 auto;max-width:980px;padding:16px 24px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #e2e8f0;padding-bottom:4px}h3{font-size:14px}
.sub,.note,.empty{color:#4a5568}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:14px 0}
.card{border:1px solid #e2e8f0;border-radius:6px;padding:8px 12px;min-width:110px}.card b{display:block;font-size:18px}
table{border-collapse:collapse;margin:6px 0}td,th{border-bottom:1px solid #edf2f7;padding:3px 10px;text-align:left}th{background:#f7fafc}
td[data-value]{font-variant-numeric:tabular-nums}figure{margin:8px 0}svg{width:100%;max-width:720px;height:auto;background:#fff}
.grid{stroke:#edf2f7}.axis{stroke:#718096}.tick{font-size:11px;fill:#4a5568}.label{font-size:12px;fill:#2d3748}
.chance{stroke:#e53e3e;stroke-dasharray:3 3}.legend{font-size:12px;color:#4a5568}.legend span{margin-right:14px}
.legend i{display:inline-block;width:12px;height:3px;margin-right:5px;vertical-align:middle}.legend i.chance-key{border-top:2px dashed #e53e3e;height:0}
.two{display:grid;grid-template-columns:1fr 1fr;gap:12px}@media(max-width:800px){.two{grid-template-columns:1fr}}`;

/** The report page for a run log. */
export function renderReport(log: RunLog): string {
  const c = log.config ?? {};
  const r = log.result;
  const recipe = String(c.recipe ?? r?.recipe ?? 'unknown recipe');
  const lastStep = log.steps.at(-1)?.step ?? 0;
  const status = r ? `finished: ${r.step ?? lastStep} of ${c.steps ?? '?'} steps` : `no result line: the run stopped after step ${lastStep} of ${c.steps ?? '?'} (killed, or still running)`;
  const cards: Array<[string, string]> = [
    ['final loss', num(log.steps.at(-1)?.loss)], ['kNN top-1', pct(r?.knnTop1)], ['linear top-1', pct(r?.linearTop1)],
    ['RankMe', num(r?.rankme, 3)], ['training', secs(r?.trainSeconds)],
  ];
  const loss = lineChart('chart-loss', 'Loss', 'step', 'loss', [{ name: 'loss', color: '#2b6cb0', points: log.steps.map((s) => [s.step, s.loss]) }]);
  const lr = lineChart('chart-lr', 'Learning rate', 'step', 'learning rate', [{ name: 'lr', color: '#dd6b20', points: log.steps.map((s) => [s.step, s.lr]) }], { yFrom0: true });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>${esc(`selfsup train: ${recipe}`)}</title><style>${STYLE}</style></head>
<body>
<h1>${esc(recipe)} on ${esc(c.data ?? '?')}</h1>
<p class="sub" id="status">${esc(status)} · batch ${esc(c.batch ?? '?')} · seed ${esc(c.seed ?? '?')}</p>
<div class="cards">${cards.map(([k, v]) => `<div class="card">${esc(k)}<b>${esc(v)}</b></div>`).join('')}</div>
<h2>Loss and learning rate</h2><div class="two">${loss}${lr}</div>
<h2>RankMe and kNN over training</h2><p class="note">On the backbone output (the features below the projector), on the labelled bank and the held-out images.</p><div class="two">${overTime(log)}</div>
<h2>Probe accuracy per depth</h2><p class="note">Linear probe and kNN top-1 of the object class on the held-out images, at each depth (Guillotine Regularization: the layers below the projector often transfer better). Dashed: chance.</p>${probes(log)}
<h2>Per-factor accuracy</h2><p class="note">kNN top-1 of each factor's label on the held-out images: which factors the representation keeps. Dashed: chance.</p>${factors(log)}
<h2>Timings</h2>${timings(log)}
<h2>Recipe and hyper-parameters</h2>${hyperParameters(c)}
</body></html>
`;
}
