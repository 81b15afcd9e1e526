/** `selfsup report <run-dir>`: (re)writes the run's report.html from its log.jsonl. */
import { writeReport } from '../train/report';
import { UsageError } from './usage-error';

export const REPORT_USAGE = `usage: selfsup report <run-dir> [--out FILE]

Writes <run-dir>/report.html (or FILE) from <run-dir>/log.jsonl, as \`selfsup train --out\` does at
the end of a run; a killed run's report shows the steps it logged.
`;

export function runReport(argv: string[]): number {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(REPORT_USAGE);
    return 0;
  }
  let dir: string | undefined, out: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--out' || a.startsWith('--out=')) {
      out = a === '--out' ? argv[++i] : a.slice('--out='.length);
      if (!out) throw new UsageError('Expected a file name for --out but received nothing');
    } else if (a.startsWith('-')) {
      throw new UsageError(`Expected --out or a run directory for report option but received "${a}"`);
    } else if (dir === undefined) {
      dir = a;
    } else {
      throw new UsageError(`Expected one run directory for report but received a second, "${a}"`);
    }
  }
  if (dir === undefined) throw new UsageError('Expected a run directory for report but received nothing');
  try {
    process.stdout.write(`${writeReport(dir, out)}\n`);
    return 0;
  } catch (e) {
    const err = e as Error & { code?: string };
    if (err.code !== 'ERR_INVALID_ARGUMENT' && !/^E[A-Z]+$/.test(err.code ?? '')) throw e;
    // A bad directory or log (ours), or a file system error writing the report (ENOENT, EACCES...).
    process.stderr.write(`selfsup report: ${err.message}\n`);
    return 2;
  }
}
