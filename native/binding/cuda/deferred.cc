// The loss passes the binding holds back (see deferred.h). One state per host thread: each
// JavaScript thread queues on its own stream, and a call never sees another thread's work.
#include "deferred.h"

#include "../../../cuda/api.h"

namespace napinet::binding {
namespace {

thread_local bool t_held = false;
thread_local DeferredLoss t_loss;

}  // namespace

void defer_loss_forward(const DeferredLoss& forward) {
  run_deferred();
  t_loss = forward;
  t_loss.dlogits = nullptr;
  t_held = true;
}

bool defer_loss_backward(float* dlogits, const float* probs, const std::int32_t* labels,
                         std::int64_t n, std::int64_t c, double smoothing, float scale, int device) {
  if (!t_held || t_loss.dlogits != nullptr || t_loss.probs != probs || t_loss.labels != labels ||
      t_loss.n != n || t_loss.c != c || t_loss.smoothing != smoothing || t_loss.device != device ||
      dlogits == t_loss.logits) {
    return false;
  }
  t_loss.dlogits = dlogits;
  t_loss.scale = scale;
  return true;
}

bool take_loss_gradient(const float* dy, std::int64_t n, std::int64_t c, int device, DeferredLoss* out) {
  if (!t_held || t_loss.dlogits != dy || t_loss.n != n || t_loss.c != c || t_loss.device != device) {
    return false;
  }
  *out = t_loss;
  t_held = false;
  return true;
}

void run_deferred() {
  if (!t_held) return;
  t_held = false;  // not again, whatever happens below
  const DeferredLoss l = t_loss;
  const int previous = cuda::current_device();  // the current call's GPU, restored below
  struct Restore {
    int device;
    ~Restore() {
      try {
        cuda::use_device(device);
      } catch (...) {
      }
    }
  } restore{previous};
  cuda::use_device(l.device);
  if (l.dlogits == nullptr) {
    cuda::softmax_cross_entropy_forward(l.probs, l.stats, l.logits, l.labels, l.n, l.c, l.smoothing,
                                        l.accumulate);
  } else {
    cuda::softmax_cross_entropy_fused(l.probs, l.stats, l.dlogits, nullptr, l.logits, l.labels, l.n,
                                      l.c, l.smoothing, l.accumulate, l.scale, false);
  }
}

void drop_deferred() noexcept { t_held = false; }

}  // namespace napinet::binding
