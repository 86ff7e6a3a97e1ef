// General matrix multiply on the GPU: the CUDA side of native/kernels/gemm.h (row-major float32,
// C = alpha·op(A)·op(B) + beta·C, like BLAS sgemm), plus the batched forms other CUDA ops build on
// (strided-batched, batch-summed; see cuda/api.h). Written here, no cuBLAS.
// Test: test/gemm.test.ts (runs on 'cuda' with a GPU or the emulator build).
//
// Two kernels, chosen from the problem's shape only (never from the device, so every rounding, and
// so the result's bits, are the same on every GPU and in the emulator):
//
// dot   A product with few outputs (≤ 1024) whose operands are both contiguous along a K of at
//       least 64: Linear's forward x·Wᵀ at small batch, matrix-vector products. One warp per
//       output, lanes striding K with coalesced loads, a fixed shuffle tree: one launch, no shared
//       memory, no workspace (the CPU's gemm has the same "dot" path for these shapes).
// tiled Everything else; one template, three tile shapes:
//   - Each block computes a BM×BN tile of C, walking the reduction in BK-deep steps. A step's
//     op(A) (BM×BK) and op(B) (BK×BN) tiles go global → registers → shared memory, stored k-major
//     (as[k][m], bs[k][n]) whatever the transposes: the transposes only change which global index
//     consecutive threads read, so every load is coalesced (along K for A stored [M,K] and B stored
//     [N,K], in 32-byte runs of 8 floats; along M or N, in 128-byte rows, for the other layouts).
//     Shared rows are padded by 4 floats (row stride ≡ 4 mod 32 banks), so the transposing stores
//     of 8 k × 4 rows per warp land in 32 different banks, and float4 reads stay aligned.
//   - Register blocking: each thread owns a TM×TN micro-tile (8×8 or 4×4) of C in registers; per k
//     it reads TM + TN values from shared memory as float4s (rows ty·4.., and for 8-wide tiles a
//     second group half a tile further on, so a warp's float4 reads are consecutive) and does TM·TN
//     FMAs, in k order.
//   - Double buffering: the next step's tiles are loaded into registers while the current one is
//     multiplied, then stored into the other shared buffer: one barrier per step.
//   - Split-K when the tiles alone would leave the GPU idle (fewer than kTargetBlocks) and the
//     reduction is long: the reduction (K, times the batch for the batch-summed form) is cut into
//     `splits` contiguous slices, one block per (tile, slice); each writes its raw partial sums to a
//     workspace and a second kernel adds the slices in slice order and applies alpha, beta and the
//     bias. No float atomics anywhere.
//   Tile shapes (BM×BN×BK, micro-tile, threads), the first that gives ≥ kTargetBlocks tiles:
//     large   128×128×8, 8×8, 256 threads: 64 FMAs per 4 float4 shared reads (FMA-bound).
//     medium   64×64×16, 4×4, 256 threads: mid-size outputs.
//     small    32×32×32, 4×4,  64 threads: the rest, with split-K on top where K is long.
//
// Every path finishes an element the same way: alpha·sum, then + beta·C (C is not read when
// beta = 0, so NaN there is ignored), then + bias. alpha = 0 or an empty reduction launch only a
// kernel that scales C by beta (+ bias), without reading A or B, as BLAS.
// NAPINET_CUDA_GEMM=large|medium|small|dot in the environment forces a path (see forced_path()).
#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "common.cuh"

#ifdef __CUDACC__
#define NAPINET_CUDA_UNROLL _Pragma("unroll")
#else
#define NAPINET_CUDA_UNROLL _Pragma("GCC unroll 16")
#endif

namespace napinet::cuda {
namespace {

// ---- tile shapes -----------------------------------------------------------------------------

template <int BM_, int BN_, int BK_, int TM_, int TN_>
struct TileShape {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int kThreadsM = BM / TM, kThreadsN = BN / TN;
  static constexpr int kThreads = kThreadsM * kThreadsN;
  static constexpr int kStrideA = BM + 4, kStrideB = BN + 4;  // padded shared rows (floats)
  static constexpr int kGroupM = 4 * kThreadsM;  // distance between a thread's float4 row groups
  static constexpr int kGroupN = 4 * kThreadsN;
  static_assert(TM % 4 == 0 && TN % 4 == 0, "micro-tiles are read as float4s");
  static_assert(BM % 32 == 0 && BN % 32 == 0 && BK % 8 == 0, "padding and load layouts assume these");
  static_assert(2 * BK * (kStrideA + kStrideB) * 4 <= 48 * 1024, "static shared memory");
};

using Large = TileShape<128, 128, 8, 8, 8>;
using Medium = TileShape<64, 64, 16, 4, 4>;
using Small = TileShape<32, 32, 32, 4, 4>;

enum class Tile { kLarge, kMedium, kSmall };

// Scalars of one launch (pointers are kernel arguments of their own, so the emulator checks them).
struct GemmDims {
  std::int64_t m, n, k;
  std::int64_t stride_a, stride_b, stride_c;  // between batch items
  std::int64_t reduce_batches;                // batch items summed into one C (1: plain gemm)
  std::int64_t tiles_n;                       // column tiles of C
  int splits;                                 // slices of the reduction (1: no workspace)
  float alpha, beta;
  bool trans_a, trans_b;
  bool bias_per_row;  // bias[i] (true) or bias[j] (false)
};

// ---- kernels ---------------------------------------------------------------------------------

// A thread's share of one step's tile of an operand: `Rows` rows of op(A) (or columns of op(B)) by
// BK depths, Rows·BK/Threads elements per thread, in one of two layouts:
//   stored (rows, K), K contiguous (A not transposed, B transposed): 8 consecutive threads take 8
//     consecutive k of one row, a warp 4 rows (32-byte runs); thread t takes rows t/8 + i·Threads/8
//     and depths t%8 + 8j;
//   stored (K, rows), rows contiguous: a warp takes 32 consecutive rows of one k (128-byte runs);
//     thread t takes row t%Rows and depths t/Rows + j·Threads/Rows.
// In shared memory the tile is k-major, s[k][row]; with the row stride ≡ 4 (mod 32) the first
// layout's warp stores (8 k × 4 rows) fall in 32 different banks, the second's are consecutive.
template <int Rows, int BK, int Threads>
struct Operand {
  static constexpr int kCount = Rows * BK / Threads;
  static constexpr int kRowStep = Threads / 8, kRowGroups = Rows / kRowStep, kKGroups = BK / 8;
  static constexpr int kKStep = Threads / Rows;
  static_assert(Threads % 8 == 0 && Rows % kRowStep == 0 && kRowGroups * kKGroups == kCount,
                "K-contiguous layout");
  static_assert(Threads % Rows == 0 && kCount * kKStep == BK, "row-contiguous layout");

  // r = the tile rows [r0, r0 + Rows) × depths [k0, k0 + BK) of `mat` (extent rows, k_total
  // depths), zero outside it (a zero pair adds nothing).
  __device__ static __forceinline__ void load(float (&r)[kCount], const float* mat,
                                              bool k_contiguous, std::int64_t r0,
                                              std::int64_t extent, std::int64_t k0,
                                              std::int64_t k_total, int tid) {
    if (k_contiguous) {
      const int kl = tid % 8, rl = tid / 8;
      NAPINET_CUDA_UNROLL for (int i = 0; i < kRowGroups; ++i) {
        const std::int64_t row = r0 + rl + i * kRowStep;
        NAPINET_CUDA_UNROLL for (int j = 0; j < kKGroups; ++j) {
          const std::int64_t p = k0 + kl + 8 * j;
          r[i * kKGroups + j] = (row < extent && p < k_total) ? mat[row * k_total + p] : 0.0f;
        }
      }
    } else {
      const int rl = tid % Rows, kl = tid / Rows;
      const std::int64_t row = r0 + rl;
      NAPINET_CUDA_UNROLL for (int j = 0; j < kCount; ++j) {
        const std::int64_t p = k0 + kl + j * kKStep;
        r[j] = (row < extent && p < k_total) ? mat[p * extent + row] : 0.0f;
      }
    }
  }

  template <int Stride>
  __device__ static __forceinline__ void store(float (&s)[BK][Stride], const float (&r)[kCount],
                                               bool k_contiguous, int tid) {
    if (k_contiguous) {
      const int kl = tid % 8, rl = tid / 8;
      NAPINET_CUDA_UNROLL for (int i = 0; i < kRowGroups; ++i) {
        NAPINET_CUDA_UNROLL for (int j = 0; j < kKGroups; ++j) s[kl + 8 * j][rl + i * kRowStep] = r[i * kKGroups + j];
      }
    } else {
      const int rl = tid % Rows, kl = tid / Rows;
      NAPINET_CUDA_UNROLL for (int j = 0; j < kCount; ++j) s[kl + j * kKStep][rl] = r[j];
    }
  }
};

// v (N) = a thread's N values of one shared-memory row: float4 g of them at row[g·kGroup + lane·4].
template <int N, int kGroup>
__device__ __forceinline__ void load_fragment(float (&v)[N], const float* row, int lane) {
  NAPINET_CUDA_UNROLL for (int g = 0; g < N / 4; ++g) {
    const float4 f = *reinterpret_cast<const float4*>(row + g * kGroup + lane * 4);
    v[4 * g] = f.x;
    v[4 * g + 1] = f.y;
    v[4 * g + 2] = f.z;
    v[4 * g + 3] = f.w;
  }
}

// acc[i][j] += Σ_k as[k][row i]·bs[k][col j] over one step, in k order (one FMA each).
template <class T>
__device__ __forceinline__ void multiply_step(float (&acc)[T::TM][T::TN],
                                              const float (&as)[T::BK][T::kStrideA],
                                              const float (&bs)[T::BK][T::kStrideB], int tx,
                                              int ty) {
  NAPINET_CUDA_UNROLL for (int kk = 0; kk < T::BK; ++kk) {
    float av[T::TM], bv[T::TN];
    load_fragment<T::TM, T::kGroupM>(av, as[kk], ty);
    load_fragment<T::TN, T::kGroupN>(bv, bs[kk], tx);
    NAPINET_CUDA_UNROLL for (int i = 0; i < T::TM; ++i) {
      NAPINET_CUDA_UNROLL for (int j = 0; j < T::TN; ++j) acc[i][j] = fmaf(av[i], bv[j], acc[i][j]);
    }
  }
}

// alpha·sum, + beta·C unless beta = 0 (C not read), + bias. The one epilogue of every path.
__device__ __forceinline__ float finish(float sum, const float* c_elem, const float* bias,
                                        std::int64_t i, std::int64_t j, const GemmDims& d) {
  float v = d.alpha * sum;
  if (d.beta != 0.0f) v = fmaf(d.beta, *c_elem, v);
  if (bias != nullptr) v += bias[d.bias_per_row ? i : j];
  return v;
}

// Block (x: tile of C, row-major over tiles; y: slice of the reduction; z: output batch item).
// c: (batch, M, N) with stride_c; a: op(A) items (M,K) stored (M,K) or (K,M), stride_a;
// b: op(B) items (K,N) stored (K,N) or (N,K), stride_b; bias: (M) or (N), or nullptr;
// partial: (batch, splits, M, N) raw slice sums when splits > 1 (else unused, may be null).
template <class T>
__global__ void __launch_bounds__(T::kThreads)
    gemm_tile_kernel(float* c, float* partial, const float* a, const float* b, const float* bias,
                     GemmDims d) {
  __shared__ __align__(16) float as[2][T::BK][T::kStrideA];
  __shared__ __align__(16) float bs[2][T::BK][T::kStrideB];
  const int tid = static_cast<int>(threadIdx.x);
  const int tx = tid % T::kThreadsN, ty = tid / T::kThreadsN;
  const std::int64_t tile = blockIdx.x;
  const std::int64_t m0 = tile / d.tiles_n * T::BM, n0 = tile % d.tiles_n * T::BN;
  const int split = static_cast<int>(blockIdx.y);
  const std::int64_t z = blockIdx.z;

  // This block's slice of the reduction: steps [t, t_end) of reduce_batches × k_steps, the batch
  // item outer (a slice may span several items of a batch-summed product).
  const std::int64_t k_steps = (d.k + T::BK - 1) / T::BK;
  const std::int64_t total = d.reduce_batches * k_steps;
  const std::int64_t t_begin = total * split / d.splits, t_end = total * (split + 1) / d.splits;
  std::int64_t item = t_begin / k_steps, k0 = t_begin % k_steps * T::BK;
  auto a_of = [&](std::int64_t it) { return a + (z * d.reduce_batches + it) * d.stride_a; };
  auto b_of = [&](std::int64_t it) { return b + (z * d.reduce_batches + it) * d.stride_b; };

  float acc[T::TM][T::TN];
  NAPINET_CUDA_UNROLL for (int i = 0; i < T::TM; ++i) {
    NAPINET_CUDA_UNROLL for (int j = 0; j < T::TN; ++j) acc[i][j] = 0.0f;
  }
  using OpA = Operand<T::BM, T::BK, T::kThreads>;
  using OpB = Operand<T::BN, T::BK, T::kThreads>;
  float ra[OpA::kCount], rb[OpB::kCount];
  auto load = [&] {
    OpA::load(ra, a_of(item), !d.trans_a, m0, d.m, k0, d.k, tid);
    OpB::load(rb, b_of(item), d.trans_b, n0, d.n, k0, d.k, tid);
  };
  auto store = [&](int buf) {
    OpA::store(as[buf], ra, !d.trans_a, tid);
    OpB::store(bs[buf], rb, d.trans_b, tid);
  };
  load();
  store(0);
  __syncthreads();
  for (std::int64_t t = t_begin; t < t_end; ++t) {
    const int buf = static_cast<int>((t - t_begin) & 1);
    const bool more = t + 1 < t_end;
    if (more) {  // the next step's loads are in flight while this one is multiplied
      k0 += T::BK;
      if (k0 >= d.k) {
        k0 = 0;
        ++item;
      }
      load();
    }
    multiply_step<T>(acc, as[buf], bs[buf], tx, ty);
    if (more) store(buf ^ 1);
    __syncthreads();
  }

  const std::int64_t mn = d.m * d.n;
  float* c_mat = c + z * d.stride_c;
  float* part = partial != nullptr ? partial + (z * d.splits + split) * mn : nullptr;
  NAPINET_CUDA_UNROLL for (int i = 0; i < T::TM; ++i) {
    const std::int64_t row = m0 + i / 4 * T::kGroupM + ty * 4 + i % 4;
    if (row >= d.m) continue;
    NAPINET_CUDA_UNROLL for (int j = 0; j < T::TN; ++j) {
      const std::int64_t col = n0 + j / 4 * T::kGroupN + tx * 4 + j % 4;
      if (col >= d.n) continue;
      const std::int64_t at = row * d.n + col;
      if (d.splits > 1) {
        part[at] = acc[i][j];
      } else {
        c_mat[at] = finish(acc[i][j], c_mat + at, bias, row, col, d);
      }
    }
  }
}

// Few outputs with both operands contiguous along K (Linear's forward x·Wᵀ, a matrix-vector
// product): one warp per element of C, no shared memory, no workspace, one launch. Lane l sums
// k = l, l + 32, l + 64, … (every load a 128-byte row piece), then a fixed xor-butterfly adds the 32
// lane sums (every lane ends with the same bits: a + b = b + a exactly).
// c: (batch, M, N) with stride_c; op(A)(i, p) = a[z·stride_a + i·a_row + p];
// op(B)(p, j) = b[z·stride_b + j·b_row + p].
constexpr int kDotWarps = 8;  // warps per block

__global__ void __launch_bounds__(kDotWarps * 32)
    gemm_dot_kernel(float* c, const float* a, const float* b, const float* bias, GemmDims d,
                    std::int64_t a_row, std::int64_t b_row, std::int64_t batch) {
  const int lane = static_cast<int>(threadIdx.x % 32);
  const std::int64_t mn = d.m * d.n, total = batch * mn;
  const std::int64_t warps = std::int64_t{gridDim.x} * kDotWarps;
  for (std::int64_t e = std::int64_t{blockIdx.x} * kDotWarps + threadIdx.x / 32; e < total;
       e += warps) {
    const std::int64_t z = e / mn, at = e % mn, i = at / d.n, j = at % d.n;
    const float* ar = a + z * d.stride_a + i * a_row;
    const float* br = b + z * d.stride_b + j * b_row;
    float sum = 0.0f;
#ifdef __CUDACC__
#pragma unroll 4
#endif
    for (std::int64_t p = lane; p < d.k; p += 32) sum = fmaf(ar[p], br[p], sum);
    NAPINET_CUDA_UNROLL for (int offset = 16; offset > 0; offset /= 2) {
      sum += __shfl_xor_sync(0xffffffffu, sum, offset);
    }
    if (lane == 0) {
      float* out = c + z * d.stride_c + at;
      *out = finish(sum, out, bias, i, j, d);
    }
  }
}

// Split-K's second pass: C = finish(Σ_s partial[s], in slice order), one thread per element.
// c: (batch, M, N) with stride_c; partial: (batch, splits, M, N).
__global__ void gemm_reduce_kernel(float* c, const float* partial, const float* bias, GemmDims d,
                                   std::int64_t batch) {
  const std::int64_t mn = d.m * d.n, total = batch * mn;
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t e = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < total; e += stride) {
    const std::int64_t z = e / mn, at = e % mn;
    const float* p = partial + z * d.splits * mn + at;
    float sum = p[0];
    for (int s = 1; s < d.splits; ++s) sum += p[s * mn];
    float* out = c + z * d.stride_c + at;
    *out = finish(sum, out, bias, at / d.n, at % d.n, d);
  }
}

// alpha = 0 or nothing to sum: C = beta·C (C not read when beta = 0) + bias.
__global__ void gemm_scale_kernel(float* c, const float* bias, GemmDims d, std::int64_t batch) {
  const std::int64_t mn = d.m * d.n, total = batch * mn;
  const std::int64_t stride = std::int64_t{blockDim.x} * gridDim.x;
  for (std::int64_t e = std::int64_t{blockIdx.x} * blockDim.x + threadIdx.x; e < total; e += stride) {
    const std::int64_t z = e / mn, at = e % mn;
    float* out = c + z * d.stride_c + at;
    float v = d.beta != 0.0f ? d.beta * *out : 0.0f;
    if (bias != nullptr) v += bias[d.bias_per_row ? at / d.n : at % d.n];
    *out = v;
  }
}

// ---- planning (host) -------------------------------------------------------------------------

// Blocks that keep a GPU busy (about one per multiprocessor of an H100/H200). A fixed number, not
// the device's: the plan, and so every rounding, depends on the shape alone.
constexpr std::int64_t kTargetBlocks = 128;
constexpr std::int64_t kMinSliceSteps = 2;    // BK-steps per split-K slice, at least
constexpr int kMaxSplits = 32;
constexpr std::int64_t kMaxPartialFloats = std::int64_t{1} << 21;  // 8 MiB of split-K workspace
constexpr std::int64_t kMaxGridYZ = 65535;    // gridDim.y and .z
// The dot kernel takes products of at most this many outputs whose operands are both contiguous
// along a K of at least kDotMinK (shorter: most lanes would idle; more outputs: each operand row is
// re-read per output, and the tiles' reuse wins).
constexpr std::int64_t kDotMaxOutputs = 1024;
constexpr std::int64_t kDotMinK = 64;

struct Plan {
  Tile tile;
  std::int64_t tiles_m, tiles_n;
  int splits;
};

// NAPINET_CUDA_GEMM=large|medium|small|dot in the environment forces a path (read once): one
// tile shape for every product, or the dot kernel wherever the layout allows it (tiles elsewhere).
// Tests run the whole suite each way; unset or anything else: the shape decides.
constexpr int kForceDot = 3;
int forced_path() {
  static const int forced = [] {
    const char* env = std::getenv("NAPINET_CUDA_GEMM");
    if (env == nullptr) return -1;
    if (std::strcmp(env, "large") == 0) return static_cast<int>(Tile::kLarge);
    if (std::strcmp(env, "medium") == 0) return static_cast<int>(Tile::kMedium);
    if (std::strcmp(env, "small") == 0) return static_cast<int>(Tile::kSmall);
    if (std::strcmp(env, "dot") == 0) return kForceDot;
    return -1;
  }();
  return forced;
}

template <class T>
Plan plan_for(Tile tile, std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t out_batches,
              std::int64_t reduce_batches) {
  Plan p{tile, (m + T::BM - 1) / T::BM, (n + T::BN - 1) / T::BN, 1};
  const std::int64_t blocks = p.tiles_m * p.tiles_n * std::min(out_batches, kMaxGridYZ);
  const std::int64_t steps = reduce_batches * ((k + T::BK - 1) / T::BK);
  std::int64_t splits = (kTargetBlocks + blocks - 1) / blocks;
  splits = std::min({splits, steps / kMinSliceSteps, std::int64_t{kMaxSplits}});
  const std::int64_t per_split = std::min(out_batches, kMaxGridYZ) * m * n;
  if (per_split > 0) splits = std::min(splits, kMaxPartialFloats / per_split);
  p.splits = static_cast<int>(std::max<std::int64_t>(splits, 1));
  return p;
}

Plan make_plan(std::int64_t m, std::int64_t n, std::int64_t k, std::int64_t out_batches,
               std::int64_t reduce_batches) {
  const int forced = forced_path();
  auto tiles = [&](std::int64_t bm, std::int64_t bn) {
    return (m + bm - 1) / bm * ((n + bn - 1) / bn) * out_batches;
  };
  Tile tile = Tile::kSmall;
  if (forced >= 0 && forced != kForceDot) tile = static_cast<Tile>(forced);
  else if (tiles(Large::BM, Large::BN) >= kTargetBlocks) tile = Tile::kLarge;
  else if (tiles(Medium::BM, Medium::BN) >= kTargetBlocks) tile = Tile::kMedium;
  switch (tile) {
    case Tile::kLarge: return plan_for<Large>(tile, m, n, k, out_batches, reduce_batches);
    case Tile::kMedium: return plan_for<Medium>(tile, m, n, k, out_batches, reduce_batches);
    default: return plan_for<Small>(tile, m, n, k, out_batches, reduce_batches);
  }
}

// Split-K workspace: per-thread scratch (common.cuh), grown on demand and kept, like the CPU gemm's
// packing buffers.
float* workspace(std::int64_t floats) {
  return static_cast<float*>(scratch(Scratch::kGemmSplitK, static_cast<std::size_t>(floats) * sizeof(float)));
}

template <class T>
void run_tiles(const Plan& p, float* c, const float* a, const float* b, const float* bias,
               GemmDims d, std::int64_t out_batches) {
  d.tiles_n = p.tiles_n;
  d.splits = p.splits;
  const std::int64_t tiles = p.tiles_m * p.tiles_n;
  if (tiles > 0x7fffffff) throw Error("gemm: too many tiles for one grid (C is over 2^41 elements)", 9);
  // Output batch items in chunks of at most 65535 (gridDim.z), each with its own pointers.
  for (std::int64_t z0 = 0; z0 < out_batches; z0 += kMaxGridYZ) {
    const std::int64_t count = std::min(out_batches - z0, kMaxGridYZ);
    float* cz = c + z0 * d.stride_c;
    const float* az = a + z0 * d.reduce_batches * d.stride_a;
    const float* bz = b + z0 * d.reduce_batches * d.stride_b;
    float* partial = p.splits > 1 ? workspace(count * p.splits * d.m * d.n) : nullptr;
    const dim3 grid(static_cast<unsigned>(tiles), static_cast<unsigned>(p.splits),
                    static_cast<unsigned>(count));
    NAPINET_LAUNCH((gemm_tile_kernel<T>), grid, T::kThreads, 0, cz, partial, az, bz, bias, d);
    if (p.splits > 1) {
      const std::int64_t total = count * d.m * d.n;
      NAPINET_LAUNCH(gemm_reduce_kernel, grid_for(total), kBlockSize, 0, cz,
                     static_cast<const float*>(partial), bias, d, count);
    }
  }
}

// Every public form: out_batches products C_z (stride_c apart), each the sum over reduce_batches
// items of op(A)·op(B) (items stride_a / stride_b apart; one of the two batch counts is 1).
void gemm_general(float* c, const float* a, const float* b, const float* bias, std::int64_t m,
                  std::int64_t n, std::int64_t k, bool trans_a, bool trans_b, float alpha,
                  float beta, bool bias_per_row, std::int64_t out_batches,
                  std::int64_t reduce_batches, std::int64_t stride_c, std::int64_t stride_a,
                  std::int64_t stride_b) {
  if (m <= 0 || n <= 0 || out_batches <= 0) return;
  GemmDims d{m, n, k, stride_a, stride_b, stride_c, reduce_batches, 1, 1, alpha, beta,
             trans_a, trans_b, bias_per_row};
  if (k <= 0 || reduce_batches <= 0 || alpha == 0.0f) {  // as BLAS: A and B are not read
    const std::int64_t total = out_batches * m * n;
    NAPINET_LAUNCH(gemm_scale_kernel, grid_for(total), kBlockSize, 0, c, bias, d, out_batches);
    return;
  }
  // op(A)(i, p) = a[i·a_rs + p·a_cs], op(B)(p, j) = b[p·b_rs + j·b_cs]: K-contiguous when the
  // stride along K is 1, or when the other index only takes one value (M = 1 or N = 1).
  const bool a_k_contiguous = !trans_a || m == 1, b_k_contiguous = trans_b || n == 1;
  const int forced = forced_path();
  const bool dot_fits = k >= kDotMinK && out_batches * m * n <= kDotMaxOutputs;
  if (reduce_batches == 1 && a_k_contiguous && b_k_contiguous &&
      (forced == kForceDot || (forced < 0 && dot_fits))) {
    const std::int64_t total = out_batches * m * n;
    const unsigned blocks =
        static_cast<unsigned>(std::min<std::int64_t>((total + kDotWarps - 1) / kDotWarps, 65535));
    NAPINET_LAUNCH(gemm_dot_kernel, blocks, kDotWarps * 32, 0, c, a, b, bias, d, trans_a ? 0 : k,
                   trans_b ? k : 0, out_batches);
    return;
  }
  const Plan p = make_plan(m, n, k, out_batches, reduce_batches);
  switch (p.tile) {
    case Tile::kLarge: run_tiles<Large>(p, c, a, b, bias, d, out_batches); break;
    case Tile::kMedium: run_tiles<Medium>(p, c, a, b, bias, d, out_batches); break;
    case Tile::kSmall: run_tiles<Small>(p, c, a, b, bias, d, out_batches); break;
  }
}

}  // namespace

// ---- launchers (cuda/api.h) ------------------------------------------------------------------

void gemm(float* c, const float* a, const float* b, std::int64_t m, std::int64_t n,
          std::int64_t k, bool trans_a, bool trans_b, float alpha, float beta) {
  gemm_general(c, a, b, nullptr, m, n, k, trans_a, trans_b, alpha, beta, false, 1, 1, 0, 0, 0);
}

void gemm_strided_batched(float* c, const float* a, const float* b, const float* bias,
                          std::int64_t m, std::int64_t n, std::int64_t k, bool trans_a,
                          bool trans_b, float alpha, float beta, bool bias_per_row,
                          std::int64_t batch, std::int64_t stride_c, std::int64_t stride_a,
                          std::int64_t stride_b) {
  gemm_general(c, a, b, bias, m, n, k, trans_a, trans_b, alpha, beta, bias_per_row, batch, 1,
               stride_c, stride_a, stride_b);
}

void gemm_batch_sum(float* c, const float* a, const float* b, std::int64_t m, std::int64_t n,
                    std::int64_t k, bool trans_a, bool trans_b, float alpha, float beta,
                    std::int64_t batch, std::int64_t stride_a, std::int64_t stride_b) {
  gemm_general(c, a, b, nullptr, m, n, k, trans_a, trans_b, alpha, beta, false, 1, batch, 0,
               stride_a, stride_b);
}

void gemm_batched(float* c, const float* a, const float* b, std::int64_t batch, std::int64_t m,
                  std::int64_t n, std::int64_t k, bool trans_a, bool trans_b, std::int64_t stride_a,
                  std::int64_t stride_b, std::int64_t stride_c, float alpha, float beta) {
  gemm_general(c, a, b, nullptr, m, n, k, trans_a, trans_b, alpha, beta, false, batch, 1, stride_c,
               stride_a, stride_b);
}

}  // namespace napinet::cuda
