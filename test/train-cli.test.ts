// `selfsup train`: the --json contract (the last stdout line is one JSON object), the run
// directory, the progress line on stderr, and usage errors (exit 2, the flag or argument named).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { runCli } from './helpers';

const run = (args: string[]) => runCli('train', args);

const SMALL = ['--data', 'synthetic:size=16,bank=100,test=50', '--steps', '3', '--batch', '8', '--seed', '1'];

describe('selfsup train', () => {
  it('--json prints one JSON object last, with the contract fields; --out holds the run', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'selfsup-cli-'));
    const r = await run(['--recipe', 'simclr', ...SMALL, '--json', '--out', out, '--eval', 'knn,rankme']);
    expect(r.code).toBe(0);
    const last = JSON.parse(r.out.trim().split('\n').at(-1)!);
    for (const k of ['recipe', 'steps', 'seconds', 'finalLoss', 'knnTop1', 'linearTop1', 'rankme']) expect(last).toHaveProperty(k);
    expect(last.recipe).toBe('simclr');
    expect(last.steps).toBe(3);
    expect(last.knnTop1).toBeGreaterThanOrEqual(0);
    expect(last.knnTop1).toBeLessThanOrEqual(1);
    expect(last.linearTop1).toBeNull(); // not asked for
    expect(r.err).toMatch(/step 3\/3 .* step\/s .*ETA .*loss \d/);
    const log = fs.readFileSync(path.join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(log.map((e) => e.type)).toEqual(['config', 'step', 'step', 'step', 'result']);
    expect(fs.existsSync(path.join(out, 'checkpoint.safetensors'))).toBe(true);
    // --resume of a finished run runs no step and evaluates the same checkpoint again.
    const again = await run(['--recipe', 'simclr', ...SMALL, '--json', '--resume', out, '--eval', 'knn']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.out.trim().split('\n').at(-1)!).knnTop1).toBe(last.knnTop1);
  });

  const cases: Array<[string[], RegExp]> = [
    [['--recipe', 'simclrr', ...SMALL], /one of simclr, .* for --recipe but received "simclrr"/],
    [['--recipe', 'simclr', ...SMALL, '--epochs', '3'], /for train option but received "--epochs"/],
    [['--recipe', 'simclr', '--steps', '0', '--batch', '8'], /integer >= 1 for --steps but received "0"/],
    [['--recipe', 'simclr', '--steps', '2'], /Expected --batch for train but received nothing/],
    [['--recipe', 'simclr', ...SMALL, '--eval', 'knn,top5'], /for --eval but received "top5"/],
    [['--recipe', 'simclr', ...SMALL, '--data', '/nonexistent/images'], /per class .* for data but received "\/nonexistent\/images" \(no such file/],
    [['--recipe', 'simclr', ...SMALL, '--out', '/proc/version/run'], /writable directory for out but received "\/proc\/version\/run"/],
    [['--recipe', 'simclr', ...SMALL, '--resume', os.tmpdir()], /checkpoint.safetensors for resume/],
  ];
  for (const [args, msg] of cases) {
    it(`exit 2 and a one-line error for ${args.filter((a) => a.startsWith('--')).slice(-1)[0]} ${msg.source.slice(0, 30)}`, async () => {
      const r = await run(args);
      expect(r.code).toBe(2);
      expect(r.err).toMatch(msg);
      expect(r.err).not.toMatch(/\n\s+at /); // no stack trace
    });
  }

  it('--help lists every recipe', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const name of ['simclr', 'vicreg', 'barlowtwins', 'swav', 'msn', 'pmsn', 'ijepa', 'mae']) expect(r.out).toContain(name);
  });
});
