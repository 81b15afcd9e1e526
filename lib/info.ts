/** Machine and build information (what `selfsup info` prints and the bench header reuses). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { backendName, nativeAddonPath, nativeLoadError, packageRoot, tryNative } from './backends/native';

export interface MachineProbe {
  /** Measured FMA peak on `threads` threads (GFLOP/s, 2 flops per FMA lane). */
  peakGflops: number;
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
  threads: number;
  cpuModel: string;
  cores: number;
  cuda: { built: boolean; devices: Array<{ name: string; computeCapability: string; memoryBytes: number }>; error?: string };
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
    threads: a ? a.numThreads() : 1,
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    cuda: a ? a.cudaInfo() : { built: false, devices: [], error: 'native addon not loaded' },
    node: process.version,
  };
}

let probeCache: MachineProbe | undefined;

/** Short in-process probes (~0.9 s total), cached for the process. */
export function probeMachine(threads?: number): MachineProbe {
  const a = tryNative();
  const t = threads ?? (a ? a.numThreads() : 1);
  if (probeCache && probeCache.threads === t) return probeCache;
  if (!a) return { peakGflops: NaN, bandwidthGBs: NaN, threads: t };
  // Best of five short runs: the machines are shared and a single run can be preempted (the
  // 2-thread triad reading alone spread over 34-76 GB/s on the development VM).
  let peak = 0, bw = 0;
  for (let i = 0; i < 5; i++) {
    peak = Math.max(peak, a.measurePeakGflops(t, 0.08));
    bw = Math.max(bw, a.measureBandwidthGBs(t, 0.1));
  }
  probeCache = { peakGflops: peak, bandwidthGBs: bw, threads: t };
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
