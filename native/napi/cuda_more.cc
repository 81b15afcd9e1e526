// More of the training ops on cuda device buffers (lib/ops routes `device: 'cuda'` tensors here).
// The other ops of that list run as compositions of the tensor core's exports; this file holds
// the kernels no composition can replace.
//
//   cudaWhere(cond, a, b, out)   out[i] = cond[i] ? a[i] : b[i]; n contiguous elements of one
//                                shape (the JS side expands broadcast operands first); a, b and
//                                out of one dtype (float32, bfloat16, float16, int32 or bool),
//                                cond bool; out may be a or b
//   cudaDropoutMask(keep, seed, stream, p)
//                                keep (bool, n) = the uniform float32 at offset i of the Philox
//                                stream (seed, stream) is >= p: the CPU's dropout mask, bit for bit
//
// Only the CUDA build has them (RegisterCudaMore is called from cuda.cc's RegisterCuda).
#include "napi/register.h"

#ifdef SELFSUP_CUDA
#include <cmath>
#include <string>

#include "napi/convert.h"
#include "ops/dropout/cuda.h"
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

Napi::Value DropoutMask(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ArrayArg keep = Dev(info, 0, "keep", {DType::kBool});
  const double seed = GetDouble(info, 1, "seed");
  if (!(seed >= 0 && seed <= 9007199254740991.0 && seed == std::floor(seed)))
    ThrowRange(env, "an integer seed in [0, 2^53)", "seed", std::to_string(seed));
  const int64_t stream = GetInt(info, 2, "stream", 0, 0xffffffffLL);
  const double p = GetDouble(info, 3, "p");
  if (!(p >= 0 && p <= 1)) ThrowRange(env, "a probability in [0, 1]", "p", std::to_string(p));
  const cudaStream_t s = static_cast<cudaStream_t>(DeviceStream(env, keep));
  return RunNow(env, [&] {
    return dropout_mask_cuda(static_cast<uint64_t>(seed), static_cast<uint32_t>(stream), p, keep.length,
                             static_cast<uint8_t*>(keep.data), s);
  });
}

}  // namespace

void RegisterCudaMore(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {{"cudaWhere", Where}, {"cudaDropoutMask", DropoutMask}});
}

}  // namespace napi
}  // namespace selfsup
#endif  // SELFSUP_CUDA
