// NCCL behind selfsup/distributed's collectives, in CUDA builds. libnccl.so.2 is opened at run
// time (dlopen; no nccl.h at build time, as for MPI): the types below are NCCL's C ABI (nccl.h,
// NCCL 2.x: ncclUniqueId is 128 bytes, the enums are stable). Tensors live in host memory today,
// so each collective stages its data through device buffers: host -> device, the NCCL call on one
// stream, device -> host. Each rank uses device (rank % device count). MPI bootstraps the
// communicator (rank 0's ncclGetUniqueId broadcast to all, then ncclCommInitRank).
#include "cuda/nccl.h"

#include <cuda_runtime.h>
#include <dlfcn.h>

#include <cstdlib>
#include <string>

namespace selfsup {
namespace cuda {
namespace {

using ncclComm_t = void*;
struct ncclUniqueId { char internal[128]; };
using ncclResult_t = int;
enum ncclDataType_t { ncclInt32 = 2, ncclFloat32 = 7, ncclFloat64 = 8 };
enum ncclRedOp_t { ncclSum = 0, ncclMax = 2, ncclMin = 3, ncclAvg = 4 };

struct Nccl {
  ncclResult_t (*GetUniqueId)(ncclUniqueId*) = nullptr;
  ncclResult_t (*CommInitRank)(ncclComm_t*, int, ncclUniqueId, int) = nullptr;
  ncclResult_t (*CommDestroy)(ncclComm_t) = nullptr;
  const char* (*GetErrorString)(ncclResult_t) = nullptr;
  ncclResult_t (*AllReduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*AllGather)(const void*, void*, size_t, ncclDataType_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*ReduceScatter)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Broadcast)(const void*, void*, size_t, ncclDataType_t, int, ncclComm_t, cudaStream_t) = nullptr;
  ncclResult_t (*Reduce)(const void*, void*, size_t, ncclDataType_t, ncclRedOp_t, int, ncclComm_t, cudaStream_t) = nullptr;
};

Nccl g;
ncclComm_t g_comm = nullptr;
cudaStream_t g_stream = nullptr;
int g_rank = 0, g_size = 1;
// Staging buffers on the device, grown on demand: a (input / in place) and b (output).
void* g_a = nullptr;
void* g_b = nullptr;
size_t g_a_bytes = 0, g_b_bytes = 0;

template <typename F>
bool Sym(void* h, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(h, name));
  return *out != nullptr;
}

Status Cuda(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::Ok();
  return (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver ? Status::NoDevice : Status::Internal)(
      std::string("NCCL transport: ") + what + ": " + cudaGetErrorString(e));
}

Status Check(ncclResult_t r, const char* what) {
  if (r == 0) return Status::Ok();
  return Status::Internal(std::string(what) + " failed on rank " + std::to_string(g_rank) + ": " + g.GetErrorString(r));
}

size_t Size(DType dt) { return dt == DType::kFloat64 ? 8 : 4; }
ncclDataType_t Type(DType dt) { return dt == DType::kFloat64 ? ncclFloat64 : dt == DType::kInt32 ? ncclInt32 : ncclFloat32; }
ncclRedOp_t Op(dist::ReduceOp op) { return op == dist::ReduceOp::kMax ? ncclMax : op == dist::ReduceOp::kMin ? ncclMin : ncclSum; }

Status Grow(void** p, size_t* have, size_t want) {
  if (want <= *have) return Status::Ok();
  if (*p) cudaFree(*p);
  *p = nullptr;
  *have = 0;
  SELFSUP_RETURN_IF_ERROR(Cuda(cudaMalloc(p, want), "cudaMalloc"));
  *have = want;
  return Status::Ok();
}

// Host `in` (in_bytes) -> device a; run(a, b) on the stream; device (out_dev ? b : a) -> host `out`.
template <typename F>
Status Staged(const void* in, size_t in_bytes, void* out, size_t out_bytes, bool out_of_place, F&& run) {
  SELFSUP_RETURN_IF_ERROR(Grow(&g_a, &g_a_bytes, in_bytes));
  if (out_of_place) SELFSUP_RETURN_IF_ERROR(Grow(&g_b, &g_b_bytes, out_bytes));
  SELFSUP_RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(g_a, in, in_bytes, cudaMemcpyHostToDevice, g_stream), "cudaMemcpyAsync"));
  SELFSUP_RETURN_IF_ERROR(run(g_a, out_of_place ? g_b : g_a));
  SELFSUP_RETURN_IF_ERROR(Cuda(cudaMemcpyAsync(out, out_of_place ? g_b : g_a, out_bytes, cudaMemcpyDeviceToHost, g_stream), "cudaMemcpyAsync"));
  return Cuda(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize");
}

Status Init(int rank, int size, const std::function<Status(void*, int64_t)>& bcast) {
  g_rank = rank;
  g_size = size;
  const char* lib = std::getenv("SELFSUP_NCCL_LIB");
  const std::string name = lib ? lib : "libnccl.so.2";
  void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!h) {
    const char* e = dlerror();
    return Status::Unsupported("Expected the NCCL library for init({ backend: 'nccl' }) but received none loadable; searched " + name +
                               " (set SELFSUP_NCCL_LIB to its path): " + (e ? e : ""));
  }
  if (!Sym(h, "ncclGetUniqueId", &g.GetUniqueId) || !Sym(h, "ncclCommInitRank", &g.CommInitRank) ||
      !Sym(h, "ncclCommDestroy", &g.CommDestroy) || !Sym(h, "ncclGetErrorString", &g.GetErrorString) ||
      !Sym(h, "ncclAllReduce", &g.AllReduce) || !Sym(h, "ncclAllGather", &g.AllGather) ||
      !Sym(h, "ncclReduceScatter", &g.ReduceScatter) || !Sym(h, "ncclBroadcast", &g.Broadcast) || !Sym(h, "ncclReduce", &g.Reduce)) {
    return Status::Unsupported("Expected the NCCL 2.x functions in " + name + " but some are missing");
  }
  int devices = 0;
  SELFSUP_RETURN_IF_ERROR(Cuda(cudaGetDeviceCount(&devices), "cudaGetDeviceCount"));
  if (devices == 0) return Status::NoDevice("NCCL transport: no CUDA device");
  SELFSUP_RETURN_IF_ERROR(Cuda(cudaSetDevice(rank % devices), "cudaSetDevice"));
  SELFSUP_RETURN_IF_ERROR(Cuda(cudaStreamCreate(&g_stream), "cudaStreamCreate"));
  ncclUniqueId id{};
  if (rank == 0) SELFSUP_RETURN_IF_ERROR(Check(g.GetUniqueId(&id), "ncclGetUniqueId"));
  SELFSUP_RETURN_IF_ERROR(bcast(&id, sizeof(id)));
  return Check(g.CommInitRank(&g_comm, size, id, rank), "ncclCommInitRank");
}

Status AllReduce(void* buf, int64_t n, DType dt, dist::ReduceOp op, bool average) {
  const size_t bytes = static_cast<size_t>(n) * Size(dt);
  return Staged(buf, bytes, buf, bytes, false, [&](void* a, void*) {
    return Check(g.AllReduce(a, a, static_cast<size_t>(n), Type(dt), average ? ncclAvg : Op(op), g_comm, g_stream), "ncclAllReduce");
  });
}

Status AllGather(const void* send, void* recv, int64_t n, DType dt) {
  const size_t bytes = static_cast<size_t>(n) * Size(dt);
  return Staged(send, bytes, recv, bytes * g_size, true, [&](void* a, void* b) {
    return Check(g.AllGather(a, b, static_cast<size_t>(n), Type(dt), g_comm, g_stream), "ncclAllGather");
  });
}

Status ReduceScatter(const void* send, void* recv, int64_t n, DType dt, dist::ReduceOp op) {
  const size_t bytes = static_cast<size_t>(n) * Size(dt);
  return Staged(send, bytes * g_size, recv, bytes, true, [&](void* a, void* b) {
    return Check(g.ReduceScatter(a, b, static_cast<size_t>(n), Type(dt), Op(op), g_comm, g_stream), "ncclReduceScatter");
  });
}

Status Broadcast(void* buf, int64_t n, DType dt, int root) {
  const size_t bytes = static_cast<size_t>(n) * Size(dt);
  return Staged(buf, bytes, buf, bytes, false, [&](void* a, void*) {
    return Check(g.Broadcast(a, a, static_cast<size_t>(n), Type(dt), root, g_comm, g_stream), "ncclBroadcast");
  });
}

Status Reduce(void* buf, int64_t n, DType dt, dist::ReduceOp op, int root) {
  const size_t bytes = static_cast<size_t>(n) * Size(dt);
  // Non-root ranks keep their buffer (MPI_Reduce semantics): copy back only on the root.
  Status s = Grow(&g_a, &g_a_bytes, bytes);
  if (s.ok()) s = Cuda(cudaMemcpyAsync(g_a, buf, bytes, cudaMemcpyHostToDevice, g_stream), "cudaMemcpyAsync");
  if (s.ok()) s = Check(g.Reduce(g_a, g_a, static_cast<size_t>(n), Type(dt), Op(op), root, g_comm, g_stream), "ncclReduce");
  if (s.ok() && g_rank == root) s = Cuda(cudaMemcpyAsync(buf, g_a, bytes, cudaMemcpyDeviceToHost, g_stream), "cudaMemcpyAsync");
  return s.ok() ? Cuda(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize") : s;
}

void Finalize() {
  if (g_comm) g.CommDestroy(g_comm);
  g_comm = nullptr;
  if (g_a) cudaFree(g_a);
  if (g_b) cudaFree(g_b);
  g_a = g_b = nullptr;
  g_a_bytes = g_b_bytes = 0;
}

const dist::DeviceTransport kNccl = {"nccl", Init, AllReduce, AllGather, ReduceScatter, Broadcast, Reduce, Finalize};

}  // namespace

const dist::DeviceTransport* nccl_transport() { return &kNccl; }

}  // namespace cuda
}  // namespace selfsup
