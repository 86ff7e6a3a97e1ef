// A small process-wide thread pool for the CPU kernels.
//
// parallel_for splits [0, n) into contiguous chunks and runs them on the pool's threads; the calling
// thread works too. Chunk boundaries depend only on n and `grain`, never on the number of threads,
// so a kernel that reduces per-chunk partial sums gives bit-identical results with 1 or N threads.
// Calls from a second JavaScript thread while the pool is busy, and nested calls, run serially.
#pragma once

#include <cstdint>
#include <functional>

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

}  // namespace napinet::kernels
