/**
 * Loads the native addon. The CUDA build (SELFSUP_ADDON, or build-cuda/Release/selfsup.node in a
 * source checkout) is used when it loads and reports a device; otherwise the CPU build from
 * node-gyp-build (prebuilds/ first, then build/Release), with one line on stderr saying why the
 * CUDA build was passed over (docs/cuda.md). An explicit SELFSUP_ADDON is always used: a CUDA build
 * without a device runs every kernel on the CPU (the same line says so).
 * SELFSUP_BACKEND=reference forces the pure-TS float64 reference kernels instead.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SelfsupError } from '../errors';
import type { NativeAddon } from './native-api';

export type { NativeAddon } from './native-api';
let cached: NativeAddon | null | undefined;
let isaError: SelfsupError | undefined;
let loadError: string | undefined;
let addonPath: string | undefined;
let cudaNote: string | undefined;

/** A CUDA build's device report; null when `a` is a CPU build. */
function cudaReport(a: NativeAddon): { ok: boolean; reason: string } | null {
  if (typeof (a as unknown as { cudaAlloc?: unknown }).cudaAlloc !== 'function') return null;
  try {
    const c = a.cudaInfo();
    return c.devices.length ? { ok: true, reason: '' } : { ok: false, reason: c.error ?? 'no CUDA device' };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

function noteCuda(note: string): void {
  cudaNote = note;
  process.stderr.write(`selfsup: ${note}\n`);
}

/** The package root: the nearest directory above this file holding selfsup's package.json
 * (lib/backends when run from source, dist/lib/backends when compiled). */
export function packageRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    const pj = path.join(dir, 'package.json');
    try {
      if (fs.existsSync(pj) && JSON.parse(fs.readFileSync(pj, 'utf8')).name === 'selfsup') return dir;
    } catch {
      /* keep walking */
    }
    dir = path.dirname(dir);
  }
  return path.resolve(__dirname, '..', '..');
}

export function backendName(): 'native' | 'reference' {
  if (process.env.SELFSUP_BACKEND === 'reference') return 'reference';
  return tryNative() ? 'native' : 'reference';
}

/** The addon, or null when it cannot be loaded (the reason is in nativeLoadError()). */
export function tryNative(): NativeAddon | null {
  if (isaError) throw isaError;
  if (cached !== undefined) return cached;
  if (process.env.SELFSUP_BACKEND === 'reference') {
    cached = null;
    loadError = 'SELFSUP_BACKEND=reference is set';
    return cached;
  }
  try {
    const explicit = process.env.SELFSUP_ADDON;
    if (explicit) {
      // A specific build (e.g. the CUDA build in build-cuda/Release/selfsup.node).
      addonPath = path.resolve(explicit);
      cached = require(addonPath) as NativeAddon;
      const r = cudaReport(cached);
      if (r && !r.ok) noteCuda(`the CUDA build ${addonPath} has no usable device (${r.reason}); its kernels run on the CPU`);
      return cached;
    }
    const load = require('node-gyp-build') as ((dir: string) => NativeAddon) & { resolve?: (dir: string) => string };
    const root = packageRoot();
    const cudaBuild = path.join(root, 'build-cuda', 'Release', 'selfsup.node');
    if (fs.existsSync(cudaBuild)) {
      let reason: string;
      try {
        const a = require(cudaBuild) as NativeAddon;
        const r = cudaReport(a);
        if (r?.ok) {
          addonPath = cudaBuild;
          cached = a;
          return cached;
        }
        reason = r ? r.reason : 'it was built without CUDA';
      } catch (e) {
        if ((e as { selfsupIsa?: boolean }).selfsupIsa) throw e;
        reason = (e as Error).message;
      }
      noteCuda(`the CUDA build ${cudaBuild} is not used (${reason}); using the CPU build`);
    }
    try {
      addonPath = load.resolve ? load.resolve(root) : undefined;
    } catch {
      addonPath = undefined;
    }
    cached = load(root);
  } catch (e) {
    // SELFSUP_ISA naming a variant this CPU cannot run (native/napi/isa.cc): an error in the
    // package grammar on every use, never a silent fallback to the reference kernels.
    if ((e as { selfsupIsa?: boolean }).selfsupIsa) {
      const err = new SelfsupError('ERR_UNSUPPORTED', (e as Error).message);
      isaError = err;
      throw err;
    }
    cached = null;
    loadError = (e as Error).message;
    // Falling back silently would make every op 100x slower without a word: say it once.
    process.emitWarning(
      `selfsup: the native addon could not be loaded (${loadError}); using the pure-TypeScript reference kernels. ` +
        'Rebuild with `npm rebuild selfsup`, or set SELFSUP_BACKEND=reference to silence this.',
      { code: 'SELFSUP_NO_NATIVE' },
    );
  }
  return cached;
}

export function nativeLoadError(): string | undefined {
  tryNative();
  return loadError;
}

/** Why a CUDA build present was passed over or runs without a device (undefined otherwise). */
export function cudaLoadNote(): string | undefined {
  tryNative();
  return cudaNote;
}

export function nativeAddonPath(): string | undefined {
  tryNative();
  return addonPath;
}

/** The addon, or a SelfsupError saying why it is missing and how to fix it. */
export function native(): NativeAddon {
  const a = tryNative();
  if (!a) {
    throw new SelfsupError(
      'ERR_NO_NATIVE',
      `Expected the selfsup native addon for the native backend but received a load failure (${loadError}). ` +
        `Rebuild it with \`npm rebuild selfsup\` (or \`npx node-gyp rebuild\` in the package directory; needs python3, make and a C++17 compiler), ` +
        `or set SELFSUP_BACKEND=reference to use the pure-TypeScript reference kernels.`,
    );
  }
  return a;
}

/** True when ops should use the TS reference kernels (forced, or no addon). */
export function useReference(): boolean {
  return backendName() === 'reference';
}
