// Tensor storage on warm pages: the glibc malloc settings behind every large typed array.
//
// Why: V8 allocates ArrayBuffer storage with calloc, and glibc serves blocks above its mmap
// threshold (128 KiB, adapting up to 32 MiB) with a fresh mmap and returns them with munmap on
// free. Every large tensor is then fresh memory, and writing it costs a page fault per 4 KiB:
// measured on a 2-core Zen 4, new Float32Array(4.8M) + a native add took 16 ms against 1.2 ms
// for the add into an existing array. Serving large blocks from the heap (no mmap) and keeping
// freed memory mapped (a high trim threshold) lets the next tensor reuse warm pages: 3-4 ms.
// PyTorch's CPU caching allocator makes the same trade (memory kept for reuse).
//
// Applied once per process when the addon loads, on glibc only; SELFSUP_MALLOC_TUNING=0 leaves
// malloc alone. memoryInfo() reports what was applied.
#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "napi/convert.h"
#include "napi/register.h"

namespace selfsup {
namespace napi {
namespace {

constexpr int kTrimThreshold = 1 << 30;  // keep up to 1 GiB of freed heap mapped

bool Tune() {
#if defined(__GLIBC__)
  const char* env = std::getenv("SELFSUP_MALLOC_TUNING");
  if (env != nullptr && std::strcmp(env, "0") == 0) return false;
  const bool a = mallopt(M_MMAP_MAX, 0) == 1;
  const bool b = mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
  return a && b;
#else
  return false;
#endif
}

bool Tuned() {
  static const bool tuned = Tune();  // once per process (worker threads load the addon again)
  return tuned;
}

Napi::Value MemoryInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("mallocTuned", Napi::Boolean::New(env, Tuned()));
  o.Set("trimThresholdBytes", Napi::Number::New(env, Tuned() ? kTrimThreshold : 0));
  return o;
}

}  // namespace

void RegisterMemory(Napi::Env env, Napi::Object exports) {
  Tuned();
  Export(env, exports, "memoryInfo", MemoryInfo);
}

}  // namespace napi
}  // namespace selfsup
