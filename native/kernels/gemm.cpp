// GEMM engine: blocked and packed, with register-blocked micro-kernels for AVX-512, AVX2+FMA, NEON
// (AArch64) and a portable fallback, chosen once at run time (see gemm.h for the contract).
//
// Three paths, chosen from the shape only (never from the thread count):
//   dot      op(A)·op(B) with A [M,K] and B [N,K] both stored K-contiguous (trans_a = false,
//            trans_b = true) and M or N small (Linear's forward, convolution's weight gradient):
//            blocks of RI×RJ outputs, each a vector dot product along K; nothing is packed.
//   blocked  everything else, BLIS-style: for each block of NC columns and KC depths, op(B) is packed
//            into KC×NR panels (or read in place when it is row-major and few rows of A reuse it),
//            op(A) into MR×KC panels (or read in place when stored [K,M] and few columns reuse it),
//            and an MR×NR micro-kernel accumulates in registers, reading A by broadcast and B by
//            vector along N. Transposes are absorbed by the packing (on AVX-512 by 16×16
//            in-register tile transposes), never by the inner loop.
//   panels   the blocked path's arithmetic when op(A) is small enough to pack whole (M·K ≤ 256K,
//            e.g. Linear's backward at batch 128) and op(B) is not transposed: work items are
//            column panels over all rows, each packing its own KC×NR panels of op(B) just before
//            use (still in L1 when multiplied); two parallel regions per product rather than three
//            per depth block. Same bits as blocked. (With B stored [N,K], Linear's forward, the
//            per-panel transposes of a weight cold in L3 were slower in the training step than the
//            blocked path's block-wide ones: 0.70 against 0.66 ms, one thread.)
// Work is split into items (row groups × column groups) sized from the shape; each item writes its
// own part of C, and every element is summed in the same order whichever thread runs it, so the
// result is bit-identical for any thread count, and gemm and gemm_serial agree exactly.
#include "gemm.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <vector>

#include "isa.h"
#include "parallel.h"

// The run-time choice calls __builtin_cpu_supports, whose CPU model comes from the compiler's
// runtime (libgcc, compiler-rt); zig's MinGW runtime (npm run check:cross) has none. Windows takes
// the portable kernels, as its MSVC build (no GNU extensions) does anyway.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(_WIN32) && !defined(NAPINET_NO_SIMD)
#define NAPINET_GEMM_X86 1
#include <immintrin.h>
#define NAPINET_TARGET_AVX512 __attribute__((target("avx512f,avx2,fma")))
#define NAPINET_TARGET_AVX2 __attribute__((target("avx2,fma")))
#else
#define NAPINET_GEMM_X86 0
#endif

// NEON is part of every AArch64 CPU (no run-time check needed), Apple's included.
#if defined(__aarch64__) && defined(__GNUC__) && !defined(NAPINET_NO_SIMD)
#define NAPINET_GEMM_NEON 1
#include <arm_neon.h>
#else
#define NAPINET_GEMM_NEON 0
#endif

#if defined(__GNUC__)
#define NAPINET_UNROLL _Pragma("GCC unroll 16")
#define NAPINET_INLINE inline __attribute__((always_inline))
#else
#define NAPINET_UNROLL
#define NAPINET_INLINE inline
#endif

namespace napinet::kernels {
namespace {

// ---------------------------------------------------------------------------------------------
// Kernel interfaces and the per-ISA tables.

// C[0:M, 0:n_rem] (row stride ldc) = alpha·Σ_p A(r,p)·B(p,j) + beta·C, where A(r,p) = a[p·a_ps + r]
// (a packed panel, or A stored [K,M] read in place) and B(p,j) = b[p·b_ps + j] (a packed panel, or
// a row-major B read in place). beta = 0 never reads C. M and the vector count are template
// parameters; n_rem ≤ the kernel's width.
using MicroKernel = void (*)(index_t kc, const float* a, index_t a_ps, const float* b,
                             index_t b_ps, float* c, index_t ldc, index_t n_rem, float alpha,
                             float beta);
// C[ri, rj] = alpha·Σ_p a[ri·lda + p]·b[rj·ldb + p] + beta·C[ri, rj] for an RI×RJ block.
using DotKernel = void (*)(index_t k, const float* a, index_t lda, const float* b, index_t ldb,
                           float* c, index_t ldc, float alpha, float beta);
// Packs a 16×16 tile transposed: row i of src (16 contiguous depths, rows ld apart) becomes lane i
// of depth q's 16 values, stored as two 8-lane halves at dst + q·dst_ps and dst + hi + q·dst_ps.
// (B's 32-wide panels: hi = 8; A's 8-row panels: hi = the next panel.)
using TransposeTile = void (*)(const float* src, index_t ld, float* dst, index_t dst_ps,
                               index_t hi);

constexpr int kMaxMr = 8;
constexpr int kMaxNv = 2;
constexpr int kMaxDot = 5;

struct Kernels {
  const char* name;
  int mr;          // rows of the micro-kernel
  int vec;         // floats per vector; the micro-kernel is nv·vec wide, nv ≤ kMaxNv
  int dot_ri, dot_rj;
  MicroKernel micro[kMaxMr][kMaxNv];  // [rows - 1][vectors - 1]
  DotKernel dot[kMaxDot][kMaxDot];    // [ri - 1][rj - 1]
  TransposeTile transpose16 = nullptr;  // the transposing packs' fast path, where the ISA has one
  int nr() const { return vec * kMaxNv; }
};

template <class Target, int M, int... V>
void fill_micro(Kernels& t, std::integer_sequence<int, V...>) {
  ((t.micro[M - 1][V] = &Target::template micro<M, V + 1>), ...);
}
template <class Target, int... M>
void fill_micro_rows(Kernels& t, std::integer_sequence<int, M...>) {
  (fill_micro<Target, M + 1>(t, std::make_integer_sequence<int, kMaxNv>{}), ...);
}
template <class Target, int RI, int... RJ>
void fill_dot(Kernels& t, std::integer_sequence<int, RJ...>) {
  ((t.dot[RI - 1][RJ] = &Target::template dot<RI, RJ + 1>), ...);
}
template <class Target, int... RI>
void fill_dot_rows(Kernels& t, std::integer_sequence<int, RI...>) {
  (fill_dot<Target, RI + 1>(t, std::make_integer_sequence<int, Target::kDotRj>{}), ...);
}

template <class Target>
Kernels make_kernels() {
  Kernels t{};
  t.name = Target::kName;
  t.mr = Target::kMr;
  t.vec = Target::kVec;
  t.dot_ri = Target::kDotRi;
  t.dot_rj = Target::kDotRj;
  fill_micro_rows<Target>(t, std::make_integer_sequence<int, Target::kMr>{});
  fill_dot_rows<Target>(t, std::make_integer_sequence<int, Target::kDotRi>{});
  if constexpr (Target::kTransposeTile) t.transpose16 = &Target::transpose16;
  return t;
}

// ---------------------------------------------------------------------------------------------
// Portable kernels (any architecture; plain loops the compiler may vectorise).

struct Portable {
  static constexpr const char* kName = "generic";
  static constexpr int kMr = 4;
  static constexpr int kVec = 8;
  static constexpr int kDotRi = 2;
  static constexpr int kDotRj = 2;
  static constexpr bool kTransposeTile = false;

  template <int M, int NV>
  static void micro(index_t kc, const float* a, index_t a_ps, const float* b, index_t b_ps,
                    float* c, index_t ldc, index_t n_rem, float alpha, float beta) {
    constexpr int W = NV * kVec;
    float acc[M][W] = {};
    const index_t w = n_rem;
    for (index_t p = 0; p < kc; ++p) {
      const float* bp = b + p * b_ps;
      for (int r = 0; r < M; ++r) {
        const float ar = a[p * a_ps + r];
        for (index_t j = 0; j < w; ++j) acc[r][j] += ar * bp[j];
      }
    }
    for (int r = 0; r < M; ++r) {
      float* cr = c + r * ldc;
      for (index_t j = 0; j < w; ++j) {
        float t = alpha * acc[r][j];
        cr[j] = beta == 0.0f ? t : beta * cr[j] + t;
      }
    }
  }

  template <int RI, int RJ>
  static void dot(index_t k, const float* a, index_t lda, const float* b, index_t ldb, float* c,
                  index_t ldc, float alpha, float beta) {
    for (int i = 0; i < RI; ++i) {
      for (int j = 0; j < RJ; ++j) {
        const float* ai = a + i * lda;
        const float* bj = b + j * ldb;
        float s = 0.0f;
        for (index_t p = 0; p < k; ++p) s += ai[p] * bj[p];
        float& out = c[i * ldc + j];
        out = beta == 0.0f ? alpha * s : beta * out + alpha * s;
      }
    }
  }
};

#if NAPINET_GEMM_X86

// ---------------------------------------------------------------------------------------------
// AVX-512 kernels: an 8×32 micro-kernel (16 zmm accumulators); 4×5 dot blocks (20).

NAPINET_TARGET_AVX512 NAPINET_INLINE __mmask16 tail_mask16(index_t count) {
  return count >= 16 ? static_cast<__mmask16>(0xFFFF)
                     : static_cast<__mmask16>((1u << count) - 1u);
}

NAPINET_TARGET_AVX512 NAPINET_INLINE float hsum16(__m512 v) {
  // Fold 16 lanes to 8, 4, 2, 1: a fixed order, the same for every output. (The zero-masking
  // forms avoid GCC 12's false "uninitialized" warning on the unmasked intrinsics.)
  constexpr __mmask16 all = 0xFFFF;
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(all, v, v, 0xEE));  // blocks 2,3 onto 0,1
  v = _mm512_add_ps(v, _mm512_maskz_shuffle_f32x4(all, v, v, 0x55));  // block 1 onto 0
  v = _mm512_add_ps(v, _mm512_maskz_permute_ps(all, v, 0x4E));        // lanes 2,3 onto 0,1
  v = _mm512_add_ps(v, _mm512_maskz_permute_ps(all, v, 0xB1));        // lane 1 onto 0
  return _mm512_cvtss_f32(v);
}

struct Avx512 {
  static constexpr const char* kName = "avx512";
  static constexpr int kMr = 8;
  static constexpr int kVec = 16;
  static constexpr int kDotRi = 4;
  static constexpr int kDotRj = 5;
  static constexpr bool kTransposeTile = true;

  // In-register 16×16 transpose: 4 rounds of 16 shuffles (unpack pairs of rows, then 4-row
  // groups, then 128-bit blocks twice), instead of 256 scalar loads and strided stores.
  NAPINET_TARGET_AVX512 static void transpose16(const float* src, index_t ld, float* dst,
                                                index_t dst_ps, index_t hi) {
    constexpr __mmask16 all = 0xFFFF;  // the zero-masking forms: see hsum16
    __m512 r[16], t[16];
    NAPINET_UNROLL for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_ps(src + i * ld);
    NAPINET_UNROLL for (int i = 0; i < 8; ++i) {
      t[2 * i] = _mm512_maskz_unpacklo_ps(all, r[2 * i], r[2 * i + 1]);
      t[2 * i + 1] = _mm512_maskz_unpackhi_ps(all, r[2 * i], r[2 * i + 1]);
    }
    // r[4g + c], 128-bit block b: depth 4b + c of rows 4g … 4g+3.
    NAPINET_UNROLL for (int g = 0; g < 4; ++g) {
      r[4 * g + 0] = _mm512_maskz_shuffle_ps(all, t[4 * g], t[4 * g + 2], 0x44);
      r[4 * g + 1] = _mm512_maskz_shuffle_ps(all, t[4 * g], t[4 * g + 2], 0xEE);
      r[4 * g + 2] = _mm512_maskz_shuffle_ps(all, t[4 * g + 1], t[4 * g + 3], 0x44);
      r[4 * g + 3] = _mm512_maskz_shuffle_ps(all, t[4 * g + 1], t[4 * g + 3], 0xEE);
    }
    NAPINET_UNROLL for (int c = 0; c < 4; ++c) {
      const __m512 x0 = _mm512_maskz_shuffle_f32x4(all, r[c], r[4 + c], 0x88);
      const __m512 x1 = _mm512_maskz_shuffle_f32x4(all, r[c], r[4 + c], 0xDD);
      const __m512 y0 = _mm512_maskz_shuffle_f32x4(all, r[8 + c], r[12 + c], 0x88);
      const __m512 y1 = _mm512_maskz_shuffle_f32x4(all, r[8 + c], r[12 + c], 0xDD);
      t[c] = _mm512_maskz_shuffle_f32x4(all, x0, y0, 0x88);       // depth c
      t[8 + c] = _mm512_maskz_shuffle_f32x4(all, x0, y0, 0xDD);   // depth 8 + c
      t[4 + c] = _mm512_maskz_shuffle_f32x4(all, x1, y1, 0x88);   // depth 4 + c
      t[12 + c] = _mm512_maskz_shuffle_f32x4(all, x1, y1, 0xDD);  // depth 12 + c
    }
    // The upper half goes through a masked store at hi − 8, which writes lanes 8…15 only.
    NAPINET_UNROLL for (int q = 0; q < 16; ++q) {
      if (hi == 8) {
        _mm512_storeu_ps(dst + q * dst_ps, t[q]);
      } else {
        _mm512_mask_storeu_ps(dst + q * dst_ps, 0x00FF, t[q]);
        _mm512_mask_storeu_ps(dst + hi - 8 + q * dst_ps, 0xFF00, t[q]);
      }
    }
  }

  // The loop with every lane of the last vector valid (kMasked false: plain loads; GCC otherwise
  // reloads the mask register every depth, a port-5 µop beside the FMAs) or with a masked load.
  template <int M, int NV, bool kMasked>
  NAPINET_TARGET_AVX512 static NAPINET_INLINE void micro_loop(__m512 (&acc)[M][NV], index_t kc,
                                                              const float* a, index_t a_ps,
                                                              const float* b, index_t b_ps,
                                                              __mmask16 last) {
    for (index_t p = 0; p < kc; ++p) {
      __m512 bv[NV];
      NAPINET_UNROLL for (int v = 0; v < NV - 1; ++v) bv[v] = _mm512_loadu_ps(b + v * 16);
      bv[NV - 1] = kMasked ? _mm512_maskz_loadu_ps(last, b + (NV - 1) * 16)
                           : _mm512_loadu_ps(b + (NV - 1) * 16);
      NAPINET_UNROLL for (int r = 0; r < M; ++r) {
        const __m512 ar = _mm512_set1_ps(a[r]);
        NAPINET_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_fmadd_ps(ar, bv[v], acc[r][v]);
      }
      a += a_ps;
      b += b_ps;
    }
  }

  template <int M, int NV>
  NAPINET_TARGET_AVX512 static void micro(index_t kc, const float* a, index_t a_ps,
                                          const float* b, index_t b_ps, float* c, index_t ldc,
                                          index_t n_rem, float alpha, float beta) {
    const index_t last_count = n_rem - (NV - 1) * 16;
    const __mmask16 last = tail_mask16(last_count);
    __m512 acc[M][NV];
    NAPINET_UNROLL for (int r = 0; r < M; ++r) {
      NAPINET_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_ps();
    }
    if (last_count >= 16) {
      micro_loop<M, NV, false>(acc, kc, a, a_ps, b, b_ps, last);
    } else {
      micro_loop<M, NV, true>(acc, kc, a, a_ps, b, b_ps, last);
    }
    const __m512 va = _mm512_set1_ps(alpha);
    const __m512 vb = _mm512_set1_ps(beta);
    NAPINET_UNROLL for (int r = 0; r < M; ++r) {
      float* cr = c + r * ldc;
      NAPINET_UNROLL for (int v = 0; v < NV; ++v) {
        const __mmask16 mask = v == NV - 1 ? last : static_cast<__mmask16>(0xFFFF);
        __m512 t = _mm512_mul_ps(va, acc[r][v]);
        if (beta != 0.0f) t = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mask, cr + v * 16), t);
        _mm512_mask_storeu_ps(cr + v * 16, mask, t);
      }
    }
  }

  template <int RI, int RJ>
  NAPINET_TARGET_AVX512 static void dot(index_t k, const float* a, index_t lda, const float* b,
                                        index_t ldb, float* c, index_t ldc, float alpha,
                                        float beta) {
    __m512 acc[RI][RJ];
    NAPINET_UNROLL for (int i = 0; i < RI; ++i) {
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) acc[i][j] = _mm512_setzero_ps();
    }
    index_t p = 0;
    for (; p + 16 <= k; p += 16) {
      __m512 av[RI];
      NAPINET_UNROLL for (int i = 0; i < RI; ++i) av[i] = _mm512_loadu_ps(a + i * lda + p);
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) {
        const __m512 bj = _mm512_loadu_ps(b + j * ldb + p);
        NAPINET_UNROLL for (int i = 0; i < RI; ++i) acc[i][j] = _mm512_fmadd_ps(av[i], bj, acc[i][j]);
      }
    }
    if (p < k) {
      const __mmask16 mask = tail_mask16(k - p);
      __m512 av[RI];
      NAPINET_UNROLL for (int i = 0; i < RI; ++i) av[i] = _mm512_maskz_loadu_ps(mask, a + i * lda + p);
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) {
        const __m512 bj = _mm512_maskz_loadu_ps(mask, b + j * ldb + p);
        NAPINET_UNROLL for (int i = 0; i < RI; ++i) acc[i][j] = _mm512_fmadd_ps(av[i], bj, acc[i][j]);
      }
    }
    NAPINET_UNROLL for (int i = 0; i < RI; ++i) {
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) {
        const float s = alpha * hsum16(acc[i][j]);
        float& out = c[i * ldc + j];
        out = beta == 0.0f ? s : beta * out + s;
      }
    }
  }
};

// ---------------------------------------------------------------------------------------------
// AVX2+FMA kernels: a 6×16 micro-kernel (12 ymm accumulators); 3×3 dot blocks.

NAPINET_TARGET_AVX2 NAPINET_INLINE __m256i tail_mask8(index_t count) {
  const int n = count >= 8 ? 8 : static_cast<int>(count);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

NAPINET_TARGET_AVX2 NAPINET_INLINE float hsum8(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

struct Avx2 {
  static constexpr const char* kName = "avx2";
  static constexpr int kMr = 6;
  static constexpr int kVec = 8;
  static constexpr int kDotRi = 3;
  static constexpr int kDotRj = 3;
  static constexpr bool kTransposeTile = false;

  // The loop with every lane of the last vector valid (kMasked false) or with masked loads.
  template <int M, int NV, bool kMasked>
  NAPINET_TARGET_AVX2 static NAPINET_INLINE void micro_loop(__m256 (&acc)[M][NV], index_t kc,
                                                            const float* a, index_t a_ps,
                                                            const float* b, index_t b_ps,
                                                            __m256i last) {
    for (index_t p = 0; p < kc; ++p) {
      __m256 bv[NV];
      NAPINET_UNROLL for (int v = 0; v < NV - 1; ++v) bv[v] = _mm256_loadu_ps(b + v * 8);
      bv[NV - 1] = kMasked ? _mm256_maskload_ps(b + (NV - 1) * 8, last)
                           : _mm256_loadu_ps(b + (NV - 1) * 8);
      NAPINET_UNROLL for (int r = 0; r < M; ++r) {
        const __m256 ar = _mm256_broadcast_ss(a + r);
        NAPINET_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_fmadd_ps(ar, bv[v], acc[r][v]);
      }
      a += a_ps;
      b += b_ps;
    }
  }

  template <int M, int NV>
  NAPINET_TARGET_AVX2 static void micro(index_t kc, const float* a, index_t a_ps, const float* b,
                                        index_t b_ps, float* c, index_t ldc, index_t n_rem,
                                        float alpha, float beta) {
    const index_t last_count = n_rem - (NV - 1) * 8;
    const __m256i last = tail_mask8(last_count);
    __m256 acc[M][NV];
    NAPINET_UNROLL for (int r = 0; r < M; ++r) {
      NAPINET_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = _mm256_setzero_ps();
    }
    if (last_count >= 8) {
      micro_loop<M, NV, false>(acc, kc, a, a_ps, b, b_ps, last);
    } else {
      micro_loop<M, NV, true>(acc, kc, a, a_ps, b, b_ps, last);
    }
    const __m256 va = _mm256_set1_ps(alpha);
    const __m256 vb = _mm256_set1_ps(beta);
    NAPINET_UNROLL for (int r = 0; r < M; ++r) {
      float* cr = c + r * ldc;
      NAPINET_UNROLL for (int v = 0; v < NV; ++v) {
        __m256 t = _mm256_mul_ps(va, acc[r][v]);
        if (v < NV - 1 || last_count >= 8) {
          if (beta != 0.0f) t = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + v * 8), t);
          _mm256_storeu_ps(cr + v * 8, t);
        } else {
          if (beta != 0.0f) t = _mm256_fmadd_ps(vb, _mm256_maskload_ps(cr + v * 8, last), t);
          _mm256_maskstore_ps(cr + v * 8, last, t);
        }
      }
    }
  }

  template <int RI, int RJ>
  NAPINET_TARGET_AVX2 static void dot(index_t k, const float* a, index_t lda, const float* b,
                                      index_t ldb, float* c, index_t ldc, float alpha,
                                      float beta) {
    __m256 acc[RI][RJ];
    NAPINET_UNROLL for (int i = 0; i < RI; ++i) {
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) acc[i][j] = _mm256_setzero_ps();
    }
    index_t p = 0;
    for (; p + 8 <= k; p += 8) {
      __m256 av[RI];
      NAPINET_UNROLL for (int i = 0; i < RI; ++i) av[i] = _mm256_loadu_ps(a + i * lda + p);
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) {
        const __m256 bj = _mm256_loadu_ps(b + j * ldb + p);
        NAPINET_UNROLL for (int i = 0; i < RI; ++i) acc[i][j] = _mm256_fmadd_ps(av[i], bj, acc[i][j]);
      }
    }
    if (p < k) {
      const __m256i mask = tail_mask8(k - p);
      __m256 av[RI];
      NAPINET_UNROLL for (int i = 0; i < RI; ++i) av[i] = _mm256_maskload_ps(a + i * lda + p, mask);
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) {
        const __m256 bj = _mm256_maskload_ps(b + j * ldb + p, mask);
        NAPINET_UNROLL for (int i = 0; i < RI; ++i) acc[i][j] = _mm256_fmadd_ps(av[i], bj, acc[i][j]);
      }
    }
    NAPINET_UNROLL for (int i = 0; i < RI; ++i) {
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) {
        const float s = alpha * hsum8(acc[i][j]);
        float& out = c[i * ldc + j];
        out = beta == 0.0f ? s : beta * out + s;
      }
    }
  }
};

#endif  // NAPINET_GEMM_X86

#if NAPINET_GEMM_NEON

// ---------------------------------------------------------------------------------------------
// NEON kernels: an 8×8 micro-kernel (16 of the 32 q registers accumulate); 3×3 dot blocks of two
// registers each (18).
// NEON has no masked loads: a partial last vector goes through a zeroed copy, which only the edge
// panels and the dot kernel's last depths take.

NAPINET_INLINE float32x4_t load_partial4(const float* p, index_t count) {
  float lanes[4] = {0.0f, 0.0f, 0.0f, 0.0f};
  for (index_t i = 0; i < count; ++i) lanes[i] = p[i];
  return vld1q_f32(lanes);
}

NAPINET_INLINE void store_partial4(float* p, float32x4_t v, index_t count) {
  float lanes[4];
  vst1q_f32(lanes, v);
  for (index_t i = 0; i < count; ++i) p[i] = lanes[i];
}

// The 8 lanes lo:hi summed in hsum8's order (the AVX2 kernels'): s = lo + hi, then
// (s0 + s2) + (s1 + s3).
NAPINET_INLINE float hsum8(float32x4_t lo, float32x4_t hi) {
  const float32x4_t s = vaddq_f32(lo, hi);
  const float32x2_t t = vadd_f32(vget_low_f32(s), vget_high_f32(s));
  return vget_lane_f32(t, 0) + vget_lane_f32(t, 1);
}

struct Neon {
  static constexpr const char* kName = "neon";
  static constexpr int kMr = 8;
  static constexpr int kVec = 4;
  static constexpr int kDotRi = 3;
  static constexpr int kDotRj = 3;
  static constexpr bool kTransposeTile = false;

  // The loop with every lane of the last vector valid (kPartial false) or with a partial one.
  template <int M, int NV, bool kPartial>
  static NAPINET_INLINE void micro_loop(float32x4_t (&acc)[M][NV], index_t kc, const float* a,
                                        index_t a_ps, const float* b, index_t b_ps,
                                        index_t last_count) {
    for (index_t p = 0; p < kc; ++p) {
      float32x4_t bv[NV];
      NAPINET_UNROLL for (int v = 0; v < NV - 1; ++v) bv[v] = vld1q_f32(b + v * 4);
      bv[NV - 1] = kPartial ? load_partial4(b + (NV - 1) * 4, last_count)
                            : vld1q_f32(b + (NV - 1) * 4);
      NAPINET_UNROLL for (int r = 0; r < M; ++r) {
        const float32x4_t ar = vdupq_n_f32(a[r]);
        NAPINET_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = vfmaq_f32(acc[r][v], ar, bv[v]);
      }
      a += a_ps;
      b += b_ps;
    }
  }

  template <int M, int NV>
  static void micro(index_t kc, const float* a, index_t a_ps, const float* b, index_t b_ps,
                    float* c, index_t ldc, index_t n_rem, float alpha, float beta) {
    const index_t last_count = n_rem - (NV - 1) * 4;
    float32x4_t acc[M][NV];
    NAPINET_UNROLL for (int r = 0; r < M; ++r) {
      NAPINET_UNROLL for (int v = 0; v < NV; ++v) acc[r][v] = vdupq_n_f32(0.0f);
    }
    if (last_count >= 4) {
      micro_loop<M, NV, false>(acc, kc, a, a_ps, b, b_ps, last_count);
    } else {
      micro_loop<M, NV, true>(acc, kc, a, a_ps, b, b_ps, last_count);
    }
    const float32x4_t va = vdupq_n_f32(alpha);
    const float32x4_t vb = vdupq_n_f32(beta);
    NAPINET_UNROLL for (int r = 0; r < M; ++r) {
      float* cr = c + r * ldc;
      NAPINET_UNROLL for (int v = 0; v < NV; ++v) {
        float32x4_t t = vmulq_f32(va, acc[r][v]);
        if (v < NV - 1 || last_count >= 4) {
          if (beta != 0.0f) t = vfmaq_f32(t, vb, vld1q_f32(cr + v * 4));
          vst1q_f32(cr + v * 4, t);
        } else {
          if (beta != 0.0f) t = vfmaq_f32(t, vb, load_partial4(cr + v * 4, last_count));
          store_partial4(cr + v * 4, t, last_count);
        }
      }
    }
  }

  // Each output sums 8 lanes (two q registers, lanes p ≡ 0…7 mod 8) and adds them as hsum8 does:
  // the AVX2 dot kernel's order, so the sums agree bit for bit (one q register's 4 lanes missed
  // gemm.test.ts's bound on the 1×1×1000 sum that cancels). With beta ≠ 0 the compilers may fuse
  // a different product into the last addition.
  template <int RI, int RJ>
  static void dot(index_t k, const float* a, index_t lda, const float* b, index_t ldb, float* c,
                  index_t ldc, float alpha, float beta) {
    float32x4_t acc[RI][RJ][2];
    NAPINET_UNROLL for (int i = 0; i < RI; ++i) {
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) acc[i][j][0] = acc[i][j][1] = vdupq_n_f32(0.0f);
    }
    const auto step = [&](const float32x4_t (&av)[RI][2], const float32x4_t (&bv)[RJ][2]) {
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) {
        NAPINET_UNROLL for (int i = 0; i < RI; ++i) {
          acc[i][j][0] = vfmaq_f32(acc[i][j][0], av[i][0], bv[j][0]);
          acc[i][j][1] = vfmaq_f32(acc[i][j][1], av[i][1], bv[j][1]);
        }
      }
    };
    index_t p = 0;
    for (; p + 8 <= k; p += 8) {
      float32x4_t av[RI][2], bv[RJ][2];
      NAPINET_UNROLL for (int i = 0; i < RI; ++i) {
        av[i][0] = vld1q_f32(a + i * lda + p);
        av[i][1] = vld1q_f32(a + i * lda + p + 4);
      }
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) {
        bv[j][0] = vld1q_f32(b + j * ldb + p);
        bv[j][1] = vld1q_f32(b + j * ldb + p + 4);
      }
      step(av, bv);
    }
    if (p < k) {  // the last 1…7 depths in the low lanes, zeros above
      const index_t low = std::min<index_t>(4, k - p), high = k - p - low;
      float32x4_t av[RI][2], bv[RJ][2];
      NAPINET_UNROLL for (int i = 0; i < RI; ++i) {
        av[i][0] = load_partial4(a + i * lda + p, low);
        av[i][1] = load_partial4(a + i * lda + p + 4, high);
      }
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) {
        bv[j][0] = load_partial4(b + j * ldb + p, low);
        bv[j][1] = load_partial4(b + j * ldb + p + 4, high);
      }
      step(av, bv);
    }
    NAPINET_UNROLL for (int i = 0; i < RI; ++i) {
      NAPINET_UNROLL for (int j = 0; j < RJ; ++j) {
        const float s = alpha * hsum8(acc[i][j][0], acc[i][j][1]);
        float& out = c[i * ldc + j];
        out = beta == 0.0f ? s : beta * out + s;
      }
    }
  }
};

#endif  // NAPINET_GEMM_NEON

// The kernels for this CPU (isa.h: NAPINET_GEMM_ISA=avx2|neon|generic forces a narrower set).
const Kernels& kernels() {
  static const Kernels chosen = [] {
#if NAPINET_GEMM_X86
    switch (runtime_isa("NAPINET_GEMM_ISA")) {
      case Isa::kAvx512: return make_kernels<Avx512>();
      case Isa::kAvx2: return make_kernels<Avx2>();
      case Isa::kGeneric:
      case Isa::kNeon: break;
    }
#elif NAPINET_GEMM_NEON
    if (runtime_isa("NAPINET_GEMM_ISA") == Isa::kNeon) return make_kernels<Neon>();
#endif
    return make_kernels<Portable>();
  }();
  return chosen;
}

// ---------------------------------------------------------------------------------------------
// Blocking parameters and scratch.

constexpr index_t kKc = 256;   // depth of a block: a KC×NR panel of B stays in L1
constexpr index_t kMc = 128;   // rows of A per work item (an MC×KC packed block stays in L2)
constexpr index_t kNc = 2048;  // columns of B packed at once (a KC×NC block stays in L3)
constexpr index_t kMChunk = 2048;  // rows of A packed at once
constexpr index_t kPackWeight = 16;  // packing one element costs about this many multiply-adds
constexpr index_t kItemWork = index_t(1) << 17;  // multiply-adds below which one item suffices
constexpr index_t kMaxItems = 16;
constexpr index_t kDotMaxSide = 32;  // the dot path takes NT products with min(M, N) ≤ this
constexpr index_t kPanelsMaxA = index_t(1) << 18;  // the panel path: op(A) packed whole ≤ 1 MiB

index_t ceil_div(index_t a, index_t b) { return (a + b - 1) / b; }
index_t round_up(index_t a, index_t b) { return ceil_div(a, b) * b; }

// Per-thread packing buffers, grown on demand and reused (64-byte aligned).
float* scratch(std::vector<float>& buffer, index_t count) {
  const std::size_t need = static_cast<std::size_t>(count) + 16;
  if (buffer.size() < need) buffer.resize(need);
  const auto address = reinterpret_cast<std::uintptr_t>(buffer.data());
  return buffer.data() + ((64 - address % 64) % 64) / sizeof(float);
}
thread_local std::vector<float> tls_a_pack;
thread_local std::vector<float> tls_b_pack;
thread_local std::vector<float> tls_b_panel;  // the panel path's one panel of op(B), per thread

// Runs fn(item) for item in [0, items): on the pool, or on the calling thread only.
template <typename Fn>
void run_items(index_t items, bool parallel, const Fn& fn) {
  if (parallel && items > 1) {
    parallel_for(items, 1, [&](index_t begin, index_t end) {
      for (index_t i = begin; i < end; ++i) fn(i);
    });
  } else {
    for (index_t i = 0; i < items; ++i) fn(i);
  }
}

// How many groups to split `work` multiply-adds into, at most `max_groups`.
index_t group_count(index_t work, index_t max_groups) {
  return std::max<index_t>(1, std::min({kMaxItems, max_groups, work / kItemWork}));
}

// C = beta·C (beta = 0 writes zeros, ignoring NaN in C).
void scale_c(float* c, index_t m, index_t n, float beta) {
  if (beta == 1.0f) return;
  for (index_t i = 0; i < m * n; ++i) c[i] = beta == 0.0f ? 0.0f : beta * c[i];
}

// ---------------------------------------------------------------------------------------------
// Packing. A block [i0, i0+mb) × [p0, p0+kb) of op(A) becomes ceil(mb/MR) panels, each kb×MR
// (MR values of one depth contiguous). A block [p0, p0+kb) × [j0, j0+nb) of op(B) becomes
// ceil(nb/NR) panels, each kb×NR. Edge panels leave their unused lanes unwritten (never read).

// n floats from src to dst: a whole panel row (8, 16 or 32 floats) as a fixed-size copy the
// compiler inlines into vector moves, instead of a memcpy call per row.
NAPINET_INLINE void copy_row(float* NAPINET_RESTRICT dst, const float* NAPINET_RESTRICT src,
                             index_t n) {
  switch (n) {
    case 32: std::memcpy(dst, src, 32 * sizeof(float)); return;
    case 16: std::memcpy(dst, src, 16 * sizeof(float)); return;
    case 8: std::memcpy(dst, src, 8 * sizeof(float)); return;
    default:
      for (index_t i = 0; i < n; ++i) dst[i] = src[i];
  }
}

// op(A)(i, p) = a[i·rs + p·cs].
NAPINET_VECTORIZED void pack_a_block(float* NAPINET_RESTRICT dst,
                                     const float* NAPINET_RESTRICT a, index_t rs, index_t cs,
                                     index_t i0, index_t mb, index_t p0, index_t kb, index_t mr,
                                     TransposeTile transpose16) {
  index_t ip = 0;
  if (transpose16 != nullptr && cs == 1 && rs != 1 && mr == 8) {
    // Stored [M, K]: 16 rows (two whole panels) × 16 depths at a time, by register transpose.
    for (; ip + 16 <= mb; ip += 16) {
      float* panel = dst + ip * kb;
      const float* src = a + (i0 + ip) * rs + p0;
      index_t p = 0;
      for (; p + 16 <= kb; p += 16) transpose16(src + p, rs, panel + p * mr, mr, 8 * kb);
      for (; p < kb; ++p)
        for (index_t r = 0; r < 16; ++r)
          panel[(r / mr) * mr * kb + p * mr + r % mr] = src[r * rs + p];
    }
  }
  for (; ip < mb; ip += mr) {
    const index_t rows = std::min(mr, mb - ip);  // mb is a multiple of mr except at the end
    float* panel = dst + ip * kb;
    const float* src = a + (i0 + ip) * rs + p0 * cs;
    if (rs == 1) {  // stored [K, M]: each depth's rows are contiguous
      for (index_t p = 0; p < kb; ++p) copy_row(panel + p * mr, src + p * cs, rows);
    } else {  // stored [M, K]: transpose
      for (index_t r = 0; r < rows; ++r)
        for (index_t p = 0; p < kb; ++p) panel[p * mr + r] = src[r * rs + p * cs];
    }
  }
}

// op(B)(p, j) = b[p·rs + j·cs].
NAPINET_VECTORIZED void pack_b_panels(float* NAPINET_RESTRICT dst,
                                      const float* NAPINET_RESTRICT b, index_t rs, index_t cs,
                                      index_t p0, index_t kb, index_t j0, index_t nb, index_t nr,
                                      index_t panel_begin, index_t panel_end,
                                      TransposeTile transpose16) {
  for (index_t jp = panel_begin * nr; jp < std::min(nb, panel_end * nr); jp += nr) {
    const index_t cols = std::min(nr, nb - jp);
    float* panel = dst + jp * kb;
    const float* src = b + p0 * rs + (j0 + jp) * cs;
    if (cs == 1) {  // stored [K, N]: copy row pieces
      for (index_t p = 0; p < kb; ++p) copy_row(panel + p * nr, src + p * rs, cols);
      continue;
    }
    // Stored [N, K]: transpose, 16 columns × 16 depths at a time where the ISA has a tile
    // transpose (two 8-lane halves side by side in the panel).
    index_t j = 0;
    if (transpose16 != nullptr && rs == 1 && nr % 16 == 0) {
      for (; j + 16 <= cols; j += 16) {
        index_t p = 0;
        for (; p + 16 <= kb; p += 16) transpose16(src + j * cs + p, cs, panel + p * nr + j, nr, 8);
        for (; p < kb; ++p)
          for (index_t jj = j; jj < j + 16; ++jj) panel[p * nr + jj] = src[jj * cs + p];
      }
    }
    for (; j < cols; ++j)
      for (index_t p = 0; p < kb; ++p) panel[p * nr + j] = src[j * cs + p * rs];
  }
}

// ---------------------------------------------------------------------------------------------
// The three paths.

// How the blocked and panel paths read the operands: op(A)(i,p) = a[i·a_rs + p·a_cs] and
// op(B)(p,j) = b[p·b_rs + j·b_cs], each packed or read in place. In place when the layout allows it
// and packing would not pay for itself: A stored [K,M] reused by few column panels; B stored [K,N]
// reused by few row panels.
struct Operands {
  index_t a_rs, a_cs, b_rs, b_cs;
  bool pack_a, pack_b;
  Operands(const Kernels& kern, index_t m, index_t n, index_t k, bool trans_a, bool trans_b)
      : a_rs(trans_a ? 1 : k), a_cs(trans_a ? m : 1), b_rs(trans_b ? 1 : n),
        b_cs(trans_b ? k : 1), pack_a(!trans_a || n > 4 * kern.nr()),
        pack_b(trans_b || m > 4 * kern.mr) {}
};

// Packs rows [i0, i0+mb) of op(A) for the depth blocks of kKc starting at p_begin, p_begin + kKc, …
// below p_end, in one parallel region: block q at dst + q·round_up(mb, MR)·kKc.
void pack_a_blocks(const Kernels& kern, float* dst, const float* a, index_t rs, index_t cs,
                   index_t i0, index_t mb, index_t p_begin, index_t p_end, bool parallel) {
  const index_t mr = kern.mr;
  const index_t a_panels = ceil_div(mb, mr);
  const index_t groups = group_count(std::min(kKc, p_end - p_begin) * mb * kPackWeight, a_panels);
  const index_t per = ceil_div(a_panels, groups);
  const index_t block_groups = ceil_div(a_panels, per);
  run_items(ceil_div(p_end - p_begin, kKc) * block_groups, parallel, [&](index_t item) {
    const index_t q = item / block_groups, g = item % block_groups;
    const index_t pc = p_begin + q * kKc, kb = std::min(kKc, p_end - pc);
    const index_t first = g * per * mr;
    const index_t rows = std::min(mb, (g + 1) * per * mr) - first;
    pack_a_block(dst + q * a_panels * mr * kKc + first * kb, a, rs, cs, i0 + first, rows, pc, kb,
                 mr, kern.transpose16);
  });
}

// op(A) [M,K] stored [M,K], op(B) [K,N] stored [N,K]: C[i,j] = dot(A row i, B row j).
void gemm_dot(const Kernels& kern, float* c, const float* a, const float* b, index_t m, index_t n,
              index_t k, float alpha, float beta, bool parallel) {
  const index_t ri = kern.dot_ri, rj = kern.dot_rj;
  const index_t row_blocks = ceil_div(m, ri), col_blocks = ceil_div(n, rj);
  const index_t work = m * n * k;
  const index_t row_groups = group_count(work, row_blocks);
  const index_t col_groups = group_count(work / row_groups, col_blocks);
  const index_t rows_per = round_up(ceil_div(m, row_groups), ri);
  const index_t cols_per = round_up(ceil_div(n, col_groups), rj);
  const index_t rg = ceil_div(m, rows_per), cg = ceil_div(n, cols_per);
  run_items(rg * cg, parallel, [&](index_t item) {
    const index_t i_begin = (item / cg) * rows_per, j_begin = (item % cg) * cols_per;
    const index_t i_end = std::min(m, i_begin + rows_per), j_end = std::min(n, j_begin + cols_per);
    // Columns in blocks of at most RJ, balanced (10 = 5 + 5, not 4 + 4 + 2).
    const index_t width = j_end - j_begin;
    const index_t bw = ceil_div(width, ceil_div(width, rj));
    for (index_t i = i_begin; i < i_end; i += ri) {
      const index_t h = std::min(ri, i_end - i);
      for (index_t j = j_begin; j < j_end; j += bw) {
        const index_t w = std::min(bw, j_end - j);
        kern.dot[h - 1][w - 1](k, a + i * k, k, b + j * k, k, c + i * n + j, n, alpha, beta);
      }
    }
  });
}

// Asks for the C tile a micro-kernel call will read at its end (beta ≠ 0) while it multiplies: an
// accumulated gradient (zeroed at the start of the step, cold by its backward pass) otherwise
// stalls every call's epilogue on L3 (Linear 1024→256's dW += dyᵀ·x after a cache flush, one
// thread: 0.62 → 0.52 ms).
NAPINET_INLINE void prefetch_c_tile(const float* c, index_t ldc, index_t rows, index_t cols) {
#if defined(__GNUC__)
  for (index_t r = 0; r < rows; ++r) {
    for (index_t o = 0; o < cols; o += 16) __builtin_prefetch(c + r * ldc + o, 1, 3);
    __builtin_prefetch(c + r * ldc + cols - 1, 1, 3);  // the last line, when C is not aligned
  }
#endif
}

void gemm_blocked(const Kernels& kern, float* c, const float* a, const float* b, index_t m,
                  index_t n, index_t k, bool trans_a, bool trans_b, float alpha, float beta,
                  bool parallel) {
  const index_t mr = kern.mr, nr = kern.nr();
  const Operands ops(kern, m, n, k, trans_a, trans_b);
  const index_t a_rs = ops.a_rs, a_cs = ops.a_cs, b_rs = ops.b_rs, b_cs = ops.b_cs;
  const bool pack_a = ops.pack_a, pack_b = ops.pack_b;
  const index_t kc_max = std::min(kKc, k);
  // Row counts that start packed panels must be multiples of MR (6 for AVX2).
  const index_t m_chunk = kMChunk / mr * mr;
  const index_t m_group = kMc / mr * mr;
  float* a_packed = pack_a ? scratch(tls_a_pack, std::min(m_chunk, round_up(m, mr)) * kc_max) : nullptr;
  float* b_packed = pack_b ? scratch(tls_b_pack, std::min(kNc, round_up(n, nr)) * kc_max) : nullptr;

  for (index_t jc = 0; jc < n; jc += kNc) {
    const index_t nb = std::min(kNc, n - jc);
    const index_t panels = ceil_div(nb, nr);
    for (index_t pc = 0; pc < k; pc += kKc) {
      const index_t kb = std::min(kKc, k - pc);
      const float beta_block = pc == 0 ? beta : 1.0f;
      if (pack_b) {
        const index_t groups = group_count(kb * nb * kPackWeight, panels);
        const index_t per = ceil_div(panels, groups);
        run_items(ceil_div(panels, per), parallel, [&](index_t g) {
          pack_b_panels(b_packed, b, b_rs, b_cs, pc, kb, jc, nb, nr, g * per,
                        std::min(panels, (g + 1) * per), kern.transpose16);
        });
      }
      for (index_t ic = 0; ic < m; ic += m_chunk) {
        const index_t mb = std::min(m_chunk, m - ic);
        if (pack_a) pack_a_blocks(kern, a_packed, a, a_rs, a_cs, ic, mb, pc, pc + kb, parallel);
        // Work items: row groups of up to kMc rows × column groups of whole NR panels.
        const index_t rows_per = std::min(m_group, round_up(mb, mr));
        const index_t row_groups = ceil_div(mb, rows_per);
        const index_t want = group_count(mb * nb * kb, kMaxItems);
        const index_t col_groups =
            std::min(panels, std::max<index_t>(1, ceil_div(want, row_groups)));
        const index_t panels_per = ceil_div(panels, col_groups);
        const index_t cg = ceil_div(panels, panels_per);
        run_items(row_groups * cg, parallel, [&](index_t item) {
          const index_t i_begin = (item / cg) * rows_per;
          const index_t i_end = std::min(mb, i_begin + rows_per);
          const index_t jp_begin = (item % cg) * panels_per;
          const index_t jp_end = std::min(panels, jp_begin + panels_per);
          for (index_t jp = jp_begin; jp < jp_end; ++jp) {
            const index_t j = jp * nr, cols = std::min(nr, nb - j);
            const float* b_panel = pack_b ? b_packed + j * kb : b + pc * n + jc + j;
            const index_t b_ps = pack_b ? nr : n;
            const index_t nv = ceil_div(cols, kern.vec);
            for (index_t i = i_begin; i < i_end; i += mr) {
              const index_t rows = std::min(mr, i_end - i);
              const float* a_panel = pack_a ? a_packed + i * kb : a + (ic + i) + pc * m;
              const index_t a_ps = pack_a ? mr : m;
              if (beta_block != 0.0f) prefetch_c_tile(c + (ic + i) * n + jc + j, n, rows, cols);
              kern.micro[rows - 1][nv - 1](kb, a_panel, a_ps, b_panel, b_ps,
                                           c + (ic + i) * n + jc + j, n, cols, alpha, beta_block);
            }
          }
        });
      }
    }
  }
}

// The blocked product for few rows (op(A) packed whole, every depth block, fits in L2) and op(B)
// not transposed (see the file's header): work items are groups of column panels over all rows,
// and each item packs its own panels of op(B) one at a time into a per-thread KC×NR buffer, just
// before multiplying them, so each panel is still in L1 when the micro-kernel reads it (the blocked
// path packs a whole KC×NC block first). The product takes two parallel regions (op(A)'s packing,
// the items) instead of three per depth block. The sums are the blocked path's (the same depth
// blocks, kernels and order): the same bits.
void gemm_panels(const Kernels& kern, float* c, const float* a, const float* b, index_t m,
                 index_t n, index_t k, bool trans_a, bool trans_b, float alpha, float beta,
                 bool parallel) {
  const index_t mr = kern.mr, nr = kern.nr();
  const Operands op(kern, m, n, k, trans_a, trans_b);
  const index_t m_round = round_up(m, mr);
  float* a_packed = op.pack_a ? scratch(tls_a_pack, m_round * k) : nullptr;
  if (op.pack_a) pack_a_blocks(kern, a_packed, a, op.a_rs, op.a_cs, 0, m, 0, k, parallel);

  const index_t panels = ceil_div(n, nr);
  const index_t groups = std::min(panels, group_count(m * n * k, kMaxItems));
  const index_t per = ceil_div(panels, groups);
  run_items(ceil_div(panels, per), parallel, [&](index_t g) {
    const index_t jp_begin = g * per, jp_end = std::min(panels, jp_begin + per);
    float* b_panel = op.pack_b ? scratch(tls_b_panel, nr * std::min(kKc, k)) : nullptr;
    for (index_t pc = 0; pc < k; pc += kKc) {
      const index_t kb = std::min(kKc, k - pc);
      const float beta_block = pc == 0 ? beta : 1.0f;
      for (index_t jp = jp_begin; jp < jp_end; ++jp) {
        const index_t j = jp * nr, cols = std::min(nr, n - j);
        const float* b_source;
        index_t b_ps;
        if (op.pack_b) {
          pack_b_panels(b_panel, b, op.b_rs, op.b_cs, pc, kb, j, cols, nr, 0, 1, kern.transpose16);
          b_source = b_panel;
          b_ps = nr;
        } else {
          b_source = b + pc * n + j;
          b_ps = n;
        }
        const index_t nv = ceil_div(cols, kern.vec);
        for (index_t i = 0; i < m; i += mr) {
          const index_t rows = std::min(mr, m - i);
          if (beta_block != 0.0f) prefetch_c_tile(c + i * n + j, n, rows, cols);
          const float* a_panel = op.pack_a ? a_packed + pc * m_round + i * kb : a + i + pc * m;
          kern.micro[rows - 1][nv - 1](kb, a_panel, op.pack_a ? mr : m, b_source, b_ps,
                                       c + i * n + j, n, cols, alpha, beta_block);
        }
      }
    }
  });
}

void gemm_run(float* c, const float* a, const float* b, index_t m, index_t n, index_t k,
              bool trans_a, bool trans_b, float alpha, float beta, bool parallel) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {  // as BLAS: A and B are not read
    scale_c(c, m, n, beta);
    return;
  }
  const Kernels& kern = kernels();
  if (!trans_a && trans_b && std::min(m, n) <= kDotMaxSide) {
    gemm_dot(kern, c, a, b, m, n, k, alpha, beta, parallel);
  } else if (!trans_b && round_up(m, kern.mr) * k <= kPanelsMaxA) {
    gemm_panels(kern, c, a, b, m, n, k, trans_a, trans_b, alpha, beta, parallel);
  } else {
    gemm_blocked(kern, c, a, b, m, n, k, trans_a, trans_b, alpha, beta, parallel);
  }
}

}  // namespace

void gemm_serial(float* c, const float* a, const float* b, index_t m, index_t n, index_t k,
                 bool trans_a, bool trans_b, float alpha, float beta) {
  gemm_run(c, a, b, m, n, k, trans_a, trans_b, alpha, beta, false);
}

void gemm(float* c, const float* a, const float* b, index_t m, index_t n, index_t k, bool trans_a,
          bool trans_b, float alpha, float beta) {
  gemm_run(c, a, b, m, n, k, trans_a, trans_b, alpha, beta, true);
}

void gemm_batched(float* c, const float* a, const float* b, index_t batch, index_t m, index_t n,
                  index_t k, bool trans_a, bool trans_b, index_t stride_a, index_t stride_b,
                  index_t stride_c, float alpha, float beta) {
  if (batch <= 0 || m <= 0 || n <= 0) return;
  const index_t item_work = m * n * std::max<index_t>(k, 1);
  if (batch > 1 && item_work < kItemWork) {
    // Many small products: whole items per thread, about kItemWork multiply-adds per chunk.
    parallel_for(batch, std::max<index_t>(1, kItemWork / item_work), [&](index_t begin, index_t end) {
      for (index_t i = begin; i < end; ++i) {
        gemm_run(c + i * stride_c, a + i * stride_a, b + i * stride_b, m, n, k, trans_a, trans_b,
                 alpha, beta, false);
      }
    });
    return;
  }
  for (index_t i = 0; i < batch; ++i) {
    gemm_run(c + i * stride_c, a + i * stride_a, b + i * stride_b, m, n, k, trans_a, trans_b, alpha,
             beta, true);
  }
}

const char* gemm_isa() { return kernels().name; }

}  // namespace napinet::kernels
