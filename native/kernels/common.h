// Shared definitions for the CPU kernels: sizes, the vectorisation attribute, small helpers.
// Kernels are free functions over raw float32 pointers (outputs first, sizes last), NCHW layout,
// no Node-API and no allocation of their own beyond per-call scratch given by the caller.
#pragma once

#include <cstddef>
#include <cstdint>

namespace napinet::kernels {

using index_t = std::int64_t;

}  // namespace napinet::kernels

// NAPINET_VECTORIZED marks a hot function whose loops the compiler vectorises. On x86-64 with GCC
// or Clang it is compiled three times (AVX-512, AVX2+FMA, baseline x86-64) and the loader picks the
// best one for the running CPU (ifunc), so one binary runs on any x86-64 machine at full width.
// ifunc needs glibc's loader: musl (Alpine) has none, and its GCC refuses target_clones.
#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && defined(__GLIBC__) && \
    !defined(NAPINET_NO_CLONES)
#define NAPINET_VECTORIZED \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define NAPINET_VECTORIZED
#endif

#if defined(__GNUC__)
#define NAPINET_RESTRICT __restrict__
#else
#define NAPINET_RESTRICT
#endif
