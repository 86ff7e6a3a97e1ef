// A small process-wide thread pool for the CPU kernels.
//
// parallel_for splits [0, n) into contiguous chunks and runs them on the pool's threads; the calling
// thread works too. Chunk boundaries depend only on n and `grain`, never on the number of threads,
// so a kernel that reduces per-chunk partial sums gives bit-identical results with 1 or N threads.
// Calls from a second JavaScript thread while the pool is busy, and nested calls, run serially.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>

namespace napinet::kernels {

// Number of threads kernels may use, including the caller (>= 1). Default: hardware concurrency.
int num_threads();
void set_num_threads(int n);

// Runs fn(begin, end) over chunks of at most `grain` items covering [0, n).
void parallel_for(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t begin, std::int64_t end)>& fn);

// Number of chunks parallel_for(n, grain, ...) makes: callers size per-chunk scratch with it.
inline std::int64_t chunk_count(std::int64_t n, std::int64_t grain) {
  return n <= 0 ? 0 : (n + grain - 1) / grain;
}

// parallel_for that hands the first exception a chunk throws (std::bad_alloc for its scratch, say)
// back to the caller, instead of letting it leave a pool thread and terminate the process.
template <typename Fn>
void parallel_chunks(std::int64_t n, std::int64_t grain, const Fn& fn) {
  std::exception_ptr error;
  std::mutex error_mutex;
  parallel_for(n, grain, [&](std::int64_t begin, std::int64_t end) {
    try {
      fn(begin, end);
    } catch (...) {
      std::lock_guard<std::mutex> lock(error_mutex);
      if (!error) error = std::current_exception();
    }
  });
  if (error) std::rethrow_exception(error);
}

// Whether test(begin, end) holds for every chunk of [0, n) (chunks as parallel_for's): a check
// over a whole buffer on the pool (every chunk runs: no early exit across threads).
template <typename Test>
bool parallel_all(std::int64_t n, std::int64_t grain, const Test& test) {
  std::atomic<bool> holds{true};
  parallel_for(n, grain, [&](std::int64_t begin, std::int64_t end) {
    if (!test(begin, end)) holds.store(false, std::memory_order_relaxed);
  });
  return holds.load();
}

}  // namespace napinet::kernels
