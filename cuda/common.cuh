// Included first by every cuda/*.cu file: the CUDA headers (or the CPU emulator's, in builds with
// NAPINET_CUDA_EMU), the one launch macro, error checks that throw, and small launch helpers.
//
//   NAPINET_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, stream()));   // throws napinet::cuda::Error
//   NAPINET_LAUNCH(scale_kernel, grid_for(n), kBlockSize, 0, y, x, alpha, n);
//   NAPINET_DYNAMIC_SHARED(float, partial);                       // inside a kernel
//
// NAPINET_LAUNCH is the only place the <<<grid, block, shared, stream>>> syntax appears: kernels
// run on stream(), and the launch is followed by a check of the last error. Messages name the call
// or kernel, the file and line, and the device. See cuda/README.md for the whole pattern.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "api.h"

#ifdef NAPINET_CUDA_EMU
#include "emu/emu.h"
#else
#include <cuda_runtime.h>
#endif

namespace napinet::cuda {

// The stream all of napinet's kernels and copies use: the calling thread's default stream, so
// JavaScript worker threads queue independently and nothing waits on the legacy default stream.
inline cudaStream_t stream() { return cudaStreamPerThread; }

// Throws Error("CUDA error in <call> at <file>:<line> on device 0 (<name>): <text> (<name of code>)").
[[noreturn]] void throw_error(cudaError_t error, const char* call, const char* file, int line);

inline void check(cudaError_t error, const char* call, const char* file, int line) {
  if (error != cudaSuccess) throw_error(error, call, file, line);
}

// After a launch: throws if the launch failed (bad configuration, no kernel image for the GPU, or
// an error left by earlier asynchronous work), naming the kernel and its configuration.
void check_launch(const char* kernel, dim3 grid, dim3 block, std::size_t shared_bytes, const char* file,
                  int line);

// How messages name things: "cuda/activation.cu" for …/cuda/activation.cu, "(x,y,z)" for a dim3,
// "kernel<<<(gx,gy,gz), (bx,by,bz), shared_bytes>>>" for a launch.
std::string source_path(const char* file);
std::string dims_text(dim3 v);
std::string launch_text(const char* kernel, dim3 grid, dim3 block, std::size_t shared_bytes);

// Scratch memory a launcher needs between its kernels (partial sums and the like): one buffer per
// kind, host thread and device, grown on demand and kept (cuda/memory.cu). Valid until the next
// call for the same kind on this thread; kernels queued on this thread's stream use it in order,
// and a CUDA graph that captured kernels using it keeps that memory alive until it is destroyed.
// Throws while this thread captures a graph if the buffer must grow (run the work once first).
enum class Scratch { kConvPartials, kConvOutput, kGemmSplitK, kReduce, kLossPartials, kCount };
void* scratch(Scratch kind, std::size_t bytes);

// db (out) (=|+=) Σ over the rows of dy (n, out), in a fixed order (cuda/linear.cu): Linear's bias
// gradient, also for the fused loss step (cuda/loss.cu) when its kernel cannot do it.
void bias_gradient(float* db, const float* dy, std::int64_t n, std::int64_t out, bool accumulate);

// Threads per block for element-wise kernels.
constexpr int kBlockSize = 256;

// Blocks for a grid-stride loop over n items with `block` threads each: enough to fill the GPU
// (32 blocks per multiprocessor), never more than the items need, at least 1.
unsigned grid_for(std::int64_t n, int block = kBlockSize);

// Whether a grid-stride loop over n items (grid_for(n, block) blocks) may count in 32-bit signed
// integers: the index passes n by up to a whole grid of threads before the loop test ends it, and
// that step must not overflow (n alone ≤ 2^31 − 1 is not enough near the limit).
bool fits_int32_loop(std::int64_t n, int block = kBlockSize);

}  // namespace napinet::cuda

#define NAPINET_CUDA_CHECK(call) ::napinet::cuda::check((call), #call, __FILE__, __LINE__)

#ifdef NAPINET_CUDA_EMU
#define NAPINET_LAUNCH(kernel, grid, block, shared_bytes, ...)                                     \
  do {                                                                                             \
    const dim3 napinet_grid_ = (grid), napinet_block_ = (block);                                   \
    const std::size_t napinet_shared_ = (shared_bytes);                                            \
    static const ::napinet::emu::LaunchSite napinet_site_{#kernel, __FILE__, __LINE__};            \
    ::napinet::emu::launch(napinet_site_, napinet_grid_, napinet_block_, napinet_shared_,          \
                           ::napinet::cuda::stream(), kernel, ##__VA_ARGS__);                      \
    ::napinet::cuda::check_launch(#kernel, napinet_grid_, napinet_block_, napinet_shared_,         \
                                  __FILE__, __LINE__);                                             \
  } while (0)
// A kernel's dynamic shared memory (the launch's shared_bytes), as a `type*` named `name`.
#define NAPINET_DYNAMIC_SHARED(type, name) \
  type* name = static_cast<type*>(::napinet::emu::dynamic_shared())
#else
#define NAPINET_LAUNCH(kernel, grid, block, shared_bytes, ...)                                     \
  do {                                                                                             \
    const dim3 napinet_grid_ = (grid), napinet_block_ = (block);                                   \
    const std::size_t napinet_shared_ = (shared_bytes);                                            \
    kernel<<<napinet_grid_, napinet_block_, napinet_shared_, ::napinet::cuda::stream()>>>(         \
        __VA_ARGS__);                                                                              \
    ::napinet::cuda::check_launch(#kernel, napinet_grid_, napinet_block_, napinet_shared_,         \
                                  __FILE__, __LINE__);                                             \
  } while (0)
#define NAPINET_DYNAMIC_SHARED(type, name)                                        \
  extern __shared__ __align__(16) unsigned char napinet_dynamic_shared_[];       \
  type* name = reinterpret_cast<type*>(napinet_dynamic_shared_)
#endif
