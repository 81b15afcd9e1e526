/** `selfsup <command>`: info | bench | train | report | launch. Returns the process exit code. */
import '../tensor-methods'; // the op methods of Tensor, used by the bench workloads
import { info, probeMachine } from '../info';
import { UsageError } from './usage-error';

const USAGE = `usage: selfsup <command> [options]

commands:
  info                 version, addon, ISA variant, threads, CUDA, measured peak GFLOP/s and bandwidth
  bench [ops...]       microbenchmarks of the fused kernels (see \`selfsup bench --help\`)
  train                train and evaluate a self-supervised model (see \`selfsup train --help\`)
  report <run-dir>     (re)write a training run's report.html from its log.jsonl
  launch -n N script   run N processes of a script under mpirun (see \`selfsup launch --help\`)
  help                 this text
`;

export { UsageError };

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'info':
        return runInfo(rest);
      case 'bench': {
        const bench = await import('./bench');
        return await bench.runBench(rest);
      }
      case 'train': {
        const t = await import('./train');
        return await t.runTrain(rest);
      }
      case 'report': {
        const r = await import('./report');
        return r.runReport(rest);
      }
      case 'launch': {
        const l = await import('./launch');
        return l.runLaunch(rest);
      }
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`Expected one of info | bench | train | report | launch | help for command but received "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError || (e as { name?: string }).name === 'UsageError') {
      process.stderr.write(`selfsup: ${(e as Error).message}\n\n${USAGE}`);
      return 2;
    }
    throw e;
  }
}

function runInfo(args: string[]): number {
  const json = args.includes('--json');
  for (const a of args) if (a !== '--json') throw new UsageError(`Expected --json or nothing for info option but received "${a}"`);
  const i = info();
  const probe = probeMachine();
  if (json) {
    process.stdout.write(JSON.stringify({ ...i, probe }, null, 2) + '\n');
    return 0;
  }
  const lines = [
    `selfsup ${i.version} (node ${i.node})`,
    `backend:    ${i.backend}${i.loadError ? ` (native addon not loaded: ${i.loadError})` : ''}`,
    `addon:      ${i.addonPath ?? '-'}`,
    `cpu:        ${i.cpuModel} (${i.cores} logical cores)`,
    `isa:        ${i.isa ?? '-'}${isaNote(i)}`,
    ...(probe.peaks ?? []).map(
      (p) => `  ${(p.isa + (p.isa === i.isa ? ' *' : '')).padEnd(10)}${fmt(p.gflops)} GFLOP/s FMA (measured, ${probe.threads} threads)`,
    ),
    `threads:    ${i.threads}`,
    `peak:       ${fmt(probe.peakGflops)} GFLOP/s FMA (measured, ${probe.threads} threads${probe.peaks ? ', best variant' : ''})`,
    `bandwidth:  ${fmt(probe.bandwidthGBs)} GB/s triad (measured, ${probe.threads} threads)`,
    `cuda:       ${i.cuda.built ? 'built' : 'not built'}; ${i.cuda.devices.length ? i.cuda.devices.map((d) => `${d.name} (sm_${d.computeCapability.replace('.', '')}, ${(d.memoryBytes / 2 ** 30).toFixed(1)} GiB)`).join(', ') : i.cuda.error ?? 'no CUDA device'}`,
    ...(i.cudaNote ? [`cuda note:  ${i.cudaNote}`] : []),
  ];
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}

// "(default on this CPU)" or "(SELFSUP_ISA; default avx2)", then the supported variants.
function isaNote(i: ReturnType<typeof info>): string {
  const v = i.isaVariants;
  if (!v) return '';
  const def = v.find((x) => x.default)?.name;
  const how = i.isa === def ? 'default on this CPU' : `forced by SELFSUP_ISA; default ${def}`;
  return ` (${how}); supported: ${v.filter((x) => x.supported).map((x) => x.name).join(', ')}; FMA peak per variant (* = running):`;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(1) : 'n/a';
}
