// Argument readers and checks for the bindings (see args.h): typed arrays and CudaBuffers as
// tensors, integers, numbers, booleans, and the "Expected X for Y but received Z" errors.
#include "args.h"

#include <cmath>
#include <type_traits>

#ifdef NAPINET_WITH_CUDA
#include "../../cuda/api.h"
#include "cuda/buffer.h"
#endif

namespace napinet::binding {
namespace {

std::string describe(const Napi::Value& value) {
#ifdef NAPINET_WITH_CUDA
  CudaBufferView view;
  if (as_cuda_buffer(value, &view)) {
    if (view.disposed) return "a disposed CudaBuffer";
    return view.float32 ? "a float32 CudaBuffer" : "an int32 CudaBuffer";
  }
#endif
  if (value.IsUndefined()) return "undefined";
  if (value.IsNull()) return "null";
  if (value.IsNumber()) return "the number " + value.ToString().Utf8Value();
  if (value.IsString()) return "a string";
  if (value.IsBoolean()) return "a boolean";
  if (value.IsArray()) return "an Array";
  if (value.IsTypedArray()) {
    switch (value.As<Napi::TypedArray>().TypedArrayType()) {
      case napi_float32_array: return "a Float32Array";
      case napi_float64_array: return "a Float64Array";
      case napi_int32_array: return "an Int32Array";
      case napi_uint8_array: return "a Uint8Array";
      default: return "a typed array of another element type";
    }
  }
  if (value.IsFunction()) return "a function";
  if (value.IsObject()) return "an object";
  return "a value of another type";
}

Napi::Value arg(const Napi::CallbackInfo& info, std::size_t index) {
  return index < info.Length() ? info[index] : info.Env().Undefined();
}

template <typename T>
void check_length(Napi::Env env, const Buffer<T>& buffer, std::size_t required) {
  if (buffer.length < required) {
    throw_range_error(env, "Expected at least " + std::to_string(required) + " elements for " +
                               buffer.name + " but received " + std::to_string(buffer.length));
  }
}

#ifdef NAPINET_WITH_CUDA
// The GPU of the current call's CudaBuffers (-1: none read yet; see begin_call).
thread_local int t_call_device = -1;
// The GPU this thread's CUDA graph capture records (-1: none; set by native/binding/cuda/graph.cc).
thread_local int t_capture_device = -1;

// A live CudaBuffer of the wanted element type, or a TypeError naming the argument. Makes its GPU
// current for the call, or checks that it is the GPU of the call's other buffers.
bool cuda_arg(Napi::Env env, const Napi::Value& value, const char* name, bool float32, const char* expected,
              void** data, std::size_t* length, int* device) {
  CudaBufferView view;
  if (!as_cuda_buffer(value, &view)) return false;
  if (view.disposed || view.float32 != float32) throw_type_error(env, name, expected, describe(value));
  if (t_capture_device >= 0 && view.device != t_capture_device) {
    // Another GPU's stream is not the one recording: the kernel would run at once, unrecorded.
    throw_type_error(env, name, "a tensor on cuda:" + std::to_string(t_capture_device) + " (the GPU the CUDA graph records)",
                     "a tensor on cuda:" + std::to_string(view.device));
  }
  if (t_call_device < 0) {
    cuda::use_device(view.device);
    t_call_device = view.device;
  } else if (view.device != t_call_device) {
    throw_type_error(env, name, "a tensor on cuda:" + std::to_string(t_call_device),
                     "a tensor on cuda:" + std::to_string(view.device));
  }
  use_cuda_buffer(value, &view);  // a deferred zeroing is done now (on this GPU)
  *data = view.data;
  *length = view.length;
  *device = view.device;
  return true;
}
#endif

}  // namespace

std::string describe_value(const Napi::Value& value) { return describe(value); }

void begin_call() {
#ifdef NAPINET_WITH_CUDA
  t_call_device = -1;
#endif
}

void set_capture_device(int device) {
#ifdef NAPINET_WITH_CUDA
  t_capture_device = device;
#else
  (void)device;
#endif
}

bool accumulate_into(const Napi::CallbackInfo& info, std::initializer_list<std::size_t> indices,
                     bool accumulate) {
#ifdef NAPINET_WITH_CUDA
  if (!accumulate) return false;
  bool any = false;
  for (std::size_t index : indices) {
    Napi::Value value = arg(info, index);
    if (value.IsNull() || value.IsUndefined()) continue;
    if (!zeroing_pending(value)) return true;
    any = true;
  }
  if (!any) return true;
  for (std::size_t index : indices) {
    Napi::Value value = arg(info, index);
    if (!value.IsNull() && !value.IsUndefined()) take_zeroing(value);
  }
  return false;
#else
  (void)info;
  (void)indices;
  return accumulate;
#endif
}

std::string device_name(Device device, int cuda_device) {
  return device == Device::kCpu ? std::string("cpu") : "cuda:" + std::to_string(cuda_device);
}

void throw_type_error(Napi::Env env, const char* name, const std::string& expected,
                      const std::string& received) {
  throw Napi::TypeError::New(env, "Expected " + expected + " for " + name + " but received " +
                                      received);
}

void throw_range_error(Napi::Env env, const std::string& message) {
  throw Napi::RangeError::New(env, message);
}

namespace {

// What a tensor of element type T arrives as on the CPU.
template <typename T>
struct HostArray;
template <>
struct HostArray<float> {
  using Array = Napi::Float32Array;
  static constexpr napi_typedarray_type kType = napi_float32_array;
  static constexpr const char* kExpected = "a Float32Array";
};
template <>
struct HostArray<std::int32_t> {
  using Array = Napi::Int32Array;
  static constexpr napi_typedarray_type kType = napi_int32_array;
  static constexpr const char* kExpected = "an Int32Array";
};

// `value` as a tensor of T: a typed array (CPU) or a live CudaBuffer of T (CUDA), with at least
// `required` elements.
template <typename T>
Buffer<T> buffer_value(Napi::Env env, const Napi::Value& value, const char* name,
                       std::size_t required) {
  using Host = HostArray<T>;
  Buffer<T> buffer;
  buffer.name = name;
  if (value.IsTypedArray() && value.As<Napi::TypedArray>().TypedArrayType() == Host::kType) {
    auto array = value.As<typename Host::Array>();
    buffer.data = array.Data();
    buffer.length = array.ElementLength();
    buffer.device = Device::kCpu;
#ifdef NAPINET_WITH_CUDA
  } else if (void* data = nullptr; cuda_arg(env, value, name, std::is_same_v<T, float>,
                                            Host::kExpected, &data, &buffer.length, &buffer.cuda_device)) {
    buffer.data = static_cast<T*>(data);
    buffer.device = Device::kCuda;
#endif
  } else {
    throw_type_error(env, name, Host::kExpected, describe(value));
  }
  // An empty typed array may have no backing store; kernels never touch it, but keep the pointer
  // non-null so "omitted" stays distinguishable.
  static T empty_sentinel = 0;
  if (buffer.data == nullptr) buffer.data = &empty_sentinel;
  check_length(env, buffer, required);
  return buffer;
}

FloatBuffer float_value(Napi::Env env, const Napi::Value& value, const char* name,
                        std::size_t required) {
  return buffer_value<float>(env, value, name, required);
}

}  // namespace

FloatBuffer float_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name,
                      std::size_t required) {
  return float_value(info.Env(), arg(info, index), name, required);
}

std::vector<float*> FloatList::pointers() const {
  std::vector<float*> out;
  for (const FloatBuffer& b : buffers) out.push_back(b.data);
  return out;
}

std::vector<std::int64_t> FloatList::lengths() const {
  std::vector<std::int64_t> out;
  for (const FloatBuffer& b : buffers) out.push_back(static_cast<std::int64_t>(b.length));
  return out;
}

FloatList float_list_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name,
                         std::size_t max_count) {
  Napi::Env env = info.Env();
  Napi::Value value = arg(info, index);
  if (!value.IsArray()) throw_type_error(env, name, "an Array of tensors", describe(value));
  auto array = value.As<Napi::Array>();
  if (array.Length() > max_count) {
    throw_range_error(env, "Expected at most " + std::to_string(max_count) + " tensors for " + name +
                               " but received " + std::to_string(array.Length()));
  }
  FloatList list;
  for (std::uint32_t i = 0; i < array.Length(); ++i) list.names.push_back(std::string(name) + "[" + std::to_string(i) + "]");
  for (std::uint32_t i = 0; i < array.Length(); ++i) {
    list.buffers.push_back(float_value(env, array.Get(i), list.names[i].c_str(), 0));
    if (list.buffers[i].device != list.buffers[0].device) {
      throw_type_error(env, list.names[i].c_str(), "a tensor on " + device_name(list.buffers[0].device, list.buffers[0].cuda_device),
                       "a tensor on " + device_name(list.buffers[i].device, list.buffers[i].cuda_device));
    }
  }
  return list;
}

FloatBuffer optional_float_arg(const Napi::CallbackInfo& info, std::size_t index,
                               const char* name, std::size_t required) {
  Napi::Value value = arg(info, index);
  if (value.IsNull() || value.IsUndefined()) {
    FloatBuffer none;
    none.name = name;
    return none;
  }
  return float_arg(info, index, name, required);
}

IntBuffer int_buffer_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name,
                         std::size_t required) {
  return buffer_value<std::int32_t>(info.Env(), arg(info, index), name, required);
}

WordBuffer word_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name,
                    std::size_t required) {
  Napi::Env env = info.Env();
  Napi::Value value = arg(info, index);
  WordBuffer buffer;
  buffer.name = name;
  bool found = false;
  if (value.IsTypedArray()) {
    auto array = value.As<Napi::TypedArray>();
    if (array.TypedArrayType() == napi_float32_array || array.TypedArrayType() == napi_int32_array) {
      auto* bytes = static_cast<std::uint8_t*>(array.ArrayBuffer().Data());
      buffer.data = bytes == nullptr ? nullptr : reinterpret_cast<std::uint32_t*>(bytes + array.ByteOffset());
      buffer.length = array.ElementLength();
      buffer.device = Device::kCpu;
      found = true;
    }
  }
#ifdef NAPINET_WITH_CUDA
  CudaBufferView view;
  if (!found && as_cuda_buffer(value, &view) && !view.disposed) {
    buffer.data = static_cast<std::uint32_t*>(view.data);
    buffer.length = view.length;
    buffer.device = Device::kCuda;
    found = true;
  }
#endif
  if (!found) throw_type_error(env, name, "a float32 or int32 tensor", describe(value));
  static std::uint32_t empty_sentinel = 0;  // as buffer_value: an empty array may have no store
  if (buffer.data == nullptr) buffer.data = &empty_sentinel;
  check_length(env, buffer, required);
  return buffer;
}

std::int64_t int_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name,
                     std::int64_t min, std::int64_t max) {
  Napi::Env env = info.Env();
  Napi::Value value = arg(info, index);
  if (!value.IsNumber()) throw_type_error(env, name, "an integer", describe(value));
  double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number) || std::floor(number) != number) {
    throw_type_error(env, name, "an integer", describe(value));
  }
  if (number < static_cast<double>(min) || number > static_cast<double>(max)) {
    throw_range_error(env, "Expected an integer in [" + std::to_string(min) + ", " +
                               std::to_string(max) + "] for " + name + " but received " +
                               value.ToString().Utf8Value());
  }
  return static_cast<std::int64_t>(number);
}

double number_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name) {
  Napi::Value value = arg(info, index);
  if (!value.IsNumber()) throw_type_error(info.Env(), name, "a number", describe(value));
  return value.As<Napi::Number>().DoubleValue();
}

double finite_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name) {
  const double value = number_arg(info, index, name);
  if (!std::isfinite(value)) {
    throw_range_error(info.Env(), std::string("Expected a finite number for ") + name +
                                      " but received " + arg(info, index).ToString().Utf8Value());
  }
  return value;
}

double range_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name, double min,
                 double max, const char* range) {
  const double value = number_arg(info, index, name);
  if (!std::isfinite(value) || value < min || value > max) {
    throw_range_error(info.Env(), std::string("Expected a number in ") + range + " for " + name +
                                      " but received " + arg(info, index).ToString().Utf8Value());
  }
  return value;
}

std::size_t element_count(Napi::Env env, const char* name,
                          std::initializer_list<std::int64_t> dims) {
  constexpr std::int64_t kMaxElements = std::int64_t{1} << 53;
  std::int64_t total = 1;
  for (std::int64_t d : dims) {
    if (d != 0 && total > kMaxElements / d) {
      throw_range_error(env, std::string("Expected at most 2^53 elements for ") + name +
                                 " but its shape asks for more");
    }
    total *= d;
  }
  return static_cast<std::size_t>(total);
}

bool bool_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name) {
  Napi::Value value = arg(info, index);
  if (!value.IsBoolean()) throw_type_error(info.Env(), name, "a boolean", describe(value));
  return value.As<Napi::Boolean>().Value();
}

}  // namespace napinet::binding
