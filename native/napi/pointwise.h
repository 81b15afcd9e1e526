// Shared by the pointwise bindings (pointwise.cc) and their CUDA counterparts (cuda_linalg.cc).
#pragma once
#include <napi.h>

#include <cstdint>

namespace selfsup {
namespace napi {

struct RowsCols {
  int64_t rows = 0, cols = 0;
};
// The options' { rows, cols }, checked against the length of the matrix argument `name`.
RowsCols ReadRowsCols(Napi::Env env, const Napi::Object& o, int64_t length, const char* name);

}  // namespace napi
}  // namespace selfsup
