// CudaBuffer: a JavaScript handle owning float32 device memory (CUDA builds only). dispose() frees
// it at once; a finalizer frees it if the handle is collected first.
#pragma once

#include <napi.h>

#include <cstddef>

namespace napinet::binding {

// True when `value` is a live CudaBuffer; sets its device pointer and element count.
bool as_cuda_buffer(const Napi::Value& value, float** data, std::size_t* length);

}  // namespace napinet::binding
