/**
 * The workload table: every file in bench/workloads/ (`*.ts` when run from source, `*.js` in
 * dist/) that exports `workloads: Workload[]`. Read from the directory at run time, so an op family
 * adds its benchmarks by adding one file and nothing else.
 *
 * A file that fails to load (a family still being written, a missing addon function) does not take
 * the CLI down: it is reported in `failures` and the rest runs.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BenchMode, Workload } from './types';

export interface LoadedWorkloads {
  workloads: Workload[];
  /** Files that could not be loaded or exported no valid table, with the reason. */
  failures: Array<{ file: string; error: string }>;
}

const MODES: readonly BenchMode[] = ['fwd', 'fwd+bwd'];

/** File names of the workload modules in `dir`, one per family (a .ts source wins over a stale .js). */
export function workloadFiles(dir = path.join(__dirname, 'workloads')): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return [];
  }
  const byStem = new Map<string, string>();
  for (const n of names.sort()) {
    if (n.endsWith('.d.ts') || n.startsWith('.') || n.startsWith('_')) continue;
    const m = /^(.*)\.(ts|js)$/.exec(n);
    if (!m) continue;
    const prev = byStem.get(m[1]);
    if (!prev || (m[2] === 'ts' && prev.endsWith('.js'))) byStem.set(m[1], n);
  }
  return [...byStem.values()].map((n) => path.join(dir, n));
}

function validWorkload(w: unknown): string | undefined {
  const o = w as Partial<Workload>;
  if (!o || typeof o !== 'object') return 'not an object';
  if (typeof o.op !== 'string' || !o.op) return 'missing op';
  if (typeof o.name !== 'string' || !o.name) return 'missing name';
  if (!Array.isArray(o.modes) || !o.modes.length || o.modes.some((m) => !MODES.includes(m))) return `bad modes for ${o.op}/${o.name}`;
  if (typeof o.flops !== 'function' || typeof o.bytes !== 'function' || typeof o.setup !== 'function') return `missing flops/bytes/setup for ${o.op}/${o.name}`;
  return undefined;
}

/** Loads every workload table (sorted by file, then in each file's order). */
export async function loadWorkloads(dir?: string): Promise<LoadedWorkloads> {
  const out: LoadedWorkloads = { workloads: [], failures: [] };
  const seen = new Set<string>();
  for (const file of workloadFiles(dir)) {
    const rel = path.basename(file);
    try {
      const mod = (await import(file)) as { workloads?: unknown; default?: { workloads?: unknown } };
      const table = mod.workloads ?? mod.default?.workloads;
      if (!Array.isArray(table)) {
        out.failures.push({ file: rel, error: 'exports no `workloads` array' });
        continue;
      }
      for (const w of table) {
        const bad = validWorkload(w);
        if (bad) {
          out.failures.push({ file: rel, error: bad });
          continue;
        }
        const key = `${(w as Workload).op}/${(w as Workload).name}`;
        if (seen.has(key)) {
          out.failures.push({ file: rel, error: `duplicate workload ${key}` });
          continue;
        }
        seen.add(key);
        out.workloads.push(w as Workload);
      }
    } catch (e) {
      out.failures.push({ file: rel, error: firstLine((e as Error)?.message ?? String(e)) });
    }
  }
  return out;
}

function firstLine(s: string): string {
  const l = s.split('\n')[0];
  return l.length > 200 ? l.slice(0, 200) + '…' : l;
}
