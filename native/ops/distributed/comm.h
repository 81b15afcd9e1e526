// Process-group collectives over an MPI library found at run time (dlopen), driven by one
// dedicated communication thread. No mpi.h is included anywhere: the addon builds and loads on a
// machine without MPI, and the two MPI ABIs in use (Open MPI: handles are addresses of exported
// globals; MPICH and its derivatives: handles are integer constants) are declared in comm.cc.
//
// Threading: init() starts the thread, which calls MPI_Init_thread(MPI_THREAD_FUNNELED) itself;
// every MPI call after that runs on it, in submission order (collectives must be issued in the
// same order on every rank). submit() never blocks on MPI; the caller waits (sync form) or is
// called back on the comm thread (async form).
#pragma once
#include <cstdint>
#include <functional>
#include <string>

#include "selfsup/status.h"
#include "selfsup/tensor_view.h"

namespace selfsup {
namespace dist {

enum class ReduceOp { kSum, kMax, kMin };

// A device transport (NCCL, native/cuda/nccl.cu, in CUDA builds) that moves the collectives'
// data instead of MPI; MPI still starts the job, gives rank and size, runs barrier() and
// broadcasts the transport's bootstrap bytes. Every function runs on the comm thread.
struct DeviceTransport {
  const char* name;
  // bcast(bytes, n) broadcasts n bytes (a multiple of 4) from rank 0 over MPI.
  Status (*init)(int rank, int size, const std::function<Status(void*, int64_t)>& bcast);
  Status (*all_reduce)(void* buf, int64_t n, DType dt, ReduceOp op, bool average);
  Status (*all_gather)(const void* send, void* recv, int64_t n, DType dt);
  Status (*reduce_scatter)(const void* send, void* recv, int64_t n, DType dt, ReduceOp op);
  Status (*broadcast)(void* buf, int64_t n, DType dt, int root);
  Status (*reduce)(void* buf, int64_t n, DType dt, ReduceOp op, int root);
  void (*finalize)();
};

struct InitOptions {
  std::string library;     // explicit libmpi path (SELFSUP_MPI_LIB), or "" to search
  double timeout_s = 600;  // watchdog: a collective running longer ends the process; 0 = never
  const DeviceTransport* device = nullptr;  // NCCL in CUDA builds, else MPI moves the data
};

struct WorldInfo {
  int rank = 0;
  int size = 1;
  std::string library;  // the path or soname that was loaded
  std::string abi;      // "openmpi" or "mpich"
  std::string version;  // MPI_Get_library_version, first line
  std::string transport = "mpi";  // or the device transport's name ("nccl")
};

// Loads MPI, starts the comm thread and initializes MPI on it (idempotent). Blocks until done.
Status init(const InitOptions& o, WorldInfo* out);
bool initialized();
const WorldInfo& world();

// A collective, run later on the comm thread. Buffers must stay valid until `done` is called.
struct Job {
  std::string what;                  // for the watchdog's message, e.g. "allReduce of 1024 float32"
  std::function<Status()> run;       // runs on the comm thread
  std::function<void(Status)> done;  // called on the comm thread after run
};
// Queues a job; a Status error when not initialized or already finalized.
Status submit(Job job);
// Submits and waits (for the sync API).
Status run_sync(std::string what, std::function<Status()> run);

// The collectives themselves (call only from a Job's run, i.e. on the comm thread). In place
// where the buffer is one array; counts are elements. average divides the sum by the world size.
Status all_reduce(void* buf, int64_t n, DType dt, ReduceOp op, bool average);
Status all_gather(const void* send, void* recv, int64_t n, DType dt);       // recv: size * n
Status reduce_scatter(const void* send, void* recv, int64_t n, DType dt, ReduceOp op);  // send: size * n
Status broadcast(void* buf, int64_t n, DType dt, int root);
Status reduce(void* buf, int64_t n, DType dt, ReduceOp op, int root);  // result in place on root
Status barrier();

// MPI_Finalize on the comm thread, then the thread ends. Further submits fail.
Status finalize();

}  // namespace dist
}  // namespace selfsup
