// Reading and checking arguments at the Node-API boundary. Tensors arrive as Float32Array views
// (CPU) or CudaBuffer handles (CUDA) and are used in place, never copied. Every check throws a
// JavaScript TypeError/RangeError that names the argument: "Expected X for Y but received Z".
// The TypeScript layer validates first with friendlier messages; these checks are the cheap
// second line that keeps a wrong call from reading or writing out of bounds.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace napinet::binding {

enum class Device { kCpu, kCuda };
// "cpu" or "cuda:N" (`cuda_device` is N), as lib/device.ts spells devices.
std::string device_name(Device device, int cuda_device);

template <typename T>
struct Buffer {
  T* data = nullptr;  // nullptr for an omitted optional argument
  std::size_t length = 0;
  Device device = Device::kCpu;
  int cuda_device = 0;  // which GPU, for Device::kCuda
  const char* name = "";
  explicit operator bool() const { return data != nullptr; }
};
using FloatBuffer = Buffer<float>;
using IntBuffer = Buffer<std::int32_t>;
// A float32 or int32 tensor seen as raw 32-bit words, for kernels that move elements without
// reading them (the batch gather).
using WordBuffer = Buffer<std::uint32_t>;

// Every call from JavaScript starts here (call_guarded, registry.cc): the first CudaBuffer the
// call reads makes its GPU the thread's current device (cuda::use_device), so launches, copies and
// allocations go there; a later CudaBuffer on another GPU is a TypeError ("Expected a tensor on
// cuda:0 for x but received a tensor on cuda:1").
void begin_call();
// While this thread records a CUDA graph on GPU `device` (-1: it does not; native/binding/cuda/
// graph.cc sets it), a CudaBuffer on another GPU is a TypeError naming both: its kernel would run
// at once on that GPU's stream instead of being recorded.
void set_capture_device(int device);

// For a kernel that adds into gradients (dw, db, …) when `accumulate`: whether it must, given that
// an optimizer's zeroGrad may only have marked them for zeroing (native/binding/cuda/deferred.h).
// False (the kernel writes them) when accumulate is true and every non-null buffer at `indices` is
// a CudaBuffer whose zeroing is pending (the marks are cleared: the call writes them all);
// otherwise `accumulate`. Call before reading those arguments (reading does a pending zeroing).
bool accumulate_into(const Napi::CallbackInfo& info, std::initializer_list<std::size_t> indices,
                     bool accumulate);

// Argument `index` as a float32 tensor holding at least `required` elements.
FloatBuffer float_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name,
                      std::size_t required);
// Same, but null or undefined gives an empty buffer (e.g. a convolution without bias).
FloatBuffer optional_float_arg(const Napi::CallbackInfo& info, std::size_t index,
                               const char* name, std::size_t required);
// Argument `index` as an int32 tensor (class labels, argmax indices).
IntBuffer int_buffer_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name,
                         std::size_t required);

// Argument `index` as a tensor of either element type (float32 or int32), as words.
WordBuffer word_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name,
                    std::size_t required);

// Argument `index` as an Array of float32 tensors on one device (e.g. every gradient of a model),
// at most max_count of them; element i is named "<name>[i]" in messages. The list kernels take the
// buffers as arrays of pointers and of lengths (pointers(), lengths()).
struct FloatList {
  std::vector<FloatBuffer> buffers;
  std::vector<std::string> names;  // what buffers[i].name points to (a move keeps them in place)
  FloatList() = default;
  FloatList(FloatList&&) = default;
  FloatList(const FloatList&) = delete;
  std::vector<float*> pointers() const;
  std::vector<std::int64_t> lengths() const;
};
constexpr std::size_t kMaxListTensors = 4096;
FloatList float_list_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name,
                         std::size_t max_count = kMaxListTensors);

// Argument `index` as an integer in [min, max].
std::int64_t int_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name,
                     std::int64_t min, std::int64_t max = INT32_MAX);
double number_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name);
// A finite number (a slope, a scale).
double finite_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name);
// A finite number in [min, max]; `range` is how the message spells the interval ("[0, 1)").
double range_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name, double min,
                 double max, const char* range);
bool bool_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name);

// The product of `dims` (a tensor's element count), or a RangeError naming the tensor when it
// exceeds 2^53 (what a JavaScript number holds exactly).
std::size_t element_count(Napi::Env env, const char* name,
                          std::initializer_list<std::int64_t> dims);

// How a value looks in a message: "an Array", "a Float32Array", "an int32 CudaBuffer", …
std::string describe_value(const Napi::Value& value);

[[noreturn]] void throw_type_error(Napi::Env env, const char* name, const std::string& expected,
                                   const std::string& received);
[[noreturn]] void throw_range_error(Napi::Env env, const std::string& message);

// The device shared by all given buffers (omitted optional ones are skipped); throws if they differ.
template <typename First, typename... Rest>
Device common_device(Napi::Env env, const First& first, const Rest&... rest) {
  auto check = [&](const auto& buffer) {
    if (buffer && buffer.device != first.device) {
      throw_type_error(env, buffer.name, "a tensor on " + device_name(first.device, first.cuda_device),
                       "a tensor on " + device_name(buffer.device, buffer.cuda_device));
    }
  };
  (check(rest), ...);
  (void)check;
  return first.device;
}

}  // namespace napinet::binding
