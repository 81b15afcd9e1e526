// The tensor core on CUDA: the same ops as cpu.cc (params.h), on device pointers, enqueued on
// `stream` (they return once the kernel is launched: a Status that is ok says the launch
// succeeded, not that the kernel has run). dtypes: float32, bfloat16 and float16 (computed in
// float32, stored rounded to nearest even); comparisons write bool (uint8); copies move any 1, 2,
// 4 or 8-byte element; casts go between float32, bfloat16, float16, int32 and bool.
// Determinism: every reduction (sum, max, min, softmax's max and sum) has a fixed assignment of
// elements to threads and a fixed combining tree, and no float atomics: the same inputs give the
// same bits on every run.
#pragma once
#include <cstdint>

#include "ops/tensor/params.h"
#include "selfsup/status.h"

// The runtime's own declaration (driver_types.h), repeated so g++ sources need no CUDA headers.
struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;

namespace selfsup {

Status tensor_binary_cuda(BinaryOp op, DType dt, void* out, const void* a, const void* b, const Loop& L, cudaStream_t s);
Status tensor_unary_cuda(UnaryOp op, DType dt, const void* x, void* y, int64_t n, double p0, double p1, cudaStream_t s);
Status tensor_unary_backward_cuda(UnaryOp op, DType dt, const void* g, const void* sv, void* gx, int64_t n, double p0,
                                  double p1, cudaStream_t s);
// out[kept] = scale * reduce over the dims with reduced[d] of contiguous x [shape] (as cpu.cc).
Status tensor_reduce_cuda(ReduceOp op, DType dt, const void* x, void* out, int nd, const int64_t* shape,
                          const bool* reduced, double scale, cudaStream_t s);
Status tensor_softmax_cuda(bool log, DType dt, const void* x, void* y, int64_t outer, int64_t size, int64_t inner,
                           cudaStream_t s);
Status tensor_softmax_backward_cuda(bool log, DType dt, const void* g, const void* y, void* gx, int64_t outer,
                                    int64_t size, int64_t inner, cudaStream_t s);
Status tensor_copy_cuda(int elem_size, void* dst, const void* src, const Loop& L, cudaStream_t s);
Status tensor_axpy_cuda(DType dt, void* y, const void* x, int64_t n, double alpha, cudaStream_t s);
// Along the middle dim of x [outer, size, inner] (size >= 1): idx[o, i] = the first index of the
// max (or min) in int32, NaN winning as in cpu reductions; vals (optional) the values there.
Status tensor_argreduce_cuda(bool is_max, DType dt, const void* x, void* vals, int32_t* idx, int64_t outer,
                             int64_t size, int64_t inner, cudaStream_t s);
// y = x converted to `to` (float -> int32 rounds toward zero, NaN -> 0; anything -> bool is x != 0).
Status tensor_cast_cuda(DType from, DType to, const void* x, void* y, int64_t n, cudaStream_t s);

}  // namespace selfsup
