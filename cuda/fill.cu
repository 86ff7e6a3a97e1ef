// Setting every element of a buffer to one value on the GPU (torch.Tensor.fill_): the CUDA side of
// native/kernels/fill.h, for float32 and int32 tensors. Test: test/fill.test.ts (runs on 'cuda'
// with a GPU or the emulator build). fill_many zeroes a model's gradients in one launch per 16.
#include <algorithm>

#include "common.cuh"

namespace napinet::cuda {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

// x (n) = value, grid-stride.
template <typename T>
__global__ void fill_kernel(T* x, T value, std::int64_t n) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    x[i] = value;
  }
}

// Up to kListTensors buffers, passed by value (the emulator's pointer checks do not see them).
constexpr int kListTensors = 16;
struct FillList {
  float* x[kListTensors];
  std::int64_t n[kListTensors];
};

// Buffer blockIdx.y of the list (n) = value, grid-stride over x.
__global__ void fill_many_kernel(FillList list, float value) {
  float* x = list.x[blockIdx.y];
  const std::int64_t n = list.n[blockIdx.y];
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    x[i] = value;
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void fill(float* x, float value, std::int64_t n) {  // x: (n)
  if (n == 0) return;
  NAPINET_LAUNCH((fill_kernel<float>), grid_for(n), kBlockSize, 0, x, value, n);
}

void fill_int32(std::int32_t* x, std::int32_t value, std::int64_t n) {  // x: (n)
  if (n == 0) return;
  NAPINET_LAUNCH((fill_kernel<std::int32_t>), grid_for(n), kBlockSize, 0, x, value, n);
}

void fill_many(float* const* x, const std::int64_t* n, std::int64_t count, float value) {  // x[t]: (n[t])
  for (std::int64_t t = 0; t < count;) {
    FillList list{};
    int buffers = 0;
    std::int64_t longest = 0;
    for (; t < count && buffers < kListTensors; ++t) {
      if (n[t] == 0) continue;
      list.x[buffers] = x[t];
      list.n[buffers] = n[t];
      longest = std::max(longest, n[t]);
      ++buffers;
    }
    if (buffers == 0) continue;
    NAPINET_LAUNCH(fill_many_kernel, dim3(grid_for(longest), buffers), kBlockSize, 0, list, value);
  }
}

}  // namespace napinet::cuda
