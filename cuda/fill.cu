// Setting every element of a buffer to one value on the GPU (torch.Tensor.fill_): the CUDA side of
// native/kernels/fill.h, for float32 and int32 tensors. Test: test/fill.test.ts (runs on 'cuda'
// with a GPU or the emulator build).
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

}  // namespace napinet::cuda
