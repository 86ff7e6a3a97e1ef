// Device queries, memory and error reporting for the CUDA backend (declared in cuda/api.h and
// cuda/common.cuh). Nothing here runs at load time: the first call initialises the CUDA runtime,
// and device_info() turns every failure into a reason instead of an exception.
// Tests: test/device.test.ts, test/cuda-buffer.test.ts.
#include <algorithm>
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

DeviceInfo device_info() {
  DeviceInfo info;
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
  cudaDeviceProp prop;
  error = cudaGetDeviceProperties(&prop, 0);
  if (error != cudaSuccess) {
    cudaGetLastError();
    info.reason = "cannot read the properties of GPU 0: " + error_text(error);
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
  // The driver must be able to load the kernels: SASS for this GPU, or PTX it can compile.
  cudaFuncAttributes attributes;
  error = cudaFuncGetAttributes(&attributes, probe_kernel);
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

std::string device_label() {
  static const std::string label = [] {
    int device = 0;
    cudaDeviceProp prop;
    if (cudaGetDevice(&device) == cudaSuccess && cudaGetDeviceProperties(&prop, device) == cudaSuccess) {
      return "device " + std::to_string(device) + " (" + prop.name + ")";
    }
    cudaGetLastError();
    return std::string("device 0");
  }();
  return label;
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

// ---------------------------------------------------------------------------------------------
// Memory
// ---------------------------------------------------------------------------------------------

void* alloc(std::size_t bytes) {
  void* ptr = nullptr;
  cudaError_t error = cudaMalloc(&ptr, bytes);
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
                          device_label() + ": " + error_text(error) + state,
                      error);
  }
  check(error, "cudaMalloc(&ptr, bytes)", __FILE__, __LINE__);
  return ptr;
}

void free(void* device_ptr) noexcept {
  if (device_ptr == nullptr) return;
  // Fails only when the runtime is already shut down (process exit) or the pointer is not ours.
  if (cudaFree(device_ptr) != cudaSuccess) cudaGetLastError();
}

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

void synchronize() { NAPINET_CUDA_CHECK(cudaDeviceSynchronize()); }

void begin_capture() {
  NAPINET_CUDA_CHECK(cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal));
}

void* end_capture() {
  cudaGraph_t graph = nullptr;
  NAPINET_CUDA_CHECK(cudaStreamEndCapture(stream(), &graph));
  cudaGraphExec_t exec = nullptr;
  const cudaError_t instantiated = cudaGraphInstantiate(&exec, graph, 0);
  cudaGraphDestroy(graph);  // the executable graph keeps what it needs
  check(instantiated, "cudaGraphInstantiate(&exec, graph, 0)", __FILE__, __LINE__);
  return exec;
}

void abort_capture() noexcept {
  cudaGraph_t graph = nullptr;
  if (cudaStreamEndCapture(stream(), &graph) == cudaSuccess && graph != nullptr) cudaGraphDestroy(graph);
  cudaGetLastError();  // the failed capture's error is not the next call's
}

void launch_graph(void* graph) {
  NAPINET_CUDA_CHECK(cudaGraphLaunch(static_cast<cudaGraphExec_t>(graph), stream()));
}

void destroy_graph(void* graph) noexcept {
  if (graph == nullptr) return;
  cudaStreamSynchronize(stream());
  cudaGraphExecDestroy(static_cast<cudaGraphExec_t>(graph));
  cudaGetLastError();
}

}  // namespace napinet::cuda
