// Thread pool behind parallel_for (see parallel.h). Workers spin briefly before sleeping, because
// a training step issues many small kernels back to back and a condition-variable wake-up costs
// more than most of them.
#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace napinet::kernels {
namespace {

// One parallel_for call. It lives on the caller's stack; workers join it under the pool's mutex
// and the caller waits for every worker to leave before returning.
struct Job {
  const std::function<void(std::int64_t)>* run_chunk;
  std::int64_t chunks;
  std::atomic<std::int64_t> next{0};
  std::atomic<std::int64_t> remaining{0};
  std::atomic<int> workers_inside{0};
};

thread_local bool inside_pool = false;

void work_on(Job& job) {
  inside_pool = true;
  for (;;) {
    std::int64_t chunk = job.next.fetch_add(1, std::memory_order_relaxed);
    if (chunk >= job.chunks) break;
    (*job.run_chunk)(chunk);
    job.remaining.fetch_sub(1, std::memory_order_acq_rel);
  }
  inside_pool = false;
}

class ThreadPool {
 public:
  ThreadPool() { resize(static_cast<int>(std::max(1u, std::thread::hardware_concurrency()))); }
  ~ThreadPool() { stop_workers(); }

  int size() const { return size_.load(); }

  void resize(int threads) {
    std::lock_guard<std::mutex> owner(run_mutex_);
    stop_workers();
    stopping_ = false;
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
    size_ = threads;
  }

  // Runs run_chunk(c) for every c in [0, chunks). Returns false (running nothing) when another
  // thread owns the pool, so that caller runs serially instead of waiting.
  bool try_run(std::int64_t chunks, const std::function<void(std::int64_t)>& run_chunk) {
    std::unique_lock<std::mutex> owner(run_mutex_, std::try_to_lock);
    if (!owner.owns_lock()) return false;
    Job job;
    job.run_chunk = &run_chunk;
    job.chunks = chunks;
    job.remaining.store(chunks);
    {
      std::lock_guard<std::mutex> lock(wake_mutex_);
      current_ = &job;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work_on(job);
    while (job.remaining.load(std::memory_order_acquire) > 0) std::this_thread::yield();
    {
      std::lock_guard<std::mutex> lock(wake_mutex_);
      current_ = nullptr;
    }
    while (job.workers_inside.load(std::memory_order_acquire) > 0) std::this_thread::yield();
    return true;
  }

 private:
  void worker_loop() {
    std::uint64_t seen = 0;
    for (;;) {
      // Spin for a short while: the next kernel usually follows within microseconds.
      auto spin_until = std::chrono::steady_clock::now() + std::chrono::microseconds(200);
      while (generation_.load(std::memory_order_acquire) == seen &&
             std::chrono::steady_clock::now() < spin_until) {
        std::this_thread::yield();
      }
      Job* job = nullptr;
      {
        std::unique_lock<std::mutex> lock(wake_mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_.load() != seen; });
        if (stopping_) return;
        seen = generation_.load();
        job = current_;
        if (job != nullptr) job->workers_inside.fetch_add(1);
      }
      if (job != nullptr) {
        work_on(*job);
        job->workers_inside.fetch_sub(1, std::memory_order_release);
      }
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(wake_mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::atomic<int> size_{1};
  std::mutex run_mutex_;   // owned by the one caller running a job
  std::mutex wake_mutex_;  // guards current_, stopping_ and generation changes
  std::condition_variable wake_;
  std::atomic<std::uint64_t> generation_{0};
  Job* current_ = nullptr;
  bool stopping_ = false;
};

ThreadPool& pool() {
  static ThreadPool instance;
  return instance;
}

}  // namespace

int num_threads() { return pool().size(); }

void set_num_threads(int n) {
  n = std::max(1, n);
  if (n != pool().size()) pool().resize(n);
}

void parallel_for(std::int64_t n, std::int64_t grain,
                  const std::function<void(std::int64_t, std::int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<std::int64_t>(1, grain);
  const std::int64_t chunks = chunk_count(n, grain);
  const std::function<void(std::int64_t)> run_chunk = [&](std::int64_t c) {
    std::int64_t begin = c * grain;
    fn(begin, std::min(n, begin + grain));
  };
  if (chunks == 1 || pool().size() == 1 || inside_pool || !pool().try_run(chunks, run_chunk)) {
    for (std::int64_t c = 0; c < chunks; ++c) run_chunk(c);
  }
}

}  // namespace napinet::kernels
