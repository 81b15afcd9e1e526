/**
 * ISA variants: SELFSUP_ISA forces one; a variant this CPU cannot run must fail in the error
 * grammar at load (never SIGILL, never a silent fallback). The CPU's support is simulated with
 * the test hook SELFSUP_ISA_HIDE=<variant>[,<variant>] (native/cpu/cpuid.cc: those variants are
 * treated as absent), so the failure is exercised on every machine, AVX-512 ones included. The
 * choice is made once per process, hence the child processes.
 */
import { describe, expect, it } from 'vitest';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { nativeAddonPath, tryNative } from '../lib/backends/native';
import { info, probeMachine } from '../lib/info';
import { nodeCommand } from './helpers';

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist', 'lib', 'index.js');
const addon = process.env.SELFSUP_BACKEND === 'reference' ? null : tryNative();
const addonPath = nativeAddonPath();

function child(code: string, env: Record<string, string>) {
  const e: Record<string, string | undefined> = { ...process.env };
  delete e.SELFSUP_BACKEND;
  delete e.SELFSUP_ISA;
  delete e.SELFSUP_ISA_HIDE;
  Object.assign(e, env);
  return spawnSync(...nodeCommand(['-e', code]), { encoding: 'utf8', env: e as NodeJS.ProcessEnv, timeout: 60_000 });
}

/** The variants this architecture's build has, widest first (docs/developing.md, ISA variants). */
const VARIANTS = process.arch === 'arm64' ? ['neon', 'generic'] : ['avx512', 'avx2', 'generic'];
const WIDEST = VARIANTS[0];
const SIMD = VARIANTS.slice(0, -1); // every variant but generic
const HIDE_ALL = SIMD.join(',');

const loadAddon = (p: string) =>
  `try { const a = require(${JSON.stringify(p)}); console.log(JSON.stringify({ isa: a.isa(), variants: a.isaVariants() })); }` +
  ` catch (e) { console.log(JSON.stringify({ error: e.message, code: e.code })); }`;

describe.skipIf(!addon || !addonPath)('ISA variants', () => {
  it('lists generic as supported and exactly one active variant', () => {
    const v = addon!.isaVariants!();
    expect(v.map((x) => x.name)).toEqual(VARIANTS);
    expect(v.find((x) => x.name === 'generic')!.supported).toBe(true);
    expect(v.filter((x) => x.active).map((x) => x.name)).toEqual([addon!.isa()]);
    expect(v.filter((x) => x.default)).toHaveLength(1);
  });

  it('info() lists the variants and probeMachine() measures each supported one (peak = the best)', () => {
    const i = info();
    expect(i.isaVariants?.find((x) => x.active)?.name).toBe(i.isa);
    const p = probeMachine(1);
    const supported = i.isaVariants!.filter((x) => x.supported).map((x) => x.name);
    expect(p.peaks!.map((x) => x.isa)).toEqual(supported);
    for (const x of p.peaks!) expect(x.gflops).toBeGreaterThan(0);
    expect(p.peakGflops).toBe(Math.max(...p.peaks!.map((x) => x.gflops)));
  });

  it('SELFSUP_ISA selects each supported variant', () => {
    for (const x of addon!.isaVariants!().filter((y) => y.supported)) {
      const r = child(loadAddon(addonPath!), { SELFSUP_ISA: x.name });
      expect(r.signal, r.stderr).toBeNull();
      expect(JSON.parse(r.stdout.trim()).isa).toBe(x.name);
    }
  });

  it('forcing a variant the CPU lacks fails at load in the error grammar, not with SIGILL', () => {
    const r = child(loadAddon(addonPath!), { SELFSUP_ISA: WIDEST, SELFSUP_ISA_HIDE: HIDE_ALL });
    expect(r.signal, r.stderr).toBeNull();
    const out = JSON.parse(r.stdout.trim());
    expect(out.code).toBe('ERR_UNSUPPORTED');
    expect(out.error).toMatch(
      new RegExp(`^Expected one of the supported ISA variants \\(generic\\) for SELFSUP_ISA but received '${WIDEST}', which this CPU \\(or its OS\\) does not support`),
    );
    // Hiding only the widest: the default falls back to the next one (avx2 where the CPU has it).
    const r2 = child(loadAddon(addonPath!), { SELFSUP_ISA_HIDE: WIDEST });
    const out2 = JSON.parse(r2.stdout.trim());
    expect(out2.variants.find((x: { name: string }) => x.name === WIDEST).supported).toBe(false);
    expect(VARIANTS.slice(1)).toContain(out2.isa);
  });

  it('an unknown SELFSUP_ISA value fails in the error grammar', () => {
    const r = child(loadAddon(addonPath!), { SELFSUP_ISA: 'sse9' });
    const out = JSON.parse(r.stdout.trim());
    expect(out.error).toMatch(/^Expected one of the supported ISA variants \(.*generic\) for SELFSUP_ISA but received 'sse9', which is not an ISA variant/);
  });

  it.skipIf(!fs.existsSync(dist))('through the package: a SelfsupError on use, no fallback to the reference kernels', () => {
    const code =
      `const s = require(${JSON.stringify(dist)});` +
      `try { s.F.gelu(s.tensor([1, 2, 3])); console.log(JSON.stringify({ ok: true })); }` +
      ` catch (e) { console.log(JSON.stringify({ name: e.name, code: e.code, error: e.message })); }`;
    const forced = SIMD[SIMD.length - 1]; // avx2 on x86-64, neon on arm64
    const r = child(code, { SELFSUP_ISA: forced, SELFSUP_ISA_HIDE: HIDE_ALL, SELFSUP_ADDON: addonPath! });
    expect(r.signal, r.stderr).toBeNull();
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(out.name).toBe('SelfsupError');
    expect(out.code).toBe('ERR_UNSUPPORTED');
    expect(out.error).toMatch(new RegExp(`^Expected one of the supported ISA variants \\(generic\\) for SELFSUP_ISA but received '${forced}'`));
  });
});
