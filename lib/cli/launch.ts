/**
 * `selfsup launch -n N [--hostfile F] script.js [args]`: runs N copies of a node script under the
 * MPI launcher (Open MPI's or MPICH's mpirun), each of which calls distributed.init(). Returns the
 * launcher's exit code. `selfsup train --nproc N` goes through launchArgs() too.
 */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import { UsageError } from './usage-error';

export const LAUNCH_USAGE = `usage: selfsup launch -n N [--hostfile FILE] script.js [args...]

Runs N processes of \`node script.js args...\` under mpirun (Open MPI or MPICH, found on PATH or
at SELFSUP_MPIRUN); each calls init() from 'selfsup/distributed'.

options:
  -n, --nproc N        number of processes (ranks)
  --hostfile FILE      hosts to spread them over (default: this machine)
  -h, --help           this text
`;

export interface LaunchSpec {
  nproc: number;
  hostfile?: string;
  /** The node script and its arguments. */
  command: string[];
}

export function parseLaunchArgs(argv: string[]): LaunchSpec | null {
  let nproc: number | undefined, hostfile: string | undefined;
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') return null;
    if (a === '-n' || a === '--nproc' || a === '--hostfile') {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`Expected a value for ${a} but received nothing`);
      if (a === '--hostfile') hostfile = v;
      else nproc = nprocArg(a, v);
      continue;
    }
    if (a.startsWith('-')) throw new UsageError(`Expected -n, --hostfile or a script for launch option but received "${a}"`);
    break;
  }
  if (nproc === undefined) throw new UsageError('Expected -n N for launch but received nothing');
  if (i >= argv.length) throw new UsageError('Expected a script to launch but received nothing');
  return { nproc, hostfile, command: argv.slice(i) };
}

export function nprocArg(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1) throw new UsageError(`Expected an integer >= 1 for ${flag} but received "${v}"`);
  return n;
}

function mpirunPath(): string {
  return process.env.SELFSUP_MPIRUN || 'mpirun';
}

/** The launcher's command line (mpirun flags differ between Open MPI and MPICH's Hydra). */
export function launchArgs(spec: LaunchSpec): { file: string; args: string[] } {
  const file = mpirunPath();
  const v = spawnSync(file, ['--version'], { encoding: 'utf8' });
  if (v.error) {
    throw new UsageError(`Expected mpirun (Open MPI or MPICH) on PATH for selfsup launch but received none (${(v.error as Error).message}); ` +
      'install openmpi-bin (Debian/Ubuntu) or mpich, or set SELFSUP_MPIRUN to its path');
  }
  const openmpi = /Open MPI|OpenRTE/i.test(`${v.stdout}${v.stderr}`);
  const args = ['-n', String(spec.nproc)];
  if (spec.hostfile) args.push(openmpi ? '--hostfile' : '-f', spec.hostfile);
  // Open MPI: more ranks than cores is an error unless oversubscribed, and its default binds each
  // rank to one core, which would squeeze a rank's kernel thread pool onto that core.
  if (openmpi) {
    if (!spec.hostfile && spec.nproc > os.cpus().length) args.push('--oversubscribe');
    args.push('--bind-to', 'none');
  }
  return { file, args: [...args, process.execPath, ...spec.command] };
}

export function runLaunch(argv: string[]): number {
  const spec = parseLaunchArgs(argv);
  if (spec === null) {
    process.stdout.write(LAUNCH_USAGE);
    return 0;
  }
  return launch(spec);
}

/** Runs the job with inherited stdio; the launcher's exit status (1 when killed by a signal). */
export function launch(spec: LaunchSpec): number {
  const { file, args } = launchArgs(spec);
  const r = spawnSync(file, args, { stdio: 'inherit' });
  if (r.error) throw r.error;
  return r.status ?? 1;
}
