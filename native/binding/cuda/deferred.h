// Work the binding holds back so that a training step's next call can do it for less (CUDA builds).
// Two kinds, both invisible to JavaScript: every result, and the order in which results are made,
// are those of eager calls.
//
//   Zeroing: fillMany(tensors, 0) on CUDA tensors (an optimizer's zeroGrad) launches nothing and
//   marks the buffers (buffer.cc). A backward pass that would accumulate into marked gradients
//   writes them instead (accumulate_into, args.h); any other use of a marked buffer fills it first
//   (every CudaBuffer argument is read through use_cuda_buffer), as do CUDA graph begin, end and
//   launch, whose kernels read buffers without the binding seeing them.
//
//   The loss: softmaxCrossEntropyForward on CUDA is held until the next call. If that call is
//   softmaxCrossEntropyBackward of the same probabilities and labels, both are held; if the next
//   is then linearBackward with dy = those dlogits (the last Linear layer of a classifier), one
//   kernel runs the forward, the backward and that layer's bias gradient
//   (cuda::softmax_cross_entropy_fused). Any other call runs what is held first: call_guarded
//   (registry.cc) does for every export but those two, and CudaBuffer's methods and finalizer do.
//
// Launches saved in the seed network's step: the gradients' zero fill, the loss backward and the
// bias gradient (test/cuda_step_traffic.test.ts counts them).
#pragma once

#include <cstdint>

namespace napinet::binding {

// What softmaxCrossEntropyForward was asked, and the backward pass joined to it (dlogits set).
struct DeferredLoss {
  float* probs = nullptr;
  float* stats = nullptr;
  const float* logits = nullptr;
  const std::int32_t* labels = nullptr;
  std::int64_t n = 0, c = 0;
  double smoothing = 0;
  bool accumulate = false;
  int device = 0;
  float* dlogits = nullptr;  // with the backward pass
  float scale = 0;
};

// Holds a forward pass (running anything held before it first).
void defer_loss_forward(const DeferredLoss& forward);
// Joins a backward pass to the held forward pass of the same probs, labels and sizes; false (and
// nothing held) when there is none or dlogits would overwrite the logits the forward still reads.
bool defer_loss_backward(float* dlogits, const float* probs, const std::int32_t* labels,
                         std::int64_t n, std::int64_t c, double smoothing, float scale, int device);
// The held forward and backward passes whose dlogits are `dy` (n, c) on `device`, taken out of the
// held state for the caller to run (true), or false.
bool take_loss_gradient(const float* dy, std::int64_t n, std::int64_t c, int device, DeferredLoss* out);
// Runs what is held (the loss forward, or forward and backward in one kernel). Throws CUDA errors.
void run_deferred();
// Drops what is held without running it (the environment is going away).
void drop_deferred() noexcept;

}  // namespace napinet::binding
