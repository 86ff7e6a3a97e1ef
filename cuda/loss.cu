// Softmax + cross-entropy with the fused gradient on the GPU: the CUDA side of
// native/kernels/loss.h (mirrors torch.nn.functional.cross_entropy with class indices,
// label_smoothing, no class weights). Test: test/loss.test.ts (runs on 'cuda' with a GPU or the
// emulator build).
//
// Forward: one group of `lanes` threads per row (C rounded up to a power of two, at most a warp),
// as cuda/softmax.cu. The row's first maximum (NaN first, as the CPU kernel and torch.argmax) and
// Σ exp are butterfly reductions over the group; its loss is formed in double from max-shifted
// logits like the CPU's. The per-row losses and correct counts are summed deterministically: each
// group adds its rows in row order, the groups of a block are added by a fixed tree in shared
// memory, and when there is more than one block a second single-block launch adds the blocks'
// partials in a fixed order. The block count depends on N and C only, so a given input always
// gives the same bits. Small batches (N·lanes ≤ 4096, e.g. the seed network's 64×10) are one block:
// one launch.
//
// The fused step (softmax_cross_entropy_fused: what the binding runs when a training step's loss
// forward, loss backward and the last Linear layer's backward follow each other, see
// native/binding/cuda/deferred.h): the same forward kernel also writes dlogits = scale·(probs −
// target) as each probability is formed, and, for one-block launches, the bias gradient db (=|+=)
// Σ_rows dlogits in linear.cu's bias_grad_kernel order. The bits equal the three separate calls'.
//
// Labels: the binding checks labels that live on the CPU; it cannot read labels on the GPU without
// a synchronising copy. A label outside [0, C) on the GPU is never used as an index: the forward
// pass counts that row's loss as NaN (so stats[0] becomes NaN, where the training loop sees it) and
// never as correct, and the backward pass fills that row of dlogits with NaN.
#include "common.cuh"
#include "../native/kernels/loss.h"

namespace napinet::cuda {
namespace {

constexpr unsigned kFullMask = 0xffffffffu;
// Blocks of the multi-block forward, at most (each leaves one partial for the final pass).
constexpr int kMaxLossBlocks = 1024;
constexpr int kFinalThreads = 256;

// ---- kernels ---------------------------------------------------------------------------------

__device__ inline bool is_nan(float v) { return v != v; }

// Of two (value, index) candidates, the one torch.argmax keeps: a NaN first (the lower index among
// NaNs), else the larger value, and the lower index on a tie. Index −1 is "no candidate".
__device__ inline bool first_is_better(float v1, int i1, float v2, int i2) {
  if (i2 < 0) return true;
  if (i1 < 0) return false;
  const bool nan1 = is_nan(v1), nan2 = is_nan(v2);
  if (nan1 != nan2) return nan1;
  if (!nan1 && v1 != v2) return v1 > v2;
  return i1 < i2;
}

// probs (N,C) = softmax(logits (N,C)); the loss and correctness of the rows of this block, summed
// in a fixed order, go to partials[2·block + {0, 1}] (more than one block) or, with a single block,
// straight into stats (2) (overwritten, or added into when accumulate). Block b handles rows
// [b·rows_per_block, (b+1)·rows_per_block) ∩ [0, N); dynamic shared memory: 2 doubles per group.
// Launched with up to 1024 threads (one block for small batches).
// The fused step (dlogits not nullptr): dlogits (N,C) = scale·(probs − target) too, target = on for
// the label's class and off elsewhere (a bad label: a NaN row), and with db (one block only)
// db (C) (=|+=) Σ_rows dlogits; dynamic shared memory then also holds kBiasLanes·C floats.
constexpr int kBiasLanes = 8;  // = linear.cu's kSumLanes: the same order of additions
__global__ void __launch_bounds__(1024)
    softmax_ce_forward_kernel(float* probs, double* partials, float* stats, float* dlogits,
                              float* db, const float* logits, const std::int32_t* labels,
                              std::int64_t n, std::int64_t c, int lanes,
                              std::int64_t rows_per_block, double smoothing, bool accumulate,
                              float off_target, float on_target, float scale, bool accumulate_db) {
  NAPINET_DYNAMIC_SHARED(double, sums);  // (groups, 2), then (kBiasLanes, C) floats with db
  const int lane = static_cast<int>(threadIdx.x) % lanes;
  const int group = static_cast<int>(threadIdx.x) / lanes;
  const int groups = static_cast<int>(blockDim.x) / lanes;
  const std::int64_t begin = std::int64_t{blockIdx.x} * rows_per_block;
  const std::int64_t end = begin + rows_per_block < n ? begin + rows_per_block : n;
  double loss = 0.0, correct = 0.0;  // this group's rows, in row order (meaningful in lane 0)
  // The bound is the same for every thread of the block, so all lanes reach each shuffle.
  for (std::int64_t base = begin; base < end; base += groups) {
    const std::int64_t row = base + group;
    const bool active = row < end;
    const float* z = logits + (active ? row : 0) * c;  // (C)
    float* p = probs + (active ? row : 0) * c;         // (C)
    // First maximum of the lane's strided elements (in increasing k), then across the group.
    float max = -INFINITY;
    int argmax = -1;  // C ≤ 2^31 − 1 (the binding's limit)
    if (active) {
      for (std::int64_t k = lane; k < c; k += lanes) {
        const float v = z[k];
        if (first_is_better(v, static_cast<int>(k), max, argmax)) {
          max = v;
          argmax = static_cast<int>(k);
        }
      }
    }
    for (int offset = lanes / 2; offset > 0; offset /= 2) {
      const float other = __shfl_xor_sync(kFullMask, max, offset);
      const int other_arg = __shfl_xor_sync(kFullMask, argmax, offset);
      if (!first_is_better(max, argmax, other, other_arg)) {
        max = other;
        argmax = other_arg;
      }
    }
    float sum = 0.0f;
    double shifted_sum = 0.0;  // Σ_k (max − z_k) ≥ 0, for the smoothing term
    if (active) {
      for (std::int64_t k = lane; k < c; k += lanes) {
        const float e = expf(z[k] - max);
        p[k] = e;
        sum += e;
        shifted_sum += static_cast<double>(max) - static_cast<double>(z[k]);
      }
    }
    for (int offset = lanes / 2; offset > 0; offset /= 2) {
      sum += __shfl_xor_sync(kFullMask, sum, offset);
      shifted_sum += __shfl_xor_sync(kFullMask, shifted_sum, offset);
    }
    if (active) {
      const float inv = 1.0f / sum;
      if (dlogits == nullptr) {
        for (std::int64_t k = lane; k < c; k += lanes) p[k] *= inv;
      } else {
        // dlogits from each probability as stored (the backward kernel's formula and order).
        const std::int32_t y = labels[row];
        float* d = dlogits + row * c;  // (C); may alias p (written after p[k] is read)
        for (std::int64_t k = lane; k < c; k += lanes) {
          const float pk = p[k] * inv;
          p[k] = pk;
          d[k] = (y < 0 || y >= c) ? NAN : scale * (pk - (k == y ? on_target : off_target));
        }
      }
      if (lane == 0) {
        const std::int32_t y = labels[row];
        if (y < 0 || y >= c) {
          loss += NAN;  // an invalid label (see the file comment); never an index
        } else {
          loss += kernels::cross_entropy_row_loss(sum, z[y], max, shifted_sum, c, smoothing);
          correct += argmax == y ? 1.0 : 0.0;
        }
      }
    }
  }
  // Groups' sums, added by a fixed tree (groups is a power of two).
  if (lane == 0) {
    sums[2 * group] = loss;
    sums[2 * group + 1] = correct;
  }
  __syncthreads();
  for (int half = groups / 2; half > 0; half /= 2) {
    if (static_cast<int>(threadIdx.x) < half) {
      sums[2 * threadIdx.x] += sums[2 * (threadIdx.x + half)];
      sums[2 * threadIdx.x + 1] += sums[2 * (threadIdx.x + half) + 1];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if (partials != nullptr) {
      partials[2 * blockIdx.x] = sums[0];
      partials[2 * blockIdx.x + 1] = sums[1];
    } else {
      const double total_loss = sums[0] + (accumulate ? static_cast<double>(stats[0]) : 0.0);
      const double total_correct = sums[1] + (accumulate ? static_cast<double>(stats[1]) : 0.0);
      stats[0] = static_cast<float>(total_loss);
      stats[1] = static_cast<float>(total_correct);
    }
  }
  if (db != nullptr) {  // one block: every row of dlogits is this block's
    // After the barrier the block's writes to dlogits are visible to all its threads. Lane l of
    // column o sums rows l, l + 8, … in order; then the 8 lane sums are added in lane order.
    __syncthreads();
    float* column = reinterpret_cast<float*>(sums + 2 * groups);  // (kBiasLanes, C)
    for (std::int64_t e = threadIdx.x; e < kBiasLanes * c; e += blockDim.x) {
      const std::int64_t o = e / kBiasLanes, l = e % kBiasLanes;
      float sum = 0.0f;
      for (std::int64_t i = l; i < n; i += kBiasLanes) sum += dlogits[i * c + o];
      column[l * c + o] = sum;
    }
    __syncthreads();
    for (std::int64_t o = threadIdx.x; o < c; o += blockDim.x) {
      float total = column[o];
      for (int l = 1; l < kBiasLanes; ++l) total += column[l * c + o];
      db[o] = accumulate_db ? db[o] + total : total;
    }
  }
}

// stats (2) = Σ of the blocks' partials (blocks, 2), in a fixed order (each thread a strided run,
// then a tree), overwritten or added into. One block of kFinalThreads threads.
__global__ void softmax_ce_stats_kernel(float* stats, const double* partials, int blocks,
                                        bool accumulate) {
  __shared__ double sums[2 * kFinalThreads];
  const int t = static_cast<int>(threadIdx.x);
  double loss = 0.0, correct = 0.0;
  for (int b = t; b < blocks; b += kFinalThreads) {
    loss += partials[2 * b];
    correct += partials[2 * b + 1];
  }
  sums[2 * t] = loss;
  sums[2 * t + 1] = correct;
  __syncthreads();
  for (int half = kFinalThreads / 2; half > 0; half /= 2) {
    if (t < half) {
      sums[2 * t] += sums[2 * (t + half)];
      sums[2 * t + 1] += sums[2 * (t + half) + 1];
    }
    __syncthreads();
  }
  if (t == 0) {
    const double total_loss = sums[0] + (accumulate ? static_cast<double>(stats[0]) : 0.0);
    const double total_correct = sums[1] + (accumulate ? static_cast<double>(stats[1]) : 0.0);
    stats[0] = static_cast<float>(total_loss);
    stats[1] = static_cast<float>(total_correct);
  }
}

// dlogits (N,C) = scale · (probs − target), one thread per element (dlogits may alias probs: each
// thread reads its element before writing it). A row whose label is outside [0, C) becomes NaN.
template <typename Index>
__global__ void softmax_ce_backward_kernel(float* dlogits, const float* probs,
                                           const std::int32_t* labels, Index c, float off_target,
                                           float on_target, float scale, Index total) {
  const Index stride = static_cast<Index>(blockDim.x) * gridDim.x;
  for (Index i = static_cast<Index>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += stride) {
    const Index row = i / c;
    const Index k = i - row * c;
    const std::int32_t y = labels[row];
    float d;
    if (y < 0 || y >= c) {
      d = NAN;
    } else {
      d = scale * (probs[i] - (k == y ? on_target : off_target));
    }
    dlogits[i] = d;
  }
}

// Threads per row: C rounded up to a power of two, between 1 and a warp.
int lanes_for(std::int64_t c) {
  int lanes = 1;
  while (lanes < 32 && lanes < c) lanes *= 2;
  return lanes;
}

// Device scratch for the blocks' partials: per-thread scratch (common.cuh; each thread queues on
// its own stream, so work that uses it runs in order), allocated on first use and kept.
double* partials_scratch() {
  return static_cast<double*>(scratch(Scratch::kLossPartials, 2 * kMaxLossBlocks * sizeof(double)));
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

namespace {

// The forward kernel's launches (see the file comment), with the fused gradient when dlogits is
// not nullptr; db is written here only for one-block launches with room in shared memory, and
// the return value says whether it was.
bool launch_forward(float* probs, float* stats, float* dlogits, float* db, const float* logits,
                    const std::int32_t* labels, std::int64_t n, std::int64_t c,
                    double label_smoothing, bool accumulate, float scale, bool accumulate_db) {
  const kernels::SmoothedTargets target = kernels::smoothed_targets(label_smoothing, c);
  const int lanes = lanes_for(c);
  if (n * lanes <= 4096) {
    // One block of up to 1024 threads (a power of two, at least a warp), at most 4 rows per group.
    int threads = 32;
    while (threads < 1024 && threads < n * lanes) threads *= 2;
    std::size_t shared = 2 * sizeof(double) * static_cast<std::size_t>(threads / lanes);
    const std::size_t bias_shared = sizeof(float) * kBiasLanes * static_cast<std::size_t>(c);
    const bool with_db = db != nullptr && shared + bias_shared <= 48 * 1024;
    if (with_db) shared += bias_shared;
    NAPINET_LAUNCH(softmax_ce_forward_kernel, 1, threads, shared, probs, static_cast<double*>(nullptr),
                   stats, dlogits, with_db ? db : static_cast<float*>(nullptr), logits, labels, n, c,
                   lanes, n, label_smoothing, accumulate, target.off, target.on, scale, accumulate_db);
    return with_db;
  }
  // About 8 rows per group with kBlockSize threads per block; N·lanes > 4096 gives ≥ 3 blocks.
  const std::int64_t wanted = (n * lanes + 8 * kBlockSize - 1) / (8 * kBlockSize);
  const std::int64_t blocks_needed = wanted < kMaxLossBlocks ? wanted : kMaxLossBlocks;
  const std::int64_t rows_per_block = (n + blocks_needed - 1) / blocks_needed;
  const int blocks = static_cast<int>((n + rows_per_block - 1) / rows_per_block);
  double* partials = partials_scratch();
  const std::size_t shared = 2 * sizeof(double) * static_cast<std::size_t>(kBlockSize / lanes);
  NAPINET_LAUNCH(softmax_ce_forward_kernel, blocks, kBlockSize, shared, probs, partials, stats,
                 dlogits, static_cast<float*>(nullptr), logits, labels, n, c, lanes, rows_per_block,
                 label_smoothing, accumulate, target.off, target.on, scale, accumulate_db);
  NAPINET_LAUNCH(softmax_ce_stats_kernel, 1, kFinalThreads, 0, stats,
                 static_cast<const double*>(partials), blocks, accumulate);
  return false;
}

}  // namespace

void softmax_cross_entropy_forward(float* probs, float* stats, const float* logits,
                                   const std::int32_t* labels, std::int64_t n, std::int64_t c,
                                   double label_smoothing, bool accumulate) {
  // probs, logits (N,C); labels (N); stats (2)
  if (n == 0 || c == 0) {
    if (!accumulate) cuda::memset(stats, 0, 2 * sizeof(float));  // an empty sum
    return;
  }
  launch_forward(probs, stats, nullptr, nullptr, logits, labels, n, c, label_smoothing, accumulate,
                 0.0f, false);
}

void softmax_cross_entropy_fused(float* probs, float* stats, float* dlogits, float* db,
                                 const float* logits, const std::int32_t* labels, std::int64_t n,
                                 std::int64_t c, double label_smoothing, bool accumulate, float scale,
                                 bool accumulate_db) {
  // probs, dlogits, logits (N,C); labels (N); stats (2); db (C) or nullptr
  if (n == 0 || c == 0) {
    softmax_cross_entropy_forward(probs, stats, logits, labels, n, c, label_smoothing, accumulate);
    if (db != nullptr) bias_gradient(db, dlogits, n, c, accumulate_db);  // Σ of no rows
    return;
  }
  const bool db_done = launch_forward(probs, stats, dlogits, db, logits, labels, n, c, label_smoothing,
                                      accumulate, scale, accumulate_db);
  if (db != nullptr && !db_done) bias_gradient(db, dlogits, n, c, accumulate_db);
}

void softmax_cross_entropy_backward(float* dlogits, const float* probs, const std::int32_t* labels,
                                    std::int64_t n, std::int64_t c, double label_smoothing,
                                    float scale) {
  // dlogits, probs (N,C); labels (N)
  const std::int64_t total = n * c;
  if (total == 0) return;
  const kernels::SmoothedTargets target = kernels::smoothed_targets(label_smoothing, c);
  if (fits_int32_loop(total)) {
    NAPINET_LAUNCH((softmax_ce_backward_kernel<std::int32_t>), grid_for(total), kBlockSize, 0,
                   dlogits, probs, labels, static_cast<std::int32_t>(c), target.off, target.on,
                   scale, static_cast<std::int32_t>(total));
  } else {
    NAPINET_LAUNCH((softmax_ce_backward_kernel<std::int64_t>), grid_for(total), kBlockSize, 0,
                   dlogits, probs, labels, c, target.off, target.on, scale, total);
  }
}

}  // namespace napinet::cuda
