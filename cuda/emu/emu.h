// napinet's CUDA emulator: the part of CUDA that napinet's kernels use, for the host compiler, so the
// very same cuda/*.cu sources run on a machine without a GPU (CI, laptops). cuda/common.cuh includes
// this header instead of <cuda_runtime.h> when NAPINET_CUDA_EMU is defined (npm run build:emu).
//
// Execution model: a launch runs its blocks one after another (highest block index first) on the
// calling OS thread, under one process-wide lock. The threads of a block are cooperative fibers:
// each runs until it finishes or waits in __syncthreads or a warp operation. In the first block run
// the highest thread index goes first, in the next block the lowest, and so on alternating: a
// thread that reads shared memory without the barrier it needs then sees stale data, whether the
// data flows from lower threads to higher ones (a broadcast from thread 0) or the other way (a
// tree reduction). Barriers and warp operations are real rendezvous: __syncthreads releases nobody
// until every thread of the block has reached the same __syncthreads (same file and line);
// __shfl_*_sync exchange values between the lanes of a warp that called the same operation.
// Because nothing else runs while a fiber runs, a plain read-modify-write is atomic.
//
// Checks a GPU does not make (each throws napinet::cuda::Error naming the kernel and launch site):
//   - a __syncthreads that only some threads of a block reach (some exited or wait elsewhere);
//   - warp operations whose lanes never all arrive, or arrive at different operations;
//   - a pointer argument that is neither null nor inside memory from cudaMalloc (a host pointer);
//   - writes up to 256 bytes before or after a cudaMalloc buffer passed to the kernel;
//   - dynamic shared memory and fresh cudaMalloc memory hold NaN (all bits set) until written.
// Invalid launch configurations set cudaErrorInvalidConfiguration like CUDA. Limits: cuda/README.md.
//
// The GPU-like mode (npm run build:emu-gpu → build-emu-gpu/, NAPINET_CUDA_EMU_GPU): what a real GPU
// does differently from the exact mode above, so tests meet it before a GPU does —
//   - a grid's blocks run concurrently on several host threads (NAPINET_CUDA_EMU_THREADS, default
//     4), taken in a different order at every launch: a race between blocks, or a dependence on
//     their order, changes results from run to run (static __shared__ is per host thread, atomics
//     are real atomics);
//   - the kernels are compiled with FMA contraction (-mfma -ffp-contract=fast, as nvcc contracts
//     a·b + c by default), except the _rn intrinsics, which nvcc never contracts;
//   - expf, logf, log1pf, expm1f, tanhf, erff, powf and the double exp, log, log1p return, inside
//     kernels, a result chosen within CUDA's documented error bound of the exact value (emu.cpp has
//     the table), deterministically per argument as a GPU's libm is (NAPINET_CUDA_EMU_LIBM=low or
//     high: always the farthest allowed below or above, the worst case for a tolerance).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "../api.h"
#include "../../native/kernels/common.h"  // in the GPU-like mode: the libm its kernels call
#include "activity.h"

// Host-thread-local in the GPU-like mode, where blocks run on several host threads at once.
#ifdef NAPINET_CUDA_EMU_GPU
#define NAPINET_EMU_TLS thread_local
#else
#define NAPINET_EMU_TLS
#endif

// ---------------------------------------------------------------------------------------------
// Qualifiers and built-in variables
// ---------------------------------------------------------------------------------------------

#define __global__
#define __device__
#define __host__
#define __constant__
#define __forceinline__ inline __attribute__((always_inline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
// A static __shared__ variable is a function-local static: one instance per host thread running
// blocks, used by one block at a time. It is zero before the first block and keeps the previous
// block's values afterwards; only dynamic shared memory is refilled with NaN at each block start.
// `extern __shared__` does not compile here: use NAPINET_DYNAMIC_SHARED (cuda/common.cuh).
#define __shared__ static NAPINET_EMU_TLS
// __restrict__ is a keyword of GCC and Clang already.

struct uint3 {
  unsigned int x, y, z;
};

struct dim3 {
  unsigned int x, y, z;
  constexpr dim3(unsigned int vx = 1, unsigned int vy = 1, unsigned int vz = 1) : x(vx), y(vy), z(vz) {}
  constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
  constexpr operator uint3() const { return uint3{x, y, z}; }
};

struct __attribute__((aligned(8))) float2 { float x, y; };
struct __attribute__((aligned(16))) float4 { float x, y, z, w; };
struct __attribute__((aligned(8))) int2 { int x, y; };
struct __attribute__((aligned(16))) int4 { int x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }

namespace napinet::emu {
// The current emulated thread's coordinates, set by the scheduler before it resumes a fiber.
extern NAPINET_EMU_TLS uint3 g_thread_idx;
extern NAPINET_EMU_TLS uint3 g_block_idx;
extern NAPINET_EMU_TLS dim3 g_block_dim;
extern NAPINET_EMU_TLS dim3 g_grid_dim;
}  // namespace napinet::emu

#define threadIdx (static_cast<const uint3&>(::napinet::emu::g_thread_idx))
#define blockIdx (static_cast<const uint3&>(::napinet::emu::g_block_idx))
#define blockDim (static_cast<const dim3&>(::napinet::emu::g_block_dim))
#define gridDim (static_cast<const dim3&>(::napinet::emu::g_grid_dim))
constexpr int warpSize = 32;

// ---------------------------------------------------------------------------------------------
// Runtime API (a subset, same names, values and signatures as cuda_runtime_api.h)
// ---------------------------------------------------------------------------------------------

enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorCudartUnloading = 4,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorInvalidMemcpyDirection = 21,
  cudaErrorInsufficientDriver = 35,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoKernelImageForDevice = 209,
  cudaErrorUnsupportedPtxVersion = 222,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalState = 401,
  cudaErrorNotReady = 600,
  cudaErrorIllegalAddress = 700,
  cudaErrorLaunchFailure = 719,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
};
typedef enum cudaError cudaError_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

struct CUstream_st;
typedef struct CUstream_st* cudaStream_t;
struct CUevent_st;
typedef struct CUevent_st* cudaEvent_t;
struct CUgraph_st;
typedef struct CUgraph_st* cudaGraph_t;
struct CUgraphExec_st;
typedef struct CUgraphExec_st* cudaGraphExec_t;
enum cudaStreamCaptureMode {
  cudaStreamCaptureModeGlobal = 0,
  cudaStreamCaptureModeThreadLocal = 1,
  cudaStreamCaptureModeRelaxed = 2,
};
#define cudaStreamLegacy ((cudaStream_t)0x1)
#define cudaStreamPerThread ((cudaStream_t)0x2)
#define cudaStreamDefault 0x00
#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventBlockingSync 0x01
#define cudaEventDisableTiming 0x02

struct cudaDeviceProp {
  char name[256];
  std::size_t totalGlobalMem;
  std::size_t sharedMemPerBlock;
  int regsPerBlock;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int major;
  int minor;
  int multiProcessorCount;
  int maxThreadsPerMultiProcessor;
  std::size_t sharedMemPerMultiprocessor;
};

enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMemoryPoolsSupported = 115,
};

struct cudaFuncAttributes {
  std::size_t sharedSizeBytes;
  std::size_t constSizeBytes;
  std::size_t localSizeBytes;
  int maxThreadsPerBlock;
  int numRegs;
  int ptxVersion;
  int binaryVersion;
};

cudaError_t cudaMalloc(void** ptr, std::size_t bytes);
template <typename T>
cudaError_t cudaMalloc(T** ptr, std::size_t bytes) {
  return cudaMalloc(reinterpret_cast<void**>(ptr), bytes);
}
cudaError_t cudaFree(void* ptr);

// Stream-ordered allocation from the current device's memory pool. The pool keeps what
// cudaFreeAsync returns and hands it out again (cudaMemGetInfo counts it as used); at a
// synchronisation it gives back to the system what exceeds its release threshold (0 unless set).
// Work runs when issued here, so "stream-ordered" needs nothing more; on a capturing stream both
// calls fail with cudaErrorStreamCaptureUnsupported (CUDA would add graph memory nodes, which
// napinet never wants: its allocator defers frees and refuses allocations during a capture).
struct CUmemPoolHandle_st;
typedef struct CUmemPoolHandle_st* cudaMemPool_t;
enum cudaMemPoolAttr {
  cudaMemPoolReuseFollowEventDependencies = 1,
  cudaMemPoolReuseAllowOpportunistic = 2,
  cudaMemPoolReuseAllowInternalDependencies = 3,
  cudaMemPoolAttrReleaseThreshold = 4,    // std::uint64_t
  cudaMemPoolAttrReservedMemCurrent = 5,  // std::uint64_t: memory the pool holds
  cudaMemPoolAttrReservedMemHigh = 6,
  cudaMemPoolAttrUsedMemCurrent = 7,      // std::uint64_t: of which handed out
  cudaMemPoolAttrUsedMemHigh = 8,
};
cudaError_t cudaMallocAsync(void** ptr, std::size_t bytes, cudaStream_t stream);
template <typename T>
cudaError_t cudaMallocAsync(T** ptr, std::size_t bytes, cudaStream_t stream) {
  return cudaMallocAsync(reinterpret_cast<void**>(ptr), bytes, stream);
}
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream);
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value);
cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value);
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, std::size_t min_bytes_to_keep);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream = nullptr);
cudaError_t cudaMemset(void* dst, int value, std::size_t bytes);
cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t stream = nullptr);

cudaError_t cudaStreamCreate(cudaStream_t* stream);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags);
cudaError_t cudaStreamDestroy(cudaStream_t stream);
cudaError_t cudaStreamSynchronize(cudaStream_t stream);
cudaError_t cudaStreamQuery(cudaStream_t stream);
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int flags = 0);

cudaError_t cudaEventCreate(cudaEvent_t* event);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags);
cudaError_t cudaEventDestroy(cudaEvent_t event);
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t event);
cudaError_t cudaEventQuery(cudaEvent_t event);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end);

// Graphs by stream capture: while a stream captures, its launches, device-to-device copies and
// memsets are recorded instead of run; calls that would wait or allocate (synchronisations,
// cudaMalloc/cudaFree, copies to or from host memory) fail with cudaErrorStreamCaptureUnsupported
// and invalidate the capture, so cudaStreamEndCapture then fails (cudaErrorStreamCaptureInvalidated)
// — the restrictions CUDA places on a thread-local capture. cudaGraphLaunch replays the recording
// synchronously on the given stream.
cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);

cudaError_t cudaDeviceSynchronize();
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
const char* cudaGetErrorString(cudaError_t error);
const char* cudaGetErrorName(cudaError_t error);
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaRuntimeGetVersion(int* version);

namespace napinet::emu {
cudaError_t func_get_attributes(cudaFuncAttributes* attributes);
// Whether the calling host thread is running a kernel's blocks; the mode of this build (the
// GPU-like mode: NAPINET_CUDA_EMU_GPU) and how many host threads run a grid's blocks.
bool in_kernel();
bool gpu_mode();
int host_threads();
}
template <typename T>
cudaError_t cudaFuncGetAttributes(cudaFuncAttributes* attributes, T* /*kernel*/) {
  return ::napinet::emu::func_get_attributes(attributes);
}

// ---------------------------------------------------------------------------------------------
// Barriers, warp operations (file and line of the call are recorded for the emulator's checks)
// ---------------------------------------------------------------------------------------------

void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE());
int __syncthreads_count(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE());
int __syncthreads_and(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE());
int __syncthreads_or(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE());
void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(),
                int line = __builtin_LINE());
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
[[noreturn]] void __trap();

namespace napinet::emu {

// What a warp rendezvous gives each participant: every lane's contribution, and who took part.
struct WarpValues {
  const std::uint64_t* values;  // [32], indexed by lane
  unsigned active;              // lanes that took part (the mask, less lanes the block lacks)
  int lane;                     // the caller's lane
};

// Waits until every lane of `mask` has called the same warp operation, then returns all values.
WarpValues warp_rendezvous(const char* op, unsigned mask, std::uint64_t value, const char* file,
                           int line);
[[noreturn]] void warp_usage_error(const char* op, const char* what, const char* file, int line);

template <typename T>
std::uint64_t to_bits(T value) {
  static_assert(std::is_trivially_copyable<T>::value && sizeof(T) <= 8,
                "warp shuffles move values of up to 8 bytes");
  std::uint64_t bits = 0;
  std::memcpy(&bits, &value, sizeof(T));
  return bits;
}

template <typename T>
T from_bits(std::uint64_t bits) {
  T value;
  std::memcpy(&value, &bits, sizeof(T));
  return value;
}

enum class ShuffleMode { kIndex, kUp, kDown, kXor };

template <typename T>
T shuffle(const char* op, ShuffleMode mode, unsigned mask, T var, int operand, int width,
          const char* file, int line) {
  if (width < 1 || width > 32 || (width & (width - 1)) != 0) {
    warp_usage_error(op, "width must be a power of two in [1, 32]", file, line);
  }
  WarpValues w = warp_rendezvous(op, mask, to_bits(var), file, line);
  const int lane = w.lane;
  const int segment = lane & ~(width - 1);
  int src = lane;
  switch (mode) {
    case ShuffleMode::kIndex: src = segment + (operand & (width - 1)); break;
    case ShuffleMode::kUp: src = (lane - segment) >= operand ? lane - operand : lane; break;
    case ShuffleMode::kDown: src = (lane - segment) + operand < width ? lane + operand : lane; break;
    case ShuffleMode::kXor: src = (lane ^ operand) < segment + width ? lane ^ operand : lane; break;
  }
  // A lane outside the rendezvous has no defined value: all bits set (NaN for floats, -1 for ints).
  std::uint64_t bits = (src >= 0 && src < 32 && ((w.active >> src) & 1u)) ? w.values[src] : ~0ull;
  return from_bits<T>(bits);
}

}  // namespace napinet::emu

template <typename T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize,
              const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::napinet::emu::shuffle("__shfl_sync", ::napinet::emu::ShuffleMode::kIndex, mask, var,
                                 src_lane, width, file, line);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                 const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::napinet::emu::shuffle("__shfl_up_sync", ::napinet::emu::ShuffleMode::kUp, mask, var,
                                 static_cast<int>(delta), width, file, line);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize,
                   const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::napinet::emu::shuffle("__shfl_down_sync", ::napinet::emu::ShuffleMode::kDown, mask, var,
                                 static_cast<int>(delta), width, file, line);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize,
                  const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
  return ::napinet::emu::shuffle("__shfl_xor_sync", ::napinet::emu::ShuffleMode::kXor, mask, var,
                                 lane_mask, width, file, line);
}

inline unsigned __ballot_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
  auto w = ::napinet::emu::warp_rendezvous("__ballot_sync", mask, predicate != 0, file, line);
  unsigned bits = 0;
  for (int lane = 0; lane < 32; ++lane) {
    if (((w.active >> lane) & 1u) && w.values[lane]) bits |= 1u << lane;
  }
  return bits;
}
inline int __any_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
  auto w = ::napinet::emu::warp_rendezvous("__any_sync", mask, predicate != 0, file, line);
  for (int lane = 0; lane < 32; ++lane) {
    if (((w.active >> lane) & 1u) && w.values[lane]) return 1;
  }
  return 0;
}
inline int __all_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                      int line = __builtin_LINE()) {
  auto w = ::napinet::emu::warp_rendezvous("__all_sync", mask, predicate != 0, file, line);
  for (int lane = 0; lane < 32; ++lane) {
    if (((w.active >> lane) & 1u) && !w.values[lane]) return 0;
  }
  return 1;
}
// The lanes of the caller's warp that exist and have not exited.
unsigned __activemask();

// ---------------------------------------------------------------------------------------------
// Atomics: compare-and-swap loops on the value's bits, atomic across host threads (the GPU-like
// mode runs blocks concurrently) and within a block's fibers alike.
// ---------------------------------------------------------------------------------------------

namespace napinet::emu {
template <typename T, typename Update>
T atomic_update(T* address, Update update) {
  static_assert(sizeof(T) == 4 || sizeof(T) == 8, "atomics on 4- and 8-byte values");
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  Bits* bits = reinterpret_cast<Bits*>(address);
  Bits expected = __atomic_load_n(bits, __ATOMIC_RELAXED);
  for (;;) {
    T old;
    std::memcpy(&old, &expected, sizeof(T));
    const T value = update(old);
    Bits desired;
    std::memcpy(&desired, &value, sizeof(T));
    if (__atomic_compare_exchange_n(bits, &expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
      return old;
    }
  }
}
}  // namespace napinet::emu

#define NAPINET_EMU_ATOMIC(name, type, expr)                                                  \
  inline type name(type* address, type val) {                                                 \
    return ::napinet::emu::atomic_update(address, [val](type old) -> type { return (expr); }); \
  }
NAPINET_EMU_ATOMIC(atomicAdd, int, old + val)
NAPINET_EMU_ATOMIC(atomicAdd, unsigned int, old + val)
NAPINET_EMU_ATOMIC(atomicAdd, unsigned long long, old + val)
NAPINET_EMU_ATOMIC(atomicAdd, float, old + val)
NAPINET_EMU_ATOMIC(atomicAdd, double, old + val)
NAPINET_EMU_ATOMIC(atomicSub, int, old - val)
NAPINET_EMU_ATOMIC(atomicSub, unsigned int, old - val)
NAPINET_EMU_ATOMIC(atomicExch, int, val)
NAPINET_EMU_ATOMIC(atomicExch, unsigned int, val)
NAPINET_EMU_ATOMIC(atomicExch, unsigned long long, val)
NAPINET_EMU_ATOMIC(atomicExch, float, val)
NAPINET_EMU_ATOMIC(atomicMax, int, old > val ? old : val)
NAPINET_EMU_ATOMIC(atomicMax, unsigned int, old > val ? old : val)
NAPINET_EMU_ATOMIC(atomicMax, long long, old > val ? old : val)
NAPINET_EMU_ATOMIC(atomicMax, unsigned long long, old > val ? old : val)
NAPINET_EMU_ATOMIC(atomicMin, int, old < val ? old : val)
NAPINET_EMU_ATOMIC(atomicMin, unsigned int, old < val ? old : val)
NAPINET_EMU_ATOMIC(atomicMin, long long, old < val ? old : val)
NAPINET_EMU_ATOMIC(atomicMin, unsigned long long, old < val ? old : val)
NAPINET_EMU_ATOMIC(atomicAnd, int, old & val)
NAPINET_EMU_ATOMIC(atomicAnd, unsigned int, old & val)
NAPINET_EMU_ATOMIC(atomicOr, int, old | val)
NAPINET_EMU_ATOMIC(atomicOr, unsigned int, old | val)
NAPINET_EMU_ATOMIC(atomicXor, int, old ^ val)
NAPINET_EMU_ATOMIC(atomicXor, unsigned int, old ^ val)
NAPINET_EMU_ATOMIC(atomicInc, unsigned int, old >= val ? 0u : old + 1u)
NAPINET_EMU_ATOMIC(atomicDec, unsigned int, (old == 0u || old > val) ? val : old - 1u)
#undef NAPINET_EMU_ATOMIC

#define NAPINET_EMU_ATOMIC_CAS(type)                                                  \
  inline type atomicCAS(type* address, type compare, type val) {                      \
    __atomic_compare_exchange_n(address, &compare, val, false, __ATOMIC_SEQ_CST,      \
                                __ATOMIC_SEQ_CST);                                    \
    return compare; /* the old value, whether or not it was replaced */               \
  }
NAPINET_EMU_ATOMIC_CAS(int)
NAPINET_EMU_ATOMIC_CAS(unsigned int)
NAPINET_EMU_ATOMIC_CAS(unsigned long long)
#undef NAPINET_EMU_ATOMIC_CAS

// ---------------------------------------------------------------------------------------------
// Device functions and intrinsics, mapped to <cmath> and GCC builtins
// ---------------------------------------------------------------------------------------------

inline float __expf(float x) { return std::exp(x); }
inline float __exp10f(float x) { return std::pow(10.0f, x); }
inline float __logf(float x) { return std::log(x); }
inline float __log2f(float x) { return std::log2(x); }
inline float __log10f(float x) { return std::log10(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __tanf(float x) { return std::tan(x); }
inline void __sincosf(float x, float* s, float* c) { *s = std::sin(x); *c = std::cos(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
// The _rn intrinsics round each operation on its own: nvcc never contracts them into an FMA, and
// neither may the host compiler in the GPU-like mode (kernels compiled with -ffp-contract=fast).
namespace napinet::emu {
inline float rounded(float x) {
#if defined(NAPINET_CUDA_EMU_GPU) && defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  __asm__("" : "+x"(x));  // an opaque value: nothing fuses across it
#elif defined(NAPINET_CUDA_EMU_GPU)
  volatile float v = x;
  x = v;
#endif
  return x;
}
}  // namespace napinet::emu
inline float __fadd_rn(float x, float y) { return ::napinet::emu::rounded(x + y); }
inline float __fsub_rn(float x, float y) { return ::napinet::emu::rounded(x - y); }
inline float __fmul_rn(float x, float y) { return ::napinet::emu::rounded(x * y); }
inline float __fdiv_rn(float x, float y) { return ::napinet::emu::rounded(x / y); }
inline float __fmaf_rn(float x, float y, float z) { return std::fma(x, y, z); }
inline float __saturatef(float x) { return x < 0.0f ? 0.0f : (x > 1.0f ? 1.0f : (x == x ? x : 0.0f)); }
inline int __float_as_int(float x) { int i; std::memcpy(&i, &x, 4); return i; }
inline unsigned int __float_as_uint(float x) { unsigned int i; std::memcpy(&i, &x, 4); return i; }
inline float __int_as_float(int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline float __uint_as_float(unsigned int i) { float x; std::memcpy(&x, &i, 4); return x; }
inline int __float2int_rn(float x) { return static_cast<int>(std::nearbyint(x)); }
inline int __float2int_rz(float x) { return static_cast<int>(x); }
inline int __float2int_rd(float x) { return static_cast<int>(std::floor(x)); }
inline int __float2int_ru(float x) { return static_cast<int>(std::ceil(x)); }
inline float __int2float_rn(int i) { return static_cast<float>(i); }
inline int __popc(unsigned int x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __clzll(long long x) { return x == 0 ? 64 : __builtin_clzll(static_cast<unsigned long long>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }
inline int __ffsll(long long x) { return __builtin_ffsll(x); }
inline unsigned int __brev(unsigned int x) {
  x = ((x >> 1) & 0x55555555u) | ((x & 0x55555555u) << 1);
  x = ((x >> 2) & 0x33333333u) | ((x & 0x33333333u) << 2);
  x = ((x >> 4) & 0x0f0f0f0fu) | ((x & 0x0f0f0f0fu) << 4);
  return __builtin_bswap32(x);
}
template <typename T>
inline T __ldg(const T* p) { return *p; }

// CUDA's global min/max for device code (same-type overloads; mixed types: cast first).
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned int min(unsigned int a, unsigned int b) { return a < b ? a : b; }
inline unsigned int max(unsigned int a, unsigned int b) { return a > b ? a : b; }
inline long min(long a, long b) { return a < b ? a : b; }
inline long max(long a, long b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline unsigned long long min(unsigned long long a, unsigned long long b) { return a < b ? a : b; }
inline unsigned long long max(unsigned long long a, unsigned long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }
inline double min(double a, double b) { return std::fmin(a, b); }
inline double max(double a, double b) { return std::fmax(a, b); }

// ---------------------------------------------------------------------------------------------
// Kernel launch (NAPINET_LAUNCH in cuda/common.cuh calls this; kernels never call it directly)
// ---------------------------------------------------------------------------------------------

namespace napinet::emu {

struct LaunchSite {
  const char* kernel;  // the kernel expression as written
  const char* file;
  int line;
};

struct PointerArg {
  const void* pointer;
  int index;  // 0-based position among the kernel's parameters
};

// Runs body(context) once per thread of every block. An invalid configuration sets the last error
// (cudaErrorInvalidConfiguration / cudaErrorInvalidValue) and runs nothing, as CUDA does; a fault
// found while running throws napinet::cuda::Error.
void run_kernel(const LaunchSite& site, dim3 grid, dim3 block, std::size_t shared_bytes,
                cudaStream_t stream, void (*body)(void*), void* context, const PointerArg* pointers,
                int pointer_count);

// The current block's dynamic shared memory (NAPINET_DYNAMIC_SHARED).
void* dynamic_shared();

// Whether any stream is capturing a graph (a cheap test before capture_launch).
bool capturing_any();
// When `stream` is capturing a graph, keeps `replay` (which runs the launch on the stream it is
// given) in the capture and returns true; otherwise returns false and the caller runs the launch.
bool capture_launch(cudaStream_t stream, std::function<void(cudaStream_t)> replay);


template <typename... Params, typename... Args>
void launch(const LaunchSite& site, dim3 grid, dim3 block, std::size_t shared_bytes,
            cudaStream_t stream, void (*kernel)(Params...), Args&&... args) {
  static_assert(sizeof...(Params) == sizeof...(Args), "wrong number of kernel arguments");
  // Arguments are converted to the parameter types once, as a launch does, and each emulated
  // thread calls the kernel with its own copy of them.
  struct Context {
    void (*kernel)(Params...);
    std::tuple<std::decay_t<Params>...> params;
  };
  Context context{kernel, std::tuple<std::decay_t<Params>...>(std::forward<Args>(args)...)};
  PointerArg pointers[sizeof...(Params) + 1];
  int pointer_count = 0;
  std::apply(
      [&](const auto&... param) {
        int index = 0;
        auto note = [&](const auto& value) {
          if constexpr (std::is_pointer<std::decay_t<decltype(value)>>::value) {
            if (value != nullptr) pointers[pointer_count++] = {static_cast<const void*>(value), index};
          }
          ++index;
        };
        (note(param), ...);
        (void)note;  // a kernel without parameters
      },
      context.params);
  void (*body)(void*) = [](void* p) {
    auto* c = static_cast<Context*>(p);
    std::apply(c->kernel, c->params);
  };
  if (capturing_any()) {
    // A launch into a capture keeps its own copy of the arguments, as a graph node does.
    auto held = std::make_shared<Context>(std::move(context));
    std::vector<PointerArg> held_pointers(pointers, pointers + pointer_count);
    const LaunchSite* where = &site;
    if (capture_launch(stream, [=](cudaStream_t replay_stream) {
          run_kernel(*where, grid, block, shared_bytes, replay_stream, body, held.get(),
                     held_pointers.data(), static_cast<int>(held_pointers.size()));
        })) {
      return;
    }
    context = std::move(*held);
  }
  run_kernel(site, grid, block, shared_bytes, stream, body, &context, pointers, pointer_count);
}

}  // namespace napinet::emu
