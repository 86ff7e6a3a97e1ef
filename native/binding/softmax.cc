// Bindings for native/kernels/softmax: softmaxForward(y, x, N, C),
// softmaxBackward(dx, dy, y, N, C), logSoftmaxForward(y, x, N, C), logSoftmaxBackward(dx, dy, y, N, C).
// The two forwards take (y, x) and the two backwards (dx, dy, y), all (N, C): one reader each.
#include "../kernels/softmax.h"

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

// N and C from arguments `first` and `first + 1`, and the element count of an (N, C) tensor.
struct Rows {
  std::int64_t n, c;
  std::size_t elements() const { return static_cast<std::size_t>(n * c); }
};
Rows rows_args(const Napi::CallbackInfo& info, std::size_t first) {
  return {int_arg(info, first, "N", 0, INT32_MAX), int_arg(info, first + 1, "C", 1, INT32_MAX)};
}

template <typename Fn>
Napi::Value forward(const Napi::CallbackInfo& info, Kernel<Fn> kernel) {
  const Rows r = rows_args(info, 2);
  auto y = float_arg(info, 0, "y", r.elements());
  auto x = float_arg(info, 1, "x", r.elements());
  kernel(common_device(info.Env(), y, x), y.data, x.data, r.n, r.c);
  return info.Env().Undefined();
}

template <typename Fn>
Napi::Value backward(const Napi::CallbackInfo& info, Kernel<Fn> kernel) {
  const Rows r = rows_args(info, 3);
  auto dx = float_arg(info, 0, "dx", r.elements());
  auto dy = float_arg(info, 1, "dy", r.elements());
  auto y = float_arg(info, 2, "y", r.elements());
  kernel(common_device(info.Env(), dx, dy, y), dx.data, dy.data, y.data, r.n, r.c);
  return info.Env().Undefined();
}

using Info = const Napi::CallbackInfo&;

NAPINET_EXPORT("softmaxForward", [](Info i) { return forward(i, NAPINET_KERNEL(softmax_forward)); });
NAPINET_EXPORT("softmaxBackward", [](Info i) { return backward(i, NAPINET_KERNEL(softmax_backward)); });
NAPINET_EXPORT("logSoftmaxForward",
               [](Info i) { return forward(i, NAPINET_KERNEL(log_softmax_forward)); });
NAPINET_EXPORT("logSoftmaxBackward",
               [](Info i) { return backward(i, NAPINET_KERNEL(log_softmax_backward)); });

}  // namespace
}  // namespace napinet::binding
