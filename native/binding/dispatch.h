// Runs a kernel on the device its buffers live on, naming the kernel and its arguments once:
//
//   NAPINET_DISPATCH(device, relu_forward, y.data, x.data, n);
//     → cuda::relu_forward(y.data, x.data, n)     when device is Device::kCuda
//     → kernels::relu_forward(y.data, x.data, n)  otherwise
//
// Every CPU kernel (native/kernels/*.h) and its CUDA launcher (cuda/api.h) have the same name and
// the same function type; a static_assert at each call checks it, so the two declarations cannot
// drift apart. cuda/api.h is plain C++, so the check compiles in every build, the CPU-only one
// (node-gyp) included. In a build without CUDA no CudaBuffer can exist and the CUDA call is compiled
// out: nothing refers to the launchers, which that build does not link.
//
// A kernel with no CUDA launcher (the ternary convolution, a CPU demonstration) checks the device
// with require_cpu() and calls kernels:: directly; a launcher with no CPU kernel (the batched gemms
// of native/binding/cuda/gemm.cc) lives in native/binding/cuda/ and calls cuda:: directly.
#pragma once

#include <stdexcept>
#include <string>
#include <type_traits>

#include "../../cuda/api.h"
#include "args.h"

#ifdef NAPINET_WITH_CUDA
#define NAPINET_DISPATCH_CALL(device, kernel, ...)                  \
  do {                                                              \
    if ((device) == ::napinet::binding::Device::kCuda) {            \
      ::napinet::cuda::kernel(__VA_ARGS__);                         \
    } else {                                                        \
      ::napinet::kernels::kernel(__VA_ARGS__);                      \
    }                                                               \
  } while (0)
#else
#define NAPINET_DISPATCH_CALL(device, kernel, ...) \
  do {                                             \
    (void)(device);                                \
    ::napinet::kernels::kernel(__VA_ARGS__);       \
  } while (0)
#endif

#define NAPINET_DISPATCH(device, kernel, ...)                                                      \
  do {                                                                                             \
    static_assert(std::is_same_v<decltype(::napinet::kernels::kernel),                             \
                                 decltype(::napinet::cuda::kernel)>,                               \
                  "kernels::" #kernel " (native/kernels) and cuda::" #kernel                       \
                  " (cuda/api.h) must have the same signature");                                   \
    NAPINET_DISPATCH_CALL(device, kernel, __VA_ARGS__);                                            \
  } while (0)

namespace napinet::binding {

// For a kernel that has no CUDA launcher: throws when its buffers are on the GPU.
inline void require_cpu(Device device, const char* op_name) {
  if (device == Device::kCuda) {
    throw std::runtime_error(std::string(op_name) + " has no CUDA kernel in this build yet");
  }
}

}  // namespace napinet::binding
