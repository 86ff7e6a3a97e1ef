// Chooses the CPU kernel or the CUDA launcher for a call whose buffers live on `device`.
// In a build without CUDA no CudaBuffer can exist, so the CUDA branch is compiled out.
#pragma once

#include <stdexcept>
#include <string>

#include "args.h"

#ifdef NAPINET_WITH_CUDA
#include "../../cuda/api.h"
#define NAPINET_ON_DEVICE(device, cpu_call, cuda_call)                 \
  do {                                                                 \
    if ((device) == ::napinet::binding::Device::kCuda) {               \
      cuda_call;                                                       \
    } else {                                                           \
      cpu_call;                                                        \
    }                                                                  \
  } while (0)
#else
#define NAPINET_ON_DEVICE(device, cpu_call, cuda_call) \
  do {                                                 \
    (void)(device);                                    \
    cpu_call;                                          \
  } while (0)
#endif

// For an op whose CUDA launcher is not written yet: the CUDA call is kept in the source (not
// compiled) and a call with CUDA tensors throws a clear error instead. Replace with
// NAPINET_ON_DEVICE once cuda/<op>.cu provides the launcher.
#define NAPINET_ON_DEVICE_CPU_ONLY(op_name, device, cpu_call, cuda_call)                      \
  do {                                                                                        \
    if ((device) == ::napinet::binding::Device::kCuda) {                                      \
      throw std::runtime_error(std::string(op_name) + " has no CUDA kernel in this build yet"); \
    }                                                                                         \
    cpu_call;                                                                                 \
  } while (0)
