// Machine probes for the bench roofline (docs/bench.md; floor = max(FLOPs / peak,
// bytes / bandwidth)): a measured FMA peak and a STREAM-triad bandwidth, used by `selfsup info`
// and the bench CLI to report "% of peak". Each call runs for about `seconds` (default ~0.2 s).
#pragma once
#include <cstdint>

#include "selfsup/isa.h"

namespace selfsup {

// Floating-point peak of the active ISA variant on `threads` threads (std::threads, not the pool,
// so any count can be asked for), in GFLOP/s: 2 flops per FMA lane (float32 lanes; the generic
// variant counts a multiply + add pair as one FMA).
double measure_peak_gflops(int threads, double seconds);
// The same for a given variant, which must be supported by this CPU (isa_supported(isa)); `selfsup
// info` reports each supported variant's peak, the machine's peak being the best of them.
double measure_peak_gflops_isa(Isa isa, int threads, double seconds);
// STREAM triad a[i] = b[i] + s * c[i] over three float32 arrays of 32 MiB each (3x the 32 MiB L3
// of the reference machine, far larger than any L2), in GB/s. Bytes counted per element: 3 * 4
// (read b, read c, write a), the STREAM convention; the write-allocate read of `a` is NOT counted,
// so the bus actually moves ~4/3 of that.
double measure_bandwidth_gbs(int threads, double seconds);

}  // namespace selfsup

// Per-ISA kernels behind the probes (native/cpu/probe_isa.cc).
// fma_block: runs `iters` iterations of independent FMA chains on registers and returns the
// number of flops performed (the result is folded into *sink so nothing is optimized away).
SELFSUP_ISA_DECLARE(double, probe_fma_block, (int64_t iters, float* sink))
// triad over [0, n): a[i] = b[i] + s * c[i].
SELFSUP_ISA_DECLARE(void, probe_triad, (float* a, const float* b, const float* c, float s,
                                        int64_t n))
