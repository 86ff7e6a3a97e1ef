// The formulas of the elementwise ops and the combining rules of the reductions, written once for
// the CPU kernels (native/kernels/elementwise.cpp, reduce.cpp) and the CUDA kernels
// (cuda/elementwise.cu, reduce.cu). Each op mirrors the PyTorch op named beside it, in float32,
// including its NaN and ±0 behaviour and, for the backward helpers, PyTorch 2.13's autograd formula
// (torch/csrc/autograd/FunctionsManual.cpp, derivatives.yaml).
//
// The op numbers are the enum values; their names (k*OpNames) are what the addon exports, so the
// TypeScript side looks the numbers up by name and never keeps a second copy of them.
// Adding an elementwise op is one formula: an enum value before kCount, its name (camelCase, the
// TypeScript name) in the names array, a case in apply_*; then the name in lib/ops/elementwise.ts's
// union type and its cases in scripts/fixtures/elementwise.py. Both devices pick it up.
// Test: test/elementwise.test.ts, test/reduce.test.ts
#pragma once

#include <cmath>
#include <cstdint>

#include "strided.h"  // NAPINET_HOST_DEVICE

namespace napinet::kernels {

// ---- elementwise ---------------------------------------------------------------------------
// `alpha` and `beta` are the op's scalar parameters (clamp's bounds); other ops ignore them.

enum class UnaryOp : int {
  kCopy,        // x (materialises a view: permute, expand, slice)
  kNeg,         // −x
  kExp,         // torch.exp
  kLog,         // torch.log
  kSqrt,        // torch.sqrt
  kRsqrt,       // torch.rsqrt = 1/√x (−0 → −inf)
  kAbs,         // torch.abs
  kSign,        // torch.sign: −1, 0, 1; NaN → 0 (as PyTorch: (0 < x) − (x < 0))
  kReciprocal,  // torch.reciprocal = 1/x
  kSquare,      // torch.square = x·x
  kClamp,       // torch.clamp(x, min=alpha, max=beta): min(max(x, alpha), beta); NaN stays NaN
  kCount,
};
constexpr const char* kUnaryOpNames[] = {"copy", "neg", "exp", "log", "sqrt", "rsqrt", "abs",
                                         "sign", "reciprocal", "square", "clamp"};
static_assert(sizeof(kUnaryOpNames) / sizeof(kUnaryOpNames[0]) == int(UnaryOp::kCount));

enum class BinaryOp : int {
  kAdd, kSub, kMul, kDiv,  // IEEE float32 (div is true division, as torch.div)
  kPow,                    // torch.pow (powf)
  kMaximum, kMinimum,      // torch.maximum / minimum: NaN on either side gives NaN
  kEq, kNe, kLt, kLe, kGt, kGe,  // comparisons: a float32 mask, 1 where true and 0 where false
  // The gradient of clamp(x, alpha, beta) for x: dy where alpha ≤ x ≤ beta, else 0 (NaN x → 0),
  // as PyTorch's clamp_backward. a = dy, b = x.
  kClampBackward,
  kCount,
};
constexpr const char* kBinaryOpNames[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum",
                                          "eq", "ne", "lt", "le", "gt", "ge", "clampBackward"};
static_assert(sizeof(kBinaryOpNames) / sizeof(kBinaryOpNames[0]) == int(BinaryOp::kCount));

enum class TernaryOp : int {
  // torch.where(a != 0, b, c): a is a float32 mask (non-zero, NaN included, is true).
  kWhere,
  // The gradient of maximum(x, y) for x, with a = dy, b = x, c = y (for y: swap b and c):
  // dy where x > y, dy/2 where x == y (PyTorch splits ties half and half), 0 where x < y; where
  // either is NaN the gradient passes to both (PyTorch's masks are all false there).
  kMaximumBackward,
  kMinimumBackward,  // the same for minimum: dy where x < y, dy/2 on ties, 0 where x > y
  // pow(x, e)'s gradient for x: dy·e·x^(e−1), and 0 where e == 0 (pow_backward_self).
  kPowBackwardBase,
  // pow(x, e)'s gradient for e: dy·x^e·log(x), and 0 where x == 0 and e ≥ 0
  // (pow_backward_exponent). With a scalar x it is the gradient of base ** e.
  kPowBackwardExponent,
  kCount,
};
constexpr const char* kTernaryOpNames[] = {"where", "maximumBackward", "minimumBackward",
                                           "powBackwardBase", "powBackwardExponent"};
static_assert(sizeof(kTernaryOpNames) / sizeof(kTernaryOpNames[0]) == int(TernaryOp::kCount));

NAPINET_HOST_DEVICE float apply_unary(UnaryOp op, float x, float alpha, float beta) {
  switch (op) {
    case UnaryOp::kCopy: return x;
    case UnaryOp::kNeg: return -x;
    case UnaryOp::kExp: return expf(x);
    case UnaryOp::kLog: return logf(x);
    case UnaryOp::kSqrt: return sqrtf(x);
    case UnaryOp::kRsqrt: return 1.0f / sqrtf(x);
    case UnaryOp::kAbs: return fabsf(x);
    case UnaryOp::kSign: return static_cast<float>((0.0f < x) - (x < 0.0f));
    case UnaryOp::kReciprocal: return 1.0f / x;
    case UnaryOp::kSquare: return x * x;
    case UnaryOp::kClamp: return x != x ? x : fminf(fmaxf(x, alpha), beta);
    default: return x;
  }
}

NAPINET_HOST_DEVICE float apply_binary(BinaryOp op, float a, float b, float alpha, float beta) {
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSub: return a - b;
    case BinaryOp::kMul: return a * b;
    case BinaryOp::kDiv: return a / b;
    case BinaryOp::kPow: return powf(a, b);
    case BinaryOp::kMaximum: return (a > b || a != a) ? a : b;
    case BinaryOp::kMinimum: return (a < b || a != a) ? a : b;
    case BinaryOp::kEq: return a == b ? 1.0f : 0.0f;
    case BinaryOp::kNe: return a != b ? 1.0f : 0.0f;
    case BinaryOp::kLt: return a < b ? 1.0f : 0.0f;
    case BinaryOp::kLe: return a <= b ? 1.0f : 0.0f;
    case BinaryOp::kGt: return a > b ? 1.0f : 0.0f;
    case BinaryOp::kGe: return a >= b ? 1.0f : 0.0f;
    case BinaryOp::kClampBackward: return (b >= alpha && b <= beta) ? a : 0.0f;
    default: return a;
  }
}

NAPINET_HOST_DEVICE float apply_ternary(TernaryOp op, float a, float b, float c) {
  switch (op) {
    case TernaryOp::kWhere: return a != 0.0f ? b : c;
    case TernaryOp::kMaximumBackward: return b == c ? a * 0.5f : (b < c ? 0.0f : a);
    case TernaryOp::kMinimumBackward: return b == c ? a * 0.5f : (b > c ? 0.0f : a);
    case TernaryOp::kPowBackwardBase: return c == 0.0f ? 0.0f : a * (c * powf(b, c - 1.0f));
    case TernaryOp::kPowBackwardExponent:
      return (b == 0.0f && c >= 0.0f) ? 0.0f : a * (powf(b, c) * logf(b));
    default: return a;
  }
}

// ---- reductions ----------------------------------------------------------------------------

enum class ReduceOp : int {
  kSum,   // torch.sum (float32 pairwise/tree sums; NaN and ±inf propagate; empty → 0)
  kMean,  // torch.mean = sum / count (empty → NaN)
  kProd,  // torch.prod (same tree as the sum, multiplying; empty → 1)
  kMax,   // torch.max / amax: NaN wins; with indices, the first maximum (or first NaN)
  kMin,   // torch.min / amin, the same rules
  kVar,   // torch.var(correction=c): two passes, mean then Σ(x − mean)² / max(0, count − c)
  kCount,
};
constexpr const char* kReduceOpNames[] = {"sum", "mean", "prod", "max", "min", "var"};
static_assert(sizeof(kReduceOpNames) / sizeof(kReduceOpNames[0]) == int(ReduceOp::kCount));

// A candidate of an arg-reduction: a value and its position in the reduction (0 … count−1).
struct ValueIndex {
  float value;
  std::int64_t index;
};

// Whether `b` beats `a` for max (is_max) or min: NaN beats numbers, and between equal values (or
// two NaNs) the lower index wins. So the winner does not depend on the order candidates meet in:
// every tree or thread split gives PyTorch's answer (the first maximum, or the first NaN).
NAPINET_HOST_DEVICE bool beats(const ValueIndex& b, const ValueIndex& a, bool is_max) {
  const bool a_nan = a.value != a.value, b_nan = b.value != b.value;
  if (a_nan || b_nan) return b_nan && (!a_nan || b.index < a.index);
  if (b.value == a.value) return b.index < a.index;
  return is_max ? b.value > a.value : b.value < a.value;
}

NAPINET_HOST_DEVICE ValueIndex better(const ValueIndex& a, const ValueIndex& b, bool is_max) {
  return beats(b, a, is_max) ? b : a;
}

// Divisor of var: count − correction, at least 0 (so a single value gives NaN, and a correction
// larger than the count gives ±inf, as torch.var).
NAPINET_HOST_DEVICE float var_divisor(std::int64_t count, double correction) {
  const double d = static_cast<double>(count) - correction;
  return static_cast<float>(d > 0.0 ? d : 0.0);
}

}  // namespace napinet::kernels
