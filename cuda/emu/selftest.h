// Small kernels that exercise the CUDA emulator itself (built only with NAPINET_CUDA_EMU; exported
// to JavaScript by native/binding/cuda/emu/selftest.cc). Pointers are device pointers.
// Test: test/cuda-emu.test.ts.
#pragma once

#include <cstdint>
#include <string>

namespace napinet::cuda::selftest {

// A <<<(2,3,2), (4,2,3)>>> launch: out[t] for every thread t (linear over the grid, x fastest)
// = 1000·linear block index + linear thread index; dims[0..5] = gridDim.xyz, blockDim.xyz.
void coordinates(std::int32_t* out, std::int32_t* dims);
// sums[b] = sum of x[b·threads, (b+1)·threads): a shared-memory tree per block. With
// barriers = false its __syncthreads are left out, a bug the emulator's thread order exposes.
void block_sums(float* sums, const float* x, int blocks, int threads, bool barriers);
// y = x / sum(x) in one block of n threads: the sum is reduced in shared memory and read back by
// every thread; with barriers = false the barrier before that read is left out.
void normalize(float* y, const float* x, int n, bool barriers);
// sums[w] = sum of the 32 values of warp w (n threads in blocks of `block`), by __shfl_down_sync.
void warp_sums(float* sums, const float* x, int n, int block);
// y[i] = inclusive prefix sum of x within each warp (__shfl_up_sync) and m[i] = the warp's maximum
// (__shfl_xor_sync butterfly); `width` splits warps into independent segments of that many lanes.
void warp_scan_max(float* y, float* m, const float* x, int n, int width);
// For each warp w: votes[3w] = __ballot_sync(x > 0), votes[3w+1] = __any_sync(x > 0),
// votes[3w+2] = __all_sync(x > 0); lane l of the warp reads x[32w + l].
void votes(std::int32_t* votes, const float* x, int n);
// counters[0] += 1 per thread (atomicAdd int), counters[1] = max of v (atomicMax),
// counters[2] = min of v (atomicMin), counters[3] = threads that won an atomicCAS 0→1 on
// counters[4] (exactly 1), total[0] += x[i] (atomicAdd float); n threads in blocks of 64.
void atomics(std::int32_t* counters, float* total, const float* x, const std::int32_t* v, int n);
// y = x with every block's slice of `block` elements reversed, through dynamic shared memory.
void reverse_blocks(float* y, const float* x, int n, int block);
// y[i] = dynamic shared memory read before anything was written to it (the emulator gives NaN).
void read_uninitialized_shared(float* y, int n);
// Threads with index ≥ threads/2 return before a __syncthreads the others reach: an error.
void divergent_barrier(float* y, int threads);
// Threads reach two different __syncthreads (an if/else with a barrier in each branch): an error.
void split_barrier(float* y, int threads);
// A shuffle whose lanes 16..31 have exited: an error.
void incomplete_shuffle(float* y);
// A launch with 2048 threads per block: CUDA's invalid configuration, as an error.
void invalid_launch(float* y);
// A launch with a zero-size grid: invalid configuration too.
void empty_grid_launch(float* y);
// A kernel given a host pointer: an error.
void host_pointer_launch();
// A kernel writing y[n], one element past the end of y: an error.
void write_past_end(float* y, int n);
// Runtime API checks (copies out of range, bad frees, streams, events); "" when all pass,
// otherwise a description of each failed check.
std::string runtime_checks();

// The GPU-like mode (cuda/emu/emu.h): "gpu" or "exact", and the host threads running blocks.
std::string mode();
int host_threads();
// A launch of `blocks` blocks whose thread 0 writes blockIdx.x to y[0]: the last block run wins.
void last_block(std::int32_t* y, int blocks);
// `blocks` blocks each adding 1 to counter[0] with a plain read and write `spin` steps apart.
void racy_count(std::int32_t* counter, int blocks, int spin);
// y[i] = a·b + c as written, y[n + i] = __fadd_rn(__fmul_rn(a, b), c); y holds 2n.
void contraction(float* y, const float* a, const float* b, const float* c, int n);
// y (7n): expf, logf, log1pf, expm1f, tanhf, erff, powf(·, 1.7) of x (n); z (3n, doubles as
// pairs of floats): exp, log, log1p of x.
void libm(float* y, double* z, const float* x, int n);

}  // namespace napinet::cuda::selftest
