// Winograd F(2×2, 3×3) convolution: the plan, the weight transform, the per-thread scratch and the
// choice of instruction set; the per-block kernels are in conv2d_winograd.inc (see the header for
// the algorithm). Test: test/conv2d_winograd.test.ts
#include "conv2d_winograd.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "isa.h"
#include "parallel.h"
#include "simd.h"

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"  // vectors only cross always-inlined helpers: no ABI
#endif

namespace napinet::kernels {
namespace {

// Tiles per block of samples: the GEMMs' column count, about kBlockTiles (the deep network's 12×12
// and 10×10 inputs have 25 and 16 tiles a sample: blocks of 5 and 8 samples keep the vectors full;
// 26×26 has 144, one sample a block). v and m then hold 16·(C + K)·cols floats: 0.5–1 MB at 64
// channels, within L2. (Blocks of 64 tiles made 32→64 12×12 1.1× slower, of 256 tiles 64→64
// 10×10 1.2× slower.)
constexpr index_t kBlockTiles = 128;

// The shape and its 2×2 output tiles, shared by the forward (and dx) plan and the dW plan.
struct WinogradTiles {
  index_t n, c, h, w, k, ph, pw, oh, ow;
  index_t th, tw;   // tile rows and columns: ⌈OH/2⌉, ⌈OW/2⌉
  index_t tiles;    // th·tw, per sample
  index_t hs, ws;   // the padded source plane the tiles read: 2·th + 2 rows, 2·tw + 2 columns
};

WinogradTiles make_tiles(index_t N, index_t C, index_t H, index_t W, index_t K, index_t ph,
                         index_t pw) {
  WinogradTiles t{};
  t.n = N, t.c = C, t.h = H, t.w = W, t.k = K, t.ph = ph, t.pw = pw;
  t.oh = H + 2 * ph - 2;
  t.ow = W + 2 * pw - 2;
  t.th = (t.oh + 1) / 2;
  t.tw = (t.ow + 1) / 2;
  t.tiles = t.th * t.tw;
  t.hs = 2 * t.th + 2;
  t.ws = 2 * t.tw + 2;
  return t;
}

struct WinogradPlan : WinogradTiles {
  bool needs_copy;  // whether the tiles read a padded copy (padding, an odd output size)
  index_t group;     // samples per block
  index_t cols;      // group·tiles rounded up to whole vectors: the GEMMs' columns
  index_t v_stride;  // cols + a vector: v's rows, with room for a last vector's spill
  index_t v_plane;   // floats from one element e's (C, v_stride) plane of v to the next
  index_t m_plane;   // likewise for m's (K, cols) planes
  bool flat;         // short tile rows: transformed with all tile rows end to end (the .inc's
                     // transform_rows)
  index_t row_len;   // floats in each of the flat transforms' 8 rows (2 per tile, and slack)
};

WinogradPlan make_plan(index_t N, index_t C, index_t H, index_t W, index_t K, index_t ph,
                       index_t pw, index_t lanes) {
  WinogradPlan p{};
  static_cast<WinogradTiles&>(p) = make_tiles(N, C, H, W, K, ph, pw);
  p.needs_copy = ph != 0 || pw != 0 || p.oh % 2 != 0 || p.ow % 2 != 0;
  p.group = std::clamp<index_t>(kBlockTiles / p.tiles, 1, std::max<index_t>(1, N));
  p.cols = (p.group * p.tiles + lanes - 1) / lanes * lanes;
  p.v_stride = p.cols + lanes;
  // The 16 planes of v and m one 256-byte step apart modulo 4 KiB: at whole 4 KiB multiples, the
  // transforms' 16 streams fell into the same L1 sets and evicted each other (32→32 channels on
  // 26×26: the forward pass 1.4× slower).
  p.v_plane = (p.c * p.v_stride + 1023) / 1024 * 1024 + 64;
  p.m_plane = (p.k * p.cols + 1023) / 1024 * 1024 + 64;
  // Flat transforms where a vector per tile row would leave at least half its lanes idle.
  // Measured (one thread, CPU time, batch 128, forward): AVX-512 32→64 12×12 3.16 → 2.96 ms,
  // 64→64 10×10 3.62 → 2.99 ms; AVX2 64→64 10×10 4.64 → 4.33 ms, but 32→64 12×12 (5 tiles in 8
  // lanes) 3.68 → 4.04 ms and 26×26 planes on AVX-512 (12–13 tiles in 16) no faster: the extra
  // pass through `rows` costs what the idle lanes did.
  p.flat = 2 * p.tw <= lanes;
  p.row_len = 2 * p.tiles + 4 * lanes;
  return p;
}

// This thread's scratch for one chunk of blocks, carved from a buffer that it keeps and grows
// (a block's v and m are 0.5–1 MB: allocated per call, glibc would hand them back to the kernel
// and every call would fault them in again). One chunk at a time per thread: the per-sample hooks
// run no Winograd pass.
struct WinogradScratch {
  WinogradScratch(const WinogradPlan& p, index_t lanes) {
    thread_local std::vector<float> storage;
    const index_t slack = 2 * lanes + 16;  // after each part: the last vectors' reads and spills
    const index_t v_len = 16 * p.v_plane + slack, m_len = 16 * p.m_plane + slack;
    const index_t padded_len = 2 * p.hs * p.ws + slack;
    const index_t rows_len = 8 * p.row_len;
    const auto total = static_cast<std::size_t>(v_len + m_len + padded_len + rows_len + 16);
    if (storage.size() < total) storage.resize(total);
    const auto address = reinterpret_cast<std::uintptr_t>(storage.data());
    v = storage.data() + (((address + 63) & ~std::uintptr_t{63}) - address) / sizeof(float);
    m = v + v_len;
    padded = m + m_len;
    rows = padded + padded_len;
    // the padding (the copies write the image only), and the flat transforms' rows, whose lanes
    // past the tiles are read before written (their results are dropped; zero keeps them finite)
    std::fill(padded, rows + rows_len, 0.0f);
  }
  float* v;      // (16, v_plane): (C, v_stride) each
  float* m;      // (16, m_plane): (K, cols) each
  float* padded;  // (2, hs, ws): two channels' planes of a sample, zero-padded
  float* rows;    // (8, row_len): the flat transforms' rows (conv2d_winograd.inc transform_rows)
};

struct WinogradArgs {
  const WinogradPlan* plan;
  const float* x;      // (N,C,H,W)
  const float* u;      // (16, C, K): the transformed weights
  const float* bias;   // (K) or nullptr
  float* y;            // (N,K,OH,OW)
  const Conv2dSampleHook* after_sample;  // or nullptr
  char* finite;        // (blocks): whether each block's output is all finite
};

// Tiles per sub-block of the weight gradient: a row's four elements of v and m take 32 KiB at 32
// channels, 64 KiB at 64 (one thread, Sapphire Rapids: as fast as 64 tiles at 32 channels, and
// 1.15× faster than 8 tiles at 64, whose partial du goes in and out of registers too often).
constexpr index_t kGradSubBlockTiles = 32;

// The weight gradient's plan (conv2d_winograd.inc WinogradGrad): the same tiles as the forward
// pass, laid out with channels in the lanes.
struct WinogradGradPlan : WinogradTiles {  // (hs, ws: the channels-last padded input plane)
  index_t cp, kp;         // C and K rounded up to whole vectors: v's and m's rows
  index_t group;          // samples per block (at most a chunk's)
  index_t sub;            // tiles per sub-block (kGradSubBlockTiles)
};

WinogradGradPlan make_grad_plan(index_t N, index_t C, index_t H, index_t W, index_t K, index_t ph,
                                index_t pw, index_t lanes) {
  WinogradGradPlan p{};
  static_cast<WinogradTiles&>(p) = make_tiles(N, C, H, W, K, ph, pw);
  p.cp = (C + lanes - 1) / lanes * lanes;
  p.kp = (K + lanes - 1) / lanes * lanes;
  p.group = std::clamp<index_t>(kBlockTiles / std::max<index_t>(1, p.tiles), 1,
                                std::max<index_t>(1, N));
  p.sub = kGradSubBlockTiles;
  return p;
}

// This thread's scratch for one chunk (kept and grown as WinogradScratch's): xt and dyt zeroed
// (their padding, the channels past C or K and dy's rows and columns past an odd output size are
// never written), db zeroed.
struct WinogradGradScratch {
  WinogradGradScratch(const WinogradGradPlan& p, index_t lanes) {
    thread_local std::vector<float> storage;
    const index_t slack = 2 * lanes + 16;
    const index_t v_len = p.sub * p.cp + slack, m_len = p.sub * p.kp + slack;  // each of 4
    const index_t xt_len = p.group * p.hs * p.ws * p.cp + slack;
    const index_t dyt_len = p.group * 4 * p.tiles * p.kp + slack;
    const index_t db_len = p.kp + slack;
    const auto total =
        static_cast<std::size_t>(4 * (v_len + m_len) + xt_len + dyt_len + db_len + 16);
    if (storage.size() < total) storage.resize(total);
    const auto address = reinterpret_cast<std::uintptr_t>(storage.data());
    float* const start =
        storage.data() + (((address + 63) & ~std::uintptr_t{63}) - address) / sizeof(float);
    for (int j = 0; j < 4; ++j) v[j] = start + j * v_len, m[j] = start + 4 * v_len + j * m_len;
    xt = start + 4 * (v_len + m_len);
    dyt = xt + xt_len;
    db = dyt + dyt_len;
    std::fill(xt, db + db_len, 0.0f);
  }
  float* v[4];  // (sub, Cp) each: a row's four elements
  float* m[4];  // (sub, Kp) each
  float* xt;   // (group, hs, ws, Cp): the block's inputs
  float* dyt;  // (group, 2·th, 2·tw, Kp): their dy
  float* db;   // (Kp): the chunk's bias gradient
};

struct WinogradGradArgs {
  const WinogradGradPlan* plan;
  const float* x;   // (N,C,H,W)
  const float* dy;  // (N,K,OH,OW)
  index_t grain;    // samples per chunk: chunk = begin / grain
  float* du;        // (chunks, 16, K, Cp): each chunk's partial
  float* db;        // (chunks, K) or nullptr
};

struct WinogradBackwardArgs {
  const WinogradGradPlan* grad_plan;
  const Conv2dSampleHook* dy_of_sample;  // sample n's dy (K, OH, OW) into a buffer
  const float* x;                        // (N,C,H,W)
  const float* u;                        // (16, K, C): the turned weights, transformed
  float* dx;                             // (N,C,H,W)
  index_t grain;                         // samples per chunk: chunk = begin / grain
  index_t dx_group;                      // samples whose dy is made and used at a time
  float* du;                             // (chunks, 16, K, Cp): each chunk's partial
  float* db;                             // (chunks, K) or nullptr
  char* dx_finite;                       // (chunks): whether each chunk's dx is all finite
};

// u (16, C, K) = G g Gᵀ for every (k, c) with G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1]; g (K,C,3,3).
// On the pool, in chunks of input channels (about 1k filters each; each chunk writes whole K-long
// rows of u).
std::vector<float> transform_weights(const float* w, index_t C, index_t K) {
  std::vector<float> u(static_cast<std::size_t>(16 * C * K));
  parallel_for(C, std::max<index_t>(1, 1024 / std::max<index_t>(1, K)), [&](index_t c0, index_t c1) {
    for (index_t c = c0; c < c1; ++c)
      for (index_t k = 0; k < K; ++k) {
        const float* g = w + (k * C + c) * 9;
        float t[4][3];  // G g: rows of the 4×3 product
        for (int j = 0; j < 3; ++j) {
          t[0][j] = g[j];
          t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
          t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
          t[3][j] = g[6 + j];
        }
        for (int r = 0; r < 4; ++r) {
          const float row[4] = {t[r][0], 0.5f * (t[r][0] + t[r][1] + t[r][2]),
                                0.5f * (t[r][0] - t[r][1] + t[r][2]), t[r][2]};
          for (int j = 0; j < 4; ++j) u[static_cast<std::size_t>(((4 * r + j) * C + c) * K + k)] = row[j];
        }
      }
  });
  return u;
}

#if defined(__GNUC__)
#define NAPINET_GRAD_NOINLINE __attribute__((noinline))
#else
#define NAPINET_GRAD_NOINLINE
#endif

namespace winograd_portable {
#include "conv2d_winograd.inc"
}  // namespace winograd_portable

#if NAPINET_ISA_VERSIONS
NAPINET_TARGET_PUSH(NAPINET_AVX2_FEATURES)
namespace winograd_avx2 {
#include "conv2d_winograd.inc"
}  // namespace winograd_avx2
NAPINET_TARGET_POP()
NAPINET_TARGET_PUSH(NAPINET_AVX512_FEATURES)
namespace winograd_avx512 {
#include "conv2d_winograd.inc"
}  // namespace winograd_avx512
NAPINET_TARGET_POP()
#endif

struct WinogradKernels {
  index_t lanes;
  void (*forward)(const WinogradArgs& a, index_t g_begin, index_t g_end);
  void (*weight_grad)(const WinogradGradArgs& a, index_t begin, index_t end);  // a chunk of samples
  void (*backward)(const WinogradBackwardArgs& a, index_t begin, index_t end);  // a chunk of samples
};

// The same choice as the direct kernels' (NAPINET_CONV_ISA caps it): 8×3 blocks of 16 lanes (24
// accumulators) on AVX-512, 4×2 of 8 lanes on AVX2 and portably (NEON: 8×3 of 4 lanes); the
// weight gradient's blocks of output channels × vectors of input channels 8×2 on AVX-512 and
// NEON, 4×2 elsewhere.
const WinogradKernels& winograd_kernels() {
  static const WinogradKernels chosen = []() -> WinogradKernels {
#if NAPINET_ISA_VERSIONS
    switch (runtime_isa("NAPINET_CONV_ISA")) {
      case Isa::kAvx512:
        return {16, &winograd_avx512::Winograd<16, 8, 3>::forward,
                &winograd_avx512::WinogradGrad<16, 8, 2>::weight_grad,
                &winograd_avx512::WinogradBackward<winograd_avx512::Winograd<16, 8, 3>,
                                                   winograd_avx512::WinogradGrad<16, 8, 2>>::chunk};
      case Isa::kAvx2:
        return {8, &winograd_avx2::Winograd<8, 4, 2>::forward,
                &winograd_avx2::WinogradGrad<8, 4, 2>::weight_grad,
                &winograd_avx2::WinogradBackward<winograd_avx2::Winograd<8, 4, 2>,
                                                 winograd_avx2::WinogradGrad<8, 4, 2>>::chunk};
      case Isa::kGeneric:
      case Isa::kNeon: break;
    }
#elif defined(__aarch64__) && defined(__GNUC__)
    if (runtime_isa("NAPINET_CONV_ISA") == Isa::kNeon)
      return {4, &winograd_portable::Winograd<4, 8, 3>::forward,
              &winograd_portable::WinogradGrad<4, 8, 2>::weight_grad,
              &winograd_portable::WinogradBackward<winograd_portable::Winograd<4, 8, 3>,
                                                   winograd_portable::WinogradGrad<4, 8, 2>>::chunk};
#endif
    return {8, &winograd_portable::Winograd<8, 4, 2>::forward,
            &winograd_portable::WinogradGrad<8, 4, 2>::weight_grad,
            &winograd_portable::WinogradBackward<winograd_portable::Winograd<8, 4, 2>,
                                                 winograd_portable::WinogradGrad<8, 4, 2>>::chunk};
  }();
  return chosen;
}

// dx's weights, transformed: w' (C, K, 3, 3) with w'[c, k, i, j] = w[k, c, 2 − i, 2 − j].
std::vector<float> turned_transformed_weights(const float* w, index_t C, index_t K) {
  std::vector<float> turned(static_cast<std::size_t>(K * C * 9));
  for (index_t k = 0; k < K; ++k)
    for (index_t c = 0; c < C; ++c)
      for (index_t t = 0; t < 9; ++t)
        turned[static_cast<std::size_t>((c * K + k) * 9 + t)] = w[(k * C + c) * 9 + 8 - t];
  return transform_weights(turned.data(), K, C);
}

bool winograd_forward(float* y, const float* x, const std::vector<float>& u, const float* b,
                      index_t N, index_t C, index_t H, index_t W, index_t K, index_t ph,
                      index_t pw, const Conv2dSampleHook* after_sample) {
  const WinogradKernels& kernels = winograd_kernels();
  const WinogradPlan p = make_plan(N, C, H, W, K, ph, pw, kernels.lanes);
  if (N == 0 || p.oh <= 0 || p.ow <= 0) return true;
  const index_t blocks = (N + p.group - 1) / p.group;
  std::vector<char> finite(static_cast<std::size_t>(blocks), 0);
  const WinogradArgs args{&p, x, u.data(), b, y, after_sample, finite.data()};
  parallel_chunks(blocks, 1, [&](index_t begin, index_t end) { kernels.forward(args, begin, end); });
  return std::all_of(finite.begin(), finite.end(), [](char f) { return f != 0; });
}

}  // namespace

bool conv2d_winograd_forward(float* y, const float* x, const float* w, const float* b, index_t N,
                             index_t C, index_t H, index_t W, index_t K, index_t pad_h,
                             index_t pad_w, const Conv2dSampleHook* after_sample) {
  return winograd_forward(y, x, transform_weights(w, C, K), b, N, C, H, W, K, pad_h, pad_w, after_sample);
}

bool conv2d_winograd_input_grad(float* dx, const float* dy, const float* w, index_t N, index_t C,
                                index_t H, index_t W, index_t K, index_t pad_h, index_t pad_w) {
  const index_t oh = H + 2 * pad_h - 2, ow = W + 2 * pad_w - 2;
  return winograd_forward(dx, dy, turned_transformed_weights(w, C, K), nullptr, N, K, oh, ow, C,
                          2 - pad_h, 2 - pad_w, nullptr);
}

bool conv2d_winograd_backward_from(float* dx, float* du, float* db,
                                   const Conv2dSampleHook& dy_of_sample, const float* x,
                                   const float* w, index_t N, index_t C, index_t H, index_t W,
                                   index_t K, index_t pad_h, index_t pad_w, index_t grain) {
  const WinogradKernels& kernels = winograd_kernels();
  const WinogradGradPlan gp = make_grad_plan(N, C, H, W, K, pad_h, pad_w, kernels.lanes);
  if (N == 0) return true;
  // dx's blocks as conv2d_winograd_input_grad makes them for the whole batch
  const index_t dx_group =
      make_plan(N, K, gp.oh, gp.ow, C, 2 - pad_h, 2 - pad_w, kernels.lanes).group;
  const std::vector<float> u = turned_transformed_weights(w, C, K);
  std::vector<char> dx_finite(static_cast<std::size_t>((N + grain - 1) / grain), 0);
  const WinogradBackwardArgs args{&gp,   &dy_of_sample, x,  u.data(),         dx,
                                  grain, dx_group,      du, db, dx_finite.data()};
  parallel_chunks(N, grain, [&](index_t begin, index_t end) { kernels.backward(args, begin, end); });
  return std::all_of(dx_finite.begin(), dx_finite.end(), [](char f) { return f != 0; });
}

index_t conv2d_winograd_weight_grad_partial_size(index_t C, index_t K) {
  const index_t lanes = winograd_kernels().lanes;
  return 16 * K * ((C + lanes - 1) / lanes * lanes);
}

void conv2d_winograd_weight_grad_chunks(float* du, float* db, const float* dy, const float* x,
                                        index_t N, index_t C, index_t H, index_t W, index_t K,
                                        index_t pad_h, index_t pad_w, index_t grain) {
  const WinogradKernels& kernels = winograd_kernels();
  const WinogradGradPlan p = make_grad_plan(N, C, H, W, K, pad_h, pad_w, kernels.lanes);
  if (N == 0) return;
  const WinogradGradArgs args{&p, x, dy, grain, du, db};
  parallel_chunks(N, grain,
                  [&](index_t begin, index_t end) { kernels.weight_grad(args, begin, end); });
}

void conv2d_winograd_weight_from_transformed(float* dw, const float* du, index_t C, index_t K,
                                             bool accumulate) {
  const index_t cp =
      conv2d_winograd_weight_grad_partial_size(C, K) / (16 * std::max<index_t>(1, K));
  for (index_t k = 0; k < K; ++k)
    for (index_t c = 0; c < C; ++c) {
      float d[4][4];
      for (int e = 0; e < 16; ++e) d[e / 4][e % 4] = du[(e * K + k) * cp + c];
      float t[3][4];  // Gᵀ du: rows of the 3×4 product
      for (int j = 0; j < 4; ++j) {
        t[0][j] = d[0][j] + 0.5f * (d[1][j] + d[2][j]);
        t[1][j] = 0.5f * (d[1][j] - d[2][j]);
        t[2][j] = 0.5f * (d[1][j] + d[2][j]) + d[3][j];
      }
      float* g = dw + (k * C + c) * 9;
      for (int i = 0; i < 3; ++i) {
        const float row[3] = {t[i][0] + 0.5f * (t[i][1] + t[i][2]), 0.5f * (t[i][1] - t[i][2]),
                              0.5f * (t[i][1] + t[i][2]) + t[i][3]};
        for (int j = 0; j < 3; ++j) g[3 * i + j] = accumulate ? g[3 * i + j] + row[j] : row[j];
      }
    }
}

}  // namespace napinet::kernels
