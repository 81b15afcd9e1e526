/**
 * selfsup/distributed under real MPI: test/fixtures/distributed-check.js runs under `mpirun -n 2`
 * and `-n 3` (one process per rank, oversubscribed on small machines) and prints one JSON line
 * per case and rank. Skipped, with the reason, when mpirun is not installed.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { nativeAddonPath, tryNative } from '../lib/backends/native';
import * as dist from '../lib/distributed';
import { randn } from '../lib/index';

const root = path.resolve(__dirname, '..');
const distLib = path.join(root, 'dist', 'lib');
const fixture = path.join(__dirname, 'fixtures', 'distributed-check.js');
const mpirun = spawnSync('sh', ['-c', 'command -v mpirun'], { encoding: 'utf8' }).stdout.trim();
const addon = process.env.SELFSUP_BACKEND === 'reference' ? null : tryNative();
const ready = !!mpirun && !!addon && fs.existsSync(path.join(distLib, 'distributed', 'index.js'));
if (!ready) {
  console.warn(`distributed tests skipped: ${!mpirun ? 'mpirun not found (apt-get install openmpi-bin libopenmpi-dev)' : !addon ? 'no native addon' : 'dist/ not built (npx tsc)'}`);
}

interface Line { case: string; rank: number; size: number; errs?: Record<string, number>; res?: Record<string, { err: number; buckets: number; launched: number }>; msgs?: string[] }

function launch(n: number, args: string[], env: Record<string, string> = {}, timeout = 60_000) {
  const started = Date.now();
  const r = spawnSync(mpirun, ['-n', String(n), '--oversubscribe', '--mca', 'mpi_yield_when_idle', '1', process.execPath, fixture, distLib, ...args], {
    encoding: 'utf8',
    timeout,
    env: {
      ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1',
      SELFSUP_ADDON: nativeAddonPath() ?? '', SELFSUP_NUM_THREADS: '1', ...env,
    },
  });
  const lines: Line[] = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
  return { ...r, lines, seconds: (Date.now() - started) / 1000 };
}

for (const n of [2, 3]) {
  describe.skipIf(!ready)(`distributed over MPI, ${n} ranks`, () => {
    let lines: Line[] = [];
    beforeAll(() => {
      const r = launch(n, []);
      expect(r.status, r.stderr).toBe(0);
      lines = r.lines;
      expect(lines.length).toBe(4 * n);
    }, 90_000);
    const of = (name: string) => lines.filter((l) => l.case === name);

    it('every collective gives the expected values (float32, float64, int32; sync and async)', () => {
      for (const c of ['values', 'valuesAsync']) {
        const per = of(c);
        expect(per.map((l) => l.rank).sort()).toEqual([...Array(n).keys()]);
        for (const l of per) {
          expect(l.size).toBe(n);
          expect(Object.keys(l.errs!).length).toBeGreaterThanOrEqual(4);
          for (const [k, e] of Object.entries(l.errs!)) expect(e, `${k} on rank ${l.rank}`).toBe(0);
        }
      }
    });

    it('every collective has the torch.distributed.nn backward (analytic gradients)', () => {
      for (const l of of('backward')) {
        expect(Object.keys(l.errs!).sort()).toEqual(['allGather', 'allReduce avg', 'allReduce sum', 'broadcast', 'reduceScatter']);
        for (const [k, e] of Object.entries(l.errs!)) expect(e, `${k} on rank ${l.rank}`).toBeLessThan(1e-14);
      }
    });

    it('DDP gradients equal one process on the concatenated batch (MLP, SimCLR, VICReg, Barlow, MSN, PMSN)', () => {
      for (const l of of('gradients')) {
        const names = Object.keys(l.res!);
        expect(names.length).toBe(16);
        for (const [k, { err, buckets, launched }] of Object.entries(l.res!)) {
          if (k.startsWith('control')) {
            // Local negatives only: the check must see the difference.
            expect(err, `${k} on rank ${l.rank}`).toBeGreaterThan(1e-3);
            continue;
          }
          expect(buckets).toBeGreaterThan(1); // tiny buckets: several all-reduces in flight
          expect(launched).toBe(buckets); // every one started from the hooks, inside backward()
          expect(err, `${k} on rank ${l.rank}`).toBeLessThan(k.endsWith('float64') ? 1e-12 : 1e-5);
        }
      }
    });
  });
}

describe.skipIf(!ready)('distributed failures', () => {
  it('a rank killed mid-run ends the job with a clear error, no hang', () => {
    const r = launch(2, ['kill'], { SELFSUP_DIST_TIMEOUT: '5' }, 30_000);
    expect(r.signal).toBeNull(); // not the test's timeout
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/rank 1 .*exited on signal 9|did not complete within/);
    expect(r.seconds).toBeLessThan(20);
  });

  it('a rank that stops calling collectives: the watchdog ends the others after SELFSUP_DIST_TIMEOUT', () => {
    const r = launch(2, ['stall'], { SELFSUP_DIST_TIMEOUT: '1.5' }, 30_000);
    expect(r.signal).toBeNull();
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/rank 0 of 2: allReduce of 8 float32 did not complete within 1\.5 s/);
    expect(r.seconds).toBeLessThan(20);
  });

  it('bad arguments give errors in the package grammar on every rank', () => {
    const r = launch(2, ['errors']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.lines.length).toBe(2);
    for (const l of r.lines) {
      expect(l.msgs).toEqual([
        'TypeError: Expected a float32 or float64 or int32 Tensor for allReduce(tensor) but received a bool Tensor of shape [2]',
        "TypeError: Expected 'sum', 'avg', 'max' or 'min' for allReduce(options.op) but received \"prod\"",
        'SelfsupError: Expected a first dimension divisible by the world size 2 for reduceScatter(tensor) but received [3, 2]',
        'RangeError: Expected a rank in [0, 1] for broadcast(src) but received 2',
        "SelfsupError: Expected op 'sum' or 'avg' on a tensor that requires grad (max and min have no backward here) for allReduce(options.op) but received 'max'",
        'RangeError: Expected an array of length 4 for allGather(output) but received length 5',
        'SelfsupError: Expected a live (not detached) Float32Array for allReduce(tensor) but received a detached buffer (released by dispose() or tidy(), or transferred)',
      ]);
    }
  });
});

const bin = path.join(root, 'bin', 'selfsup.js');
const cliEnv = { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1', SELFSUP_ADDON: nativeAddonPath() ?? '' };

describe.skipIf(!ready)('selfsup launch and train --nproc', () => {
  it('launch -n 3 runs the script on three ranks', () => {
    const r = spawnSync(process.execPath, [bin, 'launch', '-n', '3', fixture, distLib, 'backward'], { encoding: 'utf8', env: cliEnv, timeout: 60_000 });
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);
    expect(lines.map((l) => l.rank).sort()).toEqual([0, 1, 2]);
    expect(lines.every((l) => l.size === 3)).toBe(true);
  });

  it('train --nproc 2: rank 0 alone reports, logs and checkpoints', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-ddp-'));
    const r = spawnSync(process.execPath, [bin, 'train', '--recipe', 'simclr', '--data', 'synthetic:size=16,bank=50,test=20', '--steps', '2', '--batch', '8',
      '--eval', 'none', '--json', '--nproc', '2', '--out', out], { encoding: 'utf8', env: cliEnv, timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    const json = r.stdout.trim().split('\n').filter((l) => l.startsWith('{'));
    expect(json.length).toBe(1);
    expect(JSON.parse(json[0])).toMatchObject({ recipe: 'simclr', steps: 2, out });
    const steps = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.type === 'step');
    expect(steps.map((e) => e.step)).toEqual([1, 2]);
    expect(fs.existsSync(path.join(out, 'checkpoint.safetensors'))).toBe(true);
  });
});

describe('selfsup launch without mpirun', () => {
  it('exits 2 with a clear error', () => {
    const r = spawnSync(process.execPath, [bin, 'launch', '-n', '2', 'x.js'], { encoding: 'utf8', env: { ...cliEnv, SELFSUP_MPIRUN: '/nonexistent/mpirun' } });
    if (!fs.existsSync(path.join(distLib, 'cli', 'launch.js'))) return;
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^selfsup: Expected mpirun \(Open MPI or MPICH\) on PATH for selfsup launch but received none/);
  });
});

describe('distributed without a launcher', () => {
  it('a missing MPI library is a clear init() error naming what was searched', () => {
    const r = spawnSync(process.execPath, ['-e', `
      const d = require(${JSON.stringify(path.join(distLib, 'distributed', 'index.js'))});
      try { d.init({ backend: 'mpi', library: '/nonexistent/libmpi.so' }); console.log('no error'); }
      catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })); }`], { encoding: 'utf8', env: { ...process.env, SELFSUP_ADDON: nativeAddonPath() ?? '' } });
    if (!addon || !fs.existsSync(path.join(distLib, 'distributed', 'index.js'))) return;
    const e = JSON.parse(r.stdout.trim());
    expect(e.code).toBe('ERR_UNSUPPORTED');
    expect(e.message).toMatch(/^Expected an MPI library \(Open MPI or MPICH\) for distributed.init\(\) but received none loadable; searched \/nonexistent\/libmpi.so/);
  });

  it("backend 'nccl' on a CPU-only addon is a clear init() error", () => {
    if (!addon || addon.cudaInfo().built || !fs.existsSync(path.join(distLib, 'distributed', 'index.js'))) return;
    const r = spawnSync(process.execPath, ['-e', `
      const d = require(${JSON.stringify(path.join(distLib, 'distributed', 'index.js'))});
      try { d.init({ backend: 'nccl' }); console.log('no error'); }
      catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })); }`], { encoding: 'utf8', env: { ...process.env, SELFSUP_ADDON: nativeAddonPath() ?? '' } });
    const e = JSON.parse(r.stdout.trim());
    expect(e.code).toBe('ERR_UNSUPPORTED');
    expect(e.message).toMatch(/^Expected a CUDA build of selfsup for init\(\{ backend: 'nccl' \}\) but received a CPU-only addon/);
  });

  it("the 'selfsup/distributed' subpath resolves from CommonJS and ES modules", () => {
    if (!fs.existsSync(path.join(root, 'dist', 'esm', 'distributed.mjs'))) return;
    const cjs = spawnSync(process.execPath, ['-e', "console.log(typeof require('selfsup/distributed').DistributedDataParallel)"], { cwd: root, encoding: 'utf8' });
    expect(cjs.stdout.trim(), cjs.stderr).toBe('function');
    const esm = spawnSync(process.execPath, ['--input-type=module', '-e', "import { init, allGather } from 'selfsup/distributed'; console.log(typeof allGather, init().worldSize)"],
      { cwd: root, encoding: 'utf8', env: { ...process.env, SELFSUP_ADDON: nativeAddonPath() ?? '' } });
    expect(esm.stdout.trim(), esm.stderr).toBe('function 1');
  });

  it('one process is a world of one: collectives are identities, DDP needs no MPI', async () => {
    const w = dist.init();
    expect(w).toMatchObject({ rank: 0, worldSize: 1, backend: 'single' });
    expect(dist.rank()).toBe(0);
    expect(dist.worldSize()).toBe(1);
    const x = randn([3, 2], { seed: 1, requiresGrad: true });
    const g = dist.allGather(x);
    expect(Array.from(g.data)).toEqual(Array.from(x.data));
    g.mul(2).sum().backward();
    expect(Array.from(x.grad!.data)).toEqual([2, 2, 2, 2, 2, 2]);
    const y = await dist.allReduceAsync(randn([4], { seed: 2 }), { op: 'avg' });
    expect(Array.from(y.data)).toEqual(Array.from(randn([4], { seed: 2 }).data));
  });
});
