// The shape arguments of a 2-D convolution, (N, C, H, W, K, kh, kw, sh, sw, ph, pw), read and
// checked once for the bindings of native/kernels/conv2d (conv2d.cc) and ternary_conv2d.
#pragma once

#include <string>

#include "../kernels/conv2d.h"
#include "args.h"

namespace napinet::binding {

// Spatial sizes, strides and padding above this are surely a mistake (and keep every product of
// two of them far from int64 overflow).
constexpr std::int64_t kMaxConvSpatial = std::int64_t{1} << 20;

struct ConvArgs {
  std::int64_t n, c, h, w, k, kh, kw, sh, sw, ph, pw, oh, ow;
  // Element counts of x (N,C,H,W), w (K,C,kh,kw) and y (N,K,OH,OW), each checked against 2^53.
  std::size_t x_size(Napi::Env env, const char* name = "x") const {
    return element_count(env, name, {n, c, h, w});
  }
  std::size_t w_size(Napi::Env env, const char* name = "w") const {
    return element_count(env, name, {k, c, kh, kw});
  }
  std::size_t y_size(Napi::Env env, const char* name = "y") const {
    return element_count(env, name, {n, k, oh, ow});
  }
};

// Reads N, C, H, W, K, kh, kw, sh, sw, ph, pw from arguments first..first+10 and checks that the
// kernel fits the padded input.
inline ConvArgs conv_args(const Napi::CallbackInfo& info, std::size_t first) {
  ConvArgs a;
  a.n = int_arg(info, first + 0, "N", 0);
  a.c = int_arg(info, first + 1, "C", 1);
  a.h = int_arg(info, first + 2, "H", 1, kMaxConvSpatial);
  a.w = int_arg(info, first + 3, "W", 1, kMaxConvSpatial);
  a.k = int_arg(info, first + 4, "K", 1);
  a.kh = int_arg(info, first + 5, "kh", 1, kMaxConvSpatial);
  a.kw = int_arg(info, first + 6, "kw", 1, kMaxConvSpatial);
  a.sh = int_arg(info, first + 7, "sh", 1, kMaxConvSpatial);
  a.sw = int_arg(info, first + 8, "sw", 1, kMaxConvSpatial);
  a.ph = int_arg(info, first + 9, "ph", 0, kMaxConvSpatial);
  a.pw = int_arg(info, first + 10, "pw", 0, kMaxConvSpatial);
  if (a.kh > a.h + 2 * a.ph) {
    throw_range_error(info.Env(), "Expected kh ≤ H + 2·ph = " + std::to_string(a.h + 2 * a.ph) +
                                      " for kh but received " + std::to_string(a.kh));
  }
  if (a.kw > a.w + 2 * a.pw) {
    throw_range_error(info.Env(), "Expected kw ≤ W + 2·pw = " + std::to_string(a.w + 2 * a.pw) +
                                      " for kw but received " + std::to_string(a.kw));
  }
  a.oh = kernels::conv2d_output_size(a.h, a.kh, a.sh, a.ph);
  a.ow = kernels::conv2d_output_size(a.w, a.kw, a.sw, a.pw);
  return a;
}

}  // namespace napinet::binding
