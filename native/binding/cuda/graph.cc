// CUDA graphs for JavaScript: cudaGraphBegin(device = 0) starts recording this thread's work on
// that GPU, cudaGraphEnd() returns the recording as a handle, cudaGraphAbort() drops a recording
// cut short by an error; cudaGraphLaunch(handle) queues it again in one call and
// cudaGraphDispose(handle) frees it (a finalizer does too, without waiting for the GPU). lib/cuda_graph.ts wraps them. Tests: test/cuda-graph.test.ts.
#include "../../../cuda/api.h"
#include "../args.h"
#include "../registry.h"
#include "buffer.h"

namespace napinet::binding {
namespace {

// Marks the handles cudaGraphEnd makes, so no other external is taken for one.
constexpr napi_type_tag kCudaGraphTag = {0x6e6170696e657467ull, 0x7261706868616e64ull};

struct GraphHandle {
  void* exec = nullptr;
};

GraphHandle* graph_arg(const Napi::CallbackInfo& info) {
  Napi::Value value = info.Length() > 0 ? info[0] : info.Env().Undefined();
  if (!value.IsExternal() || !value.As<Napi::External<GraphHandle>>().CheckTypeTag(&kCudaGraphTag)) {
    throw_type_error(info.Env(), "graph", "a CUDA graph handle from cudaGraphEnd()", describe_value(value));
  }
  return value.As<Napi::External<GraphHandle>>().Data();
}

Napi::Value graph_begin(const Napi::CallbackInfo& info) {
  int device = 0;
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    device = static_cast<int>(int_arg(info, 0, "device", 0, 1023));
    if (device >= cuda::device_count()) {
      throw_range_error(info.Env(), "Expected a GPU of this machine for device but received " + std::to_string(device));
    }
  }
  cuda::use_device(device);
  zero_pending_buffers(info.Env());  // zeroing asked for before the capture happens before it
  cuda::begin_capture();
  set_capture_device(device);  // kernels on other GPUs' buffers are refused until the end
  return info.Env().Undefined();
}
NAPINET_EXPORT("cudaGraphBegin", graph_begin);

Napi::Value graph_end(const Napi::CallbackInfo& info) {
  set_capture_device(-1);
  try {
    zero_pending_buffers(info.Env());  // zeroing asked for during the capture is part of it
  } catch (...) {
    cuda::abort_capture();
    throw;
  }
  auto* handle = new GraphHandle{cuda::end_capture()};
  auto external = Napi::External<GraphHandle>::New(info.Env(), handle, [](Napi::Env, GraphHandle* h) {
    cuda::destroy_graph(h->exec);
    delete h;
  });
  external.TypeTag(&kCudaGraphTag);
  return external;
}
NAPINET_EXPORT("cudaGraphEnd", graph_end);

Napi::Value graph_abort(const Napi::CallbackInfo& info) {
  set_capture_device(-1);
  cuda::abort_capture();
  return info.Env().Undefined();
}
NAPINET_EXPORT("cudaGraphAbort", graph_abort);

Napi::Value graph_launch(const Napi::CallbackInfo& info) {
  GraphHandle* handle = graph_arg(info);
  if (handle->exec == nullptr) throw Napi::Error::New(info.Env(), "This CUDA graph was disposed");
  zero_pending_buffers(info.Env());  // the graph's kernels may read buffers marked for zeroing
  cuda::launch_graph(handle->exec);
  return info.Env().Undefined();
}
NAPINET_EXPORT("cudaGraphLaunch", graph_launch);

Napi::Value graph_dispose(const Napi::CallbackInfo& info) {
  GraphHandle* handle = graph_arg(info);
  cuda::destroy_graph(handle->exec);
  handle->exec = nullptr;
  return info.Env().Undefined();
}
NAPINET_EXPORT("cudaGraphDispose", graph_dispose);

}  // namespace
}  // namespace napinet::binding
