// Loop coalescing for the tensor core (compiled once; the kernels in cpu.cc are per ISA).
#include "ops/tensor/params.h"

#if !defined(_WIN32)
#include <unistd.h>
#endif

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <string>

namespace selfsup {

namespace {
// The last-level cache one core sees: Linux's sysfs first (sysconf reports the host's total L3 in
// some VMs: 320 MiB on a 2-core Zen 4 guest whose sysfs and lscpu say 32 MiB), then sysconf.
int64_t llc_bytes() {
  for (int i = 0; i < 8; i++) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream level(dir + "level"), size(dir + "size");
    int lv = 0;
    int64_t kb = 0;
    char unit = 0;
    if (!(level >> lv) || lv != 3 || !(size >> kb >> unit) || kb <= 0) continue;
    return unit == 'M' ? kb << 20 : unit == 'K' ? kb << 10 : kb;
  }
#if !defined(_WIN32) && defined(_SC_LEVEL3_CACHE_SIZE)
  const long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);  // glibc; 0 or -1 where unknown
  if (l3 > 0) return l3;
#endif
  return 0;
}

int64_t default_stream_min_bytes() {
  if (const char* e = std::getenv("SELFSUP_STREAM_MIN_BYTES")) {
    char* end = nullptr;
    const long long v = std::strtoll(e, &end, 10);
    if (end != e && *end == '\0' && v >= 0) return v;
  }
  int64_t l3 = llc_bytes();
  return l3 > 0 ? l3 / 2 : int64_t(16) << 20;
}
std::atomic<int64_t>& stream_min_bytes() {
  static std::atomic<int64_t> v{default_stream_min_bytes()};
  return v;
}
}  // namespace

int64_t tensor_stream_min_bytes() { return stream_min_bytes().load(std::memory_order_relaxed); }
void set_tensor_stream_min_bytes(int64_t bytes) { stream_min_bytes().store(bytes, std::memory_order_relaxed); }

namespace {
thread_local const void* warm_output = nullptr;
}
const void* tensor_warm_output() { return warm_output; }
void set_tensor_warm_output(const void* out) { warm_output = out; }

bool make_loop(int nd, const int64_t* shape, const int64_t* const* strides, int nops, Loop* out) {
  Loop L;
  L.nops = nops;
  // Walk from the innermost dim outwards, building groups innermost-first, then reverse.
  int64_t gshape[kLoopDims];
  int64_t gstride[3][kLoopDims];
  int ng = 0;
  for (int d = nd - 1; d >= 0; d--) {
    const int64_t s = shape[d];
    if (s == 0) {  // empty: one zero-size dim says it all
      L.nd = 1;
      L.shape[0] = 0;
      for (int k = 0; k < nops; k++) L.stride[k][0] = 1;
      *out = L;
      return true;
    }
    if (s == 1) continue;
    bool merge = ng > 0;
    for (int k = 0; k < nops && merge; k++) merge = strides[k][d] == gstride[k][ng - 1] * gshape[ng - 1];
    if (merge) {
      gshape[ng - 1] *= s;
      continue;
    }
    if (ng == kLoopDims) return false;
    gshape[ng] = s;
    for (int k = 0; k < nops; k++) gstride[k][ng] = strides[k][d];
    ng++;
  }
  L.nd = ng;
  for (int i = 0; i < ng; i++) {
    L.shape[i] = gshape[ng - 1 - i];
    for (int k = 0; k < nops; k++) L.stride[k][i] = gstride[k][ng - 1 - i];
  }
  *out = L;
  return true;
}

}  // namespace selfsup
