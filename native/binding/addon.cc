// The addon's entry point: exports every function registered with NAPINET_EXPORT, plus the
// build's description, the CPU thread count and the transparent-huge-page advice for new host
// arrays.
#include <napi.h>

#include <cstdint>
#if defined(__linux__)
#include <sys/mman.h>
#endif

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

// adviseHugePages(array): asks Linux to back the whole 2 MiB pages inside a new, still untouched
// typed array with transparent huge pages (madvise MADV_HUGEPAGE; where THP is "madvise", as on
// Debian's and many distributions' defaults, memory gets none without it). Why: the training
// step streams tensors of several MB (11 MB per tensor in the deep network's first block) that
// fall out of the caches between uses; with 4 KiB pages each pass takes a page walk every 4 KiB,
// and those walks miss the caches too. A large array comes from glibc's mmap, untouched until
// written, so its first writes fault in huge pages. Only the speed changes, never a value; the
// pages beyond whole 2 MiB ones and every other system are left as they are. Returns whether the
// advice was given.
Napi::Value advise_huge_pages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray()) throw_type_error(env, "array", "a typed array", describe_value(info[0]));
  bool advised = false;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  const Napi::TypedArray array = info[0].As<Napi::TypedArray>();
  constexpr std::uintptr_t kHugePage = std::uintptr_t{1} << 21;
  const auto start = reinterpret_cast<std::uintptr_t>(array.ArrayBuffer().Data()) + array.ByteOffset();
  const std::uintptr_t begin = (start + kHugePage - 1) & ~(kHugePage - 1);
  const std::uintptr_t end = (start + array.ByteLength()) & ~(kHugePage - 1);
  if (end > begin) {  // (a failure, e.g. a kernel without THP, only leaves the pages small)
    advised = madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE) == 0;
  }
#endif
  return Napi::Boolean::New(env, advised);
}
NAPINET_EXPORT("adviseHugePages", advise_huge_pages);

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
