// CudaBuffer: a JavaScript handle owning device memory of float32 or int32 elements (CUDA builds
// only). dispose() frees it at once; a finalizer frees it if the handle is collected first, and an
// environment cleanup hook frees whatever a worker thread still holds when it exits.
#pragma once

#include <napi.h>

#include <cstddef>

namespace napinet::binding {

struct CudaBufferView {
  void* data = nullptr;  // device pointer (nullptr once disposed)
  std::size_t length = 0;  // elements
  bool float32 = true;     // false: int32
  bool disposed = false;
  int device = 0;          // the GPU holding it ('cuda:N')
};

// True when `value` is a CudaBuffer (live or disposed); fills `view`.
bool as_cuda_buffer(const Napi::Value& value, CudaBufferView* view);

}  // namespace napinet::binding
