// Reductions on the GPU: the CUDA side of native/kernels/reduce.h (torch.sum / mean / prod / amax /
// amin / max(dim) / min(dim) / argmax / argmin / var, keepdim layout). Same plan as the CPU
// (reduce_plan.h: rows, columns or general), same combining rules (op_math.h), no float atomics.
// Test: test/reduce.test.ts (runs on 'cuda' with a GPU or the emulator build).
//
// Order of every sum (fixed by the shape, so a GPU run repeats bit for bit; it differs from the
// CPU's order, so the two devices agree to rounding, not bits):
//   rows     a group of G lanes (G a power of two in [32, 256], about count/16) reduces a chunk of
//            16·G consecutive elements of one output: lane l takes elements l, l + G, … (16 at
//            most, coalesced across the lanes) in order, then the G lanes are added as a balanced
//            tree in shared memory.
//   columns  a block of W columns × H = 256/W lanes (W = inner rounded up to a power of two, at
//            most 32) reduces a chunk of 16·H rows: lane h takes rows h, h + H, … of its column, then
//            a tree over the H lanes.
//   general  as rows, each element's place in x computed from the merged dimensions.
// When an output has more than one chunk, each chunk's result goes to a workspace and the next
// launch reduces those partial results the same way (rows of `chunks` values; for columns,
// [outer, chunks, inner]), until one chunk is left. So a sum of R values is a sequence of ≤16-long
// running sums and balanced trees: about log₁₆₍₂₅₆₎(R)·(16 + 8) roundings deep, not R.
// var runs twice: the mean into the workspace, then Σ(x − mean)² divided by max(0, R − correction).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#include "common.cuh"

#include "../native/kernels/op_math.h"
#include "../native/kernels/reduce_plan.h"

namespace napinet::cuda {
namespace {

using kernels::ReduceOp;
using kernels::ReducePlan;
using kernels::ValueIndex;

constexpr int kThreads = 256;  // threads per block
constexpr int kPerLane = 16;   // elements (rows) one lane adds in order before the tree

// ---- policies: the value type of a reduction, its identity, combining rule and storage --------

struct SumPolicy {
  using T = float;
  __device__ static T identity() { return 0.0f; }
  __device__ static T combine(T a, T b) { return a + b; }
  __device__ static T load(float v, std::int64_t) { return v; }
  __device__ static T read(const float* values, const std::int64_t*, std::int64_t i) { return values[i]; }
  __device__ static void write(float* values, std::int64_t*, std::int64_t i, T v) { values[i] = v; }
};

struct ProdPolicy : SumPolicy {
  __device__ static T identity() { return 1.0f; }
  __device__ static T combine(T a, T b) { return a * b; }
};

template <bool kMax>
struct ArgPolicy {
  using T = ValueIndex;
  __device__ static T identity() {
    return {kMax ? -INFINITY : INFINITY, INT64_MAX};  // loses to every element (op_math.h)
  }
  __device__ static T combine(T a, T b) { return kernels::better(a, b, kMax); }
  __device__ static T load(float v, std::int64_t position) { return {v, position}; }
  __device__ static T read(const float* values, const std::int64_t* indices, std::int64_t i) {
    return {values[i], indices[i]};
  }
  __device__ static void write(float* values, std::int64_t* indices, std::int64_t i, T v) {
    values[i] = v.value;
    indices[i] = v.index;
  }
};

// What the last launch writes for an output: the value (divided, for mean and var) and, for
// max / min, the winner's position.
struct Finish {
  float* out;
  std::int32_t* indices;  // nullptr: none wanted
  bool divide;
  float divisor;
};

__device__ inline void finish(const Finish& f, std::int64_t o, float v) {
  f.out[o] = f.divide ? v / f.divisor : v;
}
__device__ inline void finish(const Finish& f, std::int64_t o, ValueIndex v) {
  f.out[o] = v.value;
  if (f.indices != nullptr) f.indices[o] = static_cast<std::int32_t>(v.index);
}

// One launch's input: x itself (the first launch: elements placed by the plan, var's map applied)
// or the previous launch's partial results (values, and positions for max / min).
struct Source {
  ReducePlan plan;
  const float* mean;  // var's second pass: one mean per output; else nullptr
};

// ---- kernels ---------------------------------------------------------------------------------

// [outputs, count] rows (plan.kind kRows or kGeneral at the first launch; partial rows after).
// Group g of a block (lanes G) reduces item = (output, chunk); the last launch (chunks == 1)
// finishes, others write partial[item].
template <class P, bool kFirst>
__global__ void __launch_bounds__(kThreads)
    reduce_rows_kernel(Finish fin, float* part_values, std::int64_t* part_indices, const float* x,
                       const float* in_values, const std::int64_t* in_indices, Source src,
                       std::int64_t outputs, std::int64_t count, std::int64_t chunks, int lanes) {
  using T = typename P::T;
  __shared__ T tree[kThreads];
  const int tid = static_cast<int>(threadIdx.x);
  const int lane = tid % lanes, group = tid / lanes, groups = kThreads / lanes;
  const std::int64_t items = outputs * chunks;
  const std::int64_t chunk_length = std::int64_t{lanes} * kPerLane;
  // The loop bound is the same for every thread of a block (the barriers below need that).
  for (std::int64_t first = std::int64_t{blockIdx.x} * groups; first < items;
       first += std::int64_t{gridDim.x} * groups) {
    const std::int64_t item = first + group;
    T acc = P::identity();
    if (item < items) {
      const std::int64_t o = item / chunks, r0 = (item % chunks) * chunk_length;
      const bool general = kFirst && src.plan.kind == ReducePlan::kGeneral;
      const std::int64_t base = general ? kernels::kept_offset(src.plan, o) : o * count;
      for (int t = 0; t < kPerLane; ++t) {
        const std::int64_t r = r0 + lane + std::int64_t{t} * lanes;
        if (r >= count) break;
        if constexpr (kFirst) {
          float v = x[base + (general ? kernels::reduced_offset(src.plan, r) : r)];
          if (src.mean != nullptr) {
            const float d = v - src.mean[o];
            v = d * d;
          }
          acc = P::combine(acc, P::load(v, r));
        } else {
          acc = P::combine(acc, P::read(in_values, in_indices, base + r));
        }
      }
    }
    tree[tid] = acc;
    for (int s = lanes / 2; s > 0; s /= 2) {
      __syncthreads();
      if (lane < s) tree[tid] = P::combine(tree[tid], tree[tid + s]);
    }
    if (lane == 0 && item < items) {
      if (chunks == 1) {
        finish(fin, item, tree[tid]);
      } else {
        P::write(part_values, part_indices, item, tree[tid]);
      }
    }
    __syncthreads();  // tree is rewritten by the next item
  }
}

// [outer, count, inner] columns. Block item = (o, column tile, chunk); thread (w, h) = column
// tile·W + w, lane h of H. Partial results are [outer, chunks, inner].
template <class P, bool kFirst>
__global__ void __launch_bounds__(kThreads)
    reduce_columns_kernel(Finish fin, float* part_values, std::int64_t* part_indices,
                          const float* x, const float* in_values, const std::int64_t* in_indices,
                          const float* mean, std::int64_t outer, std::int64_t count,
                          std::int64_t inner, std::int64_t chunks, int width) {
  using T = typename P::T;
  __shared__ T tree[kThreads];
  const int tid = static_cast<int>(threadIdx.x);
  const int w = tid % width, h = tid / width, height = kThreads / width;
  const std::int64_t tiles = (inner + width - 1) / width;
  const std::int64_t items = outer * tiles * chunks;
  const std::int64_t chunk_rows = std::int64_t{height} * kPerLane;
  for (std::int64_t item = blockIdx.x; item < items; item += gridDim.x) {
    const std::int64_t k = item % chunks, ot = item / chunks;
    const std::int64_t o = ot / tiles, j = (ot % tiles) * width + w;
    T acc = P::identity();
    if (j < inner) {
      for (int t = 0; t < kPerLane; ++t) {
        const std::int64_t r = k * chunk_rows + h + std::int64_t{t} * height;
        if (r >= count) break;
        const std::int64_t at = (o * count + r) * inner + j;
        if constexpr (kFirst) {
          float v = x[at];
          if (mean != nullptr) {
            const float d = v - mean[o * inner + j];
            v = d * d;
          }
          acc = P::combine(acc, P::load(v, r));
        } else {
          acc = P::combine(acc, P::read(in_values, in_indices, at));
        }
      }
    }
    tree[tid] = acc;
    for (int s = height / 2; s > 0; s /= 2) {
      __syncthreads();
      if (h < s) tree[tid] = P::combine(tree[tid], tree[tid + s * width]);
    }
    if (h == 0 && j < inner) {
      if (chunks == 1) {
        finish(fin, o * inner + j, tree[tid]);
      } else {
        P::write(part_values, part_indices, (o * chunks + k) * inner + j, tree[tid]);
      }
    }
    __syncthreads();
  }
}

// ---- host side -------------------------------------------------------------------------------

// Scratch for partial results and var's means: per-thread scratch (common.cuh), grown on demand
// and kept.
unsigned char* workspace(std::size_t bytes) {
  return static_cast<unsigned char*>(scratch(Scratch::kReduce, bytes));
}

std::int64_t ceil_div(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Lanes of a row group for `count` elements: a power of two in [32, 256], about count / kPerLane.
int row_lanes(std::int64_t count) {
  int lanes = 32;
  while (lanes < kThreads && std::int64_t{lanes} * kPerLane < count) lanes *= 2;
  return lanes;
}
// Columns of a column block: inner rounded up to a power of two, at most 32.
int column_width(std::int64_t inner) {
  int width = 1;
  while (width < 32 && width < inner) width *= 2;
  return width;
}

// Chunks of the first launch: the partial results a level can produce at most.
std::int64_t first_chunks(const ReducePlan& p) {
  if (p.kind == ReducePlan::kColumns) return ceil_div(p.count, std::int64_t{kThreads / column_width(p.inner)} * kPerLane);
  return ceil_div(p.count, std::int64_t{row_lanes(p.count)} * kPerLane);
}

// Partial results of a level: values (and positions for max / min).
struct Partials {
  float* values;
  std::int64_t* indices;
};

// Workspace bytes for one reduction's partial results (two levels' worth, used in turn).
std::size_t partial_bytes(const ReducePlan& p, bool with_indices) {
  const std::int64_t chunks = first_chunks(p);
  if (chunks <= 1) return 0;
  const auto n = static_cast<std::size_t>(p.outputs * chunks);
  return 2 * n * (sizeof(float) + (with_indices ? sizeof(std::int64_t) : 0)) + 256;
}

Partials carve(unsigned char* base, const ReducePlan& p, bool with_indices, int which) {
  const auto n = static_cast<std::size_t>(p.outputs * std::max<std::int64_t>(1, first_chunks(p)));
  auto* indices = reinterpret_cast<std::int64_t*>(base);  // 8-byte values first, for alignment
  auto* values = reinterpret_cast<float*>(base + (with_indices ? 2 * n * sizeof(std::int64_t) : 0));
  return {values + which * n, with_indices ? indices + which * n : nullptr};
}

// The whole reduction with policy P: first launch from x, then partial levels, ping-ponging
// between the two halves of `scratch`.
template <class P>
void run_levels(const ReducePlan& p, const float* x, const float* mean, const Finish& fin,
                unsigned char* scratch) {
  const bool with_indices = !std::is_same<typename P::T, float>::value;
  std::int64_t count = p.count;
  int level = 0;
  Partials in{nullptr, nullptr};
  for (;;) {
    const bool first = level == 0;
    if (p.kind == ReducePlan::kColumns) {
      const int width = column_width(p.inner);
      const std::int64_t chunks = ceil_div(count, std::int64_t{kThreads / width} * kPerLane);
      const Partials out = chunks > 1 ? carve(scratch, p, with_indices, level % 2) : Partials{nullptr, nullptr};
      const std::int64_t items = p.outer * ceil_div(p.inner, width) * chunks;
      const unsigned grid = grid_for(items, 1);
      if (first) {
        NAPINET_LAUNCH((reduce_columns_kernel<P, true>), grid, kThreads, 0, fin, out.values, out.indices, x,
                       static_cast<const float*>(nullptr), static_cast<const std::int64_t*>(nullptr), mean,
                       p.outer, count, p.inner, chunks, width);
      } else {
        NAPINET_LAUNCH((reduce_columns_kernel<P, false>), grid, kThreads, 0, fin, out.values, out.indices,
                       static_cast<const float*>(nullptr), static_cast<const float*>(in.values),
                       static_cast<const std::int64_t*>(in.indices), static_cast<const float*>(nullptr),
                       p.outer, count, p.inner, chunks, width);
      }
      count = chunks;
      in = out;
    } else {
      const int lanes = row_lanes(count);
      const std::int64_t chunks = ceil_div(count, std::int64_t{lanes} * kPerLane);
      const Partials out = chunks > 1 ? carve(scratch, p, with_indices, level % 2) : Partials{nullptr, nullptr};
      const unsigned grid = grid_for(p.outputs * chunks, kThreads / lanes);
      const Source src{p, mean};
      if (first) {
        NAPINET_LAUNCH((reduce_rows_kernel<P, true>), grid, kThreads, 0, fin, out.values, out.indices, x,
                       static_cast<const float*>(nullptr), static_cast<const std::int64_t*>(nullptr), src,
                       p.outputs, count, chunks, lanes);
      } else {
        NAPINET_LAUNCH((reduce_rows_kernel<P, false>), grid, kThreads, 0, fin, out.values, out.indices,
                       static_cast<const float*>(nullptr), static_cast<const float*>(in.values),
                       static_cast<const std::int64_t*>(in.indices), src, p.outputs, count, chunks, lanes);
      }
      count = chunks;
      in = out;
    }
    if (count == 1) return;
    ++level;
  }
}

}  // namespace

// ---- launcher (cuda/api.h) -------------------------------------------------------------------

void reduce(float* out, std::int32_t* indices, const float* x, const std::int64_t* shape, int rank,
            std::uint32_t reduced_dims, ReduceOp op, double correction) {
  const ReducePlan p = kernels::make_reduce_plan(shape, rank, reduced_dims);
  if (p.outputs == 0) return;
  if (p.count == 0) {  // sum 0, prod 1, mean and var NaN (max and min are refused by the binding)
    fill(out, op == ReduceOp::kSum ? 0.0f : op == ReduceOp::kProd ? 1.0f : NAN, p.outputs);
    return;
  }
  const float count = static_cast<float>(p.count);
  switch (op) {
    case ReduceOp::kSum:
      run_levels<SumPolicy>(p, x, nullptr, {out, nullptr, false, 1.0f}, workspace(partial_bytes(p, false)));
      break;
    case ReduceOp::kMean:
      run_levels<SumPolicy>(p, x, nullptr, {out, nullptr, true, count}, workspace(partial_bytes(p, false)));
      break;
    case ReduceOp::kProd:
      run_levels<ProdPolicy>(p, x, nullptr, {out, nullptr, false, 1.0f}, workspace(partial_bytes(p, false)));
      break;
    case ReduceOp::kMax:
      run_levels<ArgPolicy<true>>(p, x, nullptr, {out, indices, false, 1.0f}, workspace(partial_bytes(p, true)));
      break;
    case ReduceOp::kMin:
      run_levels<ArgPolicy<false>>(p, x, nullptr, {out, indices, false, 1.0f}, workspace(partial_bytes(p, true)));
      break;
    case ReduceOp::kVar: {
      // One workspace holds the means (first, 256-byte aligned) and the partial results.
      const std::size_t mean_bytes = (static_cast<std::size_t>(p.outputs) * sizeof(float) + 255) / 256 * 256;
      unsigned char* scratch = workspace(mean_bytes + partial_bytes(p, false));
      auto* mean = reinterpret_cast<float*>(scratch);
      run_levels<SumPolicy>(p, x, nullptr, {mean, nullptr, true, count}, scratch + mean_bytes);
      run_levels<SumPolicy>(p, x, mean, {out, nullptr, true, kernels::var_divisor(p.count, correction)},
                            scratch + mean_bytes);
      break;
    }
    default: break;
  }
}

}  // namespace napinet::cuda
