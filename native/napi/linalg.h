// The matmul plan shared by the CPU binding (linalg.cc) and the CUDA one (cuda_linalg.cc).
#pragma once
#include <napi.h>

#include <cstdint>

namespace selfsup {
namespace napi {

struct MatmulArgs {
  int64_t batch, m, n, k, strideA, strideB;
  bool transA, transB;
};

// Reads { batch, m, n, k, transA, transB, strideA, strideB } from the options object (argument
// `idx`: the TypeScript plan) and checks that the operand lengths match them exactly (no read
// outside the buffers).
MatmulArgs ReadMatmulArgs(const Napi::CallbackInfo& info, size_t idx, int64_t lenA, int64_t lenB);

}  // namespace napi
}  // namespace selfsup
