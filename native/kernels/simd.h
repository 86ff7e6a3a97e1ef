// Vectors of W floats for hand-blocked kernels that are written once over the width W and compiled
// once per instruction set: a kernel template is instantiated inside functions marked
// NAPINET_SIMD_TARGET_AVX512 (W = 16) or NAPINET_SIMD_TARGET_AVX2 (AVX2+FMA, W = 8) and in a
// portable version, and a table of function pointers picks one at run time (see conv2d.cpp).
// Unlike NAPINET_VECTORIZED's clones, each version chooses its own width and register blocking.
//
// With GCC and Clang the vectors are the compilers' vector types (registers of the target's width;
// `acc + a * b` contracts to one fused multiply-add where the target has FMA); other compilers get a
// plain struct with the same operations, left to their optimiser.
#pragma once

#include <cstdint>
#include <cstring>
#include <utility>

#include "common.h"

#if defined(__GNUC__)
#define NAPINET_INLINE __attribute__((always_inline)) inline
#define NAPINET_UNROLL _Pragma("GCC unroll 32")
// In a short copy loop's body: keeps the compiler from turning the loop into a memcpy call, which
// costs more than the copy for the few-vector rows the kernels move.
#define NAPINET_KEEP_LOOP __asm__ volatile("" ::: "memory")
#else
#define NAPINET_KEEP_LOOP
#define NAPINET_INLINE inline
#define NAPINET_UNROLL
#endif

#if defined(__GNUC__) && defined(__has_builtin)
#if __has_builtin(__builtin_shufflevector)
#define NAPINET_HAS_SHUFFLEVECTOR 1
#endif
#endif

#if defined(__x86_64__) && defined(__GNUC__) && defined(__linux__) && !defined(NAPINET_NO_CLONES)
#define NAPINET_ISA_VERSIONS 1
// The sets isa.h's Isa::kAvx512 and Isa::kAvx2 stand for, as compiler target features.
#define NAPINET_AVX512_FEATURES "avx512f,avx512dq,avx512bw,avx512vl,avx2,fma,bmi,bmi2"
#define NAPINET_AVX2_FEATURES "avx2,fma,bmi,bmi2"
#define NAPINET_SIMD_TARGET_AVX512 __attribute__((target(NAPINET_AVX512_FEATURES)))
#define NAPINET_SIMD_TARGET_AVX2 __attribute__((target(NAPINET_AVX2_FEATURES)))
// Every function from NAPINET_TARGET_PUSH(features) to NAPINET_TARGET_POP() is compiled for that
// set: how a kernel file includes its .inc once per instruction set, each in its own namespace.
#define NAPINET_PRAGMA(...) _Pragma(#__VA_ARGS__)
#if defined(__clang__)
#define NAPINET_TARGET_PUSH(features) \
  NAPINET_PRAGMA(clang attribute push(__attribute__((target(features))), apply_to = function))
#define NAPINET_TARGET_POP() NAPINET_PRAGMA(clang attribute pop)
#else
#define NAPINET_TARGET_PUSH(features) \
  NAPINET_PRAGMA(GCC push_options) NAPINET_PRAGMA(GCC target(features))
#define NAPINET_TARGET_POP() NAPINET_PRAGMA(GCC pop_options)
#endif
#include <immintrin.h>
#else
#define NAPINET_ISA_VERSIONS 0
#endif

#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"  // vectors only cross always-inlined helpers: no ABI
#endif

namespace napinet::kernels::simd {

#if defined(__GNUC__)

template <int W>
struct Types {
  typedef float F __attribute__((vector_size(4 * W)));
  typedef std::int32_t I __attribute__((vector_size(4 * W)));
  typedef float FU __attribute__((vector_size(4 * W), aligned(4), may_alias));
  typedef std::int32_t IU __attribute__((vector_size(4 * W), aligned(4), may_alias));
};
template <int W>
using vfloat = typename Types<W>::F;
template <int W>
using vint = typename Types<W>::I;

template <int W>
NAPINET_INLINE vfloat<W> load(const float* p) {
  return *reinterpret_cast<const typename Types<W>::FU*>(p);
}
template <int W>
NAPINET_INLINE void store(float* p, const vfloat<W>& v) {
  *reinterpret_cast<typename Types<W>::FU*>(p) = v;
}
template <int W>
NAPINET_INLINE vint<W> load_int(const std::int32_t* p) {
  return *reinterpret_cast<const typename Types<W>::IU*>(p);
}
template <int W>
NAPINET_INLINE void store_int(std::int32_t* p, const vint<W>& v) {
  *reinterpret_cast<typename Types<W>::IU*>(p) = v;
}
// Every lane x (x − 0 keeps the sign of a zero, unlike x + 0).
template <int W>
NAPINET_INLINE vfloat<W> splat(float x) {
  return x - vfloat<W>{};
}
template <int W>
NAPINET_INLINE vint<W> splat_int(std::int32_t x) {
  return x + vint<W>{};
}
#else
template <typename T, int W>
struct Lanes {
  T lane[W] = {};
  T operator[](int i) const { return lane[i]; }
  T& operator[](int i) { return lane[i]; }
};
template <int W>
using vfloat = Lanes<float, W>;
template <int W>
using vint = Lanes<std::int32_t, W>;

template <int W>
inline vfloat<W> operator+(const vfloat<W>& a, vfloat<W> b) {
  vfloat<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = a.lane[i] + b.lane[i];
  return r;
}
template <int W>
inline vfloat<W> operator-(const vfloat<W>& a, vfloat<W> b) {
  vfloat<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = a.lane[i] - b.lane[i];
  return r;
}
template <int W>
inline vfloat<W> operator*(float a, const vfloat<W>& b) {
  vfloat<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = a * b.lane[i];
  return r;
}
template <int W>
inline vfloat<W> operator*(const vfloat<W>& a, vfloat<W> b) {
  vfloat<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = a.lane[i] * b.lane[i];
  return r;
}
template <int W>
inline vfloat<W>& operator+=(vfloat<W>& a, const vfloat<W>& b) {
  for (int i = 0; i < W; ++i) a.lane[i] += b.lane[i];
  return a;
}
template <int W>
inline vint<W> operator+(const vint<W>& a, vint<W> b) {
  vint<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = a.lane[i] + b.lane[i];
  return r;
}
template <int W>
inline vint<W> operator-(const vint<W>& a, vint<W> b) {
  vint<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = a.lane[i] - b.lane[i];
  return r;
}
template <int W>
inline vint<W> operator|(const vint<W>& a, vint<W> b) {
  vint<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = a.lane[i] | b.lane[i];
  return r;
}
template <int W>
inline vfloat<W> load(const float* p) {
  vfloat<W> r;
  std::memcpy(r.lane, p, sizeof r.lane);
  return r;
}
template <int W>
inline void store(float* p, const vfloat<W>& v) {
  std::memcpy(p, v.lane, sizeof v.lane);
}
template <int W>
inline vint<W> load_int(const std::int32_t* p) {
  vint<W> r;
  std::memcpy(r.lane, p, sizeof r.lane);
  return r;
}
template <int W>
inline void store_int(std::int32_t* p, const vint<W>& v) {
  std::memcpy(p, v.lane, sizeof v.lane);
}
template <int W>
inline vfloat<W> splat(float x) {
  vfloat<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = x;
  return r;
}
template <int W>
inline vint<W> splat_int(std::int32_t x) {
  vint<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = x;
  return r;
}
template <int W>
inline vint<W> greater(const vfloat<W>& a, vfloat<W> b) {
  vint<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = a.lane[i] > b.lane[i] ? -1 : 0;
  return r;
}
template <int W>
inline vint<W> is_nan(const vfloat<W>& a) {
  vint<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = a.lane[i] != a.lane[i] ? -1 : 0;
  return r;
}
template <int W>
inline vfloat<W> select(const vint<W>& mask, const vfloat<W>& a, vfloat<W> b) {
  vfloat<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = mask.lane[i] ? a.lane[i] : b.lane[i];
  return r;
}
template <int W>
inline vint<W> select_int(const vint<W>& mask, vint<W> a, const vint<W>& b) {
  vint<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = mask.lane[i] ? a.lane[i] : b.lane[i];
  return r;
}
template <int W>
inline vint<W> operator&(const vint<W>& a, vint<W> b) {
  vint<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = a.lane[i] & b.lane[i];
  return r;
}
template <int W>
inline vint<W> equal_int(const vint<W>& a, vint<W> b) {
  vint<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = a.lane[i] == b.lane[i] ? -1 : 0;
  return r;
}
template <int W>
inline vint<W> less_int(const vint<W>& a, vint<W> b) {
  vint<W> r;
  for (int i = 0; i < W; ++i) r.lane[i] = a.lane[i] < b.lane[i] ? -1 : 0;
  return r;
}
#endif

#if !defined(NAPINET_HAS_SHUFFLEVECTOR)
// {v[F], v[F], v[F + 1], v[F + 1], …}: W/2 lanes from lane F on, each twice (without
// __builtin_shufflevector). dup_low: the first W/2 lanes (F = 0); dup_high: the last (F = W/2).
template <int F, int W, typename V>
inline V dup_lanes(const V& v) {
  V r = v;
  for (int i = 0; i < W; ++i) r[i] = v[F + i / 2];
  return r;
}
template <int W>
inline vfloat<W> dup_low(const vfloat<W>& v) { return dup_lanes<0, W>(v); }
template <int W>
inline vint<W> dup_low_int(const vint<W>& v) { return dup_lanes<0, W>(v); }
template <int W>
inline vfloat<W> dup_high(const vfloat<W>& v) { return dup_lanes<W / 2, W>(v); }
template <int W>
inline vint<W> dup_high_int(const vint<W>& v) { return dup_lanes<W / 2, W>(v); }
// even = lanes 0, 2, 4, … and odd = lanes 1, 3, 5, … of the 2W floats lo:hi.
template <int W>
inline void deinterleave(const vfloat<W>& lo, vfloat<W> hi, vfloat<W>* even, vfloat<W>* odd) {
  float all[2 * W], e[W], o[W];
  store<W>(all, lo);
  store<W>(all + W, hi);
  for (int i = 0; i < W; ++i) {
    e[i] = all[2 * i];
    o[i] = all[2 * i + 1];
  }
  *even = load<W>(e);
  *odd = load<W>(o);
}
#endif

// The first n < W lanes of a vector from or to memory (the other lanes read as 0, never touched
// in memory): AVX-512's masked instructions here. The copy through a local array that other
// widths take is conv2d_direct.inc's Partial, compiled for each of its targets.
template <int W>
struct Partial;

#if NAPINET_ISA_VERSIONS
template <>
struct Partial<16> {
  NAPINET_SIMD_TARGET_AVX512 static NAPINET_INLINE __mmask16 mask(index_t n) {
    return static_cast<__mmask16>((1u << n) - 1u);
  }
  NAPINET_SIMD_TARGET_AVX512 static NAPINET_INLINE vfloat<16> load(const float* p, index_t n) {
    return _mm512_maskz_loadu_ps(mask(n), p);
  }
  NAPINET_SIMD_TARGET_AVX512 static NAPINET_INLINE void store(float* p, const vfloat<16>& v,
                                                             index_t n) {
    _mm512_mask_storeu_ps(p, mask(n), v);
  }
  NAPINET_SIMD_TARGET_AVX512 static NAPINET_INLINE vint<16> load_int(const std::int32_t* p,
                                                                    index_t n) {
    return (vint<16>)_mm512_maskz_loadu_epi32(mask(n), p);
  }
  NAPINET_SIMD_TARGET_AVX512 static NAPINET_INLINE void store_int(std::int32_t* p,
                                                                 const vint<16>& v, index_t n) {
    _mm512_mask_storeu_epi32(p, mask(n), (__m512i)v);
  }
};
#endif

// The sum of W consecutive floats (W a power of two) in a fixed pairwise order: adjacent pairs,
// then adjacent pairs of those sums, …: ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)).
template <int W>
NAPINET_INLINE float lane_sum(const float* lanes) {
  static_assert(W >= 1 && (W & (W - 1)) == 0, "lane_sum sums a power of two of lanes");
  if constexpr (W == 1) {
    return lanes[0];
  } else {
    float half[W / 2];
    for (int i = 0; i < W / 2; ++i) half[i] = lanes[2 * i] + lanes[2 * i + 1];
    return lane_sum<W / 2>(half);
  }
}

}  // namespace napinet::kernels::simd

#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
