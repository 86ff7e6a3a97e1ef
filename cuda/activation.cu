// Element-wise activations on the GPU, forward and backward: the CUDA side of
// native/kernels/activation.h (mirrors torch.nn.ReLU, whose gradient at exactly 0 is 0, as PyTorch;
// Sigmoid, Tanh, LeakyReLU, ELU, GELU and Softplus). Each formula is written once, in
// native/kernels/activation.h (Relu, Sigmoid, …: forward and backward as __host__ __device__
// functions), and applied here by one grid-stride kernel per direction, as on the CPU.
// Test: test/activation.test.ts (runs on 'cuda' with a GPU or the emulator build).
#include "common.cuh"
#include "../native/kernels/activation.h"

namespace napinet::cuda {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

// y (n) = op.forward(x (n)), grid-stride. y may alias x.
template <typename Op>
__global__ void activation_forward_kernel(float* y, const float* x, Op op, std::int64_t n) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    y[i] = op.forward(x[i]);
  }
}

// dx (n) = op.backward(dy (n), saved (n)), saved being the output y or the input x. dx may alias dy.
template <typename Op>
__global__ void activation_backward_kernel(float* dx, const float* dy, const float* saved, Op op,
                                           std::int64_t n) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    dx[i] = op.backward(dy[i], saved[i]);
  }
}

template <typename Op>
void forward(float* y, const float* x, Op op, std::int64_t n) {
  if (n == 0) return;
  NAPINET_LAUNCH((activation_forward_kernel<Op>), grid_for(n), kBlockSize, 0, y, x, op, n);
}

template <typename Op>
void backward(float* dx, const float* dy, const float* saved, Op op, std::int64_t n) {
  if (n == 0) return;
  NAPINET_LAUNCH((activation_backward_kernel<Op>), grid_for(n), kBlockSize, 0, dx, dy, saved, op, n);
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

using kernels::Elu, kernels::GeluErf, kernels::GeluTanh, kernels::LeakyRelu, kernels::Relu,
    kernels::Sigmoid, kernels::Softplus, kernels::Tanh;

void relu_forward(float* y, const float* x, std::int64_t n) { forward(y, x, Relu{}, n); }
void relu_backward(float* dx, const float* dy, const float* y, std::int64_t n) {
  backward(dx, dy, y, Relu{}, n);
}

void sigmoid_forward(float* y, const float* x, std::int64_t n) { forward(y, x, Sigmoid{}, n); }
void sigmoid_backward(float* dx, const float* dy, const float* y, std::int64_t n) {
  backward(dx, dy, y, Sigmoid{}, n);
}

void tanh_forward(float* y, const float* x, std::int64_t n) { forward(y, x, Tanh{}, n); }
void tanh_backward(float* dx, const float* dy, const float* y, std::int64_t n) {
  backward(dx, dy, y, Tanh{}, n);
}

void leaky_relu_forward(float* y, const float* x, float negative_slope, std::int64_t n) {
  forward(y, x, LeakyRelu{negative_slope}, n);
}
void leaky_relu_backward(float* dx, const float* dy, const float* x, float negative_slope,
                         std::int64_t n) {
  backward(dx, dy, x, LeakyRelu{negative_slope}, n);
}

void elu_forward(float* y, const float* x, float alpha, std::int64_t n) {
  forward(y, x, Elu{alpha}, n);
}
void elu_backward(float* dx, const float* dy, const float* x, float alpha, std::int64_t n) {
  backward(dx, dy, x, Elu{alpha}, n);
}

void gelu_forward(float* y, const float* x, bool approximate_tanh, std::int64_t n) {
  if (approximate_tanh) {
    forward(y, x, GeluTanh{}, n);
  } else {
    forward(y, x, GeluErf{}, n);
  }
}
void gelu_backward(float* dx, const float* dy, const float* x, bool approximate_tanh,
                   std::int64_t n) {
  if (approximate_tanh) {
    backward(dx, dy, x, GeluTanh{}, n);
  } else {
    backward(dx, dy, x, GeluErf{}, n);
  }
}

void softplus_forward(float* y, const float* x, float beta, float threshold, std::int64_t n) {
  forward(y, x, Softplus{beta, threshold}, n);
}
void softplus_backward(float* dx, const float* dy, const float* x, float beta, float threshold,
                       std::int64_t n) {
  backward(dx, dy, x, Softplus{beta, threshold}, n);
}

}  // namespace napinet::cuda
