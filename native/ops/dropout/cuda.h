// The dropout keep mask on CUDA: keep[i] = 1 iff the uniform float32 at offset i of the Philox
// stream (seed, stream) is >= p, i.e. (word >> 8) 2^-24 >= p with the word of selfsup/philox.h:
// the CPU's mask (lib/ops/nn-functional.ts draws uniformFloat32(seed, 2, 0, n), bit-identical to
// philox_uniform) element for element. The op applies it with the device select.
#pragma once
#include <cstdint>

#include "selfsup/status.h"

struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;

namespace selfsup {

// keep: n bytes (bool) on the device. p in [0, 1]; seed < 2^64; offsets [0, n).
Status dropout_mask_cuda(uint64_t seed, uint32_t stream, double p, int64_t n, uint8_t* keep, cudaStream_t s);

}  // namespace selfsup
