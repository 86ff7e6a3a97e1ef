// Bindings for native/kernels/gather:
//   gatherRows(dst, src, rows, rowLength)
// Host arrays only (the training loop gathers into a host batch, then uploads it to a GPU).
#include "../kernels/gather.h"

#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

// Every index of `rows` in [0, limit), or a RangeError naming the argument.
void check_rows(Napi::Env env, const IntBuffer& rows, std::int64_t limit) {
  for (std::size_t i = 0; i < rows.length; ++i) {
    if (rows.data[i] < 0 || rows.data[i] >= limit) {
      throw_range_error(env, std::string("Expected row indices in [0, ") + std::to_string(limit) +
                                 ") for " + rows.name + " but received " +
                                 std::to_string(rows.data[i]) + " at index " + std::to_string(i));
    }
  }
}

Napi::Value gather_rows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::int64_t row_length = int_arg(info, 3, "rowLength", 1);
  auto rows = int_buffer_arg(info, 2, "rows", 0);
  auto src = float_arg(info, 1, "src", 0);
  auto dst = float_arg(info, 0, "dst", rows.length * static_cast<std::size_t>(row_length));
  const Device device = common_device(env, dst, src, rows);
  if (device != Device::kCpu) {
    throw_type_error(env, "dst", "host arrays (gatherRows gathers into a host batch)",
                     "a CUDA tensor");
  }
  const auto src_rows = static_cast<std::int64_t>(src.length) / row_length;
  check_rows(env, rows, src_rows);
  kernels::gather_rows(dst.data, src.data, rows.data, static_cast<kernels::index_t>(rows.length),
                       row_length);
  return env.Undefined();
}
NAPINET_EXPORT("gatherRows", gather_rows);

}  // namespace
}  // namespace napinet::binding
