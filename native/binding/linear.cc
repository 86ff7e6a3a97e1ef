// Bindings for native/kernels/linear:
//   linearForward(y, x, w, b | null, n, inFeatures, outFeatures)
//   linearBackward(dx | null, dw, db | null, dy, x, w, n, inFeatures, outFeatures, accumulate)
#include "../kernels/linear.h"

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

Napi::Value linear_forward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 4, "n", 0);
  auto in = int_arg(info, 5, "inFeatures", 0);
  auto out = int_arg(info, 6, "outFeatures", 0);
  auto y = float_arg(info, 0, "y", n * out);
  auto x = float_arg(info, 1, "x", n * in);
  auto w = float_arg(info, 2, "w", out * in);
  auto b = optional_float_arg(info, 3, "b", out);
  NAPINET_DISPATCH(common_device(info.Env(), y, x, w, b), linear_forward, y.data, x.data, w.data,
                   b.data, n, in, out);
  return info.Env().Undefined();
}
NAPINET_EXPORT("linearForward", linear_forward);

Napi::Value linear_backward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 6, "n", 0);
  auto in = int_arg(info, 7, "inFeatures", 0);
  auto out = int_arg(info, 8, "outFeatures", 0);
  bool accumulate = bool_arg(info, 9, "accumulate");
  auto dx = optional_float_arg(info, 0, "dx", n * in);
  auto dw = float_arg(info, 1, "dw", out * in);
  auto db = optional_float_arg(info, 2, "db", out);
  auto dy = float_arg(info, 3, "dy", n * out);
  auto x = float_arg(info, 4, "x", n * in);
  auto w = float_arg(info, 5, "w", out * in);
  NAPINET_DISPATCH(common_device(info.Env(), dw, dx, db, dy, x, w), linear_backward, dx.data,
                   dw.data, db.data, dy.data, x.data, w.data, n, in, out, accumulate);
  return info.Env().Undefined();
}
NAPINET_EXPORT("linearBackward", linear_backward);

}  // namespace
}  // namespace napinet::binding
