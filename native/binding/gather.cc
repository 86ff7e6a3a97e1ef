// Bindings for native/kernels/gather (CPU) and cuda/gather.cu:
//   gatherBatch(x, y, images, labels, order, start, count, rowLength)
//     x[i] = images[order[start + i]], y[i] = labels[order[start + i]] for i < count
// On the CPU every index is checked here, with a message naming it. On the GPU the indices cannot
// be read without a host round trip: the kernels (both devices) turn an index outside the images
// into a NaN image and the label −1.
#include "../kernels/gather.h"

#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"

namespace napinet::binding {
namespace {

// Every index of rows[0, count) in [0, limit), or a RangeError naming the argument.
void check_rows(Napi::Env env, const IntBuffer& order, std::int64_t start, std::int64_t count,
                std::int64_t limit) {
  for (std::int64_t i = start; i < start + count; ++i) {
    if (order.data[i] < 0 || order.data[i] >= limit) {
      throw_range_error(env, std::string("Expected row indices in [0, ") + std::to_string(limit) +
                                 ") for " + order.name + " but received " +
                                 std::to_string(order.data[i]) + " at index " + std::to_string(i));
    }
  }
}

Napi::Value gather_batch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::int64_t row_length = int_arg(info, 7, "rowLength", 1);
  const std::int64_t count = int_arg(info, 6, "count", 0);
  const std::int64_t start = int_arg(info, 5, "start", 0);
  const auto n = static_cast<std::size_t>(count);
  auto order = int_buffer_arg(info, 4, "order", static_cast<std::size_t>(start) + n);
  auto labels = int_buffer_arg(info, 3, "labels", 0);
  auto images = float_arg(info, 2, "images", labels.length * static_cast<std::size_t>(row_length));
  auto y = int_buffer_arg(info, 1, "y", n);
  auto x = float_arg(info, 0, "x", n * static_cast<std::size_t>(row_length));
  const auto rows = static_cast<std::int64_t>(labels.length);
  const Device device = common_device(env, x, y, images, labels, order);
  if (device == Device::kCpu) check_rows(env, order, start, count, rows);
  NAPINET_DISPATCH(device, gather_batch, x.data, y.data, images.data, labels.data,
                   order.data + start, count, row_length, rows);
  return env.Undefined();
}
NAPINET_EXPORT("gatherBatch", gather_batch);

}  // namespace
}  // namespace napinet::binding
