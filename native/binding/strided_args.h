// Argument reading shared by the tensor-maths bindings (elementwise.cc, reduce.cc, indexing.cc,
// batch_matmul.cc): shapes and strides given as JavaScript Arrays of integers, strided views checked
// against their buffer, scalar-or-tensor inputs, overlap checks and index validation. Every check
// throws a JavaScript error naming the argument, as args.h does.
#pragma once

#include <napi.h>

#include <cstdint>

#include "../kernels/strided.h"
#include "args.h"

namespace napinet::binding {

// Sizes the bindings accept: elements of one tensor, strides and offsets (far below 2^63, so sums
// of a few of them cannot overflow).
constexpr std::int64_t kMaxExtent = std::int64_t{1} << 52;

struct ShapeArg {
  int rank = 0;
  std::int64_t dims[kernels::kMaxRank] = {};
  std::int64_t elements = 1;
};

// Argument `index` as a shape: an Array of at most kMaxRank non-negative integers whose product
// is at most kMaxExtent ("Expected a shape of rank ≤ 8 for shape but received [1, 2, …]").
ShapeArg shape_arg(const Napi::CallbackInfo& info, std::size_t index, const char* name);

// "[2, 3, 4]": a shape or a list of strides in messages.
std::string dims_text(const std::int64_t* dims, int rank);

// A strided view of a buffer over `shape`: argument `offset_index` the offset, the next one the
// strides (an Array of shape.rank non-negative integers). Throws unless every element the view
// reaches lies inside the buffer. Returns the number of elements the view spans (its reach: the
// largest offset + 1, or 0 when the shape is empty).
std::int64_t view_arg(const Napi::CallbackInfo& info, std::size_t offset_index, const char* name,
                      const ShapeArg& shape, std::size_t buffer_length, std::int64_t* offset,
                      std::int64_t* strides);

// Throws unless the view's elements are all distinct (an output must not write one place twice):
// sorted by stride, each dimension's stride exceeds the reach of the smaller ones.
void check_no_self_overlap(Napi::Env env, const char* name, const ShapeArg& shape,
                           const std::int64_t* strides);

// Whether [a, a + a_length) and [b, b + b_length) (elements) overlap in memory.
bool ranges_overlap(const void* a, std::int64_t a_length, const void* b, std::int64_t b_length);

// Every index of `indices` (count of them) in [0, limit), or a RangeError naming the argument, the
// bad value and its position. CUDA indices are copied to the host first (a wait for the queued
// work and a device-to-host copy of 4·count bytes).
void check_indices(Napi::Env env, const IntBuffer& indices, std::int64_t count, std::int64_t limit);

}  // namespace napinet::binding
