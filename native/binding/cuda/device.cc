// cudaInfo() and cudaSynchronize(): what the CUDA runtime says about the GPU, and a wait for the
// work queued on it. cudaInfo never throws: an unusable GPU comes back with the reason.
// Tests: test/device.test.ts.
#include "../../../cuda/api.h"
#include "../registry.h"

namespace napinet::binding {
namespace {

Napi::Value cuda_info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  cuda::DeviceInfo device = cuda::device_info();
  Napi::Object out = Napi::Object::New(env);
  out.Set("available", device.available);
  if (!device.available) out.Set("reason", device.reason);
  out.Set("emulated", device.emulated);
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
NAPINET_EXPORT("cudaInfo", cuda_info);

Napi::Value cuda_synchronize(const Napi::CallbackInfo& info) {
  cuda::synchronize();
  return info.Env().Undefined();
}
NAPINET_EXPORT("cudaSynchronize", cuda_synchronize);

}  // namespace
}  // namespace napinet::binding
