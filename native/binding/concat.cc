// Bindings for native/kernels/concat:
//   concatChannels(y, x, N, Cy, offset, Cx, inner)   y[:, offset : offset + Cx] = x
//   splitChannels(x, y, N, Cy, offset, Cx, inner)    x = y[:, offset : offset + Cx]
//   addInto(y, x, n)                                 y += x
#include "../kernels/concat.h"

#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

constexpr std::int64_t kMaxDim = INT32_MAX;

// N, Cy, offset, Cx, inner from consecutive arguments starting at `first`, checked so that the
// slice lies inside y: offset + Cx ≤ Cy.
struct Slice {
  std::int64_t n, c_y, offset, c_x, inner;
  std::size_t y_elements() const { return static_cast<std::size_t>(n * c_y * inner); }
  std::size_t x_elements() const { return static_cast<std::size_t>(n * c_x * inner); }
};

Slice slice_args(const Napi::CallbackInfo& info, std::size_t first) {
  Slice s;
  s.n = int_arg(info, first, "N", 0, kMaxDim);
  s.c_y = int_arg(info, first + 1, "Cy", 1, kMaxDim);
  s.offset = int_arg(info, first + 2, "offset", 0, s.c_y - 1);
  s.c_x = int_arg(info, first + 3, "Cx", 1, s.c_y - s.offset);
  s.inner = int_arg(info, first + 4, "inner", 0, kMaxDim);
  if (static_cast<double>(s.n) * static_cast<double>(s.c_y) * static_cast<double>(s.inner) >
      static_cast<double>(INT64_MAX / 8)) {
    throw_range_error(info.Env(), "Expected at most 2^60 elements for N·Cy·inner but received " +
                                      std::to_string(s.n) + "·" + std::to_string(s.c_y) + "·" +
                                      std::to_string(s.inner));
  }
  return s;
}

Napi::Value concat_channels(const Napi::CallbackInfo& info) {
  const Slice s = slice_args(info, 2);
  auto y = float_arg(info, 0, "y", s.y_elements());
  auto x = float_arg(info, 1, "x", s.x_elements());
  NAPINET_DISPATCH(common_device(info.Env(), y, x), concat_channels, y.data, x.data, s.n, s.c_y,
                   s.offset, s.c_x, s.inner);
  return info.Env().Undefined();
}
NAPINET_EXPORT("concatChannels", concat_channels);

Napi::Value split_channels(const Napi::CallbackInfo& info) {
  const Slice s = slice_args(info, 2);
  auto x = float_arg(info, 0, "x", s.x_elements());
  auto y = float_arg(info, 1, "y", s.y_elements());
  NAPINET_DISPATCH(common_device(info.Env(), x, y), split_channels, x.data, y.data, s.n, s.c_y,
                   s.offset, s.c_x, s.inner);
  return info.Env().Undefined();
}
NAPINET_EXPORT("splitChannels", split_channels);

Napi::Value add_into(const Napi::CallbackInfo& info) {
  auto n = int_arg(info, 2, "n", 0, INT64_MAX / 4);
  auto y = float_arg(info, 0, "y", n);
  auto x = float_arg(info, 1, "x", n);
  if (n > 0 && x.data < y.data + n && y.data < x.data + n) {
    throw_range_error(info.Env(), "Expected x not to overlap y for x but received overlapping buffers");
  }
  NAPINET_DISPATCH(common_device(info.Env(), y, x), add_into, y.data, x.data, n);
  return info.Env().Undefined();
}
NAPINET_EXPORT("addInto", add_into);

}  // namespace
}  // namespace napinet::binding
