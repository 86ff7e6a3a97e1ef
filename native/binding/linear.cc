// Bindings for native/kernels/linear:
//   linearForward(y, x, w, b | null, n, inFeatures, outFeatures)
//   linearBackward(dx | null, dw, db | null, dy, x, w, n, inFeatures, outFeatures, accumulate)
// On CUDA, linearBackward takes over the loss passes the binding holds back when dy is their
// gradient (a classifier's last layer): see native/binding/cuda/deferred.h.
#include "../kernels/fill.h"
#include "../kernels/linear.h"

#include "args.h"
#include "dispatch.h"
#include "registry.h"
#ifdef NAPINET_WITH_CUDA
#include "cuda/deferred.h"
#endif

namespace napinet::binding {
namespace {

// n, inFeatures, outFeatures from consecutive arguments starting at `first`, and the element
// counts of x (n, in), y (n, out) and w (out, in).
struct LinearShape {
  std::int64_t n, in, out;
  std::int64_t x_size() const { return n * in; }
  std::int64_t y_size() const { return n * out; }
  std::int64_t w_size() const { return out * in; }
};
LinearShape linear_args(const Napi::CallbackInfo& info, std::size_t first) {
  return {int_arg(info, first, "n", 0), int_arg(info, first + 1, "inFeatures", 0),
          int_arg(info, first + 2, "outFeatures", 0)};
}

Napi::Value linear_forward(const Napi::CallbackInfo& info) {
  const LinearShape s = linear_args(info, 4);
  auto y = float_arg(info, 0, "y", s.y_size());
  auto x = float_arg(info, 1, "x", s.x_size());
  auto w = float_arg(info, 2, "w", s.w_size());
  auto b = optional_float_arg(info, 3, "b", s.out);
  NAPINET_DISPATCH(common_device(info.Env(), y, x, w, b), linear_forward, y.data, x.data, w.data,
                   b.data, s.n, s.in, s.out);
  return info.Env().Undefined();
}
NAPINET_EXPORT("linearForward", linear_forward);

Napi::Value linear_backward(const Napi::CallbackInfo& info) {
  const LinearShape s = linear_args(info, 6);
  const bool accumulate = bool_arg(info, 9, "accumulate");
  // Gradients whose zeroing is still pending are written, not added into (cuda/deferred.h).
  const bool accumulate_dw = accumulate_into(info, {1}, accumulate);
  const bool has_db = info.Length() > 2 && !info[2].IsNull() && !info[2].IsUndefined();
  const bool accumulate_db = has_db ? accumulate_into(info, {2}, accumulate) : accumulate_dw;
  auto dx = optional_float_arg(info, 0, "dx", s.x_size());
  auto dw = float_arg(info, 1, "dw", s.w_size());
  auto db = optional_float_arg(info, 2, "db", s.out);
  auto dy = float_arg(info, 3, "dy", s.y_size());
  auto x = float_arg(info, 4, "x", s.x_size());
  auto w = float_arg(info, 5, "w", s.w_size());
  const Device device = common_device(info.Env(), dw, dx, db, dy, x, w);
#ifdef NAPINET_WITH_CUDA
  if (device == Device::kCuda) {
    // dy made by the held loss passes: one kernel runs them and the bias gradient (deferred.h).
    DeferredLoss loss;
    if (db && take_loss_gradient(dy.data, s.n, s.out, dy.cuda_device, &loss)) {
      cuda::softmax_cross_entropy_fused(loss.probs, loss.stats, loss.dlogits, db.data, loss.logits,
                                        loss.labels, loss.n, loss.c, loss.smoothing, loss.accumulate,
                                        loss.scale, accumulate_db);
      cuda::linear_backward(dx.data, dw.data, nullptr, dy.data, x.data, w.data, s.n, s.in, s.out,
                            accumulate_dw);
      return info.Env().Undefined();
    }
    run_deferred();
  }
#endif
  if (db && accumulate_dw != accumulate_db) {
    // One of the two was marked for zeroing and the other not: zero it now, add into both.
    NAPINET_DISPATCH(device, fill, accumulate_dw ? db.data : dw.data, 0.0f,
                     static_cast<std::int64_t>(accumulate_dw ? s.out : s.w_size()));
  }
  NAPINET_DISPATCH(device, linear_backward, dx.data, dw.data, db.data, dy.data, x.data, w.data,
                   s.n, s.in, s.out, accumulate_dw || accumulate_db);
  return info.Env().Undefined();
}
NAPINET_EXPORT_KEEPING_DEFERRED("linearBackward", linear_backward);

}  // namespace
}  // namespace napinet::binding
