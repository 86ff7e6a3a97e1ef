// CudaBuffer (see buffer.h) and cudaAlloc(length, dtype, device = 0). Device memory is zeroed when
// allocated, so a new buffer reads as zeros, like a new typed array. Memory comes from napinet's
// stream-ordered allocator (cuda/memory.cu): dispose() and the finalizer free without waiting for
// the GPU, and a finalizer that runs while this thread captures a CUDA graph leaves the capture
// alone (the free happens when the capture ends).
// Tests: test/cuda-buffer.test.ts.
#include "buffer.h"

#include <cstdint>
#include <set>
#include <string>

#include "../../../cuda/api.h"
#include "../args.h"
#include "../registry.h"
#include "deferred.h"

namespace napinet::binding {
namespace {

// Marks objects made by this addon's CudaBuffer class (napi_type_tag_object), so a look-alike
// object from JavaScript is never unwrapped.
constexpr napi_type_tag kCudaBufferTag = {0x6e6170696e657463ull, 0x7564616275666672ull};

// Only cudaAlloc may construct a CudaBuffer: it passes this token as the first argument.
int construct_token = 0;

class CudaBuffer;

// The CudaBuffer class and the live buffers of one Node.js environment (thread).
struct CudaEnv {
  explicit CudaEnv(Napi::Env env);
  Napi::FunctionReference constructor;
  std::set<CudaBuffer*> live;
  std::set<CudaBuffer*> zeroing;  // live buffers whose zeroing is deferred (deferred.h)
  bool cleanup_registered = false;
};

std::shared_ptr<CudaEnv> cuda_env(Napi::Env env);

// Runs fn, turning C++ exceptions (napinet::cuda::Error, …) into JavaScript errors: ObjectWrap's
// callbacks only forward Napi::Error.
template <typename Fn>
auto guarded(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

class CudaBuffer : public Napi::ObjectWrap<CudaBuffer> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, "CudaBuffer",
                       {
                           InstanceAccessor<&CudaBuffer::length>("length"),
                           InstanceAccessor<&CudaBuffer::dtype>("dtype"),
                           InstanceAccessor<&CudaBuffer::device>("device"),
                           InstanceAccessor<&CudaBuffer::disposed>("disposed"),
                           InstanceMethod<&CudaBuffer::upload>("upload"),
                           InstanceMethod<&CudaBuffer::download>("download"),
                           InstanceMethod<&CudaBuffer::dispose>("dispose"),
                       });
  }

  // new CudaBuffer(token, length, float32, device): allocates and zeroes length elements.
  explicit CudaBuffer(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CudaBuffer>(info) {
    Napi::Env env = info.Env();
    if (info.Length() != 4 || !info[0].IsExternal() ||
        info[0].As<Napi::External<int>>().Data() != &construct_token) {
      throw Napi::TypeError::New(env, "CudaBuffer cannot be constructed directly: use cudaAlloc(length, dtype)");
    }
    length_ = static_cast<std::size_t>(info[1].As<Napi::Number>().Int64Value());
    float32_ = info[2].As<Napi::Boolean>().Value();
    device_ = info[3].As<Napi::Number>().Int32Value();
    const std::size_t bytes = length_ * 4;
    guarded(env, [&] {
      cuda::use_device(device_);
      data_ = cuda::alloc(bytes == 0 ? 4 : bytes);  // never null, even when empty
      try {
        cuda::memset(data_, 0, bytes);
      } catch (...) {
        cuda::free(data_);
        data_ = nullptr;
        throw;
      }
    });
    info.This().As<Napi::Object>().TypeTag(&kCudaBufferTag);
    env_ = cuda_env(env);
    env_->live.insert(this);
  }

  ~CudaBuffer() override {
    release();
    if (env_) env_->live.erase(this);
  }

  // Frees the device memory now (idempotent). Work the binding holds back may use it: run first.
  void release() {
    if (data_ == nullptr) return;
    try {
      run_deferred();
    } catch (...) {
      // A CUDA error of held work: the next call that synchronises reports the device's state.
    }
    set_zeroing(false);
    cuda::free(data_);
    data_ = nullptr;
  }

  // The deferred zeroing (deferred.h): mark, or do it now.
  void set_zeroing(bool pending) {
    if (pending == zeroing_) return;
    zeroing_ = pending;
    if (env_) {
      if (pending) {
        env_->zeroing.insert(this);
      } else {
        env_->zeroing.erase(this);
      }
    }
  }
  bool zeroing() const { return zeroing_; }
  void zero_now() {
    if (!zeroing_) return;
    set_zeroing(false);
    cuda::use_device(device_);
    if (float32_) {
      cuda::fill(static_cast<float*>(data_), 0.0f, static_cast<std::int64_t>(length_));
    } else {
      cuda::fill_int32(static_cast<std::int32_t*>(data_), 0, static_cast<std::int64_t>(length_));
    }
  }

  CudaBufferView view() const { return CudaBufferView{data_, length_, float32_, data_ == nullptr, device_}; }

 private:
  Napi::Value length(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(length_));
  }
  Napi::Value dtype(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), float32_ ? "float32" : "int32");
  }
  Napi::Value device(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), device_); }
  Napi::Value disposed(const Napi::CallbackInfo& info) {
    return Napi::Boolean::New(info.Env(), data_ == nullptr);
  }

  // The host side of a copy: a typed array of this buffer's element type that fits at `offset`.
  struct HostRange {
    void* data;
    std::size_t bytes;
    std::size_t device_offset_bytes;
  };
  HostRange host_range(const Napi::CallbackInfo& info, const char* name) {
    Napi::Env env = info.Env();
    if (data_ == nullptr) throw Napi::Error::New(env, "This CudaBuffer was disposed");
    Napi::Value value = info.Length() > 0 ? info[0] : env.Undefined();
    const napi_typedarray_type want = float32_ ? napi_float32_array : napi_int32_array;
    if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != want) {
      throw_type_error(env, name, float32_ ? "a Float32Array" : "an Int32Array", describe_value(value));
    }
    auto array = value.As<Napi::TypedArray>();
    std::size_t offset = 0;
    if (info.Length() > 1 && !info[1].IsUndefined()) {
      offset = static_cast<std::size_t>(int_arg(info, 1, "offset", 0, static_cast<std::int64_t>(length_)));
    }
    const std::size_t count = array.ElementLength();
    if (count > length_ - offset) {
      throw_range_error(env, "Expected at most " + std::to_string(length_ - offset) + " elements for " + name +
                                 " (a CudaBuffer of " + std::to_string(length_) + " from offset " +
                                 std::to_string(offset) + ") but received " + std::to_string(count));
    }
    auto* bytes = static_cast<std::uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    return HostRange{bytes, count * 4, offset * 4};
  }

  Napi::Value upload(const Napi::CallbackInfo& info) {
    HostRange range = host_range(info, "source");
    guarded(info.Env(), [&] {
      run_deferred();
      zero_now();
      cuda::use_device(device_);
      cuda::copy_to_device(static_cast<std::uint8_t*>(data_) + range.device_offset_bytes, range.data, range.bytes);
    });
    return info.Env().Undefined();
  }

  Napi::Value download(const Napi::CallbackInfo& info) {
    HostRange range = host_range(info, "target");
    guarded(info.Env(), [&] {
      run_deferred();
      zero_now();
      cuda::use_device(device_);
      cuda::copy_to_host(range.data, static_cast<std::uint8_t*>(data_) + range.device_offset_bytes, range.bytes);
    });
    return info.Env().Undefined();
  }

  Napi::Value dispose(const Napi::CallbackInfo& info) {
    release();
    return info.Env().Undefined();
  }

  void* data_ = nullptr;
  std::size_t length_ = 0;
  bool float32_ = true;
  int device_ = 0;
  bool zeroing_ = false;
  std::shared_ptr<CudaEnv> env_;
};

CudaEnv::CudaEnv(Napi::Env env) : constructor(Napi::Persistent(CudaBuffer::define(env))) {}

std::shared_ptr<CudaEnv> cuda_env(Napi::Env env) {
  std::shared_ptr<CudaEnv> state = env_state<CudaEnv>(env);
  if (!state->cleanup_registered) {
    state->cleanup_registered = true;
    // When the environment goes away (a worker thread ends, the process exits) free what is left,
    // whether or not the handles' finalizers run afterwards.
    env.AddCleanupHook([state] {
      drop_deferred();
      for (CudaBuffer* buffer : state->live) buffer->set_zeroing(false);
      for (CudaBuffer* buffer : state->live) buffer->release();
      try {
        state->constructor.Reset();
      } catch (...) {
      }
    });
  }
  return state;
}

Napi::Value cuda_alloc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::int64_t length = int_arg(info, 0, "length", 0, std::int64_t{1} << 50);
  Napi::Value dtype = info.Length() > 1 ? info[1] : env.Undefined();
  const std::string type = dtype.IsString() ? dtype.As<Napi::String>().Utf8Value() : "";
  if (type != "float32" && type != "int32") {
    throw_type_error(env, "dtype", "'float32' or 'int32'", describe_value(dtype));
  }
  std::int64_t device = 0;
  if (info.Length() > 2 && !info[2].IsUndefined()) {
    device = int_arg(info, 2, "device", 0, 1023);
    const int count = cuda::device_count();
    if (device >= count) {
      throw_range_error(env, "Expected a GPU of this machine (" +
                                 (count == 0 ? std::string("it has none") : "cuda:0 to cuda:" + std::to_string(count - 1)) +
                                 ") for device but received " + std::to_string(device));
    }
  }
  std::shared_ptr<CudaEnv> state = cuda_env(env);
  return state->constructor.New({Napi::External<int>::New(env, &construct_token),
                                 Napi::Number::New(env, static_cast<double>(length)),
                                 Napi::Boolean::New(env, type == "float32"),
                                 Napi::Number::New(env, static_cast<double>(device))});
}
// A new buffer touches none that held work uses: the held loss passes stay held (deferred.h).
NAPINET_EXPORT_KEEPING_DEFERRED("cudaAlloc", cuda_alloc);

}  // namespace

namespace {
// The CudaBuffer behind `value`, or nullptr.
CudaBuffer* unwrap(const Napi::Value& value) {
  if (!value.IsObject()) return nullptr;
  Napi::Object object = value.As<Napi::Object>();
  if (!object.CheckTypeTag(&kCudaBufferTag)) return nullptr;
  void* unwrapped = nullptr;
  if (napi_unwrap(value.Env(), object, &unwrapped) != napi_ok) return nullptr;
  return static_cast<CudaBuffer*>(unwrapped);
}
}  // namespace

bool as_cuda_buffer(const Napi::Value& value, CudaBufferView* view) {
  CudaBuffer* buffer = unwrap(value);
  if (buffer == nullptr) return false;
  *view = buffer->view();
  return true;
}

bool use_cuda_buffer(const Napi::Value& value, CudaBufferView* view) {
  CudaBuffer* buffer = unwrap(value);
  if (buffer == nullptr) return false;
  if (!buffer->view().disposed) buffer->zero_now();
  *view = buffer->view();
  return true;
}

void defer_zeroing(const Napi::Value& value) {
  CudaBuffer* buffer = unwrap(value);
  if (buffer != nullptr && !buffer->view().disposed) buffer->set_zeroing(true);
}

bool zeroing_pending(const Napi::Value& value) {
  CudaBuffer* buffer = unwrap(value);
  return buffer != nullptr && buffer->zeroing();
}

void take_zeroing(const Napi::Value& value) {
  if (CudaBuffer* buffer = unwrap(value)) buffer->set_zeroing(false);
}

void zero_pending_buffers(Napi::Env env) {
  std::shared_ptr<CudaEnv> state = cuda_env(env);
  const std::set<CudaBuffer*> pending = state->zeroing;  // zero_now() edits the set
  for (CudaBuffer* buffer : pending) buffer->zero_now();
}

}  // namespace napinet::binding
