// Shared by the distributed bindings (distributed.cc: MPI; cuda/nccl.cc: NCCL): turning a
// distributed::Error into a JavaScript Error with a stable `code`, and reading the arguments
// every collective takes.
#pragma once

#include <napi.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "../distributed/wait.h"
#include "args.h"

namespace napinet::binding {

// Error.code for each distributed::Error kind.
const char* distributed_error_code(distributed::Error::Kind kind);

// Runs body(); a distributed::Error becomes a JS Error "napinet.distributed: …" with `code`. After
// a timeout the arguments are kept referenced forever: the pending MPI or NCCL requests may still
// write into those buffers.
Napi::Value distributed_call(const Napi::CallbackInfo& info, const std::function<Napi::Value()>& body);

// Argument `index`: a timeout in whole milliseconds (≥ 1), returned in seconds.
double timeout_arg(const Napi::CallbackInfo& info, std::size_t index);

// Argument `index`: an Array of tensors as raw bytes (float32 or int32; typed arrays on the CPU,
// CudaBuffers in CUDA builds), all on one device (broadcast moves bytes, whatever their type).
struct ByteList {
  std::vector<void*> data;
  std::vector<std::int64_t> bytes;
  Device device = Device::kCpu;
  std::int64_t total_bytes() const;
};
ByteList byte_list_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name);

// "allReduce of 3 tensors (1,234 values)": how messages name a call.
std::string describe_call(const char* op, std::size_t tensors, std::int64_t values, const char* unit);

}  // namespace napinet::binding
