// Runtime ISA dispatch (DESIGN principle 5). Kernel sources are compiled once per ISA variant,
// each time with SELFSUP_ISA_NS defined to a different namespace (isa_avx2 with -mavx2 -mfma,
// isa_generic with no extra flags). Core code picks the variant once at load time by cpuid.
//
//   // in a kernel .cc (compiled per ISA):
//   namespace selfsup { namespace SELFSUP_ISA_NS { void sgemm(...) { ... } } }
//   // in a header:
//   SELFSUP_ISA_DECLARE(void, sgemm, (bool, bool, ...))
//   // at the call site (core code):
//   SELFSUP_DISPATCH(sgemm)(args...);
#pragma once

namespace selfsup {

enum class Isa : int { kGeneric = 0, kAvx2 = 1 };

// Chosen once (cpuid + OS xsave support + SELFSUP_ISA env override "generic"); defined in
// native/cpu/cpuid.cc.
Isa active_isa();
const char* isa_name(Isa isa);

}  // namespace selfsup

#if defined(__x86_64__) || defined(_M_X64)
#define SELFSUP_HAVE_AVX2_VARIANT 1
#define SELFSUP_ISA_DECLARE(ret, name, params)   \
  namespace selfsup {                            \
  namespace isa_generic { ret name params; }     \
  namespace isa_avx2 { ret name params; }        \
  }
#define SELFSUP_DISPATCH(name)                                               \
  (::selfsup::active_isa() == ::selfsup::Isa::kAvx2 ? &::selfsup::isa_avx2::name \
                                                    : &::selfsup::isa_generic::name)
#else
#define SELFSUP_HAVE_AVX2_VARIANT 0
#define SELFSUP_ISA_DECLARE(ret, name, params) \
  namespace selfsup {                          \
  namespace isa_generic { ret name params; }   \
  }
#define SELFSUP_DISPATCH(name) (&::selfsup::isa_generic::name)
#endif
