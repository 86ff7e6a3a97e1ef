// Which instruction-set version of a kernel family to run. gemm.cpp and conv2d.cpp each compile an
// AVX-512, an AVX2+FMA and a portable version of their inner kernels on x86-64, a NEON and a
// portable one on AArch64, and pick one once, here: the widest this CPU runs, or a narrower one
// named in an environment variable, so that tests reach every version on a wide machine
// (NAPINET_GEMM_ISA, NAPINET_CONV_ISA = avx2 | neon | generic).
#pragma once

#include <cstdlib>
#include <cstring>

namespace napinet::kernels {

enum class Isa { kGeneric, kAvx2, kAvx512, kNeon };

// The widest version this CPU runs — kAvx512: AVX-512 F, DQ, BW and VL (with the AVX2 set);
// kAvx2: AVX2, FMA, BMI1 and BMI2; kNeon: any AArch64 CPU (NEON is part of the architecture).
// x86-64 needs GCC or Clang's CPU model, which Windows builds lack (they take the portable set).
inline Isa widest_isa() {
#if defined(__x86_64__) && defined(__GNUC__) && !defined(_WIN32) && !defined(NAPINET_NO_SIMD)
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma") ||
      !__builtin_cpu_supports("bmi") || !__builtin_cpu_supports("bmi2")) {
    return Isa::kGeneric;
  }
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")
             ? Isa::kAvx512
             : Isa::kAvx2;
#elif defined(__aarch64__) && defined(__GNUC__) && !defined(NAPINET_NO_SIMD)
  return Isa::kNeon;
#else
  return Isa::kGeneric;
#endif
}

// widest_isa(), capped by the variable `env_var`: "avx2" (at most AVX2 on x86-64), "neon", or
// "generic"; unset or "avx512": no cap. A set the CPU lacks, or any other value, gives generic.
inline Isa runtime_isa(const char* env_var) {
  const Isa cpu = widest_isa();
  const char* forced = std::getenv(env_var);
  if (forced == nullptr) return cpu;
  if (cpu == Isa::kNeon) return std::strcmp(forced, "neon") == 0 ? cpu : Isa::kGeneric;
  if (std::strcmp(forced, "avx512") == 0) return cpu;
  if (std::strcmp(forced, "avx2") == 0) return cpu == Isa::kGeneric ? cpu : Isa::kAvx2;
  return Isa::kGeneric;
}

}  // namespace napinet::kernels
