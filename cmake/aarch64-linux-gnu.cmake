# Cross-compiling for Linux on AArch64 with Debian's toolchain (g++-aarch64-linux-gnu):
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake ...
# Test executables run through CMAKE_CROSSCOMPILING_EMULATOR (qemu-user, see
# scripts/arm64-ctest.sh); ctest prefixes every test command with it.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(SELFSUP_AARCH64_PREFIX aarch64-linux-gnu- CACHE STRING "Cross toolchain prefix")
set(CMAKE_C_COMPILER ${SELFSUP_AARCH64_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${SELFSUP_AARCH64_PREFIX}g++)
set(SELFSUP_AARCH64_LIBS /usr/aarch64-linux-gnu CACHE PATH "Target libraries (qemu -L)")
set(CMAKE_FIND_ROOT_PATH ${SELFSUP_AARCH64_LIBS})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
if(NOT DEFINED CMAKE_CROSSCOMPILING_EMULATOR)
  set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L ${SELFSUP_AARCH64_LIBS})
endif()
