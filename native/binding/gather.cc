// Bindings for native/kernels/gather (CPU) and cuda/gather.cu:
//   gatherBatch(x, y, inputs, targets, order, start, count, xRowLength, yRowLength)
//     x[i] = inputs[order[start + i]], y[i] = targets[order[start + i]] for i < count
// Each of the four tensors may be float32 or int32 (the kernels move 32-bit words); the
// TypeScript side (lib/ops/gather.ts) checks that x and inputs, y and targets, share a dtype.
// On the CPU every index is checked here, with a message naming it. On the GPU the indices cannot
// be read without a host round trip: the kernels (both devices) turn an index outside the source
// into a NaN input and the label −1 (all bits set).
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
  const std::int64_t y_row = int_arg(info, 8, "yRowLength", 1);
  const std::int64_t x_row = int_arg(info, 7, "xRowLength", 0);
  const std::int64_t count = int_arg(info, 6, "count", 0);
  const std::int64_t start = int_arg(info, 5, "start", 0);
  const auto n = static_cast<std::size_t>(count);
  auto order = int_buffer_arg(info, 4, "order", static_cast<std::size_t>(start) + n);
  auto targets = word_arg(info, 3, "targets", 0);
  if (targets.length % static_cast<std::size_t>(y_row) != 0) {
    throw_range_error(env, "Expected a whole number of rows of " + std::to_string(y_row) +
                               " elements for targets but received " + std::to_string(targets.length) +
                               " elements");
  }
  const std::size_t rows = targets.length / static_cast<std::size_t>(y_row);
  auto inputs = word_arg(info, 2, "inputs", rows * static_cast<std::size_t>(x_row));
  auto y = word_arg(info, 1, "y", n * static_cast<std::size_t>(y_row));
  auto x = word_arg(info, 0, "x", n * static_cast<std::size_t>(x_row));
  const Device device = common_device(env, x, y, inputs, targets, order);
  if (device == Device::kCpu) check_rows(env, order, start, count, static_cast<std::int64_t>(rows));
  NAPINET_DISPATCH(device, gather_batch, x.data, y.data, inputs.data, targets.data,
                   order.data + start, count, x_row, y_row, static_cast<std::int64_t>(rows));
  return env.Undefined();
}
NAPINET_EXPORT("gatherBatch", gather_batch);

}  // namespace
}  // namespace napinet::binding
