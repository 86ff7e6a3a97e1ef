// The GPUs as JavaScript sees them:
//   cudaInfo(device = 0)      what the CUDA runtime says about one GPU (never throws: an unusable
//                             GPU comes back with the reason)
//   cudaDevices()             cudaInfo of every GPU the runtime sees ([] when none)
//   cudaMemory(device = 0)    napinet's memory on one GPU, read fresh (cuda::memory_stats)
//   cudaReleaseCachedMemory(device = 0)   the memory pool's unused memory back to the device
//   cudaSynchronize(device?)  waits for the work queued on one GPU, or on every GPU used
// Tests: test/device.test.ts, test/cuda-memory.test.ts.
#include "../../../cuda/api.h"
#include "../args.h"
#include "../registry.h"

namespace napinet::binding {
namespace {

Napi::Object info_object(Napi::Env env, const cuda::DeviceInfo& device) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("available", device.available);
  if (!device.available) out.Set("reason", device.reason);
  out.Set("emulated", device.emulated);
  out.Set("index", device.index);
  out.Set("deviceCount", device.device_count);
  if (!device.name.empty()) {
    out.Set("name", device.name);
    out.Set("computeCapability", std::to_string(device.compute_major) + "." + std::to_string(device.compute_minor));
    out.Set("multiprocessors", device.multiprocessors);
    out.Set("totalMemory", static_cast<double>(device.total_memory));
    if (device.available) out.Set("freeMemory", static_cast<double>(device.free_memory));
  }
  out.Set("driverVersion", device.driver_version);
  out.Set("runtimeVersion", device.runtime_version);
  return out;
}

// An optional device index (argument `index`): 0 when omitted; otherwise an integer ≥ 0 (an index
// past the last device is for cudaInfo to describe, and an error for the others).
int device_index(const Napi::CallbackInfo& info, std::size_t index, bool must_exist) {
  if (info.Length() <= index || info[index].IsUndefined()) return 0;
  const int device = static_cast<int>(int_arg(info, index, "device", 0, 1023));
  if (must_exist) {
    const int count = cuda::device_count();
    if (device >= count) {
      throw_range_error(info.Env(), "Expected a GPU of this machine (" +
                                        (count == 0 ? std::string("it has none") : "cuda:0 to cuda:" + std::to_string(count - 1)) +
                                        ") for device but received " + std::to_string(device));
    }
  }
  return device;
}

Napi::Value cuda_info(const Napi::CallbackInfo& info) {
  cuda::DeviceInfo device = cuda::device_info(device_index(info, 0, false));
  Napi::Object out = info_object(info.Env(), device);
  if (device.available) {
    // What napinet's allocator holds there (the pool's memory counts as used in freeMemory).
    const cuda::MemoryStats stats = cuda::memory_stats(device.index);
    out.Set("poolReservedMemory", static_cast<double>(stats.pool_reserved_bytes));
    out.Set("napinetMemory", static_cast<double>(stats.live_bytes));
  }
  return out;
}
NAPINET_EXPORT("cudaInfo", cuda_info);

Napi::Value cuda_devices(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int count = cuda::device_count();
  Napi::Array out = Napi::Array::New(env, count);
  for (int d = 0; d < count; ++d) out.Set(d, info_object(env, cuda::device_info(d)));
  return out;
}
NAPINET_EXPORT("cudaDevices", cuda_devices);

Napi::Value cuda_memory(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int device = device_index(info, 0, true);
  const cuda::MemoryStats s = cuda::memory_stats(device);
  Napi::Object out = Napi::Object::New(env);
  out.Set("device", device);
  out.Set("liveBytes", static_cast<double>(s.live_bytes));
  out.Set("liveAllocations", static_cast<double>(s.live_allocations));
  out.Set("peakLiveBytes", static_cast<double>(s.peak_live_bytes));
  out.Set("poolReservedBytes", static_cast<double>(s.pool_reserved_bytes));
  out.Set("poolUsedBytes", static_cast<double>(s.pool_used_bytes));
  out.Set("freeBytes", static_cast<double>(s.free_bytes));
  out.Set("totalBytes", static_cast<double>(s.total_bytes));
  out.Set("deferredFrees", static_cast<double>(s.deferred_frees));
  out.Set("streamOrdered", s.stream_ordered);
  return out;
}
NAPINET_EXPORT("cudaMemory", cuda_memory);

Napi::Value cuda_release_cached_memory(const Napi::CallbackInfo& info) {
  cuda::release_cached_memory(device_index(info, 0, true));
  return info.Env().Undefined();
}
NAPINET_EXPORT("cudaReleaseCachedMemory", cuda_release_cached_memory);

Napi::Value cuda_synchronize(const Napi::CallbackInfo& info) {
  if (info.Length() > 0 && !info[0].IsUndefined()) {
    cuda::synchronize(device_index(info, 0, true));
  } else {
    cuda::synchronize();
  }
  return info.Env().Undefined();
}
NAPINET_EXPORT("cudaSynchronize", cuda_synchronize);

}  // namespace
}  // namespace napinet::binding
