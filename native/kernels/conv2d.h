// 2-D convolution, forward and backward, float32 NCHW. Mirrors torch.nn.functional.conv2d with
// groups=1 and dilation=1 (any kernel size, separate stride and zero padding per axis, optional
// bias); the backward pair gives what autograd gives for input, weight and bias.
// Test: test/conv2d.test.ts (fixtures from scripts/fixtures/conv2d.py)
//
// Three algorithms compute the same thing and pass the same parity tests:
//   direct  an implicit GEMM on a per-sample copy of the input split into stride phases, so every
//           tap is a constant shift of one flat buffer; register-blocked micro-kernels, no im2col
//           matrix (fastest for few channels, e.g. the seed network's 1→8 channels, 5×5).
//   im2col  the classic lowering: an im2col (or col2im) tile per sample and kernels::gemm_serial.
//   Winograd F(2×2, 3×3) (conv2d_winograd.h), for 3×3 kernels with stride 1 and many channels:
//           kAuto (or asked for), for the forward pass, the input gradient and the weight
//           gradient (use_winograd in conv2d.cpp).
// kAuto picks one from the shape and pass (conv2d_auto_algorithm); a backward pass with dx takes
// dx and dW each by its own (conv2d.cpp backward_plan: e.g. the channels-in-lanes dx below with
// Winograd's dW, dW then with the same bits as without dx). The direct pass's dx is, for stride 1,
// at least 16 output channels and a small input plane (where the direct pass's full correlation
// would compute over 1.3× as many positions), a GEMM over rows as wide as the padded input and a
// col2im of whole rows (gemm_dx_sample in conv2d.cpp), sample by sample right after the direct
// pass has summed that sample's dW, db (so dy is read from memory once).
// With AVX-512 the direct backward pass computes dW (from 32 taps on) as an outer-product GEMM with
// the output channels in the lanes over the output plane's own positions, and kAuto's dx, for
// stride 1, no padding, whole vectors of input channels and small planes, as a GEMM per tap with
// the input channels in the lanes whose blocks are added into a transposed dx at the tap's shift
// (conv2d_direct.inc, dx_method): neither computes the wide rows' junk columns. Work is split over the batch in chunks
// whose boundaries depend only on the shape; weight and bias gradients are per-chunk partial sums
// added in chunk order, so the results are bit-identical for any thread count.
// NaN and inf: the forward pass multiplies zero padding by the weights (0·NaN = NaN, as PyTorch's
// native CPU path; its oneDNN path skips padded taps). A backward pass whose direct computation
// meets a NaN or inf is redone with im2col (conv2d.cpp, direct_backward), so NaN and inf reach
// exactly the gradients whose terms hold them.
#pragma once

#include <cstdint>

#include "common.h"

namespace napinet::kernels {

// kWinograd (conv2d_winograd.h: 3×3, stride 1): chosen by kAuto on large enough batches, or asked
// for (the direct pass where it does not apply: other kernels or strides, or dx with padding over
// 2); in a backward pass it means the input gradient and the weight gradient (and the bias
// gradient) by Winograd, with or without dx.
enum class Conv2dAlgorithm : int { kAuto = 0, kDirect = 1, kIm2col = 2, kWinograd = 3 };

// Output size along one axis: (in + 2·pad − kernel) / stride + 1 (the caller ensures
// in + 2·pad ≥ kernel, stride ≥ 1, pad ≥ 0).
inline index_t conv2d_output_size(index_t in, index_t kernel, index_t stride, index_t pad) {
  return (in + 2 * pad - kernel) / stride + 1;
}

// y = conv2d(x, w) + b. OH = (H + 2·pad_h − kh)/stride_h + 1, OW likewise.
void conv2d_forward(float* y,        // (N,K,OH,OW)
                    const float* x,  // (N,C,H,W)
                    const float* w,  // (K,C,kh,kw)
                    const float* b,  // (K) or nullptr: no bias
                    index_t N, index_t C, index_t H, index_t W, index_t K, index_t kh, index_t kw,
                    index_t stride_h, index_t stride_w, index_t pad_h, index_t pad_w,
                    Conv2dAlgorithm algorithm = Conv2dAlgorithm::kAuto);

// Gradients of conv2d_forward given dy. dx (when non-null) is overwritten; nullptr skips the input
// gradient (a first layer needs none). dw and db (when non-null) are overwritten, or added into
// when `accumulate` (PyTorch's .grad accumulation: grad = grad + new).
void conv2d_backward(float* dx,        // (N,C,H,W) or nullptr
                     float* dw,        // (K,C,kh,kw)
                     float* db,        // (K) or nullptr
                     const float* dy,  // (N,K,OH,OW)
                     const float* x,   // (N,C,H,W)
                     const float* w,   // (K,C,kh,kw)
                     index_t N, index_t C, index_t H, index_t W, index_t K, index_t kh, index_t kw,
                     index_t stride_h, index_t stride_w, index_t pad_h, index_t pad_w,
                     bool accumulate, Conv2dAlgorithm algorithm = Conv2dAlgorithm::kAuto);

// Convolution, then 2×2 max-pooling with stride 2 (then a ReLU when `relu`) in one pass: what
// the layers' execution plan runs for Conv2d → MaxPool2d(2) (→ ReLU) on the CPU (see
// lib/nn/sequential.ts). y, indices (N,K,OH/2,OW/2); indices as max_pool2d_forward's (h·OW + w of
// each window's argmax within the convolution's output plane). Bit-identical to conv2d_forward,
// max_pool2d_forward (kernel 2, stride 2) and relu_forward in turn (where kAuto takes Winograd,
// by running them in turn). Needs OH, OW ≥ 2.
// Test: test/conv2d_pool.test.ts
void conv2d_max_pool2d_forward(float* y,                // (N,K,OH/2,OW/2)
                               std::int32_t* indices,   // (N,K,OH/2,OW/2)
                               const float* x,          // (N,C,H,W)
                               const float* w,          // (K,C,kh,kw)
                               const float* b,          // (K) or nullptr
                               index_t N, index_t C, index_t H, index_t W, index_t K, index_t kh,
                               index_t kw, index_t stride_h, index_t stride_w, index_t pad_h,
                               index_t pad_w, bool relu);

// Gradients of conv2d_max_pool2d_forward given dy, its output's gradient. y is its output when it
// ran with relu (the ReLU's mask), else nullptr. dx, dw, db as conv2d_backward. Bit-identical to
// relu_backward, max_pool2d_backward and conv2d_backward (kAuto) in turn.
// `indices` must hold each window's argmax (conv2d_max_pool2d_indices_valid).
void conv2d_max_pool2d_backward(float* dx,                    // (N,C,H,W) or nullptr
                                float* dw,                    // (K,C,kh,kw)
                                float* db,                    // (K) or nullptr
                                const float* dy,              // (N,K,OH/2,OW/2)
                                const std::int32_t* indices,  // (N,K,OH/2,OW/2)
                                const float* y,               // (N,K,OH/2,OW/2) or nullptr
                                const float* x,               // (N,C,H,W)
                                const float* w,               // (K,C,kh,kw)
                                index_t N, index_t C, index_t H, index_t W, index_t K, index_t kh,
                                index_t kw, index_t stride_h, index_t stride_w, index_t pad_h,
                                index_t pad_w, bool accumulate);

// Whether every index of `planes` planes of (OH/2, OW/2) pooled positions points into its own 2×2
// window of an OH×OW plane.
bool conv2d_max_pool2d_indices_valid(const std::int32_t* indices, index_t planes, index_t oh,
                                     index_t ow);

// A per-sample callback for layers fused with the convolution (conv2d_batchnorm.cpp):
// fn(ctx, n, planes) on sample n's K planes of OH×OW values.
struct Conv2dSampleHook {
  void (*fn)(const void* ctx, index_t n, float* planes);
  const void* ctx;
};

// conv2d_forward (kAuto), and after_sample(n, y + n·K·OH·OW) for every sample n once its output
// is written, on the thread that wrote it (while it is in cache). y is bit-identical to
// conv2d_forward's. (Where a Winograd pass meets a NaN or inf, the direct pass recomputes y and
// calls after_sample again for every sample: the last call per sample sees the final output.)
void conv2d_forward_then(float* y, const float* x, const float* w, const float* b, index_t N,
                         index_t C, index_t H, index_t W, index_t K, index_t kh, index_t kw,
                         index_t stride_h, index_t stride_w, index_t pad_h, index_t pad_w,
                         const Conv2dSampleHook& after_sample);

// The direct forward pass of samples [begin, end) on the calling thread, each written into `out`
// (K·OH·OW floats, which the next sample overwrites) and then handed to after_sample(n, out) when
// non-null: for a caller that recomputes a cheap convolution's output where it needs it rather than
// storing it (conv2d_batchnorm.cpp). Each sample's output is bit-identical to conv2d_forward's
// (kDirect), the same kernel for the same shape.
void conv2d_direct_forward_samples(float* out, const float* x, const float* w, const float* b,
                                   index_t N, index_t C, index_t H, index_t W, index_t K,
                                   index_t kh, index_t kw, index_t stride_h, index_t stride_w,
                                   index_t pad_h, index_t pad_w, index_t begin, index_t end,
                                   const Conv2dSampleHook* after_sample);

// Whether conv2d_forward (kAuto) takes the direct pass's few-input-channel kernel for this shape
// (a first layer's: at most 4 input channels and 25 taps, at least 16 output channels), so that
// conv2d_direct_forward_samples recomputes exactly its output, at a few multiply-adds per value:
// cheaper than storing the output and reading it back.
bool conv2d_cheap_to_recompute(index_t N, index_t C, index_t H, index_t W, index_t K, index_t kh,
                               index_t kw, index_t stride_h, index_t stride_w, index_t pad_h,
                               index_t pad_w);

// conv2d_backward (kAuto) with dy produced sample by sample: dy_of_sample(n, buffer) writes sample
// n's dy (K,OH,OW) into buffer when the pass reaches it (once per sample). Bit-identical to
// conv2d_backward on the whole dy.
void conv2d_backward_from(float* dx, float* dw, float* db, const Conv2dSampleHook& dy_of_sample,
                          const float* x, const float* w, index_t N, index_t C, index_t H,
                          index_t W, index_t K, index_t kh, index_t kw, index_t stride_h,
                          index_t stride_w, index_t pad_h, index_t pad_w, bool accumulate);

// The instruction set of the direct kernels in use: "avx512", "avx2" or "generic"
// (NAPINET_CONV_ISA=avx2|generic in the environment forces a narrower one).
const char* conv2d_isa();

// Which pass conv2d_auto_algorithm chooses for.
enum class Conv2dPass : int { kForward = 0, kWeightGrad = 1, kAllGrads = 2 };

// The algorithm kAuto runs for this shape and pass (kDirect, kIm2col or kWinograd). kWeightGrad is a
// backward call without dx; kAllGrads one with dx, answered for dx (its dW is kWeightGrad's, but
// the direct pass where that is im2col).
Conv2dAlgorithm conv2d_auto_algorithm(index_t N, index_t C, index_t H, index_t W, index_t K,
                                      index_t kh, index_t kw, index_t stride_h, index_t stride_w,
                                      index_t pad_h, index_t pad_w, Conv2dPass pass);

}  // namespace napinet::kernels
