// Kernels that test the CUDA emulator (see selftest.h). They are ordinary CUDA, written the way
// napinet's kernels are, including deliberately broken variants the emulator must catch.
// Test: test/cuda-emu.test.ts.
#include "selftest.h"

#include <climits>
#include <cmath>
#include <vector>

#include "../common.cuh"

namespace napinet::cuda::selftest {
namespace {

__global__ void coordinates_kernel(std::int32_t* out, std::int32_t* dims) {
  const unsigned block = blockIdx.x + gridDim.x * (blockIdx.y + gridDim.y * blockIdx.z);
  const unsigned thread = threadIdx.x + blockDim.x * (threadIdx.y + blockDim.y * threadIdx.z);
  const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
  out[block * threads + thread] = static_cast<std::int32_t>(1000 * block + thread);
  if (block == 0 && thread == 0) {
    dims[0] = gridDim.x, dims[1] = gridDim.y, dims[2] = gridDim.z;
    dims[3] = blockDim.x, dims[4] = blockDim.y, dims[5] = blockDim.z;
  }
}

// Dynamic shared memory, which the emulator fills with NaN at each block start: a slot read before
// its thread wrote it is NaN, whatever block ran before on the same host thread (a static
// __shared__ array would keep that block's values, and a stale sum could happen to be right).
__global__ void block_sums_kernel(float* sums, const float* x, bool barriers) {
  NAPINET_DYNAMIC_SHARED(float, partial);
  const unsigned tid = threadIdx.x;
  partial[tid] = x[blockIdx.x * blockDim.x + tid];
  if (barriers) __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (tid < stride) partial[tid] += partial[tid + stride];
    if (barriers) __syncthreads();
  }
  if (tid == 0) sums[blockIdx.x] = partial[0];
}

__global__ void normalize_kernel(float* y, const float* x, bool barriers) {
  __shared__ float partial[1024];
  const unsigned tid = threadIdx.x;
  partial[tid] = x[tid];
  __syncthreads();
  for (unsigned stride = blockDim.x / 2; stride > 0; stride /= 2) {
    if (tid < stride) partial[tid] += partial[tid + stride];
    if (stride > 1 || barriers) __syncthreads();  // the last one guards the read of partial[0]
  }
  y[tid] = x[tid] / partial[0];
}

__device__ float warp_sum(float v) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  return v;
}

__global__ void warp_sums_kernel(float* sums, const float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const float total = warp_sum(i < n ? x[i] : 0.0f);
  if (threadIdx.x % 32 == 0) sums[i / 32] = total;
}

__global__ void warp_scan_max_kernel(float* y, float* m, const float* x, int n, int width) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const int lane = threadIdx.x % width;
  const float v = i < n ? x[i] : 0.0f;
  float scan = v;
  for (int offset = 1; offset < width; offset *= 2) {
    const float up = __shfl_up_sync(0xffffffffu, scan, offset, width);
    if (lane >= offset) scan += up;
  }
  float best = v;
  for (int mask = width / 2; mask > 0; mask /= 2) best = fmaxf(best, __shfl_xor_sync(0xffffffffu, best, mask, width));
  // Every lane asks lane 0 of its segment for the maximum too (a __shfl_sync by index).
  best = __shfl_sync(0xffffffffu, best, 0, width);
  if (i < n) {
    y[i] = scan;
    m[i] = best;
  }
}

__global__ void votes_kernel(std::int32_t* votes, const float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const bool positive = i < n && x[i] > 0.0f;
  const unsigned ballot = __ballot_sync(0xffffffffu, positive);
  const int any = __any_sync(0xffffffffu, positive);
  const int all = __all_sync(0xffffffffu, positive);
  if (threadIdx.x % 32 == 0) {
    votes[3 * (i / 32)] = static_cast<std::int32_t>(ballot);
    votes[3 * (i / 32) + 1] = any;
    votes[3 * (i / 32) + 2] = all;
  }
}

__global__ void atomics_kernel(std::int32_t* counters, float* total, const float* x, const std::int32_t* v,
                               int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  atomicAdd(&counters[0], 1);
  atomicMax(&counters[1], v[i]);
  atomicMin(&counters[2], v[i]);
  if (atomicCAS(&counters[4], 0, 1) == 0) atomicAdd(&counters[3], 1);
  atomicAdd(total, x[i]);
}

__global__ void reverse_blocks_kernel(float* y, const float* x, int n) {
  NAPINET_DYNAMIC_SHARED(float, slice);
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < n) slice[threadIdx.x] = x[i];
  __syncthreads();
  const int last = min(static_cast<int>(blockDim.x), n - static_cast<int>(blockIdx.x * blockDim.x)) - 1;
  if (i < n) y[i] = slice[last - static_cast<int>(threadIdx.x)];
}

__global__ void read_uninitialized_shared_kernel(float* y) {
  NAPINET_DYNAMIC_SHARED(float, scratch);
  y[threadIdx.x] = scratch[threadIdx.x];
}

__global__ void divergent_barrier_kernel(float* y) {
  if (threadIdx.x >= blockDim.x / 2) return;  // the bug: these threads skip the barrier below
  y[threadIdx.x] = 1.0f;
  __syncthreads();
  y[threadIdx.x] += 1.0f;
}

__global__ void split_barrier_kernel(float* y) {
  if (threadIdx.x % 2 == 0) {
    y[threadIdx.x] = 1.0f;
    __syncthreads();
  } else {
    y[threadIdx.x] = 2.0f;
    __syncthreads();
  }
}

__global__ void incomplete_shuffle_kernel(float* y) {
  if (threadIdx.x >= 16) return;
  y[threadIdx.x] = __shfl_down_sync(0xffffffffu, 1.0f, 1);
}

__global__ void fill_kernel(float* y, float value) { y[threadIdx.x] = value; }

__global__ void write_past_end_kernel(float* y, int n) {
  if (threadIdx.x == 0) y[n] = 1.0f;
}

__global__ void host_pointer_kernel(float* y) { y[threadIdx.x] = 1.0f; }

}  // namespace

void coordinates(std::int32_t* out, std::int32_t* dims) {
  NAPINET_LAUNCH(coordinates_kernel, dim3(2, 3, 2), dim3(4, 2, 3), 0, out, dims);
}

void block_sums(float* sums, const float* x, int blocks, int threads, bool barriers) {
  NAPINET_LAUNCH(block_sums_kernel, blocks, threads, threads * sizeof(float), sums, x, barriers);
}

void normalize(float* y, const float* x, int n, bool barriers) {
  NAPINET_LAUNCH(normalize_kernel, 1, n, 0, y, x, barriers);
}

void warp_sums(float* sums, const float* x, int n, int block) {
  NAPINET_LAUNCH(warp_sums_kernel, (n + block - 1) / block, block, 0, sums, x, n);
}

void warp_scan_max(float* y, float* m, const float* x, int n, int width) {
  NAPINET_LAUNCH(warp_scan_max_kernel, (n + 63) / 64, 64, 0, y, m, x, n, width);
}

void votes(std::int32_t* out, const float* x, int n) {
  NAPINET_LAUNCH(votes_kernel, (n + 63) / 64, 64, 0, out, x, n);
}

void atomics(std::int32_t* counters, float* total, const float* x, const std::int32_t* v, int n) {
  NAPINET_LAUNCH(atomics_kernel, (n + 63) / 64, 64, 0, counters, total, x, v, n);
}

void reverse_blocks(float* y, const float* x, int n, int block) {
  NAPINET_LAUNCH(reverse_blocks_kernel, (n + block - 1) / block, block, block * sizeof(float), y, x, n);
}

void read_uninitialized_shared(float* y, int n) {
  NAPINET_LAUNCH(read_uninitialized_shared_kernel, 1, n, n * sizeof(float), y);
}

void divergent_barrier(float* y, int threads) { NAPINET_LAUNCH(divergent_barrier_kernel, 1, threads, 0, y); }

void split_barrier(float* y, int threads) { NAPINET_LAUNCH(split_barrier_kernel, 1, threads, 0, y); }

void incomplete_shuffle(float* y) { NAPINET_LAUNCH(incomplete_shuffle_kernel, 1, 32, 0, y); }

void invalid_launch(float* y) { NAPINET_LAUNCH(fill_kernel, 1, 2048, 0, y, 1.0f); }

void empty_grid_launch(float* y) { NAPINET_LAUNCH(fill_kernel, 0, 32, 0, y, 1.0f); }

void host_pointer_launch() {
  std::vector<float> host(32);
  NAPINET_LAUNCH(host_pointer_kernel, 1, 32, 0, host.data());
}

void write_past_end(float* y, int n) { NAPINET_LAUNCH(write_past_end_kernel, 1, 32, 0, y, n); }

std::string runtime_checks() {
  std::string failures;
  auto expect = [&](bool ok, const char* what) {
    if (!ok) failures += std::string(what) + "; ";
  };
  cudaGetLastError();
  float* d = nullptr;
  expect(cudaMalloc(&d, 64 * sizeof(float)) == cudaSuccess && d != nullptr, "cudaMalloc");
  expect(reinterpret_cast<std::uintptr_t>(d) % 256 == 0, "cudaMalloc aligns to 256 bytes");
  std::vector<float> host(65, 3.0f);
  expect(cudaMemcpy(d, host.data(), 64 * sizeof(float), cudaMemcpyHostToDevice) == cudaSuccess, "copy in");
  expect(cudaMemcpy(d, host.data(), 65 * sizeof(float), cudaMemcpyHostToDevice) == cudaErrorInvalidValue,
         "a copy past the end of a buffer is cudaErrorInvalidValue");
  expect(cudaGetLastError() == cudaErrorInvalidValue && cudaGetLastError() == cudaSuccess,
         "cudaGetLastError returns the last error once");
  expect(cudaMemcpy(host.data(), d + 8, 56 * sizeof(float), cudaMemcpyDefault) == cudaSuccess,
         "cudaMemcpyDefault infers the direction");
  expect(cudaMemset(d, 0, 64 * sizeof(float)) == cudaSuccess, "cudaMemset");
  expect(cudaMemcpy(host.data(), d, 64 * sizeof(float), cudaMemcpyDeviceToHost) == cudaSuccess &&
             host[0] == 0.0f && host[63] == 0.0f && host[64] == 3.0f,
         "copy out");
  expect(cudaFree(host.data()) == cudaErrorInvalidValue, "freeing a host pointer is cudaErrorInvalidValue");
  expect(cudaFree(d + 1) == cudaErrorInvalidValue, "freeing an interior pointer is cudaErrorInvalidValue");
  cudaStream_t s = nullptr;
  cudaEvent_t start = nullptr, stop = nullptr;
  expect(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) == cudaSuccess, "cudaStreamCreateWithFlags");
  expect(cudaEventCreate(&start) == cudaSuccess && cudaEventCreate(&stop) == cudaSuccess, "cudaEventCreate");
  expect(cudaEventRecord(start, s) == cudaSuccess, "cudaEventRecord");
  expect(cudaMemsetAsync(d, 0, 64, s) == cudaSuccess, "cudaMemsetAsync on a created stream");
  expect(cudaEventRecord(stop, s) == cudaSuccess && cudaEventSynchronize(stop) == cudaSuccess, "record stop");
  float ms = -1.0f;
  expect(cudaEventElapsedTime(&ms, start, stop) == cudaSuccess && ms >= 0.0f, "cudaEventElapsedTime");
  expect(cudaStreamSynchronize(s) == cudaSuccess && cudaStreamDestroy(s) == cudaSuccess, "stream destroy");
  expect(cudaStreamSynchronize(s) == cudaErrorInvalidResourceHandle, "a destroyed stream is invalid");
  expect(cudaEventDestroy(start) == cudaSuccess && cudaEventDestroy(stop) == cudaSuccess, "event destroy");
  std::size_t free_before = 0, free_after = 0, total = 0;
  cudaMemGetInfo(&free_before, &total);
  expect(cudaFree(d) == cudaSuccess, "cudaFree");
  cudaMemGetInfo(&free_after, &total);
  expect(free_after == free_before + 64 * sizeof(float), "cudaMemGetInfo counts allocations");
  void* huge = nullptr;
  expect(cudaMalloc(&huge, total + 1) == cudaErrorMemoryAllocation, "more than the device holds");
  int device = -1, count = 0, version = 0;
  expect(cudaGetDevice(&device) == cudaSuccess && device == 0, "cudaGetDevice");
  expect(cudaGetDeviceCount(&count) == cudaSuccess && count == 1, "cudaGetDeviceCount");
  expect(cudaSetDevice(1) == cudaErrorInvalidDevice, "cudaSetDevice(1)");
  expect(cudaRuntimeGetVersion(&version) == cudaSuccess && version >= 13000, "cudaRuntimeGetVersion");
  expect(std::string(cudaGetErrorString(cudaErrorInvalidConfiguration)) == "invalid configuration argument",
         "cudaGetErrorString");
  // Stream-ordered allocation: the pool keeps a freed block (as used memory) and hands it out again.
  cudaMemPool_t pool = nullptr;
  std::uint64_t reserved = 0, keep = ~0ull;
  expect(cudaDeviceGetDefaultMemPool(&pool, 0) == cudaSuccess &&
             cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep) == cudaSuccess,
         "cudaMemPoolSetAttribute(release threshold)");
  cudaMemPoolTrimTo(pool, 0);  // no free blocks left from earlier tests: the pool holds live ones only
  std::uint64_t live_pool = 0;
  cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &live_pool);
  cudaMemGetInfo(&free_before, &total);
  float* a = nullptr;
  expect(cudaMallocAsync(&a, 1000 * sizeof(float), stream()) == cudaSuccess && a != nullptr, "cudaMallocAsync");
  expect(cudaFreeAsync(a, stream()) == cudaSuccess, "cudaFreeAsync");
  expect(cudaMemcpy(host.data(), a, 4, cudaMemcpyDeviceToHost) == cudaErrorInvalidValue,
         "freed pool memory is no longer device memory");
  cudaMemGetInfo(&free_after, &total);
  expect(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved) == cudaSuccess &&
             reserved >= live_pool + 4000 && free_after + (reserved - live_pool) == free_before,
         "the pool keeps the freed block, counted as used memory");
  float* b = nullptr;
  expect(cudaMallocAsync(&b, 900 * sizeof(float), stream()) == cudaSuccess && b == a, "the pool reuses a block");
  expect(cudaStreamSynchronize(stream()) == cudaSuccess && cudaFreeAsync(b, stream()) == cudaSuccess,
         "free after a synchronisation");
  expect(cudaMemPoolTrimTo(pool, 0) == cudaSuccess &&
             cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved) == cudaSuccess &&
             reserved == live_pool,
         "cudaMemPoolTrimTo(0) gives the free blocks back");
  cudaStream_t capturing = nullptr;
  cudaGraph_t graph = nullptr;
  cudaStreamCreateWithFlags(&capturing, cudaStreamNonBlocking);
  expect(cudaStreamBeginCapture(capturing, cudaStreamCaptureModeThreadLocal) == cudaSuccess &&
             cudaMallocAsync(&a, 64, capturing) == cudaErrorStreamCaptureUnsupported &&
             cudaStreamEndCapture(capturing, &graph) == cudaErrorStreamCaptureInvalidated,
         "cudaMallocAsync on a capturing stream is refused and spoils the capture");
  cudaStreamDestroy(capturing);
  // Grid-stride loops in 32-bit indices stop short of the limit by a grid of threads.
  expect(fits_int32_loop(1000) && !fits_int32_loop(INT32_MAX) &&
             !fits_int32_loop(INT32_MAX - 1000) && fits_int32_loop(INT32_MAX - std::int64_t{grid_for(INT32_MAX)} * kBlockSize),
         "fits_int32_loop leaves room for the loop's last step");
  cudaGetLastError();
  return failures;
}

// ---- the GPU-like mode -----------------------------------------------------------------------

namespace {

// Thread 0 of every block writes its block index: the last block run wins.
__global__ void last_block_kernel(std::int32_t* y) {
  if (threadIdx.x == 0) y[0] = static_cast<std::int32_t>(blockIdx.x);
}

// Thread 0 of every block adds 1 to counter[0] without an atomic, slowly (a read, some work, a
// write): blocks running at the same time lose each other's increments.
__global__ void racy_count_kernel(std::int32_t* counter, int spin) {
  if (threadIdx.x != 0) return;
  const std::int32_t seen = counter[0];
  volatile float work = 0.0f;
  for (int i = 0; i < spin; ++i) work = work + 1.0f;
  counter[0] = seen + 1;
}

// y[i] = a·b + c as written (contracted into an FMA where the compiler may), y[n + i] = the same
// through the _rn intrinsics (never contracted).
__global__ void contraction_kernel(float* y, const float* a, const float* b, const float* c, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  y[i] = a[i] * b[i] + c[i];
  y[n + i] = __fadd_rn(__fmul_rn(a[i], b[i]), c[i]);
}

// y[k·n + i] = function k of x[i] (k: expf, logf, log1pf, expm1f, tanhf, erff, powf(x, 1.7)), and
// as doubles exp, log, log1p in z.
__global__ void libm_kernel(float* y, double* z, const float* x, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const float v = x[i];
  y[0 * n + i] = expf(v);
  y[1 * n + i] = logf(v);
  y[2 * n + i] = log1pf(v);
  y[3 * n + i] = expm1f(v);
  y[4 * n + i] = tanhf(v);
  y[5 * n + i] = erff(v);
  y[6 * n + i] = powf(v, 1.7f);
  z[0 * n + i] = exp(static_cast<double>(v));
  z[1 * n + i] = log(static_cast<double>(v));
  z[2 * n + i] = log1p(static_cast<double>(v));
}

}  // namespace

std::string mode() { return emu::gpu_mode() ? "gpu" : "exact"; }
int host_threads() { return emu::host_threads(); }

void last_block(std::int32_t* y, int blocks) { NAPINET_LAUNCH(last_block_kernel, blocks, 32, 0, y); }

void racy_count(std::int32_t* counter, int blocks, int spin) {
  NAPINET_LAUNCH(racy_count_kernel, blocks, 32, 0, counter, spin);
}

void contraction(float* y, const float* a, const float* b, const float* c, int n) {
  NAPINET_LAUNCH(contraction_kernel, (n + 63) / 64, 64, 0, y, a, b, c, n);
}

void libm(float* y, double* z, const float* x, int n) {
  NAPINET_LAUNCH(libm_kernel, (n + 63) / 64, 64, 0, y, z, x, n);
}

}  // namespace napinet::cuda::selftest
