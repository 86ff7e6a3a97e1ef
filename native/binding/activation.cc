// Bindings for native/kernels/activation:
//   reluForward(y, x, n), reluBackward(dx, dy, y, n)
//   sigmoidForward(y, x, n), sigmoidBackward(dx, dy, y, n), tanhForward, tanhBackward (same)
//   leakyReluForward(y, x, negativeSlope, n), leakyReluBackward(dx, dy, x, negativeSlope, n)
//   eluForward(y, x, alpha, n), eluBackward(dx, dy, x, alpha, n)
//   geluForward(y, x, approximateTanh, n), geluBackward(dx, dy, x, approximateTanh, n)
//   softplusForward(y, x, beta, threshold, n), softplusBackward(dx, dy, x, beta, threshold, n)
#include "../kernels/activation.h"

#include <cmath>
#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

constexpr std::int64_t kMaxElements = INT64_MAX / 4;

// The tensors of a forward call (y, x, …, n) and of a backward call (dx, dy, saved, …, n), where
// `saved` is the output y or the input x the gradient is computed from; n sits at `n_index`.
struct ForwardArgs {
  FloatBuffer y, x;
  std::int64_t n;
  Device device;
};
struct BackwardArgs {
  FloatBuffer dx, dy, saved;
  std::int64_t n;
  Device device;
};

ForwardArgs forward_args(const Napi::CallbackInfo& info, std::size_t n_index) {
  ForwardArgs a;
  a.n = int_arg(info, n_index, "n", 0, kMaxElements);
  a.y = float_arg(info, 0, "y", a.n);
  a.x = float_arg(info, 1, "x", a.n);
  a.device = common_device(info.Env(), a.y, a.x);
  return a;
}

BackwardArgs backward_args(const Napi::CallbackInfo& info, std::size_t n_index,
                           const char* saved_name) {
  BackwardArgs a;
  a.n = int_arg(info, n_index, "n", 0, kMaxElements);
  a.dx = float_arg(info, 0, "dx", a.n);
  a.dy = float_arg(info, 1, "dy", a.n);
  a.saved = float_arg(info, 2, saved_name, a.n);
  a.device = common_device(info.Env(), a.dx, a.dy, a.saved);
  return a;
}

// A finite float parameter (slope, alpha, beta, threshold).
float finite_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name) {
  const double value = number_arg(info, index, name);
  if (!std::isfinite(value)) {
    throw_range_error(info.Env(), std::string("Expected a finite number for ") + name +
                                      " but received " + info[index].ToString().Utf8Value());
  }
  return static_cast<float>(value);
}

// beta must be non-zero: the forward divides by it.
float beta_arg(const Napi::CallbackInfo& info, std::size_t index) {
  const float beta = finite_arg(info, index, "beta");
  if (beta == 0.0f) throw_range_error(info.Env(), "Expected a non-zero number for beta but received 0");
  return beta;
}

Napi::Value relu_forward(const Napi::CallbackInfo& info) {
  auto a = forward_args(info, 2);
  NAPINET_DISPATCH(a.device, relu_forward, a.y.data, a.x.data, a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("reluForward", relu_forward);

Napi::Value relu_backward(const Napi::CallbackInfo& info) {
  auto a = backward_args(info, 3, "y");
  NAPINET_DISPATCH(a.device, relu_backward, a.dx.data, a.dy.data, a.saved.data, a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("reluBackward", relu_backward);

Napi::Value sigmoid_forward(const Napi::CallbackInfo& info) {
  auto a = forward_args(info, 2);
  NAPINET_DISPATCH(a.device, sigmoid_forward, a.y.data, a.x.data, a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("sigmoidForward", sigmoid_forward);

Napi::Value sigmoid_backward(const Napi::CallbackInfo& info) {
  auto a = backward_args(info, 3, "y");
  NAPINET_DISPATCH(a.device, sigmoid_backward, a.dx.data, a.dy.data, a.saved.data, a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("sigmoidBackward", sigmoid_backward);

Napi::Value tanh_forward(const Napi::CallbackInfo& info) {
  auto a = forward_args(info, 2);
  NAPINET_DISPATCH(a.device, tanh_forward, a.y.data, a.x.data, a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("tanhForward", tanh_forward);

Napi::Value tanh_backward(const Napi::CallbackInfo& info) {
  auto a = backward_args(info, 3, "y");
  NAPINET_DISPATCH(a.device, tanh_backward, a.dx.data, a.dy.data, a.saved.data, a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("tanhBackward", tanh_backward);

Napi::Value leaky_relu_forward(const Napi::CallbackInfo& info) {
  const float slope = finite_arg(info, 2, "negativeSlope");
  auto a = forward_args(info, 3);
  NAPINET_DISPATCH(a.device, leaky_relu_forward, a.y.data, a.x.data, slope, a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("leakyReluForward", leaky_relu_forward);

Napi::Value leaky_relu_backward(const Napi::CallbackInfo& info) {
  const float slope = finite_arg(info, 3, "negativeSlope");
  auto a = backward_args(info, 4, "x");
  NAPINET_DISPATCH(a.device, leaky_relu_backward, a.dx.data, a.dy.data, a.saved.data, slope, a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("leakyReluBackward", leaky_relu_backward);

Napi::Value elu_forward(const Napi::CallbackInfo& info) {
  const float alpha = finite_arg(info, 2, "alpha");
  auto a = forward_args(info, 3);
  NAPINET_DISPATCH(a.device, elu_forward, a.y.data, a.x.data, alpha, a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("eluForward", elu_forward);

Napi::Value elu_backward(const Napi::CallbackInfo& info) {
  const float alpha = finite_arg(info, 3, "alpha");
  auto a = backward_args(info, 4, "x");
  NAPINET_DISPATCH(a.device, elu_backward, a.dx.data, a.dy.data, a.saved.data, alpha, a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("eluBackward", elu_backward);

Napi::Value gelu_forward(const Napi::CallbackInfo& info) {
  const bool approximate_tanh = bool_arg(info, 2, "approximateTanh");
  auto a = forward_args(info, 3);
  NAPINET_DISPATCH(a.device, gelu_forward, a.y.data, a.x.data, approximate_tanh, a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("geluForward", gelu_forward);

Napi::Value gelu_backward(const Napi::CallbackInfo& info) {
  const bool approximate_tanh = bool_arg(info, 3, "approximateTanh");
  auto a = backward_args(info, 4, "x");
  NAPINET_DISPATCH(a.device, gelu_backward, a.dx.data, a.dy.data, a.saved.data, approximate_tanh,
                   a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("geluBackward", gelu_backward);

Napi::Value softplus_forward(const Napi::CallbackInfo& info) {
  const float beta = beta_arg(info, 2);
  const float threshold = finite_arg(info, 3, "threshold");
  auto a = forward_args(info, 4);
  NAPINET_DISPATCH(a.device, softplus_forward, a.y.data, a.x.data, beta, threshold, a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("softplusForward", softplus_forward);

Napi::Value softplus_backward(const Napi::CallbackInfo& info) {
  const float beta = beta_arg(info, 3);
  const float threshold = finite_arg(info, 4, "threshold");
  auto a = backward_args(info, 5, "x");
  NAPINET_DISPATCH(a.device, softplus_backward, a.dx.data, a.dy.data, a.saved.data, beta, threshold,
                   a.n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("softplusBackward", softplus_backward);

}  // namespace
}  // namespace napinet::binding
