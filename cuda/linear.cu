// Fully connected layer on the GPU, forward and backward: the CUDA side of native/kernels/linear.h
// (mirrors torch.nn.functional.linear, y = x·Wᵀ + b, and its autograd: dx = dy·W, dW = dyᵀ·x,
// db = Σ over the batch of dy). The products go through cuda/gemm.cu.
// Test: test/linear.test.ts (runs on 'cuda' with a GPU or the emulator build).
#include "common.cuh"

namespace napinet::cuda {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

constexpr int kSumColumns = 32;  // columns per block: one warp reads 32 consecutive floats of a row
constexpr int kSumLanes = 8;     // threads per column, each summing every 8th row

// db[o] (=|+=) Σ_i dy[i, o]. Thread (x, y) of a 32×8 block sums rows y, y + 8, y + 16, … of its
// column in that order; thread y = 0 then adds the 8 partial sums in y order. A fixed order (no
// atomics), so the result is the same on every run.
// db (out), dy (N,out)
__global__ void __launch_bounds__(kSumColumns * kSumLanes)
    bias_grad_kernel(float* db, const float* dy, std::int64_t n, std::int64_t out, bool accumulate) {
  __shared__ float partial[kSumLanes][kSumColumns];
  const int x = static_cast<int>(threadIdx.x), y = static_cast<int>(threadIdx.y);
  const std::int64_t o = std::int64_t{blockIdx.x} * kSumColumns + x;
  float sum = 0.0f;
  if (o < out) {
    for (std::int64_t i = y; i < n; i += kSumLanes) sum += dy[i * out + o];
  }
  partial[y][x] = sum;
  __syncthreads();
  if (y == 0 && o < out) {
    float total = partial[0][x];
    for (int lane = 1; lane < kSumLanes; ++lane) total += partial[lane][x];
    db[o] = accumulate ? db[o] + total : total;
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

// y (N,out), x (N,in), w (out,in), b (out) or nullptr.
void linear_forward(float* y, const float* x, const float* w, const float* b, std::int64_t n,
                    std::int64_t in_features, std::int64_t out_features) {
  // y = 1·x·wᵀ + b: the bias is added once, after the product, in gemm's epilogue.
  gemm_strided_batched(y, x, w, b, n, out_features, in_features, false, true, 1.0f, 0.0f, false, 1,
                       0, 0, 0);
}

// dx (N,in) or nullptr, dw (out,in), db (out) or nullptr, dy (N,out), x (N,in), w (out,in).
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, std::int64_t n, std::int64_t in_features,
                     std::int64_t out_features, bool accumulate) {
  if (dx != nullptr) gemm(dx, dy, w, n, in_features, out_features, false, false, 1.0f, 0.0f);
  gemm(dw, dy, x, out_features, in_features, n, true, false, 1.0f, accumulate ? 1.0f : 0.0f);
  if (db != nullptr) bias_gradient(db, dy, n, out_features, accumulate);
}

void bias_gradient(float* db, const float* dy, std::int64_t n, std::int64_t out, bool accumulate) {
  if (out == 0) return;
  const std::int64_t blocks = (out + kSumColumns - 1) / kSumColumns;
  NAPINET_LAUNCH(bias_grad_kernel, static_cast<unsigned>(blocks), dim3(kSumColumns, kSumLanes), 0, db,
                 dy, n, out, accumulate);
}

}  // namespace napinet::cuda
