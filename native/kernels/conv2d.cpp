#include "conv2d.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "activation.h"  // Relu: the fused ReLU is relu_forward / relu_backward
#include "conv2d_winograd.h"
#include "gemm.h"
#include "isa.h"
#include "parallel.h"
#include "pool2d.h"  // the fused layer's pool and its gradient where kAuto takes Winograd
#include "simd.h"

#if defined(__GNUC__)
#pragma GCC diagnostic ignored "-Wpsabi"  // vectors only cross always-inlined helpers: no ABI
#endif

namespace napinet::kernels {
namespace {

// ---------------------------------------------------------------------------------------------
// Shape and batch chunking
// ---------------------------------------------------------------------------------------------

struct Shape {
  index_t n, c, h, w, k, kh, kw, sh, sw, ph, pw, oh, ow;
  index_t taps() const { return c * kh * kw; }  // one output's sum length
  index_t out_plane() const { return oh * ow; }
};

Shape make_shape(index_t N, index_t C, index_t H, index_t W, index_t K, index_t kh, index_t kw,
                 index_t sh, index_t sw, index_t ph, index_t pw) {
  return {N,  C,  H,  W,  K,  kh, kw, sh, sw, ph, pw, conv2d_output_size(H, kh, sh, ph),
          conv2d_output_size(W, kw, sw, pw)};
}

// Samples per parallel_for chunk: about kChunkWork multiply-adds each. The grain depends only on
// the shape, so chunk boundaries (and the order of the gradient partial sums) do too.
constexpr index_t kChunkWork = index_t{1} << 20;

index_t batch_grain(const Shape& s) {
  const index_t per_sample = std::max<index_t>(1, s.k * s.taps() * s.out_plane());
  const index_t grain = std::max<index_t>(1, kChunkWork / per_sample);
  index_t power = 1;  // rounded down to a power of two: even chunks for power-of-two batches
  while (power * 2 <= grain) power *= 2;
  return power;
}

// The backward pass keeps one weight-gradient partial per chunk: it takes at most kMaxBackwardChunks
// chunks (so that a chunk's dW pass sums over several samples before its lane reduction, and the
// partials to add up stay few: 16 chunks of 8 samples at batch 128 rather than 26–64 chunks of
// 2–5, 1.1–1.2× faster on the deep network's 10×10 and 12×12 layers), fewer for large weights, so
// that the partials stay within kPartialBudget floats, but at least 8 when the batch allows, to
// keep the threads busy.
constexpr index_t kPartialBudget = index_t{1} << 20;
constexpr index_t kMaxBackwardChunks = 16;

index_t backward_grain(const Shape& s) {
  const index_t max_chunks = std::max<index_t>(
      8, std::min<index_t>(kMaxBackwardChunks, kPartialBudget / (s.k * s.taps() + s.k)));
  return std::max(batch_grain(s), (s.n + max_chunks - 1) / max_chunks);
}

index_t round_up(index_t value, index_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

// First and one-past-last v in [0, count) with 0 ≤ v·stride + shift < limit.
void valid_range(index_t count, index_t stride, index_t shift, index_t limit, index_t* begin,
                 index_t* end) {
  // v·stride + shift ≥ 0  ⇔  v ≥ ceil(−shift / stride);  v·stride + shift < limit ⇔
  // v ≤ floor((limit − 1 − shift) / stride).
  index_t lo = shift >= 0 ? 0 : (-shift + stride - 1) / stride;
  index_t hi = limit - 1 - shift < 0 ? 0 : (limit - 1 - shift) / stride + 1;
  *begin = std::min(lo, count);
  *end = std::max(*begin, std::min(hi, count));
}

// Bias gradient of one sample: db[k] += Σ over the output plane of dy[k] (fixed summation order:
// eight running lanes, then the lanes in order).
NAPINET_VECTORIZED void bias_grad_add(float* db, const float* dy, index_t K, index_t plane) {
  for (index_t k = 0; k < K; ++k) {
    const float* row = dy + k * plane;
    float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    index_t p = 0;
    for (; p + 8 <= plane; p += 8)
      for (int l = 0; l < 8; ++l) lanes[l] += row[p + l];
    for (int l = 0; p < plane; ++p, ++l) lanes[l] += row[p];
    db[k] += ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) +
             ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
  }
}

// Whether none of x[0, n) is NaN or ±inf: the largest exponent field, in one integer pass that
// vectorises.
NAPINET_VECTORIZED bool all_finite(const float* x, index_t n) {
  constexpr std::uint32_t kExponent = 0x7f800000u;  // all ones: inf or NaN
  std::uint32_t largest = 0;
  for (index_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, x + i, sizeof bits);
    largest = std::max(largest, bits & kExponent);
  }
  return largest != kExponent;
}

// all_finite in chunks of 32k values on the pool (the weight-gradient partials checked after each
// backward pass: up to 2.4 MB on the deep network's layers).
bool all_finite_on_pool(const float* x, index_t n) {
  return parallel_all(n, index_t{1} << 15,
                      [&](index_t begin, index_t end) { return all_finite(x + begin, end - begin); });
}

// Float buffers reused across calls on the same thread. A pass's scratch (per chunk: the phase
// planes, the wide dy rows, the input-gradient GEMM's columns; per call: the weight-gradient
// partials; 1–3 MB on the deep network's layers) used to be allocated and freed on every call,
// and glibc handed such blocks back to the kernel on free (heap trim or munmap), so every call
// page-faulted them in again: 5–10% of a convolution's backward pass on one thread. Each thread
// keeps up to kCachedBuffers of the buffers it has released and lends the smallest that fits.
class BufferCache {
 public:
  struct Buffer {
    std::unique_ptr<float[]> data;
    std::size_t capacity = 0;
  };
  static Buffer take(std::size_t count) {
    std::vector<Buffer>& free = list();
    std::size_t best = free.size();
    for (std::size_t i = 0; i < free.size(); ++i)
      if (free[i].capacity >= count && (best == free.size() || free[i].capacity < free[best].capacity))
        best = i;
    if (best == free.size()) return {std::unique_ptr<float[]>(new float[count]), count};
    Buffer buffer = std::move(free[best]);
    free.erase(free.begin() + static_cast<std::ptrdiff_t>(best));
    return buffer;
  }
  static void give(Buffer buffer) {
    if (!buffer.data) return;
    std::vector<Buffer>& free = list();
    if (free.size() == kCachedBuffers) {  // drop the smallest: large buffers cost most to fault in
      std::size_t smallest = 0;
      for (std::size_t i = 1; i < free.size(); ++i)
        if (free[i].capacity < free[smallest].capacity) smallest = i;
      if (free[smallest].capacity >= buffer.capacity) return;
      free.erase(free.begin() + static_cast<std::ptrdiff_t>(smallest));
    }
    free.push_back(std::move(buffer));
  }
  // Constructs this thread's free list now. A thread_local that keeps cached buffers (ReusedZeros)
  // calls this before its own construction: thread_locals are destroyed in reverse order, so the
  // list then outlives it, and the buffers it gives back at thread exit land in a live list.
  static void construct_list() { list(); }

 private:
  static constexpr std::size_t kCachedBuffers = 8;
  static std::vector<Buffer>& list() {
    thread_local std::vector<Buffer> free;
    return free;
  }
};

// A buffer of `count` floats from the cache, returned to it when destroyed.
class CachedFloats {
 public:
  CachedFloats() = default;
  explicit CachedFloats(std::size_t count) : buffer_(BufferCache::take(count)) {}
  CachedFloats(CachedFloats&& other) noexcept : buffer_(std::move(other.buffer_)) {}
  CachedFloats& operator=(CachedFloats&& other) noexcept {
    if (this != &other) {
      BufferCache::give(std::move(buffer_));
      buffer_ = std::move(other.buffer_);
    }
    return *this;
  }
  CachedFloats(const CachedFloats&) = delete;
  CachedFloats& operator=(const CachedFloats&) = delete;
  ~CachedFloats() { BufferCache::give(std::move(buffer_)); }
  float* get() const { return buffer_.data.get(); }

 private:
  BufferCache::Buffer buffer_;
};

// Per-chunk partial sums of a weight (or bias) gradient: `chunks` consecutive blocks of `size`
// floats, left uninitialised here; each chunk zeroes its own block (in parallel) before adding in, or
// writes all of it.
class Partials {
 public:
  Partials(index_t chunks, index_t size)
      : chunks_(chunks), size_(size),
        data_(static_cast<std::size_t>(std::max<index_t>(1, chunks) * size)) {}
  // Chunk c's block, as it was (for a pass that writes all of it) or zeroed.
  float* block(index_t c) { return data_.get() + c * size_; }
  float* zeroed(index_t c) {
    float* b = block(c);
    std::fill(b, b + size_, 0.0f);
    return b;
  }
  index_t chunks() const { return chunks_; }
  index_t size() const { return size_; }
  const float* data() const { return data_.get(); }
  bool finite() const { return all_finite_on_pool(data_.get(), chunks_ * size_); }

 private:
  index_t chunks_, size_;
  CachedFloats data_;
};

// out[i] = Σ_c partials[c·size + i] for i in [begin, end), chunk 0 first, or out[i] + that sum
// when accumulating.
constexpr index_t kReduceBlock = 512;
NAPINET_VECTORIZED void reduce_block(float* NAPINET_RESTRICT out,
                                     const float* NAPINET_RESTRICT partials, index_t chunks,
                                     index_t size, index_t begin, index_t end, bool accumulate) {
  float sum[kReduceBlock];
  const index_t n = end - begin;
  for (index_t i = 0; i < n; ++i) sum[i] = partials[begin + i];
  for (index_t c = 1; c < chunks; ++c) {
    const float* NAPINET_RESTRICT row = partials + c * size + begin;
    for (index_t i = 0; i < n; ++i) sum[i] += row[i];
  }
  for (index_t i = 0; i < n; ++i) out[begin + i] = accumulate ? out[begin + i] + sum[i] : sum[i];
}

// out = Σ partials in chunk order (chunk 0 first), or out += that sum when accumulating; blocks
// of elements on the pool, each element the same sum in the same order for any thread count.
void reduce_partials(float* out, const Partials& partials, bool accumulate) {
  const index_t chunks = partials.chunks(), size = partials.size();
  if (chunks == 0) {  // an empty batch: zero gradients (out + 0 when accumulating)
    for (index_t i = 0; i < size; ++i) out[i] = accumulate ? out[i] + 0.0f : 0.0f;
    return;
  }
  const auto run = [&](index_t begin, index_t end) {
    for (index_t i = begin; i < end; i += kReduceBlock)
      reduce_block(out, partials.data(), chunks, size, i, std::min(end, i + kReduceBlock),
                   accumulate);
  };
  if (size * chunks < (index_t{1} << 15)) {
    run(0, size);
  } else {
    parallel_for(size, kReduceBlock * 8, run);
  }
}

// ---------------------------------------------------------------------------------------------
// Direct algorithm: implicit GEMM over stride phases
// ---------------------------------------------------------------------------------------------
//
// Each sample's input is copied, zero-padded, into sh·sw "phase planes" per channel:
//   phase(c, a, b)[u, v] = xpad[c, u·sh + a, v·sw + b],  each plane hq × wq (hq = ⌈Hp/sh⌉ …).
// Then input row oh·sh + i, column ow·sw + j of channel c is phase(c, i%sh, j%sw)[oh + i/sh,
// ow + j/sw]: with output positions numbered p = oh·wq + ow ("wide" rows of wq ≥ OW, the extra
// columns computed and dropped), every tap t = (c, i, j) reads the flat buffer at p + offset(t).
// So   forward  y[k, p]   = b[k] + Σ_t w[k, t] · xbuf[offset(t) + p]    (a GEMM with shifted rows)
//      dw       dw[k, t]  = Σ_p dy_wide[k, p] · xbuf[offset(t) + p]     (dy_wide zero off-image)
//      dx       dx phase (a, b) of channel c at q = u·wq + v
//                         = Σ_{k, i≡a, j≡b} w[k, c, i, j] · dy_ext[k, q − (i/sh)·wq − j/sw]
// where dy_ext holds dy_wide after `margin` zeros, so dx is the forward micro-kernel again on
// dy_ext with per-phase transposed weights and non-positive shifts (a full correlation).
//
// Fused convolution + 2×2 max-pool (conv2d_max_pool2d_*): the output is split into its four
// pooling phases as well. Output (2u + a, 2v + b) reads input row (2u + a)·sh + i = u·2sh +
// (a·sh + i), so with phase planes of stride 2sh × 2sw every (pooling phase, tap) pair is again a
// constant shift of one flat buffer, over pooled positions p = u·wq + v; the four candidates of a
// window then sit in the same lane of four accumulators and the pool is a lane-wise max. Every
// output is the same sum in the same order as in conv2d_forward (the bias, then one multiply-add
// per tap in tap order), so the pooled values are exactly those of pooling conv2d_forward's output.
// The fused backward pass writes the pooled gradient back at each window's argmax into the same
// wide dy rows that conv2d_backward builds from a dense dy, and shares everything after that.
//
// The per-sample work is written once over the vector width (simd.h) and compiled for AVX-512
// (16 lanes), AVX2+FMA (8) and portably (8), or on AArch64 for NEON (4) and portably (8);
// direct_kernels() picks one set for the running CPU.
// Weight and bias gradients are summed lane-wise (lane l takes the positions p ≡ l modulo the
// width) and the lanes then added in a fixed pairwise order: dw per pass over a few samples (in
// registers), db over the whole chunk (in a small per-chunk buffer).

// Wide rows hold a multiple of the direct kernels' position quantum (DirectKernels::quantum:
// whole vectors, at least 32 positions below 16 lanes), the fused kernel's pooled rows a multiple
// of kPoolQuantum; scratch rows start
// on kAlign-float (64-byte) boundaries; kSlack floats after a buffer absorb a last vector's spill.
constexpr index_t kPoolQuantum = 16;
constexpr index_t kAlign = 16;
constexpr index_t kSlack = 32;

// A float scratch buffer (from the thread's BufferCache) whose data starts on a 64-byte boundary:
// zeroed, or (kUninitialised) left as it was, for buffers the kernels write in full before
// reading (no memset per chunk).
enum ScratchInit { kZeroed, kUninitialised };
class Scratch {
 public:
  Scratch() = default;
  explicit Scratch(index_t n, ScratchInit init = kZeroed)
      : storage_(static_cast<std::size_t>(n + kAlign + kSlack)) {
    const auto address = reinterpret_cast<std::uintptr_t>(storage_.get());
    const std::uintptr_t aligned = (address + 63) & ~std::uintptr_t{63};
    data_ = storage_.get() + (aligned - address) / sizeof(float);
    if (init == kZeroed) std::fill(storage_.get(), storage_.get() + n + kAlign + kSlack, 0.0f);
  }
  float* data() { return data_; }

 private:
  CachedFloats storage_;
  float* data_ = nullptr;
};

// Scratch the backward pass's chunks zero once per thread rather than once per chunk: the phase
// planes and the wide dy rows, whose padding, junk columns and margins no pass writes (only the
// image and the output plane, the same elements every time for a given shape and dy source). A
// thread keeps the last few such buffers, each under a key of everything that decides which
// elements are written (the shape, the dy source, the vector width, the buffer's role and size);
// a buffer is handed out again only for the same key. On the fast network the zeroing was 3–5% of
// each convolution's backward pass.
class ReusedZeros {
 public:
  static float* get(const std::vector<index_t>& key, index_t size) {
    BufferCache::construct_list();
    thread_local ReusedZeros cache;
    for (Entry& e : cache.entries_)
      if (e.key == key) {
        e.last_use = ++cache.clock_;
        return e.buffer.data();
      }
    Entry* victim = &cache.entries_[0];
    for (Entry& e : cache.entries_)
      if (e.last_use < victim->last_use) victim = &e;
    victim->buffer = Scratch(size);  // zeroed
    victim->key = key;
    victim->last_use = ++cache.clock_;
    return victim->buffer.data();
  }

 private:
  struct Entry {
    std::vector<index_t> key;
    Scratch buffer;
    std::uint64_t last_use = 0;
  };
  Entry entries_[6];
  std::uint64_t clock_ = 0;
};

// One sample's phase planes: channel c of the zero-padded input split by strides (sh, sw).
struct PhaseGeometry {
  index_t c, h, w, sh, sw, pad_h, pad_w, hq, wq, plane;
};

struct DirectPlan {
  PhaseGeometry phases;        // stride phases of the convolution (hq × wq planes)
  index_t wq;                  // = phases.wq: the wide row length
  index_t positions;           // wide output positions oh·wq + ow: OH·wq
  index_t positions_r;         // rounded up to the quantum
  index_t x_len;               // per-sample phase buffer, including the tail read by the last block
  index_t margin;              // zeros ahead of each dy_ext row: at least the largest backward shift
  index_t dx_positions_r;      // hq·wq rounded up to the quantum
  index_t dy_len;              // length of one dy_ext row
  std::vector<index_t> x_offsets;  // (C·kh·kw) tap t = (c·kh + i)·kw + j → offset in the buffer
};

DirectPlan make_direct_plan(const Shape& s, index_t quantum) {
  DirectPlan p;
  const index_t hp = s.h + 2 * s.ph, wp = s.w + 2 * s.pw;
  const index_t hq = (hp + s.sh - 1) / s.sh, wq = (wp + s.sw - 1) / s.sw;
  p.phases = {s.c, s.h, s.w, s.sh, s.sw, s.ph, s.pw, hq, wq, hq * wq};
  p.wq = wq;
  p.positions = s.oh * wq;
  p.positions_r = round_up(p.positions, quantum);
  p.x_offsets.resize(static_cast<std::size_t>(s.taps()));
  index_t max_offset = 0;
  for (index_t c = 0; c < s.c; ++c)
    for (index_t i = 0; i < s.kh; ++i)
      for (index_t j = 0; j < s.kw; ++j) {
        const index_t phase = (c * s.sh + i % s.sh) * s.sw + j % s.sw;
        const index_t offset = phase * hq * wq + (i / s.sh) * wq + j / s.sw;
        p.x_offsets[(c * s.kh + i) * s.kw + j] = offset;
        max_offset = std::max(max_offset, offset);
      }
  p.x_len = std::max(s.c * s.sh * s.sw * hq * wq, max_offset + p.positions_r);
  p.margin = round_up(((s.kh - 1) / s.sh) * wq + (s.kw - 1) / s.sw, kAlign);
  p.dx_positions_r = round_up(hq * wq, quantum);
  p.dy_len = round_up(p.margin + p.dx_positions_r, kAlign);  // ≥ margin + positions_r
  return p;
}

// The fused convolution + 2×2 max-pool: phase planes of stride (2sh, 2sw) and the taps' offsets
// for each pooling phase (a, b), numbered q = 2a + b.
struct PoolPlan {
  PhaseGeometry phases;
  index_t pooled_h, pooled_w;      // OH/2 × OW/2
  index_t positions_r;             // pooled_h·wq rounded up to kPoolQuantum
  index_t x_len;
  std::vector<index_t> offsets;    // (C·kh·kw, 4): tap t's offset for phase q at 4t + q
  std::vector<std::int32_t> base;  // (positions_r): 2u·OW + 2v for position u·wq + v, else 0
  std::int32_t corner[4];          // {0, 1, OW, OW + 1}
};

PoolPlan make_pool_plan(const Shape& s) {
  PoolPlan p;
  const index_t sh2 = 2 * s.sh, sw2 = 2 * s.sw;
  const index_t hp = s.h + 2 * s.ph, wp = s.w + 2 * s.pw;
  const index_t hq = (hp + sh2 - 1) / sh2, wq = (wp + sw2 - 1) / sw2;
  p.phases = {s.c, s.h, s.w, sh2, sw2, s.ph, s.pw, hq, wq, hq * wq};
  p.pooled_h = s.oh / 2;
  p.pooled_w = s.ow / 2;
  p.positions_r = round_up(p.pooled_h * wq, kPoolQuantum);
  const index_t taps = s.taps();
  p.offsets.resize(static_cast<std::size_t>(4 * taps));
  index_t max_offset = 0;
  for (index_t a = 0; a < 2; ++a)
    for (index_t b = 0; b < 2; ++b)
      for (index_t c = 0; c < s.c; ++c)
        for (index_t i = 0; i < s.kh; ++i)
          for (index_t j = 0; j < s.kw; ++j) {
            const index_t row = a * s.sh + i, col = b * s.sw + j;
            const index_t phase = (c * sh2 + row % sh2) * sw2 + col % sw2;
            const index_t offset = phase * hq * wq + (row / sh2) * wq + col / sw2;
            p.offsets[4 * ((c * s.kh + i) * s.kw + j) + 2 * a + b] = offset;
            max_offset = std::max(max_offset, offset);
          }
  p.x_len = std::max(s.c * sh2 * sw2 * hq * wq, max_offset + p.positions_r);
  p.base.assign(static_cast<std::size_t>(p.positions_r), 0);
  for (index_t u = 0; u < p.pooled_h; ++u)
    for (index_t v = 0; v < p.pooled_w; ++v)
      p.base[static_cast<std::size_t>(u * wq + v)] = static_cast<std::int32_t>(2 * u * s.ow + 2 * v);
  const auto ow = static_cast<std::int32_t>(s.ow);
  p.corner[0] = 0;
  p.corner[1] = 1;
  p.corner[2] = ow;
  p.corner[3] = ow + 1;
  return p;
}

// Per stride phase (a, b) of dx: its taps (k, i ≡ a, j ≡ b), their shifts into dy_ext and the
// weights as (C, taps).
struct DxPhase {
  index_t a, b, taps;
  std::vector<index_t> offsets;
  std::vector<float> wt;
};

std::vector<DxPhase> make_dx_phases(const float* w, const Shape& s, const DirectPlan& p) {
  std::vector<DxPhase> phases;
  for (index_t a = 0; a < s.sh; ++a)
    for (index_t b = 0; b < s.sw; ++b) {
      DxPhase phase{a, b, 0, {}, {}};
      for (index_t k = 0; k < s.k; ++k)
        for (index_t i = a; i < s.kh; i += s.sh)
          for (index_t j = b; j < s.kw; j += s.sw)
            phase.offsets.push_back(k * p.dy_len + p.margin - (i / s.sh) * p.wq - j / s.sw);
      phase.taps = static_cast<index_t>(phase.offsets.size());
      phase.wt.resize(static_cast<std::size_t>(s.c * phase.taps));
      for (index_t c = 0; c < s.c; ++c) {
        index_t t = 0;
        for (index_t k = 0; k < s.k; ++k)
          for (index_t i = a; i < s.kh; i += s.sh)
            for (index_t j = b; j < s.kw; j += s.sw)
              phase.wt[c * phase.taps + t++] = w[((k * s.c + c) * s.kh + i) * s.kw + j];
      }
      phases.push_back(std::move(phase));
    }
  return phases;
}

// ---------------------------------------------------------------------------------------------
// GEMM input gradient over wide rows (stride 1)
// ---------------------------------------------------------------------------------------------
//
// With stride 1, output (oh, ow) and tap (c, i, j) touch padded-input element (oh + i, ow + j).
// Numbering the output positions by the padded row length, q = oh·wp + ow (wp = W + 2·pw; the
// columns ow ≥ OW of dy_wide are zero), that element sits at q + i·wp + j of the padded plane, so
//   dcol (taps, OH·wp) = wᵀ (taps, K) · dy_wide (K, OH·wp)          (gemm_serial)
//   dx_pad[c] flat [i·wp + j + q] += dcol[(c, i, j), q]             (one contiguous add per tap)
// and dx is the interior of dx_pad. Unlike the direct pass (a full correlation over the whole
// padded plane, rounded up to whole vectors), no multiply-add lands outside the output plane but
// the wp − OW zero columns: for the small planes of a deep network's later layers (10×10, 12×12)
// the direct pass does 1.3–1.6× the work. Every dx element is the same sum in the same order
// (taps in order) whatever the chunking, so the result does not depend on the thread count.
// The direct backward pass calls gemm_dx_sample for each sample after its dW pass, with dy_wide
// copied from its own wide dy rows (the same layout after the margin for stride 1), so dy is read
// from memory once for both gradients, dense or from the fused layer's pooled gradient alike.

constexpr index_t kCol2imBlock = 16;

// dx_pad (C, hp, wp) = Σ over taps of dcol rows, each shifted by its tap's offset, computed row by
// row of dx_pad: row h of channel c takes, for each tap (i, j) in order with 0 ≤ h − i < OH, the
// dcol row's positions (h − i)·wp + w − j for w in [0, wp). Every element is the same sum in the
// same order as adding whole shifted dcol rows tap after tap into a zeroed dx_pad, whose repeated
// misaligned read-modify-writes of overlapping vectors stall on store forwarding (a third of the
// GEMM's time on a 12×12 input): positions with w < j read the previous row's last kw − 1 columns,
// which are the junk columns (zero, as dy_wide's), or the zeros before dcol's first row; they add
// +0 to a sum that starts at +0, which changes nothing.
#if defined(__GNUC__)
// kCol2imBlock floats, read and written unaligned.
typedef float Col2imVector __attribute__((vector_size(4 * kCol2imBlock), aligned(4), may_alias));
#endif

template <index_t CHANNELS>
NAPINET_INLINE void col2im_rows(float* NAPINET_RESTRICT dx_pad, const float* NAPINET_RESTRICT dcol,
                                index_t c0, index_t kh, index_t kw, index_t hp, index_t wp,
                                index_t wide) {
  const index_t oh_count = wide / wp;
  for (index_t h = 0; h < hp; ++h) {
    const index_t i0 = std::max<index_t>(0, h - oh_count + 1), i1 = std::min(kh - 1, h);
    // kCol2imBlock columns at a time, in registers (the last block's extra lanes read on into
    // the next rows or dcol's tail, and are stored over the start of the channel's next rows,
    // written after; not where they would pass the channel's end); CHANNELS channels at once, so
    // that as many chains of additions overlap
    for (index_t w0 = 0; w0 < wp; w0 += kCol2imBlock) {
#if defined(__GNUC__)
      Col2imVector acc[CHANNELS] = {};
      for (index_t i = i0; i <= i1; ++i)
        for (index_t j = 0; j < kw; ++j)
          for (index_t cc = 0; cc < CHANNELS; ++cc)
            acc[cc] += *reinterpret_cast<const Col2imVector*>(
                dcol + (((c0 + cc) * kh + i) * kw + j) * wide + (h - i) * wp - j + w0);
      const index_t valid = std::min(kCol2imBlock, wp - w0);
      for (index_t cc = 0; cc < CHANNELS; ++cc) {
        float* dst = dx_pad + ((c0 + cc) * hp + h) * wp + w0;
        if ((hp - 1 - h) * wp >= kCol2imBlock - valid) {  // the spill lands on this channel's later rows
          *reinterpret_cast<Col2imVector*>(dst) = acc[cc];
        } else {  // near a channel's end: the next channel's first row is written already
          for (index_t w = 0; w < valid; ++w) dst[w] = acc[cc][w];
        }
      }
#else
      float acc[CHANNELS][kCol2imBlock] = {};
      for (index_t i = i0; i <= i1; ++i)
        for (index_t j = 0; j < kw; ++j)
          for (index_t cc = 0; cc < CHANNELS; ++cc) {
            const float* src = dcol + (((c0 + cc) * kh + i) * kw + j) * wide + (h - i) * wp - j + w0;
            for (index_t w = 0; w < kCol2imBlock; ++w) acc[cc][w] += src[w];
          }
      for (index_t cc = 0; cc < CHANNELS; ++cc)
        for (index_t w = 0; w < std::min(kCol2imBlock, wp - w0); ++w)
          dx_pad[((c0 + cc) * hp + h) * wp + w0 + w] = acc[cc][w];
#endif
    }
  }
}

NAPINET_VECTORIZED void col2im_wide(float* NAPINET_RESTRICT dx_pad,
                                    const float* NAPINET_RESTRICT dcol, index_t C, index_t kh,
                                    index_t kw, index_t hp, index_t wp, index_t wide) {
  index_t c = 0;
  for (; c + 4 <= C; c += 4) col2im_rows<4>(dx_pad, dcol, c, kh, kw, hp, wp, wide);
  for (; c < C; ++c) col2im_rows<1>(dx_pad, dcol, c, kh, kw, hp, wp, wide);
}

// Whether kAuto's backward pass with dx computes dx with gemm_dx_sample (the direct pass then
// sums dW, db only and hands each sample's dy rows to it) rather than with the direct pass's full
// correlation: for stride 1 and at least 16 output channels (the GEMM's depth), when the direct
// pass would compute over 1.3× the GEMM's positions. The direct dx computes every position of the
// padded input plane, rounded up to whole vectors (`quantum`), the GEMM every position of OH rows
// as wide as the padded input: 688 against 624 on the deep network's 26×26 input (direct), 144
// against 120 on 12×12 (direct), 112 against 80 on 10×10 (GEMM). Measured on Sapphire Rapids
// (AVX-512, one thread, CPU time, dx + dW): direct 1.22× faster on 32→32 26×26, 1.11× on 32→64
// 12×12, GEMM 1.03× faster on 64→64 10×10. (On Zen 5 with two threads the GEMM had been 1.6–2.3×
// faster than an older direct pass, with rows rounded to 32 positions and 16-accumulator blocks.)
index_t direct_quantum();  // the direct kernels' position quantum (defined with them below)

// How the direct backward pass computes dx: its own full correlation, gemm_dx_sample, or the
// kernels' channels-in-lanes GEMM (conv2d_direct.inc lanes_dx_sample). See dx_method.
enum class DxMethod { kDirect, kGemm, kLanes };

bool use_gemm_dx(Conv2dAlgorithm algorithm, const Shape& s) {
  if (algorithm != Conv2dAlgorithm::kAuto || s.sh != 1 || s.sw != 1 || s.k < 16) return false;
  const index_t wp = s.w + 2 * s.pw;
  const index_t direct = round_up((s.h + 2 * s.ph) * wp, direct_quantum()), gemm = s.oh * wp;
  return 10 * direct > 13 * gemm;
}

// Scratch for gemm_dx_sample, one per chunk.
struct GemmDxScratch {
  explicit GemmDxScratch(const Shape& s)
      : hp(s.h + 2 * s.ph), wp(s.w + 2 * s.pw), wide(s.oh * wp),
        dy_wide(s.k * wide, kUninitialised),
        dcol_front(s.kw - 1),
        dcol_storage(static_cast<std::size_t>(dcol_front + s.taps() * wide + kCol2imBlock)),
        dx_pad(s.ph > 0 || s.pw > 0 ? s.c * hp * wp : 0, kUninitialised) {
    std::fill(dcol_storage.get(), dcol_storage.get() + dcol_front, 0.0f);
  }
  index_t hp, wp, wide;
  Scratch dy_wide;  // (K, wide): the caller fills every row (columns ≥ OW zero)
  // dcol (taps, wide) after kw − 1 zeros, which col2im_wide reads before the first row (and
  // kCol2imBlock floats after it, read into dropped lanes)
  index_t dcol_front;
  CachedFloats dcol_storage;
  float* dcol() { return dcol_storage.get() + dcol_front; }
  Scratch dx_pad;  // (C, hp, wp): col2im_wide's output when padded (else it writes dx itself)
};

// dx of one sample (every element written) from the dy_wide rows in `scratch`.
void gemm_dx_sample(float* dxn, const float* w, const Shape& s, GemmDxScratch& scratch) {
  const index_t hp = scratch.hp, wp = scratch.wp, wide = scratch.wide;
  const bool padded = s.ph > 0 || s.pw > 0;
  gemm_serial(scratch.dcol(), w, scratch.dy_wide.data(), s.taps(), wide, s.k, true, false,
              1.0f, 0.0f);
  col2im_wide(padded ? scratch.dx_pad.data() : dxn, scratch.dcol(), s.c, s.kh, s.kw, hp, wp, wide);
  if (padded)
    for (index_t c = 0; c < s.c; ++c)
      for (index_t h = 0; h < s.h; ++h)
        std::memcpy(dxn + (c * s.h + h) * s.w, scratch.dx_pad.data() + (c * hp + h + s.ph) * wp + s.pw,
                    static_cast<std::size_t>(s.w) * sizeof(float));
}

// Where dy comes from in a backward pass: a dense dy (N,K,OH,OW) (conv2d_backward), or the fused
// layer's pooled gradient (N,K,OH/2,OW/2) with its argmax indices and, when a ReLU ends the layer,
// its output y (the ReLU's mask).
struct DySource {
  const float* dense;
  const float* pooled;
  const std::int32_t* indices;
  const float* relu_y;
  index_t pooled_h, pooled_w;
  const Conv2dSampleHook* dense_of_sample;  // or: each sample's dense dy from this callback
};

// Everything one backward chunk needs besides its scratch.
struct BackwardArgs {
  const Shape* s;
  const DirectPlan* p;
  const DySource* dy;
  const float* x;
  float* dx;  // or null
  const std::vector<DxPhase>* dx_phases;  // direct dx
  const float* gemm_dx_w;                 // dx by gemm_dx_sample with these weights, or null
  const float* lanes_dx_w;  // dx by the kernels' lanes_dx_sample with these (K, kh·kw, C) weights, or null
  bool bias;
  bool weight_grad;  // false: `backward` leaves dw_partial alone (dx, db only: backward_plan)
};

struct ForwardArgs {
  const Shape* s;
  const DirectPlan* p;
  const float* x;
  const float* w;
  const float* bias;  // (K): the accumulators' start (zeros without a bias)
  float* y;
  index_t y_sample_stride;  // floats from one sample's output to the next: K·OH·OW, or 0 (one
                            // buffer every sample overwrites: conv2d_direct_forward_samples)
  const Conv2dSampleHook* after_sample;  // or nullptr
};

struct PoolForwardArgs {
  const Shape* s;
  const PoolPlan* p;
  const float* x;
  const float* w;
  const float* bias;
  float* y;
  std::int32_t* indices;
  bool relu;
};

// The fused forward with the batch in the lanes (conv2d_direct.inc pool_forward_lanes): W samples
// per vector, the input of a group of W samples transposed into xl (C, hp, wp, W), zero-padded.
struct PoolLanesArgs {
  const Shape* s;
  const float* x;
  const float* w;
  const float* bias;
  float* y;
  std::int32_t* indices;
  bool relu;
  index_t hp, wp;                   // the padded input plane
  const index_t* offsets;           // (taps, 4): tap t's offset in xl for pooling phase q, at 4t + q
  const std::int32_t* windows;      // (PH·PW, W): each pooled position's window corner 2u·OW + 2v, W times
  std::int32_t corner[4];           // {0, 1, OW, OW + 1}
};

// dw over a group of samples: dw (rows, taps) += Σ_m Σ_p dy[m·dy_sample + r·dy_stride + p] ·
// x[m·x_sample + offsets[t] + p] over p < positions (a multiple of W), each sum lane-wise in
// registers, then its lanes added in a fixed order. A pass takes the samples of about kDotLength
// positions (at most kMaxDotGroup), so short planes share one reduction.
struct DotArgs {
  index_t dy_stride, dy_sample, x_sample, taps, positions, samples;
  const index_t* offsets;
};
constexpr index_t kDotLength = 2048;
constexpr index_t kMaxDotGroup = 8;

// One instruction set's kernels, each over the samples [begin, end) of a parallel chunk.
struct DirectKernels {
  const char* name;
  index_t lanes;
  index_t quantum;  // wide rows' rounding (make_direct_plan): Direct::kQuantum
  bool lanes_dx;    // whether `backward` has the channels-in-lanes input gradient (Direct::kLanesDx)
  void (*forward)(const ForwardArgs& a, index_t begin, index_t end);
  void (*pool_forward)(const PoolForwardArgs& a, index_t begin, index_t end);
  // over the groups of `lanes` samples [begin, end)
  void (*pool_forward_lanes)(const PoolLanesArgs& a, index_t begin, index_t end);
  // dw_partial (K, taps) and db_partial (K) (when a.bias) = this chunk's gradient sums (dw_partial
  // arrives uninitialised, db_partial zeroed)
  void (*backward)(const BackwardArgs& a, float* dw_partial, float* db_partial, index_t begin,
                   index_t end);
  // the forward pass for few input channels (use_few_channels)
  void (*few_channels_forward)(const ForwardArgs& a, index_t begin, index_t end);
};

// A function compiled on its own: the batch-in-lanes fused forward's block loop, which inlined
// into its caller had its input vectors spilled to the stack (1.5× slower).
#if defined(__GNUC__)
#define NAPINET_NOINLINE __attribute__((noinline))
#elif defined(_MSC_VER)
#define NAPINET_NOINLINE __declspec(noinline)
#else
#define NAPINET_NOINLINE
#endif

namespace direct_portable {
#include "conv2d_direct.inc"
}  // namespace direct_portable

#if NAPINET_ISA_VERSIONS
NAPINET_TARGET_PUSH(NAPINET_AVX2_FEATURES)
namespace direct_avx2 {
#include "conv2d_direct.inc"
}  // namespace direct_avx2
NAPINET_TARGET_POP()
NAPINET_TARGET_PUSH(NAPINET_AVX512_FEATURES)
namespace direct_avx512 {
#include "conv2d_direct.inc"
}  // namespace direct_avx512
NAPINET_TARGET_POP()
#endif

// NEON is part of every AArch64 CPU: its set needs no target of its own nor a run-time check.
#if defined(__aarch64__) && defined(__GNUC__)
#define NAPINET_DIRECT_NEON 1
#else
#define NAPINET_DIRECT_NEON 0
#endif

// The instruction sets: (lanes, quantum, accumulators, gemm rows, dot rows × taps, fused-forward
// rows) per register file.
template <class D>
constexpr DirectKernels make_direct_kernels(const char* name, index_t lanes) {
  return {name,           lanes,           D::kQuantum,
          D::kLanesDx,    &D::forward,     &D::pool_forward,
          &D::pool_forward_lanes, &D::backward, &D::few_channels_forward};
}

const DirectKernels kPortableKernels =
    make_direct_kernels<direct_portable::Direct<8, 32, 8, 4, 4, 2, 2>>("generic", 8);
#if NAPINET_ISA_VERSIONS
const DirectKernels kAvx2Kernels =
    make_direct_kernels<direct_avx2::Direct<8, 32, 8, 4, 4, 2, 2>>("avx2", 8);
// 24 gemm accumulators (8 rows × 3 vectors): 11 loads per 24 multiply-adds rather than 10 per 16
// (forward 1.03–1.08× on the deep network's 26×26 and 10×10 inputs, Sapphire Rapids, one thread).
const DirectKernels kAvx512Kernels =
    make_direct_kernels<direct_avx512::Direct<16, 16, 24, 8, 4, 6, 4>>("avx512", 16);
#endif
#if NAPINET_DIRECT_NEON
// 4-lane q registers, 32 of them: AVX-512's former blocking (16 gemm accumulators, 4×6 dot, 4
// fused rows) at a quarter of its width.
const DirectKernels kNeonKernels =
    make_direct_kernels<direct_portable::Direct<4, 8, 16, 8, 4, 6, 4>>("neon", 4);
#endif

// The kernels for this CPU (isa.h: NAPINET_CONV_ISA=avx2|neon|generic forces a narrower set).
const DirectKernels& direct_kernels() {
  static const DirectKernels& chosen = []() -> const DirectKernels& {
#if NAPINET_ISA_VERSIONS
    switch (runtime_isa("NAPINET_CONV_ISA")) {
      case Isa::kAvx512: return kAvx512Kernels;
      case Isa::kAvx2: return kAvx2Kernels;
      case Isa::kGeneric:
      case Isa::kNeon: break;
    }
#elif NAPINET_DIRECT_NEON
    if (runtime_isa("NAPINET_CONV_ISA") == Isa::kNeon) return kNeonKernels;
#endif
    return kPortableKernels;
  }();
  return chosen;
}

index_t direct_quantum() { return direct_kernels().quantum; }

// How kAuto's backward pass computes dx (kDirect: always the direct correlation). kLanes where the
// kernels have it (AVX-512) for stride 1, no padding, whole vectors of input channels and a
// sample's dy within L1 (the deep network's 12×12 and 10×10 inputs: 1.3–1.5× faster; on 26×26,
// whose dy is 72 KiB, 1.1× slower than the direct pass); else use_gemm_dx's choice.
constexpr index_t kLanesDxMaxDy = 8192;  // floats of one sample's dy: 32 KiB, within L1

DxMethod dx_method(Conv2dAlgorithm algorithm, const Shape& s) {
  if (algorithm == Conv2dAlgorithm::kAuto && direct_kernels().lanes_dx && s.sh == 1 &&
      s.sw == 1 && s.ph == 0 && s.pw == 0 && s.c % direct_kernels().lanes == 0 &&
      s.k * s.out_plane() <= kLanesDxMaxDy) {
    return DxMethod::kLanes;
  }
  return use_gemm_dx(algorithm, s) ? DxMethod::kGemm : DxMethod::kDirect;
}

// Whether the direct forward pass takes the dense-column kernel for few input channels
// (conv2d_direct.inc few_channels_forward): at most kFewChannels input channels and kFewTaps taps
// (a first layer's), and at least kFewMinOutputs output channels. Measured on Sapphire Rapids
// (AVX-512, one thread, CPU time, batch 128, 28×28 input, against the wide-row pass): 1→32 3×3
// 1.3× faster (the deep network's first layer), 2→32 3×3 1.2×, 1→32 5×5 1.1×; slower with fewer
// output channels (1→12 5×5 0.85×, 1→8 3×3 0.8×: the per-sample column copy weighs more) or more
// taps (3→32 3×3 0.95×, 4→32 3×3 0.9×). The backward pass stays on the wide rows (see
// conv2d_direct.inc).
constexpr index_t kFewChannels = 4;
constexpr index_t kFewTaps = 25;
constexpr index_t kFewMinOutputs = 16;

bool use_few_channels(const Shape& s) {
  return s.c <= kFewChannels && s.taps() <= kFewTaps && s.k >= kFewMinOutputs;
}

// The direct forward pass over samples [begin, end) on the calling thread (y_sample_stride as
// ForwardArgs').
void direct_forward_range(float* y, index_t y_sample_stride, const float* x, const float* w,
                          const float* b, const Shape& s, const Conv2dSampleHook* after_sample,
                          index_t begin, index_t end) {
  const bool few_channels = use_few_channels(s);
  DirectPlan p;  // (the few-channel kernel has no use for it)
  if (!few_channels) p = make_direct_plan(s, direct_kernels().quantum);
  std::vector<float> bias(static_cast<std::size_t>(s.k), 0.0f);  // the accumulators' start
  if (b != nullptr) std::copy(b, b + s.k, bias.begin());
  const ForwardArgs args{&s, &p, x, w, bias.data(), y, y_sample_stride, after_sample};
  const DirectKernels& kernels = direct_kernels();
  (few_channels ? kernels.few_channels_forward : kernels.forward)(args, begin, end);
}

void direct_forward(float* y, const float* x, const float* w, const float* b, const Shape& s,
                    const Conv2dSampleHook* after_sample) {
  parallel_chunks(s.n, batch_grain(s), [&](index_t begin, index_t end) {
    direct_forward_range(y, s.k * s.out_plane(), x, w, b, s, after_sample, begin, end);
  });
}

// dw may be null: dx (and db when non-null) alone, the weight gradient skipped (kAuto's plan
// where another algorithm computes dW: backward_plan).
// gemm_dx: dx (when non-null) by gemm_dx_sample, sample by sample right after the chunk's dW
// pass over it (from the same dy rows, still in cache), instead of the direct correlation.
//
// NaN and inf: the direct pass multiplies zeros by values outside each window (the junk columns
// of its wide rows, where dy is 0, meet other rows' x in the weight gradient; the zero-extended dy
// meets every weight in the input gradient). Those products are 0 while x and w are finite, so the
// result is exact; but 0·NaN and 0·inf would put NaN where no term of the convolution has one.
// Hence: a non-finite w is sent to im2col before (direct_backward_exact), and a pass whose weight
// or bias partial sums are not all finite returns false without writing dw or db, so that the
// caller recomputes with im2col, whose products are exactly the convolution's terms (as PyTorch's
// native CPU path). A finite partial sum means no NaN or inf met any product, including the extra
// ones, so finite inputs keep the direct pass at the cost of scanning the small partials.
bool direct_backward(float* dx, float* dw, float* db, const DySource& dy, const float* x,
                     const float* w, const Shape& s, bool accumulate, DxMethod dx_method) {
  const DirectPlan p = make_direct_plan(s, direct_kernels().quantum);
  const bool gemm_dx = dx_method == DxMethod::kGemm;
  std::vector<DxPhase> phases;
  if (dx != nullptr && dx_method == DxMethod::kDirect) phases = make_dx_phases(w, s, p);
  std::vector<float> lanes_w;  // (K, kh·kw, C): w[k, c, i, j] at (k·kh·kw + i·kw + j)·C + c
  if (dx != nullptr && dx_method == DxMethod::kLanes) {
    lanes_w.resize(static_cast<std::size_t>(s.k * s.taps()));
    const index_t spatial = s.kh * s.kw;
    for (index_t k = 0; k < s.k; ++k)
      for (index_t c = 0; c < s.c; ++c)
        for (index_t ij = 0; ij < spatial; ++ij)
          lanes_w[static_cast<std::size_t>((k * spatial + ij) * s.c + c)] = w[(k * s.c + c) * spatial + ij];
  }
  const index_t grain = backward_grain(s);
  const index_t chunks = chunk_count(s.n, grain);
  const index_t dw_size = s.k * s.taps();
  Partials dw_partials(chunks, dw_size), db_partials(chunks, s.k);
  const BackwardArgs args{&s, &p, &dy, x, dx, &phases, dx != nullptr && gemm_dx ? w : nullptr,
                          lanes_w.empty() ? nullptr : lanes_w.data(), db != nullptr,
                          dw != nullptr};
  const DirectKernels& kernels = direct_kernels();
  parallel_chunks(s.n, grain, [&](index_t begin, index_t end) {
    const index_t chunk = begin / grain;
    float* const dw_block = dw_partials.block(chunk);
    float* const db_block = db_partials.zeroed(chunk);
    kernels.backward(args, dw_block, db_block, begin, end);
  });
  if ((dw != nullptr && !dw_partials.finite()) || (db != nullptr && !db_partials.finite()))
    return false;
  if (dw != nullptr) reduce_partials(dw, dw_partials, accumulate);
  if (db != nullptr) reduce_partials(db, db_partials, accumulate);
  return true;
}

// Whether the direct backward pass may run for these weights: its input gradient multiplies every
// weight by the zero-extended dy (see direct_backward), so a NaN or inf weight takes im2col.
bool direct_backward_exact(const float* dx, const float* w, const Shape& s) {
  return dx == nullptr || all_finite(w, s.k * s.taps());
}

// Whether the fused forward puts the batch in the lanes: whole groups of W samples, and an output
// whose pooled rows would leave a fifth or more of the wide rows' lanes idle (pooled rows of wq
// positions, OW/2 of them used, rounded up to whole vectors): the fast network's 12×12 and 28×28
// inputs (25 of 32 and 144 of 176 lanes used). With the batch in the lanes every lane is used and
// every load is aligned, at the cost of transposing the input and the output.
bool use_pool_lanes(const Shape& s, const PoolPlan& p, index_t lanes) {
  const index_t used = p.pooled_h * p.pooled_w;
  return s.n >= lanes && 5 * used <= 4 * round_up(p.pooled_h * p.phases.wq, lanes);
}

void pool_forward(float* y, std::int32_t* indices, const float* x, const float* w, const float* b,
                  const Shape& s, bool relu) {
  const PoolPlan p = make_pool_plan(s);
  std::vector<float> bias(static_cast<std::size_t>(s.k), 0.0f);
  if (b != nullptr) std::copy(b, b + s.k, bias.begin());
  const DirectKernels& kernels = direct_kernels();
  index_t done = 0;  // samples computed with the batch in the lanes
  if (use_pool_lanes(s, p, kernels.lanes)) {
    const index_t lanes = kernels.lanes, hp = s.h + 2 * s.ph, wp = s.w + 2 * s.pw;
    const index_t ph = s.oh / 2, pw = s.ow / 2;
    std::vector<index_t> offsets(static_cast<std::size_t>(4 * s.taps()));
    for (index_t c = 0; c < s.c; ++c)
      for (index_t i = 0; i < s.kh; ++i)
        for (index_t j = 0; j < s.kw; ++j)
          for (index_t a = 0; a < 2; ++a)
            for (index_t bb = 0; bb < 2; ++bb)
              offsets[static_cast<std::size_t>(4 * ((c * s.kh + i) * s.kw + j) + 2 * a + bb)] =
                  ((c * hp + a * s.sh + i) * wp + bb * s.sw + j) * lanes;
    std::vector<std::int32_t> windows(static_cast<std::size_t>(ph * pw * lanes));
    for (index_t u = 0; u < ph; ++u)
      for (index_t v = 0; v < pw; ++v)
        std::fill_n(windows.begin() + (u * pw + v) * lanes, lanes,
                    static_cast<std::int32_t>(2 * u * s.ow + 2 * v));
    const auto ow = static_cast<std::int32_t>(s.ow);
    const PoolLanesArgs args{&s, x, w, bias.data(), y, indices, relu, hp, wp, offsets.data(),
                             windows.data(), {0, 1, ow, ow + 1}};
    const index_t groups = s.n / lanes;
    const index_t grain = std::max<index_t>(1, batch_grain(s) / lanes);
    parallel_chunks(groups, grain, [&](index_t begin, index_t end) {
      kernels.pool_forward_lanes(args, begin, end);
    });
    done = groups * lanes;
  }
  if (done == s.n) return;
  const PoolForwardArgs args{&s, &p, x, w, bias.data(), y, indices, relu};
  parallel_chunks(s.n - done, batch_grain(s), [&](index_t begin, index_t end) {
    kernels.pool_forward(args, done + begin, done + end);
  });
}

// ---------------------------------------------------------------------------------------------
// im2col algorithm: per-sample column tiles and gemm_serial
// ---------------------------------------------------------------------------------------------
//
// col[t, q] = xpad[c, oh·sh + i, ow·sw + j] for tap t = (c, i, j) and output position q = oh·OW + ow,
// built for a tile of consecutive positions so the scratch stays bounded.
//   forward  y[n][:, tile]  = w (K, taps) · col (taps, tile) + b
//   dw      += dy[n][:, tile] (K, tile) · colᵀ
//   dx       col2im(wᵀ (taps, K) · dy[n][:, tile])

// Column tiles of about kColBudget floats (256 KiB: stays in L2 while the GEMM reads it), but at
// least kMinColTile positions so the GEMM rows stay long enough to vectorise.
constexpr index_t kColBudget = index_t{1} << 16;
constexpr index_t kMinColTile = 64;

index_t col_tile(const Shape& s) {
  const index_t tile = std::max(kMinColTile, kColBudget / s.taps());
  return std::min(s.out_plane(), tile);
}

// col (taps, count) for output positions [q0, q0 + count).
void im2col(float* col, const float* x, const Shape& s, index_t q0, index_t count) {
  for (index_t c = 0; c < s.c; ++c)
    for (index_t i = 0; i < s.kh; ++i)
      for (index_t j = 0; j < s.kw; ++j) {
        float* dst = col + ((c * s.kh + i) * s.kw + j) * count;
        index_t v0, v1;
        valid_range(s.ow, s.sw, j - s.pw, s.w, &v0, &v1);
        for (index_t q = q0; q < q0 + count;) {
          const index_t oh = q / s.ow, ow_begin = q % s.ow;
          const index_t ow_end = std::min(s.ow, ow_begin + (q0 + count - q));
          float* out = dst + (q - q0);  // out[ow − ow_begin]
          const index_t row = oh * s.sh + i - s.ph;
          if (row < 0 || row >= s.h) {
            std::fill(out, out + (ow_end - ow_begin), 0.0f);
          } else {
            const float* src = x + (c * s.h + row) * s.w;  // column ow·sw + j − pw
            const index_t a = std::clamp(v0, ow_begin, ow_end), e = std::clamp(v1, a, ow_end);
            std::fill(out, out + (a - ow_begin), 0.0f);
            if (s.sw == 1) {
              std::memcpy(out + (a - ow_begin), src + (a + j - s.pw),
                          static_cast<std::size_t>(e - a) * sizeof(float));
            } else {
              for (index_t ow = a; ow < e; ++ow) out[ow - ow_begin] = src[ow * s.sw + j - s.pw];
            }
            std::fill(out + (e - ow_begin), out + (ow_end - ow_begin), 0.0f);
          }
          q += ow_end - ow_begin;
        }
      }
}

// dx += col2im(col) for output positions [q0, q0 + count).
NAPINET_VECTORIZED void col2im_add(float* dx, const float* col, const Shape& s, index_t q0,
                                   index_t count) {
  for (index_t c = 0; c < s.c; ++c)
    for (index_t i = 0; i < s.kh; ++i)
      for (index_t j = 0; j < s.kw; ++j) {
        const float* src_col = col + ((c * s.kh + i) * s.kw + j) * count;
        index_t v0, v1;
        valid_range(s.ow, s.sw, j - s.pw, s.w, &v0, &v1);
        for (index_t q = q0; q < q0 + count;) {
          const index_t oh = q / s.ow, ow_begin = q % s.ow;
          const index_t ow_end = std::min(s.ow, ow_begin + (q0 + count - q));
          const float* in = src_col + (q - q0);  // in[ow − ow_begin]
          const index_t row = oh * s.sh + i - s.ph;
          if (row >= 0 && row < s.h) {
            float* dst = dx + (c * s.h + row) * s.w;  // column ow·sw + j − pw
            const index_t a = std::clamp(v0, ow_begin, ow_end), e = std::clamp(v1, a, ow_end);
            for (index_t ow = a; ow < e; ++ow) dst[ow * s.sw + j - s.pw] += in[ow - ow_begin];
          }
          q += ow_end - ow_begin;
        }
      }
}

void im2col_forward(float* y, const float* x, const float* w, const float* b, const Shape& s,
                    const Conv2dSampleHook* after_sample) {
  const index_t taps = s.taps(), plane = s.out_plane(), tile = col_tile(s);
  parallel_chunks(s.n, batch_grain(s), [&](index_t begin, index_t end) {
    std::vector<float> col(static_cast<std::size_t>(taps * tile));
    std::vector<float> tmp(tile < plane ? static_cast<std::size_t>(s.k * tile) : 0);
    for (index_t n = begin; n < end; ++n) {
      const float* xn = x + n * s.c * s.h * s.w;
      float* yn = y + n * s.k * plane;
      for (index_t q0 = 0; q0 < plane; q0 += tile) {
        const index_t count = std::min(tile, plane - q0);
        im2col(col.data(), xn, s, q0, count);
        float* out = count == plane ? yn : tmp.data();
        gemm_serial(out, w, col.data(), s.k, count, taps, false, false, 1.0f, 0.0f);
        for (index_t k = 0; k < s.k; ++k) {
          const float bias = b != nullptr ? b[k] : 0.0f;
          const float* src = out + k * count;
          float* dst = yn + k * plane + q0;
          for (index_t q = 0; q < count; ++q) dst[q] = src[q] + bias;
        }
      }
      if (after_sample != nullptr) after_sample->fn(after_sample->ctx, n, yn);
    }
  });
}

void im2col_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, const Shape& s, bool accumulate) {
  const index_t taps = s.taps(), plane = s.out_plane(), tile = col_tile(s);
  const index_t grain = backward_grain(s);
  const index_t chunks = chunk_count(s.n, grain);
  const index_t dw_size = s.k * taps;
  Partials dw_partials(chunks, dw_size), db_partials(chunks, s.k);
  parallel_chunks(s.n, grain, [&](index_t begin, index_t end) {
    const index_t chunk = begin / grain;
    float* dwp = dw_partials.zeroed(chunk);
    float* dbp = db_partials.zeroed(chunk);
    std::vector<float> col(static_cast<std::size_t>(taps * tile));
    std::vector<float> dy_tile(tile < plane ? static_cast<std::size_t>(s.k * tile) : 0);
    for (index_t n = begin; n < end; ++n) {
      const float* xn = x + n * s.c * s.h * s.w;
      const float* dyn = dy + n * s.k * plane;
      float* dxn = dx != nullptr ? dx + n * s.c * s.h * s.w : nullptr;
      if (db != nullptr) bias_grad_add(dbp, dyn, s.k, plane);
      if (dxn != nullptr) std::fill(dxn, dxn + s.c * s.h * s.w, 0.0f);
      for (index_t q0 = 0; q0 < plane; q0 += tile) {
        const index_t count = std::min(tile, plane - q0);
        const float* dyt = dyn;
        if (count < plane) {
          for (index_t k = 0; k < s.k; ++k)
            std::memcpy(dy_tile.data() + k * count, dyn + k * plane + q0,
                        static_cast<std::size_t>(count) * sizeof(float));
          dyt = dy_tile.data();
        }
        if (dw != nullptr) {
          im2col(col.data(), xn, s, q0, count);
          gemm_serial(dwp, dyt, col.data(), s.k, taps, count, false, true, 1.0f, 1.0f);
        }
        if (dxn != nullptr) {
          gemm_serial(col.data(), w, dyt, taps, count, s.k, true, false, 1.0f, 0.0f);
          col2im_add(dxn, col.data(), s, q0, count);
        }
      }
    }
  });
  if (dw != nullptr) reduce_partials(dw, dw_partials, accumulate);
  if (db != nullptr) reduce_partials(db, db_partials, accumulate);
}

// Dense dy (N, K, OH, OW) from the fused layer's pooled gradient: what relu_backward and
// max_pool2d_backward give (each pooled value, masked by the ReLU, at its window's argmax; the
// binding checks that each index lies in its own window). Planes in parallel, in runs that stay in
// L1 between their zeroing and the stores.
CachedFloats dense_dy(const float* dy, const std::int32_t* indices, const float* y, const Shape& s) {
  const index_t pooled = (s.oh / 2) * (s.ow / 2), plane = s.out_plane();
  CachedFloats dense(static_cast<std::size_t>(s.n * s.k * plane));
  float* out = dense.get();
  const index_t run = std::max<index_t>(1, (1 << 12) / plane);  // planes of at most 16 KB
  parallel_for(s.n * s.k, run * 16, [&](index_t begin, index_t end) {
    for (index_t p = begin; p < end; p += run)
      max_pool2d_relu_backward_planes(out + p * plane, dy + p * pooled,
                                      y == nullptr ? nullptr : y + p * pooled, indices + p * pooled,
                                      std::min(run, end - p), pooled, plane);
  });
  return dense;
}

// Whether kAuto takes Winograd (conv2d_winograd.h) for this pass: a 3×3 kernel, stride 1, and
//  - forward (kForward): 32–192 channels in and out, an output plane of 36 to 3,136 (56×56)
//    positions. Measured on Sapphire Rapids (AVX-512, one thread, CPU time; bench/conv-shapes.mjs
//    at batch 128): 1.4× faster than the direct pass on 32→32 channels 26×26, 1.4× on 32→64 12×12,
//    1.6× on 64→64 10×10; elsewhere 1.5× on 64→64 28×28, 1.4× on 128→128 28×28, 1.2× on 32→32
//    56×56 and on 192→192 10×10, 1.1× on 32→32 8×8. Outside that range it was no faster or
//    slower: 16 channels 0.9–1.0× (GEMMs too shallow for the transforms' cost), 256 channels
//    0.5–0.8× (the transformed weights, 4 MB, leave L2), 16→16 on 128×128 0.8× (a sample's
//    transformed tiles leave L2).
//  - the weight gradient alone (kWeightGrad): at least 16 channels in, 8 out, at most 256 each
//    (the per-chunk partials, 16·K·C floats each, stay within 4 MB). Measured as above: 1.4× on
//    32→32 26×26 (8.2–8.3 against 11.2–11.5 ms), 1.4–1.5× on 32→64 12×12, 1.6× on 64→64 10×10,
//    1.1–1.3× on 16→16 26×26, 1.3× on 16→32 28×28, 1.2× on 128→128 14×14, 1.4× on 256→256 10×10,
//    1.3× on 32→32 58×58, 1.6× on 64→64 30×30, 1.05× on 16→8 and 1.5× on 32→8; slower below 16
//    input channels (0.3–0.6× on 1–8: the channels are the vectors' lanes).
//  - dx (kAllGrads; backward_plan pairs it with dW), for the forward pass's shapes (dx pads dy by
//    2 − padding: at most 2) where the channels-in-lanes dx does not apply. Winograd's dx + dW
//    against the direct pass's dx + dW (one read of dy for both): 1.2× on 32→32 26×26 (19.1–19.4
//    against 23.0–23.5 ms), 1.16× on 32→32 58×58, 1.35× on 32→32 26×26 at batch 16; no faster
//    on 128→128 14×14 and 256→256 10×10 (where Winograd's dx has been taken since it was added),
//    0.9× on 16→16 26×26 (its Winograd dx too shallow).
bool use_winograd(index_t C, index_t K, index_t kh, index_t kw, index_t sh, index_t sw, index_t ph,
                  index_t pw, index_t oh, index_t ow, Conv2dPass pass) {
  if (!conv2d_winograd_supported(kh, kw, sh, sw)) return false;
  if (pass == Conv2dPass::kWeightGrad) return C >= 16 && K >= 8 && C <= 256 && K <= 256;
  if (C < 32 || K < 32 || C > 192 || K > 192 || oh * ow < 36 || oh * ow > 56 * 56) return false;
  return pass == Conv2dPass::kForward || conv2d_winograd_input_grad_supported(ph, pw);
}

// Output positions a call (N·OH·OW) from which kAuto takes Winograd (conv2d_auto_algorithm).
constexpr index_t kWinogradMinPositions = 1536;

// Chunks of the Winograd weight gradient: as backward_grain's, at most kMaxBackwardChunks, fewer
// when the partials (16·K·C floats a chunk, 1.8× the direct pass's) pass kWinogradPartialBudget
// floats (64 channels: 4 chunks; adding up 16 partials of 64 K floats each took as long as a
// fifth of the pass), but at least 4.
constexpr index_t kWinogradPartialBudget = index_t{1} << 18;

index_t winograd_weight_grain(const Shape& s) {
  const index_t size = conv2d_winograd_weight_grad_partial_size(s.c, s.k) + s.k;
  const index_t max_chunks = std::max<index_t>(
      4, std::min<index_t>(kMaxBackwardChunks, kWinogradPartialBudget / size));
  return std::max<index_t>(1, (s.n + max_chunks - 1) / max_chunks);
}

// dw and db (when non-null) from the Winograd weight gradient's per-chunk partials, added in
// chunk order; false, writing nothing, when a partial is NaN or ±inf.
bool winograd_weight_from_partials(float* dw, float* db, const Partials& du,
                                   const Partials& db_partials, const Shape& s, bool accumulate) {
  if (!du.finite() || (db != nullptr && !db_partials.finite())) return false;
  std::vector<float> sum(static_cast<std::size_t>(du.size()));
  reduce_partials(sum.data(), du, false);
  conv2d_winograd_weight_from_transformed(dw, sum.data(), s.c, s.k, accumulate);
  if (db != nullptr) reduce_partials(db, db_partials, accumulate);
  return true;
}

// dw and db (when non-null) by the Winograd weight gradient (conv2d_winograd.h): per-chunk
// partials, added in chunk order. Returns false, having written nothing, when a partial is NaN or
// ±inf: the transforms spread a non-finite x or dy over whole tiles (and can turn inf into NaN),
// so the caller recomputes with the direct or im2col pass, whose NaN and inf land where PyTorch's
// do.
bool winograd_weight_grad(float* dw, float* db, const float* dy, const float* x, const Shape& s,
                          bool accumulate) {
  const index_t grain = winograd_weight_grain(s);
  const index_t chunks = chunk_count(s.n, grain);
  Partials du(chunks, conv2d_winograd_weight_grad_partial_size(s.c, s.k)), db_partials(chunks, s.k);
  conv2d_winograd_weight_grad_chunks(du.block(0), db != nullptr ? db_partials.block(0) : nullptr,
                                     dy, x, s.n, s.c, s.h, s.w, s.k, s.ph, s.pw, grain);
  return winograd_weight_from_partials(dw, db, du, db_partials, s, accumulate);
}

// dx, dw and db (when non-null) by Winograd from dy made sample by sample, each sample's dy used
// for both while in cache (conv2d_winograd_backward_from): what the whole dy and backward_dense
// give, bit for bit, where every value is finite. Returns false otherwise, having written dx but
// not dw or db: the caller takes the whole dy's path, which falls back as backward_dense does.
bool winograd_backward_from(float* dx, float* dw, float* db, const Conv2dSampleHook& dy_of_sample,
                            const float* x, const float* w, const Shape& s, bool accumulate) {
  const index_t grain = winograd_weight_grain(s);
  const index_t chunks = chunk_count(s.n, grain);
  Partials du(chunks, conv2d_winograd_weight_grad_partial_size(s.c, s.k)), db_partials(chunks, s.k);
  if (!conv2d_winograd_backward_from(dx, du.block(0),
                                     db != nullptr ? db_partials.block(0) : nullptr, dy_of_sample,
                                     x, w, s.n, s.c, s.h, s.w, s.k, s.ph, s.pw, grain)) {
    return false;
  }
  return winograd_weight_from_partials(dw, db, du, db_partials, s, accumulate);
}

Conv2dAlgorithm resolve(Conv2dAlgorithm algorithm, const Shape& s, Conv2dPass pass) {
  if (algorithm == Conv2dAlgorithm::kWinograd) {  // asked for: where it applies, else direct
    const bool applies = conv2d_winograd_supported(s.kh, s.kw, s.sh, s.sw) &&
                         (pass != Conv2dPass::kAllGrads ||
                          conv2d_winograd_input_grad_supported(s.ph, s.pw));
    return applies ? algorithm : Conv2dAlgorithm::kDirect;
  }
  if (algorithm != Conv2dAlgorithm::kAuto) return algorithm;
  return conv2d_auto_algorithm(s.n, s.c, s.h, s.w, s.k, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, pass);
}

// How a backward pass computes each gradient: dx by the direct pass (its dx_method) or by
// Winograd, dW and db by the direct pass, Winograd or im2col. dx and dW both by the direct pass
// run as one pass, which reads dy once for both; otherwise each runs on its own (the direct pass
// with dw null computes dx alone).
struct BackwardPlan {
  Conv2dAlgorithm dx;  // kDirect or kWinograd; kIm2col with dw (ignored without dx)
  DxMethod dx_method;  // the direct pass's dx (dx == kDirect, or where Winograd's dx declined)
  Conv2dAlgorithm dw;  // kDirect, kWinograd or kIm2col
};

BackwardPlan backward_plan(Conv2dAlgorithm algorithm, const Shape& s, bool with_dx);

// dx (when non-null), dw and db (when non-null) from the whole dy by `plan`, with the fallbacks
// for NaN and inf (see direct_backward, winograd_weight_grad): where Winograd's dx meets one, the
// direct pass computes everything (dx by plan.dx_method); where Winograd's dW does, the direct
// pass computes dx (by Winograd's plan, when not done yet) with dW; im2col where the direct pass
// declines.
void backward_dense(BackwardPlan plan, float* dx, float* dw, float* db, const float* dy,
                    const float* x, const float* w, const Shape& s, bool accumulate) {
  if (plan.dw != Conv2dAlgorithm::kIm2col && dx != nullptr &&
      plan.dx == Conv2dAlgorithm::kWinograd) {
    if (conv2d_winograd_input_grad(dx, dy, w, s.n, s.c, s.h, s.w, s.k, s.ph, s.pw))
      dx = nullptr;  // done
    else
      plan.dw = Conv2dAlgorithm::kDirect;  // a NaN or inf: the direct pass's dx and dW
  }
  if (plan.dw == Conv2dAlgorithm::kWinograd && winograd_weight_grad(dw, db, dy, x, s, accumulate)) {
    if (dx == nullptr) return;
    dw = db = nullptr;  // dx alone from the direct pass
  }
  const DySource source{dy, nullptr, nullptr, nullptr, 0, 0, nullptr};
  if (plan.dw != Conv2dAlgorithm::kIm2col && direct_backward_exact(dx, w, s) &&
      direct_backward(dx, dw, db, source, x, w, s, accumulate, plan.dx_method)) {
    return;
  }
  im2col_backward(dx, dw, db, dy, x, w, s, accumulate);
}

// Whether `plan` takes Winograd for a gradient asked for (it then needs the whole dy).
bool uses_winograd(const BackwardPlan& plan, bool with_dx) {
  return plan.dw == Conv2dAlgorithm::kWinograd ||
         (with_dx && plan.dx == Conv2dAlgorithm::kWinograd);
}

}  // namespace

// Measured on one x86-64 core (AVX-512 clone) against the reference gemm_serial: the direct path
// runs the forward pass near the FMA peak for every shape tried (1–512 channels, planes 1×1 to
// 32×32, kernels 1–11, strides 1–4), 2–10× faster than im2col, and the backward pass with dx
// 1.5–4× faster. im2col wins one case: the weight gradient alone (a first layer's backward) when
// the output plane has at most 4 positions (1×1 or 2×2 outputs: the direct path's 8-position
// vectors are then mostly padding), by about 1.2–2×. Winograd takes the forward pass and the
// input and weight gradients of the 3×3, stride-1 shapes where it was measured faster
// (use_winograd). A backward pass with dx takes its two gradients' algorithms from backward_plan
// (kAllGrads answers the one for dx).
Conv2dAlgorithm conv2d_auto_algorithm(index_t N, index_t C, index_t H, index_t W, index_t K,
                                      index_t kh, index_t kw, index_t stride_h, index_t stride_w,
                                      index_t pad_h, index_t pad_w, Conv2dPass pass) {
  const index_t oh = conv2d_output_size(H, kh, stride_h, pad_h);
  const index_t ow = conv2d_output_size(W, kw, stride_w, pad_w);
  if (pass == Conv2dPass::kAllGrads) {
    return backward_plan(Conv2dAlgorithm::kAuto,
                         make_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w), true)
        .dx;
  }
  if (pass == Conv2dPass::kWeightGrad && oh * ow <= 4) return Conv2dAlgorithm::kIm2col;
  // Winograd's transforms of the weights (forward, dx) and of the weight gradient are fixed costs
  // per call: on small batches the direct pass wins (one thread, forward: 32→32 26×26 1.10× faster
  // by Winograd at N = 4; 32→64 12×12 0.65× at N = 4, even at 16; 64→64 10×10 0.58× at N = 4,
  // 1.15× at 16; the deep network's inference at batch 1 was 2.3× slower through it; dW: 64→64
  // 10×10 0.92× at N = 4, 1.8× at 16).
  if (N * oh * ow >= kWinogradMinPositions &&
      use_winograd(C, K, kh, kw, stride_h, stride_w, pad_h, pad_w, oh, ow, pass))
    return Conv2dAlgorithm::kWinograd;
  return Conv2dAlgorithm::kDirect;
}

namespace {

// kAuto's backward pass with dx: each gradient by the algorithm fastest for it, as the pairs
// measured on Sapphire Rapids (AVX-512, one thread, CPU time, batch 128, no padding; ms for
// dx + dW, 2–3 runs of the median of 8–10 calls) showed:
//                  lanes dx +   lanes dx +  Winograd dx +  Winograd dx +  direct dx +  direct pass
//                  Winograd dW  direct dW   Winograd dW    direct dW      Winograd dW  (dx + dW)
//   32→32 26×26    22.2–22.4    23.1–23.6   19.6–19.8      22.5–22.7      21.9         23.4–23.5
//   32→64 12×12     6.0–6.2      6.9–7.2     7.2–7.4        8.1–8.2        7.4–7.6      8.4–8.5
//   64→64 10×10     7.8–8.1      9.1–9.6     9.0–9.2       10.1–10.6      11.1–11.2    12.5–12.6
//   16→16 26×26     7.4          8.7         7.3            8.0            6.6          7.7
//   16→32 14×14     2.7          2.9         3.2            3.4            3.1          3.3
// (the lanes dx's columns forced: on 26×26 planes dx_method does not take it; the direct pass's
// gemm dx was slower throughout). Hence:
//  - dW (and db) as without dx (kWeightGrad: Winograd where it applies, so that dW has the same
//    bits with and without dx), but the direct pass where that would be im2col (tiny planes);
//  - dx by the channels-in-lanes GEMM where dx_method takes it (faster than Winograd's dx on
//    64→64 10×10 too), else by Winograd where use_winograd takes it for kAllGrads, else by the
//    direct pass: alone where dW is Winograd's (1.07–1.17× faster than the direct pass's dx + dW
//    from one read of dy), in the same pass as dW otherwise.
BackwardPlan backward_plan(Conv2dAlgorithm algorithm, const Shape& s, bool with_dx) {
  const DxMethod method = dx_method(algorithm, s);
  if (algorithm != Conv2dAlgorithm::kAuto) {
    const Conv2dAlgorithm chosen =
        resolve(algorithm, s, with_dx ? Conv2dPass::kAllGrads : Conv2dPass::kWeightGrad);
    return {chosen, method, chosen};
  }
  Conv2dAlgorithm dw = conv2d_auto_algorithm(s.n, s.c, s.h, s.w, s.k, s.kh, s.kw, s.sh, s.sw,
                                             s.ph, s.pw, Conv2dPass::kWeightGrad);
  if (!with_dx) return {Conv2dAlgorithm::kDirect, method, dw};
  if (dw == Conv2dAlgorithm::kIm2col) dw = Conv2dAlgorithm::kDirect;
  const bool winograd_dx =
      method != DxMethod::kLanes && s.n * s.out_plane() >= kWinogradMinPositions &&
      use_winograd(s.c, s.k, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.oh, s.ow, Conv2dPass::kAllGrads);
  return {winograd_dx ? Conv2dAlgorithm::kWinograd : Conv2dAlgorithm::kDirect, method, dw};
}

}  // namespace

void conv2d_forward(float* y, const float* x, const float* w, const float* b, index_t N, index_t C,
                    index_t H, index_t W, index_t K, index_t kh, index_t kw, index_t stride_h,
                    index_t stride_w, index_t pad_h, index_t pad_w, Conv2dAlgorithm algorithm) {
  const Shape s = make_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
  if (s.n == 0 || s.out_plane() == 0) return;
  const Conv2dAlgorithm chosen = resolve(algorithm, s, Conv2dPass::kForward);
  if (chosen == Conv2dAlgorithm::kIm2col) {
    im2col_forward(y, x, w, b, s, nullptr);
  } else if (chosen != Conv2dAlgorithm::kWinograd ||
             !conv2d_winograd_forward(y, x, w, b, N, C, H, W, K, pad_h, pad_w, nullptr)) {
    direct_forward(y, x, w, b, s, nullptr);  // (after Winograd: a NaN or inf met, see its header)
  }
}

void conv2d_forward_then(float* y, const float* x, const float* w, const float* b, index_t N,
                         index_t C, index_t H, index_t W, index_t K, index_t kh, index_t kw,
                         index_t stride_h, index_t stride_w, index_t pad_h, index_t pad_w,
                         const Conv2dSampleHook& after_sample) {
  const Shape s = make_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
  if (s.n == 0 || s.out_plane() == 0) return;
  const Conv2dAlgorithm chosen = resolve(Conv2dAlgorithm::kAuto, s, Conv2dPass::kForward);
  if (chosen == Conv2dAlgorithm::kIm2col) {
    im2col_forward(y, x, w, b, s, &after_sample);
  } else if (chosen != Conv2dAlgorithm::kWinograd ||
             !conv2d_winograd_forward(y, x, w, b, N, C, H, W, K, pad_h, pad_w, &after_sample)) {
    direct_forward(y, x, w, b, s, &after_sample);  // (after Winograd: every sample's hook again)
  }
}

void conv2d_direct_forward_samples(float* out, const float* x, const float* w, const float* b,
                                   index_t N, index_t C, index_t H, index_t W, index_t K,
                                   index_t kh, index_t kw, index_t stride_h, index_t stride_w,
                                   index_t pad_h, index_t pad_w, index_t begin, index_t end,
                                   const Conv2dSampleHook* after_sample) {
  const Shape s = make_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
  if (begin >= end || s.out_plane() == 0) return;
  direct_forward_range(out, 0, x, w, b, s, after_sample, begin, end);
}

bool conv2d_cheap_to_recompute(index_t N, index_t C, index_t H, index_t W, index_t K, index_t kh,
                               index_t kw, index_t stride_h, index_t stride_w, index_t pad_h,
                               index_t pad_w) {
  const Shape s = make_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
  return s.n > 0 && s.out_plane() > 0 && use_few_channels(s) &&
         resolve(Conv2dAlgorithm::kAuto, s, Conv2dPass::kForward) == Conv2dAlgorithm::kDirect;
}

void conv2d_backward_from(float* dx, float* dw, float* db, const Conv2dSampleHook& dy_of_sample,
                          const float* x, const float* w, index_t N, index_t C, index_t H,
                          index_t W, index_t K, index_t kh, index_t kw, index_t stride_h,
                          index_t stride_w, index_t pad_h, index_t pad_w, bool accumulate) {
  const Shape s = make_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
  const BackwardPlan plan = backward_plan(Conv2dAlgorithm::kAuto, s, dx != nullptr);
  const index_t sample = s.k * s.out_plane();
  if (dx != nullptr && plan.dx == Conv2dAlgorithm::kWinograd &&
      plan.dw == Conv2dAlgorithm::kWinograd &&
      winograd_backward_from(dx, dw, db, dy_of_sample, x, w, s, accumulate)) {
    return;
  }
  if (uses_winograd(plan, dx != nullptr)) {
    // Winograd reads all of dy: the whole dy first (in a buffer this thread keeps: 2 MB on the
    // deep network's 64→64 10×10 layer, faulted in once), then conv2d_backward's passes on it
    // (bit-identical to it by construction).
    thread_local std::vector<float> buffer;
    if (buffer.size() < static_cast<std::size_t>(s.n * sample))
      buffer.resize(static_cast<std::size_t>(s.n * sample));
    float* const dense = buffer.data();  // (the pool's threads have buffers of their own)
    parallel_for(s.n, 1, [&](index_t begin, index_t end) {
      for (index_t n = begin; n < end; ++n) dy_of_sample.fn(dy_of_sample.ctx, n, dense + n * sample);
    });
    backward_dense(plan, dx, dw, db, dense, x, w, s, accumulate);
    return;
  }
  if (plan.dw == Conv2dAlgorithm::kDirect && direct_backward_exact(dx, w, s)) {
    const DySource source{nullptr, nullptr, nullptr, nullptr, 0, 0, &dy_of_sample};
    if (direct_backward(dx, dw, db, source, x, w, s, accumulate, plan.dx_method)) return;
  }
  // A tiny output plane (≤ 4 positions), or a NaN or inf in the pass (see direct_backward): the
  // whole dy first, then conv2d_backward's im2col pass.
  std::vector<float> dense(static_cast<std::size_t>(s.n * sample));
  for (index_t n = 0; n < s.n; ++n) dy_of_sample.fn(dy_of_sample.ctx, n, dense.data() + n * sample);
  im2col_backward(dx, dw, db, dense.data(), x, w, s, accumulate);
}

void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, index_t N, index_t C, index_t H, index_t W, index_t K,
                     index_t kh, index_t kw, index_t stride_h, index_t stride_w, index_t pad_h,
                     index_t pad_w, bool accumulate, Conv2dAlgorithm algorithm) {
  const Shape s = make_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
  backward_dense(backward_plan(algorithm, s, dx != nullptr), dx, dw, db, dy, x, w, s, accumulate);
}

void conv2d_max_pool2d_forward(float* y, std::int32_t* indices, const float* x, const float* w,
                               const float* b, index_t N, index_t C, index_t H, index_t W,
                               index_t K, index_t kh, index_t kw, index_t stride_h,
                               index_t stride_w, index_t pad_h, index_t pad_w, bool relu) {
  const Shape s = make_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
  if (s.n == 0 || s.oh < 2 || s.ow < 2) return;
  if (resolve(Conv2dAlgorithm::kAuto, s, Conv2dPass::kForward) == Conv2dAlgorithm::kWinograd) {
    // the three ops in turn, so that the layer stays bit-identical to them with Winograd's z
    std::vector<float> z(static_cast<std::size_t>(s.n * s.k * s.out_plane()));
    conv2d_forward(z.data(), x, w, b, N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
    max_pool2d_forward(y, indices, z.data(), s.n, s.k, s.oh, s.ow, 2, 2, 2, 2, 0, 0);
    if (relu) relu_forward(y, y, s.n * s.k * (s.oh / 2) * (s.ow / 2));
    return;
  }
  pool_forward(y, indices, x, w, b, s, relu);
}

void conv2d_max_pool2d_backward(float* dx, float* dw, float* db, const float* dy,
                                const std::int32_t* indices, const float* y, const float* x,
                                const float* w, index_t N, index_t C, index_t H, index_t W,
                                index_t K, index_t kh, index_t kw, index_t stride_h,
                                index_t stride_w, index_t pad_h, index_t pad_w, bool accumulate) {
  const Shape s = make_shape(N, C, H, W, K, kh, kw, stride_h, stride_w, pad_h, pad_w);
  const index_t ph = s.oh / 2, pw = s.ow / 2;
  const BackwardPlan plan = backward_plan(Conv2dAlgorithm::kAuto, s, dx != nullptr);
  if (uses_winograd(plan, dx != nullptr)) {  // the dense dy, then conv2d_backward's passes
    const CachedFloats dense = dense_dy(dy, indices, y, s);
    backward_dense(plan, dx, dw, db, dense.get(), x, w, s, accumulate);
    return;
  }
  if (plan.dw == Conv2dAlgorithm::kDirect && direct_backward_exact(dx, w, s)) {
    const DySource source{nullptr, dy, indices, y, ph, pw, nullptr};
    if (direct_backward(dx, dw, db, source, x, w, s, accumulate, plan.dx_method)) return;
  }
  // A tiny output plane (≤ 4 positions), or a NaN or inf in the pass (see direct_backward): the
  // dense dy that relu_backward and max_pool2d_backward would give, then the same im2col pass as
  // conv2d_backward.
  const CachedFloats dense = dense_dy(dy, indices, y, s);
  im2col_backward(dx, dw, db, dense.get(), x, w, s, accumulate);
}

namespace {

// Whether planes [begin, end) of the pooled indices lie in their windows (corner: each pooled
// position's window corner).
NAPINET_VECTORIZED bool indices_valid(const std::int32_t* indices, const std::int32_t* corner,
                                      index_t begin, index_t end, index_t plane, index_t ow) {
  const auto width = static_cast<std::int32_t>(ow);
  const std::int32_t* NAPINET_RESTRICT c = corner;
  std::int32_t bad = 0;
  for (index_t p = begin; p < end; ++p) {
    const std::int32_t* NAPINET_RESTRICT row = indices + p * plane;
    for (index_t q = 0; q < plane; ++q) {
      // d ∈ {0, 1} or d − OW ∈ {0, 1}: a position of the window (no branches: it vectorises)
      const std::int32_t d = row[q] - c[q];
      bad |= static_cast<std::int32_t>(((d & ~1) != 0) & (((d - width) & ~1) != 0));
    }
  }
  return bad == 0;
}

}  // namespace

bool conv2d_max_pool2d_indices_valid(const std::int32_t* indices, index_t planes, index_t oh,
                                     index_t ow) {
  const index_t ph = oh / 2, pw = ow / 2, plane = ph * pw;
  // Each pooled position's window corner 2u·OW + 2v, then one flat pass per plane.
  std::vector<std::int32_t> corner(static_cast<std::size_t>(plane));
  for (index_t u = 0; u < ph; ++u)
    for (index_t v = 0; v < pw; ++v)
      corner[static_cast<std::size_t>(u * pw + v)] = static_cast<std::int32_t>(2 * u * ow + 2 * v);
  // Chunks of about 32k indices on the pool (the deep network's two pooled layers check 0.7 M
  // indices a step).
  return parallel_all(planes, std::max<index_t>(1, (index_t{1} << 15) / std::max<index_t>(1, plane)),
                      [&](index_t begin, index_t end) {
                        return indices_valid(indices, corner.data(), begin, end, plane, ow);
                      });
}

const char* conv2d_isa() { return direct_kernels().name; }

}  // namespace napinet::kernels
