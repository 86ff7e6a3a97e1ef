// Bindings for native/kernels/loss:
//   softmaxCrossEntropyForward(probs, stats, logits, labels, N, C, labelSmoothing, accumulate)
//   softmaxCrossEntropyBackward(dlogits, probs, labels, N, C, labelSmoothing, scale)
// On CUDA both are held back by a call so that a training step's next calls can fuse them (and
// the last Linear layer's bias gradient) into one kernel: native/binding/cuda/deferred.h.
#include "../kernels/loss.h"

#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"
#ifdef NAPINET_WITH_CUDA
#include "cuda/deferred.h"
#endif

namespace napinet::binding {
namespace {

constexpr std::int64_t kMaxDim = INT32_MAX;

double label_smoothing_arg(const Napi::CallbackInfo& info, std::size_t index) {
  return range_arg(info, index, "labelSmoothing", 0.0, 1.0, "[0, 1]");
}

// Every label indexes a row of C values: one outside [0, C) would read or write out of bounds.
// A pass over N integers on the CPU, cheap next to the N·C kernel.
// Labels on the GPU are not read here (that would wait for the device): the CUDA kernels never
// index with a bad label and make that row's loss and gradient NaN instead (cuda/loss.cu).
void check_labels(const Napi::CallbackInfo& info, const IntBuffer& labels, std::int64_t n,
                  std::int64_t c) {
  if (labels.device != Device::kCpu) return;
  for (std::int64_t i = 0; i < n; ++i) {
    const std::int32_t label = labels.data[i];
    if (label < 0 || label >= c) {
      throw_range_error(info.Env(), "Expected class indices in [0, " + std::to_string(c) +
                                        ") for labels but received " + std::to_string(label) +
                                        " at index " + std::to_string(i));
    }
  }
}

Napi::Value softmax_cross_entropy_forward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 4, "N", 0, kMaxDim);
  auto c = int_arg(info, 5, "C", 1, kMaxDim);
  const double smoothing = label_smoothing_arg(info, 6);
  const bool accumulate = bool_arg(info, 7, "accumulate");
  auto probs = float_arg(info, 0, "probs", static_cast<std::size_t>(n * c));
  auto stats = float_arg(info, 1, "stats", 2);
  auto logits = float_arg(info, 2, "logits", static_cast<std::size_t>(n * c));
  auto labels = int_buffer_arg(info, 3, "labels", static_cast<std::size_t>(n));
  check_labels(info, labels, n, c);
  const Device device = common_device(info.Env(), probs, stats, logits, labels);
#ifdef NAPINET_WITH_CUDA
  if (device == Device::kCuda) {
    // Held until the next call, which may fuse it with the backward pass (cuda/deferred.h).
    DeferredLoss forward;
    forward.probs = probs.data;
    forward.stats = stats.data;
    forward.logits = logits.data;
    forward.labels = labels.data;
    forward.n = n;
    forward.c = c;
    forward.smoothing = smoothing;
    forward.accumulate = accumulate;
    forward.device = probs.cuda_device;
    defer_loss_forward(forward);
    return info.Env().Undefined();
  }
#endif
  NAPINET_DISPATCH(device, softmax_cross_entropy_forward, probs.data, stats.data, logits.data,
                   labels.data, n, c, smoothing, accumulate);
  return info.Env().Undefined();
}
NAPINET_EXPORT("softmaxCrossEntropyForward", softmax_cross_entropy_forward);

Napi::Value softmax_cross_entropy_backward(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 3, "N", 0, kMaxDim);
  auto c = int_arg(info, 4, "C", 1, kMaxDim);
  const double smoothing = label_smoothing_arg(info, 5);
  const auto scale = static_cast<float>(finite_arg(info, 6, "scale"));
  auto dlogits = float_arg(info, 0, "dlogits", static_cast<std::size_t>(n * c));
  auto probs = float_arg(info, 1, "probs", static_cast<std::size_t>(n * c));
  auto labels = int_buffer_arg(info, 2, "labels", static_cast<std::size_t>(n));
  check_labels(info, labels, n, c);
  const Device device = common_device(info.Env(), dlogits, probs, labels);
#ifdef NAPINET_WITH_CUDA
  if (device == Device::kCuda) {
    // Joined to the held forward pass of these probabilities, when there is one (deferred.h).
    if (defer_loss_backward(dlogits.data, probs.data, labels.data, n, c, smoothing, scale,
                            dlogits.cuda_device)) {
      return info.Env().Undefined();
    }
    run_deferred();
  }
#endif
  NAPINET_DISPATCH(device, softmax_cross_entropy_backward, dlogits.data, probs.data, labels.data, n,
                   c, smoothing, scale);
  return info.Env().Undefined();
}
NAPINET_EXPORT_KEEPING_DEFERRED("softmaxCrossEntropyBackward", softmax_cross_entropy_backward);

}  // namespace
}  // namespace napinet::binding
