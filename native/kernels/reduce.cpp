// CPU reductions (see reduce.h for the contract and the summation order). One pipeline per shape
// kind (rows, columns, general), each templated on a Policy (what a value is and how two combine:
// sum, product, arg-max/min) and a Map applied to each element first (identity, or var's squared
// deviation from the output's mean). Long reductions are cut into chunks of 2^kChunkLevel leaves,
// whose results are complete subtrees of the pairwise order: chunks run in parallel and are then
// combined exactly as a serial pass would have, so the result does not depend on the split.
#include "reduce.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <vector>

#include "parallel.h"
#include "reduce_plan.h"

namespace napinet::kernels {
namespace {

constexpr int kLanes = 32;                // interleaved accumulators of a row leaf (4 AVX registers)
constexpr index_t kLeaf = 128;            // elements of a row leaf
constexpr index_t kLeafRows = 16;         // rows of a column leaf
constexpr index_t kTile = 64;             // columns per column-reduction work item
constexpr index_t kGather = 32 * kLeaf;   // elements the general path gathers per batch of leaves
constexpr int kChunkLevel = 8;            // a parallel chunk is 2^8 leaves (a complete subtree)
constexpr index_t kChunkLeaves = index_t{1} << kChunkLevel;
constexpr index_t kWorkGrain = 1 << 15;   // elements of work per parallel chunk
constexpr int kMaxDepth = 64;             // pairwise levels (a reduction has < 2^63 elements)

// ---- policies: a value type, its identity and the combining rule -----------------------------

struct SumPolicy {
  using T = float;
  static T identity() { return 0.0f; }
  static T combine(T a, T b) { return a + b; }
  static T load(float v, index_t) { return v; }
};

struct ProdPolicy {
  using T = float;
  static T identity() { return 1.0f; }
  static T combine(T a, T b) { return a * b; }
  static T load(float v, index_t) { return v; }
};

// The identity loses to every element (an infinity of the wrong sign with the largest index), so a
// reduction of −inf values still names the first of them.
template <bool kMax>
struct ArgPolicy {
  using T = ValueIndex;
  static T identity() {
    return {kMax ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity(),
            std::numeric_limits<index_t>::max()};
  }
  static T combine(T a, T b) { return better(a, b, kMax); }
  static T load(float v, index_t position) { return {v, position}; }
};

// Element maps: `output` is the index of the output the element reduces into.
struct Identity {
  float operator()(float v, index_t) const { return v; }
};
struct SquaredDeviation {
  const float* mean;  // one per output
  float operator()(float v, index_t output) const {
    const float d = v - mean[output];
    return d * d;
  }
};

// ---- the pairwise order: leaves pushed into a binary counter ---------------------------------

template <class P>
struct Cascade {
  using T = typename P::T;
  T value[kMaxDepth];
  int level[kMaxDepth];
  int depth = 0;

  // A complete subtree of 2^lv leaves, merged with the equal-sized subtree before it, and so on.
  void push(T v, int lv = 0) {
    while (depth > 0 && level[depth - 1] == lv) {
      v = P::combine(value[--depth], v);
      ++lv;
    }
    value[depth] = v;
    level[depth++] = lv;
  }
  // The last, incomplete chunk's total: the serial pass would have collapsed it first.
  void push_last(T v) {
    value[depth] = v;
    level[depth++] = -1;
  }
  T finish() {
    if (depth == 0) return P::identity();
    T s = value[--depth];
    while (depth > 0) s = P::combine(value[--depth], s);
    return s;
  }
};

#if defined(__GNUC__)
#define NAPINET_INLINE inline __attribute__((always_inline))
#else
#define NAPINET_INLINE inline
#endif

// Leaf of `len` ≤ kLeaf contiguous values, the first at position `first` of the reduction.
template <class P, class Map>
NAPINET_INLINE typename P::T leaf(const float* x, index_t first, index_t len, const Map& map,
                                  index_t output) {
  using T = typename P::T;
  T lane[kLanes];
  for (int j = 0; j < kLanes; ++j) lane[j] = P::identity();
  index_t i = 0;
  for (; i + kLanes <= len; i += kLanes) {
    for (int j = 0; j < kLanes; ++j) {
      lane[j] = P::combine(lane[j], P::load(map(x[i + j], output), first + i + j));
    }
  }
  for (int j = 0; i < len; ++i, ++j) lane[j] = P::combine(lane[j], P::load(map(x[i], output), first + i));
  // A balanced tree: lane j takes lane j + 16, then j + 8, …, then lane 0 takes lane 1.
  for (int width = kLanes / 2; width > 0; width /= 2) {
    for (int j = 0; j < width; ++j) lane[j] = P::combine(lane[j], lane[j + width]);
  }
  return lane[0];
}

// The leaves of n contiguous values (at most a chunk's worth), out[l] for l < ⌈n / kLeaf⌉: one
// call per chunk, so the vectorised loop is entered once per 2^15 values, not once per leaf.
template <class P, class Map>
NAPINET_VECTORIZED void leaves(typename P::T* out, const float* x, index_t first, index_t n,
                               const Map& map, index_t output) {
  for (index_t l = 0, r = 0; r < n; ++l, r += kLeaf) {
    out[l] = leaf<P>(x + r, first + r, std::min(kLeaf, n - r), map, output);
  }
}

// Positions [begin, end) of a contiguous row: at most one chunk, begin on a chunk boundary.
template <class P, class Map>
typename P::T row_chunk(const float* row, index_t begin, index_t end, const Map& map, index_t output) {
  typename P::T values[kChunkLeaves];
  leaves<P>(values, row + begin, begin, end - begin, map, output);
  Cascade<P> c;
  for (index_t l = 0; l * kLeaf < end - begin; ++l) c.push(values[l]);
  return c.finish();
}

// Combines the per-chunk results of one reduction of `count` elements cut into chunks of
// `chunk_size` (2^kChunkLevel leaves of `leaf` elements) in the serial pass's order.
template <class P, class Get>
typename P::T merge_chunks(index_t count, index_t chunk_size, index_t chunks, const Get& get) {
  Cascade<P> c;
  for (index_t k = 0; k < chunks; ++k) {
    const bool complete = (k + 1) * chunk_size <= count;
    if (complete) {
      c.push(get(k), kChunkLevel);
    } else {
      c.push_last(get(k));
    }
  }
  return c.finish();
}

// ---- pipelines: finish(output, value) receives each output's result --------------------------

template <class P, class Map, class Finish>
void reduce_rows(const ReducePlan& p, const float* x, const Map& map, const Finish& finish) {
  using T = typename P::T;
  const index_t count = p.count;
  const index_t chunk_size = kLeaf << kChunkLevel;
  const index_t chunks = std::max<index_t>(1, (count + chunk_size - 1) / chunk_size);
  const index_t span = std::min(count, chunk_size);
  const index_t grain = std::max<index_t>(1, kWorkGrain / std::max<index_t>(1, span));
  if (chunks == 1) {
    parallel_for(p.outer, grain, [&](index_t begin, index_t end) {
      for (index_t o = begin; o < end; ++o) finish(o, row_chunk<P>(x + o * count, 0, count, map, o));
    });
    return;
  }
  std::vector<T> partial(static_cast<std::size_t>(p.outer * chunks));
  parallel_for(p.outer * chunks, grain, [&](index_t begin, index_t end) {
    for (index_t item = begin; item < end; ++item) {
      const index_t o = item / chunks, k = item % chunks;
      partial[item] = row_chunk<P>(x + o * count, k * chunk_size,
                                   std::min(count, (k + 1) * chunk_size), map, o);
    }
  });
  parallel_for(p.outer, std::max<index_t>(1, kWorkGrain / chunks), [&](index_t begin, index_t end) {
    for (index_t o = begin; o < end; ++o) {
      finish(o, merge_chunks<P>(count, chunk_size, chunks, [&](index_t k) { return partial[o * chunks + k]; }));
    }
  });
}

// Vectors of up to kTile columns, one value per column, pushed into a binary counter (a chunk of
// column leaves in column_chunk; whole chunks in reduce_columns). `Depth` bounds the stack.
template <class P, int Depth>
struct ColumnCascade {
  using T = typename P::T;
  T value[Depth][kTile];
  int level[Depth];
  int depth = 0;
  index_t width;

  explicit ColumnCascade(index_t w) : width(w) {}
  NAPINET_INLINE void push(T* v, int lv) {  // v is overwritten
    while (depth > 0 && level[depth - 1] == lv) {
      --depth;
      for (index_t j = 0; j < width; ++j) v[j] = P::combine(value[depth][j], v[j]);
      ++lv;
    }
    std::copy(v, v + width, value[depth]);
    level[depth++] = lv;
  }
  NAPINET_INLINE void push_last(const T* v) {
    std::copy(v, v + width, value[depth]);
    level[depth++] = -1;
  }
  NAPINET_INLINE void finish(T* out) {
    if (depth == 0) {
      std::fill(out, out + width, P::identity());
      return;
    }
    std::copy(value[depth - 1], value[depth - 1] + width, out);
    for (--depth; depth > 0; --depth) {
      for (index_t j = 0; j < width; ++j) out[j] = P::combine(value[depth - 1][j], out[j]);
    }
  }
};

// Rows [begin, end) (at most one chunk) of columns [j0, j0 + width) of block o of a
// [outer, count, inner] tensor: leaves of kLeafRows rows (one running value per column), merged
// pairwise, all in one vectorised call.
template <class P, class Map>
NAPINET_VECTORIZED void column_chunk(typename P::T* result, const float* x, const ReducePlan& p,
                                     index_t o, index_t j0, index_t width, index_t begin,
                                     index_t end, const Map& map) {
  ColumnCascade<P, kChunkLevel + 2> c(width);
  typename P::T acc[kTile];
  const index_t out0 = o * p.inner + j0;
  for (index_t r0 = begin; r0 < end; r0 += kLeafRows) {
    for (index_t j = 0; j < width; ++j) acc[j] = P::identity();
    for (index_t r = r0; r < std::min(end, r0 + kLeafRows); ++r) {
      const float* row = x + (o * p.count + r) * p.inner + j0;
      for (index_t j = 0; j < width; ++j) acc[j] = P::combine(acc[j], P::load(map(row[j], out0 + j), r));
    }
    c.push(acc, 0);
  }
  c.finish(result);
}

template <class P, class Map, class Finish>
void reduce_columns(const ReducePlan& p, const float* x, const Map& map, const Finish& finish) {
  using T = typename P::T;
  const index_t count = p.count, inner = p.inner;
  const index_t tiles = (inner + kTile - 1) / kTile;
  const index_t chunk_size = kLeafRows << kChunkLevel;
  const index_t chunks = std::max<index_t>(1, (count + chunk_size - 1) / chunk_size);
  const index_t items = p.outer * tiles * chunks;
  const index_t grain = std::max<index_t>(1, kWorkGrain / (std::min(count, chunk_size) * std::min(inner, kTile)));
  auto finish_tile = [&](index_t o, index_t j0, index_t width, const T* values) {
    for (index_t j = 0; j < width; ++j) finish(o * inner + j0 + j, values[j]);
  };
  if (chunks == 1) {
    parallel_for(items, grain, [&](index_t begin, index_t end) {
      T values[kTile];
      for (index_t item = begin; item < end; ++item) {
        const index_t o = item / tiles, j0 = (item % tiles) * kTile, width = std::min(kTile, inner - j0);
        column_chunk<P>(values, x, p, o, j0, width, 0, count, map);
        finish_tile(o, j0, width, values);
      }
    });
    return;
  }
  // partial[(o·tiles + t)·chunks + k][kTile]
  std::vector<T> partial(static_cast<std::size_t>(items * kTile));
  parallel_for(items, grain, [&](index_t begin, index_t end) {
    for (index_t item = begin; item < end; ++item) {
      const index_t k = item % chunks, ot = item / chunks;
      const index_t o = ot / tiles, j0 = (ot % tiles) * kTile, width = std::min(kTile, inner - j0);
      column_chunk<P>(&partial[item * kTile], x, p, o, j0, width, k * chunk_size,
                      std::min(count, (k + 1) * chunk_size), map);
    }
  });
  parallel_for(p.outer * tiles, 1, [&](index_t begin, index_t end) {
    auto c = std::make_unique<ColumnCascade<P, kMaxDepth>>(0);  // too large for the stack
    T values[kTile];
    for (index_t ot = begin; ot < end; ++ot) {
      const index_t o = ot / tiles, j0 = (ot % tiles) * kTile, width = std::min(kTile, inner - j0);
      c->width = width;
      c->depth = 0;
      for (index_t k = 0; k < chunks; ++k) {
        std::copy_n(&partial[(ot * chunks + k) * kTile], width, values);
        if ((k + 1) * chunk_size <= count) {
          c->push(values, kChunkLevel);
        } else {
          c->push_last(values);
        }
      }
      c->finish(values);
      finish_tile(o, j0, width, values);
    }
  });
}

// Any kept/reduced pattern: each output gathers its reduced elements in row-major order, kGather
// at a time (copying runs of the innermost reduced dimension), and sums them leaf by leaf.
template <class P, class Map, class Finish>
void reduce_general(const ReducePlan& p, const float* x, const Map& map, const Finish& finish) {
  using T = typename P::T;
  const int last = p.reduced_rank - 1;
  const index_t run = p.reduced_shape[last], step = p.reduced_strides[last];
  const index_t grain = std::max<index_t>(1, kWorkGrain / std::max<index_t>(1, p.count));
  parallel_for(p.outputs, grain, [&](index_t begin, index_t end) {
    std::vector<float> gathered(static_cast<std::size_t>(kGather));
    T values[kGather / kLeaf];
    for (index_t o = begin; o < end; ++o) {
      index_t idx[kMaxRank] = {};  // multi-index over the reduced dimensions but the last
      index_t offset = kept_offset(p, o);
      index_t t = 0;  // position within the current run
      Cascade<P> c;
      for (index_t r = 0; r < p.count;) {
        const index_t n = std::min(kGather, p.count - r);
        for (index_t filled = 0; filled < n;) {
          const index_t take = std::min(run - t, n - filled);
          const float* src = x + offset + t * step;
          float* dst = gathered.data() + filled;
          if (step == 1) {
            std::copy(src, src + take, dst);
          } else {
            for (index_t i = 0; i < take; ++i) dst[i] = src[i * step];
          }
          filled += take;
          t += take;
          if (t == run) {  // next run: carry through the outer reduced dimensions
            t = 0;
            for (int d = last - 1; d >= 0; --d) {
              offset += p.reduced_strides[d];
              if (++idx[d] < p.reduced_shape[d]) break;
              offset -= p.reduced_shape[d] * p.reduced_strides[d];
              idx[d] = 0;
            }
          }
        }
        leaves<P>(values, gathered.data(), r, n, map, o);
        for (index_t l = 0; l * kLeaf < n; ++l) c.push(values[l]);
        r += n;
      }
      finish(o, c.finish());
    }
  });
}

template <class P, class Map, class Finish>
void run(const ReducePlan& p, const float* x, const Map& map, const Finish& finish) {
  switch (p.kind) {
    case ReducePlan::kRows: reduce_rows<P>(p, x, map, finish); break;
    case ReducePlan::kColumns: reduce_columns<P>(p, x, map, finish); break;
    case ReducePlan::kGeneral: reduce_general<P>(p, x, map, finish); break;
  }
}

}  // namespace

void reduce(float* out, std::int32_t* indices, const float* x, const index_t* shape, int rank,
            std::uint32_t reduced_dims, ReduceOp op, double correction) {
  const ReducePlan p = make_reduce_plan(shape, rank, reduced_dims);
  if (p.outputs == 0) return;
  const float count = static_cast<float>(p.count);
  if (p.count == 0) {  // identities: sum 0, prod 1, mean and var 0/0 (max and min are refused)
    const float value = op == ReduceOp::kSum ? 0.0f : op == ReduceOp::kProd ? 1.0f
                                                    : std::numeric_limits<float>::quiet_NaN();
    std::fill(out, out + p.outputs, value);
    return;
  }
  switch (op) {
    case ReduceOp::kSum:
      run<SumPolicy>(p, x, Identity{}, [&](index_t o, float s) { out[o] = s; });
      break;
    case ReduceOp::kMean:
      run<SumPolicy>(p, x, Identity{}, [&](index_t o, float s) { out[o] = s / count; });
      break;
    case ReduceOp::kProd:
      run<ProdPolicy>(p, x, Identity{}, [&](index_t o, float s) { out[o] = s; });
      break;
    case ReduceOp::kMax:
    case ReduceOp::kMin: {
      auto finish = [&](index_t o, ValueIndex v) {
        out[o] = v.value;
        if (indices != nullptr) indices[o] = static_cast<std::int32_t>(v.index);
      };
      if (op == ReduceOp::kMax) {
        run<ArgPolicy<true>>(p, x, Identity{}, finish);
      } else {
        run<ArgPolicy<false>>(p, x, Identity{}, finish);
      }
      break;
    }
    case ReduceOp::kVar: {
      std::vector<float> mean(static_cast<std::size_t>(p.outputs));
      run<SumPolicy>(p, x, Identity{}, [&](index_t o, float s) { mean[o] = s / count; });
      const float divisor = var_divisor(p.count, correction);
      run<SumPolicy>(p, x, SquaredDeviation{mean.data()},
                     [&](index_t o, float s) { out[o] = s / divisor; });
      break;
    }
    default: break;
  }
}

}  // namespace napinet::kernels
