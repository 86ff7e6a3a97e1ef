// Bindings for native/kernels/indexing (CPU) and cuda/indexing.cu:
//   indexSelect(out, x, indices, outer, dimSize, inner, count)   out[o,i,j] = x[o,indices[i],j]
//   indexAdd(out, src, indices, outer, dimSize, inner, count)    out[o,indices[i],j] += src[o,i,j]
//   gather(out, x, index, xShape, indexShape, dim)               torch.gather
//   scatterAdd(out, src, index, outShape, indexShape, dim)       Tensor.scatter_add_ (src: index's shape)
// Every index is checked against the indexed dimension before a kernel runs; for CUDA tensors the
// indices are read back to the host for it (see check_indices in strided_args.h).
#include "../kernels/indexing.h"

#include <string>

#include "args.h"
#include "dispatch.h"
#include "registry.h"
#include "strided_args.h"

namespace napinet::binding {
namespace {

// outer·size·inner, or a RangeError when it passes kMaxExtent.
std::int64_t product3(Napi::Env env, std::int64_t outer, std::int64_t size, std::int64_t inner,
                      const char* name) {
  const double p = static_cast<double>(outer) * static_cast<double>(size) * static_cast<double>(inner);
  if (p > static_cast<double>(kMaxExtent)) {
    throw_range_error(env, std::string("Expected at most 2^52 elements for ") + name + " but received " +
                               std::to_string(outer) + "·" + std::to_string(size) + "·" + std::to_string(inner));
  }
  return outer * size * inner;
}

void check_apart(Napi::Env env, const FloatBuffer& out, std::int64_t out_n, const FloatBuffer& in,
                 std::int64_t in_n) {
  if (ranges_overlap(out.data, out_n, in.data, in_n)) {
    throw_range_error(env, std::string("Expected ") + out.name + " not to overlap " + in.name + " for " +
                               out.name + " but received overlapping buffers");
  }
}

// (out, input, indices, outer, dimSize, inner, count): input is x for index_select (the indexed
// tensor, [outer, dimSize, inner]) and src for index_add ([outer, count, inner]).
template <bool kAdd>
Napi::Value index_rows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto outer = int_arg(info, 3, "outer", 0, kMaxExtent);
  const auto dim_size = int_arg(info, 4, "dimSize", 0, kMaxExtent);
  const auto inner = int_arg(info, 5, "inner", 0, kMaxExtent);
  const auto count = int_arg(info, 6, "count", 0, kMaxExtent);
  const std::int64_t indexed = product3(env, outer, dim_size, inner, kAdd ? "out" : "x");
  const std::int64_t picked = product3(env, outer, count, inner, kAdd ? "src" : "out");
  auto out = float_arg(info, 0, "out", static_cast<std::size_t>(kAdd ? indexed : picked));
  auto input = float_arg(info, 1, kAdd ? "src" : "x", static_cast<std::size_t>(kAdd ? picked : indexed));
  auto indices = int_buffer_arg(info, 2, "indices", static_cast<std::size_t>(count));
  check_apart(env, out, kAdd ? indexed : picked, input, kAdd ? picked : indexed);
  const Device device = common_device(env, out, input, indices);
  if (outer > 0 && inner > 0) check_indices(env, indices, count, dim_size);
  if constexpr (kAdd) {
    NAPINET_DISPATCH(device, index_add, out.data, input.data, indices.data, outer, dim_size, inner, count);
  } else {
    NAPINET_DISPATCH(device, index_select, out.data, input.data, indices.data, outer, dim_size, inner, count);
  }
  return env.Undefined();
}
NAPINET_EXPORT("indexSelect", index_rows<false>);
NAPINET_EXPORT("indexAdd", index_rows<true>);

// (out, input, index, indexedShape, indexShape, dim): gather reads x (indexed) into out (index's
// shape); scatter_add adds src (index's shape) into out (indexed).
template <bool kScatter>
Napi::Value index_elements(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* indexed_name = kScatter ? "outShape" : "xShape";
  const ShapeArg indexed = shape_arg(info, 3, indexed_name);
  const ShapeArg index_shape = shape_arg(info, 4, "indexShape");
  if (index_shape.rank != indexed.rank || indexed.rank == 0) {
    throw_range_error(env, std::string("Expected a shape of rank ") + std::to_string(indexed.rank) + " (that of " +
                               indexed_name + ", at least 1) for indexShape but received " +
                               dims_text(index_shape.dims, index_shape.rank));
  }
  const auto dim = static_cast<int>(int_arg(info, 5, "dim", 0, indexed.rank - 1));
  for (int d = 0; d < indexed.rank; ++d) {
    if (d != dim && index_shape.dims[d] > indexed.dims[d]) {
      throw_range_error(env, "Expected indexShape[" + std::to_string(d) + "] ≤ " + indexed_name + "[" +
                                 std::to_string(d) + "] = " + std::to_string(indexed.dims[d]) +
                                 " for indexShape but received " + dims_text(index_shape.dims, index_shape.rank));
    }
  }
  auto out = float_arg(info, 0, "out", static_cast<std::size_t>(kScatter ? indexed.elements : index_shape.elements));
  auto input = float_arg(info, 1, kScatter ? "src" : "x",
                         static_cast<std::size_t>(kScatter ? index_shape.elements : indexed.elements));
  auto index = int_buffer_arg(info, 2, "index", static_cast<std::size_t>(index_shape.elements));
  check_apart(env, out, kScatter ? indexed.elements : index_shape.elements, input,
              kScatter ? index_shape.elements : indexed.elements);
  const Device device = common_device(env, out, input, index);
  check_indices(env, index, index_shape.elements, indexed.dims[dim]);
  if constexpr (kScatter) {
    NAPINET_DISPATCH(device, scatter_add, out.data, input.data, index.data, indexed.dims, index_shape.dims, indexed.rank, dim);
  } else {
    NAPINET_DISPATCH(device, gather, out.data, input.data, index.data, indexed.dims, index_shape.dims, indexed.rank, dim);
  }
  return env.Undefined();
}
NAPINET_EXPORT("gather", index_elements<false>);
NAPINET_EXPORT("scatterAdd", index_elements<true>);

}  // namespace
}  // namespace napinet::binding
