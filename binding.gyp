{
  # node-gyp build of the CPU addon (what `npm install` runs through node-gyp-build).
  # Kernel sources (*_isa.cc, ops/*/cpu.cc) are compiled once per ISA variant, in different
  # namespaces; native/cpu/cpuid.cc picks one at load time. x64: an AVX-512 (F/BW/DQ/VL) variant,
  # an AVX2+FMA variant and a portable one; arm64: a NEON variant and the portable one. The
  # variants follow target_arch (node-gyp --arch), not the host, so scripts/prebuild.sh can
  # cross-compile the arm64 addon on x64.
  "target_defaults": {
    "include_dirs": ["native/include", "native"],
    "cflags": ["-O3", "-fPIC", "-fno-math-errno"],
    "cflags_cc": ["-std=c++17", "-O3", "-fPIC", "-fno-math-errno"],
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17"],
    "xcode_settings": {
      "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
      "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
      "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fno-math-errno"]
    }
  },
  "targets": [
    {
      "target_name": "selfsup_isa_generic",
      "type": "static_library",
      "sources": ["<!@(node scripts/sources.js isa)"],
      "defines": ["SELFSUP_ISA_NS=isa_generic"],
      # -ffp-contract=off: the portable variant's fma is a multiply then an add (simd.h); GCC on
      # arm64 would fuse some a * b + c and not others, and kernels that pair a product with its
      # FMA residual (attention's float path past 2^24) then disagree with themselves.
      "cflags_cc": ["-Wno-psabi", "-ffp-contract=off"]
    },
    {
      "target_name": "selfsup_isa_avx2",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["<!@(node scripts/sources.js isa)"],
          "defines": ["SELFSUP_ISA_NS=isa_avx2"],
          "cflags_cc": ["-mavx2", "-mfma"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx2", "-mfma"] }
        }]
      ]
    },
    {
      "target_name": "selfsup_isa_avx512",
      "type": "static_library",
      "conditions": [
        ["target_arch=='x64'", {
          "sources": ["<!@(node scripts/sources.js isa)"],
          "defines": ["SELFSUP_ISA_NS=isa_avx512"],
          # -Wno-*uninitialized: GCC 12's avx512fintrin.h builds _mm512_undefined_*() as a
          # self-initialized local, which -Wall reports ~400 times (GCC bug 105593, fixed in 13);
          # the same sources compile with -Wall in the avx2 and generic variants.
          "cflags_cc": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma",
                        "-Wno-uninitialized", "-Wno-maybe-uninitialized"],
          "xcode_settings": { "OTHER_CPLUSPLUSFLAGS": ["-mavx512f", "-mavx512bw", "-mavx512dq", "-mavx512vl", "-mavx2", "-mfma"] }
        }]
      ]
    },
    {
      "target_name": "selfsup_isa_neon",
      "type": "static_library",
      "conditions": [
        ["target_arch=='arm64'", {
          "sources": ["<!@(node scripts/sources.js isa)"],
          "defines": ["SELFSUP_ISA_NS=isa_neon", "SELFSUP_NEON=1"]
        }]
      ]
    },
    {
      "target_name": "selfsup",
      "sources": ["<!@(node scripts/sources.js core)", "<!@(node scripts/sources.js napi)"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "dependencies": ["selfsup_isa_generic", "selfsup_isa_avx2", "selfsup_isa_avx512", "selfsup_isa_neon"],
      "libraries": ["-lpthread", "-ldl"]
    }
  ]
}
