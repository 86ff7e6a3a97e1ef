// The CUDA backend as the rest of napinet sees it: plain C++ declarations, no CUDA headers, so the
// binding (native/binding/) compiles with the host compiler alone. Implemented by cuda/*.cu, which
// nvcc compiles for the GPU, or the host compiler against cuda/emu/ (the CPU emulation used by CI).
//
// Every function throws napinet::cuda::Error (a std::runtime_error naming the failed call, the
// source file and line, and the device) and never aborts. Work is queued on one stream per host
// thread (see stream() in common.cuh): calls return before the GPU has finished, and copies to the
// host wait for what was queued before them. Launchers have the names and function types of the
// CPU kernels in native/kernels/ (outputs first, sizes last) and take device pointers; the binding's
// NAPINET_DISPATCH (native/binding/dispatch.h) checks at compile time that the two types agree.
// How to add an op: cuda/README.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace napinet::kernels {
enum class Conv2dAlgorithm : int;  // native/kernels/conv2d.h
struct StridedLayout;              // native/kernels/strided.h
struct ElementInput;
enum class UnaryOp : int;          // native/kernels/op_math.h
enum class BinaryOp : int;
enum class TernaryOp : int;
enum class ReduceOp : int;
}  // namespace napinet::kernels

namespace napinet::cuda {

// A failed CUDA call, launch or emulator check. what() is the full message.
class Error : public std::runtime_error {
 public:
  Error(const std::string& message, int code) : std::runtime_error(message), code_(code) {}
  // The cudaError_t value (for the emulator's own findings, e.g. a divergent barrier, the code a GPU
  // would most likely give: cudaErrorLaunchFailure or cudaErrorIllegalAddress).
  int code() const { return code_; }

 private:
  int code_;
};

// cudaMalloc could not find the memory.
class OutOfMemory : public Error {
 public:
  using Error::Error;
};

// ---------------------------------------------------------------------------------------------
// Device
// ---------------------------------------------------------------------------------------------

// What the CUDA runtime says about one device (`index`, default 0). Never throws: an unusable GPU
// is described in `reason` (no device, no or too old a driver, a compute capability this build has
// no code for, an index past the last device).
struct DeviceInfo {
  bool available = false;
  std::string reason;             // why not available (empty when available)
  bool emulated = false;          // the CPU emulator (build with NAPINET_CUDA_EMU)
  int index = 0;                  // the device's ordinal ('cuda:N')
  int device_count = 0;
  std::string name;               // e.g. "NVIDIA H200"; empty when no device was found
  int compute_major = 0, compute_minor = 0;
  std::size_t total_memory = 0, free_memory = 0;  // bytes; free counts what napinet's pool holds as used
  int driver_version = 0;         // CUDA version the driver supports, 1000·major + 10·minor; 0 = none
  int runtime_version = 0;        // CUDA runtime linked into this build, same encoding
  int multiprocessors = 0;
};

DeviceInfo device_info(int index = 0);
// How many devices the runtime sees (0 when none or no driver; never throws).
int device_count() noexcept;

// The calling thread's current device: every launch, copy and allocation goes to it (on that
// device's per-thread stream). The binding makes the device of a call's buffers current before
// the call (native/binding/args.cc); use_device is cheap when it already is.
void use_device(int index);
int current_device();

// A short name for messages: "device 0 (NVIDIA H200)" (the current device).
std::string device_label();

// ---------------------------------------------------------------------------------------------
// Memory (device pointers are plain void*/float* on the host side; cuda/memory.cu)
// ---------------------------------------------------------------------------------------------
//
// Stream-ordered: alloc and free are cudaMallocAsync / cudaFreeAsync on the current device's
// stream(), from the device's memory pool, which keeps freed memory for reuse (release threshold:
// all of it). So freeing never waits for the GPU (the block is reused only after the work queued
// before the free), and no call here synchronises. NAPINET_CUDA_POOL=0 in the environment (or a
// device without memory pools) falls back to cudaMalloc / cudaFree, which synchronise.
//
// During a CUDA graph capture on the calling thread, free defers the release to the capture's end
// (a finalizer that runs meanwhile cannot spoil the capture), and alloc throws (allocate before
// capturing: a captured graph must not depend on memory that later calls free).

// `bytes` of device memory on the current device (at least 256-byte aligned). Throws OutOfMemory:
// "CUDA out of memory allocating N bytes on device 0 (…): …".
void* alloc(std::size_t bytes);
// Frees memory from alloc on the device it came from (nullptr is ignored). Never throws.
void free(void* device_ptr) noexcept;

// What napinet holds on one device: its live allocations, and what the device's memory pool holds
// (live allocations plus freed blocks kept for reuse). Read fresh at every call.
struct MemoryStats {
  std::size_t live_bytes = 0;       // bytes asked for by live alloc()s (buffers, workspaces)
  std::size_t live_allocations = 0;
  std::size_t peak_live_bytes = 0;
  std::size_t pool_reserved_bytes = 0;  // the pool's memory (0 without pools)
  std::size_t pool_used_bytes = 0;      // of which handed out
  std::size_t free_bytes = 0, total_bytes = 0;  // cudaMemGetInfo (the pool's memory counts as used)
  std::size_t deferred_frees = 0;       // frees waiting for this thread's capture to end
  bool stream_ordered = false;          // cudaMallocAsync in use
};
MemoryStats memory_stats(int index);
// Gives the pool's unused memory back to the device (waits for the device first).
void release_cached_memory(int index);

// Host → device: returns once `host_src` may be reused.
void copy_to_device(void* device_dst, const void* host_src, std::size_t bytes);
// Device → host: waits for the work queued before it and for the copy itself.
void copy_to_host(void* host_dst, const void* device_src, std::size_t bytes);
void copy_device_to_device(void* device_dst, const void* device_src, std::size_t bytes);
// Sets `bytes` bytes to `value` (e.g. 0 to zero a float buffer).
void memset(void* device_dst, int value, std::size_t bytes);
// Waits for all queued work on every device this process used (and reports errors of kernels
// that already ran); index ≥ 0: that device only.
void synchronize(int index = -1);

// CUDA graphs: the work this thread queues on the current device between begin_capture() and
// end_capture() is recorded instead of run, and launch_graph() queues the whole recording again
// in one call. Capture is thread-local: a call that would wait or allocate during it (a
// synchronisation, an allocation, a copy to or from host memory) fails and spoils the capture, so
// end_capture() throws. The graph keeps every workspace its kernels use (cuda/memory.cu) until it
// is destroyed, so later calls that grow a workspace cannot free memory a replay writes.
void begin_capture();
// The executable graph (free it with destroy_graph).
void* end_capture();
// Ends a capture without keeping it (after an error between begin and end); never throws.
void abort_capture() noexcept;
// Queues the graph on the calling thread's stream of the device it was captured on.
void launch_graph(void* graph);
// Frees the graph (without waiting: CUDA frees a graph still running when it completes) and the
// workspaces it kept (stream-ordered); during a capture, deferred to its end. Never throws.
void destroy_graph(void* graph) noexcept;

// ---------------------------------------------------------------------------------------------
// Launchers, one section per op family (same names and arguments as native/kernels/*.h)
// ---------------------------------------------------------------------------------------------

// activation (cuda/activation.cu; CPU: native/kernels/activation.h)
void relu_forward(float* y, const float* x, std::int64_t n);
void relu_backward(float* dx, const float* dy, const float* y, std::int64_t n);
void sigmoid_forward(float* y, const float* x, std::int64_t n);
void sigmoid_backward(float* dx, const float* dy, const float* y, std::int64_t n);
void tanh_forward(float* y, const float* x, std::int64_t n);
void tanh_backward(float* dx, const float* dy, const float* y, std::int64_t n);
void leaky_relu_forward(float* y, const float* x, float negative_slope, std::int64_t n);
void leaky_relu_backward(float* dx, const float* dy, const float* x, float negative_slope,
                         std::int64_t n);
void elu_forward(float* y, const float* x, float alpha, std::int64_t n);
void elu_backward(float* dx, const float* dy, const float* x, float alpha, std::int64_t n);
void gelu_forward(float* y, const float* x, bool approximate_tanh, std::int64_t n);
void gelu_backward(float* dx, const float* dy, const float* x, bool approximate_tanh, std::int64_t n);
void softplus_forward(float* y, const float* x, float beta, float threshold, std::int64_t n);
void softplus_backward(float* dx, const float* dy, const float* x, float beta, float threshold,
                       std::int64_t n);

// conv2d (cuda/conv2d.cu; CPU: native/kernels/conv2d.h). kDirect and kAuto run the direct
// kernels, kIm2col the implicit GEMM; the weight and bias gradients are the same for all three.
void conv2d_forward(float* y, const float* x, const float* w, const float* b, std::int64_t N,
                    std::int64_t C, std::int64_t H, std::int64_t W, std::int64_t K, std::int64_t kh,
                    std::int64_t kw, std::int64_t stride_h, std::int64_t stride_w,
                    std::int64_t pad_h, std::int64_t pad_w, kernels::Conv2dAlgorithm algorithm);
void conv2d_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, std::int64_t N, std::int64_t C, std::int64_t H,
                     std::int64_t W, std::int64_t K, std::int64_t kh, std::int64_t kw,
                     std::int64_t stride_h, std::int64_t stride_w, std::int64_t pad_h,
                     std::int64_t pad_w, bool accumulate, kernels::Conv2dAlgorithm algorithm);

// The fused Conv2d → MaxPool2d(2) (→ ReLU), as native/kernels/conv2d.h's (needs OH, OW ≥ 2; the
// binding checks). Device indices cannot be checked: one outside its window passes no gradient.
void conv2d_max_pool2d_forward(float* y, std::int32_t* indices, const float* x, const float* w,
                               const float* b, std::int64_t N, std::int64_t C, std::int64_t H,
                               std::int64_t W, std::int64_t K, std::int64_t kh, std::int64_t kw,
                               std::int64_t stride_h, std::int64_t stride_w, std::int64_t pad_h,
                               std::int64_t pad_w, bool relu);
void conv2d_max_pool2d_backward(float* dx, float* dw, float* db, const float* dy,
                                const std::int32_t* indices, const float* y, const float* x,
                                const float* w, std::int64_t N, std::int64_t C, std::int64_t H,
                                std::int64_t W, std::int64_t K, std::int64_t kh, std::int64_t kw,
                                std::int64_t stride_h, std::int64_t stride_w, std::int64_t pad_h,
                                std::int64_t pad_w, bool accumulate);

// gemm (cuda/gemm.cu; CPU: native/kernels/gemm.h). Row-major float32, C = alpha·op(A)·op(B) + beta·C
// with op(X) = X or Xᵀ: A is (M,K), or (K,M) when trans_a; B is (K,N), or (N,K) when trans_b.
// beta = 0 does not read C (NaN there is ignored); alpha = 0 or K = 0 gives beta·C without reading
// A or B. Deterministic: the order of every sum depends on the shape alone (no float atomics), so
// repeated calls, and calls on different GPUs, give the same bits. Small outputs with a long
// reduction are split along K, whose partial sums go to a per-host-thread workspace (allocated on
// first need, at most 8 MiB, kept) and are added in a fixed order by a second kernel.
void gemm(float* c, const float* a, const float* b, std::int64_t m, std::int64_t n,
          std::int64_t k, bool trans_a, bool trans_b, float alpha, float beta);
// `batch` independent products, item i at c + i·stride_c, a + i·stride_a, b + i·stride_b (a stride
// of 0 shares one matrix across the batch, e.g. a convolution's weights in an im2col forward
// pass: C_i (K_out, OH·OW) = W (K_out, C·KH·KW) · cols_i (C·KH·KW, OH·OW), stride_a = 0). Output
// items must not overlap (stride_c ≥ M·N). Optional bias (nullptr: none), added after the product:
// one value per row of C_i when bias_per_row (a convolution's output channels, above), else one
// per column (Linear's out features):
//   C_i = alpha·op(A_i)·op(B_i) + beta·C_i + bias
void gemm_strided_batched(float* c, const float* a, const float* b, const float* bias,
                          std::int64_t m, std::int64_t n, std::int64_t k, bool trans_a,
                          bool trans_b, float alpha, float beta, bool bias_per_row,
                          std::int64_t batch, std::int64_t stride_c, std::int64_t stride_a,
                          std::int64_t stride_b);
// The sum of `batch` products into one C (e.g. a convolution's weight gradient over the images:
// dW (K_out, C·KH·KW) = Σ_i dy_i (K_out, OH·OW) · cols_iᵀ, trans_b = true), in a fixed order:
//   C = alpha·Σ_i op(A_i)·op(B_i) + beta·C,   A_i = a + i·stride_a, B_i = b + i·stride_b.
// The batch is part of the reduction, so it is split (and summed) like a long K: no extra memory
// beyond gemm's workspace however large the batch.
void gemm_batch_sum(float* c, const float* a, const float* b, std::int64_t m, std::int64_t n,
                    std::int64_t k, bool trans_a, bool trans_b, float alpha, float beta,
                    std::int64_t batch, std::int64_t stride_a, std::int64_t stride_b);

// The batched product of native/kernels/gemm.h: gemm_strided_batched without a bias, with the CPU
// kernel's argument order.
void gemm_batched(float* c, const float* a, const float* b, std::int64_t batch, std::int64_t m,
                  std::int64_t n, std::int64_t k, bool trans_a, bool trans_b, std::int64_t stride_a,
                  std::int64_t stride_b, std::int64_t stride_c, float alpha, float beta);

// linear (cuda/linear.cu; CPU: native/kernels/linear.h). y (N,out), x (N,in), w (out,in), b (out)
// or nullptr. Forward is one gemm with the bias added in its epilogue; backward is two gemms (dx,
// dw; accumulate adds into dw and db) and a bias-gradient kernel summing dy's columns in a fixed
// order. dx and db may be nullptr (skipped).
void linear_forward(float* y, const float* x, const float* w, const float* b, std::int64_t n,
                    std::int64_t in_features, std::int64_t out_features);
void linear_backward(float* dx, float* dw, float* db, const float* dy, const float* x,
                     const float* w, std::int64_t n, std::int64_t in_features,
                     std::int64_t out_features, bool accumulate);

// pool2d (cuda/pool2d.cu; CPU: native/kernels/pool2d.h). Bit-identical to the CPU kernels. An
// argmax index outside [0, H·W) in max_pool2d_backward is skipped (the binding checks CPU indices
// only).
void max_pool2d_forward(float* y, std::int32_t* indices, const float* x, std::int64_t n,
                        std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t kh,
                        std::int64_t kw, std::int64_t sh, std::int64_t sw, std::int64_t ph,
                        std::int64_t pw);
void max_pool2d_backward(float* dx, const float* dy, const std::int32_t* indices, std::int64_t n,
                         std::int64_t c, std::int64_t h, std::int64_t w, std::int64_t oh,
                         std::int64_t ow);
void avg_pool2d_forward(float* y, const float* x, std::int64_t n, std::int64_t c, std::int64_t h,
                        std::int64_t w, std::int64_t kh, std::int64_t kw, std::int64_t sh,
                        std::int64_t sw, std::int64_t ph, std::int64_t pw, bool count_include_pad);
void avg_pool2d_backward(float* dx, const float* dy, std::int64_t n, std::int64_t c,
                         std::int64_t h, std::int64_t w, std::int64_t kh, std::int64_t kw,
                         std::int64_t sh, std::int64_t sw, std::int64_t ph, std::int64_t pw,
                         bool count_include_pad);

// loss (cuda/loss.cu; CPU: native/kernels/loss.h). Labels on the GPU are not checked by the
// binding: a label outside [0, C) makes that row's loss NaN (so stats[0] is NaN) and its dlogits
// row NaN, and is never used as an index.
void softmax_cross_entropy_forward(float* probs, float* stats, const float* logits,
                                   const std::int32_t* labels, std::int64_t n, std::int64_t c,
                                   double label_smoothing, bool accumulate);
void softmax_cross_entropy_backward(float* dlogits, const float* probs, const std::int32_t* labels,
                                    std::int64_t n, std::int64_t c, double label_smoothing,
                                    float scale);
// The three calls of a training step's loss in one pass (no CPU kernel; the binding fuses them,
// native/binding/cuda/deferred.h): softmax_cross_entropy_forward, softmax_cross_entropy_backward
// into dlogits (which must not alias logits), and, when db is not nullptr, the bias gradient of the
// Linear layer that made the logits, db (C) (=|+=) Σ_rows dlogits. The same bits as the separate
// calls (linear_backward's bias sum included); one launch for N·lanes ≤ 4096 and C ≤ 1024.
void softmax_cross_entropy_fused(float* probs, float* stats, float* dlogits, float* db,
                                 const float* logits, const std::int32_t* labels, std::int64_t n,
                                 std::int64_t c, double label_smoothing, bool accumulate, float scale,
                                 bool accumulate_db);

// optim (cuda/optim.cu; CPU: native/kernels/optim.h). The per-element updates of optim.h, shared
// with the CPU kernel, each float32 operation rounded on its own.
void adam_step_many(float* const* param, const float* const* grad, float* const* exp_avg,
                    float* const* exp_avg_sq, const std::int64_t* n, std::int64_t count, double lr,
                    double beta1, double beta2, double eps, double weight_decay, std::int64_t step,
                    bool decoupled);
void sgd_step(float* param, const float* grad, float* momentum_buf, std::int64_t n, double lr,
              double momentum, double dampening, double weight_decay, bool nesterov,
              bool first_step);

// batch gather (cuda/gather.cu; CPU: native/kernels/gather.h): rows of 32-bit words (float32 or
// int32). The GPU cannot check rows without a host round trip: a row outside [0, source_rows)
// gives all-one words (a NaN input and the label −1, which makes the loss NaN), never an
// out-of-bounds read.
void gather_batch(std::uint32_t* x, std::uint32_t* y, const std::uint32_t* inputs,
                  const std::uint32_t* targets, const std::int32_t* rows, std::int64_t count,
                  std::int64_t x_row, std::int64_t y_row, std::int64_t source_rows);

// fill (cuda/fill.cu; CPU: native/kernels/fill.h)
void fill(float* x, float value, std::int64_t n);
void fill_int32(std::int32_t* x, std::int32_t value, std::int64_t n);
void fill_many(float* const* x, const std::int64_t* n, std::int64_t count, float value);

// softmax and log-softmax (cuda/softmax.cu; CPU: native/kernels/softmax.h). (N,C); the forward
// softmax runs a thread group per row, the others one warp per row; sums by fixed shuffle trees.
void softmax_forward(float* y, const float* x, std::int64_t n, std::int64_t c);
void softmax_backward(float* dx, const float* dy, const float* y, std::int64_t n, std::int64_t c);
void log_softmax_forward(float* y, const float* x, std::int64_t n, std::int64_t c);
void log_softmax_backward(float* dx, const float* dy, const float* y, std::int64_t n, std::int64_t c);

// batchnorm (cuda/batchnorm.cu; CPU: native/kernels/batchnorm.h). (N,C,L) values, (C) statistics
// and affine parameters (weight/bias nullptr: affine=False), num_batches_tracked (1). One block per
// channel sums in a fixed order (no atomics); the training forward increments num_batches_tracked
// in a second launch.
void batch_norm_forward_train(float* y, float* save_mean, float* save_invstd, float* running_mean,
                              float* running_var, float* num_batches_tracked, const float* x,
                              const float* weight, const float* bias, std::int64_t n,
                              std::int64_t c, std::int64_t l, double momentum,
                              bool cumulative_average, double eps);
void batch_norm_forward_eval(float* y, const float* x, const float* running_mean,
                             const float* running_var, const float* weight, const float* bias,
                             std::int64_t n, std::int64_t c, std::int64_t l, double eps);
void batch_norm_backward_train(float* dx, float* dweight, float* dbias, const float* dy,
                               const float* x, const float* save_mean, const float* save_invstd,
                               const float* weight, std::int64_t n, std::int64_t c, std::int64_t l,
                               bool accumulate);
void batch_norm_backward_eval(float* dx, float* dweight, float* dbias, const float* dy,
                              const float* x, const float* running_mean, const float* running_var,
                              const float* weight, std::int64_t n, std::int64_t c, std::int64_t l,
                              double eps, bool accumulate);

// dropout (cuda/dropout.cu; CPU: native/kernels/dropout.h). The mask comes from Philox4x32-10
// (native/kernels/philox.h) keyed by `seed`, drawn on the device: the same bits as the CPU kernel.
void dropout_forward(float* y, const float* x, std::uint64_t seed, double p, std::int64_t n);
void dropout_backward(float* dx, const float* dy, std::uint64_t seed, double p, std::int64_t n);

// concat (cuda/concat.cu; CPU: native/kernels/concat.h)
void concat_channels(float* y, const float* x, std::int64_t n, std::int64_t c_y,
                     std::int64_t offset, std::int64_t c_x, std::int64_t inner);
void split_channels(float* x, const float* y, std::int64_t n, std::int64_t c_y,
                    std::int64_t offset, std::int64_t c_x, std::int64_t inner);
void add_into(float* y, const float* x, std::int64_t count);

// pointwise_loss (cuda/pointwise_loss.cu; CPU: native/kernels/pointwise_loss.h)
void bce_with_logits_forward(float* stats, const float* x, const float* target,
                             const float* pos_weight, std::int64_t n, std::int64_t m,
                             std::int64_t p, bool accumulate);
void bce_with_logits_backward(float* dx, const float* x, const float* target,
                              const float* pos_weight, std::int64_t count, std::int64_t p,
                              float scale);
void mse_forward(float* stats, const float* x, const float* target, std::int64_t n,
                 std::int64_t m, bool accumulate);
void mse_backward(float* dx, const float* x, const float* target, std::int64_t count,
                  float scale);

// elementwise (cuda/elementwise.cu; CPU: native/kernels/elementwise.h). Strided views over one
// shape (native/kernels/strided.h), scalar inputs by value, one thread per output element.
void unary(float* out, const kernels::ElementInput& x, const kernels::StridedLayout& layout,
           kernels::UnaryOp op, float alpha, float beta, bool accumulate);
void binary(float* out, const kernels::ElementInput& a, const kernels::ElementInput& b,
            const kernels::StridedLayout& layout, kernels::BinaryOp op, float alpha, float beta,
            bool accumulate);
void ternary(float* out, const kernels::ElementInput& a, const kernels::ElementInput& b,
             const kernels::ElementInput& c, const kernels::StridedLayout& layout,
             kernels::TernaryOp op, bool accumulate);

// reduce (cuda/reduce.cu; CPU: native/kernels/reduce.h). Fixed-order tree reductions, no float
// atomics; long reductions take several launches through a per-host-thread workspace.
void reduce(float* out, std::int32_t* indices, const float* x, const std::int64_t* shape, int rank,
            std::uint32_t reduced_dims, kernels::ReduceOp op, double correction);

// indexing (cuda/indexing.cu; CPU: native/kernels/indexing.h). Indices are checked by the binding
// (read back to the host) before these run; the gradients add in a fixed order, without atomics.
void index_select(float* out, const float* x, const std::int32_t* indices, std::int64_t outer,
                  std::int64_t dim_size, std::int64_t inner, std::int64_t count);
void index_add(float* out, const float* src, const std::int32_t* indices, std::int64_t outer,
               std::int64_t dim_size, std::int64_t inner, std::int64_t count);
void gather(float* out, const float* x, const std::int32_t* index, const std::int64_t* x_shape,
            const std::int64_t* index_shape, int rank, int dim);
void scatter_add(float* out, const float* src, const std::int32_t* index,
                 const std::int64_t* out_shape, const std::int64_t* index_shape, int rank, int dim);

}  // namespace napinet::cuda
