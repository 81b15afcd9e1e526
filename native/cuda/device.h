// CUDA runtime queries, compiled only when SELFSUP_CUDA is on (nvcc). Without a GPU (or driver)
// every function reports "no CUDA device" through the Status; nothing aborts.
#pragma once
#include <string>
#include <vector>

#include "selfsup/status.h"

namespace selfsup {
namespace cuda {

struct DeviceInfo {
  std::string name;
  int major = 0, minor = 0;
  size_t memory_bytes = 0;
};

// Lists the devices; a non-ok Status (kNoDevice) says why there are none.
Status list_devices(std::vector<DeviceInfo>* out);
// A tiny kernel round trip (y = a*x + y) used by `selfsup info` to prove the device works.
Status smoke_test(float* max_abs_err);

}  // namespace cuda
}  // namespace selfsup
