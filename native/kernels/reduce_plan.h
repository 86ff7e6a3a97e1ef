// How a reduction's shape is laid out for the kernels, computed once on the host for the CPU
// kernels (reduce.cpp) and the CUDA launchers (cuda/reduce.cu): dimensions of size 1 dropped, and
// consecutive dimensions of one kind (kept / reduced) merged, which leaves one of three kinds of
// work (see reduce.h). Plain data, passed by value to CUDA kernels.
#pragma once

#include <cstdint>

#include "strided.h"

namespace napinet::kernels {

struct ReducePlan {
  enum Kind { kRows, kColumns, kGeneral } kind = kRows;
  std::int64_t outputs = 1, count = 1;  // outputs, and elements reduced into each
  std::int64_t outer = 1, inner = 1;    // rows: [outer, count]; columns: [outer, count, inner]
  // The merged kept and reduced dimensions with their strides in x (used by kGeneral).
  int kept_rank = 0, reduced_rank = 0;
  std::int64_t kept_shape[kMaxRank] = {}, kept_strides[kMaxRank] = {};
  std::int64_t reduced_shape[kMaxRank] = {}, reduced_strides[kMaxRank] = {};
};

// x contiguous of `shape`; bit d of reduced_dims set when dimension d is reduced.
inline ReducePlan make_reduce_plan(const std::int64_t* shape, int rank, std::uint32_t reduced_dims) {
  std::int64_t strides[kMaxRank];
  contiguous_strides(strides, shape, rank);
  // Runs of consecutive dimensions of one kind: x is contiguous, so a run is one dimension of the
  // runs' total size with the stride of its last dimension.
  struct Run {
    std::int64_t size, stride;
    bool reduced;
  };
  Run runs[kMaxRank];
  int n = 0;
  ReducePlan p;
  for (int d = 0; d < rank; ++d) {
    const bool reduced = (reduced_dims >> d) & 1u;
    (reduced ? p.count : p.outputs) *= shape[d];
    if (shape[d] == 1) continue;
    if (n > 0 && runs[n - 1].reduced == reduced) {
      runs[n - 1].size *= shape[d];
      runs[n - 1].stride = strides[d];
    } else {
      runs[n++] = {shape[d], strides[d], reduced};
    }
  }
  for (int i = 0; i < n; ++i) {
    if (runs[i].reduced) {
      p.reduced_shape[p.reduced_rank] = runs[i].size;
      p.reduced_strides[p.reduced_rank++] = runs[i].stride;
    } else {
      p.kept_shape[p.kept_rank] = runs[i].size;
      p.kept_strides[p.kept_rank++] = runs[i].stride;
    }
  }
  const bool last_reduced = n == 0 || runs[n - 1].reduced;
  if (p.reduced_rank == 0 || (p.reduced_rank == 1 && last_reduced)) {
    p.kind = ReducePlan::kRows;  // [outer, count]: at most one kept run, before the reduced one
    p.outer = p.outputs;
  } else if (p.reduced_rank == 1) {
    p.kind = ReducePlan::kColumns;  // [outer, count, inner]: a kept run after the reduced one
    p.inner = runs[n - 1].size;
    p.outer = p.outputs / p.inner;
  } else {
    p.kind = ReducePlan::kGeneral;
  }
  return p;
}

// Where output `o`'s elements start in x, and where its `r`-th reduced element lies from there
// (kGeneral; divisions per merged dimension).
NAPINET_HOST_DEVICE std::int64_t kept_offset(const ReducePlan& p, std::int64_t o) {
  std::int64_t offset = 0;
  for (int d = p.kept_rank - 1; d >= 0; --d) {
    const std::int64_t q = o / p.kept_shape[d];
    offset += (o - q * p.kept_shape[d]) * p.kept_strides[d];
    o = q;
  }
  return offset;
}
NAPINET_HOST_DEVICE std::int64_t reduced_offset(const ReducePlan& p, std::int64_t r) {
  std::int64_t offset = 0;
  for (int d = p.reduced_rank - 1; d >= 0; --d) {
    const std::int64_t q = r / p.reduced_shape[d];
    offset += (r - q * p.reduced_shape[d]) * p.reduced_strides[d];
    r = q;
  }
  return offset;
}

}  // namespace napinet::kernels
