/**
 * PyTorch CPU peer: one python subprocess (bench/peers/torch_runner.py) serves every workload,
 * JSON lines over stdin/stdout. Found with `python3 -c "import torch"` on PATH, then
 * /usr/bin/python3 (Debian's python3-torch); SELFSUP_TORCH_PYTHON names another interpreter.
 * The BLAS threads are pinned to the same count as selfsup's pool (OPENBLAS_NUM_THREADS etc.).
 */
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { packageRoot } from '../../lib/backends/native';
import { summarize, type TimingOptions, type TimingStats } from '../runner';
import type { BenchMode, Workload } from '../types';

export interface TorchInfo {
  python: string;
  pythonVersion: string;
  torch: string;
  threads: number;
  blas: { kind: 'openblas' | 'mkl' | 'blis' | 'reference' | 'unknown'; libraries: string[]; config: string };
  sdpa: boolean;
}

export const TORCH_INSTALL_HINT =
  'torch: not found (no python3 that can `import torch`); install it with `sudo apt install python3-torch libopenblas0-pthread` ' +
  '(Debian/Ubuntu) or `pip install torch --index-url https://download.pytorch.org/whl/cpu`, or set SELFSUP_TORCH_PYTHON';

/** The first interpreter that can import torch, or undefined. */
export function findTorchPython(): string | undefined {
  const cands = [process.env.SELFSUP_TORCH_PYTHON, 'python3', '/usr/bin/python3'].filter((c): c is string => !!c);
  const tried = new Set<string>();
  for (const c of cands) {
    if (tried.has(c)) continue;
    tried.add(c);
    const r = spawnSync(c, ['-c', 'import torch'], { stdio: 'ignore', timeout: 120_000 });
    if (r.status === 0) return c;
  }
  return undefined;
}

function runnerPath(): string {
  const cands = [path.join(__dirname, 'torch_runner.py'), path.join(packageRoot(), 'bench', 'peers', 'torch_runner.py')];
  for (const c of cands) if (fs.existsSync(c)) return c;
  throw new Error(`torch_runner.py not found (looked in ${cands.join(', ')})`);
}

interface Pending {
  resolve(v: Record<string, unknown>): void;
  reject(e: Error): void;
}

export class TorchPeer {
  info!: TorchInfo;
  private child: ChildProcessWithoutNullStreams;
  private buf = '';
  private stderr = '';
  private pending: Pending[] = [];
  private dead?: Error;
  private closed = false;

  private constructor(python: string, threads: number) {
    const t = String(threads);
    this.child = spawn(python, ['-u', runnerPath()], {
      env: { ...process.env, OPENBLAS_NUM_THREADS: t, OMP_NUM_THREADS: t, MKL_NUM_THREADS: t, PYTHONUNBUFFERED: '1' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    // A write to a python that already exited must not become an uncaught stream error.
    this.child.stdin.on('error', () => undefined);
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (d: string) => {
      this.buf += d;
      let i: number;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const p = this.pending.shift();
        if (!p) continue;
        try {
          p.resolve(JSON.parse(line) as Record<string, unknown>);
        } catch {
          p.reject(new Error(`torch peer: bad reply ${JSON.stringify(line.slice(0, 200))}`));
        }
      }
    });
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (d: string) => {
      this.stderr = (this.stderr + d).slice(-4000);
    });
    const fail = (why: string): void => {
      this.dead = new Error(`torch peer: ${why}${this.stderr ? `; stderr: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
      for (const p of this.pending.splice(0)) p.reject(this.dead);
    };
    this.child.on('error', (e) => fail(e.message));
    this.child.on('exit', (code, sig) => fail(`python exited (${sig ?? code})`));
    // Do not keep node alive for the child alone.
    this.child.unref();
    (this.child.stdout as unknown as { unref?: () => void }).unref?.();
    (this.child.stderr as unknown as { unref?: () => void }).unref?.();
    (this.child.stdin as unknown as { unref?: () => void }).unref?.();
  }

  /** Starts the peer (imports torch, pins threads, detects the BLAS); undefined + a message when absent. */
  static async start(threads: number, python = findTorchPython()): Promise<{ peer?: TorchPeer; message?: string }> {
    if (!python) return { message: TORCH_INSTALL_HINT };
    const peer = new TorchPeer(python, threads);
    try {
      const r = await peer.request({ cmd: 'hello', threads }, 180_000);
      if (!r.ok) throw new Error(String(r.error));
      peer.info = {
        python: String(r.executable ?? python),
        pythonVersion: String(r.python),
        torch: String(r.torch),
        threads: Number(r.threads),
        blas: r.blas as TorchInfo['blas'],
        sdpa: Boolean(r.sdpa),
      };
      return { peer };
    } catch (e) {
      peer.close();
      return { message: `torch: failed to start (${(e as Error).message})` };
    }
  }

  private request(msg: Record<string, unknown>, timeoutMs: number): Promise<Record<string, unknown>> {
    if (this.dead) return Promise.reject(this.dead);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`torch peer: no answer in ${timeoutMs / 1000} s`));
        this.close();
      }, timeoutMs);
      this.pending.push({
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.stdin.write(JSON.stringify(msg) + '\n');
    });
  }

  /** Times the workload's PyTorch composition in this mode; throws when the python side fails. */
  /** On 'cuda' the runner builds and runs the composition on the GPU, synchronizing after each run. */
  async run(w: Workload, mode: BenchMode, dtype: string, o: TimingOptions, device: 'cpu' | 'cuda' = 'cpu'): Promise<TimingStats> {
    if (!w.torch) throw new Error('no torch peer defined for this workload');
    const r = await this.request(
      {
        cmd: 'run', name: `${w.op}/${w.name}`, source: w.torch, shape: w.shape, dtype, mode, device,
        warmup: o.warmup, minRepeats: o.minRepeats, minSeconds: o.minSeconds, maxSeconds: o.maxSeconds, floorRepeats: o.floorRepeats,
      },
      // Generous: torch with the reference BLAS can be 40x slower than selfsup.
      Math.min(3_600_000, Math.max(120_000, o.maxSeconds * 20_000)),
    );
    if (!r.ok) throw new Error(String(r.error));
    return summarize(r.samples as number[]);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.child.exitCode === null && !this.child.killed) {
      try {
        this.child.stdin.end(JSON.stringify({ cmd: 'quit' }) + '\n');
      } catch {
        /* already gone */
      }
      const pid = this.child.pid;
      setTimeout(() => {
        if (this.child.exitCode === null && pid) this.child.kill('SIGKILL');
      }, 2000).unref();
    }
  }
}

/** One line for the header, plus a warning when the BLAS is the reference implementation. */
export function describeTorch(i: TorchInfo): { line: string; warning?: string } {
  const libs = i.blas.libraries.length ? i.blas.libraries.join(', ') : 'no BLAS library mapped';
  const line = `torch:      ${i.torch} (python ${i.pythonVersion}, ${i.python}), ${i.threads} threads, BLAS ${i.blas.kind} (${libs})` +
    (i.sdpa ? ', F.scaled_dot_product_attention' : '');
  const warning = i.blas.kind === 'reference'
    ? 'warning: this torch uses the reference BLAS (netlib libblas), ~40x slower than with OpenBLAS; ' +
      'install libopenblas0-pthread (`sudo apt install libopenblas0-pthread`) for a fair peer'
    : undefined;
  return { line, warning };
}
