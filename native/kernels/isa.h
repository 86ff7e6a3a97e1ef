// Which instruction-set version of a kernel family to run. gemm.cpp and conv2d.cpp each compile an
// AVX-512, an AVX2+FMA and a portable version of their inner kernels and pick one once, here: the
// widest this CPU runs, or a narrower one named in an environment variable, so that tests reach
// every version on a wide machine (NAPINET_GEMM_ISA, NAPINET_CONV_ISA = avx2 | generic).
#pragma once

#include <cstdlib>
#include <cstring>

namespace napinet::kernels {

enum class Isa { kGeneric = 0, kAvx2 = 1, kAvx512 = 2 };

// The widest version this CPU runs — kAvx512: AVX-512 F, DQ, BW and VL (with the AVX2 set);
// kAvx2: AVX2, FMA, BMI1 and BMI2 — capped by the variable `env_var`: "avx2" or "generic" (unset
// or "avx512": no cap; any other value: generic). Only x86-64 with GCC or Clang gets past generic.
inline Isa runtime_isa(const char* env_var) {
  Isa cap = Isa::kAvx512;
  if (const char* forced = std::getenv(env_var)) {
    cap = std::strcmp(forced, "avx512") == 0 ? Isa::kAvx512
          : std::strcmp(forced, "avx2") == 0 ? Isa::kAvx2
                                             : Isa::kGeneric;
  }
  Isa cpu = Isa::kGeneric;
#if defined(__x86_64__) && defined(__GNUC__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2")) {
    cpu = Isa::kAvx2;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
      cpu = Isa::kAvx512;
    }
  }
#endif
  return static_cast<int>(cpu) < static_cast<int>(cap) ? cpu : cap;
}

}  // namespace napinet::kernels
