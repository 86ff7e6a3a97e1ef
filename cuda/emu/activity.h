// What the emulated device was asked to do since the last reset: launches by kernel (as written
// at the launch), copies by direction, memsets, host waits (stream, event or device
// synchronisation; cudaFree counts as one, as it waits on a GPU), graph launches and memory
// traffic. A plain C++ header, so the binding can read it without the emulator's macros.
// Test: test/cuda_step_traffic.test.ts checks with it that a training step stays on the device.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace napinet::emu {

struct Activity {
  std::map<std::string, std::uint64_t> launches;
  std::uint64_t host_to_device = 0, device_to_host = 0, device_to_device = 0;
  std::uint64_t host_to_device_bytes = 0, device_to_host_bytes = 0;
  std::uint64_t memsets = 0, synchronizations = 0;
  // cudaGraphLaunch calls, and the kernel launches their replays ran (not in `launches`, which
  // counts what the host issued one by one).
  std::uint64_t graph_launches = 0, replayed_launches = 0;
  // Memory: allocations from the system (cudaMalloc, or a memory pool growing) and their release
  // (cudaFree, or a pool trimmed); stream-ordered cudaMallocAsync calls, how many of them reused a
  // block the pool held, and cudaFreeAsync calls.
  std::uint64_t device_allocations = 0, device_frees = 0;
  std::uint64_t pool_allocations = 0, pool_reuses = 0, pool_frees = 0;
};

Activity activity();
void reset_activity();

}  // namespace napinet::emu
