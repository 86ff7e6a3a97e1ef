// Bindings for native/kernels/gemm and, in CUDA builds, the batched gemms of cuda/api.h, which have
// no CPU kernel (exported for tests, test/gemm.test.ts, and for ops built on them; CudaBuffers only):
//   gemm(c, a, b, m, n, k, transA, transB, alpha, beta)
//   cudaGemmStridedBatched(c, a, b, bias | null, m, n, k, transA, transB, alpha, beta, biasPerRow,
//                          batch, strideC, strideA, strideB)
//   cudaGemmBatchSum(c, a, b, m, n, k, transA, transB, alpha, beta, batch, strideA, strideB)
#include "../kernels/gemm.h"

#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

// m, n, k, transA, transB, alpha, beta from consecutive arguments starting at `first`.
struct GemmArgs {
  std::int64_t m, n, k;
  bool trans_a, trans_b;
  float alpha, beta;
};
GemmArgs gemm_args(const Napi::CallbackInfo& info, std::size_t first) {
  return {int_arg(info, first, "m", 0),
          int_arg(info, first + 1, "n", 0),
          int_arg(info, first + 2, "k", 0),
          bool_arg(info, first + 3, "transA"),
          bool_arg(info, first + 4, "transB"),
          static_cast<float>(number_arg(info, first + 5, "alpha")),
          static_cast<float>(number_arg(info, first + 6, "beta"))};
}

Napi::Value gemm(const Napi::CallbackInfo& info) {
  const GemmArgs g = gemm_args(info, 3);
  auto c = float_arg(info, 0, "c", g.m * g.n);
  auto a = float_arg(info, 1, "a", g.m * g.k);
  auto b = float_arg(info, 2, "b", g.k * g.n);
  NAPINET_DISPATCH(common_device(info.Env(), c, a, b), gemm, c.data, a.data, b.data, g.m, g.n, g.k,
                   g.trans_a, g.trans_b, g.alpha, g.beta);
  return info.Env().Undefined();
}
NAPINET_EXPORT("gemm", gemm);

#ifdef NAPINET_WITH_CUDA

// Elements a batch of `batch` items `stride` apart, each `size` long, spans.
std::size_t span(std::int64_t batch, std::int64_t stride, std::int64_t size) {
  return batch == 0 ? 0 : static_cast<std::size_t>((batch - 1) * stride + size);
}

// The device pointer of a CudaBuffer argument (or of an omitted optional one: nullptr).
float* device_data(const Napi::CallbackInfo& info, const FloatBuffer& buffer) {
  if (buffer && buffer.device != Device::kCuda) {
    throw_type_error(info.Env(), buffer.name, "a CudaBuffer", "a Float32Array");
  }
  return buffer.data;
}

Napi::Value gemm_strided_batched(const Napi::CallbackInfo& info) {
  const GemmArgs g = gemm_args(info, 4);
  bool bias_per_row = bool_arg(info, 11, "biasPerRow");
  auto batch = int_arg(info, 12, "batch", 0);
  auto stride_c = int_arg(info, 13, "strideC", 0);
  auto stride_a = int_arg(info, 14, "strideA", 0);
  auto stride_b = int_arg(info, 15, "strideB", 0);
  if (batch > 1 && stride_c < g.m * g.n) {
    throw_range_error(info.Env(), "Expected at least m·n = " + std::to_string(g.m * g.n) +
                                      " (output items must not overlap) for strideC but received " +
                                      std::to_string(stride_c));
  }
  auto c = float_arg(info, 0, "c", span(batch, stride_c, g.m * g.n));
  auto a = float_arg(info, 1, "a", span(batch, stride_a, g.m * g.k));
  auto b = float_arg(info, 2, "b", span(batch, stride_b, g.k * g.n));
  auto bias = optional_float_arg(info, 3, "bias", bias_per_row ? g.m : g.n);
  cuda::gemm_strided_batched(device_data(info, c), device_data(info, a), device_data(info, b),
                             device_data(info, bias), g.m, g.n, g.k, g.trans_a, g.trans_b, g.alpha,
                             g.beta, bias_per_row, batch, stride_c, stride_a, stride_b);
  return info.Env().Undefined();
}
NAPINET_EXPORT("cudaGemmStridedBatched", gemm_strided_batched);

Napi::Value gemm_batch_sum(const Napi::CallbackInfo& info) {
  const GemmArgs g = gemm_args(info, 3);
  auto batch = int_arg(info, 10, "batch", 0);
  auto stride_a = int_arg(info, 11, "strideA", 0);
  auto stride_b = int_arg(info, 12, "strideB", 0);
  auto c = float_arg(info, 0, "c", g.m * g.n);
  auto a = float_arg(info, 1, "a", span(batch, stride_a, g.m * g.k));
  auto b = float_arg(info, 2, "b", span(batch, stride_b, g.k * g.n));
  cuda::gemm_batch_sum(device_data(info, c), device_data(info, a), device_data(info, b), g.m, g.n,
                       g.k, g.trans_a, g.trans_b, g.alpha, g.beta, batch, stride_a, stride_b);
  return info.Env().Undefined();
}
NAPINET_EXPORT("cudaGemmBatchSum", gemm_batch_sum);

#endif  // NAPINET_WITH_CUDA

}  // namespace
}  // namespace napinet::binding
