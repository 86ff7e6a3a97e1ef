// Bindings for the batched product of native/kernels/gemm (gemm_batched) and cuda/gemm.cu:
//   gemmBatched(c, a, b, batch, m, n, k, transA, transB, strideA, strideB, strideC, alpha, beta)
//     c_i = alpha·op(a_i)·op(b_i) + beta·c_i for i < batch, item i at c + i·strideC, a + i·strideA,
//     b + i·strideB (elements). strideA or strideB 0 shares one matrix across the batch; strideC
//     must keep the outputs apart (≥ m·n when batch > 1), and c must not overlap a or b.
#include "../kernels/gemm.h"

#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"
#include "strided_args.h"

namespace napinet::binding {
namespace {

// Elements a batch of `batch` items of `item` elements, `stride` apart, spans (0 when empty;
// above kMaxExtent, saturated, when too many).
std::int64_t batch_span(std::int64_t batch, std::int64_t item, std::int64_t stride) {
  if (batch == 0 || item == 0) return 0;
  if (item > kMaxExtent || (stride > 0 && batch - 1 > kMaxExtent / stride)) return kMaxExtent + 1;
  return (batch - 1) * stride + item;
}

Napi::Value gemm_batched(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto batch = int_arg(info, 3, "batch", 0, kMaxExtent);
  const auto m = int_arg(info, 4, "m", 0);
  const auto n = int_arg(info, 5, "n", 0);
  const auto k = int_arg(info, 6, "k", 0);
  const bool trans_a = bool_arg(info, 7, "transA");
  const bool trans_b = bool_arg(info, 8, "transB");
  const auto stride_a = int_arg(info, 9, "strideA", 0, kMaxExtent);
  const auto stride_b = int_arg(info, 10, "strideB", 0, kMaxExtent);
  const auto stride_c = int_arg(info, 11, "strideC", 0, kMaxExtent);
  const auto alpha = static_cast<float>(number_arg(info, 12, "alpha"));
  const auto beta = static_cast<float>(number_arg(info, 13, "beta"));
  if (batch > 1 && stride_c < m * n) {
    throw_range_error(env, "Expected strideC ≥ m·n = " + std::to_string(m * n) +
                               " (outputs must not overlap) for strideC but received " + std::to_string(stride_c));
  }
  const std::int64_t span_c = batch_span(batch, m * n, stride_c);
  const std::int64_t span_a = batch_span(batch, m * k, stride_a);
  const std::int64_t span_b = batch_span(batch, k * n, stride_b);
  for (const std::int64_t span : {span_a, span_b, span_c}) {
    if (span > kMaxExtent) {
      throw_range_error(env, "Expected a batch spanning at most 2^52 elements for batch but received " +
                                 std::to_string(batch) + " items");
    }
  }
  auto c = float_arg(info, 0, "c", static_cast<std::size_t>(span_c));
  auto a = float_arg(info, 1, "a", static_cast<std::size_t>(span_a));
  auto b = float_arg(info, 2, "b", static_cast<std::size_t>(span_b));
  for (const FloatBuffer* input : {&a, &b}) {
    const std::int64_t span = input == &a ? span_a : span_b;
    if (ranges_overlap(c.data, span_c, input->data, span)) {
      throw_range_error(env, std::string("Expected c not to overlap ") + input->name +
                                 " for c but received overlapping buffers");
    }
  }
  NAPINET_DISPATCH(common_device(env, c, a, b), gemm_batched, c.data, a.data, b.data, batch, m, n, k, trans_a, trans_b, stride_a, stride_b, stride_c, alpha, beta);
  return env.Undefined();
}
NAPINET_EXPORT("gemmBatched", gemm_batched);

}  // namespace
}  // namespace napinet::binding
