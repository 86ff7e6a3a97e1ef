// Bindings for native/kernels/loss:
//   softmaxCrossEntropyForward(probs, stats, logits, labels, N, C, labelSmoothing, accumulate)
//   softmaxCrossEntropyBackward(dlogits, probs, labels, N, C, labelSmoothing, scale)
#include "../kernels/loss.h"

#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

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
  NAPINET_DISPATCH(common_device(info.Env(), probs, stats, logits, labels),
                   softmax_cross_entropy_forward, probs.data, stats.data, logits.data, labels.data,
                   n, c, smoothing, accumulate);
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
  NAPINET_DISPATCH(common_device(info.Env(), dlogits, probs, labels),
                   softmax_cross_entropy_backward, dlogits.data, probs.data, labels.data, n, c,
                   smoothing, scale);
  return info.Env().Undefined();
}
NAPINET_EXPORT("softmaxCrossEntropyBackward", softmax_cross_entropy_backward);

}  // namespace
}  // namespace napinet::binding
