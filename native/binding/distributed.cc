// Bindings for napinet.distributed's MPI backend (native/distributed/mpi.h): CPU tensors.
//   mpiLibraryVersion() → string                    loads libmpi (no initialisation)
//   mpiInit() → {rank, size, localRank, localSize, threadLevel, library, version}
//   mpiFinalize(), mpiAbort(code)
//   mpiAllReduce(buffers: Float32Array[], mean, timeoutMs)   in place
//   mpiBroadcast(buffers: (Float32Array | Int32Array | Uint8Array)[], root, timeoutMs)
//   mpiAllGather(out: Float32Array, x: Float32Array, timeoutMs)
//   mpiBarrier(timeoutMs)
// The NCCL backend's bindings (CUDA tensors) are in cuda/nccl.cc. TypeScript: lib/distributed/.
#include "distributed.h"

#include "../distributed/mpi.h"
#include "registry.h"

#ifdef NAPINET_WITH_CUDA
#include "../../cuda/api.h"
#include "cuda/buffer.h"
#endif

namespace napinet::binding {

using distributed::Error;

const char* distributed_error_code(Error::Kind kind) {
  switch (kind) {
    case Error::Kind::kUnavailable: return "ERR_NAPINET_DISTRIBUTED_UNAVAILABLE";
    case Error::Kind::kBackend: return "ERR_NAPINET_DISTRIBUTED_BACKEND";
    case Error::Kind::kTimeout: return "ERR_NAPINET_DISTRIBUTED_TIMEOUT";
    case Error::Kind::kTerminated: return "ERR_NAPINET_DISTRIBUTED_TERMINATED";
    case Error::Kind::kUsage: return "ERR_NAPINET_DISTRIBUTED_USAGE";
  }
  return "ERR_NAPINET_DISTRIBUTED";
}

Napi::Value distributed_call(const Napi::CallbackInfo& info, const std::function<Napi::Value()>& body) {
  try {
    return body();
  } catch (const Error& e) {
    Napi::Env env = info.Env();
    if (e.kind() == Error::Kind::kTimeout || e.kind() == Error::Kind::kTerminated) {
      for (std::size_t i = 0; i < info.Length(); ++i) {
        if (info[i].IsObject()) Napi::Persistent(info[i].As<Napi::Object>()).SuppressDestruct();
      }
    }
    Napi::Error error = Napi::Error::New(env, std::string("napinet.distributed: ") + e.what());
    error.Set("code", Napi::String::New(env, distributed_error_code(e.kind())));
    throw error;
  }
}

double timeout_arg(const Napi::CallbackInfo& info, std::size_t index) {
  return static_cast<double>(int_arg(info, index, "timeoutMs", 1, INT32_MAX)) / 1000.0;
}

std::int64_t ByteList::total_bytes() const {
  std::int64_t total = 0;
  for (std::int64_t b : bytes) total += b;
  return total;
}

ByteList byte_list_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name) {
  Napi::Env env = info.Env();
  Napi::Value value = index < info.Length() ? info[index] : env.Undefined();
  if (!value.IsArray()) throw_type_error(env, name, "an Array of tensors", describe_value(value));
  auto array = value.As<Napi::Array>();
  ByteList list;
  int list_gpu = 0;  // the GPU of a list of CudaBuffers (the first's)
  for (std::uint32_t i = 0; i < array.Length(); ++i) {
    const std::string element = std::string(name) + "[" + std::to_string(i) + "]";
    Napi::Value item = array.Get(i);
    Device device = Device::kCpu;
    int gpu = 0;
    if (item.IsTypedArray()) {
      auto typed = item.As<Napi::TypedArray>();
      const napi_typedarray_type type = typed.TypedArrayType();
      if (type != napi_float32_array && type != napi_int32_array && type != napi_uint8_array) {
        throw_type_error(env, element.c_str(), "a Float32Array, Int32Array or Uint8Array", describe_value(item));
      }
      auto* base = static_cast<unsigned char*>(typed.ArrayBuffer().Data());
      list.data.push_back(base + typed.ByteOffset());
      list.bytes.push_back(static_cast<std::int64_t>(typed.ByteLength()));
#ifdef NAPINET_WITH_CUDA
    } else if (CudaBufferView view; as_cuda_buffer(item, &view) && !view.disposed) {
      use_cuda_buffer(item, &view);  // a deferred zeroing first (native/binding/cuda/deferred.h)
      cuda::use_device(view.device);  // NCCL's communicator is bound to one GPU: the caller's
      device = Device::kCuda;
      gpu = view.device;
      list.data.push_back(view.data);
      list.bytes.push_back(static_cast<std::int64_t>(view.length * 4));
#endif
    } else {
      throw_type_error(env, element.c_str(), "a tensor's storage (typed array or CudaBuffer)", describe_value(item));
    }
    if (i == 0) {
      list.device = device;
      list_gpu = gpu;
    }
    if (device != list.device || gpu != list_gpu) {
      throw_type_error(env, element.c_str(), "a tensor on " + device_name(list.device, list_gpu),
                       "a tensor on " + device_name(device, gpu));
    }
  }
  return list;
}

std::string describe_call(const char* op, std::size_t tensors, std::int64_t values, const char* unit) {
  return std::string(op) + " of " + std::to_string(tensors) + (tensors == 1 ? " tensor (" : " tensors (") +
         std::to_string(values) + " " + unit + ")";
}

namespace {

Napi::Value mpi_library_version(const Napi::CallbackInfo& info) {
  return distributed_call(info, [&]() -> Napi::Value {
    return Napi::String::New(info.Env(), distributed::mpi::library_version());
  });
}
NAPINET_EXPORT("mpiLibraryVersion", mpi_library_version);

Napi::Value mpi_init(const Napi::CallbackInfo& info) {
  return distributed_call(info, [&]() -> Napi::Value {
    const distributed::mpi::World world = distributed::mpi::init();
    Napi::Object out = Napi::Object::New(info.Env());
    out.Set("rank", world.rank);
    out.Set("size", world.size);
    out.Set("localRank", world.local_rank);
    out.Set("localSize", world.local_size);
    out.Set("threadLevel", world.thread_level);
    out.Set("library", world.library);
    out.Set("version", world.version);
    return out;
  });
}
NAPINET_EXPORT("mpiInit", mpi_init);

Napi::Value mpi_finalize(const Napi::CallbackInfo& info) {
  return distributed_call(info, [&]() -> Napi::Value {
    distributed::mpi::finalize();
    return info.Env().Undefined();
  });
}
NAPINET_EXPORT("mpiFinalize", mpi_finalize);

Napi::Value mpi_abort(const Napi::CallbackInfo& info) {
  const int code = static_cast<int>(int_arg(info, 0, "code", 0, 255));
  distributed::mpi::abort(code);
  return info.Env().Undefined();
}
NAPINET_EXPORT("mpiAbort", mpi_abort);

Napi::Value mpi_all_reduce(const Napi::CallbackInfo& info) {
  FloatList buffers = float_list_arg(info, 0, "buffers");
  const bool mean = bool_arg(info, 1, "mean");
  const double timeout_s = timeout_arg(info, 2);
  for (std::size_t i = 0; i < buffers.buffers.size(); ++i) {
    if (buffers.buffers[i].device != Device::kCpu) {
      throw_type_error(info.Env(), buffers.buffers[i].name, "a CPU tensor (MPI path)", "a CUDA tensor");
    }
  }
  return distributed_call(info, [&]() -> Napi::Value {
    const std::vector<float*> data = buffers.pointers();
    const std::vector<std::int64_t> lengths = buffers.lengths();
    std::int64_t values = 0;
    for (std::int64_t n : lengths) values += n;
    distributed::mpi::all_reduce(data.data(), lengths.data(), data.size(), mean, timeout_s,
                                 describe_call("allReduce", data.size(), values, "values"));
    return info.Env().Undefined();
  });
}
NAPINET_EXPORT("mpiAllReduce", mpi_all_reduce);

Napi::Value mpi_broadcast(const Napi::CallbackInfo& info) {
  ByteList buffers = byte_list_arg(info, 0, "buffers");
  const int root = static_cast<int>(int_arg(info, 1, "root", 0, INT32_MAX));
  const double timeout_s = timeout_arg(info, 2);
  if (buffers.device != Device::kCpu) throw_type_error(info.Env(), "buffers", "CPU tensors (MPI path)", "CUDA tensors");
  return distributed_call(info, [&]() -> Napi::Value {
    distributed::mpi::broadcast(buffers.data.data(), buffers.bytes.data(), buffers.data.size(), root, timeout_s,
                                describe_call("broadcast", buffers.data.size(), buffers.total_bytes(), "bytes"));
    return info.Env().Undefined();
  });
}
NAPINET_EXPORT("mpiBroadcast", mpi_broadcast);

Napi::Value mpi_all_gather(const Napi::CallbackInfo& info) {
  FloatBuffer x = float_arg(info, 1, "x", 0);
  const double timeout_s = timeout_arg(info, 2);
  return distributed_call(info, [&]() -> Napi::Value {
    FloatBuffer out = float_arg(info, 0, "out", 0);
    if (out.device != Device::kCpu || x.device != Device::kCpu) {
      throw_type_error(info.Env(), "x", "a CPU tensor (MPI path)", "a CUDA tensor");
    }
    distributed::mpi::all_gather(out.data, static_cast<std::int64_t>(out.length), x.data,
                                 static_cast<std::int64_t>(x.length), timeout_s,
                                 describe_call("allGather", 1, static_cast<std::int64_t>(x.length), "values"));
    return info.Env().Undefined();
  });
}
NAPINET_EXPORT("mpiAllGather", mpi_all_gather);

Napi::Value mpi_barrier(const Napi::CallbackInfo& info) {
  const double timeout_s = timeout_arg(info, 0);
  return distributed_call(info, [&]() -> Napi::Value {
    distributed::mpi::barrier(timeout_s, "barrier");
    return info.Env().Undefined();
  });
}
NAPINET_EXPORT("mpiBarrier", mpi_barrier);

}  // namespace
}  // namespace napinet::binding
