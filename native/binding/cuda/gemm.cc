// The batched gemm launchers of cuda/api.h (cuda/gemm.cu), which have no CPU kernel: exported for
// tests (test/gemm.test.ts) and for ops built on them. CUDA builds only; every buffer a CudaBuffer.
//   cudaGemmStridedBatched(c, a, b, bias | null, m, n, k, transA, transB, alpha, beta, biasPerRow,
//                          batch, strideC, strideA, strideB)
//   cudaGemmBatchSum(c, a, b, m, n, k, transA, transB, alpha, beta, batch, strideA, strideB)
#include <string>

#include "../../../cuda/api.h"
#include "../args.h"
#include "../registry.h"

namespace napinet::binding {
namespace {

// Elements a batch of `batch` items `stride` apart, each `size` long, spans.
std::size_t span(std::int64_t batch, std::int64_t stride, std::int64_t size) {
  return batch == 0 ? 0 : static_cast<std::size_t>((batch - 1) * stride + size);
}

float* device_data(const Napi::CallbackInfo& info, const FloatBuffer& buffer) {
  if (buffer && buffer.device != Device::kCuda) {
    throw_type_error(info.Env(), buffer.name, "a CudaBuffer", "a Float32Array");
  }
  return buffer.data;
}

Napi::Value gemm_strided_batched(const Napi::CallbackInfo& info) {
  auto m = int_arg(info, 4, "m", 0);
  auto n = int_arg(info, 5, "n", 0);
  auto k = int_arg(info, 6, "k", 0);
  bool trans_a = bool_arg(info, 7, "transA");
  bool trans_b = bool_arg(info, 8, "transB");
  auto alpha = static_cast<float>(number_arg(info, 9, "alpha"));
  auto beta = static_cast<float>(number_arg(info, 10, "beta"));
  bool bias_per_row = bool_arg(info, 11, "biasPerRow");
  auto batch = int_arg(info, 12, "batch", 0);
  auto stride_c = int_arg(info, 13, "strideC", 0);
  auto stride_a = int_arg(info, 14, "strideA", 0);
  auto stride_b = int_arg(info, 15, "strideB", 0);
  if (batch > 1 && stride_c < m * n) {
    throw_range_error(info.Env(), "Expected at least m·n = " + std::to_string(m * n) +
                                      " (output items must not overlap) for strideC but received " +
                                      std::to_string(stride_c));
  }
  auto c = float_arg(info, 0, "c", span(batch, stride_c, m * n));
  auto a = float_arg(info, 1, "a", span(batch, stride_a, m * k));
  auto b = float_arg(info, 2, "b", span(batch, stride_b, k * n));
  auto bias = optional_float_arg(info, 3, "bias", bias_per_row ? m : n);
  cuda::gemm_strided_batched(device_data(info, c), device_data(info, a), device_data(info, b),
                             device_data(info, bias), m, n, k, trans_a, trans_b, alpha, beta,
                             bias_per_row, batch, stride_c, stride_a, stride_b);
  return info.Env().Undefined();
}
NAPINET_EXPORT("cudaGemmStridedBatched", gemm_strided_batched);

Napi::Value gemm_batch_sum(const Napi::CallbackInfo& info) {
  auto m = int_arg(info, 3, "m", 0);
  auto n = int_arg(info, 4, "n", 0);
  auto k = int_arg(info, 5, "k", 0);
  bool trans_a = bool_arg(info, 6, "transA");
  bool trans_b = bool_arg(info, 7, "transB");
  auto alpha = static_cast<float>(number_arg(info, 8, "alpha"));
  auto beta = static_cast<float>(number_arg(info, 9, "beta"));
  auto batch = int_arg(info, 10, "batch", 0);
  auto stride_a = int_arg(info, 11, "strideA", 0);
  auto stride_b = int_arg(info, 12, "strideB", 0);
  auto c = float_arg(info, 0, "c", m * n);
  auto a = float_arg(info, 1, "a", span(batch, stride_a, m * k));
  auto b = float_arg(info, 2, "b", span(batch, stride_b, k * n));
  cuda::gemm_batch_sum(device_data(info, c), device_data(info, a), device_data(info, b), m, n, k,
                       trans_a, trans_b, alpha, beta, batch, stride_a, stride_b);
  return info.Env().Undefined();
}
NAPINET_EXPORT("cudaGemmBatchSum", gemm_batch_sum);

}  // namespace
}  // namespace napinet::binding
