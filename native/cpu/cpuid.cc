// Runtime ISA selection (docs/developing.md, ISA variants): a variant is used only when the CPU reports its
// instructions *and* the OS saves the register state on context switches (OSXSAVE + XCR0): AVX2
// needs AVX2 + FMA and XCR0 bits 1, 2 (XMM, YMM); AVX-512 needs F + BW + DQ + VL and XCR0 bits 5,
// 6, 7 (opmask, ZMM_Hi256, Hi16_ZMM) as well. A CPU with AVX2 under an OS that does not enable it
// would fault on the first ymm instruction.
// SELFSUP_ISA=avx512|avx2|generic forces a variant; one the CPU lacks is never run: the default
// stays active and isa_error() holds the message the addon throws at load.
// On AArch64 the variants are neon and generic. Advanced SIMD is mandatory in ARMv8-A (Arm ARM,
// A1.5), so nothing is probed: neon is the default, SELFSUP_ISA=generic selects the portable one,
// and the x86 names are refused like any variant this CPU lacks.
#include <cstdlib>
#include <cstring>
#include <string>

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

// Whether AVX-512 is the default on AMD family 19h (Zen 4; Zen 3 has no AVX-512). Zen 4 splits
// each 512-bit operation into two 256-bit halves, so the FMA peak is the same in both variants
// (116 GFLOP/s per core measured for each) and which is faster depends on the kernel: measured
// on an EPYC family 25 model 17, one thread, interleaved runs, the avx512 variant was 24-32%
// faster in Sinkhorn and 4-10% in the attention forward, but 0-6% slower in sgemm at medium
// shapes (2048x2048x256, 256x256x2048, the ViT linear layers) and 3-14% slower in the tiny-ViT
// training step (short token rows padded to 16 lanes). The default must never be slower than
// avx2, so Zen 4 defaults to avx2 and SELFSUP_ISA=avx512 opts in (docs/developing.md).
constexpr bool kAvx512OnZen4 = false;

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

// AVX-512 F (leaf 7 EBX bit 16), DQ (17), BW (30), VL (31), and the OS saving the opmask, the
// upper halves of zmm0-15 and zmm16-31 (XCR0 bits 5, 6, 7) besides XMM and YMM (bits 1, 2):
// Intel SDM vol. 1, 15.2 "Detection of AVX-512 Foundation instructions".
bool cpu_has_avx512() {
  if (!cpu_has_avx2_fma()) return false;
  if ((xgetbv0() & 0xE6) != 0xE6) return false;
  unsigned r[4];
  cpuid(7, 0, r);
  const unsigned need = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31);
  return (r[1] & need) == need;
}

// Vendor string and display family (base family + extended family when the base is 15).
bool cpu_is_amd_family(unsigned family) {
  unsigned r[4];
  cpuid(0, 0, r);
  char vendor[13];
  std::memcpy(vendor, &r[1], 4);
  std::memcpy(vendor + 4, &r[3], 4);
  std::memcpy(vendor + 8, &r[2], 4);
  vendor[12] = 0;
  if (std::strcmp(vendor, "AuthenticAMD") != 0) return false;
  cpuid(1, 0, r);
  unsigned fam = (r[0] >> 8) & 0xF;
  if (fam == 0xF) fam += (r[0] >> 20) & 0xFF;
  return fam == family;
}
#endif

// Test hook: SELFSUP_ISA_HIDE=avx512[,avx2] makes this process treat those variants as absent
// from the CPU (to test, on any machine, the error for a SELFSUP_ISA the CPU cannot run and the
// fallback of the default). Not for production use.
bool hidden(const char* name) {
  const char* env = std::getenv("SELFSUP_ISA_HIDE");
  if (env == nullptr) return false;
  const size_t n = std::strlen(name);
  for (const char* p = env; *p != 0;) {
    const char* end = std::strchr(p, ',');
    const size_t len = end ? static_cast<size_t>(end - p) : std::strlen(p);
    if (len == n && std::strncmp(p, name, n) == 0) return true;
    if (end == nullptr) break;
    p = end + 1;
  }
  return false;
}

struct Choice {
  bool supported[kIsaCount] = {true};  // generic everywhere; the rest as detected
  Isa def = Isa::kGeneric;
  Isa active = Isa::kGeneric;
  std::string error;
};

// The default among supported variants: the widest, except on AMD family 19h (see
// kAvx512OnZen4). Zen 5 (family 1Ah) and Intel CPUs with AVX-512 get avx512.
Isa pick_default(const bool* supported) {
#if SELFSUP_HAVE_NEON_VARIANT
  if (supported[static_cast<int>(Isa::kNeon)]) return Isa::kNeon;
#else
  if (supported[static_cast<int>(Isa::kAvx512)]) {
#if defined(__x86_64__) || defined(_M_X64)
    if (!kAvx512OnZen4 && cpu_is_amd_family(0x19)) return Isa::kAvx2;
#endif
    return Isa::kAvx512;
  }
  if (supported[static_cast<int>(Isa::kAvx2)]) return Isa::kAvx2;
#endif
  return Isa::kGeneric;
}

Choice detect() {
  Choice c;
#if defined(__x86_64__) || defined(_M_X64)
  c.supported[static_cast<int>(Isa::kAvx2)] = cpu_has_avx2_fma() && !hidden("avx2");
  c.supported[static_cast<int>(Isa::kAvx512)] =
      c.supported[static_cast<int>(Isa::kAvx2)] && cpu_has_avx512() && !hidden("avx512");
#elif SELFSUP_HAVE_NEON_VARIANT
  c.supported[static_cast<int>(Isa::kNeon)] = !hidden("neon");
#endif
  c.def = pick_default(c.supported);
  c.active = c.def;
  const char* env = std::getenv("SELFSUP_ISA");
  if (env == nullptr || *env == 0) return c;
  for (int i = kIsaCount - 1; i >= 0; --i) {
    if (std::strcmp(env, isa_name(static_cast<Isa>(i))) != 0) continue;
    if (c.supported[i]) {
      c.active = static_cast<Isa>(i);
      return c;
    }
    break;
  }
  // Unknown or unsupported: keep the default (nothing may ever run an instruction the CPU
  // lacks) and record the error; the addon throws it at load.
  std::string list;
  for (int i = kIsaCount - 1; i >= 0; --i) {
    if (!c.supported[i]) continue;
    if (!list.empty()) list += ", ";
    list += isa_name(static_cast<Isa>(i));
  }
  c.error = "Expected one of the supported ISA variants (" + list + ") for SELFSUP_ISA but received '" +
            std::string(env) + "'";
  bool known = false;
  for (int i = 0; i < kIsaKnown; ++i) known |= std::strcmp(env, isa_name(static_cast<Isa>(i))) == 0;
  c.error += known ? ", which this CPU (or its OS) does not support" : ", which is not an ISA variant";
  c.error += "; unset it to use the default (" + std::string(isa_name(c.def)) + ")";
  return c;
}

const Choice& choice() {
  // Function-local static: initialized once, thread-safe (C++11 magic statics).
  static const Choice c = detect();
  return c;
}

}  // namespace

Isa active_isa() {
  static const Isa isa = choice().active;
  return isa;
}

Isa default_isa() { return choice().def; }

bool isa_supported(Isa isa) {
  const int i = static_cast<int>(isa);
  return i >= 0 && i < kIsaCount && choice().supported[i];
}

const char* isa_error() { return choice().error.c_str(); }

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kGeneric:
      return "generic";
    case Isa::kNeon:
      return "neon";
  }
  return "unknown";
}

}  // namespace selfsup
