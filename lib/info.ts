/** Machine and build information (what `selfsup info` prints and the bench header reuses). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backendName, cudaLoadNote, nativeAddonPath, nativeLoadError, packageRoot, tryNative } from './backends/native';

export interface MachineProbe {
  /** Measured FMA peak on `threads` threads (GFLOP/s, 2 flops per FMA lane): the best of the ISA
   * variants this CPU supports (the machine's peak, whichever variant runs). */
  peakGflops: number;
  /** The FMA peak of each supported ISA variant (GFLOP/s, same threads), widest first. */
  peaks?: Array<{ isa: string; gflops: number }>;
  /** STREAM-triad bandwidth (GB/s; a[i] = b[i] + s*c[i] counts 3 x 4 bytes per element). */
  bandwidthGBs: number;
  threads: number;
}

export interface Info {
  version: string;
  backend: 'native' | 'reference';
  addonPath?: string;
  loadError?: string;
  isa?: string;
  /** ISA variants from the widest down: supported by this CPU, running, the default here. */
  isaVariants?: Array<{ name: string; supported: boolean; active: boolean; default: boolean }>;
  threads: number;
  cpuModel: string;
  cores: number;
  cuda: { built: boolean; devices: Array<{ name: string; computeCapability: string; memoryBytes: number }>; error?: string };
  /** Why a CUDA build present was passed over, or runs without a device (docs/cuda.md). */
  cudaNote?: string;
  node: string;
}

export function version(): string {
  const pj = path.join(packageRoot(), 'package.json');
  return (JSON.parse(fs.readFileSync(pj, 'utf8')) as { version: string }).version;
}

export function info(): Info {
  const a = tryNative();
  const cpus = os.cpus();
  return {
    version: version(),
    backend: backendName(),
    addonPath: nativeAddonPath(),
    loadError: a ? undefined : nativeLoadError(),
    isa: a ? a.isa() : undefined,
    isaVariants: a && a.isaVariants ? a.isaVariants() : undefined,
    threads: a ? a.numThreads() : 1,
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    cuda: a ? a.cudaInfo() : { built: false, devices: [], error: 'native addon not loaded' },
    cudaNote: cudaLoadNote(),
    node: process.version,
  };
}

let probeCache: MachineProbe | undefined;

/** Short in-process probes (~0.5 s plus ~0.4 s per ISA variant), cached for the process. */
export function probeMachine(threads?: number): MachineProbe {
  const a = tryNative();
  const t = threads ?? (a ? a.numThreads() : 1);
  if (probeCache && probeCache.threads === t) return probeCache;
  if (!a) return { peakGflops: NaN, bandwidthGBs: NaN, threads: t };
  // Best of five short runs: the machines are shared and a single run can be preempted (the
  // 2-thread triad reading alone spread over 34-76 GB/s on the development VM).
  const variants = a.isaVariants && a.measurePeakGflopsIsa ? a.isaVariants().filter((v) => v.supported).map((v) => v.name) : [];
  const best = new Map<string, number>(variants.map((v) => [v, 0]));
  let peak = 0, bw = 0;
  for (let i = 0; i < 5; i++) {
    if (variants.length) {
      for (const v of variants) best.set(v, Math.max(best.get(v)!, a.measurePeakGflopsIsa!(v, t, 0.08)));
    } else {
      peak = Math.max(peak, a.measurePeakGflops(t, 0.08));
    }
    bw = Math.max(bw, a.measureBandwidthGBs(t, 0.1));
  }
  const peaks = variants.map((isa) => ({ isa, gflops: best.get(isa)! }));
  for (const p of peaks) peak = Math.max(peak, p.gflops);
  probeCache = { peakGflops: peak, ...(peaks.length ? { peaks } : {}), bandwidthGBs: bw, threads: t };
  return probeCache;
}

/** Sets the native thread-pool size (same as SELFSUP_NUM_THREADS at startup). */
export function setNumThreads(n: number): void {
  const a = tryNative();
  if (a) a.setNumThreads(n);
}

export function getNumThreads(): number {
  const a = tryNative();
  return a ? a.numThreads() : 1;
}
