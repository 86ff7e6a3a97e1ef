// Element-wise activations on the GPU, forward and backward: the CUDA side of
// native/kernels/activation.h (mirrors torch.nn.ReLU, whose gradient at exactly 0 is 0, as PyTorch;
// Sigmoid, Tanh, LeakyReLU, ELU, GELU and Softplus with the same formulas as the CPU kernels, using
// CUDA's full-precision expf/tanhf/erff/expm1f/log1pf, never the __expf-style intrinsics).
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

// ---- more activations: one grid-stride kernel per formula, each reading one or two values ----

__device__ __forceinline__ std::int64_t first_index() {
  return std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x;
}
__device__ __forceinline__ std::int64_t grid_stride() { return std::int64_t{blockDim.x} * gridDim.x; }

// GELU's constants, as in native/kernels/activation.cpp.
constexpr float kSqrtHalf = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
constexpr float kSqrt2OverPi = 0.79788456080286535588f;
constexpr float kGeluKappa = 0.044715f;

__global__ void sigmoid_forward_kernel(float* y, const float* x, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) y[i] = 1.0f / (1.0f + expf(-x[i]));
}

__global__ void sigmoid_backward_kernel(float* dx, const float* dy, const float* y, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) dx[i] = dy[i] * ((1.0f - y[i]) * y[i]);
}

__global__ void tanh_forward_kernel(float* y, const float* x, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) y[i] = tanhf(x[i]);
}

__global__ void tanh_backward_kernel(float* dx, const float* dy, const float* y, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

__global__ void leaky_relu_forward_kernel(float* y, const float* x, float slope, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : v * slope;
  }
}

__global__ void leaky_relu_backward_kernel(float* dx, const float* dy, const float* x, float slope,
                                           std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) dx[i] = x[i] > 0.0f ? dy[i] : dy[i] * slope;
}

__global__ void elu_forward_kernel(float* y, const float* x, float alpha, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float v = x[i];
    y[i] = v > 0.0f ? v : alpha * expm1f(v);
  }
}

__global__ void elu_backward_kernel(float* dx, const float* dy, const float* x, float alpha,
                                    std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float v = x[i];
    dx[i] = v > 0.0f ? dy[i] : dy[i] * (alpha * expf(v));
  }
}

__global__ void gelu_erf_forward_kernel(float* y, const float* x, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float v = x[i];
    y[i] = v * (0.5f * (1.0f + erff(v * kSqrtHalf)));
  }
}

__global__ void gelu_erf_backward_kernel(float* dx, const float* dy, const float* x, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float v = x[i];
    const float cdf = 0.5f * (1.0f + erff(v * kSqrtHalf));
    const float pdf = kInvSqrt2Pi * expf(-0.5f * v * v);
    dx[i] = dy[i] * (cdf + v * pdf);
  }
}

__global__ void gelu_tanh_forward_kernel(float* y, const float* x, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float v = x[i];
    const float inner = kSqrt2OverPi * (v + kGeluKappa * v * v * v);
    y[i] = 0.5f * v * (1.0f + tanhf(inner));
  }
}

__global__ void gelu_tanh_backward_kernel(float* dx, const float* dy, const float* x, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float v = x[i];
    const float v2 = v * v;
    const float t = tanhf(kSqrt2OverPi * (v + kGeluKappa * v2 * v));
    const float left = 0.5f * (1.0f + t);
    const float right = 0.5f * v * (1.0f - t * t) * kSqrt2OverPi * (1.0f + 3.0f * kGeluKappa * v2);
    dx[i] = dy[i] * (left + right);
  }
}

__global__ void softplus_forward_kernel(float* y, const float* x, float beta, float threshold,
                                        std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float v = x[i];
    const float bx = v * beta;
    y[i] = bx > threshold ? v : log1pf(expf(bx)) / beta;
  }
}

__global__ void softplus_backward_kernel(float* dx, const float* dy, const float* x, float beta,
                                         float threshold, std::int64_t n) {
  for (std::int64_t i = first_index(); i < n; i += grid_stride()) {
    const float bx = x[i] * beta;
    const float z = expf(bx);
    dx[i] = bx > threshold ? dy[i] : dy[i] * z / (z + 1.0f);
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


// y, x: (n); dx, dy and the saved y or x: (n). Each returns without launching when n is 0.
void sigmoid_forward(float* y, const float* x, std::int64_t n) {
  if (n == 0) return;
  NAPINET_LAUNCH(sigmoid_forward_kernel, grid_for(n), kBlockSize, 0, y, x, n);
}

void sigmoid_backward(float* dx, const float* dy, const float* y, std::int64_t n) {
  if (n == 0) return;
  NAPINET_LAUNCH(sigmoid_backward_kernel, grid_for(n), kBlockSize, 0, dx, dy, y, n);
}

void tanh_forward(float* y, const float* x, std::int64_t n) {
  if (n == 0) return;
  NAPINET_LAUNCH(tanh_forward_kernel, grid_for(n), kBlockSize, 0, y, x, n);
}

void tanh_backward(float* dx, const float* dy, const float* y, std::int64_t n) {
  if (n == 0) return;
  NAPINET_LAUNCH(tanh_backward_kernel, grid_for(n), kBlockSize, 0, dx, dy, y, n);
}

void leaky_relu_forward(float* y, const float* x, float negative_slope, std::int64_t n) {
  if (n == 0) return;
  NAPINET_LAUNCH(leaky_relu_forward_kernel, grid_for(n), kBlockSize, 0, y, x, negative_slope, n);
}

void leaky_relu_backward(float* dx, const float* dy, const float* x, float negative_slope,
                         std::int64_t n) {
  if (n == 0) return;
  NAPINET_LAUNCH(leaky_relu_backward_kernel, grid_for(n), kBlockSize, 0, dx, dy, x, negative_slope, n);
}

void elu_forward(float* y, const float* x, float alpha, std::int64_t n) {
  if (n == 0) return;
  NAPINET_LAUNCH(elu_forward_kernel, grid_for(n), kBlockSize, 0, y, x, alpha, n);
}

void elu_backward(float* dx, const float* dy, const float* x, float alpha, std::int64_t n) {
  if (n == 0) return;
  NAPINET_LAUNCH(elu_backward_kernel, grid_for(n), kBlockSize, 0, dx, dy, x, alpha, n);
}

void gelu_forward(float* y, const float* x, bool approximate_tanh, std::int64_t n) {
  if (n == 0) return;
  if (approximate_tanh) {
    NAPINET_LAUNCH(gelu_tanh_forward_kernel, grid_for(n), kBlockSize, 0, y, x, n);
  } else {
    NAPINET_LAUNCH(gelu_erf_forward_kernel, grid_for(n), kBlockSize, 0, y, x, n);
  }
}

void gelu_backward(float* dx, const float* dy, const float* x, bool approximate_tanh, std::int64_t n) {
  if (n == 0) return;
  if (approximate_tanh) {
    NAPINET_LAUNCH(gelu_tanh_backward_kernel, grid_for(n), kBlockSize, 0, dx, dy, x, n);
  } else {
    NAPINET_LAUNCH(gelu_erf_backward_kernel, grid_for(n), kBlockSize, 0, dx, dy, x, n);
  }
}

void softplus_forward(float* y, const float* x, float beta, float threshold, std::int64_t n) {
  if (n == 0) return;
  NAPINET_LAUNCH(softplus_forward_kernel, grid_for(n), kBlockSize, 0, y, x, beta, threshold, n);
}

void softplus_backward(float* dx, const float* dy, const float* x, float beta, float threshold,
                       std::int64_t n) {
  if (n == 0) return;
  NAPINET_LAUNCH(softplus_backward_kernel, grid_for(n), kBlockSize, 0, dx, dy, x, beta, threshold, n);
}

}  // namespace napinet::cuda
