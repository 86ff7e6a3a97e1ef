// Bindings for native/kernels/gemm: gemm(c, a, b, m, n, k, transA, transB, alpha, beta).
#include "../kernels/gemm.h"

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

Napi::Value gemm(const Napi::CallbackInfo& info) {
  auto m = int_arg(info, 3, "m", 0);
  auto n = int_arg(info, 4, "n", 0);
  auto k = int_arg(info, 5, "k", 0);
  bool trans_a = bool_arg(info, 6, "transA");
  bool trans_b = bool_arg(info, 7, "transB");
  auto alpha = static_cast<float>(number_arg(info, 8, "alpha"));
  auto beta = static_cast<float>(number_arg(info, 9, "beta"));
  auto c = float_arg(info, 0, "c", m * n);
  auto a = float_arg(info, 1, "a", m * k);
  auto b = float_arg(info, 2, "b", k * n);
  NAPINET_DISPATCH(common_device(info.Env(), c, a, b), gemm, c.data, a.data, b.data, m, n, k,
                   trans_a, trans_b, alpha, beta);
  return info.Env().Undefined();
}
NAPINET_EXPORT("gemm", gemm);

}  // namespace
}  // namespace napinet::binding
