// The addon's entry point: exports every function registered with NAPINET_EXPORT, plus the
// build's description and the CPU thread count.
#include <napi.h>

#include "../kernels/parallel.h"
#include "args.h"
#include "registry.h"

namespace napinet::binding {
namespace {

Napi::Value build_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
#ifdef NAPINET_WITH_CUDA
  out.Set("cuda", true);
#else
  out.Set("cuda", false);
#endif
#ifdef NAPINET_CUDA_EMU
  out.Set("cudaEmulated", true);
#else
  out.Set("cudaEmulated", false);
#endif
  out.Set("napiVersion", NAPI_VERSION);
#if defined(__x86_64__) && defined(__GNUC__) && !defined(_WIN32)  // as gemm.cpp's x86 kernels
  __builtin_cpu_init();
  const char* simd = __builtin_cpu_supports("avx512f")  ? "avx512"
                     : __builtin_cpu_supports("avx2") ? "avx2"
                                                      : "sse2";
  out.Set("simd", simd);
#elif defined(__aarch64__)
  out.Set("simd", "neon");  // every AArch64 CPU has it
#else
  out.Set("simd", "generic");
#endif
  return out;
}
NAPINET_EXPORT("buildInfo", build_info);

Napi::Value num_threads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), kernels::num_threads());
}
NAPINET_EXPORT("numThreads", num_threads);

Napi::Value set_num_threads(const Napi::CallbackInfo& info) {
  kernels::set_num_threads(static_cast<int>(int_arg(info, 0, "threads", 1, 1024)));
  return info.Env().Undefined();
}
NAPINET_EXPORT("setNumThreads", set_num_threads);

}  // namespace
}  // namespace napinet::binding

static Napi::Object InitNapinet(Napi::Env env, Napi::Object exports) {
  using namespace napinet::binding;
  for (const Export& entry : exports_registry()) {
    Method method = entry.method;
    const bool keeps_deferred = entry.keeps_deferred;
    exports.Set(entry.name,
                Napi::Function::New(
                    env, [method, keeps_deferred](const Napi::CallbackInfo& info) {
                      return call_guarded(method, info, keeps_deferred);
                    },
                    entry.name));
  }
  return exports;
}

NODE_API_MODULE(napinet, InitNapinet)
