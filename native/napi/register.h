// One Register* function per op family; addon.cc calls them all. Each lives in
// native/napi/<family>.cc next to the family's conversions.
#pragma once
#include <napi.h>

namespace selfsup {
namespace napi {
void RegisterIsa(Napi::Env env, Napi::Object exports);        // ISA variants, SELFSUP_ISA check
void RegisterCore(Napi::Env env, Napi::Object exports);       // info, threads, probes, cuda
void RegisterLinalg(Napi::Env env, Napi::Object exports);     // matmul
void RegisterAttention(Napi::Env env, Napi::Object exports);  // fused attention
void RegisterInfoNCE(Napi::Env env, Napi::Object exports);    // InfoNCE / NT-Xent
void RegisterVICReg(Napi::Env env, Napi::Object exports);     // VICReg / Barlow Twins
void RegisterSinkhorn(Napi::Env env, Napi::Object exports);   // Sinkhorn-Knopp
void RegisterTokens(Napi::Env env, Napi::Object exports);     // masks, gather/scatter, StoP
void RegisterPointwise(Napi::Env env, Napi::Object exports);  // GELU, LayerNorm, bias rows
void RegisterTensor(Napi::Env env, Napi::Object exports);     // tensor core: elementwise, reductions, softmax, copies
void RegisterMemory(Napi::Env env, Napi::Object exports);     // malloc settings for tensor storage
void RegisterOptim(Napi::Env env, Napi::Object exports);      // fused optimizer steps
void RegisterDistributed(Napi::Env env, Napi::Object exports);  // MPI collectives (libmpi loaded at run time)
void RegisterCuda(Napi::Env env, Napi::Object exports);       // device buffers (CUDA build only; empty otherwise)
void RegisterCudaFused(Napi::Env env, Napi::Object exports);  // the fused families on device buffers (CUDA build only)
void RegisterCudaLinalg(Napi::Env env, Napi::Object exports);  // matmul, GELU, LayerNorm on cuda (called by RegisterCuda)
void RegisterCudaMore(Napi::Env env, Napi::Object exports);    // where and the rest of the training ops on cuda (called by RegisterCuda)
}  // namespace napi
}  // namespace selfsup
