// CPU side of the strided elementwise family (see elementwise.h): one 1-D loop per op, templated so
// the op's formula (op_math.h) is inlined and the contiguous / broadcast-scalar runs vectorise, and
// one multi-index walk (walk_strided) that feeds it runs of the innermost dimension.
#include "elementwise.h"

#include <array>
#include <utility>

#include "parallel.h"

namespace napinet::kernels {
namespace {

// Elements per parallel chunk: a chunk is at least a few tens of microseconds of work.
constexpr index_t kElementGrain = 1 << 15;

template <bool kAccumulate>
inline void store(float* out, float value) {
  if constexpr (kAccumulate) {
    *out += value;
  } else {
    *out = value;
  }
}

// ---- 1-D runs: `count` elements, operand k at pointer p_k stepping by s_k ----------------------

template <UnaryOp kOp, bool kAccumulate>
NAPINET_VECTORIZED void unary_run(float* o, index_t os, const float* x, index_t xs, index_t count,
                                  float alpha, float beta) {
  if (os == 1 && xs == 1) {
    for (index_t i = 0; i < count; ++i) store<kAccumulate>(o + i, apply_unary(kOp, x[i], alpha, beta));
  } else if (os == 1 && xs == 0) {
    const float v = apply_unary(kOp, x[0], alpha, beta);
    for (index_t i = 0; i < count; ++i) store<kAccumulate>(o + i, v);
  } else {
    for (index_t i = 0; i < count; ++i) {
      store<kAccumulate>(o + i * os, apply_unary(kOp, x[i * xs], alpha, beta));
    }
  }
}

template <BinaryOp kOp, bool kAccumulate>
NAPINET_VECTORIZED void binary_run(float* o, index_t os, const float* a, index_t as,
                                   const float* b, index_t bs, index_t count, float alpha,
                                   float beta) {
  if (os == 1 && as == 1 && bs == 1) {
    for (index_t i = 0; i < count; ++i) {
      store<kAccumulate>(o + i, apply_binary(kOp, a[i], b[i], alpha, beta));
    }
  } else if (os == 1 && as == 1 && bs == 0) {
    const float bv = b[0];
    for (index_t i = 0; i < count; ++i) {
      store<kAccumulate>(o + i, apply_binary(kOp, a[i], bv, alpha, beta));
    }
  } else if (os == 1 && as == 0 && bs == 1) {
    const float av = a[0];
    for (index_t i = 0; i < count; ++i) {
      store<kAccumulate>(o + i, apply_binary(kOp, av, b[i], alpha, beta));
    }
  } else {
    for (index_t i = 0; i < count; ++i) {
      store<kAccumulate>(o + i * os, apply_binary(kOp, a[i * as], b[i * bs], alpha, beta));
    }
  }
}

template <TernaryOp kOp, bool kAccumulate>
NAPINET_VECTORIZED void ternary_run(float* o, index_t os, const float* a, index_t as,
                                    const float* b, index_t bs, const float* c, index_t cs,
                                    index_t count) {
  if (os == 1 && as == 1 && bs == 1 && cs == 1) {
    for (index_t i = 0; i < count; ++i) store<kAccumulate>(o + i, apply_ternary(kOp, a[i], b[i], c[i]));
  } else {
    for (index_t i = 0; i < count; ++i) {
      store<kAccumulate>(o + i * os, apply_ternary(kOp, a[i * as], b[i * bs], c[i * cs]));
    }
  }
}

// ---- dispatch tables: [accumulate][op] -----------------------------------------------------

using UnaryRun = void (*)(float*, index_t, const float*, index_t, index_t, float, float);
using BinaryRun = void (*)(float*, index_t, const float*, index_t, const float*, index_t, index_t,
                           float, float);
using TernaryRun = void (*)(float*, index_t, const float*, index_t, const float*, index_t,
                            const float*, index_t, index_t);

template <bool kAcc, int... I>
constexpr std::array<UnaryRun, sizeof...(I)> unary_runs(std::integer_sequence<int, I...>) {
  return {&unary_run<static_cast<UnaryOp>(I), kAcc>...};
}
template <bool kAcc, int... I>
constexpr std::array<BinaryRun, sizeof...(I)> binary_runs(std::integer_sequence<int, I...>) {
  return {&binary_run<static_cast<BinaryOp>(I), kAcc>...};
}
template <bool kAcc, int... I>
constexpr std::array<TernaryRun, sizeof...(I)> ternary_runs(std::integer_sequence<int, I...>) {
  return {&ternary_run<static_cast<TernaryOp>(I), kAcc>...};
}

UnaryRun unary_run_for(UnaryOp op, bool accumulate) {
  using Seq = std::make_integer_sequence<int, static_cast<int>(UnaryOp::kCount)>;
  static const auto plain = unary_runs<false>(Seq{});
  static const auto acc = unary_runs<true>(Seq{});
  return (accumulate ? acc : plain)[static_cast<int>(op)];
}
BinaryRun binary_run_for(BinaryOp op, bool accumulate) {
  using Seq = std::make_integer_sequence<int, static_cast<int>(BinaryOp::kCount)>;
  static const auto plain = binary_runs<false>(Seq{});
  static const auto acc = binary_runs<true>(Seq{});
  return (accumulate ? acc : plain)[static_cast<int>(op)];
}
TernaryRun ternary_run_for(TernaryOp op, bool accumulate) {
  using Seq = std::make_integer_sequence<int, static_cast<int>(TernaryOp::kCount)>;
  static const auto plain = ternary_runs<false>(Seq{});
  static const auto acc = ternary_runs<true>(Seq{});
  return (accumulate ? acc : plain)[static_cast<int>(op)];
}

// Operand k + 1's base pointer: the tensor, or the scalar held in scalars[k] (read with stride 0).
template <int kInputs>
void input_pointers(const ElementInput* const (&inputs)[kInputs], float (&scalars)[kInputs],
                    const float* (&pointers)[kInputs]) {
  for (int k = 0; k < kInputs; ++k) {
    scalars[k] = inputs[k]->scalar;
    pointers[k] = inputs[k]->data != nullptr ? inputs[k]->data : &scalars[k];
  }
}

// Runs run(offsets, inner, count) over every element of a prepared layout, in parallel chunks.
template <class Run>
void for_each_run(const StridedLayout& l, const Run& run) {
  const index_t n = element_count(l);
  if (n == 0) return;
  parallel_for(n, kElementGrain, [&](index_t begin, index_t end) { walk_strided(l, begin, end, run); });
}

}  // namespace

void unary(float* out, const ElementInput& x, const StridedLayout& layout, UnaryOp op, float alpha,
           float beta, bool accumulate) {
  const ElementInput* const inputs[1] = {&x};
  float scalars[1];
  const float* p[1];
  input_pointers<1>(inputs, scalars, p);
  const StridedLayout l = launch_layout(layout, inputs, 1);
  const UnaryRun run = unary_run_for(op, accumulate);
  for_each_run(l, [&](const index_t* off, const index_t* s, index_t count) {
    run(out + off[0], s[0], p[0] + off[1], s[1], count, alpha, beta);
  });
}

void binary(float* out, const ElementInput& a, const ElementInput& b, const StridedLayout& layout,
            BinaryOp op, float alpha, float beta, bool accumulate) {
  const ElementInput* const inputs[2] = {&a, &b};
  float scalars[2];
  const float* p[2];
  input_pointers<2>(inputs, scalars, p);
  const StridedLayout l = launch_layout(layout, inputs, 2);
  const BinaryRun run = binary_run_for(op, accumulate);
  for_each_run(l, [&](const index_t* off, const index_t* s, index_t count) {
    run(out + off[0], s[0], p[0] + off[1], s[1], p[1] + off[2], s[2], count, alpha, beta);
  });
}

void ternary(float* out, const ElementInput& a, const ElementInput& b, const ElementInput& c,
             const StridedLayout& layout, TernaryOp op, bool accumulate) {
  const ElementInput* const inputs[3] = {&a, &b, &c};
  float scalars[3];
  const float* p[3];
  input_pointers<3>(inputs, scalars, p);
  const StridedLayout l = launch_layout(layout, inputs, 3);
  const TernaryRun run = ternary_run_for(op, accumulate);
  for_each_run(l, [&](const index_t* off, const index_t* s, index_t count) {
    run(out + off[0], s[0], p[0] + off[1], s[1], p[1] + off[2], s[2], p[2] + off[3], s[3], count);
  });
}

}  // namespace napinet::kernels
