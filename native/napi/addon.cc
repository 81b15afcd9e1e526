// The export table, and nothing else. NAPI_VERSION 8; C++ exceptions are on, and every function
// converts C++ failures into JS exceptions (see convert.h Guard) so bad input never kills Node.
// N-API addons are context-aware: this Init runs once per Node environment (main thread and
// each worker_thread); kernels share the process-wide thread pool.
#include <napi.h>

#include "napi/register.h"

namespace {
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  using namespace selfsup::napi;
  RegisterIsa(env, exports);  // first: throws when SELFSUP_ISA names a variant the CPU lacks
  RegisterCore(env, exports);
  RegisterLinalg(env, exports);
  RegisterAttention(env, exports);
  RegisterInfoNCE(env, exports);
  RegisterVICReg(env, exports);
  RegisterSinkhorn(env, exports);
  RegisterTokens(env, exports);
  RegisterPointwise(env, exports);
  RegisterTensor(env, exports);
  RegisterMemory(env, exports);
  RegisterOptim(env, exports);
  RegisterDistributed(env, exports);
  RegisterCuda(env, exports);
  return exports;
}
}  // namespace

NODE_API_MODULE(selfsup, Init)
