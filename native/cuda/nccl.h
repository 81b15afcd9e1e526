// NCCL as the device transport of selfsup/distributed (CUDA builds only): see nccl.cu.
#pragma once
#include "ops/distributed/comm.h"

namespace selfsup {
namespace cuda {
const dist::DeviceTransport* nccl_transport();
}  // namespace cuda
}  // namespace selfsup
