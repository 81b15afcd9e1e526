// Collectives over MPI (native/ops/distributed): every function has a sync form, which queues the
// collective on the comm thread and waits, and an `...Async` form, which queues it and returns a
// Promise settled from the comm thread through a thread-safe function. Both work in place on the
// caller's typed arrays; the async form keeps them reachable until the promise settles.
//   distInit({ library?, timeout?, nccl? }) -> { rank, size, library, abi, version, transport }
//   distAllReduce(buf, { op, average })         distAllGather(send, recv)
//   distReduceScatter(send, recv, { op })       distBroadcast(buf, { root })
//   distReduce(buf, { op, root })               distBarrier()       distFinalize()
#include <cstdint>
#include <string>
#include <vector>

#include "napi/convert.h"
#include "napi/register.h"
#include "ops/distributed/comm.h"
#ifdef SELFSUP_CUDA
#include "cuda/nccl.h"
#endif

namespace selfsup {
namespace napi {
namespace {

const std::initializer_list<DType> kTypes = {DType::kFloat32, DType::kFloat64, DType::kInt32};

const char* TypeName(DType dt) { return dt == DType::kFloat64 ? "float64" : dt == DType::kInt32 ? "int32" : "float32"; }

dist::ReduceOp GetOp(const Napi::Object& o) {
  Napi::Value v = o.Get("op");
  const std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  if (s == "sum") return dist::ReduceOp::kSum;
  if (s == "max") return dist::ReduceOp::kMax;
  if (s == "min") return dist::ReduceOp::kMin;
  ThrowType(o.Env(), "'sum', 'max' or 'min'", "options.op", Describe(v));
}

int GetRoot(const Napi::Object& o) {
  return static_cast<int>(GetIntProp(o, "root", 0, dist::world().size - 1));
}

void CheckNoAlias(Napi::Env env, const ArrayArg& a, const ArrayArg& b, const char* name) {
  const auto* a0 = static_cast<const char*>(a.data);
  const auto* b0 = static_cast<const char*>(b.data);
  const int64_t an = a.length * static_cast<int64_t>(dtype_size(a.dtype)), bn = b.length * static_cast<int64_t>(dtype_size(b.dtype));
  if (a0 < b0 + bn && b0 < a0 + an) ThrowType(env, "an output array that does not overlap the input", name, "an overlapping view of the same buffer");
}

struct Pending {
  Napi::Promise::Deferred deferred;
  std::vector<Napi::Reference<Napi::Value>> keep;  // the arrays in flight stay reachable
  Status status;
};

// Runs `run` on the comm thread: now (sync, the caller's thread waits) or as a Promise.
Napi::Value Launch(const Napi::CallbackInfo& info, bool async, std::string what, std::function<Status()> run) {
  Napi::Env env = info.Env();
  if (!async) {
    Status s = dist::run_sync(std::move(what), std::move(run));
    ThrowIfError(env, s);
    return env.Undefined();
  }
  auto* p = new Pending{Napi::Promise::Deferred::New(env), {}, {}};
  for (size_t i = 0; i < info.Length(); ++i) {
    if (info[i].IsTypedArray()) p->keep.push_back(Napi::Persistent(info[i]));
  }
  Napi::Promise promise = p->deferred.Promise();
  auto tsfn = Napi::ThreadSafeFunction::New(env, Napi::Function::New(env, [](const Napi::CallbackInfo&) {}),
                                            "selfsup.distributed", 0, 1);
  Status s = dist::submit({std::move(what), std::move(run), [p, tsfn](Status st) mutable {
                             p->status = std::move(st);
                             tsfn.BlockingCall(p, [](Napi::Env e, Napi::Function, Pending* q) {
                               if (q->status.ok()) q->deferred.Resolve(e.Undefined());
                               else q->deferred.Reject(StatusToError(e, q->status).Value());
                               delete q;  // releases the references, on the JS thread
                             });
                             tsfn.Release();
                           }});
  if (!s.ok()) {
    tsfn.Release();
    delete p;
    ThrowIfError(env, s);
  }
  return promise;
}

void RequireInit(Napi::Env env, const char* fn) {
  if (!dist::initialized()) {
    Napi::Error e = Napi::Error::New(env, std::string("Expected an initialized process group for ") + fn +
                                              " but received none (call distributed.init() first, or it was finalized)");
    e.Set("code", Napi::String::New(env, "ERR_UNSUPPORTED"));
    throw e;
  }
}

Napi::Value Init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = GetOptions(info, 0);
  dist::InitOptions io;
  if (HasProp(o, "library")) {
    Napi::Value v = o.Get("library");
    if (!v.IsString()) ThrowType(env, "a string (a path to libmpi)", "options.library", Describe(v));
    io.library = v.As<Napi::String>().Utf8Value();
  }
  if (HasProp(o, "timeout")) io.timeout_s = GetDoubleProp(o, "timeout");
  if (HasProp(o, "nccl") && GetBoolProp(o, "nccl")) {
#ifdef SELFSUP_CUDA
    io.device = cuda::nccl_transport();
#else
    ThrowIfError(env, Status::Unsupported("Expected a CUDA build of selfsup for init({ backend: 'nccl' }) but received a CPU-only addon "
                                          "(build one with `npm run build:cuda` and load it with SELFSUP_ADDON)"));
#endif
  }
  dist::WorldInfo w;
  ThrowIfError(env, dist::init(io, &w));
  Napi::Object r = Napi::Object::New(env);
  r.Set("rank", w.rank);
  r.Set("size", w.size);
  r.Set("library", w.library);
  r.Set("abi", w.abi);
  r.Set("version", w.version);
  r.Set("transport", w.transport);
  return r;
}

// A collective on one array, in place: `make(data, n, dtype, options)` is the comm-thread call.
template <bool Async>
Napi::Value InPlace(const Napi::CallbackInfo& info, const char* fn,
                    std::function<std::function<Status()>(void*, int64_t, DType, const Napi::Object&)> make) {
  RequireInit(info.Env(), fn);
  ArrayArg a = GetArray(info, 0, "tensor", kTypes);
  std::function<Status()> run = make(a.data, a.length, a.dtype, GetOptions(info, 1));
  return Launch(info, Async, std::string(fn) + " of " + std::to_string(a.length) + " " + TypeName(a.dtype), std::move(run));
}

template <bool Async>
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  return InPlace<Async>(info, "allReduce", [](void* d, int64_t n, DType dt, const Napi::Object& o) -> std::function<Status()> {
    const dist::ReduceOp op = GetOp(o);
    const bool avg = HasProp(o, "average") && GetBoolProp(o, "average");
    return [=] { return dist::all_reduce(d, n, dt, op, avg); };
  });
}

template <bool Async>
Napi::Value AllGather(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireInit(env, "allGather");
  ArrayArg s = GetArray(info, 0, "tensor", kTypes);
  ArrayArg r = GetArray(info, 1, "output", {s.dtype}, CheckedMul(env, {s.length, dist::world().size}, "output"));
  CheckNoAlias(env, s, r, "output");
  const void* sp = s.data;
  void* rp = r.data;
  const int64_t n = s.length;
  const DType dt = s.dtype;
  return Launch(info, Async, "allGather of " + std::to_string(n) + " " + TypeName(dt),
                [=] { return dist::all_gather(sp, rp, n, dt); });
}

template <bool Async>
Napi::Value ReduceScatter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  RequireInit(env, "reduceScatter");
  ArrayArg s = GetArray(info, 0, "tensor", kTypes);
  const int64_t size = dist::world().size;
  if (s.length % size != 0) {
    ThrowRange(env, "a length divisible by the world size " + std::to_string(size), "tensor", "length " + std::to_string(s.length));
  }
  ArrayArg r = GetArray(info, 1, "output", {s.dtype}, s.length / size);
  CheckNoAlias(env, s, r, "output");
  const dist::ReduceOp op = GetOp(GetOptions(info, 2));
  const void* sp = s.data;
  void* rp = r.data;
  const int64_t n = r.length;
  const DType dt = s.dtype;
  return Launch(info, Async, "reduceScatter of " + std::to_string(s.length) + " " + TypeName(dt),
                [=] { return dist::reduce_scatter(sp, rp, n, dt, op); });
}

template <bool Async>
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  return InPlace<Async>(info, "broadcast", [](void* d, int64_t n, DType dt, const Napi::Object& o) -> std::function<Status()> {
    const int root = GetRoot(o);
    return [=] { return dist::broadcast(d, n, dt, root); };
  });
}

template <bool Async>
Napi::Value Reduce(const Napi::CallbackInfo& info) {
  return InPlace<Async>(info, "reduce", [](void* d, int64_t n, DType dt, const Napi::Object& o) -> std::function<Status()> {
    const int root = GetRoot(o);
    const dist::ReduceOp op = GetOp(o);
    return [=] { return dist::reduce(d, n, dt, op, root); };
  });
}

template <bool Async>
Napi::Value Barrier(const Napi::CallbackInfo& info) {
  RequireInit(info.Env(), "barrier");
  return Launch(info, Async, "barrier", [] { return dist::barrier(); });
}

Napi::Value Finalize(const Napi::CallbackInfo& info) {
  ThrowIfError(info.Env(), dist::finalize());
  return info.Env().Undefined();
}

}  // namespace

void RegisterDistributed(Napi::Env env, Napi::Object exports) {
  ExportAll(env, exports, {{"distInit", Init}, {"distFinalize", Finalize},
                           {"distAllReduce", AllReduce<false>}, {"distAllReduceAsync", AllReduce<true>},
                           {"distAllGather", AllGather<false>}, {"distAllGatherAsync", AllGather<true>},
                           {"distReduceScatter", ReduceScatter<false>}, {"distReduceScatterAsync", ReduceScatter<true>},
                           {"distBroadcast", Broadcast<false>}, {"distBroadcastAsync", Broadcast<true>},
                           {"distReduce", Reduce<false>}, {"distReduceAsync", Reduce<true>},
                           {"distBarrier", Barrier<false>}, {"distBarrierAsync", Barrier<true>}});
}

}  // namespace napi
}  // namespace selfsup
