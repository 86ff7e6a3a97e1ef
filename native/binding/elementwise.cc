// Bindings for native/kernels/elementwise (CPU) and cuda/elementwise.cu:
//   elementwiseUnary(op, out, outOffset, outStrides, x, xOffset, xStrides, shape, alpha, beta, accumulate)
//   elementwiseBinary(op, out, outOffset, outStrides, a, aOffset, aStrides, b, bOffset, bStrides,
//                     shape, alpha, beta, accumulate)
//   elementwiseTernary(op, out, outOffset, outStrides, a, …, b, …, c, cOffset, cStrides, shape, accumulate)
//   elementwiseOpNames() → { unary, binary, ternary }: the op names in op-number order
// Every tensor is a strided view (offset, strides) over `shape`; an input may be a number instead
// (a scalar everywhere; its offset and strides are then ignored). out's view must not overlap
// itself, and an input may share out's memory only through the identical view (in place).
#include "../kernels/elementwise.h"

#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"
#include "strided_args.h"

namespace napinet::binding {
namespace {

using kernels::ElementInput;
using kernels::StridedLayout;

// One operand as read: its buffer (empty for a scalar input), view and memory reach.
struct Operand {
  FloatBuffer buffer;
  std::int64_t offset = 0;
  std::int64_t strides[kernels::kMaxRank] = {};
  std::int64_t reach = 0;  // elements from the buffer's start to just past the view's last one
  ElementInput input;
};

Operand operand_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name,
                    const ShapeArg& shape, bool may_be_scalar) {
  Operand op;
  if (may_be_scalar && index < info.Length() && info[index].IsNumber()) {
    op.input.scalar = static_cast<float>(info[index].As<Napi::Number>().DoubleValue());
    return op;
  }
  op.buffer = float_arg(info, index, name, 0);
  op.reach = view_arg(info, index + 1, name, shape, op.buffer.length, &op.offset, op.strides);
  op.input.data = op.buffer.data;
  return op;
}

bool same_view(const Operand& a, const Operand& b, const ShapeArg& shape) {
  if (a.buffer.data != b.buffer.data || a.offset != b.offset) return false;
  for (int d = 0; d < shape.rank; ++d) {
    if (shape.dims[d] > 1 && a.strides[d] != b.strides[d]) return false;
  }
  return true;
}

// The operands of one call: out (arguments 1–3), then the inputs (3 arguments each), then shape.
template <int kInputs>
struct Call {
  ShapeArg shape;
  Operand out;
  Operand in[kInputs];
  StridedLayout layout;
  Device device = Device::kCpu;
};

template <int kInputs>
Call<kInputs> read_call(const Napi::CallbackInfo& info, const char* const (&names)[kInputs]) {
  Napi::Env env = info.Env();
  Call<kInputs> c;
  const std::size_t shape_index = 4 + 3 * kInputs;
  c.shape = shape_arg(info, shape_index, "shape");
  c.out = operand_arg(info, 1, "out", c.shape, false);
  check_no_self_overlap(env, "out", c.shape, c.out.strides);
  for (int k = 0; k < kInputs; ++k) {
    c.in[k] = operand_arg(info, 4 + 3 * k, names[k], c.shape, true);
    const Operand& in = c.in[k];
    if (in.buffer && c.shape.elements > 0 &&
        ranges_overlap(c.out.buffer.data + c.out.offset, c.out.reach - c.out.offset,
                       in.buffer.data + in.offset, in.reach - in.offset) &&
        !same_view(c.out, in, c.shape)) {
      throw_range_error(env, std::string("Expected ") + names[k] +
                                 " not to overlap out (other than as the same view, in place) for " +
                                 names[k] + " but received overlapping buffers");
    }
  }
  // The device of out and every tensor input (scalar inputs have none).
  auto device_of = [&](auto&... buffers) { return common_device(env, c.out.buffer, buffers...); };
  if constexpr (kInputs == 1) c.device = device_of(c.in[0].buffer);
  if constexpr (kInputs == 2) c.device = device_of(c.in[0].buffer, c.in[1].buffer);
  if constexpr (kInputs == 3) c.device = device_of(c.in[0].buffer, c.in[1].buffer, c.in[2].buffer);
  c.layout.rank = c.shape.rank;
  c.layout.operands = 1 + kInputs;
  for (int d = 0; d < c.shape.rank; ++d) c.layout.shape[d] = c.shape.dims[d];
  const Operand* operands[1 + kInputs];
  operands[0] = &c.out;
  for (int k = 0; k < kInputs; ++k) operands[k + 1] = &c.in[k];
  for (int k = 0; k <= kInputs; ++k) {
    c.layout.offsets[k] = operands[k]->offset;
    for (int d = 0; d < c.shape.rank; ++d) c.layout.strides[k][d] = operands[k]->strides[d];
  }
  return c;
}

template <class Op>
Op op_arg(const Napi::CallbackInfo& info) {
  return static_cast<Op>(int_arg(info, 0, "op", 0, static_cast<std::int64_t>(Op::kCount) - 1));
}

Napi::Value elementwise_unary(const Napi::CallbackInfo& info) {
  const auto op = op_arg<kernels::UnaryOp>(info);
  const auto c = read_call<1>(info, {"x"});
  const auto alpha = static_cast<float>(number_arg(info, 8, "alpha"));
  const auto beta = static_cast<float>(number_arg(info, 9, "beta"));
  const bool accumulate = bool_arg(info, 10, "accumulate");
  NAPINET_DISPATCH(c.device, unary, c.out.buffer.data, c.in[0].input, c.layout, op, alpha, beta, accumulate);
  return info.Env().Undefined();
}
NAPINET_EXPORT("elementwiseUnary", elementwise_unary);

Napi::Value elementwise_binary(const Napi::CallbackInfo& info) {
  const auto op = op_arg<kernels::BinaryOp>(info);
  const auto c = read_call<2>(info, {"a", "b"});
  const auto alpha = static_cast<float>(number_arg(info, 11, "alpha"));
  const auto beta = static_cast<float>(number_arg(info, 12, "beta"));
  const bool accumulate = bool_arg(info, 13, "accumulate");
  NAPINET_DISPATCH(c.device, binary, c.out.buffer.data, c.in[0].input, c.in[1].input, c.layout, op, alpha, beta, accumulate);
  return info.Env().Undefined();
}
NAPINET_EXPORT("elementwiseBinary", elementwise_binary);

Napi::Value elementwise_ternary(const Napi::CallbackInfo& info) {
  const auto op = op_arg<kernels::TernaryOp>(info);
  const auto c = read_call<3>(info, {"a", "b", "c"});
  const bool accumulate = bool_arg(info, 14, "accumulate");
  NAPINET_DISPATCH(c.device, ternary, c.out.buffer.data, c.in[0].input, c.in[1].input, c.in[2].input, c.layout, op, accumulate);
  return info.Env().Undefined();
}
NAPINET_EXPORT("elementwiseTernary", elementwise_ternary);

template <std::size_t N>
Napi::Array names_array(Napi::Env env, const char* const (&names)[N]) {
  Napi::Array array = Napi::Array::New(env, N);
  for (std::size_t i = 0; i < N; ++i) array.Set(static_cast<std::uint32_t>(i), names[i]);
  return array;
}

Napi::Value elementwise_op_names(const Napi::CallbackInfo& info) {
  Napi::Object names = Napi::Object::New(info.Env());
  names.Set("unary", names_array(info.Env(), kernels::kUnaryOpNames));
  names.Set("binary", names_array(info.Env(), kernels::kBinaryOpNames));
  names.Set("ternary", names_array(info.Env(), kernels::kTernaryOpNames));
  return names;
}
NAPINET_EXPORT("elementwiseOpNames", elementwise_op_names);

}  // namespace
}  // namespace napinet::binding
