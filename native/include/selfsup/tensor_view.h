// DType and Device, their names and sizes, and SELFSUP_FLOAT_SWITCH: the types the kernel ABI
// shares, so that no N-API or JS type ever appears below native/napi/.
#pragma once
#include <cstdint>
#include <string>

namespace selfsup {

enum class DType : int32_t { kFloat32 = 0, kFloat64, kInt32, kBool, kBFloat16, kFloat16 };
enum class Device : int32_t { kCPU = 0, kCUDA };

// Runs the block `...` (a lambda expression) with the type name T bound to double when `dtype` is
// kFloat64 and to float otherwise, and returns its result: one template call in place of a
// float/double if-else pair (the idea of FlashAttention's FP16_SWITCH, csrc/flash_attn/src/
// static_switch.h). Callers have already refused every other dtype.
//   return SELFSUP_FLOAT_SWITCH(p.dtype, T, [&] { return forward_impl<T>(p); });
#define SELFSUP_FLOAT_SWITCH(dtype, T, ...)              \
  [&] {                                                  \
    if ((dtype) == ::selfsup::DType::kFloat64) {         \
      using T = double;                                  \
      return __VA_ARGS__();                              \
    } else {                                             \
      using T = float;                                   \
      return __VA_ARGS__();                              \
    }                                                    \
  }()

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::kFloat32: return "float32";
    case DType::kFloat64: return "float64";
    case DType::kInt32: return "int32";
    case DType::kBool: return "bool";
    case DType::kBFloat16: return "bfloat16";
    case DType::kFloat16: return "float16";
  }
  return "unknown";
}

inline int64_t dtype_size(DType d) {
  switch (d) {
    case DType::kFloat64: return 8;
    case DType::kFloat32: case DType::kInt32: return 4;
    case DType::kBFloat16: case DType::kFloat16: return 2;
    case DType::kBool: return 1;
  }
  return 0;
}

constexpr int kMaxRank = 8;

struct TensorView {
  void* data = nullptr;
  DType dtype = DType::kFloat32;
  Device device = Device::kCPU;
  int32_t rank = 0;
  int64_t shape[kMaxRank] = {0};
  int64_t strides[kMaxRank] = {0};  // in elements, not bytes

  int64_t numel() const {
    int64_t n = 1;
    for (int i = 0; i < rank; ++i) n *= shape[i];
    return n;
  }
  int64_t dim(int i) const { return shape[i < 0 ? rank + i : i]; }
  bool is_contiguous() const {
    int64_t s = 1;
    for (int i = rank - 1; i >= 0; --i) {
      if (shape[i] != 1 && strides[i] != s) return false;
      s *= shape[i];
    }
    return true;
  }
  template <typename T> T* ptr() const { return static_cast<T*>(data); }
  std::string shape_string() const {
    std::string s = "[";
    for (int i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
  }
};

// A contiguous row-major view over `data` with the given shape.
inline TensorView make_view(void* data, DType dt, std::initializer_list<int64_t> shape,
                            Device dev = Device::kCPU) {
  TensorView v;
  v.data = data; v.dtype = dt; v.device = dev; v.rank = static_cast<int32_t>(shape.size());
  int i = 0;
  for (int64_t s : shape) v.shape[i++] = s;
  int64_t st = 1;
  for (int j = v.rank - 1; j >= 0; --j) { v.strides[j] = st; st *= v.shape[j]; }
  return v;
}

}  // namespace selfsup
