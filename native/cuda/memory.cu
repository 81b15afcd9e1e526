#include "cuda/memory.h"

#include <cuda_runtime.h>

#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace selfsup {
namespace cuda {

Status from_cuda(int err, const char* what) {
  const auto e = static_cast<cudaError_t>(err);
  if (e == cudaSuccess) return Status::Ok();
  const std::string msg = std::string(what) + ": " + cudaGetErrorString(e);
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) return Status::NoDevice("no CUDA device (" + msg + ")");
  if (e == cudaErrorMemoryAllocation) return Status::OutOfRange("Expected a size that fits in device memory but received an allocation failure (" + msg + ")");
  return Status::Internal(msg);
}

Status check_launch(const char* kernel) {
  return from_cuda(cudaGetLastError(), kernel);
}

namespace {

constexpr size_t kSmallStep = 512;
constexpr size_t kSmallMax = size_t(1) << 20;
constexpr size_t kLargeStep = size_t(2) << 20;
constexpr int kMaxDevices = 64;

struct State {
  std::mutex mu;
  cudaStream_t streams[kMaxDevices] = {};
  // Free blocks per device, keyed by size class.
  std::map<size_t, std::vector<void*>> free_blocks[kMaxDevices];
  MemoryStats stats;
};
State& state() {
  static State* s = new State();  // never destroyed: finalizers may run during process exit
  return *s;
}

Status check_device(int device) {
  if (device < 0 || device >= kMaxDevices) return Status::OutOfRange("Expected a device index in [0, 63] for device but received " + std::to_string(device));
  return Status::Ok();
}

// Makes `device` current on this thread (the runtime's current device is per thread).
Status use(int device) {
  SELFSUP_RETURN_IF_ERROR(check_device(device));
  return from_cuda(cudaSetDevice(device), "cudaSetDevice");
}

cudaStream_t stream_of(const Block& b) {
  void* s = nullptr;
  return stream(b.device, &s).ok() ? static_cast<cudaStream_t>(s) : nullptr;
}

}  // namespace

size_t size_class(size_t bytes) {
  if (bytes == 0) return kSmallStep;
  if (bytes <= kSmallMax) return (bytes + kSmallStep - 1) / kSmallStep * kSmallStep;
  return (bytes + kLargeStep - 1) / kLargeStep * kLargeStep;
}

Status stream(int device, void** out) {
  SELFSUP_RETURN_IF_ERROR(check_device(device));
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  if (!st.streams[device]) {
    SELFSUP_RETURN_IF_ERROR(use(device));
    cudaStream_t s = nullptr;
    SELFSUP_RETURN_IF_ERROR(from_cuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreateWithFlags"));
    st.streams[device] = s;
  }
  *out = st.streams[device];
  return Status::Ok();
}

Status alloc(int device, size_t bytes, Block* out) {
  SELFSUP_RETURN_IF_ERROR(check_device(device));
  const size_t cls = size_class(bytes);
  State& st = state();
  {
    std::lock_guard<std::mutex> lock(st.mu);
    auto it = st.free_blocks[device].find(cls);
    if (it != st.free_blocks[device].end() && !it->second.empty()) {
      *out = Block{it->second.back(), cls, device};
      it->second.pop_back();
      st.stats.allocated += static_cast<int64_t>(cls);
      if (st.stats.allocated > st.stats.peak_allocated) st.stats.peak_allocated = st.stats.allocated;
      st.stats.cache_hits++;
      return Status::Ok();
    }
  }
  SELFSUP_RETURN_IF_ERROR(use(device));
  void* p = nullptr;
  cudaError_t e = cudaMalloc(&p, cls);
  if (e == cudaErrorMemoryAllocation) {
    cudaGetLastError();  // clear it, give the cache back to the driver, and try once more
    SELFSUP_RETURN_IF_ERROR(empty_cache());
    e = cudaMalloc(&p, cls);
  }
  SELFSUP_RETURN_IF_ERROR(from_cuda(e, ("cudaMalloc of " + std::to_string(cls) + " bytes").c_str()));
  std::lock_guard<std::mutex> lock(st.mu);
  st.stats.num_mallocs++;
  st.stats.allocated += static_cast<int64_t>(cls);
  st.stats.reserved += static_cast<int64_t>(cls);
  if (st.stats.allocated > st.stats.peak_allocated) st.stats.peak_allocated = st.stats.allocated;
  *out = Block{p, cls, device};
  return Status::Ok();
}

void release(const Block& b) {
  if (!b.ptr || check_device(b.device).code != Code::kOk) return;
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  st.free_blocks[b.device][b.size].push_back(b.ptr);
  st.stats.allocated -= static_cast<int64_t>(b.size);
}

Status empty_cache() {
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  Status first = Status::Ok();
  for (int d = 0; d < kMaxDevices; d++) {
    if (st.free_blocks[d].empty()) continue;
    // Pending work may still use a block freed a moment ago: wait for the stream first.
    if (st.streams[d]) {
      Status s = use(d);
      if (s.ok()) s = from_cuda(cudaStreamSynchronize(st.streams[d]), "cudaStreamSynchronize");
      if (!s.ok()) { if (first.ok()) first = s; continue; }
    }
    for (auto& kv : st.free_blocks[d]) {
      for (void* p : kv.second) {
        Status s = from_cuda(cudaFree(p), "cudaFree");
        if (!s.ok() && first.ok()) first = s;
        st.stats.num_frees++;
        st.stats.reserved -= static_cast<int64_t>(kv.first);
      }
    }
    st.free_blocks[d].clear();
  }
  return first;
}

MemoryStats memory_stats() {
  State& st = state();
  std::lock_guard<std::mutex> lock(st.mu);
  return st.stats;
}

namespace {
// A copy of `bytes` on b's stream that returns when it is done (b is the device side).
Status copy_sync(const Block& b, void* dst, const void* src, size_t bytes, cudaMemcpyKind kind, const char* what) {
  if (bytes > b.size) return Status::OutOfRange("Expected at most " + std::to_string(b.size) + " bytes for " + what + " but received " + std::to_string(bytes));
  if (bytes == 0) return Status::Ok();
  void* s = nullptr;
  SELFSUP_RETURN_IF_ERROR(stream(b.device, &s));
  SELFSUP_RETURN_IF_ERROR(use(b.device));
  auto cs = static_cast<cudaStream_t>(s);
  SELFSUP_RETURN_IF_ERROR(from_cuda(cudaMemcpyAsync(dst, src, bytes, kind, cs), (std::string("cudaMemcpyAsync (") + what + ")").c_str()));
  return from_cuda(cudaStreamSynchronize(cs), (std::string("cudaStreamSynchronize (") + what + ")").c_str());
}
}  // namespace

Status upload(const Block& dst, const void* host, size_t bytes) {
  return copy_sync(dst, dst.ptr, host, bytes, cudaMemcpyHostToDevice, "upload");
}

Status download(void* host, const Block& src, size_t bytes) {
  return copy_sync(src, host, src.ptr, bytes, cudaMemcpyDeviceToHost, "download");
}

Status copy_device(const Block& dst, const Block& src, size_t bytes) {
  if (bytes > dst.size || bytes > src.size) return Status::OutOfRange("Expected a copy inside both blocks but received " + std::to_string(bytes) + " bytes");
  if (bytes == 0) return Status::Ok();
  cudaStream_t cs = stream_of(dst);
  if (!cs) return Status::Internal("no stream for device " + std::to_string(dst.device));
  SELFSUP_RETURN_IF_ERROR(use(dst.device));
  return from_cuda(cudaMemcpyAsync(dst.ptr, src.ptr, bytes, cudaMemcpyDeviceToDevice, cs), "cudaMemcpyAsync (device to device)");
}

Status synchronize(int device) {
  void* s = nullptr;
  SELFSUP_RETURN_IF_ERROR(stream(device, &s));
  SELFSUP_RETURN_IF_ERROR(use(device));
  return from_cuda(cudaStreamSynchronize(static_cast<cudaStream_t>(s)), "cudaStreamSynchronize");
}

Status download_begin(const Block& src, size_t bytes, PendingDownload* out) {
  if (bytes > src.size) return Status::OutOfRange("Expected at most " + std::to_string(src.size) + " bytes for download but received " + std::to_string(bytes));
  *out = PendingDownload{};
  out->device = src.device;
  out->bytes = bytes;
  if (bytes == 0) return Status::Ok();
  void* s = nullptr;
  SELFSUP_RETURN_IF_ERROR(stream(src.device, &s));
  SELFSUP_RETURN_IF_ERROR(use(src.device));
  Status st = from_cuda(cudaMallocHost(&out->pinned, bytes), "cudaMallocHost (download staging)");
  cudaEvent_t ev = nullptr;
  if (st.ok()) st = from_cuda(cudaEventCreateWithFlags(&ev, cudaEventDisableTiming), "cudaEventCreateWithFlags");
  out->event = ev;
  auto cs = static_cast<cudaStream_t>(s);
  if (st.ok()) st = from_cuda(cudaMemcpyAsync(out->pinned, src.ptr, bytes, cudaMemcpyDeviceToHost, cs), "cudaMemcpyAsync (download)");
  if (st.ok()) st = from_cuda(cudaEventRecord(ev, cs), "cudaEventRecord");
  if (!st.ok()) download_abort(out);
  return st;
}

Status download_wait(PendingDownload* d, void* host) {
  if (d->bytes == 0) return Status::Ok();
  SELFSUP_RETURN_IF_ERROR(use(d->device));
  Status st = from_cuda(cudaEventSynchronize(static_cast<cudaEvent_t>(d->event)), "cudaEventSynchronize (download)");
  if (st.ok()) std::memcpy(host, d->pinned, d->bytes);
  download_abort(d);
  return st;
}

void download_abort(PendingDownload* d) {
  if (d->event) cudaEventDestroy(static_cast<cudaEvent_t>(d->event));
  if (d->pinned) cudaFreeHost(d->pinned);
  d->event = nullptr;
  d->pinned = nullptr;
}

}  // namespace cuda
}  // namespace selfsup
