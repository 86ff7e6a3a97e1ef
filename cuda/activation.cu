// Element-wise activations on the GPU, forward and backward: the CUDA side of
// native/kernels/activation.h (mirrors torch.nn.ReLU; the gradient at exactly 0 is 0, as PyTorch).
// Test: test/activation.test.ts (runs on 'cuda' with a GPU or the emulator build).
#include "common.cuh"

namespace napinet::cuda {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

// y = max(x, 0), grid-stride over n elements. y may alias x.
__global__ void relu_forward_kernel(float* y, const float* x, std::int64_t n) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : 0.0f;
  }
}

// dx = dy where y > 0, else 0. dx may alias dy.
__global__ void relu_backward_kernel(float* dx, const float* dy, const float* y, std::int64_t n) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void relu_forward(float* y, const float* x, std::int64_t n) {  // y, x: (n)
  if (n == 0) return;
  NAPINET_LAUNCH(relu_forward_kernel, grid_for(n), kBlockSize, 0, y, x, n);
}

void relu_backward(float* dx, const float* dy, const float* y, std::int64_t n) {  // all (n)
  if (n == 0) return;
  NAPINET_LAUNCH(relu_backward_kernel, grid_for(n), kBlockSize, 0, dx, dy, y, n);
}

}  // namespace napinet::cuda
