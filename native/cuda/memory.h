// Device memory for CUDA tensors: one stream per device, a caching allocator, host<->device
// copies. Compiled only in the CUDA build (nvcc); this header has no CUDA types so the N-API
// sources (g++) can include it. Every function reports failure through a Status; none aborts.
//
// Allocator (the design of PyTorch's CUDACachingAllocator, c10/cuda/CUDACachingAllocator.cpp,
// reduced to what one stream per device needs): requests are rounded up to a size class (512 B
// steps below 1 MiB, 2 MiB steps above), a freed block goes to its device's free list for that
// class, and the next request of the class takes it without a cudaMalloc. Reuse is stream-ordered:
// every kernel and copy of a device runs on that device's one stream, so work enqueued after the
// free can only start once the work that last used the block has finished. emptyCache() returns
// the free lists to the driver.
#pragma once
#include <cstddef>
#include <cstdint>

#include "selfsup/status.h"

namespace selfsup {
namespace cuda {

struct Block {
  void* ptr = nullptr;
  size_t size = 0;  // the size class (bytes reserved), >= the request
  int device = 0;
};

struct MemoryStats {
  int64_t allocated = 0;       // bytes in blocks handed out (size classes)
  int64_t reserved = 0;        // allocated + cached free blocks
  int64_t peak_allocated = 0;  // high-water mark of `allocated`
  int64_t num_mallocs = 0;     // cudaMalloc calls made
  int64_t num_frees = 0;       // cudaFree calls made (emptyCache, out-of-memory retries)
  int64_t cache_hits = 0;      // requests served from a free list
};

// The size class of a request of `bytes` (0 bytes -> 512: every buffer has a distinct address).
size_t size_class(size_t bytes);
// The stream of `device` (a cudaStream_t), created on first use (non-blocking).
Status stream(int device, void** out);
// A block of at least `bytes` on `device`, from the cache or cudaMalloc (on out-of-memory the
// cache is emptied and the cudaMalloc retried once).
Status alloc(int device, size_t bytes, Block* out);
// Returns a block to its free list (never fails; a null block is ignored).
void release(const Block& b);
// cudaFree of every cached free block (blocks in use stay).
Status empty_cache();
MemoryStats memory_stats();

// Synchronous copies on the device's stream (they return when the copy is done).
Status upload(const Block& dst, const void* host, size_t bytes);
Status download(void* host, const Block& src, size_t bytes);
// Device-to-device copy of `bytes` (enqueued on the stream; does not wait).
Status copy_device(const Block& dst, const Block& src, size_t bytes);
// Waits for all work enqueued on the device's stream.
Status synchronize(int device);

// Asynchronous download: begin enqueues the copy into pinned staging memory and records an
// event; wait (meant for a libuv worker thread) blocks on that event, copies into `host` and
// frees the staging memory. abort frees it without copying (begin failed later or was dropped).
struct PendingDownload {
  void* pinned = nullptr;
  void* event = nullptr;
  size_t bytes = 0;
  int device = 0;
};
Status download_begin(const Block& src, size_t bytes, PendingDownload* out);
Status download_wait(PendingDownload* d, void* host);
void download_abort(PendingDownload* d);

// Maps a cudaError_t (as int) to a Status naming `what`; no-device errors are kNoDevice.
Status from_cuda(int err, const char* what);
// cudaGetLastError after a launch, as a Status naming the kernel.
Status check_launch(const char* kernel);

}  // namespace cuda
}  // namespace selfsup
