// Shared definitions for the CPU kernels: sizes, the vectorisation attribute, and the qualifier of
// the math both devices compile (NAPINET_HOST_DEVICE). Kernels are free functions over raw float32
// pointers (outputs first, sizes last), NCHW layout, no Node-API and no allocation of their own
// beyond per-call scratch given by the caller.
#pragma once

#include <cmath>
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

// Math that must give the same bits on the CPU and the GPU is written once, in a kernel header, as
// NAPINET_HOST_DEVICE functions: cuda/<op>.cu includes native/kernels/<op>.h and calls them from its
// kernels, the CPU kernels from their loops (e.g. philox.h, the optimizers' updates in optim.h, the
// activations' formulas in activation.h). Under nvcc they are host and device functions; elsewhere
// (the CPU kernels, and the emulator build, where device code is host code) plain inline functions.
#if defined(__CUDACC__)
#define NAPINET_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define NAPINET_HOST_DEVICE inline
#endif

// The GPU-like emulator build (NAPINET_CUDA_EMU_GPU; cuda/emu/emu.h) compiles the kernels with FMA
// contraction, as nvcc does: the _rn operations below must still round on their own there, as
// nvcc's intrinsics do, so their results pass through an opaque barrier nothing fuses across.
#if defined(NAPINET_CUDA_EMU_GPU) && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define NAPINET_UNFUSED(x) ([](float v) { __asm__("" : "+x"(v)); return v; }(x))
#else
#define NAPINET_UNFUSED(x) (x)
#endif

#ifdef NAPINET_CUDA_EMU_GPU
// The GPU-like emulator build: these names, called unqualified anywhere in namespace napinet, find
// these declarations before the C library's. Inside an emulated kernel they return a result within
// CUDA's documented error bound (cuda/emu/emu.cpp has the table and the rule); everywhere else
// (the CPU kernels) exactly the C library's result. One definition for every caller, CPU or kernel.
namespace napinet {
float expf(float x);
float logf(float x);
float log1pf(float x);
float expm1f(float x);
float tanhf(float x);
float erff(float x);
float powf(float x, float y);
double exp(double x);
double log(double x);
double log1p(double x);
}  // namespace napinet
#endif

namespace napinet::kernels {

// Float32 operations rounded one at a time, for formulas whose every step is specified (the
// optimizers follow PyTorch's sequence of tensor ops). On the GPU they are the _rn intrinsics, which
// nvcc never contracts into an FMA; on the CPU plain operators, which the compiler may contract on
// FMA hardware (GCC does in the AVX2/AVX-512 clones), so there the devices can differ by an ulp.
NAPINET_HOST_DEVICE float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return NAPINET_UNFUSED(a + b);
#endif
}
NAPINET_HOST_DEVICE float sub_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fsub_rn(a, b);
#else
  return NAPINET_UNFUSED(a - b);
#endif
}
NAPINET_HOST_DEVICE float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return NAPINET_UNFUSED(a * b);
#endif
}
NAPINET_HOST_DEVICE float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return NAPINET_UNFUSED(a / b);
#endif
}
NAPINET_HOST_DEVICE float sqrt_rn(float a) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(a);
#else
  return std::sqrt(a);
#endif
}

}  // namespace napinet::kernels
