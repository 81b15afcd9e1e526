// More of the training ops on cuda device buffers (lib/ops routes `device: 'cuda'` tensors here).
// The other ops of that list run as compositions of the tensor core's exports; this file holds
// the kernels no composition can replace.
//
//   cudaWhere(cond, a, b, out)   out[i] = cond[i] ? a[i] : b[i]; n contiguous elements of one
//                                shape (the JS side expands broadcast operands first); a, b and
//                                out of one dtype (float32, bfloat16, float16, int32 or bool),
//                                cond bool; out may be a or b
//
// Only the CUDA build has them (RegisterCudaMore is called from cuda.cc's RegisterCuda).
#include "napi/register.h"

#ifdef SELFSUP_CUDA
#include <string>

#include "napi/convert.h"
#include "ops/where/cuda.h"

namespace selfsup {
namespace napi {
namespace {

// Argument idx as a device buffer of `allowed` (length checked when >= 0): a typed array there is
// an error naming it, never a host read of a device pointer.
ArrayArg Dev(const Napi::CallbackInfo& info, size_t idx, const char* name, std::initializer_list<DType> allowed,
             int64_t len = -1) {
  ArrayArg a = GetArrayOrDevice(info, idx, name, allowed, len);
  if (!a.device) ThrowType(info.Env(), "a cuda device buffer", name, "a typed array");
  return a;
}

Napi::Value Where(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::initializer_list<DType> any = {DType::kFloat32, DType::kInt32, DType::kBool};
  ArrayArg cond = Dev(info, 0, "cond", {DType::kBool});
  ArrayArg a = Dev(info, 1, "a", any, cond.length);
  ArrayArg b = Dev(info, 2, "b", any, cond.length);
  ArrayArg out = Dev(info, 3, "out", any, cond.length);
  for (auto [x, name] : {std::pair<const ArrayArg*, const char*>{&b, "b"}, {&out, "out"}})
    if (x->dtype != a.dtype)
      ThrowType(env, std::string("a ") + dtype_name(a.dtype) + " cuda buffer (the dtype of a)", name,
                std::string("a ") + dtype_name(x->dtype) + " cuda buffer");
  SameDevice(env, cond, "cond", {{&a, "a"}, {&b, "b"}, {&out, "out"}});
  if (out.data == cond.data) ThrowRange(env, "a buffer other than cond", "out", "cond itself");
  const cudaStream_t s = static_cast<cudaStream_t>(DeviceStream(env, cond));
  return RunNow(env, [&] {
    return tensor_where_cuda(a.dtype, out.data, static_cast<const uint8_t*>(cond.data), a.data, b.data, cond.length, s);
  });
}

}  // namespace

void RegisterCudaMore(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {{"cudaWhere", Where}});
}

}  // namespace napi
}  // namespace selfsup
#endif  // SELFSUP_CUDA
