// Elementwise select on CUDA: out[i] = cond[i] ? a[i] : b[i] over n contiguous elements of one
// shape (the caller expands broadcast operands first). Elements are moved as bits, never through
// arithmetic, so inf and NaN in the branch not taken cannot leak into the result (the failure of
// the `c * a + (1 - c) * b` composition). Enqueued on `stream`; an ok Status says the launch
// succeeded.
#pragma once
#include <cstdint>

#include "selfsup/tensor_view.h"
#include "selfsup/status.h"

struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;

namespace selfsup {

// dt: any cuda dtype (float32, bfloat16, float16, int32, bool); cond is bool (uint8, nonzero = take a).
// out may alias a or b (each element is read before it is written, by the same thread).
Status tensor_where_cuda(DType dt, void* out, const uint8_t* cond, const void* a, const void* b, int64_t n,
                         cudaStream_t stream);

}  // namespace selfsup
