// Package-level functions: ISA in use, thread count, machine probes, CUDA availability.
#include <cstdlib>

#include "cpu/probe.h"
#include "cpu/threadpool.h"
#include "napi/convert.h"
#include "napi/register.h"
#include "selfsup/isa.h"
#ifdef SELFSUP_CUDA
#include "cuda/device.h"
#endif

namespace selfsup {
namespace napi {

static Napi::Value Isa(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), isa_name(active_isa()));
}

static Napi::Value NumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), num_threads());
}

static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  int64_t n = GetInt(info, 0, "threads", 1, 1024);
  Guard(info.Env(), [&] { set_num_threads(static_cast<int>(n)); });
  return info.Env().Undefined();
}

// probe(threads, seconds) -> number, both arguments checked.
static Napi::Value Probe(const Napi::CallbackInfo& info, double (*probe)(int, double)) {
  int64_t t = GetInt(info, 0, "threads", 1, 1024);
  double s = GetDouble(info, 1, "seconds");
  if (s <= 0 || s > 10) ThrowRange(info.Env(), "a duration in (0, 10] seconds", "seconds", Describe(info[1]));
  double g = Guard(info.Env(), [&] { return probe(static_cast<int>(t), s); });
  return Napi::Number::New(info.Env(), g);
}

static Napi::Value PeakGflops(const Napi::CallbackInfo& info) { return Probe(info, measure_peak_gflops); }
static Napi::Value BandwidthGBs(const Napi::CallbackInfo& info) { return Probe(info, measure_bandwidth_gbs); }

static Napi::Value CudaInfo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  Napi::Array devs = Napi::Array::New(env);
#ifdef SELFSUP_CUDA
  o.Set("built", true);
  std::vector<cuda::DeviceInfo> list;
  Status s = cuda::list_devices(&list);
  if (!s.ok()) {
    o.Set("error", s.message);
  } else {
    for (size_t i = 0; i < list.size(); ++i) {
      Napi::Object d = Napi::Object::New(env);
      d.Set("name", list[i].name);
      d.Set("computeCapability", std::to_string(list[i].major) + "." + std::to_string(list[i].minor));
      d.Set("memoryBytes", static_cast<double>(list[i].memory_bytes));
      devs.Set(static_cast<uint32_t>(i), d);
    }
    float err = -1;
    Status st = cuda::smoke_test(&err);
    o.Set("smokeTest", st.ok() ? Napi::Value(Napi::Number::New(env, err)) : Napi::Value(Napi::String::New(env, st.message)));
  }
#else
  o.Set("built", false);
  // An installed package has no cmake-js: the rebuild is a source-checkout step.
  o.Set("error", "this addon was built without CUDA (CUDA builds are made from a source checkout of selfsup with `npm run build:cuda`, which needs nvcc and the dev dependencies)");
#endif
  o.Set("devices", devs);
  return o;
}

void RegisterCore(Napi::Env env, Napi::Object exports) {
  exports.Set("version", Napi::String::New(env, "0.1.0"));
  ExportAll(env, exports, {{"isa", Isa}, {"numThreads", NumThreads},
                           {"setNumThreads", SetNumThreads}, {"measurePeakGflops", PeakGflops},
                           {"measureBandwidthGBs", BandwidthGBs}, {"cudaInfo", CudaInfo}});
}

}  // namespace napi
}  // namespace selfsup
