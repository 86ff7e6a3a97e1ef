// NCCL for napinet.distributed's CUDA tensors: plain C++ declarations (no CUDA or NCCL headers),
// implemented by cuda/nccl.cu, which opens libnccl.so.2 at run time (like libmpi: the napinet
// binary links neither). One communicator per process, on the calling thread's current device;
// collectives run on napinet's stream (cuda::stream(), the per-thread default stream) and the host
// then waits for them with a timeout (wait_until in native/distributed/wait.h): on a timeout or
// SIGTERM the communicator is aborted (ncclCommAbort) and later calls throw.
// The emulator build compiles the same code; there a CPU stand-in for libnccl can be named with
// NAPINET_NCCL_LIBRARY (test/distributed.test.ts builds one) to test everything but NCCL itself.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace napinet::cuda::nccl {

constexpr std::size_t kUniqueIdBytes = 128;  // sizeof(ncclUniqueId)

struct Info {
  bool available = false;
  std::string reason;   // why not (the library cannot be loaded, too old, …)
  std::string library;  // the file that was opened
  int version = 0;      // ncclGetVersion: 10000·major + 100·minor + patch
};

// Loads libnccl (NAPINET_NCCL_LIBRARY, else libnccl.so.2) if it is not loaded. Never throws.
Info info();

// ncclGetUniqueId: made on one rank, sent to the others (over MPI), passed to init on all.
void unique_id(unsigned char out[kUniqueIdBytes]);
// ncclCommInitRank on the current device. Throws distributed::Error.
void init(const unsigned char id[kUniqueIdBytes], int world_size, int rank);
bool initialized();
// ncclCommDestroy (after a failure: nothing, the communicator was aborted). Never throws.
void finalize() noexcept;

// In place, each buffer: sum over the ranks (mean: ncclAvg), as one NCCL group.
void all_reduce(float* const* data, const std::int64_t* lengths, std::size_t count, bool mean,
                double timeout_s, const std::string& what);
// In place, raw bytes from `root`, as one NCCL group.
void broadcast(void* const* data, const std::int64_t* bytes, std::size_t count, int root,
               double timeout_s, const std::string& what);
// out[r·n + i] = rank r's in[i].
void all_gather(float* out, const float* in, std::int64_t n, double timeout_s, const std::string& what);

}  // namespace napinet::cuda::nccl
