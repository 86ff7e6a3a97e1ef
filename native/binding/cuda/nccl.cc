// Bindings for napinet.distributed's NCCL backend (cuda/nccl.h): CUDA tensors (CUDA builds only).
//   ncclInfo() → {available, reason?, library?, version?}   never throws
//   ncclUniqueId() → Uint8Array(128)                         on one rank; sent to the others
//   ncclInit(id: Uint8Array, worldSize, rank, device = 0)    ncclCommInitRank on GPU `device`
//   ncclFinalize()
//   ncclAllReduce(buffers: CudaBuffer[], mean, timeoutMs)    in place, one NCCL group
//   ncclBroadcast(buffers: CudaBuffer[], root, timeoutMs)
//   ncclAllGather(out: CudaBuffer, x: CudaBuffer, worldSize, timeoutMs)
#include "../../../cuda/api.h"
#include "../../../cuda/nccl.h"

#include "../distributed.h"
#include "../registry.h"

namespace napinet::binding {
namespace {

namespace nccl = ::napinet::cuda::nccl;

Napi::Value nccl_info(const Napi::CallbackInfo& info) {
  const nccl::Info status = nccl::info();
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("available", status.available);
  if (!status.available) out.Set("reason", status.reason);
  if (status.available) {
    out.Set("library", status.library);
    out.Set("version", status.version);
  }
  return out;
}
NAPINET_EXPORT("ncclInfo", nccl_info);

Napi::Value nccl_unique_id(const Napi::CallbackInfo& info) {
  return distributed_call(info, [&]() -> Napi::Value {
    auto id = Napi::Uint8Array::New(info.Env(), nccl::kUniqueIdBytes);
    nccl::unique_id(id.Data());
    return id;
  });
}
NAPINET_EXPORT("ncclUniqueId", nccl_unique_id);

Napi::Value nccl_init(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsTypedArray() ||
      info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array ||
      info[0].As<Napi::Uint8Array>().ElementLength() != nccl::kUniqueIdBytes) {
    throw_type_error(env, "id", "a Uint8Array of 128 bytes (ncclUniqueId)",
                     describe_value(info.Length() > 0 ? info[0] : env.Undefined()));
  }
  const int size = static_cast<int>(int_arg(info, 1, "worldSize", 1));
  const int rank = static_cast<int>(int_arg(info, 2, "rank", 0, size - 1));
  int device = 0;
  if (info.Length() > 3 && !info[3].IsUndefined()) {
    device = static_cast<int>(int_arg(info, 3, "device", 0, 1023));
    if (device >= cuda::device_count()) {
      throw_range_error(env, "Expected a GPU of this machine for device but received " + std::to_string(device));
    }
  }
  cuda::use_device(device);  // the communicator is bound to the current device
  return distributed_call(info, [&]() -> Napi::Value {
    nccl::init(info[0].As<Napi::Uint8Array>().Data(), size, rank);
    return env.Undefined();
  });
}
NAPINET_EXPORT("ncclInit", nccl_init);

Napi::Value nccl_finalize(const Napi::CallbackInfo& info) {
  nccl::finalize();
  return info.Env().Undefined();
}
NAPINET_EXPORT("ncclFinalize", nccl_finalize);

void expect_cuda(Napi::Env env, Device device, const char* name) {
  if (device != Device::kCuda) throw_type_error(env, name, "CUDA tensors (NCCL path)", "CPU tensors");
}

Napi::Value nccl_all_reduce(const Napi::CallbackInfo& info) {
  FloatList buffers = float_list_arg(info, 0, "buffers");
  const bool mean = bool_arg(info, 1, "mean");
  const double timeout_s = timeout_arg(info, 2);
  if (!buffers.buffers.empty()) expect_cuda(info.Env(), buffers.buffers[0].device, "buffers");
  return distributed_call(info, [&]() -> Napi::Value {
    const std::vector<float*> data = buffers.pointers();
    const std::vector<std::int64_t> lengths = buffers.lengths();
    std::int64_t values = 0;
    for (std::int64_t n : lengths) values += n;
    nccl::all_reduce(data.data(), lengths.data(), data.size(), mean, timeout_s,
                     describe_call("allReduce", data.size(), values, "values"));
    return info.Env().Undefined();
  });
}
NAPINET_EXPORT("ncclAllReduce", nccl_all_reduce);

Napi::Value nccl_broadcast(const Napi::CallbackInfo& info) {
  ByteList buffers = byte_list_arg(info, 0, "buffers");
  const int root = static_cast<int>(int_arg(info, 1, "root", 0, INT32_MAX));
  const double timeout_s = timeout_arg(info, 2);
  if (!buffers.data.empty()) expect_cuda(info.Env(), buffers.device, "buffers");
  return distributed_call(info, [&]() -> Napi::Value {
    nccl::broadcast(buffers.data.data(), buffers.bytes.data(), buffers.data.size(), root, timeout_s,
                    describe_call("broadcast", buffers.data.size(), buffers.total_bytes(), "bytes"));
    return info.Env().Undefined();
  });
}
NAPINET_EXPORT("ncclBroadcast", nccl_broadcast);

Napi::Value nccl_all_gather(const Napi::CallbackInfo& info) {
  const auto size = int_arg(info, 2, "worldSize", 1);
  FloatBuffer x = float_arg(info, 1, "x", 0);
  FloatBuffer out = float_arg(info, 0, "out", x.length * static_cast<std::size_t>(size));
  expect_cuda(info.Env(), common_device(info.Env(), out, x), "x");
  const double timeout_s = timeout_arg(info, 3);
  return distributed_call(info, [&]() -> Napi::Value {
    nccl::all_gather(out.data, x.data, static_cast<std::int64_t>(x.length), timeout_s,
                     describe_call("allGather", 1, static_cast<std::int64_t>(x.length), "values"));
    return info.Env().Undefined();
  });
}
NAPINET_EXPORT("ncclAllGather", nccl_all_gather);

}  // namespace
}  // namespace napinet::binding
