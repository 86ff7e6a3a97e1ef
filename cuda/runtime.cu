// Device queries, device selection, copies and error reporting for the CUDA backend (declared in
// cuda/api.h and cuda/common.cuh; memory and graphs: cuda/memory.cu). Nothing here runs at load
// time: the first call initialises the CUDA runtime, and device_info() turns every failure into a
// reason instead of an exception. Tests: test/device.test.ts, test/cuda-buffer.test.ts.
#include <algorithm>
#include <climits>
#include <map>
#include <mutex>
#include <string>

#include "common.cuh"

namespace napinet::cuda {
namespace {

// An empty kernel: if the driver can load it, it can load the others (same fatbin).
__global__ void probe_kernel() {}

std::string version_text(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

std::string error_text(cudaError_t error) {
  return std::string(cudaGetErrorString(error)) + " (" + cudaGetErrorName(error) + ")";
}

// Why cudaGetDeviceCount failed, in words a user can act on.
std::string count_failure(cudaError_t error, int driver_version, int runtime_version) {
  if (error == cudaErrorInsufficientDriver) {
    if (driver_version == 0) {
      return "no NVIDIA driver was found (the CUDA runtime could not load libcuda.so.1): install the "
             "NVIDIA driver to use a GPU";
    }
    return "the NVIDIA driver supports CUDA " + version_text(driver_version) + " but this build of "
           "napinet needs CUDA " + version_text(runtime_version) + " or newer: update the driver";
  }
  if (error == cudaErrorNoDevice) return "no CUDA-capable GPU was found (" + error_text(error) + ")";
  return "the CUDA runtime could not start: " + error_text(error);
}

}  // namespace

std::string source_path(const char* file) {
  std::string path = file ? file : "?";
  std::size_t at = path.rfind("/cuda/");
  return at == std::string::npos ? path : path.substr(at + 1);
}

std::string dims_text(dim3 v) {
  return "(" + std::to_string(v.x) + "," + std::to_string(v.y) + "," + std::to_string(v.z) + ")";
}

std::string launch_text(const char* kernel, dim3 grid, dim3 block, std::size_t shared_bytes) {
  return std::string(kernel) + "<<<" + dims_text(grid) + ", " + dims_text(block) + ", " +
         std::to_string(shared_bytes) + ">>>";
}

int device_count() noexcept {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

DeviceInfo device_info(int index) {
  DeviceInfo info;
  info.index = index;
#ifdef NAPINET_CUDA_EMU
  info.emulated = true;
#endif
  cudaRuntimeGetVersion(&info.runtime_version);
  if (cudaDriverGetVersion(&info.driver_version) != cudaSuccess) info.driver_version = 0;
  cudaError_t error = cudaGetDeviceCount(&info.device_count);
  if (error != cudaSuccess) {
    cudaGetLastError();
    info.device_count = 0;
    info.reason = count_failure(error, info.driver_version, info.runtime_version);
    return info;
  }
  if (info.device_count == 0) {
    info.reason = "no CUDA-capable GPU was found";
    return info;
  }
  if (index < 0 || index >= info.device_count) {
    info.reason = "there is no GPU " + std::to_string(index) + ": the CUDA runtime sees " +
                  std::to_string(info.device_count) + " (cuda:0 to cuda:" +
                  std::to_string(info.device_count - 1) + ")";
    return info;
  }
  cudaDeviceProp prop;
  error = cudaGetDeviceProperties(&prop, index);
  if (error != cudaSuccess) {
    cudaGetLastError();
    info.reason = "cannot read the properties of GPU " + std::to_string(index) + ": " + error_text(error);
    return info;
  }
  info.name = prop.name;
  info.compute_major = prop.major;
  info.compute_minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.total_memory = prop.totalGlobalMem;
  const std::string capability = std::to_string(prop.major) + "." + std::to_string(prop.minor);
  if (prop.major * 10 + prop.minor < 75) {
    info.reason = info.name + " has compute capability " + capability +
                  ", which this build has no GPU code for (it has code for 7.5, 8.0, 8.6, 8.9 and "
                  "9.0, and PTX that newer GPUs compile)";
    return info;
  }
  // The rest asks the device itself: make it current for the questions, then restore.
  int previous = 0;
  if (cudaGetDevice(&previous) != cudaSuccess) previous = 0;
  cudaGetLastError();
  struct Restore {
    int device;
    ~Restore() {
      cudaSetDevice(device);
      cudaGetLastError();
    }
  } restore{previous};
  error = cudaSetDevice(index);
  // The driver must be able to load the kernels: SASS for this GPU, or PTX it can compile.
  cudaFuncAttributes attributes;
  if (error == cudaSuccess) error = cudaFuncGetAttributes(&attributes, probe_kernel);
  if (error != cudaSuccess) {
    cudaGetLastError();
    info.reason = "the GPU (" + info.name + ", compute capability " + capability +
                  ") cannot load this build's kernels with the installed driver (CUDA " +
                  version_text(info.driver_version) + "): " + error_text(error);
    return info;
  }
  error = cudaMemGetInfo(&info.free_memory, &info.total_memory);
  if (error != cudaSuccess) {
    cudaGetLastError();
    info.reason = "cannot use " + info.name + ": " + error_text(error);
    return info;
  }
  info.available = true;
  return info;
}

namespace {
thread_local int t_current_device = -1;  // what this thread last made current (-1: not yet)
}  // namespace

void use_device(int index) {
  if (index == t_current_device) return;
  NAPINET_CUDA_CHECK(cudaSetDevice(index));
  t_current_device = index;
}

int current_device() {
  if (t_current_device < 0) {
    int device = 0;
    NAPINET_CUDA_CHECK(cudaGetDevice(&device));
    t_current_device = device;
  }
  return t_current_device;
}

std::string device_label() {
  int device = 0;
  if (cudaGetDevice(&device) != cudaSuccess) {
    cudaGetLastError();
    return "device 0";
  }
  // Names are asked for once per device (messages may be made often, e.g. by tests).
  static std::mutex mutex;
  static std::map<int, std::string> names;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = names.find(device);
  if (it == names.end()) {
    cudaDeviceProp prop;
    std::string name = "device " + std::to_string(device);
    if (cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
      name += std::string(" (") + prop.name + ")";
    } else {
      cudaGetLastError();
    }
    it = names.emplace(device, name).first;
  }
  return it->second;
}

void throw_error(cudaError_t error, const char* call, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so later calls do not report it again
  std::string message = "CUDA error in " + std::string(call) + " at " + source_path(file) + ":" +
                        std::to_string(line) + " on " + device_label() + ": " + error_text(error);
  if (error == cudaErrorIllegalAddress || error == cudaErrorLaunchFailure) {
    message += "; kernels run asynchronously, so the fault may come from an earlier kernel "
               "(CUDA_LAUNCH_BLOCKING=1 reports it at its own launch)";
  }
  if (error == cudaErrorMemoryAllocation) throw OutOfMemory(message, error);
  throw Error(message, error);
}

void check_launch(const char* kernel, dim3 grid, dim3 block, std::size_t shared_bytes, const char* file,
                  int line) {
  cudaError_t error = cudaGetLastError();
  if (error == cudaSuccess) return;
  throw_error(error, launch_text(kernel, grid, block, shared_bytes).c_str(), file, line);
}

unsigned grid_for(std::int64_t n, int block) {
  static const std::int64_t max_blocks = [] {
    int multiprocessors = 0;
    if (cudaDeviceGetAttribute(&multiprocessors, cudaDevAttrMultiProcessorCount, 0) != cudaSuccess ||
        multiprocessors <= 0) {
      cudaGetLastError();
      multiprocessors = 16;
    }
    return std::int64_t{multiprocessors} * 32;
  }();
  std::int64_t blocks = (n + block - 1) / block;
  return static_cast<unsigned>(std::max<std::int64_t>(1, std::min(blocks, max_blocks)));
}

bool fits_int32_loop(std::int64_t n, int block) {
  return n + std::int64_t{grid_for(n, block)} * block <= INT32_MAX;
}

// ---------------------------------------------------------------------------------------------
// Copies (alloc/free and graphs: cuda/memory.cu)
// ---------------------------------------------------------------------------------------------

void copy_to_device(void* device_dst, const void* host_src, std::size_t bytes) {
  if (bytes == 0) return;
  NAPINET_CUDA_CHECK(cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream()));
}

void copy_to_host(void* host_dst, const void* device_src, std::size_t bytes) {
  if (bytes == 0) return;
  NAPINET_CUDA_CHECK(cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream()));
  NAPINET_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void copy_device_to_device(void* device_dst, const void* device_src, std::size_t bytes) {
  if (bytes == 0) return;
  NAPINET_CUDA_CHECK(cudaMemcpyAsync(device_dst, device_src, bytes, cudaMemcpyDeviceToDevice, stream()));
}

void memset(void* device_dst, int value, std::size_t bytes) {
  if (bytes == 0) return;
  NAPINET_CUDA_CHECK(cudaMemsetAsync(device_dst, value, bytes, stream()));
}

}  // namespace napinet::cuda
