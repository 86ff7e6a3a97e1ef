// Chooses the CPU kernel or the CUDA launcher for a call whose buffers live on `device`.
// In a build without CUDA no CudaBuffer can exist, so the CUDA branch is compiled out.
#pragma once

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
