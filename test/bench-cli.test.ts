// `selfsup bench`: usage errors (exit 2, the flag named), the --json / --csv / --out outputs on a
// tiny workload, the workload loader's tolerance of broken files, and the timing statistics.
// Timings themselves are never asserted (benchmarks are not tests).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { loadWorkloads } from '../bench/index';
import { keepGoing, percentile, roofline, summarize } from '../bench/runner';
import { csvColumns } from '../bench/report';
import { runCli } from './helpers';

const run = (args: string[]) => runCli('bench', args);

// A custom sgemm size (the workload's withShape) keeps every run in milliseconds.
const TINY = ['sgemm', '--shape', 'm=64,n=48,k=40', '--quick'];

describe('selfsup bench usage errors', () => {
  const cases: Array<[string[], string]> = [
    [['--threads', '0'], '--threads'],
    [['--threads=abc'], '--threads'],
    [['--repeat', '-3'], '--repeat'],
    [['--shape', 'm=abc'], '--shape'],
    [['--shape', 'm'], '--shape'],
    [['--shape', 'm=0'], '--shape'],
    [['--dtype', 'int8'], '--dtype'],
    [['--mode', 'bwd'], '--mode'],
    [['--vs', 'jax'], '--vs'],
    [['--json', '--csv'], '--csv'],
    [['--frobnicate'], '--frobnicate'],
    [['--threads'], '--threads'],
    [['no-such-op'], 'for op'],
    [['sgemm', '--shape', 'zz=3'], '--shape'],
  ];
  it.each(cases)('%j exits 2 naming %s', async (args, flag) => {
    const r = await run(args);
    expect(r.code).toBe(2);
    expect(r.err).toContain(flag);
    expect(r.err).toMatch(/Expected .* for .* but received/);
    expect(r.out).toBe('');
  });
});

describe('selfsup bench output', () => {
  afterEach(() => vi.restoreAllMocks());

  it('--quick --json prints one valid JSON document with the columns', async () => {
    const r = await run([...TINY, '--json']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.header).toMatchObject({ threads: expect.any(Number), cpuModel: expect.any(String), dtype: 'float32' });
    expect(rep.header).toHaveProperty('peakGflops');
    expect(rep.header).toHaveProperty('bandwidthGBs');
    expect(rep.rows).toHaveLength(1);
    const row = rep.rows[0];
    expect(row).toMatchObject({ op: 'sgemm', workload: '64x48x40', mode: 'fwd', shape: { m: 64, n: 48, k: 40 }, flops: 2 * 64 * 48 * 40 });
    for (const k of ['median', 'p10', 'p90', 'repeats', 'gflops', 'gbs', 'maxRelError', 'tolerance']) expect(typeof row[k]).toBe('number');
    expect(row.p10).toBeLessThanOrEqual(row.median);
    expect(row.median).toBeLessThanOrEqual(row.p90);
    expect(row.repeats).toBeGreaterThanOrEqual(3);
    expect(row.errorOk).toBe(true);
    expect(row.maxRelError).toBeLessThan(1e-5);
    expect(row).toHaveProperty('roofPct');
    expect(row).toHaveProperty('extraBytes');
  });

  it('--csv prints a header row and one line per row', async () => {
    const r = await run([...TINY, '--csv', '--repeat', '2']);
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe(csvColumns([]).join(','));
    expect(lines).toHaveLength(2);
    expect(lines[1].split(',')[0]).toBe('sgemm');
  });

  it('text output has the header and a table; --out writes a self-contained HTML report', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-bench-'));
    const file = path.join(dir, 'report.html');
    const r = await run([...TINY, '--out', file]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^selfsup .* bench/);
    expect(r.out).toMatch(/peak: /);
    expect(r.out).toMatch(/median\s+p10\s+p90/);
    expect(r.out).toMatch(/sgemm\s+64x48x40\s+fwd/);
    const html = fs.readFileSync(file, 'utf8');
    expect(html).toContain('<svg class="chart" data-op="sgemm"');
    expect(html).not.toMatch(/(src|href)="https?:/);
    const json = /<script type="application\/json" id="bench-data">([\s\S]*?)<\/script>/.exec(html)![1];
    expect(JSON.parse(json).rows[0].op).toBe('sgemm');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  // The PyTorch peer, when a python3 with torch is installed (python3-torch on Debian).
  const torchPython = ['python3', '/usr/bin/python3'].find((c) => spawnSync(c, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0);
  it.skipIf(!torchPython)('--vs torch puts the torch median and the ratio beside selfsup', async () => {
    const r = await run([...TINY, '--vs', 'torch', '--json', '--repeat', '2']);
    expect(r.code).toBe(0);
    const rep = JSON.parse(r.out);
    expect(rep.header.torch).toMatchObject({ torch: expect.any(String), threads: rep.header.threads });
    expect(['openblas', 'mkl', 'blis', 'reference', 'unknown']).toContain(rep.header.torch.blas.kind);
    const peer = rep.rows[0].peers.find((p: { label: string }) => p.label === 'torch');
    expect(peer.median).toBeGreaterThan(0);
    expect(peer.speedup).toBeCloseTo(peer.median / rep.rows[0].median, 6);
  });

  const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find((c) => spawnSync('which', [c]).status === 0);
  it.skipIf(!chromium)('the HTML report renders its charts in headless Chromium', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-bench-'));
    const file = path.join(dir, 'report.html');
    expect((await run([...TINY, '--out', file])).code).toBe(0);
    const png = path.join(dir, 'shot.png');
    const common = ['--headless', '--no-sandbox', '--disable-gpu', '--allow-file-access-from-files'];
    const shot = spawnSync(chromium!, [...common, `--screenshot=${png}`, '--window-size=1000,700', `file://${file}`], { timeout: 60_000 });
    expect(shot.status, String(shot.stderr)).toBe(0);
    expect(fs.statSync(png).size).toBeGreaterThan(5000);
    // The rendered DOM (after layout) still holds the chart's bars.
    const dom = spawnSync(chromium!, [...common, '--dump-dom', `file://${file}`], { timeout: 60_000, encoding: 'utf8' });
    expect(dom.stdout).toMatch(/<rect class="bar" data-impl="selfsup"/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('workload loader', () => {
  it('loads every file in the directory and reports broken ones without throwing', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-wl-'));
    const good = `exports.workloads = [{ op: 'noop', name: 'a', shape: { n: 1 }, modes: ['fwd'], flops: () => 1, bytes: () => 4, setup: () => ({ run() {} }) }];`;
    fs.writeFileSync(path.join(dir, 'good.js'), good);
    fs.writeFileSync(path.join(dir, 'broken.js'), 'throw new Error("half-written family");');
    fs.writeFileSync(path.join(dir, 'empty.js'), 'exports.other = 1;');
    fs.writeFileSync(path.join(dir, 'notes.md'), '# ignored');
    const r = await loadWorkloads(dir);
    expect(r.workloads.map((w) => `${w.op}/${w.name}`)).toEqual(['noop/a']);
    expect(r.failures.map((f) => f.file).sort()).toEqual(['broken.js', 'empty.js']);
    expect(r.failures.find((f) => f.file === 'broken.js')!.error).toContain('half-written');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('finds the repository workloads (sgemm at least)', async () => {
    const r = await loadWorkloads();
    expect(r.workloads.some((w) => w.op === 'sgemm' && w.name === '1024^3')).toBe(true);
  });
});

describe('timing statistics', () => {
  it('percentiles interpolate like numpy', () => {
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 0.1)).toBe(2);
    const s = summarize([5, 1, 3]);
    expect([s.p10, s.median, s.p90]).toEqual([1.4, 3, 4.6]);
  });

  it('repeats until both the minimum count and the minimum time, capped by the maximum time', () => {
    const o = { warmup: 0, minRepeats: 5, minSeconds: 1, maxSeconds: 3, floorRepeats: 2 };
    expect(keepGoing(4, 2, o)).toBe(true); // count short
    expect(keepGoing(5, 0.5, o)).toBe(true); // time short
    expect(keepGoing(5, 1, o)).toBe(false);
    expect(keepGoing(3, 3.1, o)).toBe(false); // capped
    expect(keepGoing(1, 10, o)).toBe(true); // below the floor
  });

  it('the roofline picks the binding bound', () => {
    const c = roofline(2e9, 1e6, 0.04, 100, 10); // floor 0.02 s compute
    expect(c.bound).toBe('compute');
    expect(c.percent).toBeCloseTo(50);
    const m = roofline(1e6, 1e9, 0.2, 100, 10); // floor 0.1 s memory
    expect(m.bound).toBe('memory');
    expect(m.percent).toBeCloseTo(50);
  });
});
