// Device memory and CUDA graphs for the CUDA backend (declared in cuda/api.h; scratch() in
// cuda/common.cuh). Tests: test/cuda-memory.test.ts, test/cuda-graph.test.ts, test/leak.test.ts.
//
// Allocation is stream-ordered: cudaMallocAsync / cudaFreeAsync on the current device's stream(),
// from the device's default memory pool, whose release threshold is raised so it keeps what is
// freed. A free never waits for the GPU (CUDA reuses the block only after the work queued before
// the free), so dispose(), finalizers and workspace growth cost no synchronisation; on a device
// without memory pools, or with NAPINET_CUDA_POOL=0 (e.g. for compute-sanitizer to see every
// free), cudaMalloc / cudaFree are used instead.
//
// Captures: a free on a thread that is capturing a graph is kept until the capture ends (a free
// inside the capture would become a node of the graph, and a finalizer can run at any time), and
// an allocation throws. Workspaces (scratch()) are reference-counted blocks: a capture takes a
// reference to every block its kernels use, and the graph holds them until it is destroyed, so a
// later call that grows a workspace cannot free memory that a replay of the graph writes.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.cuh"

namespace napinet::cuda {
namespace {

constexpr int kMaxDevices = 64;

// ---- the allocator's bookkeeping (all threads) ----

struct Live {
  std::size_t bytes;
  int device;
  bool pooled;  // from cudaMallocAsync
};

struct DeviceCounters {
  std::size_t live_bytes = 0, live_allocations = 0, peak_live_bytes = 0;
};

struct Allocator {
  std::mutex mutex;
  std::unordered_map<void*, Live> live;
  DeviceCounters counters[kMaxDevices];
  // Per device: 0 not yet set up, 1 stream-ordered (pool), 2 cudaMalloc.
  int mode[kMaxDevices] = {};
  unsigned long long used_devices = 0;  // bit d: device d was used (for synchronize())
};

Allocator& allocator() {
  static Allocator* a = new Allocator;  // never destroyed: frees may come from static destructors
  return *a;
}

bool pool_disabled_by_environment() {
  static const bool disabled = [] {
    const char* value = std::getenv("NAPINET_CUDA_POOL");
    return value != nullptr && std::strcmp(value, "0") == 0;
  }();
  return disabled;
}

void check_device_index(int device) {
  if (device < 0 || device >= kMaxDevices) {
    throw Error("napinet supports CUDA devices 0 to " + std::to_string(kMaxDevices - 1) +
                    " but device " + std::to_string(device) + " was asked for",
                cudaErrorInvalidDevice);
  }
}

// Sets up `device`'s allocation mode once: its default pool keeps freed memory (release threshold
// = everything), or cudaMalloc when the device has no pools or the environment says so.
bool stream_ordered(int device) {
  check_device_index(device);
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.used_devices |= 1ull << device;
  if (a.mode[device] == 0) {
    int supported = 0;
    if (!pool_disabled_by_environment() &&
        cudaDeviceGetAttribute(&supported, cudaDevAttrMemoryPoolsSupported, device) == cudaSuccess &&
        supported) {
      cudaMemPool_t pool = nullptr;
      NAPINET_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
      std::uint64_t keep_everything = std::numeric_limits<std::uint64_t>::max();
      NAPINET_CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_everything));
      a.mode[device] = 1;
    } else {
      cudaGetLastError();
      a.mode[device] = 2;
    }
  }
  return a.mode[device] == 1;
}

// ---- this thread's capture ----

struct Block;

struct ThreadCapture {
  bool active = false;
  int device = 0;
  std::vector<std::shared_ptr<Block>> retained;  // workspaces the captured kernels use
  std::vector<void*> deferred_frees;             // freed while capturing
  std::vector<void*> deferred_graphs;            // destroyed while capturing
};
thread_local ThreadCapture t_capture;

std::string text_of(cudaError_t error) {
  return std::string(cudaGetErrorString(error)) + " (" + cudaGetErrorName(error) + ")";
}

// cudaFreeAsync or cudaFree on the pointer's device, with the thread's current device restored.
void release(void* pointer, const Live& live) noexcept {
  int previous = -1;
  if (cudaGetDevice(&previous) == cudaSuccess && previous != live.device) cudaSetDevice(live.device);
  // Fails only when the runtime is already shut down (process exit).
  const cudaError_t error = live.pooled ? cudaFreeAsync(pointer, stream()) : cudaFree(pointer);
  if (error != cudaSuccess) cudaGetLastError();
  if (previous >= 0 && previous != live.device) cudaSetDevice(previous);
}

void destroy_graph_now(void* graph) noexcept;

// Releases what the thread deferred during its capture (after the capture ended).
void run_deferred() noexcept {
  std::vector<void*> frees, graphs;
  frees.swap(t_capture.deferred_frees);
  graphs.swap(t_capture.deferred_graphs);
  for (void* graph : graphs) destroy_graph_now(graph);
  for (void* pointer : frees) cuda::free(pointer);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// alloc / free
// ---------------------------------------------------------------------------------------------

void* alloc(std::size_t bytes) {
  const int device = current_device();
  if (t_capture.active) {
    throw_error(cudaErrorStreamCaptureUnsupported,
                ("cuda::alloc(" + std::to_string(bytes) +
                 " bytes) while this thread captures a CUDA graph (create the buffers and workspaces "
                 "before capturing, e.g. by running the captured work once)")
                    .c_str(),
                __FILE__, __LINE__);
  }
  const bool pooled = stream_ordered(device);
  void* pointer = nullptr;
  cudaError_t error = pooled ? cudaMallocAsync(&pointer, bytes, stream()) : cudaMalloc(&pointer, bytes);
  if (error == cudaErrorMemoryAllocation) {
    // Memory freed on other threads' streams, or held by the pools of this process, may come back
    // once the device is idle: wait, trim, and try once more.
    cudaGetLastError();
    release_cached_memory(device);
    error = pooled ? cudaMallocAsync(&pointer, bytes, stream()) : cudaMalloc(&pointer, bytes);
  }
  if (error == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    std::size_t free_bytes = 0, total_bytes = 0;
    std::string state;
    if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
      state = " (" + std::to_string(free_bytes >> 20) + " MiB free of " + std::to_string(total_bytes >> 20) +
              " MiB)";
    }
    cudaGetLastError();
    throw OutOfMemory("CUDA out of memory allocating " + std::to_string(bytes) + " bytes on " +
                          device_label() + ": " + text_of(error) + state,
                      error);
  }
  if (pooled) {
    check(error, "cudaMallocAsync(&pointer, bytes, stream())", __FILE__, __LINE__);
  } else {
    check(error, "cudaMalloc(&pointer, bytes)", __FILE__, __LINE__);
  }
  Allocator& a = allocator();
  std::lock_guard<std::mutex> lock(a.mutex);
  a.live[pointer] = Live{bytes, device, pooled};
  DeviceCounters& c = a.counters[device];
  c.live_bytes += bytes;
  ++c.live_allocations;
  c.peak_live_bytes = std::max(c.peak_live_bytes, c.live_bytes);
  return pointer;
}

void free(void* device_ptr) noexcept {
  if (device_ptr == nullptr) return;
  if (t_capture.active) {
    t_capture.deferred_frees.push_back(device_ptr);
    return;
  }
  Live live{};
  {
    Allocator& a = allocator();
    std::lock_guard<std::mutex> lock(a.mutex);
    auto it = a.live.find(device_ptr);
    if (it == a.live.end()) return;  // not from alloc (a bug elsewhere): leave it alone
    live = it->second;
    a.live.erase(it);
    DeviceCounters& c = a.counters[live.device];
    c.live_bytes -= live.bytes;
    --c.live_allocations;
  }
  release(device_ptr, live);
}

MemoryStats memory_stats(int index) {
  check_device_index(index);
  MemoryStats stats;
  const bool pooled = stream_ordered(index);
  {
    Allocator& a = allocator();
    std::lock_guard<std::mutex> lock(a.mutex);
    const DeviceCounters& c = a.counters[index];
    stats.live_bytes = c.live_bytes;
    stats.live_allocations = c.live_allocations;
    stats.peak_live_bytes = c.peak_live_bytes;
  }
  stats.stream_ordered = pooled;
  stats.deferred_frees = t_capture.deferred_frees.size();
  if (pooled) {
    cudaMemPool_t pool = nullptr;
    NAPINET_CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, index));
    std::uint64_t reserved = 0, used = 0;
    NAPINET_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrReservedMemCurrent, &reserved));
    NAPINET_CUDA_CHECK(cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used));
    stats.pool_reserved_bytes = static_cast<std::size_t>(reserved);
    stats.pool_used_bytes = static_cast<std::size_t>(used);
  }
  const int previous = current_device();
  use_device(index);
  const cudaError_t error = cudaMemGetInfo(&stats.free_bytes, &stats.total_bytes);
  use_device(previous);
  check(error, "cudaMemGetInfo(&free, &total)", __FILE__, __LINE__);
  return stats;
}

void release_cached_memory(int index) {
  if (!stream_ordered(index)) return;
  const int previous = current_device();
  use_device(index);
  const cudaError_t synced = cudaDeviceSynchronize();
  cudaMemPool_t pool = nullptr;
  cudaError_t error = cudaDeviceGetDefaultMemPool(&pool, index);
  if (error == cudaSuccess) error = cudaMemPoolTrimTo(pool, 0);
  use_device(previous);
  check(synced, "cudaDeviceSynchronize()", __FILE__, __LINE__);
  check(error, "cudaMemPoolTrimTo(pool, 0)", __FILE__, __LINE__);
}

void synchronize(int index) {
  if (index >= 0) {
    const int previous = current_device();
    use_device(index);
    const cudaError_t error = cudaDeviceSynchronize();
    use_device(previous);
    check(error, "cudaDeviceSynchronize()", __FILE__, __LINE__);
    return;
  }
  unsigned long long used = 0;
  {
    Allocator& a = allocator();
    std::lock_guard<std::mutex> lock(a.mutex);
    used = a.used_devices;
  }
  used |= 1ull << current_device();
  for (int device = 0; device < kMaxDevices; ++device) {
    if ((used >> device) & 1ull) synchronize(device);
  }
}

// ---------------------------------------------------------------------------------------------
// Workspaces (scratch() in common.cuh)
// ---------------------------------------------------------------------------------------------

namespace {

// A workspace's device memory; freed (stream-ordered) when the last holder lets go: the workspace
// itself, or a graph whose capture used it.
struct Block {
  void* data = nullptr;
  std::size_t bytes = 0;
  Block(std::size_t size) : data(cuda::alloc(size)), bytes(size) {}
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;
  ~Block() { cuda::free(data); }
};

struct Workspace {
  std::shared_ptr<Block> block;
};

// This thread's workspaces, per device and kind; freed when the thread exits.
struct ThreadWorkspaces {
  std::vector<Workspace> slots;  // device · kScratchKinds + kind
};
thread_local ThreadWorkspaces t_workspaces;

constexpr std::size_t kScratchKinds = static_cast<std::size_t>(Scratch::kCount);
constexpr std::size_t kScratchGranule = std::size_t{64} << 10;

}  // namespace

void* scratch(Scratch kind, std::size_t bytes) {
  const int device = current_device();
  const std::size_t slot = static_cast<std::size_t>(device) * kScratchKinds + static_cast<std::size_t>(kind);
  if (t_workspaces.slots.size() <= slot) t_workspaces.slots.resize(slot + 1);
  Workspace& w = t_workspaces.slots[slot];
  if (!w.block || w.block->bytes < bytes) {
    // Grow to at least twice the old size (a few sizes in all), in 64 KiB steps. The old block is
    // freed stream-ordered (after the kernels queued before), unless a graph still holds it.
    std::size_t size = std::max(bytes, w.block ? 2 * w.block->bytes : std::size_t{0});
    size = (std::max<std::size_t>(size, 1) + kScratchGranule - 1) / kScratchGranule * kScratchGranule;
    w.block.reset();
    w.block = std::make_shared<Block>(size);  // throws during a capture: allocate before capturing
  }
  if (t_capture.active) {
    auto& kept = t_capture.retained;
    if (std::find(kept.begin(), kept.end(), w.block) == kept.end()) kept.push_back(w.block);
  }
  return w.block->data;
}

// ---------------------------------------------------------------------------------------------
// CUDA graphs (stream capture)
// ---------------------------------------------------------------------------------------------

namespace {

struct Graph {
  cudaGraphExec_t exec = nullptr;
  int device = 0;
  std::vector<std::shared_ptr<Block>> retained;
};

void destroy_graph_now(void* graph) noexcept {
  auto* g = static_cast<Graph*>(graph);
  int previous = -1;
  if (cudaGetDevice(&previous) == cudaSuccess && previous != g->device) cudaSetDevice(g->device);
  // No wait: CUDA frees an executable graph that is still running once it completes. The
  // workspaces it held are then freed on this thread's stream, after the graph's launches on it.
  if (cudaGraphExecDestroy(g->exec) != cudaSuccess) cudaGetLastError();
  if (previous >= 0 && previous != g->device) cudaSetDevice(previous);
  delete g;
}

// Ends this thread's capture state (the CUDA capture itself is ended by the caller).
std::vector<std::shared_ptr<Block>> finish_capture() {
  std::vector<std::shared_ptr<Block>> retained;
  retained.swap(t_capture.retained);
  t_capture.active = false;
  return retained;
}

}  // namespace

void begin_capture() {
  if (t_capture.active) {
    throw Error("cuda::begin_capture: this thread is already capturing a CUDA graph", cudaErrorIllegalState);
  }
  const int device = current_device();
  NAPINET_CUDA_CHECK(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal));
  t_capture.active = true;
  t_capture.device = device;
}

void* end_capture() {
  if (!t_capture.active) {
    throw Error("cuda::end_capture: this thread is not capturing a CUDA graph", cudaErrorIllegalState);
  }
  const int previous = current_device();
  use_device(t_capture.device);
  auto graph = std::make_unique<Graph>();
  graph->device = t_capture.device;
  graph->retained = finish_capture();
  struct Deferred {
    ~Deferred() { run_deferred(); }
  } deferred;  // after the capture, whatever happens below
  cudaGraph_t recorded = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(stream(), &recorded);
  use_device(previous);
  check(ended, "cudaStreamEndCapture(stream(), &graph)", __FILE__, __LINE__);
  const cudaError_t instantiated = cudaGraphInstantiate(&graph->exec, recorded, 0);
  cudaGraphDestroy(recorded);  // the executable graph keeps what it needs
  check(instantiated, "cudaGraphInstantiate(&exec, graph, 0)", __FILE__, __LINE__);
  return graph.release();
}

void abort_capture() noexcept {
  if (!t_capture.active) return;
  int previous = -1;
  if (cudaGetDevice(&previous) == cudaSuccess && previous != t_capture.device) cudaSetDevice(t_capture.device);
  const int device = t_capture.device;
  finish_capture();
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(stream(), &graph) == cudaSuccess && graph != nullptr) cudaGraphDestroy(graph);
  cudaGetLastError();  // the failed capture's error is not the next call's
  if (previous >= 0 && previous != device) cudaSetDevice(previous);
  run_deferred();
}

void launch_graph(void* graph) {
  auto* g = static_cast<Graph*>(graph);
  const int previous = current_device();
  use_device(g->device);
  const cudaError_t error = cudaGraphLaunch(g->exec, stream());
  use_device(previous);
  check(error, "cudaGraphLaunch(graph, stream())", __FILE__, __LINE__);
}

void destroy_graph(void* graph) noexcept {
  if (graph == nullptr) return;
  if (t_capture.active) {
    t_capture.deferred_graphs.push_back(graph);
    return;
  }
  destroy_graph_now(graph);
}

}  // namespace napinet::cuda
