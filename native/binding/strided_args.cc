#include "strided_args.h"

#include <utility>
#include <cmath>
#include <string>
#include <vector>

#ifdef NAPINET_WITH_CUDA
#include "../../cuda/api.h"
#endif

namespace napinet::binding {
namespace {

Napi::Value arg(const Napi::CallbackInfo& info, std::size_t index) {
  return index < info.Length() ? info[index] : info.Env().Undefined();
}

// An Array of non-negative integers ≤ kMaxExtent, at most `max_length` of them (exactly
// `want_length` unless it is negative); `what` names the expected value in messages.
int int_list(const Napi::CallbackInfo& info, std::size_t index, const char* name, int max_length,
             int want_length, std::int64_t* out) {
  Napi::Env env = info.Env();
  Napi::Value value = arg(info, index);
  const std::string expected =
      want_length >= 0 ? "an Array of " + std::to_string(want_length) + " non-negative integers"
                       : "an Array of non-negative integers";
  if (!value.IsArray()) throw_type_error(env, name, expected, describe_value(value));
  auto array = value.As<Napi::Array>();
  const std::uint32_t length = array.Length();
  if ((want_length >= 0 && length != static_cast<std::uint32_t>(want_length)) ||
      length > static_cast<std::uint32_t>(max_length)) {
    std::string text = "an Array of length " + std::to_string(length);
    if (want_length < 0) {
      throw_range_error(env, std::string("Expected a shape of rank ≤ ") + std::to_string(max_length) +
                                 " for " + name + " but received " + text);
    }
    throw_range_error(env, "Expected " + expected + " for " + name + " but received " + text);
  }
  for (std::uint32_t i = 0; i < length; ++i) {
    Napi::Value item = array.Get(i);
    const double v = item.IsNumber() ? item.As<Napi::Number>().DoubleValue() : -1.0;
    if (!(v >= 0.0) || std::floor(v) != v || v > static_cast<double>(kMaxExtent)) {
      throw_type_error(env, name, expected,
                       std::string("an Array holding ") + describe_value(item) + " at index " +
                           std::to_string(i));
    }
    out[i] = static_cast<std::int64_t>(v);
  }
  return static_cast<int>(length);
}

}  // namespace

std::string dims_text(const std::int64_t* dims, int rank) {
  std::string text = "[";
  for (int d = 0; d < rank; ++d) text += (d ? ", " : "") + std::to_string(dims[d]);
  return text + "]";
}

ShapeArg shape_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name) {
  Napi::Env env = info.Env();
  Napi::Value value = arg(info, index);
  // A rank above the limit is named with the whole shape (read with a generous bound first).
  if (value.IsArray() && value.As<Napi::Array>().Length() > kernels::kMaxRank &&
      value.As<Napi::Array>().Length() <= 64) {
    std::int64_t dims[64];
    const int rank = int_list(info, index, name, 64, -1, dims);
    throw_range_error(env, std::string("Expected a shape of rank ≤ ") + std::to_string(kernels::kMaxRank) +
                               " for " + name + " but received " + dims_text(dims, rank));
  }
  ShapeArg shape;
  shape.rank = int_list(info, index, name, kernels::kMaxRank, -1, shape.dims);
  for (int d = 0; d < shape.rank; ++d) {
    if (shape.dims[d] == 0) {
      shape.elements = 0;
      break;
    }
    if (shape.elements > kMaxExtent / shape.dims[d]) {
      throw_range_error(env, std::string("Expected a shape of at most 2^52 elements for ") + name +
                                 " but received " + dims_text(shape.dims, shape.rank));
    }
    shape.elements *= shape.dims[d];
  }
  return shape;
}

std::int64_t view_arg(const Napi::CallbackInfo& info, std::size_t offset_index, const char* name,
                      const ShapeArg& shape, std::size_t buffer_length, std::int64_t* offset,
                      std::int64_t* strides) {
  Napi::Env env = info.Env();
  const std::string offset_name = std::string(name) + "Offset";
  const std::string strides_name = std::string(name) + "Strides";
  *offset = int_arg(info, offset_index, offset_name.c_str(), 0, kMaxExtent);
  int_list(info, offset_index + 1, strides_name.c_str(), kernels::kMaxRank, shape.rank, strides);
  if (shape.elements == 0) return 0;
  // The largest offset the view reaches, saturating at kMaxExtent·2 (each term is below 2^104
  // before the check, so compare by division).
  std::int64_t reach = *offset;
  bool too_far = false;
  for (int d = 0; d < shape.rank && !too_far; ++d) {
    const std::int64_t span = shape.dims[d] - 1;
    if (span > 0 && strides[d] > 0) {
      if (span > (2 * kMaxExtent - reach) / strides[d]) {
        too_far = true;
      } else {
        reach += span * strides[d];
      }
    }
  }
  if (too_far || reach >= static_cast<std::int64_t>(buffer_length)) {
    throw_range_error(env, "Expected a view inside the " + std::to_string(buffer_length) +
                               " elements of " + name + " but received offset " +
                               std::to_string(*offset) + ", strides " +
                               dims_text(strides, shape.rank) + " over shape " +
                               dims_text(shape.dims, shape.rank) + " (reaching element " +
                               (too_far ? std::string("beyond 2^53") : std::to_string(reach)) + ")");
  }
  return reach + 1;
}

void check_no_self_overlap(Napi::Env env, const char* name, const ShapeArg& shape,
                           const std::int64_t* strides) {
  if (shape.elements <= 1) return;
  int order[kernels::kMaxRank];
  int n = 0;
  for (int d = 0; d < shape.rank; ++d) {
    if (shape.dims[d] > 1) order[n++] = d;
  }
  for (int i = 1; i < n; ++i) {  // insertion sort by stride (at most kMaxRank entries)
    for (int j = i; j > 0 && strides[order[j]] < strides[order[j - 1]]; --j) std::swap(order[j], order[j - 1]);
  }
  std::int64_t reach = 0;  // the largest offset the smaller dimensions reach
  for (int i = 0; i < n; ++i) {
    const int d = order[i];
    if (strides[d] <= reach) {
      throw_range_error(env, std::string("Expected a view whose elements do not overlap for ") + name +
                                 " but received strides " + dims_text(strides, shape.rank) +
                                 " over shape " + dims_text(shape.dims, shape.rank));
    }
    reach += (shape.dims[d] - 1) * strides[d];
  }
}

bool ranges_overlap(const void* a, std::int64_t a_length, const void* b, std::int64_t b_length) {
  if (a_length <= 0 || b_length <= 0) return false;
  const auto pa = reinterpret_cast<std::uintptr_t>(a), pb = reinterpret_cast<std::uintptr_t>(b);
  return pa < pb + static_cast<std::uintptr_t>(b_length) * 4 &&
         pb < pa + static_cast<std::uintptr_t>(a_length) * 4;
}

void check_indices(Napi::Env env, const IntBuffer& indices, std::int64_t count, std::int64_t limit) {
  if (count <= 0) return;
  const std::int32_t* values = indices.data;
#ifdef NAPINET_WITH_CUDA
  std::vector<std::int32_t> host;
  if (indices.device == Device::kCuda) {
    host.resize(static_cast<std::size_t>(count));
    cuda::copy_to_host(host.data(), indices.data, host.size() * sizeof(std::int32_t));
    values = host.data();
  }
#endif
  for (std::int64_t i = 0; i < count; ++i) {
    if (values[i] < 0 || values[i] >= limit) {
      throw_range_error(env, "Expected indices in [0, " + std::to_string(limit) + ") for " +
                                 indices.name + " but received " + std::to_string(values[i]) +
                                 " at position " + std::to_string(i));
    }
  }
}

}  // namespace napinet::binding
