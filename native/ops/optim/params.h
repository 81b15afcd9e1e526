// Fused optimizer steps: one native call updates every parameter of a group (multi-tensor), split
// across the pool by elements. The arithmetic is the TypeScript optimizers' (lib/optim), operation
// for operation and in double, with no FMA contraction, so float64 results are bit-identical and
// float32 ones round at the same points (the stored moments and weights).
#pragma once
#include <cstdint>

#include "selfsup/isa.h"
#include "selfsup/tensor_view.h"

namespace selfsup {

// AdamW (torch.optim.AdamW semantics; see lib/optim/adamw.ts for the formula).
struct AdamWTensor {
  void* w = nullptr;
  const void* g = nullptr;
  void* m = nullptr;
  void* v = nullptr;
  void* vmax = nullptr;  // amsgrad only
  int64_t n = 0;
  double step_size = 0;  // lr / (1 - b1^t)
  double sqrt_bc2 = 1;   // sqrt(1 - b2^t)
};
struct AdamWHyper {
  double b1 = 0.9, b2 = 0.999, eps = 1e-8, decay = 1, sign = 1;
};

// SGD with momentum / dampening / nesterov / weight decay (torch.optim.SGD; lib/optim/sgd.ts).
struct SGDTensor {
  void* w = nullptr;
  const void* g = nullptr;
  void* buf = nullptr;  // momentum buffer (null when momentum is 0)
  int64_t n = 0;
  bool first = false;   // the buffer is initialized with the first gradient
};
struct SGDHyper {
  double lr = 0, momentum = 0, dampening = 0, wd = 0, sign = 1;
  bool nesterov = false;
};

}  // namespace selfsup

SELFSUP_ISA_DECLARE(void, adamw_step,
                    (::selfsup::DType dt, const ::selfsup::AdamWHyper& h,
                     const ::selfsup::AdamWTensor* ts, int64_t count))
SELFSUP_ISA_DECLARE(void, sgd_step,
                    (::selfsup::DType dt, const ::selfsup::SGDHyper& h,
                     const ::selfsup::SGDTensor* ts, int64_t count))
