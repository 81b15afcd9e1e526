// Runtime ISA selection (DESIGN principle 5): the AVX2 variant is used only when the CPU reports
// AVX2 and FMA *and* the OS saves the YMM state on context switches (OSXSAVE + XCR0 bits 1 and 2);
// a CPU with AVX2 under an OS that does not enable it would fault on the first ymm instruction.
// SELFSUP_ISA=generic forces the portable variant (testing, reproducing generic numbers).
#include <cstdlib>
#include <cstring>

#include "selfsup/isa.h"

#if defined(__x86_64__) || defined(_M_X64)
#if defined(_MSC_VER) && !defined(__clang__)
#include <immintrin.h>
#include <intrin.h>
#else
#include <cpuid.h>
#endif
#endif

namespace selfsup {
namespace {

#if defined(__x86_64__) || defined(_M_X64)
void cpuid(unsigned leaf, unsigned subleaf, unsigned r[4]) {
#if defined(_MSC_VER) && !defined(__clang__)
  int out[4];
  __cpuidex(out, static_cast<int>(leaf), static_cast<int>(subleaf));
  for (int i = 0; i < 4; ++i) r[i] = static_cast<unsigned>(out[i]);
#else
  __cpuid_count(leaf, subleaf, r[0], r[1], r[2], r[3]);
#endif
}

unsigned long long xgetbv0() {
#if defined(_MSC_VER) && !defined(__clang__)
  return _xgetbv(0);
#else
  // Inline asm rather than _xgetbv() so this core TU needs no -mxsave flag.
  unsigned lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<unsigned long long>(hi) << 32) | lo;
#endif
}

bool cpu_has_avx2_fma() {
  unsigned r[4];
  cpuid(0, 0, r);
  const unsigned max_leaf = r[0];
  if (max_leaf < 7) return false;
  cpuid(1, 0, r);
  const bool fma = (r[2] >> 12) & 1;
  const bool osxsave = (r[2] >> 27) & 1;
  const bool avx = (r[2] >> 28) & 1;
  if (!(fma && osxsave && avx)) return false;
  if ((xgetbv0() & 0x6) != 0x6) return false;  // XMM and YMM state enabled by the OS
  cpuid(7, 0, r);
  const bool avx2 = (r[1] >> 5) & 1;
  return avx2;
}
#endif

Isa detect() {
  const char* env = std::getenv("SELFSUP_ISA");
  if (env != nullptr && std::strcmp(env, "generic") == 0) return Isa::kGeneric;
#if defined(__x86_64__) || defined(_M_X64)
  if (cpu_has_avx2_fma()) return Isa::kAvx2;
#endif
  return Isa::kGeneric;
}

}  // namespace

Isa active_isa() {
  // Function-local static: initialized once, thread-safe (C++11 magic statics).
  static const Isa isa = detect();
  return isa;
}

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx2:
      return "avx2";
    case Isa::kGeneric:
      return "generic";
  }
  return "unknown";
}

}  // namespace selfsup
