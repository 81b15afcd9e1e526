// Runtime ISA dispatch. Kernel sources are compiled once per ISA variant,
// each time with SELFSUP_ISA_NS defined to a different namespace. On x86-64: isa_avx512 with
// -mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx2 -mfma, isa_avx2 with -mavx2 -mfma, isa_generic
// with no extra flags; core code picks one once at load time by cpuid (native/cpu/cpuid.cc). On
// AArch64: isa_neon (with SELFSUP_NEON=1; NEON is part of the base ISA, so it is the default) and
// isa_generic.
//
//   // in a kernel .cc (compiled per ISA):
//   namespace selfsup { namespace SELFSUP_ISA_NS { void sgemm(...) { ... } } }
//   // in a header:
//   SELFSUP_ISA_DECLARE(void, sgemm, (bool, bool, ...))
//   // at the call site (core code):
//   SELFSUP_DISPATCH(sgemm)(args...);
#pragma once

namespace selfsup {

// The variants of this build are the values 0 .. kIsaCount-1, widest last (what the loops over
// variants list); the other architecture's names sort after them, so they are known names (a
// SELFSUP_ISA naming one gets "not supported", not "not an ISA variant") that nothing lists or
// runs. x86-64 keeps the values it always had.
#if defined(__aarch64__) || defined(_M_ARM64)
enum class Isa : int { kGeneric = 0, kNeon = 1, kAvx2 = 2, kAvx512 = 3 };
constexpr int kIsaCount = 2;
#else
enum class Isa : int { kGeneric = 0, kAvx2 = 1, kAvx512 = 2, kNeon = 3 };
constexpr int kIsaCount = 3;
#endif
constexpr int kIsaKnown = 4;  // every name isa_name() knows

// Chosen once (cpuid + OS xsave support + the CPU-family rule + SELFSUP_ISA override); defined in
// native/cpu/cpuid.cc. A SELFSUP_ISA naming a variant this CPU cannot run is not applied: the
// active ISA is then the default one and isa_error() says why (the addon turns that into a JS
// error at load, before any kernel runs).
Isa active_isa();
const char* isa_name(Isa isa);
// Whether this build and this CPU (and OS) can run `isa`.
bool isa_supported(Isa isa);
// The variant chosen without SELFSUP_ISA (cpuid and the CPU-family rule).
Isa default_isa();
// Empty, or the error message for an unusable SELFSUP_ISA value (in the error grammar).
const char* isa_error();

}  // namespace selfsup

// SELFSUP_ISA_DECLARE declares `name` in isa_generic and in this architecture's other variants
// (SELFSUP_ISA_DECLARE_MORE); SELFSUP_DISPATCH picks the active one.
#if defined(__x86_64__) || defined(_M_X64)
#define SELFSUP_HAVE_AVX2_VARIANT 1
#define SELFSUP_HAVE_AVX512_VARIANT 1
#define SELFSUP_HAVE_NEON_VARIANT 0
#define SELFSUP_ISA_DECLARE_MORE(ret, name, params) \
  namespace isa_avx2 { ret name params; }          \
  namespace isa_avx512 { ret name params; }
#define SELFSUP_DISPATCH(name)                                                         \
  (::selfsup::active_isa() == ::selfsup::Isa::kAvx512 ? &::selfsup::isa_avx512::name     \
   : ::selfsup::active_isa() == ::selfsup::Isa::kAvx2 ? &::selfsup::isa_avx2::name       \
                                                      : &::selfsup::isa_generic::name)
#elif defined(__aarch64__) || defined(_M_ARM64)
#define SELFSUP_HAVE_AVX2_VARIANT 0
#define SELFSUP_HAVE_AVX512_VARIANT 0
#define SELFSUP_HAVE_NEON_VARIANT 1
#define SELFSUP_ISA_DECLARE_MORE(ret, name, params) namespace isa_neon { ret name params; }
#define SELFSUP_DISPATCH(name)                                                   \
  (::selfsup::active_isa() == ::selfsup::Isa::kNeon ? &::selfsup::isa_neon::name   \
                                                    : &::selfsup::isa_generic::name)
#else
#define SELFSUP_HAVE_AVX2_VARIANT 0
#define SELFSUP_HAVE_AVX512_VARIANT 0
#define SELFSUP_HAVE_NEON_VARIANT 0
#define SELFSUP_ISA_DECLARE_MORE(ret, name, params)
#define SELFSUP_DISPATCH(name) (&::selfsup::isa_generic::name)
#endif
#define SELFSUP_ISA_DECLARE(ret, name, params) \
  namespace selfsup {                          \
  namespace isa_generic { ret name params; }   \
  SELFSUP_ISA_DECLARE_MORE(ret, name, params)  \
  }
