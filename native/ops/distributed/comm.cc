// MPI at run time: dlopen + dlsym, one comm thread, a watchdog. See comm.h.
#include "ops/distributed/comm.h"

#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace selfsup {
namespace dist {
namespace {

constexpr int kThreadFunneled = 1;  // MPI_THREAD_FUNNELED in both ABIs (MPI standard order)

// The slice of MPI used here, for one handle type H: Open MPI passes pointers to its exported
// predefined objects (mpi.h: MPI_COMM_WORLD = &ompi_mpi_comm_world), MPICH passes int constants
// (mpi.h: MPI_COMM_WORLD = 0x44000000). The functions have the same C signatures otherwise.
template <typename H>
struct Api {
  int (*Init_thread)(int*, char***, int, int*) = nullptr;
  int (*Comm_rank)(H, int*) = nullptr;
  int (*Comm_size)(H, int*) = nullptr;
  int (*Comm_set_errhandler)(H, H) = nullptr;
  int (*Allreduce)(const void*, void*, int, H, H, H) = nullptr;
  int (*Allgather)(const void*, int, H, void*, int, H, H) = nullptr;
  int (*Reduce_scatter_block)(const void*, void*, int, H, H, H) = nullptr;
  int (*Bcast)(void*, int, H, int, H) = nullptr;
  int (*Reduce)(const void*, void*, int, H, H, int, H) = nullptr;
  int (*Barrier)(H) = nullptr;
  int (*Finalize)() = nullptr;
  int (*Error_string)(int, char*, int*) = nullptr;
  H comm_world{}, errors_return{}, f32{}, f64{}, i32{}, sum{}, max{}, min{};
  void* in_place = nullptr;
};

struct Lib {
  void* handle = nullptr;
  bool ompi = false;
  Api<void*> o;  // Open MPI
  Api<int> m;    // MPICH ABI (MPICH, Intel MPI, MVAPICH, Cray MPICH)
};

Lib g_lib;
WorldInfo g_world;
const DeviceTransport* g_device = nullptr;  // set once at init, before any collective
std::atomic<bool> g_initialized{false};
std::atomic<bool> g_finalized{false};

// Queue and comm thread.
std::mutex g_mu;
std::condition_variable g_cv;
std::deque<Job> g_queue;
bool g_stop = false;
std::thread* g_thread = nullptr;  // never joined at exit: a thread stuck in MPI must not block exit

// Watchdog state (written by the comm thread, read by the watchdog).
std::mutex g_wd_mu;
std::condition_variable g_wd_cv;
std::string g_wd_what;
std::chrono::steady_clock::time_point g_wd_since;
bool g_wd_busy = false;
double g_timeout_s = 600;

template <typename F>
bool Sym(void* h, const char* name, F* out) {
  *out = reinterpret_cast<F>(dlsym(h, name));
  return *out != nullptr;
}

std::string MpiError(const char* fn, int rc) {
  char buf[512] = {0};
  int len = 0;
  if (g_lib.ompi ? g_lib.o.Error_string : g_lib.m.Error_string) {
    (g_lib.ompi ? g_lib.o.Error_string : g_lib.m.Error_string)(rc, buf, &len);
  }
  return std::string(fn) + " failed on rank " + std::to_string(g_world.rank) + " (error " + std::to_string(rc) +
         (buf[0] ? ": " + std::string(buf, static_cast<size_t>(std::max(0, len))) : std::string()) +
         "); a peer process may have died";
}

// Candidate sonames: the launcher's own implementation first (mpirun exports OMPI_* for Open MPI,
// Hydra's mpiexec exports PMI_* / MPI_LOCALNRANKS for MPICH), then both.
std::vector<std::string> Candidates() {
  const bool ompi_env = std::getenv("OMPI_COMM_WORLD_SIZE") != nullptr;
  std::vector<std::string> ompi = {"libmpi.so.40", "libmpi.so.80"};
  std::vector<std::string> mpich = {"libmpich.so.12", "libmpi.so.12"};
  std::vector<std::string> out = ompi_env ? ompi : mpich;
  for (const auto& s : ompi_env ? mpich : ompi) out.push_back(s);
  out.push_back("libmpi.so");
  return out;
}

template <typename H>
bool Resolve(void* h, Api<H>* a) {
  return Sym(h, "MPI_Init_thread", &a->Init_thread) && Sym(h, "MPI_Comm_rank", &a->Comm_rank) &&
         Sym(h, "MPI_Comm_size", &a->Comm_size) && Sym(h, "MPI_Comm_set_errhandler", &a->Comm_set_errhandler) &&
         Sym(h, "MPI_Allreduce", &a->Allreduce) && Sym(h, "MPI_Allgather", &a->Allgather) &&
         Sym(h, "MPI_Reduce_scatter_block", &a->Reduce_scatter_block) && Sym(h, "MPI_Bcast", &a->Bcast) &&
         Sym(h, "MPI_Reduce", &a->Reduce) && Sym(h, "MPI_Barrier", &a->Barrier) &&
         Sym(h, "MPI_Finalize", &a->Finalize) && Sym(h, "MPI_Error_string", &a->Error_string);
}

Status Load(const InitOptions& o) {
  std::vector<std::string> tried;
  std::string errors;
  const std::vector<std::string> names = o.library.empty() ? Candidates() : std::vector<std::string>{o.library};
  for (const auto& name : names) {
    // RTLD_GLOBAL: Open MPI's plugins (mca_*.so) resolve libmpi's symbols from the global scope.
    void* h = dlopen(name.c_str(), RTLD_NOW | RTLD_GLOBAL);
    tried.push_back(name);
    if (!h) {
      const char* e = dlerror();
      errors += std::string("\n  ") + (e ? e : name);
      continue;
    }
    g_lib.handle = h;
    g_world.library = name;
    break;
  }
  if (!g_lib.handle) {
    std::string list;
    for (const auto& t : tried) list += (list.empty() ? "" : ", ") + t;
    return Status::Unsupported(
        "Expected an MPI library (Open MPI or MPICH) for distributed.init() but received none loadable; searched " +
        list + " (set SELFSUP_MPI_LIB to its path, or install openmpi-bin libopenmpi-dev / mpich):" + errors);
  }
  void* h = g_lib.handle;
  // Open MPI exports its predefined handles as globals; their presence is the ABI test.
  void* world = dlsym(h, "ompi_mpi_comm_world");
  if (world) {
    g_lib.ompi = true;
    Api<void*>& a = g_lib.o;
    if (!Resolve(h, &a)) return Status::Unsupported("Expected the MPI-3 functions in " + g_world.library + " but some are missing");
    a.comm_world = world;
    a.errors_return = dlsym(h, "ompi_mpi_errors_return");
    a.f32 = dlsym(h, "ompi_mpi_float");
    a.f64 = dlsym(h, "ompi_mpi_double");
    a.i32 = dlsym(h, "ompi_mpi_int");
    a.sum = dlsym(h, "ompi_mpi_op_sum");
    a.max = dlsym(h, "ompi_mpi_op_max");
    a.min = dlsym(h, "ompi_mpi_op_min");
    a.in_place = reinterpret_cast<void*>(1);  // Open MPI mpi.h: MPI_IN_PLACE ((void *) 1)
    if (!a.errors_return || !a.f32 || !a.f64 || !a.i32 || !a.sum || !a.max || !a.min) {
      return Status::Unsupported("Expected Open MPI's predefined handles in " + g_world.library + " but some are missing");
    }
    g_world.abi = "openmpi";
  } else {
    Api<int>& a = g_lib.m;
    if (!Resolve(h, &a)) return Status::Unsupported("Expected the MPI-3 functions in " + g_world.library + " but some are missing");
    // MPICH mpi.h constants (stable across MPICH 3.x/4.x and the MPICH ABI initiative).
    a.comm_world = 0x44000000;
    a.errors_return = 0x54000001;
    a.f32 = 0x4c00040a;
    a.f64 = 0x4c00080b;
    a.i32 = 0x4c000405;
    a.max = 0x58000001;
    a.min = 0x58000002;
    a.sum = 0x58000003;
    a.in_place = reinterpret_cast<void*>(-1);  // MPICH mpi.h: MPI_IN_PLACE (void *) -1
    g_world.abi = "mpich";
  }
  int (*ver)(char*, int*) = nullptr;
  if (Sym(h, "MPI_Get_library_version", &ver)) {
    std::vector<char> buf(8192, 0);
    int len = 0;
    if (ver(buf.data(), &len) == 0) {
      std::string s(buf.data(), static_cast<size_t>(std::max(0, std::min(len, 8191))));
      s = s.substr(0, s.find('\0'));
      g_world.version = s.substr(0, s.find('\n'));
    }
  }
  if (g_world.abi == "mpich" && g_world.version.find("Open MPI") != std::string::npos) {
    return Status::Unsupported("Expected the ompi_mpi_comm_world symbol in Open MPI library " + g_world.library + " but it is missing");
  }
  return Status::Ok();
}

// Dispatches to the loaded ABI: f(api) with api = Api<void*> or Api<int>.
template <typename F>
int WithApi(F&& f) {
  return g_lib.ompi ? f(g_lib.o) : f(g_lib.m);
}

template <typename A>
auto DtypeOf(const A& a, DType dt) -> decltype(a.f32) {
  return dt == DType::kFloat64 ? a.f64 : dt == DType::kInt32 ? a.i32 : a.f32;
}
template <typename A>
auto OpOf(const A& a, ReduceOp op) -> decltype(a.sum) {
  return op == ReduceOp::kMax ? a.max : op == ReduceOp::kMin ? a.min : a.sum;
}

size_t ElemSize(DType dt) { return dt == DType::kFloat64 ? 8 : 4; }

// MPI counts are int: element-wise collectives go in chunks of at most INT_MAX elements.
template <typename F>
Status Chunked(const char* fn, int64_t n, DType dt, void* buf, F&& call) {
  const int64_t step = INT_MAX;
  int64_t off = 0;
  do {  // n == 0 still makes one (empty) call: every rank takes part in every collective
    const int cnt = static_cast<int>(std::min<int64_t>(step, n - off));
    const int rc = call(static_cast<char*>(buf) + off * static_cast<int64_t>(ElemSize(dt)), cnt);
    if (rc != 0) return Status::Internal(MpiError(fn, rc));
    off += cnt;
  } while (off < n);
  return Status::Ok();
}

void Scale(void* buf, int64_t n, DType dt, double s) {
  if (dt == DType::kFloat64) {
    double* p = static_cast<double*>(buf);
    for (int64_t i = 0; i < n; ++i) p[i] *= s;
  } else if (dt == DType::kFloat32) {
    float* p = static_cast<float*>(buf);
    const float sf = static_cast<float>(s);
    for (int64_t i = 0; i < n; ++i) p[i] *= sf;
  }
}

void CommLoop(std::promise<Status>* ready) {
  int provided = 0;
  int rc = WithApi([&](auto& a) {
    int r = a.Init_thread(nullptr, nullptr, kThreadFunneled, &provided);
    if (r != 0) return r;
    a.Comm_set_errhandler(a.comm_world, a.errors_return);  // errors return codes, not abort
    a.Comm_rank(a.comm_world, &g_world.rank);
    return a.Comm_size(a.comm_world, &g_world.size);
  });
  if (rc != 0) {
    ready->set_value(Status::Internal("MPI_Init_thread failed (error " + std::to_string(rc) + ") in " + g_world.library));
    return;
  }
  // A failure after MPI_Init finalizes MPI (the launcher reports a process that exits without
  // MPI_Finalize as failed) and leaves the process group unusable (MPI cannot start twice).
  auto fail = [&](Status s) {
    WithApi([](auto& a) { return a.Finalize(); });
    g_finalized.store(true);
    ready->set_value(std::move(s));
  };
  if (provided < kThreadFunneled) {
    fail(Status::Unsupported("Expected MPI_THREAD_FUNNELED support from " + g_world.library +
                             " but received thread level " + std::to_string(provided)));
    return;
  }
  if (g_device) {
    // The device transport's bootstrap (NCCL's unique id) goes from rank 0 to all over MPI.
    Status ds = g_device->init(g_world.rank, g_world.size, [](void* bytes, int64_t n) { return broadcast(bytes, n / 4, DType::kInt32, 0); });
    if (!ds.ok()) {
      fail(ds);
      return;
    }
    g_world.transport = g_device->name;
  }
  ready->set_value(Status::Ok());
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lk(g_mu);
      g_cv.wait(lk, [] { return g_stop || !g_queue.empty(); });
      if (g_queue.empty()) return;  // stopped and drained
      job = std::move(g_queue.front());
      g_queue.pop_front();
    }
    {
      std::lock_guard<std::mutex> lk(g_wd_mu);
      g_wd_what = job.what;
      g_wd_since = std::chrono::steady_clock::now();
      // MPI_Finalize waits for ranks still at work (rank 0 evaluating, say): not a stall.
      g_wd_busy = job.what != "finalize";
    }
    Status s;
    try {
      s = job.run();
    } catch (const std::exception& e) {
      s = Status::Internal(e.what());
    }
    {
      std::lock_guard<std::mutex> lk(g_wd_mu);
      g_wd_busy = false;
    }
    if (job.done) job.done(s);
  }
}

// A collective that never completes means a peer died or stopped calling collectives; MPI offers
// no way to cancel it, so (like PyTorch's NCCL watchdog) the process reports it and exits, and the
// launcher then takes the job down. Without this a lost peer on a shared-memory transport hangs.
void Watchdog() {
  std::unique_lock<std::mutex> lk(g_wd_mu);
  for (;;) {
    g_wd_cv.wait_for(lk, std::chrono::milliseconds(200));
    if (g_finalized.load()) return;
    if (!g_wd_busy || g_timeout_s <= 0) continue;
    const double busy = std::chrono::duration<double>(std::chrono::steady_clock::now() - g_wd_since).count();
    if (busy > g_timeout_s) {
      std::fprintf(stderr,
                   "selfsup.distributed: rank %d of %d: %s did not complete within %g s (SELFSUP_DIST_TIMEOUT); "
                   "a peer process died or stopped calling collectives. Exiting.\n",
                   g_world.rank, g_world.size, g_wd_what.c_str(), g_timeout_s);
      std::fflush(stderr);
      std::_Exit(3);
    }
  }
}

}  // namespace

Status init(const InitOptions& o, WorldInfo* out) {
  static std::mutex init_mu;
  std::lock_guard<std::mutex> lk(init_mu);
  if (g_finalized.load()) return Status::Unsupported("Expected distributed.init() before finalize() but received a finalized process group (MPI cannot be re-initialized)");
  if (g_initialized.load()) {
    *out = g_world;
    return Status::Ok();
  }
  if (!g_lib.handle) SELFSUP_RETURN_IF_ERROR(Load(o));
  g_timeout_s = o.timeout_s;
  g_device = o.device;
  std::promise<Status> ready;
  auto fut = ready.get_future();
  g_thread = new std::thread(CommLoop, &ready);
  Status s = fut.get();
  if (!s.ok()) {
    g_thread->join();
    delete g_thread;
    g_thread = nullptr;
    return s;
  }
  g_thread->detach();
  std::thread(Watchdog).detach();
  g_initialized.store(true);
  *out = g_world;
  return Status::Ok();
}

bool initialized() { return g_initialized.load() && !g_finalized.load(); }
const WorldInfo& world() { return g_world; }

Status submit(Job job) {
  std::lock_guard<std::mutex> lk(g_mu);
  if (!g_initialized.load() || g_stop) {
    return Status::Unsupported(std::string("Expected an initialized process group for ") + job.what +
                               " but received " + (g_stop ? "a finalized one" : "none (call distributed.init() first)"));
  }
  g_queue.push_back(std::move(job));
  g_cv.notify_one();
  return Status::Ok();
}

Status run_sync(std::string what, std::function<Status()> run) {
  auto p = std::make_shared<std::promise<Status>>();
  auto fut = p->get_future();
  SELFSUP_RETURN_IF_ERROR(submit({std::move(what), std::move(run), [p](Status s) { p->set_value(std::move(s)); }}));
  return fut.get();
}

Status all_reduce(void* buf, int64_t n, DType dt, ReduceOp op, bool average) {
  if (g_device) return g_device->all_reduce(buf, n, dt, op, average);
  Status s = Chunked("MPI_Allreduce", n, dt, buf, [&](void* p, int cnt) {
    return WithApi([&](auto& a) { return a.Allreduce(a.in_place, p, cnt, DtypeOf(a, dt), OpOf(a, op), a.comm_world); });
  });
  if (s.ok() && average) Scale(buf, n, dt, 1.0 / g_world.size);
  return s;
}

Status all_gather(const void* send, void* recv, int64_t n, DType dt) {
  if (g_device) return g_device->all_gather(send, recv, n, dt);
  if (n > INT_MAX) return Status::OutOfRange("Expected at most 2^31 - 1 elements per rank for allGather but received " + std::to_string(n));
  const int cnt = static_cast<int>(n);
  int rc = WithApi([&](auto& a) { return a.Allgather(send, cnt, DtypeOf(a, dt), recv, cnt, DtypeOf(a, dt), a.comm_world); });
  return rc == 0 ? Status::Ok() : Status::Internal(MpiError("MPI_Allgather", rc));
}

Status reduce_scatter(const void* send, void* recv, int64_t n, DType dt, ReduceOp op) {
  if (g_device) return g_device->reduce_scatter(send, recv, n, dt, op);
  if (n > INT_MAX) return Status::OutOfRange("Expected at most 2^31 - 1 elements per rank for reduceScatter but received " + std::to_string(n));
  const int cnt = static_cast<int>(n);
  int rc = WithApi([&](auto& a) { return a.Reduce_scatter_block(send, recv, cnt, DtypeOf(a, dt), OpOf(a, op), a.comm_world); });
  return rc == 0 ? Status::Ok() : Status::Internal(MpiError("MPI_Reduce_scatter_block", rc));
}

Status broadcast(void* buf, int64_t n, DType dt, int root) {
  if (g_device && g_initialized.load()) return g_device->broadcast(buf, n, dt, root);
  return Chunked("MPI_Bcast", n, dt, buf, [&](void* p, int cnt) {
    return WithApi([&](auto& a) { return a.Bcast(p, cnt, DtypeOf(a, dt), root, a.comm_world); });
  });
}

Status reduce(void* buf, int64_t n, DType dt, ReduceOp op, int root) {
  if (g_device) return g_device->reduce(buf, n, dt, op, root);
  const bool me = g_world.rank == root;
  return Chunked("MPI_Reduce", n, dt, buf, [&](void* p, int cnt) {
    // The root reduces in place; the others send their buffer (left unchanged).
    return WithApi([&](auto& a) {
      return a.Reduce(me ? a.in_place : p, me ? p : nullptr, cnt, DtypeOf(a, dt), OpOf(a, op), root, a.comm_world);
    });
  });
}

Status barrier() {
  int rc = WithApi([&](auto& a) { return a.Barrier(a.comm_world); });
  return rc == 0 ? Status::Ok() : Status::Internal(MpiError("MPI_Barrier", rc));
}

Status finalize() {
  if (!g_initialized.load() || g_finalized.load()) return Status::Ok();
  Status s = run_sync("finalize", [] {
    if (g_device) g_device->finalize();
    int rc = WithApi([&](auto& a) { return a.Finalize(); });
    return rc == 0 ? Status::Ok() : Status::Internal(MpiError("MPI_Finalize", rc));
  });
  {
    std::lock_guard<std::mutex> lk(g_mu);
    g_stop = true;
    g_cv.notify_one();
  }
  g_finalized.store(true);
  g_wd_cv.notify_one();
  return s;
}

}  // namespace dist
}  // namespace selfsup
