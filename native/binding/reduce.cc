// Bindings for native/kernels/reduce (CPU) and cuda/reduce.cu:
//   reduce(op, out, indices, x, shape, dims, correction)
//     x contiguous of `shape`; `dims` the reduced dimensions (an Array of distinct integers); out
//     holds the kept dimensions' product of values (keepdim layout); indices (an int32 tensor, or
//     null) the winners' positions, for max and min only; correction: var's (ignored otherwise).
//   reduceOpNames() → the op names in op-number order
#include "../kernels/reduce.h"

#include <cmath>
#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"
#include "strided_args.h"

namespace napinet::binding {
namespace {

using kernels::ReduceOp;

Napi::Value arg(const Napi::CallbackInfo& info, std::size_t index) {
  return index < info.Length() ? info[index] : info.Env().Undefined();
}

// The reduced dimensions as a bit mask: an Array of distinct integers in [0, rank).
std::uint32_t dims_arg(const Napi::CallbackInfo& info, std::size_t index, const ShapeArg& shape) {
  Napi::Env env = info.Env();
  Napi::Value value = arg(info, index);
  const std::string expected = "an Array of distinct dimensions in [0, " + std::to_string(shape.rank) + ")";
  if (!value.IsArray()) throw_type_error(env, "dims", expected, describe_value(value));
  auto array = value.As<Napi::Array>();
  std::uint32_t mask = 0;
  for (std::uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    const double d = item.IsNumber() ? item.As<Napi::Number>().DoubleValue() : -1.0;
    const auto bit = static_cast<int>(d);
    if (!(d >= 0.0) || d >= shape.rank || bit != d || ((mask >> bit) & 1u)) {
      throw_range_error(env, "Expected " + expected + " for dims but received " +
                                 describe_value(item) + " at index " + std::to_string(i));
    }
    mask |= 1u << bit;
  }
  return mask;
}

Napi::Value reduce(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto op = static_cast<ReduceOp>(int_arg(info, 0, "op", 0, static_cast<int>(ReduceOp::kCount) - 1));
  const ShapeArg shape = shape_arg(info, 4, "shape");
  const std::uint32_t mask = dims_arg(info, 5, shape);
  const double correction = number_arg(info, 6, "correction");
  if (!std::isfinite(correction)) {
    throw_range_error(env, "Expected a finite number for correction but received " + info[6].ToString().Utf8Value());
  }
  std::int64_t outputs = 1, count = 1;
  for (int d = 0; d < shape.rank; ++d) ((mask >> d) & 1u ? count : outputs) *= shape.dims[d];
  const bool arg_op = op == ReduceOp::kMax || op == ReduceOp::kMin;
  if (arg_op && count == 0 && outputs > 0) {
    throw_range_error(env, std::string("Expected a non-empty reduction for ") +
                               kernels::kReduceOpNames[static_cast<int>(op)] + " but received shape " +
                               dims_text(shape.dims, shape.rank) + " with a reduced dimension of size 0");
  }
  auto out = float_arg(info, 1, "out", static_cast<std::size_t>(outputs));
  IntBuffer indices;
  indices.name = "indices";
  if (!arg(info, 2).IsNull() && !arg(info, 2).IsUndefined()) {
    if (!arg_op) {
      throw_type_error(env, "indices", std::string("null (only max and min give indices) for ") +
                                           kernels::kReduceOpNames[static_cast<int>(op)],
                       describe_value(arg(info, 2)));
    }
    if (count > INT32_MAX) {
      throw_range_error(env, "Expected at most 2^31 − 1 reduced elements per output for indices but received " +
                                 std::to_string(count));
    }
    indices = int_buffer_arg(info, 2, "indices", static_cast<std::size_t>(outputs));
  }
  auto x = float_arg(info, 3, "x", static_cast<std::size_t>(shape.elements));
  if (ranges_overlap(out.data, outputs, x.data, shape.elements)) {
    throw_range_error(env, "Expected out not to overlap x for out but received overlapping buffers");
  }
  const Device device = common_device(env, out, x, indices);
  NAPINET_DISPATCH(device, reduce, out.data, indices.data, x.data, shape.dims, shape.rank, mask, op, correction);
  return env.Undefined();
}
NAPINET_EXPORT("reduce", reduce);

Napi::Value reduce_op_names(const Napi::CallbackInfo& info) {
  constexpr int count = static_cast<int>(ReduceOp::kCount);
  Napi::Array array = Napi::Array::New(info.Env(), count);
  for (int i = 0; i < count; ++i) array.Set(static_cast<std::uint32_t>(i), kernels::kReduceOpNames[i]);
  return array;
}
NAPINET_EXPORT("reduceOpNames", reduce_op_names);

}  // namespace
}  // namespace napinet::binding
