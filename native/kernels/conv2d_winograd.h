// Winograd F(2×2, 3×3) convolution for 3×3 kernels with stride 1 (any zero padding): the forward
// pass, the input gradient as a forward pass over dy (a full correlation with the weights turned
// 180° and their channels swapped), and the weight gradient in the transformed domain (see
// conv2d_winograd_weight_grad_chunks). Mirrors torch.nn.functional.conv2d for that shape; the
// algorithm conv2d.cpp's kAuto picks for such layers with many channels (conv2d_auto_algorithm).
//
// Each 2×2 block of outputs ("tile") is computed from the 4×4 input block under it:
//   y_tile = Aᵀ [ Σ_c (G g_kc Gᵀ) ⊙ (Bᵀ d_c B) ] A
// so the 9·C multiply-adds per output of the direct sum become 16·C per 4 outputs (2.25× fewer),
// done as 16 small GEMMs (one per element of the 4×4 transformed tile): M_e (K, tiles) =
// U_e (K, C) · V_e (C, tiles). The transforms cost O((C + K)·tiles) additions.
// Rounding: the transforms add and subtract up to 4 (input), 9 (output) values and scale the
// weights by ½ and ¼, so results differ from the direct sum by a few float32 roundings of the
// terms' size (test/conv2d_winograd.test.ts measures it against PyTorch in float64).
// Every output is the same operations in the same order whatever the batch split and thread count
// (a tile's GEMM sums over c in order, lane by lane), so results are bit-identical for any number
// of threads. Test: test/conv2d_winograd.test.ts
#pragma once

#include "common.h"
#include "conv2d.h"

namespace napinet::kernels {

// Whether the Winograd kernels handle this convolution: a 3×3 kernel, stride 1 (any padding).
inline bool conv2d_winograd_supported(index_t kh, index_t kw, index_t stride_h, index_t stride_w) {
  return kh == 3 && kw == 3 && stride_h == 1 && stride_w == 1;
}

// y = conv2d(x, w, padding) + b for a 3×3 kernel, stride 1; after_sample (when non-null) is called
// for every sample once its output is written, on the thread that wrote it (as
// conv2d_forward_then's). Returns false when some output is NaN or ±inf (and leaves the hook
// uncalled for its block of samples): the transforms spread a non-finite input over whole 4×4
// tiles (and can turn inf into NaN), so the caller recomputes y with the direct sum, whose NaN and
// inf land exactly where PyTorch's do. A NaN or inf in x or w always reaches some output.
bool conv2d_winograd_forward(float* y,        // (N,K,OH,OW)
                             const float* x,  // (N,C,H,W)
                             const float* w,  // (K,C,3,3)
                             const float* b,  // (K) or nullptr
                             index_t N, index_t C, index_t H, index_t W, index_t K, index_t pad_h,
                             index_t pad_w, const Conv2dSampleHook* after_sample);

// Whether conv2d_winograd_input_grad handles this padding: the full correlation pads dy by
// 2 − pad, which must not be negative.
inline bool conv2d_winograd_input_grad_supported(index_t pad_h, index_t pad_w) {
  return pad_h <= 2 && pad_w <= 2;
}

// dx (overwritten) of a 3×3, stride-1 convolution with padding (pad_h, pad_w) ≤ 2 given dy:
// conv2d(dy, w rotated 180° with C and K swapped, padding 2 − pad). Returns false as
// conv2d_winograd_forward does (some dx not finite: recompute it another way).
bool conv2d_winograd_input_grad(float* dx,        // (N,C,H,W)
                                const float* dy,  // (N,K,OH,OW)
                                const float* w,   // (K,C,3,3)
                                index_t N, index_t C, index_t H, index_t W, index_t K,
                                index_t pad_h, index_t pad_w);

// Both gradients at once, where dy comes sample by sample from a hook (a fused layer's dz; see
// conv2d_backward_from): dx as conv2d_winograd_input_grad gives it, and du and db partials as
// conv2d_winograd_weight_grad_chunks writes them for the same grain, bit for bit. Each chunk makes
// its samples' dy a few at a time (dx's block) in a buffer of its thread and uses it for both
// while it is in cache, instead of the whole dy going out to memory and being read back twice.
// dy_of_sample is called once per sample, on the thread that uses it. Returns false when some dx
// is NaN or ±inf (dx then holds no result: recompute it, as for conv2d_winograd_input_grad); the
// caller checks the partials as for conv2d_winograd_weight_grad_chunks.
bool conv2d_winograd_backward_from(float* dx,  // (N,C,H,W)
                                   float* du, float* db, const Conv2dSampleHook& dy_of_sample,
                                   const float* x,  // (N,C,H,W)
                                   const float* w,  // (K,C,3,3)
                                   index_t N, index_t C, index_t H, index_t W, index_t K,
                                   index_t pad_h, index_t pad_w, index_t grain);

// The weight gradient of a 3×3, stride-1 convolution in the Winograd domain:
//   du_e (K, C) = Σ over tiles (A dy_tile Aᵀ)_e · (Bᵀ d_tile B)_e   for the 16 elements e,
//   dw = Gᵀ du G
// (the transpose of the forward pass's y_tile = Aᵀ [Σ_c (G g Gᵀ) ⊙ (Bᵀ d B)] A; dy's 2×2 tiles
// are zero past an odd output size, as the forward's dropped outputs). The batch is split into
// chunks of `grain` samples (chunk = first sample / grain); each chunk writes its partial du
// (conv2d_winograd_weight_grad_partial_size floats, at chunk · that size) and, when db is
// non-null, its bias gradient (K floats at chunk · K), each summed in a fixed order, so the
// caller's reduction in chunk order is the same for any thread count. NaN and inf reach the
// partials; the caller checks them (conv2d.cpp).
index_t conv2d_winograd_weight_grad_partial_size(index_t C, index_t K);
void conv2d_winograd_weight_grad_chunks(float* du, float* db,
                                        const float* dy,  // (N,K,OH,OW)
                                        const float* x,   // (N,C,H,W)
                                        index_t N, index_t C, index_t H, index_t W, index_t K,
                                        index_t pad_h, index_t pad_w, index_t grain);
// dw (K,C,3,3) = Gᵀ du G (or dw + that when accumulating), du the summed partials.
void conv2d_winograd_weight_from_transformed(float* dw, const float* du, index_t C, index_t K,
                                             bool accumulate);

}  // namespace napinet::kernels
