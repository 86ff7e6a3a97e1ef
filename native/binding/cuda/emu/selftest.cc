// cudaEmuSelftest(): the emulator's self-test kernels (cuda/emu/selftest.h) as an object of
// functions, for test/cuda-emu.test.ts. Compiled only in emulator builds (NAPINET_CUDA_EMU).
// Buffers are CudaBuffers; sizes are checked like any other binding's.
#include "../../../../cuda/emu/activity.h"
#include "../../../../cuda/emu/selftest.h"

#include "../../args.h"
#include "../../registry.h"

namespace napinet::binding {
namespace {

namespace selftest = ::napinet::cuda::selftest;

float* device_floats(const Napi::CallbackInfo& info, std::size_t index, const char* name, std::size_t required) {
  FloatBuffer buffer = float_arg(info, index, name, required);
  if (buffer.device != Device::kCuda) throw_type_error(info.Env(), name, "a CudaBuffer", "a Float32Array");
  return buffer.data;
}

std::int32_t* device_ints(const Napi::CallbackInfo& info, std::size_t index, const char* name, std::size_t required) {
  IntBuffer buffer = int_buffer_arg(info, index, name, required);
  if (buffer.device != Device::kCuda) throw_type_error(info.Env(), name, "a CudaBuffer", "an Int32Array");
  return buffer.data;
}

using Test = Napi::Value (*)(const Napi::CallbackInfo&);

struct Entry {
  const char* name;
  Test test;
};

const Entry kTests[] = {
    {"coordinates",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       selftest::coordinates(device_ints(info, 0, "out", 12 * 24), device_ints(info, 1, "dims", 6));
       return info.Env().Undefined();
     }},
    {"blockSums",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int blocks = static_cast<int>(int_arg(info, 2, "blocks", 1, 64));
       int threads = static_cast<int>(int_arg(info, 3, "threads", 1, 1024));
       selftest::block_sums(device_floats(info, 0, "sums", blocks), device_floats(info, 1, "x", blocks * threads),
                            blocks, threads, bool_arg(info, 4, "barriers"));
       return info.Env().Undefined();
     }},
    {"normalize",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int n = static_cast<int>(int_arg(info, 2, "n", 1, 1024));
       selftest::normalize(device_floats(info, 0, "y", n), device_floats(info, 1, "x", n), n, bool_arg(info, 3, "barriers"));
       return info.Env().Undefined();
     }},
    {"warpSums",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int n = static_cast<int>(int_arg(info, 2, "n", 1, 1 << 20));
       int block = static_cast<int>(int_arg(info, 3, "block", 32, 1024));
       int warps = (n + block - 1) / block * (block / 32);
       selftest::warp_sums(device_floats(info, 0, "sums", warps), device_floats(info, 1, "x", n), n, block);
       return info.Env().Undefined();
     }},
    {"warpScanMax",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int n = static_cast<int>(int_arg(info, 3, "n", 1, 1 << 20));
       int width = static_cast<int>(int_arg(info, 4, "width", 1, 32));
       selftest::warp_scan_max(device_floats(info, 0, "y", n), device_floats(info, 1, "m", n),
                               device_floats(info, 2, "x", n), n, width);
       return info.Env().Undefined();
     }},
    {"votes",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int n = static_cast<int>(int_arg(info, 2, "n", 1, 1 << 20));
       selftest::votes(device_ints(info, 0, "votes", 3 * ((n + 63) / 64 * 2)), device_floats(info, 1, "x", n), n);
       return info.Env().Undefined();
     }},
    {"atomics",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int n = static_cast<int>(int_arg(info, 4, "n", 1, 1 << 20));
       selftest::atomics(device_ints(info, 0, "counters", 5), device_floats(info, 1, "total", 1),
                         device_floats(info, 2, "x", n), device_ints(info, 3, "v", n), n);
       return info.Env().Undefined();
     }},
    {"reverseBlocks",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int n = static_cast<int>(int_arg(info, 2, "n", 1, 1 << 20));
       int block = static_cast<int>(int_arg(info, 3, "block", 1, 1024));
       selftest::reverse_blocks(device_floats(info, 0, "y", n), device_floats(info, 1, "x", n), n, block);
       return info.Env().Undefined();
     }},
    {"readUninitializedShared",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int n = static_cast<int>(int_arg(info, 1, "n", 1, 1024));
       selftest::read_uninitialized_shared(device_floats(info, 0, "y", n), n);
       return info.Env().Undefined();
     }},
    {"divergentBarrier",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int threads = static_cast<int>(int_arg(info, 1, "threads", 2, 1024));
       selftest::divergent_barrier(device_floats(info, 0, "y", threads), threads);
       return info.Env().Undefined();
     }},
    {"splitBarrier",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int threads = static_cast<int>(int_arg(info, 1, "threads", 2, 1024));
       selftest::split_barrier(device_floats(info, 0, "y", threads), threads);
       return info.Env().Undefined();
     }},
    {"incompleteShuffle",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       selftest::incomplete_shuffle(device_floats(info, 0, "y", 32));
       return info.Env().Undefined();
     }},
    {"invalidLaunch",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       selftest::invalid_launch(device_floats(info, 0, "y", 2048));
       return info.Env().Undefined();
     }},
    {"emptyGridLaunch",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       selftest::empty_grid_launch(device_floats(info, 0, "y", 32));
       return info.Env().Undefined();
     }},
    {"hostPointerLaunch",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       selftest::host_pointer_launch();
       return info.Env().Undefined();
     }},
    {"writePastEnd",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int n = static_cast<int>(int_arg(info, 1, "n", 1, 1 << 20));
       selftest::write_past_end(device_floats(info, 0, "y", n), n);
       return info.Env().Undefined();
     }},
    {"activity",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       Napi::Env env = info.Env();
       const ::napinet::emu::Activity a = ::napinet::emu::activity();
       Napi::Object launches = Napi::Object::New(env);
       for (const auto& [kernel, count] : a.launches) launches.Set(kernel, static_cast<double>(count));
       Napi::Object out = Napi::Object::New(env);
       out.Set("launches", launches);
       out.Set("hostToDevice", static_cast<double>(a.host_to_device));
       out.Set("hostToDeviceBytes", static_cast<double>(a.host_to_device_bytes));
       out.Set("deviceToHost", static_cast<double>(a.device_to_host));
       out.Set("deviceToHostBytes", static_cast<double>(a.device_to_host_bytes));
       out.Set("deviceToDevice", static_cast<double>(a.device_to_device));
       out.Set("memsets", static_cast<double>(a.memsets));
       out.Set("synchronizations", static_cast<double>(a.synchronizations));
       out.Set("graphLaunches", static_cast<double>(a.graph_launches));
       out.Set("replayedLaunches", static_cast<double>(a.replayed_launches));
       out.Set("deviceAllocations", static_cast<double>(a.device_allocations));
       out.Set("deviceFrees", static_cast<double>(a.device_frees));
       out.Set("poolAllocations", static_cast<double>(a.pool_allocations));
       out.Set("poolReuses", static_cast<double>(a.pool_reuses));
       out.Set("poolFrees", static_cast<double>(a.pool_frees));
       return out;
     }},
    {"resetActivity",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       ::napinet::emu::reset_activity();
       return info.Env().Undefined();
     }},
    {"runtimeChecks",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       return Napi::String::New(info.Env(), selftest::runtime_checks());
     }},
    {"mode",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       Napi::Object out = Napi::Object::New(info.Env());
       out.Set("mode", selftest::mode());
       out.Set("hostThreads", selftest::host_threads());
       return out;
     }},
    {"lastBlock",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       selftest::last_block(device_ints(info, 0, "y", 1), static_cast<int>(int_arg(info, 1, "blocks", 1, 65535)));
       return info.Env().Undefined();
     }},
    {"racyCount",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       selftest::racy_count(device_ints(info, 0, "counter", 1), static_cast<int>(int_arg(info, 1, "blocks", 1, 65535)),
                            static_cast<int>(int_arg(info, 2, "spin", 0, 1 << 24)));
       return info.Env().Undefined();
     }},
    {"contraction",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int n = static_cast<int>(int_arg(info, 4, "n", 1, 1 << 20));
       selftest::contraction(device_floats(info, 0, "y", 2 * n), device_floats(info, 1, "a", n),
                             device_floats(info, 2, "b", n), device_floats(info, 3, "c", n), n);
       return info.Env().Undefined();
     }},
    {"libm",
     [](const Napi::CallbackInfo& info) -> Napi::Value {
       int n = static_cast<int>(int_arg(info, 3, "n", 1, 1 << 20));
       // z holds 3n doubles in an int32 buffer of 6n elements (device memory is 256-byte aligned;
       // int32, not float32, so no half of a double is ever a NaN whose bits JavaScript may change).
       selftest::libm(device_floats(info, 0, "y", 7 * n), reinterpret_cast<double*>(device_ints(info, 1, "z", 6 * n)),
                      device_floats(info, 2, "x", n), n);
       return info.Env().Undefined();
     }},
};

Napi::Value cuda_emu_selftest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object tests = Napi::Object::New(env);
  for (const Entry& entry : kTests) {
    Test test = entry.test;
    tests.Set(entry.name, Napi::Function::New(
                              env, [test](const Napi::CallbackInfo& i) { return call_guarded(test, i); }, entry.name));
  }
  return tests;
}
NAPINET_EXPORT("cudaEmuSelftest", cuda_emu_selftest);

}  // namespace
}  // namespace napinet::binding
