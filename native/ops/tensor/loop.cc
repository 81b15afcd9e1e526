// Loop coalescing for the tensor core (compiled once; the kernels in cpu.cc are per ISA).
#include "ops/tensor/params.h"

namespace selfsup {

bool make_loop(int nd, const int64_t* shape, const int64_t* const* strides, int nops, Loop* out) {
  Loop L;
  L.nops = nops;
  // Walk from the innermost dim outwards, building groups innermost-first, then reverse.
  int64_t gshape[kLoopDims];
  int64_t gstride[3][kLoopDims];
  int ng = 0;
  for (int d = nd - 1; d >= 0; d--) {
    const int64_t s = shape[d];
    if (s == 0) {  // empty: one zero-size dim says it all
      L.nd = 1;
      L.shape[0] = 0;
      for (int k = 0; k < nops; k++) L.stride[k][0] = 1;
      *out = L;
      return true;
    }
    if (s == 1) continue;
    bool merge = ng > 0;
    for (int k = 0; k < nops && merge; k++) merge = strides[k][d] == gstride[k][ng - 1] * gshape[ng - 1];
    if (merge) {
      gshape[ng - 1] *= s;
      continue;
    }
    if (ng == kLoopDims) return false;
    gshape[ng] = s;
    for (int k = 0; k < nops; k++) gstride[k][ng] = strides[k][d];
    ng++;
  }
  L.nd = ng;
  for (int i = 0; i < ng; i++) {
    L.shape[i] = gshape[ng - 1 - i];
    for (int k = 0; k < nops; k++) L.stride[k][i] = gstride[k][ng - 1 - i];
  }
  *out = L;
  return true;
}

}  // namespace selfsup
