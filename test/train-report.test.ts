/**
 * The training report (lib/train/report.ts): a tiny run writes report.html; its content is checked
 * as text here, and as rendered in headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core, as test/tfjs-browser.test.ts does): one drawn vertex per logged step, one probe
 * row per depth with the logged numbers, RankMe at every evaluation, no console error, no request.
 * `selfsup report DIR` regenerates the same file, and reports a killed run.
 */
import '../lib/tensor-methods'; // the Tensor op methods, as the package entry attaches them
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { train, type TrainResult } from '../lib/train/train';
import { readRunLog, renderReport } from '../lib/train/report';
import { setNumThreads } from '../lib/info';
import { runCli } from './helpers';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = fs.existsSync(CHROMIUM);
const STEPS = 7, EVAL_EVERY = 3; // periodic evaluations at steps 3 and 6, the final one at 7

let dir = '', html = '', result: TrainResult;
const pct = (v: number) => `${(100 * v).toFixed(1)}%`;

beforeAll(async () => {
  setNumThreads(2);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-report-'));
  result = await train({
    recipe: 'vicreg', data: 'synthetic:size=16,bank=100,test=60', steps: STEPS, batch: 8, seed: 1,
    flags: { dim: 32, depth: 1, heads: 2 }, evalEvery: EVAL_EVERY, out: dir,
  });
  html = fs.readFileSync(path.join(dir, 'report.html'), 'utf8');
}, 60_000);

/** The attribute `points` of the polyline of a series, as vertices. */
function polyline(id: string, series: string): string[] {
  const svg = html.slice(html.indexOf(`<svg id="${id}"`), html.indexOf('</svg>', html.indexOf(`<svg id="${id}"`)));
  const m = svg.match(new RegExp(`<polyline data-series="${series}"[^>]* points="([^"]*)"`));
  return m ? m[1].split(' ') : [];
}

describe('report.html (the text)', () => {
  it('is one self-contained file: no script, stylesheet link, image or URL', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).not.toMatch(/<script|<link|<img|<iframe|https?:|src=|url\(/i);
  });

  it('draws loss and LR with one vertex per logged step, RankMe and kNN at every evaluation', () => {
    expect(polyline('chart-loss', 'loss')).toHaveLength(STEPS);
    expect(polyline('chart-lr', 'lr')).toHaveLength(STEPS);
    expect(polyline('chart-rankme', 'RankMe')).toHaveLength(3);
    expect(polyline('chart-knn', 'kNN top-1')).toHaveLength(3);
    expect(html).toContain(`<title>RankMe ${+result.rankme!.toPrecision(4)} at step ${STEPS}</title>`);
  });

  it('has the probe, factor, timing and hyper-parameter tables with the logged numbers', () => {
    for (const p of result.probes) {
      expect(html).toContain(`<tr><td>${p.depth}</td><td data-value="${p.dim}">${p.dim}</td><td data-value="${p.linearTop1}">${pct(p.linearTop1!)}</td><td data-value="${p.knnTop1}">${pct(p.knnTop1!)}</td></tr>`);
    }
    for (const [f, v] of Object.entries(result.perFactor!)) expect(html).toMatch(new RegExp(`<tr><td>${f}</td><td data-value="\\d+">\\d+</td><td data-value="${v}">${pct(v)}</td>`));
    expect(html).toMatch(/<td>prefetch depth<\/td><td>2<\/td>/);
    expect(html).toMatch(/<td>paper<\/td><td>Bardes/);
    expect(html).toMatch(/<td>weight decay<\/td><td>0.05<\/td>/);
  });

  it('escapes what it prints (a data name is text, not markup)', () => {
    const log = readRunLog(dir);
    const page = renderReport({ ...log, config: { ...log.config, data: '<img src=x onerror=alert(1)>' } });
    expect(page).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(page).not.toContain('<img');
  });
});

describe('selfsup report', () => {
  it('regenerates the same file from the log; --out writes elsewhere', async () => {
    const other = path.join(dir, 'again.html');
    const r = await runCli('report', [dir, '--out', other]);
    expect(r.code).toBe(0);
    expect(r.out.trim()).toBe(other);
    expect(fs.readFileSync(other, 'utf8')).toBe(html);
  });

  it('by default evaluates every steps / 4: RankMe at steps 2, 4, 6 and at the end', async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-report-'));
    await train({ recipe: 'simclr', data: 'synthetic:size=16,bank=60,test=30', steps: 8, batch: 8, eval: ['rankme'], flags: { dim: 32, depth: 1, heads: 2 }, out: d });
    expect(readRunLog(d).evals.map((e) => e.step)).toEqual([2, 4, 6]);
    expect(fs.readFileSync(path.join(d, 'report.html'), 'utf8').match(/<circle data-series="RankMe"/g)).toHaveLength(4);
  });

  it('reports a killed run (no result line) with the steps it logged', async () => {
    const killed = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-report-'));
    const lines = fs.readFileSync(path.join(dir, 'log.jsonl'), 'utf8').trim().split('\n').slice(0, 5); // config + 4 lines
    fs.writeFileSync(path.join(killed, 'log.jsonl'), lines.join('\n') + '\n');
    expect((await runCli('report', [killed])).code).toBe(0);
    const page = fs.readFileSync(path.join(killed, 'report.html'), 'utf8');
    expect(page).toMatch(/no result line: the run stopped after step 3 of 7/);
    expect(page).toContain('No probe was run');
  });

  it('names a bad directory, a bad log line and a bad option (exit 2, no stack)', async () => {
    const missing = await runCli('report', [path.join(dir, 'nope')]);
    expect([missing.code, missing.err]).toEqual([2, expect.stringMatching(/run directory with log.jsonl for report but received ".*nope" \(no such file\)/)]);
    const bad = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-report-'));
    fs.writeFileSync(path.join(bad, 'log.jsonl'), '{"type":"config"}\n{"type":"step", oops\n');
    const r = await runCli('report', [bad]);
    expect([r.code, r.err]).toEqual([2, expect.stringMatching(/one JSON object per line in .*log.jsonl for report but received line 2: \{"type":"step", oops/)]);
    expect((await runCli('report', [dir, '--open'])).err).toMatch(/for report option but received "--open"/);
    expect((await runCli('report', [])).err).toMatch(/Expected a run directory for report but received nothing/);
    const unwritable = await runCli('report', [dir, '--out', path.join(dir, 'no-such-dir', 'r.html')]);
    expect([unwritable.code, unwritable.err]).toEqual([2, expect.stringMatching(/ENOENT/)]);
  });
});

const title = haveChromium
  ? `report.html rendered in headless Chromium (${CHROMIUM})`
  : `report.html in headless Chromium: skipped, ${CHROMIUM} is not installed (apt-get install -y chromium)`;
describe.skipIf(!haveChromium)(title, () => {
  let browser: Browser, page: Page;
  const problems: string[] = [], requests: string[] = [];

  beforeAll(async () => {
    const { chromium } = await import('playwright-core');
    // as root, in a container, with no network: no sandbox, nothing phoning home
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--headless', '--no-sandbox', '--disable-background-networking', '--disable-component-update', '--no-first-run'] });
    page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
    page.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(pathToFileURL(path.join(dir, 'report.html')).href);
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
  });

  it('renders every chart with its points: the loss and LR curves have one vertex per step', async () => {
    const drawn = await page.evaluate(() => Array.from(document.querySelectorAll('svg')).map((svg) => {
      const box = svg.getBoundingClientRect();
      return {
        id: svg.id, width: box.width, height: box.height,
        lines: Array.from(svg.querySelectorAll('polyline')).map((p) => ({ series: p.dataset.series, n: p.points.numberOfItems, w: p.getBBox().width })),
        circles: svg.querySelectorAll('circle').length, bars: svg.querySelectorAll('rect.bar').length,
      };
    }));
    const byId = Object.fromEntries(drawn.map((d) => [d.id, d]));
    expect(Object.keys(byId).sort()).toEqual(['chart-factors', 'chart-knn', 'chart-loss', 'chart-lr', 'chart-probes', 'chart-rankme', 'chart-time']);
    for (const d of drawn) expect(d.width > 200 && d.height > 50, d.id).toBe(true);
    expect(byId['chart-loss'].lines).toEqual([{ series: 'loss', n: STEPS, w: expect.any(Number) }]);
    expect(byId['chart-loss'].lines[0].w).toBeGreaterThan(100); // spans the plot, not collapsed
    expect(byId['chart-lr'].lines[0].n).toBe(STEPS);
    expect(byId['chart-time'].lines.map((l) => [l.series, l.n])).toEqual([['step', STEPS], ['waiting on data', STEPS]]);
    expect(byId['chart-rankme'].circles).toBe(3);
    expect(byId['chart-probes'].bars).toBe(2 * result.probes.length); // linear and kNN per depth
    expect(byId['chart-factors'].bars).toBe(Object.keys(result.perFactor!).length);
  });

  it('shows one probe row per depth with the logged numbers, and the per-factor table', async () => {
    const rows = await page.$$eval('#probes tbody tr', (trs) => trs.map((tr) => Array.from(tr.querySelectorAll('td')).map((td) => td.textContent)));
    expect(rows).toEqual(result.probes.map((p) => [p.depth, String(p.dim), pct(p.linearTop1!), pct(p.knnTop1!)]));
    const factors = await page.$$eval('#factors tbody tr', (trs) => trs.map((tr) => [tr.children[0].textContent, tr.children[2].textContent]));
    expect(factors).toEqual(Object.entries(result.perFactor!).map(([f, v]) => [f, pct(v)]));
    expect(await page.textContent('h1')).toBe('vicreg on synthetic:size=16,bank=100,test=60');
  });

  it('logs no console error and makes no request beyond the file itself', () => {
    expect(problems).toEqual([]);
    expect(requests).toEqual([pathToFileURL(path.join(dir, 'report.html')).href]);
  });
});
