// AdamW on CUDA: the multi-tensor step of params.h on device pointers (float32), enqueued on
// `stream`. The arithmetic is cpu.cc's, operation for operation in double with the stored moments
// and weights rounded to float32 at the same points, so one step matches the CPU step bit for bit
// (double add/mul/div/sqrt are correctly rounded on both).
#pragma once
#include <cstdint>

#include "ops/optim/params.h"
#include "selfsup/status.h"

struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;

namespace selfsup {

// ts[i].{w,g,m,v,vmax} are device pointers; `ts` itself is host memory (the descriptors travel as
// kernel parameters, up to 32 tensors per launch).
Status adamw_step_cuda(DType dt, const AdamWHyper& h, const AdamWTensor* ts, int64_t count, cudaStream_t s);

}  // namespace selfsup
