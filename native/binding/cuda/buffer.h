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
// The same, for a buffer a kernel is about to use: a zeroing still pending (deferred.h) is done
// first, on the buffer's GPU.
bool use_cuda_buffer(const Napi::Value& value, CudaBufferView* view);

// Zeroing deferred (deferred.h): marks a live CudaBuffer as zeros-to-be (no launch).
void defer_zeroing(const Napi::Value& value);
// Whether `value` is a CudaBuffer whose zeroing is pending; take_zeroing clears the mark (the
// caller will write the whole buffer).
bool zeroing_pending(const Napi::Value& value);
void take_zeroing(const Napi::Value& value);
// Does the pending zeroing of every CudaBuffer of this environment (before a CUDA graph's capture
// begins, ends or a graph is launched: the graph's kernels read buffers the binding does not see).
void zero_pending_buffers(Napi::Env env);

}  // namespace napinet::binding
