// NCCL loaded at run time (see nccl.h). Host code only: nvcc compiles it in the CUDA build, the
// host compiler against cuda/emu in the emulator build.
//
// NCCL's ABI as used here: ncclComm_t is a pointer, ncclUniqueId a 128-byte struct passed by
// value, ncclDataType_t / ncclRedOp_t / ncclResult_t are C enums (ints) with NCCL's values:
// ncclUint8 1, ncclInt32 2, ncclFloat32 7; ncclSum 0, ncclAvg 4 (NCCL 2.10+); ncclSuccess 0,
// ncclInvalidUsage 5, ncclInProgress 7. cudaStream_t is the driver's stream, shared with NCCL's
// own (static) CUDA runtime, and cudaStreamPerThread resolves to the calling thread's stream in
// both; NCCL accepts it for communicators made by ncclCommInitRank (blocking).
#include "nccl.h"

#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "../native/distributed/dynamic_library.h"
#include "../native/distributed/wait.h"
#include "common.cuh"

namespace napinet::cuda::nccl {
namespace {

using distributed::DynamicLibrary;
using distributed::Error;

struct CommT;
using Comm = CommT*;
struct UniqueId {
  unsigned char internal[kUniqueIdBytes];
};
constexpr int kSuccess = 0, kInvalidUsage = 5, kInProgress = 7;
constexpr int kUint8 = 1, kFloat32 = 7;
constexpr int kSum = 0, kAvg = 4;
constexpr int kMinVersion = 21000;  // 2.10: ncclAvg

struct Api {
  DynamicLibrary library;
  int version = 0;
  int (*GetVersion)(int*);
  int (*GetUniqueId)(UniqueId*);
  int (*CommInitRank)(Comm*, int, UniqueId, int);
  int (*CommDestroy)(Comm);
  int (*CommAbort)(Comm);
  int (*CommGetAsyncError)(Comm, int*);
  const char* (*GetErrorString)(int);
  const char* (*GetLastError)(Comm);  // NCCL 2.13+; nullptr before
  int (*AllReduce)(const void*, void*, std::size_t, int, int, Comm, cudaStream_t);
  int (*Broadcast)(const void*, void*, std::size_t, int, int, Comm, cudaStream_t);
  int (*AllGather)(const void*, void*, std::size_t, int, Comm, cudaStream_t);
  int (*GroupStart)();
  int (*GroupEnd)();
};

std::mutex g_mutex;
Api* g_api = nullptr;
std::string g_load_error;  // why libnccl cannot be used (empty: not tried yet, or loaded)
Comm g_comm = nullptr;
int g_rank = 0, g_size = 1;
cudaEvent_t g_done = nullptr;  // recorded after each collective; polled until complete
std::string g_broken;          // why the communicator was aborted

std::string version_text(int v) {
  return std::to_string(v / 10000) + "." + std::to_string(v / 100 % 100) + "." + std::to_string(v % 100);
}

// Loads the library once; on failure remembers why (info() reports it, the others throw it).
Api* load_locked() {
  if (g_api != nullptr) return g_api;
  if (!g_load_error.empty()) return nullptr;
  distributed::LibraryRequest request;
  request.what = "NCCL";
  request.env_override = "NAPINET_NCCL_LIBRARY";
  request.candidates = {"libnccl.so.2", "libnccl.so"};
  request.install_hint =
      "CUDA tensors are reduced with NCCL, loaded at run time. Install it: pip install nvidia-nccl-cu13 "
      "(or -cu12; the library is in site-packages/nvidia/nccl/lib), or NVIDIA's libnccl2 package "
      "(apt-get install libnccl2 from the CUDA repository).";
  try {
    auto api = std::make_unique<Api>();
    api->library = DynamicLibrary::open(request);
    const DynamicLibrary& lib = api->library;
    api->GetVersion = lib.function<decltype(api->GetVersion)>("ncclGetVersion");
    api->GetUniqueId = lib.function<decltype(api->GetUniqueId)>("ncclGetUniqueId");
    api->CommInitRank = lib.function<decltype(api->CommInitRank)>("ncclCommInitRank");
    api->CommDestroy = lib.function<decltype(api->CommDestroy)>("ncclCommDestroy");
    api->CommAbort = lib.function<decltype(api->CommAbort)>("ncclCommAbort");
    api->CommGetAsyncError = lib.function<decltype(api->CommGetAsyncError)>("ncclCommGetAsyncError");
    api->GetErrorString = lib.function<decltype(api->GetErrorString)>("ncclGetErrorString");
    api->GetLastError = reinterpret_cast<decltype(api->GetLastError)>(lib.find("ncclGetLastError"));
    api->AllReduce = lib.function<decltype(api->AllReduce)>("ncclAllReduce");
    api->Broadcast = lib.function<decltype(api->Broadcast)>("ncclBroadcast");
    api->AllGather = lib.function<decltype(api->AllGather)>("ncclAllGather");
    api->GroupStart = lib.function<decltype(api->GroupStart)>("ncclGroupStart");
    api->GroupEnd = lib.function<decltype(api->GroupEnd)>("ncclGroupEnd");
    if (api->GetVersion(&api->version) != kSuccess) throw std::runtime_error("ncclGetVersion failed");
    if (api->version < kMinVersion) {
      throw std::runtime_error("NCCL " + version_text(api->version) + " at " + lib.path() +
                               " is too old: napinet needs NCCL 2.10 or newer (ncclAvg)");
    }
    g_api = api.release();  // kept for the life of the process, like the library
    return g_api;
  } catch (const std::exception& e) {
    g_load_error = e.what();
    return nullptr;
  }
}

const Api& loaded_locked() {
  const Api* api = load_locked();
  if (api == nullptr) throw Error(Error::Kind::kUnavailable, g_load_error);
  return *api;
}

std::string result_text(const Api& api, int code) {
  std::string text = std::string(api.GetErrorString(code)) + " (ncclResult_t " + std::to_string(code) + ")";
  if (api.GetLastError != nullptr && g_comm != nullptr) {
    const char* last = api.GetLastError(g_comm);
    if (last != nullptr && *last != '\0') text += ": " + std::string(last);
  }
  return text;
}

void check(const Api& api, int code, const char* call) {
  if (code == kSuccess) return;
  std::string message = std::string(call) + " failed on " + device_label() + ": " + result_text(api, code);
  if (code == kInvalidUsage) {
    message += " (two ranks on one GPU? give each rank its own: CUDA_VISIBLE_DEVICES=$OMPI_COMM_WORLD_LOCAL_RANK, "
               "see docs/DISTRIBUTED.md)";
  }
  throw Error(Error::Kind::kBackend, message);
}

const Api& ready_locked(const char* op) {
  const Api& api = loaded_locked();
  if (!g_broken.empty()) {
    throw Error(Error::Kind::kUsage, std::string(op) + " after an earlier failure aborted the NCCL communicator (" +
                                         g_broken + "); end this process");
  }
  if (g_comm == nullptr) throw Error(Error::Kind::kUsage, std::string(op) + " before the NCCL communicator was created");
  return api;
}

// After a group of collectives was queued on stream(): waits for it, or aborts the communicator.
void wait_locked(const Api& api, double timeout_s, const std::string& what) {
  NAPINET_CUDA_CHECK(cudaEventRecord(g_done, stream()));
  int async_error = kSuccess;
  try {
    distributed::wait_until(
        [&] {
          const cudaError_t query = cudaEventQuery(g_done);
          if (query == cudaSuccess) return true;
          if (query != cudaErrorNotReady) NAPINET_CUDA_CHECK(query);
          if (api.CommGetAsyncError(g_comm, &async_error) != kSuccess) async_error = kSuccess;
          return async_error != kSuccess && async_error != kInProgress;
        },
        timeout_s,
        what + " on rank " + std::to_string(g_rank) + " of " + std::to_string(g_size) + " (NCCL, " + device_label() + ")");
  } catch (const std::exception& e) {
    g_broken = e.what();
    api.CommAbort(g_comm);  // frees NCCL's side so the process can end; the work never completes
    g_comm = nullptr;
    throw;
  }
  if (async_error != kSuccess && async_error != kInProgress) {
    g_broken = what + ": " + result_text(api, async_error);
    api.CommAbort(g_comm);
    g_comm = nullptr;
    throw Error(Error::Kind::kBackend, "NCCL failed during " + g_broken);
  }
}

// Queues body() between ncclGroupStart and ncclGroupEnd.
template <typename Body>
void grouped(const Api& api, Body&& body) {
  check(api, api.GroupStart(), "ncclGroupStart");
  try {
    body();
  } catch (...) {
    api.GroupEnd();
    throw;
  }
  check(api, api.GroupEnd(), "ncclGroupEnd");
}

}  // namespace

Info info() {
  std::lock_guard<std::mutex> lock(g_mutex);
  Info out;
  const Api* api = load_locked();
  if (api == nullptr) {
    out.reason = g_load_error;
    return out;
  }
  out.available = true;
  out.library = api->library.path();
  out.version = api->version;
  return out;
}

void unique_id(unsigned char out[kUniqueIdBytes]) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const Api& api = loaded_locked();
  UniqueId id;
  check(api, api.GetUniqueId(&id), "ncclGetUniqueId");
  std::memcpy(out, id.internal, kUniqueIdBytes);
}

void init(const unsigned char id[kUniqueIdBytes], int world_size, int rank) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const Api& api = loaded_locked();
  if (g_comm != nullptr || !g_broken.empty()) {
    throw Error(Error::Kind::kUsage, "the NCCL communicator of this process was already created");
  }
  UniqueId unique;
  std::memcpy(unique.internal, id, kUniqueIdBytes);
  if (g_done == nullptr) NAPINET_CUDA_CHECK(cudaEventCreateWithFlags(&g_done, cudaEventDisableTiming));
  Comm comm = nullptr;
  check(api, api.CommInitRank(&comm, world_size, unique, rank), "ncclCommInitRank");
  g_comm = comm;
  g_rank = rank;
  g_size = world_size;
}

bool initialized() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_comm != nullptr;
}

void finalize() noexcept {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_api != nullptr && g_comm != nullptr) g_api->CommDestroy(g_comm);
  g_comm = nullptr;
}

void all_reduce(float* const* data, const std::int64_t* lengths, std::size_t count, bool mean,
                double timeout_s, const std::string& what) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const Api& api = ready_locked("allReduce");
  grouped(api, [&] {
    for (std::size_t i = 0; i < count; ++i) {
      check(api, api.AllReduce(data[i], data[i], static_cast<std::size_t>(lengths[i]), kFloat32, mean ? kAvg : kSum,
                               g_comm, stream()),
            "ncclAllReduce");
    }
  });
  wait_locked(api, timeout_s, what);
}

void broadcast(void* const* data, const std::int64_t* bytes, std::size_t count, int root,
               double timeout_s, const std::string& what) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const Api& api = ready_locked("broadcast");
  grouped(api, [&] {
    for (std::size_t i = 0; i < count; ++i) {
      check(api, api.Broadcast(data[i], data[i], static_cast<std::size_t>(bytes[i]), kUint8, root, g_comm, stream()),
            "ncclBroadcast");
    }
  });
  wait_locked(api, timeout_s, what);
}

void all_gather(float* out, const float* in, std::int64_t n, double timeout_s, const std::string& what) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const Api& api = ready_locked("allGather");
  check(api, api.AllGather(in, out, static_cast<std::size_t>(n), kFloat32, g_comm, stream()), "ncclAllGather");
  wait_locked(api, timeout_s, what);
}

}  // namespace napinet::cuda::nccl
