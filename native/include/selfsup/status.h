// Status: how every C++ kernel reports failure. The N-API layer turns a non-ok Status (or any
// C++ exception) into a JS exception, so nothing below native/napi/ ever aborts the process.
#pragma once
#include <stdexcept>
#include <string>
#include <utility>

namespace selfsup {

enum class Code : int {
  kOk = 0,
  kInvalidArgument,  // -> JS TypeError / RangeError decided by the napi layer (see kind)
  kOutOfRange,       // -> JS RangeError
  kUnsupported,      // -> SelfsupError code ERR_UNSUPPORTED
  kNoDevice,         // -> SelfsupError code ERR_NO_DEVICE
  kInternal,         // -> SelfsupError code ERR_INTERNAL
};

struct Status {
  Code code = Code::kOk;
  std::string message;
  static Status Ok() { return {}; }
  static Status Invalid(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status OutOfRange(std::string m) { return {Code::kOutOfRange, std::move(m)}; }
  static Status Unsupported(std::string m) { return {Code::kUnsupported, std::move(m)}; }
  static Status NoDevice(std::string m) { return {Code::kNoDevice, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  bool ok() const { return code == Code::kOk; }
};

// Thrown by kernels that prefer exceptions; caught at the napi boundary like a Status.
class Error : public std::runtime_error {
 public:
  Error(Code c, const std::string& m) : std::runtime_error(m), code_(c) {}
  Code code() const { return code_; }
 private:
  Code code_;
};

#define SELFSUP_RETURN_IF_ERROR(expr)          \
  do {                                         \
    ::selfsup::Status _s = (expr);             \
    if (!_s.ok()) return _s;                   \
  } while (0)

}  // namespace selfsup
