// Runs a kernel on the device its buffers live on, naming the kernel and its arguments once:
//
//   NAPINET_DISPATCH(device, relu_forward, y.data, x.data, n);
//     → cuda::relu_forward(y.data, x.data, n)     when device is Device::kCuda
//     → kernels::relu_forward(y.data, x.data, n)  otherwise
//
// Every CPU kernel (native/kernels/*.h) and its CUDA launcher (cuda/api.h) have the same name and
// the same function type; a static_assert at each use checks it, so the two declarations cannot
// drift apart. cuda/api.h is plain C++, so the check compiles in every build, the CPU-only one
// (node-gyp) included. In a build without CUDA no CudaBuffer can exist and the launchers, which that
// build does not link, are never referred to.
//
// NAPINET_KERNEL(relu_forward) is the same pair as a value (a Kernel<Fn>), for code that serves
// several kernels of one shape (native/binding/activation.cc): kernel(device, args…) runs it.
//
// A kernel with no CUDA launcher (the ternary convolution, a CPU demonstration) checks the device
// with require_cpu() and calls kernels:: directly; a launcher with no CPU kernel (the batched gemms
// in native/binding/gemm.cc) is called as cuda:: directly, in CUDA builds only.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

#include "../../cuda/api.h"
#include "args.h"

namespace napinet::binding {

// A CPU kernel and its CUDA launcher, both of type Fn.
template <typename Fn>
struct Kernel {
  Fn* cpu;
  Fn* cuda;  // nullptr in a build without CUDA (where no buffer is on Device::kCuda)

  template <typename... Args>
  void operator()(Device device, Args&&... args) const {
    if (device == Device::kCuda) {
      cuda(std::forward<Args>(args)...);
    } else {
      cpu(std::forward<Args>(args)...);
    }
  }
};

// For a kernel that has no CUDA launcher: throws when its buffers are on the GPU.
inline void require_cpu(Device device, const char* op_name) {
  if (device == Device::kCuda) {
    throw std::runtime_error(std::string(op_name) + " has no CUDA kernel in this build yet");
  }
}

}  // namespace napinet::binding

#ifdef NAPINET_WITH_CUDA
#define NAPINET_CUDA_LAUNCHER(kernel) &::napinet::cuda::kernel
#else
#define NAPINET_CUDA_LAUNCHER(kernel) nullptr
#endif

#define NAPINET_KERNEL(kernel)                                                                   \
  ([] {                                                                                          \
    using Fn = decltype(::napinet::kernels::kernel);                                             \
    static_assert(std::is_same_v<Fn, decltype(::napinet::cuda::kernel)>,                         \
                  "kernels::" #kernel " (native/kernels) and cuda::" #kernel                     \
                  " (cuda/api.h) must have the same signature");                                \
    return ::napinet::binding::Kernel<Fn>{&::napinet::kernels::kernel,                           \
                                          NAPINET_CUDA_LAUNCHER(kernel)};                        \
  }())

#define NAPINET_DISPATCH(device, kernel, ...) NAPINET_KERNEL(kernel)((device), __VA_ARGS__)
