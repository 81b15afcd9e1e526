/**
 * A native crash kills the user's whole process, so the export table is fuzzed: every native
 * call of a small all-families workload is replayed with mutated arguments (see
 * fixtures/fuzz-native.js) in a child process, which must exit cleanly. Every export that takes
 * arrays must be reached, so a new binding cannot slip past.
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { nativeAddonPath, tryNative } from '../lib/backends/native';
import { nodeCommand } from './helpers';

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist', 'lib', 'index.js');
const addon = process.env.SELFSUP_BACKEND === 'reference' ? null : tryNative();
const addonPath = nativeAddonPath();

describe.skipIf(!addon || !addonPath || !fs.existsSync(dist))('native export table under mutated arguments', () => {
  it('never crashes: every call returns or throws a JS Error, every promise settles', () => {
    const r = spawnSync(...nodeCommand([path.join(__dirname, 'fixtures', 'fuzz-native.js'), addonPath!, dist, '40']), {
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as { functions: number; names: string[]; calls: number; threw: number; returned: number };
    const skip = new Set(['measurePeakGflops', 'measurePeakGflopsIsa', 'measureBandwidthGBs', 'setNumThreads', 'cudaInfo', 'isa', 'isaVariants', 'numThreads', 'memoryInfo', 'distInit', 'distFinalize']);
    const exported = Object.keys(addon!).filter((k) => typeof addon![k] === 'function' && !skip.has(k));
    expect(exported.filter((k) => !report.names.includes(k))).toEqual([]);
    expect(report.calls).toBeGreaterThan(1000);
    expect(report.threw).toBeGreaterThan(report.calls / 2);
  });
});
