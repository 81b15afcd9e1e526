// ISA variants: which ones this CPU supports, which one runs, and each one's FMA peak. Also the
// load-time check of SELFSUP_ISA: a variant the CPU cannot run is refused here, at require(),
// before any kernel could execute one of its instructions.
#include "cpu/probe.h"
#include "napi/convert.h"
#include "napi/register.h"
#include "selfsup/isa.h"

namespace selfsup {
namespace napi {

namespace {

bool parse_isa(const std::string& name, Isa* out) {
  for (int i = 0; i < kIsaCount; ++i) {
    if (name == isa_name(static_cast<Isa>(i))) {
      *out = static_cast<Isa>(i);
      return true;
    }
  }
  return false;
}

std::string supported_list() {
  std::string list;
  for (int i = kIsaCount - 1; i >= 0; --i) {
    if (!isa_supported(static_cast<Isa>(i))) continue;
    if (!list.empty()) list += ", ";
    list += isa_name(static_cast<Isa>(i));
  }
  return list;
}

// [{ name, supported, active, default }] from the widest variant down.
Napi::Value IsaVariants(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array out = Napi::Array::New(env);
  uint32_t n = 0;
  for (int i = kIsaCount - 1; i >= 0; --i) {
    const Isa isa = static_cast<Isa>(i);
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", isa_name(isa));
    o.Set("supported", isa_supported(isa));
    o.Set("active", isa == active_isa());
    o.Set("default", isa == default_isa());
    out.Set(n++, o);
  }
  return out;
}

// measurePeakGflopsIsa(name, threads, seconds): the FMA peak of one supported variant.
Napi::Value PeakGflopsIsa(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString())
    ThrowType(env, "a string (an ISA variant name)", "isa", Describe(info[0]));
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  Isa isa;
  if (!parse_isa(name, &isa) || !isa_supported(isa))
    ThrowRange(env, "one of the supported ISA variants (" + supported_list() + ")", "isa", "'" + name + "'");
  const int64_t t = GetInt(info, 1, "threads", 1, 1024);
  const double s = GetDouble(info, 2, "seconds");
  if (s <= 0 || s > 10) ThrowRange(env, "a duration in (0, 10] seconds", "seconds", Describe(info[2]));
  const double g =
      Guard(env, [&] { return measure_peak_gflops_isa(isa, static_cast<int>(t), s); });
  return Napi::Number::New(env, g);
}

}  // namespace

void RegisterIsa(Napi::Env env, Napi::Object exports) {
  const char* err = isa_error();
  if (err != nullptr && *err != 0) {
    Napi::Error e = Napi::Error::New(env, err);
    e.Set("code", Napi::String::New(env, "ERR_UNSUPPORTED"));
    e.Set("selfsupIsa", Napi::Boolean::New(env, true));
    throw e;
  }
  Export(env, exports, "isaVariants", IsaVariants);
  Export(env, exports, "measurePeakGflopsIsa", PeakGflopsIsa);
}

}  // namespace napi
}  // namespace selfsup
