// Bindings for native/kernels/concat:
//   concatChannels(y, x, N, Cy, offset, Cx, inner)   y[:, offset : offset + Cx] = x
//   splitChannels(x, y, N, Cy, offset, Cx, inner)    x = y[:, offset : offset + Cx]
//   addInto(y, x, n)                                 y += x
#include "../kernels/concat.h"

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
  element_count(info.Env(), "N·Cy·inner", {s.n, s.c_y, s.inner});
  return s;
}

// concatChannels(y, x, …) and splitChannels(x, y, …): the same slice, y and x in the other order
// (the output first).
template <typename Fn>
Napi::Value copy_slice(const Napi::CallbackInfo& info, Kernel<Fn> kernel, bool into_y) {
  const Slice s = slice_args(info, 2);
  auto out = float_arg(info, 0, into_y ? "y" : "x", into_y ? s.y_elements() : s.x_elements());
  auto in = float_arg(info, 1, into_y ? "x" : "y", into_y ? s.x_elements() : s.y_elements());
  kernel(common_device(info.Env(), out, in), out.data, in.data, s.n, s.c_y, s.offset, s.c_x,
         s.inner);
  return info.Env().Undefined();
}
NAPINET_EXPORT("concatChannels", [](const Napi::CallbackInfo& info) {
  return copy_slice(info, NAPINET_KERNEL(concat_channels), true);
});
NAPINET_EXPORT("splitChannels", [](const Napi::CallbackInfo& info) {
  return copy_slice(info, NAPINET_KERNEL(split_channels), false);
});

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
