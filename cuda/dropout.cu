// Dropout on the GPU, forward and backward: the CUDA side of native/kernels/dropout.h (mirrors
// torch.nn.functional.dropout in training). The mask is drawn on the device from the same
// Philox4x32-10 words as the CPU kernel (native/kernels/philox.h), so a seed gives the same mask
// on both devices and no mask ever crosses from the host.
// Test: test/dropout.test.ts (runs on 'cuda' with a GPU or the emulator build).
#include "common.cuh"
#include "../native/kernels/dropout.h"

namespace napinet::cuda {
namespace {

// ---- kernels ---------------------------------------------------------------------------------

// out (n) = in ⊙ m: one thread per group of four elements (one Philox call), grid-stride.
__global__ void dropout_mask_kernel(float* out, const float* in, std::uint64_t seed,
                                    std::uint32_t threshold, float scale, std::int64_t n) {
  const std::int64_t groups = (n + 3) / 4;
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t g = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; g < groups; g += stride) {
    const philox::Uint4 r = philox::block_for(seed, static_cast<std::uint64_t>(g));
    const std::uint32_t words[4] = {r.x, r.y, r.z, r.w};
    const std::int64_t first = g * 4;
#ifdef __CUDACC__
#pragma unroll
#endif
    for (int j = 0; j < 4; ++j) {
      if (first + j < n) out[first + j] = in[first + j] * ((words[j] >> 8) < threshold ? scale : 0.0f);
    }
  }
}

void apply_mask(float* out, const float* in, std::uint64_t seed, double p, std::int64_t n) {
  if (n == 0) return;
  const std::int64_t groups = (n + 3) / 4;
  NAPINET_LAUNCH(dropout_mask_kernel, grid_for(groups), kBlockSize, 0, out, in, seed,
                 kernels::dropout_keep_threshold(p), kernels::dropout_scale(p), n);
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void dropout_forward(float* y, const float* x, std::uint64_t seed, double p, std::int64_t n) {  // (n)
  apply_mask(y, x, seed, p, n);
}

void dropout_backward(float* dx, const float* dy, std::uint64_t seed, double p, std::int64_t n) {  // (n)
  apply_mask(dx, dy, seed, p, n);
}

}  // namespace napinet::cuda
