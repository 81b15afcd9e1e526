// The shared harness of the C++ tests (native/tests/*_test.cc, one executable each, run by
// ctest): EXPECT records a failure with its location and carries on, so one run reports every
// broken case; main() ends with `return test_result();` (prints the count; exit code 0 = pass).
#pragma once
#include <cstdio>

namespace {
int g_failures = 0;  // this executable's failed checks (the header is included once per test)

[[maybe_unused]] int test_result() {
  std::printf("%d failures\n", g_failures);
  return g_failures == 0 ? 0 : 1;
}
}  // namespace

#define EXPECT(cond)                                              \
  do {                                                            \
    if (!(cond)) {                                                \
      ++g_failures;                                               \
      std::printf("FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
    }                                                             \
  } while (0)
