// Strided elementwise ops on the GPU: the CUDA side of native/kernels/elementwise.h (torch's
// elementwise maths with broadcasting and views). One kernel per arity, one thread per output
// element in a grid-stride loop; the op is a kernel argument (uniform across the grid, so the
// switch in op_math.h costs a few instructions next to the memory traffic), and the formulas are
// the CPU kernels' own (op_math.h), so both devices compute the same float32 expressions.
// The layout is coalesced on the host first (strided.h): contiguous and broadcast-scalar calls
// become rank 1 and need no division; other views pay one division per remaining dimension, in
// 32-bit arithmetic unless an offset reaches 2^32.
// Test: test/elementwise.test.ts (runs on 'cuda' with a GPU or the emulator build).
#include "common.cuh"

#include "../native/kernels/op_math.h"
#include "../native/kernels/strided.h"

namespace napinet::cuda {
namespace {

using kernels::ElementInput;
using kernels::StridedLayout;

// The scalar value of each input whose pointer is nullptr.
struct Scalars {
  float value[3];
};

// ---- kernels ---------------------------------------------------------------------------------

// out (layout operand 0) = f(a, b, c) (operands 1–3; the ones past kInputs are unused). Offsets
// are computed in Index arithmetic (32-bit when the layout allows, see strided.h).
template <int kInputs, class Index>
__global__ void elementwise_kernel(float* out, const float* a, const float* b, const float* c,
                                   Scalars scalars, StridedLayout layout, int op, float alpha,
                                   float beta, bool accumulate, std::int64_t n) {
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t i = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; i < n; i += stride) {
    Index offsets[kInputs + 1];
    kernels::strided_offsets<Index, kInputs + 1>(layout, static_cast<Index>(i), offsets);
    const float va = a != nullptr ? a[offsets[1]] : scalars.value[0];
    float v;
    if constexpr (kInputs == 1) {
      v = kernels::apply_unary(static_cast<kernels::UnaryOp>(op), va, alpha, beta);
    } else if constexpr (kInputs == 2) {
      const float vb = b != nullptr ? b[offsets[2]] : scalars.value[1];
      v = kernels::apply_binary(static_cast<kernels::BinaryOp>(op), va, vb, alpha, beta);
    } else {
      const float vb = b != nullptr ? b[offsets[2]] : scalars.value[1];
      const float vc = c != nullptr ? c[offsets[3]] : scalars.value[2];
      v = kernels::apply_ternary(static_cast<kernels::TernaryOp>(op), va, vb, vc);
    }
    float* o = out + offsets[0];
    *o = accumulate ? *o + v : v;
  }
}

// Prepares and launches one call with kInputs inputs.
template <int kInputs>
void launch(float* out, const ElementInput* const (&inputs)[kInputs], const StridedLayout& layout,
            int op, float alpha, float beta, bool accumulate) {
  const StridedLayout l = kernels::launch_layout(layout, inputs, kInputs);
  const std::int64_t n = kernels::element_count(l);
  if (n == 0) return;
  Scalars scalars{};
  const float* p[3] = {nullptr, nullptr, nullptr};
  for (int k = 0; k < kInputs; ++k) {
    p[k] = inputs[k]->data;
    scalars.value[k] = inputs[k]->scalar;
  }
  if (kernels::fits_32_bits(l)) {
    NAPINET_LAUNCH((elementwise_kernel<kInputs, std::uint32_t>), grid_for(n), kBlockSize, 0, out, p[0],
                   p[1], p[2], scalars, l, op, alpha, beta, accumulate, n);
  } else {
    NAPINET_LAUNCH((elementwise_kernel<kInputs, std::int64_t>), grid_for(n), kBlockSize, 0, out, p[0],
                   p[1], p[2], scalars, l, op, alpha, beta, accumulate, n);
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void unary(float* out, const ElementInput& x, const StridedLayout& layout, kernels::UnaryOp op,
           float alpha, float beta, bool accumulate) {
  const ElementInput* const inputs[1] = {&x};
  launch<1>(out, inputs, layout, static_cast<int>(op), alpha, beta, accumulate);
}

void binary(float* out, const ElementInput& a, const ElementInput& b, const StridedLayout& layout,
            kernels::BinaryOp op, float alpha, float beta, bool accumulate) {
  const ElementInput* const inputs[2] = {&a, &b};
  launch<2>(out, inputs, layout, static_cast<int>(op), alpha, beta, accumulate);
}

void ternary(float* out, const ElementInput& a, const ElementInput& b, const ElementInput& c,
             const StridedLayout& layout, kernels::TernaryOp op, bool accumulate) {
  const ElementInput* const inputs[3] = {&a, &b, &c};
  launch<3>(out, inputs, layout, static_cast<int>(op), 0.0f, 0.0f, accumulate);
}

}  // namespace napinet::cuda
