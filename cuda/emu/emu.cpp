// The CUDA emulator's runtime (see emu.h for what it emulates and checks): device memory, streams
// and events, and the kernel scheduler that runs each block's threads as cooperative fibers.
#include "../common.cuh"  // the emulator (emu.h) and napinet's message helpers

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <thread>
#include <functional>
#include <chrono>
#include <cstdlib>
#include <exception>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#if defined(__x86_64__) && defined(__ELF__) && !defined(NAPINET_EMU_UCONTEXT)
#define NAPINET_EMU_ASM_SWITCH 1
#else
#include <ucontext.h>
#endif

namespace napinet::emu {

NAPINET_EMU_TLS uint3 g_thread_idx{0, 0, 0};
NAPINET_EMU_TLS uint3 g_block_idx{0, 0, 0};
NAPINET_EMU_TLS dim3 g_block_dim;
NAPINET_EMU_TLS dim3 g_grid_dim;

namespace {

// ---------------------------------------------------------------------------------------------
// The emulated device
// ---------------------------------------------------------------------------------------------

constexpr const char* kDeviceName = "napinet CUDA emulator (CPU)";
constexpr int kRuntimeVersion = 13000;
constexpr int kMultiprocessors = 4;
constexpr std::size_t kSharedMemoryPerBlock = 48 * 1024;
constexpr unsigned kMaxThreadsPerBlock = 1024;

std::size_t total_memory() {
  static const std::size_t bytes = [] {
    const char* mb = std::getenv("NAPINET_CUDA_EMU_MEMORY_MB");
    long long value = mb ? std::atoll(mb) : 0;
    return static_cast<std::size_t>(value > 0 ? value : 4096) << 20;
  }();
  return bytes;
}

// One lock for the whole device: memory operations and launches run one at a time.
std::mutex& device_mutex() {
  static std::mutex mutex;
  return mutex;
}

thread_local cudaError_t t_last_error = cudaSuccess;
thread_local bool t_in_kernel = false;  // this OS thread is running a kernel's blocks

Activity g_activity;  // guarded by device_mutex()

// Stream capture (cudaStreamBeginCapture … cudaStreamEndCapture): what a capturing stream has
// recorded, and whether a forbidden call has invalidated it. Guarded by device_mutex().
struct Capture {
  std::vector<std::function<void(cudaStream_t)>> ops;
  bool invalidated = false;
};
std::map<cudaStream_t, Capture> g_captures;
std::atomic<int> g_capture_count{0};
thread_local int t_captures = 0;  // captures begun on this thread and not yet ended
thread_local bool t_replaying = false;

// A call CUDA forbids while this thread captures (it would wait or allocate): invalidates the
// thread's captures and returns the error to report, or cudaSuccess when nothing is capturing.
cudaError_t forbidden_while_capturing() {
  if (t_captures == 0) return cudaSuccess;
  for (auto& [stream, capture] : g_captures) capture.invalidated = true;
  return cudaErrorStreamCaptureUnsupported;
}

cudaError_t record(cudaError_t error) {
  if (error != cudaSuccess) t_last_error = error;
  return error;
}

// Device memory: host memory with 256-byte red zones before and after each buffer.
constexpr std::size_t kRedZone = 256;
constexpr unsigned char kRedZoneByte = 0xFD;
constexpr unsigned char kFreshByte = 0xFF;  // NaN as float, -1 as int

// Emulated devices: NAPINET_CUDA_EMU_DEVICES of them (1 to 8, default 1), all alike. The calling
// thread's current device (cudaSetDevice) owns what it allocates and runs what it launches; a
// kernel given another device's memory is an error (napinet must select the buffers' device).
constexpr int kMaxDevices = 8;
int device_count() {
  static const int count = [] {
    const char* text = std::getenv("NAPINET_CUDA_EMU_DEVICES");
    const int value = text ? std::atoi(text) : 1;
    return value < 1 ? 1 : (value > kMaxDevices ? kMaxDevices : value);
  }();
  return count;
}
thread_local int t_device = 0;

struct Allocation {
  char* raw;
  std::size_t bytes;      // what the caller asked for
  std::size_t raw_bytes;  // red zone + bytes + red zone, rounded up (a pool block: its capacity)
  int device;
  bool pooled;            // from cudaMallocAsync (freed into the pool by cudaFreeAsync)
};

// What a device's memory holds: cudaMalloc'ed bytes, and its memory pool (cudaMallocAsync).
struct DeviceMemory {
  std::size_t malloc_bytes = 0;             // live cudaMalloc allocations (bytes asked for)
  std::size_t reserved = 0, reserved_high = 0;  // pool blocks, handed out or free (raw bytes)
  std::size_t pool_used = 0, pool_used_high = 0;  // pool blocks handed out (raw bytes)
  std::uint64_t release_threshold = 0;
  std::vector<std::pair<char*, std::size_t>> free_blocks;  // raw pointer, raw bytes
};
DeviceMemory g_memory[kMaxDevices];  // guarded by device_mutex()

std::map<std::uintptr_t, Allocation> g_allocations;  // keyed by the pointer handed out

std::size_t raw_size(std::size_t bytes) {
  return (kRedZone + bytes + kRedZone + kRedZone - 1) / kRedZone * kRedZone;
}

// Bytes of the device's memory in use: cudaMalloc'ed, and everything its pool holds.
std::size_t device_used(int device) {
  return g_memory[device].malloc_bytes + g_memory[device].reserved;
}

// Gives the pool's free blocks back to the system until it holds at most `keep` bytes.
void trim_pool(int device, std::size_t keep) {
  DeviceMemory& m = g_memory[device];
  while (m.reserved > keep && !m.free_blocks.empty()) {
    auto [raw, raw_bytes] = m.free_blocks.back();
    m.free_blocks.pop_back();
    std::free(raw);
    m.reserved -= raw_bytes;
    ++g_activity.device_frees;
  }
}

// At a synchronisation a pool releases what exceeds its threshold, as CUDA's do.
void trim_pools_to_threshold() {
  for (int d = 0; d < device_count(); ++d) {
    if (g_memory[d].reserved > g_memory[d].release_threshold) trim_pool(d, g_memory[d].release_threshold);
  }
}

// Hands out the user part of raw memory: red zones around `bytes` of fresh (NaN) memory.
char* hand_out(char* raw, std::size_t raw_bytes, std::size_t bytes, int device, bool pooled) {
  char* user = raw + kRedZone;
  std::memset(raw, kRedZoneByte, kRedZone);
  std::memset(user, kFreshByte, bytes);
  std::memset(user + bytes, kRedZoneByte, raw + raw_bytes - (user + bytes));
  g_allocations[reinterpret_cast<std::uintptr_t>(user)] = Allocation{raw, bytes, raw_bytes, device, pooled};
  return user;
}

// The allocation holding [p, p + bytes) (one past the end allowed for bytes == 0), or nullptr.
const Allocation* find_allocation(const void* p, std::size_t bytes = 0, std::uintptr_t* base = nullptr) {
  auto address = reinterpret_cast<std::uintptr_t>(p);
  auto it = g_allocations.upper_bound(address);
  if (it == g_allocations.begin()) return nullptr;
  --it;
  if (address + bytes > it->first + it->second.bytes || address < it->first) return nullptr;
  if (base) *base = it->first;
  return &it->second;
}

// Offset of the first damaged red-zone byte relative to the buffer's start, or 0 when intact.
bool red_zone_damaged(std::uintptr_t base, const Allocation& a, long long* offset) {
  const char* user = reinterpret_cast<const char*>(base);
  for (const char* p = a.raw; p < user; ++p) {
    if (static_cast<unsigned char>(*p) != kRedZoneByte) {
      *offset = p - user;
      return true;
    }
  }
  for (const char* p = user + a.bytes; p < a.raw + a.raw_bytes; ++p) {
    if (static_cast<unsigned char>(*p) != kRedZoneByte) {
      *offset = p - user;
      return true;
    }
  }
  return false;
}

void repair_red_zones(std::uintptr_t base, const Allocation& a) {
  char* user = reinterpret_cast<char*>(base);
  std::memset(a.raw, kRedZoneByte, user - a.raw);
  std::memset(user + a.bytes, kRedZoneByte, a.raw + a.raw_bytes - (user + a.bytes));
}

struct StreamHandle {
  unsigned flags;
};
struct EventHandle {
  unsigned flags;
  bool recorded = false;
  std::chrono::steady_clock::time_point time;
};
std::set<const void*> g_streams;
std::set<const void*> g_events;

bool valid_stream(cudaStream_t stream) {
  return stream == nullptr || stream == cudaStreamLegacy || stream == cudaStreamPerThread ||
         g_streams.count(stream) != 0;
}

std::string hex(const void* p) {
  char text[32];
  std::snprintf(text, sizeof text, "%p", p);
  return text;
}

using cuda::source_path;

std::string coords(uint3 v) { return cuda::dims_text(v); }

// ---------------------------------------------------------------------------------------------
// Fibers: a stack and a saved context per emulated thread
// ---------------------------------------------------------------------------------------------

constexpr std::size_t kStackBytes = 128 * 1024;

#ifdef NAPINET_EMU_ASM_SWITCH
// switch(save, load): saves the callee-saved registers on the current stack, stores the stack
// pointer in *save, and continues on the stack `load`. MXCSR and the x87 control word are left
// alone: fibers share the OS thread's floating-point modes (kernels do not change them).
extern "C" void napinet_emu_switch(void** save, void* load);
extern "C" void napinet_emu_fiber_start();
asm(R"(
  .text
  .globl napinet_emu_switch
  .hidden napinet_emu_switch
  .type napinet_emu_switch, @function
napinet_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size napinet_emu_switch, .-napinet_emu_switch

  .globl napinet_emu_fiber_start
  .hidden napinet_emu_fiber_start
  .type napinet_emu_fiber_start, @function
napinet_emu_fiber_start:
  .cfi_startproc
  .cfi_undefined rip
  movq %r12, %rdi
  callq *%r13
  ud2
  .cfi_endproc
  .size napinet_emu_fiber_start, .-napinet_emu_fiber_start
)");

struct Context {
  void* sp = nullptr;
};

void make_context(Context* ctx, char* stack, std::size_t size, void (*entry)(void*), void* arg) {
  auto top = reinterpret_cast<std::uintptr_t>(stack + size) & ~static_cast<std::uintptr_t>(15);
  auto* frame = reinterpret_cast<std::uint64_t*>(top - 16);  // 16-aligned after the final ret
  *--frame = reinterpret_cast<std::uint64_t>(&napinet_emu_fiber_start);  // return address
  *--frame = 0;                                                          // rbp
  *--frame = 0;                                                          // rbx
  *--frame = reinterpret_cast<std::uint64_t>(arg);                       // r12: argument
  *--frame = reinterpret_cast<std::uint64_t>(entry);                     // r13: entry point
  *--frame = 0;                                                          // r14
  *--frame = 0;                                                          // r15
  ctx->sp = frame;
}

inline void switch_context(Context* save, Context* load) { napinet_emu_switch(&save->sp, load->sp); }
#else
struct Context {
  ucontext_t uc;
};

NAPINET_EMU_TLS void (*g_start_entry)(void*) = nullptr;
NAPINET_EMU_TLS void* g_start_arg = nullptr;
void ucontext_start() { g_start_entry(g_start_arg); }

void make_context(Context* ctx, char* stack, std::size_t size, void (*entry)(void*), void* arg) {
  getcontext(&ctx->uc);
  ctx->uc.uc_stack.ss_sp = stack;
  ctx->uc.uc_stack.ss_size = size;
  ctx->uc.uc_link = nullptr;
  // makecontext passes int arguments only; the entry and argument travel through globals, read
  // before the fiber first switches away (a fiber starts only from the scheduler).
  makecontext(&ctx->uc, ucontext_start, 0);
  (void)entry;
  (void)arg;
}

inline void switch_context(Context* save, Context* load) { swapcontext(&save->uc, &load->uc); }
#endif

// A fiber's stack: mmap'ed, with an inaccessible guard page below it so an overflow faults. Given
// back when its fiber goes (a host thread's scheduler, and its fibers, end with the thread: in the
// GPU-like mode every JavaScript thread that launches has its own).
struct Stack {
  char* base = nullptr;  // the guard page
  std::size_t bytes = 0;
  Stack() = default;
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;
  Stack(Stack&& other) noexcept : base(other.base), bytes(other.bytes) { other.base = nullptr; }
  Stack& operator=(Stack&& other) noexcept {
    std::swap(base, other.base);
    std::swap(bytes, other.bytes);
    return *this;
  }
  ~Stack() {
    if (base != nullptr) munmap(base, bytes);
  }
  char* usable() const { return base + getpagesize(); }
  std::size_t usable_bytes() const { return bytes - getpagesize(); }
};

Stack allocate_stack() {
  Stack s;
  s.bytes = kStackBytes + getpagesize();
  void* p = mmap(nullptr, s.bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  mprotect(p, getpagesize(), PROT_NONE);
  s.base = static_cast<char*>(p);
  return s;
}

// ---------------------------------------------------------------------------------------------
// The scheduler
// ---------------------------------------------------------------------------------------------

enum class State { kReady, kBarrier, kWarp, kDone };

struct WarpGroup {
  unsigned mask = 0;     // lanes taking part (the callers' mask less lanes the block lacks)
  unsigned arrived = 0;
  int readers = 0;       // lanes still to collect the values after completion
  const char* op = nullptr;
  const char* file = nullptr;
  int line = 0;
  unsigned first_lane = 0;
  std::uint64_t values[32] = {};
};

struct Fiber {
  Context ctx;
  Stack stack;
  State state = State::kDone;
  bool started = false;
  unsigned linear = 0;  // x + y·blockDim.x + z·blockDim.x·blockDim.y
  uint3 idx{0, 0, 0};
  const char* wait_op = nullptr;
  const char* wait_file = nullptr;
  int wait_line = 0;
  unsigned wait_mask = 0;
  int predicate = 0;
  WarpGroup* group = nullptr;
  std::uint64_t lanes[32] = {};
  std::exception_ptr error;
};

// Thrown inside a waiting fiber to unwind it when its block is abandoned.
struct Cancelled {};

// An error found inside a fiber (a misuse of a barrier or warp operation, __trap).
struct FiberFault : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Scheduler {
  const LaunchSite* site = nullptr;
  dim3 grid, block;
  std::size_t shared_bytes = 0;
  void (*body)(void*) = nullptr;
  void* context = nullptr;

  std::vector<std::unique_ptr<Fiber>> fibers;  // grows to the largest block seen, then reused
  unsigned threads = 0;
  unsigned done = 0;
  bool highest_first = false;  // the thread order of the block being run
  unsigned barrier_arrived = 0;
  int barrier_result = 0;
  bool restart_sweep = false;
  bool cancelling = false;
  Fiber* current = nullptr;
  Context scheduler_ctx;

  std::vector<std::vector<WarpGroup*>> open_groups;  // per warp
  std::vector<std::unique_ptr<WarpGroup>> groups;
  std::vector<WarpGroup*> free_groups;

  std::vector<unsigned char> dynamic_shared;  // shared_bytes + red zone, 16-aligned start
  unsigned char* dynamic_shared_start = nullptr;
};

NAPINET_EMU_TLS Scheduler g;  // the calling host thread's (each runs whole blocks)

void fiber_main(void* arg) {
  auto* f = static_cast<Fiber*>(arg);
  try {
    g.body(g.context);
  } catch (const Cancelled&) {
  } catch (...) {
    f->error = std::current_exception();
  }
  f->state = State::kDone;
  ++g.done;
  switch_context(&f->ctx, &g.scheduler_ctx);
  __builtin_unreachable();
}

void resume(Fiber& f) {
  g.current = &f;
  g_thread_idx = f.idx;
  f.started = true;
#ifndef NAPINET_EMU_ASM_SWITCH
  g_start_entry = fiber_main;
  g_start_arg = &f;
#endif
  switch_context(&g.scheduler_ctx, &f.ctx);
  g.current = nullptr;
}

// Called by a fiber: hands control back to the scheduler until the fiber is made ready again.
void wait_here(Fiber& f) {
  switch_context(&f.ctx, &g.scheduler_ctx);
  if (g.cancelling) throw Cancelled{};
}

Fiber& current_fiber(const char* op, const char* file, int line) {
  if (g.current == nullptr) {
    throw cuda::Error(std::string(op) + " called outside a kernel at " + source_path(file) + ":" +
                          std::to_string(line),
                      cudaErrorLaunchFailure);
  }
  return *g.current;
}

std::string where(const char* op, const char* file, int line) {
  return std::string(op) + " at " + source_path(file) + ":" + std::to_string(line);
}

bool same_site(const char* file_a, int line_a, const char* file_b, int line_b) {
  return line_a == line_b && (file_a == file_b || std::strcmp(file_a, file_b) == 0);
}

unsigned lanes_in_warp(unsigned warp) {
  unsigned first = warp * 32;
  unsigned count = std::min(32u, g.threads - first);
  return count == 32 ? 0xffffffffu : (1u << count) - 1u;
}

// Unwinds every started fiber of the block (a waiting fiber throws Cancelled from wait_here).
void cancel_block() {
  g.cancelling = true;
  for (unsigned t = 0; t < g.threads; ++t) {
    Fiber& f = *g.fibers[t];
    if (f.state == State::kDone) continue;
    if (!f.started) {
      f.state = State::kDone;
      continue;
    }
    resume(f);
  }
  g.cancelling = false;
}

std::string launch_label() {
  return cuda::launch_text(g.site->kernel, g.grid, g.block, g.shared_bytes) + " launched at " +
         source_path(g.site->file) + ":" + std::to_string(g.site->line);
}

[[noreturn]] void fail(const std::string& what) {
  throw cuda::Error("CUDA emulator: kernel " + launch_label() + " failed in block " +
                        coords(g_block_idx) + ": " + what,
                    cudaErrorLaunchFailure);
}

// No fiber can run but not all are done: describe who waits where, and who is missing.
[[noreturn]] void fail_deadlock() {
  struct Group {
    std::string what;
    unsigned count = 0;
    uint3 example{0, 0, 0};
  };
  std::vector<Group> groups;
  unsigned exited = 0;
  uint3 exited_example{0, 0, 0};
  bool barrier_waiters = false;
  for (unsigned t = 0; t < g.threads; ++t) {
    const Fiber& f = *g.fibers[t];
    if (f.state == State::kDone) {
      if (exited++ == 0) exited_example = f.idx;
      continue;
    }
    std::string what = where(f.wait_op, f.wait_file, f.wait_line);
    if (f.state == State::kWarp) {
      char mask[16];
      std::snprintf(mask, sizeof mask, "0x%08x", f.wait_mask);
      what = where(f.wait_op, f.wait_file, f.wait_line) + " (warp " + std::to_string(f.linear / 32) +
             ", mask " + mask + ")";
    } else {
      barrier_waiters = true;
    }
    auto it = std::find_if(groups.begin(), groups.end(), [&](const Group& gr) { return gr.what == what; });
    if (it == groups.end()) {
      groups.push_back({what, 0, f.idx});
      it = groups.end() - 1;
    }
    ++it->count;
  }
  std::string message = barrier_waiters ? "divergent __syncthreads (not reached by every thread of the block): "
                                        : "warp operation never completed: ";
  for (std::size_t i = 0; i < groups.size(); ++i) {
    message += (i ? "; " : "") + std::to_string(groups[i].count) + " thread(s) wait in " +
               groups[i].what + " (e.g. thread " + coords(groups[i].example) + ")";
  }
  if (exited) {
    message += "; " + std::to_string(exited) + " thread(s) exited without reaching it (e.g. thread " +
               coords(exited_example) + ")";
  }
  cancel_block();
  fail(message);
}

void run_block() {
  const unsigned T = g.threads;
  for (unsigned t = 0; t < T; ++t) {
    Fiber& f = *g.fibers[t];
    f.state = State::kReady;
    f.started = false;
    f.linear = t;
    f.idx = uint3{t % g.block.x, (t / g.block.x) % g.block.y, t / (g.block.x * g.block.y)};
    f.group = nullptr;
    f.error = nullptr;
    make_context(&f.ctx, f.stack.usable(), f.stack.usable_bytes(), fiber_main, &f);
  }
  g.done = 0;
  g.barrier_arrived = 0;
  for (auto& open : g.open_groups) open.clear();
  g.free_groups.clear();
  for (auto& group : g.groups) g.free_groups.push_back(group.get());
  // Dynamic shared memory starts as NaN in every block, followed by a red zone.
  std::memset(g.dynamic_shared_start, kFreshByte, g.shared_bytes);
  std::memset(g.dynamic_shared_start + g.shared_bytes, kRedZoneByte, kRedZone);

  for (;;) {
    bool progress = false;
    g.restart_sweep = false;
    // Highest thread index first in the highest block, lowest first in the next, alternating by
    // block index (the exact mode runs blocks from the highest down, so this alternates in run
    // order too): a missing barrier then shows whichever way data flows between the threads.
    const bool reverse = g.highest_first;
    for (unsigned k = 0; k < T; ++k) {
      Fiber& f = *g.fibers[reverse ? T - 1 - k : k];
      if (f.state != State::kReady) continue;
      resume(f);
      progress = true;
      if (f.error) {
        std::string what;
        try {
          std::rethrow_exception(f.error);
        } catch (const std::exception& e) {
          what = e.what();
        } catch (...) {
          what = "an unknown exception";
        }
        uint3 idx = f.idx;
        cancel_block();
        fail("thread " + coords(idx) + ": " + what);
      }
      if (g.restart_sweep) break;
    }
    if (g.done == T) break;
    if (!progress) fail_deadlock();
  }
  for (std::size_t i = 0; i < kRedZone; ++i) {
    if (g.dynamic_shared_start[g.shared_bytes + i] != kRedZoneByte) {
      fail("wrote past the end of its " + std::to_string(g.shared_bytes) +
           " bytes of dynamic shared memory (byte " + std::to_string(g.shared_bytes + i) + ")");
    }
  }
}

int block_barrier(const char* op, int predicate, const char* file, int line) {
  Fiber& f = current_fiber(op, file, line);
  f.state = State::kBarrier;
  f.wait_op = op;
  f.wait_file = file;
  f.wait_line = line;
  f.predicate = predicate != 0;
  if (++g.barrier_arrived == g.threads) {
    int count = 0;
    for (unsigned t = 0; t < g.threads; ++t) {
      const Fiber& other = *g.fibers[t];
      if (!same_site(other.wait_file, other.wait_line, file, line) || std::strcmp(other.wait_op, op) != 0) {
        throw FiberFault("divergent __syncthreads: thread " + coords(other.idx) + " waits in " +
                         where(other.wait_op, other.wait_file, other.wait_line) + " but thread " +
                         coords(f.idx) + " in " + where(op, file, line));
      }
      count += other.predicate;
    }
    for (unsigned t = 0; t < g.threads; ++t) g.fibers[t]->state = State::kReady;
    g.barrier_arrived = 0;
    g.barrier_result = count;
    g.restart_sweep = true;
  }
  wait_here(f);
  return g.barrier_result;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Warp operations
// ---------------------------------------------------------------------------------------------

WarpValues warp_rendezvous(const char* op, unsigned mask, std::uint64_t value, const char* file, int line) {
  Fiber& f = current_fiber(op, file, line);
  const unsigned lane = f.linear % 32, warp = f.linear / 32;
  if (((mask >> lane) & 1u) == 0) {
    char text[96];
    std::snprintf(text, sizeof text, " with mask 0x%08x, which leaves out the calling lane %u", mask, lane);
    throw FiberFault(where(op, file, line) + text);
  }
  const unsigned effective = mask & lanes_in_warp(warp);
  const bool any_site = std::strcmp(op, "__syncwarp") == 0;  // __syncwarp may be called from anywhere
  std::vector<WarpGroup*>& open = g.open_groups[warp];
  WarpGroup* group = nullptr;
  for (WarpGroup* candidate : open) {
    if (candidate->mask == effective) group = candidate;
  }
  if (group == nullptr) {
    if (g.free_groups.empty()) {
      g.groups.push_back(std::make_unique<WarpGroup>());
      g.free_groups.push_back(g.groups.back().get());
    }
    group = g.free_groups.back();
    g.free_groups.pop_back();
    *group = WarpGroup{};
    group->mask = effective;
    group->op = op;
    group->file = file;
    group->line = line;
    group->first_lane = lane;
    open.push_back(group);
  } else if (std::strcmp(group->op, op) != 0 || (!any_site && !same_site(group->file, group->line, file, line))) {
    throw FiberFault("lanes of warp " + std::to_string(warp) + " meet at different warp operations: lane " +
                     std::to_string(group->first_lane) + " in " + where(group->op, group->file, group->line) +
                     ", lane " + std::to_string(lane) + " in " + where(op, file, line));
  }
  group->values[lane] = value;
  group->arrived |= 1u << lane;
  f.state = State::kWarp;
  f.group = group;
  f.wait_op = op;
  f.wait_file = file;
  f.wait_line = line;
  f.wait_mask = mask;
  if (group->arrived == effective) {
    open.erase(std::find(open.begin(), open.end(), group));
    group->readers = __builtin_popcount(effective);
    for (unsigned l = 0; l < 32; ++l) {
      if ((effective >> l) & 1u) g.fibers[warp * 32 + l]->state = State::kReady;
    }
  }
  wait_here(f);
  std::memcpy(f.lanes, group->values, sizeof f.lanes);
  const unsigned active = group->arrived;
  f.group = nullptr;
  if (--group->readers == 0) g.free_groups.push_back(group);
  return WarpValues{f.lanes, active, static_cast<int>(lane)};
}

[[noreturn]] void warp_usage_error(const char* op, const char* what, const char* file, int line) {
  throw FiberFault(where(op, file, line) + ": " + what);
}

void* dynamic_shared() {
  if (g.current == nullptr) throw cuda::Error("NAPINET_DYNAMIC_SHARED used outside a kernel", cudaErrorLaunchFailure);
  return g.dynamic_shared_start;
}

Activity activity() {
  std::lock_guard<std::mutex> lock(device_mutex());
  return g_activity;
}

void reset_activity() {
  std::lock_guard<std::mutex> lock(device_mutex());
  g_activity = Activity{};
}

bool capturing_any() { return g_capture_count.load() > 0; }

bool capture_launch(cudaStream_t stream, std::function<void(cudaStream_t)> replay) {
  std::lock_guard<std::mutex> lock(device_mutex());
  auto it = g_captures.find(stream);
  if (it == g_captures.end()) return false;
  it->second.ops.push_back(std::move(replay));
  return true;
}

cudaError_t func_get_attributes(cudaFuncAttributes* attributes) {
  if (!attributes) return record(cudaErrorInvalidValue);
  *attributes = cudaFuncAttributes{};
  attributes->maxThreadsPerBlock = kMaxThreadsPerBlock;
  attributes->ptxVersion = 75;
  attributes->binaryVersion = 75;
  return cudaSuccess;
}

// ---------------------------------------------------------------------------------------------
// Launch
// ---------------------------------------------------------------------------------------------

namespace {

// What every host thread running a launch's blocks needs to know.
struct LaunchShape {
  const LaunchSite* site;
  dim3 grid, block;
  std::size_t shared_bytes;
  void (*body)(void*);
  void* context;
};

// Sets up the calling host thread's scheduler for a launch: fibers for a block, shared memory.
void prepare_thread(const LaunchShape& l) {
  g.site = l.site;
  g.grid = l.grid;
  g.block = l.block;
  g.shared_bytes = l.shared_bytes;
  g.body = l.body;
  g.context = l.context;
  g_grid_dim = l.grid;
  g_block_dim = l.block;
  g.threads = l.block.x * l.block.y * l.block.z;
  while (g.fibers.size() < g.threads) {
    auto f = std::make_unique<Fiber>();
    f->stack = allocate_stack();
    g.fibers.push_back(std::move(f));
  }
  g.open_groups.resize((g.threads + 31) / 32);
  g.dynamic_shared.resize(l.shared_bytes + kRedZone + 16);
  auto start = reinterpret_cast<std::uintptr_t>(g.dynamic_shared.data());
  g.dynamic_shared_start = g.dynamic_shared.data() + ((16 - start % 16) % 16);
}

// Runs block b (linear, x fastest) of the prepared launch on the calling host thread.
void run_block_at(std::uint64_t b) {
  const dim3 grid = g.grid;
  g_block_idx = uint3{static_cast<unsigned>(b % grid.x), static_cast<unsigned>((b / grid.x) % grid.y),
                      static_cast<unsigned>(b / (std::uint64_t{grid.x} * grid.y))};
  const std::uint64_t blocks = std::uint64_t{grid.x} * grid.y * grid.z;
  g.highest_first = (blocks - 1 - b) % 2 == 0;
  run_block();
}

#ifdef NAPINET_CUDA_EMU_GPU
// ---- the GPU-like mode: blocks on several host threads, in a different order every launch ----

int block_threads() {
  static const int threads = [] {
    const char* text = std::getenv("NAPINET_CUDA_EMU_THREADS");
    const int value = text ? std::atoi(text) : 4;
    return value < 1 ? 1 : (value > 64 ? 64 : value);
  }();
  return threads;
}

// One launch's blocks, handed out in `order` to whichever host thread asks next.
struct BlockQueue {
  LaunchShape shape{};
  std::vector<std::uint64_t> order;
  std::atomic<std::uint64_t> next{0};
  std::atomic<bool> failed{false};
  std::mutex error_mutex;
  std::exception_ptr error;
};

// Takes blocks from the queue until none are left (or one failed), on the calling host thread.
void drain(BlockQueue& q) {
  struct Running {
    Running() { t_in_kernel = true; }
    ~Running() { t_in_kernel = false; }
  } running;
  try {
    prepare_thread(q.shape);
    for (;;) {
      if (q.failed.load()) return;
      const std::uint64_t i = q.next.fetch_add(1);
      if (i >= q.order.size()) return;
      run_block_at(q.order[i]);
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(q.error_mutex);
    if (!q.error) q.error = std::current_exception();
    q.failed = true;
  }
}

// Helper threads (block_threads() − 1 of them; the launching thread is the last), started on the
// first launch and kept (never joined: they sleep between launches and end with the process).
struct Helpers {
  std::mutex mutex;
  std::condition_variable wake, done;
  BlockQueue* queue = nullptr;
  std::uint64_t generation = 0;
  int busy = 0;
};

Helpers& helpers() {
  static Helpers* h = [] {
    auto* created = new Helpers;
    for (int t = 1; t < block_threads(); ++t) {
      std::thread([created] {
        std::uint64_t seen = 0;
        for (;;) {
          BlockQueue* q = nullptr;
          {
            std::unique_lock<std::mutex> lock(created->mutex);
            created->wake.wait(lock, [&] { return created->generation != seen; });
            seen = created->generation;
            q = created->queue;
          }
          drain(*q);
          std::lock_guard<std::mutex> lock(created->mutex);
          if (--created->busy == 0) created->done.notify_all();
        }
      }).detach();
    }
    return created;
  }();
  return *h;
}

// A different order of the blocks at every launch (a seeded shuffle, so a run can be repeated
// with one host thread: NAPINET_CUDA_EMU_THREADS=1).
std::vector<std::uint64_t> block_order(std::uint64_t blocks) {
  static std::atomic<std::uint64_t> launches{0};
  std::uint64_t state = 0x9E3779B97F4A7C15ull * (launches.fetch_add(1) + 1);
  auto random = [&state] {  // splitmix64
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  std::vector<std::uint64_t> order(blocks);
  for (std::uint64_t i = 0; i < blocks; ++i) order[i] = i;
  for (std::uint64_t i = blocks; i > 1; --i) std::swap(order[i - 1], order[random() % i]);
  return order;
}

void run_blocks_concurrently(const LaunchShape& shape, std::uint64_t blocks) {
  BlockQueue q;
  q.shape = shape;
  q.order = block_order(blocks);
  const int helpers_wanted = static_cast<int>(std::min<std::uint64_t>(blocks, block_threads())) - 1;
  if (helpers_wanted > 0) {
    Helpers& h = helpers();
    std::lock_guard<std::mutex> lock(h.mutex);
    h.queue = &q;
    h.busy = block_threads() - 1;
    ++h.generation;
    h.wake.notify_all();
  }
  drain(q);
  if (helpers_wanted > 0) {
    Helpers& h = helpers();
    std::unique_lock<std::mutex> lock(h.mutex);
    h.done.wait(lock, [&] { return h.busy == 0; });
  }
  prepare_thread(shape);  // this thread's scheduler describes the launch for messages below
  if (q.error) std::rethrow_exception(q.error);
}
#endif

}  // namespace


void run_kernel(const LaunchSite& site, dim3 grid, dim3 block, std::size_t shared_bytes,
                cudaStream_t stream, void (*body)(void*), void* context, const PointerArg* pointers,
                int pointer_count) {
  const std::uint64_t threads = std::uint64_t{block.x} * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || block.x > 1024 || block.y > 1024 ||
      block.z > 64 || threads > kMaxThreadsPerBlock || grid.x == 0 || grid.y == 0 || grid.z == 0 ||
      grid.x > 0x7fffffffu || grid.y > 65535 || grid.z > 65535) {
    record(cudaErrorInvalidConfiguration);
    return;
  }
  if (shared_bytes > kSharedMemoryPerBlock) {
    record(cudaErrorInvalidValue);
    return;
  }
  if (t_in_kernel) throw cuda::Error("CUDA emulator: a kernel launched another kernel", cudaErrorLaunchFailure);
  std::lock_guard<std::mutex> lock(device_mutex());
  if (!valid_stream(stream)) {
    record(cudaErrorInvalidResourceHandle);
    return;
  }
  if (t_replaying) {
    ++g_activity.replayed_launches;
  } else {
    ++g_activity.launches[site.kernel];
  }
  const LaunchShape shape{&site, grid, block, shared_bytes, body, context};
  prepare_thread(shape);

  // Every pointer argument must point into device memory (one past the end is fine).
  std::vector<std::pair<std::uintptr_t, const Allocation*>> buffers;
  for (int i = 0; i < pointer_count; ++i) {
    std::uintptr_t base = 0;
    const Allocation* a = find_allocation(pointers[i].pointer, 0, &base);
    if (a == nullptr) {
      throw cuda::Error("CUDA emulator: kernel " + launch_label() + ": argument " +
                            std::to_string(pointers[i].index + 1) + " (" + hex(pointers[i].pointer) +
                            ") is not device memory: pass pointers from cudaMalloc (is it a host pointer?)",
                        cudaErrorIllegalAddress);
    }
    if (a->device != t_device) {
      throw cuda::Error("CUDA emulator: kernel " + launch_label() + ": argument " +
                            std::to_string(pointers[i].index + 1) + " (" + hex(pointers[i].pointer) +
                            ") is memory of device " + std::to_string(a->device) +
                            " but the kernel runs on device " + std::to_string(t_device),
                        cudaErrorIllegalAddress);
    }
    buffers.emplace_back(base, a);
  }

  const std::uint64_t blocks = std::uint64_t{grid.x} * grid.y * grid.z;
#ifdef NAPINET_CUDA_EMU_GPU
  run_blocks_concurrently(shape, blocks);
#else
  struct Running {
    Running() { t_in_kernel = true; }
    ~Running() { t_in_kernel = false; }
  } running;
  for (std::uint64_t b = blocks; b-- > 0;) run_block_at(b);  // highest block index first
#endif

  // Writes just outside a buffer passed to the kernel land in its red zones.
  for (const auto& [base, a] : buffers) {
    long long offset = 0;
    if (red_zone_damaged(base, *a, &offset)) {
      repair_red_zones(base, *a);
      throw cuda::Error("CUDA emulator: kernel " + launch_label() + " wrote outside a buffer of " +
                            std::to_string(a->bytes) + " bytes at " + hex(reinterpret_cast<void*>(base)) +
                            " (byte offset " + std::to_string(offset) + ")",
                        cudaErrorIllegalAddress);
    }
  }
}

}  // namespace napinet::emu

// ---------------------------------------------------------------------------------------------
// Barriers and other device functions
// ---------------------------------------------------------------------------------------------

using napinet::emu::block_barrier;

void __syncthreads(const char* file, int line) { block_barrier("__syncthreads", 0, file, line); }
int __syncthreads_count(int predicate, const char* file, int line) {
  return block_barrier("__syncthreads_count", predicate, file, line);
}
int __syncthreads_and(int predicate, const char* file, int line) {
  return block_barrier("__syncthreads_and", predicate, file, line) ==
         static_cast<int>(napinet::emu::g.threads);
}
int __syncthreads_or(int predicate, const char* file, int line) {
  return block_barrier("__syncthreads_or", predicate, file, line) > 0;
}
void __syncwarp(unsigned mask, const char* file, int line) {
  napinet::emu::warp_rendezvous("__syncwarp", mask, 0, file, line);
}
unsigned __activemask() {
  using namespace napinet::emu;
  Fiber& f = current_fiber("__activemask", __FILE__, __LINE__);
  unsigned warp = f.linear / 32, mask = 0;
  for (unsigned l = 0; l < 32 && warp * 32 + l < g.threads; ++l) {
    if (g.fibers[warp * 32 + l]->state != State::kDone) mask |= 1u << l;
  }
  return mask;
}
void __trap() { throw napinet::emu::FiberFault("__trap() called"); }

// ---------------------------------------------------------------------------------------------
// Runtime API
// ---------------------------------------------------------------------------------------------

using namespace napinet::emu;

cudaError_t cudaMalloc(void** ptr, std::size_t bytes) {
  if (ptr == nullptr) return record(cudaErrorInvalidValue);
  *ptr = nullptr;
  std::lock_guard<std::mutex> lock(device_mutex());
  if (cudaError_t e = forbidden_while_capturing()) return record(e);
  if (bytes == 0) return cudaSuccess;
  const int device = t_device;
  if (bytes > total_memory() - device_used(device)) return record(cudaErrorMemoryAllocation);
  const std::size_t raw_bytes = raw_size(bytes);
  char* raw = static_cast<char*>(std::aligned_alloc(kRedZone, raw_bytes));
  if (raw == nullptr) return record(cudaErrorMemoryAllocation);
  *ptr = hand_out(raw, raw_bytes, bytes, device, false);
  g_memory[device].malloc_bytes += bytes;
  ++g_activity.device_allocations;
  return cudaSuccess;
}

// cudaFree waits for the device, as CUDA's does: counted as a synchronisation.
cudaError_t cudaFree(void* ptr) {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (cudaError_t e = forbidden_while_capturing()) return record(e);
  if (ptr == nullptr) return cudaSuccess;
  auto it = g_allocations.find(reinterpret_cast<std::uintptr_t>(ptr));
  if (it == g_allocations.end() || it->second.pooled) return record(cudaErrorInvalidValue);
  g_memory[it->second.device].malloc_bytes -= it->second.bytes;
  std::free(it->second.raw);
  g_allocations.erase(it);
  ++g_activity.device_frees;
  ++g_activity.synchronizations;
  trim_pools_to_threshold();
  return cudaSuccess;
}

namespace {

// A stream-ordered call on a capturing stream: refused (see emu.h), and the capture spoilt.
cudaError_t refuse_if_capturing(cudaStream_t stream) {
  auto capture = g_captures.find(stream);
  if (capture == g_captures.end()) return cudaSuccess;
  capture->second.invalidated = true;
  return cudaErrorStreamCaptureUnsupported;
}

}  // namespace

cudaError_t cudaMallocAsync(void** ptr, std::size_t bytes, cudaStream_t stream) {
  if (ptr == nullptr) return record(cudaErrorInvalidValue);
  *ptr = nullptr;
  std::lock_guard<std::mutex> lock(device_mutex());
  if (!valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  if (cudaError_t e = refuse_if_capturing(stream)) return record(e);
  if (bytes == 0) return cudaSuccess;
  const int device = t_device;
  DeviceMemory& m = g_memory[device];
  const std::size_t needed = raw_size(bytes);
  ++g_activity.pool_allocations;
  // The smallest free block that fits without wasting more than half of it.
  auto best = m.free_blocks.end();
  for (auto it = m.free_blocks.begin(); it != m.free_blocks.end(); ++it) {
    if (it->second >= needed && it->second <= 2 * needed && (best == m.free_blocks.end() || it->second < best->second)) {
      best = it;
    }
  }
  char* raw = nullptr;
  std::size_t raw_bytes = needed;
  if (best != m.free_blocks.end()) {
    raw = best->first;
    raw_bytes = best->second;
    m.free_blocks.erase(best);
    ++g_activity.pool_reuses;
  } else {
    if (needed > total_memory() - device_used(device)) {
      trim_pool(device, 0);  // what the pool holds unused goes first, as CUDA's pools do
      if (needed > total_memory() - device_used(device)) return record(cudaErrorMemoryAllocation);
    }
    raw = static_cast<char*>(std::aligned_alloc(kRedZone, needed));
    if (raw == nullptr) return record(cudaErrorMemoryAllocation);
    m.reserved += needed;
    m.reserved_high = std::max(m.reserved_high, m.reserved);
    ++g_activity.device_allocations;
  }
  m.pool_used += raw_bytes;
  m.pool_used_high = std::max(m.pool_used_high, m.pool_used);
  *ptr = hand_out(raw, raw_bytes, bytes, device, true);
  return cudaSuccess;
}

// The block goes back to its pool at once (the work queued before it has already run); it is no
// longer device memory for the emulator's checks, so a kernel or copy that still uses it fails.
cudaError_t cudaFreeAsync(void* ptr, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (!valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  if (cudaError_t e = refuse_if_capturing(stream)) return record(e);
  if (ptr == nullptr) return cudaSuccess;
  auto it = g_allocations.find(reinterpret_cast<std::uintptr_t>(ptr));
  if (it == g_allocations.end() || !it->second.pooled) return record(cudaErrorInvalidValue);
  const Allocation a = it->second;
  g_allocations.erase(it);
  std::memset(a.raw, kFreshByte, a.raw_bytes);  // stale contents do not survive into a reuse
  g_memory[a.device].pool_used -= a.raw_bytes;
  g_memory[a.device].free_blocks.emplace_back(a.raw, a.raw_bytes);
  ++g_activity.pool_frees;
  return cudaSuccess;
}

struct CUmemPoolHandle_st {
  int device;
};

namespace {
CUmemPoolHandle_st g_pools[kMaxDevices] = {{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}};
bool valid_pool(cudaMemPool_t pool) {
  return pool != nullptr && pool >= g_pools && pool < g_pools + device_count();
}
}  // namespace

cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* pool, int device) {
  if (pool == nullptr) return record(cudaErrorInvalidValue);
  if (device < 0 || device >= device_count()) return record(cudaErrorInvalidDevice);
  *pool = &g_pools[device];
  return cudaSuccess;
}

cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value) {
  if (!valid_pool(pool) || value == nullptr) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(device_mutex());
  DeviceMemory& m = g_memory[pool->device];
  switch (attr) {
    case cudaMemPoolReuseFollowEventDependencies:
    case cudaMemPoolReuseAllowOpportunistic:
    case cudaMemPoolReuseAllowInternalDependencies: return cudaSuccess;  // work is never pending
    case cudaMemPoolAttrReleaseThreshold: m.release_threshold = *static_cast<std::uint64_t*>(value); return cudaSuccess;
    case cudaMemPoolAttrReservedMemHigh: m.reserved_high = m.reserved; return cudaSuccess;  // CUDA: only 0 resets
    case cudaMemPoolAttrUsedMemHigh: m.pool_used_high = m.pool_used; return cudaSuccess;
    default: return record(cudaErrorInvalidValue);
  }
}

cudaError_t cudaMemPoolGetAttribute(cudaMemPool_t pool, cudaMemPoolAttr attr, void* value) {
  if (!valid_pool(pool) || value == nullptr) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(device_mutex());
  const DeviceMemory& m = g_memory[pool->device];
  auto* out = static_cast<std::uint64_t*>(value);
  switch (attr) {
    case cudaMemPoolReuseFollowEventDependencies:
    case cudaMemPoolReuseAllowOpportunistic:
    case cudaMemPoolReuseAllowInternalDependencies: *static_cast<int*>(value) = 1; return cudaSuccess;
    case cudaMemPoolAttrReleaseThreshold: *out = m.release_threshold; return cudaSuccess;
    case cudaMemPoolAttrReservedMemCurrent: *out = m.reserved; return cudaSuccess;
    case cudaMemPoolAttrReservedMemHigh: *out = m.reserved_high; return cudaSuccess;
    case cudaMemPoolAttrUsedMemCurrent: *out = m.pool_used; return cudaSuccess;
    case cudaMemPoolAttrUsedMemHigh: *out = m.pool_used_high; return cudaSuccess;
  }
  return record(cudaErrorInvalidValue);
}

cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, std::size_t min_bytes_to_keep) {
  if (!valid_pool(pool)) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(device_mutex());
  trim_pool(pool->device, min_bytes_to_keep);
  return cudaSuccess;
}

namespace {

// Which sides of a copy are device memory (cudaMemcpyDefault: found by address).
bool copy_sides(const void* dst, const void* src, cudaMemcpyKind kind, bool* dst_device, bool* src_device) {
  *dst_device = *src_device = false;
  switch (kind) {
    case cudaMemcpyHostToHost: return true;
    case cudaMemcpyHostToDevice: *dst_device = true; return true;
    case cudaMemcpyDeviceToHost: *src_device = true; return true;
    case cudaMemcpyDeviceToDevice: *dst_device = *src_device = true; return true;
    case cudaMemcpyDefault:
      *dst_device = find_allocation(dst) != nullptr;
      *src_device = find_allocation(src) != nullptr;
      return true;
    default: return false;
  }
}

// A copy, with device_mutex() held.
cudaError_t copy_locked(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  if (bytes == 0) return cudaSuccess;
  bool dst_device = false, src_device = false;
  if (!copy_sides(dst, src, kind, &dst_device, &src_device)) return record(cudaErrorInvalidMemcpyDirection);
  if (dst == nullptr || src == nullptr) return record(cudaErrorInvalidValue);
  if ((dst_device && !find_allocation(dst, bytes)) || (src_device && !find_allocation(src, bytes))) {
    return record(cudaErrorInvalidValue);
  }
  std::memmove(dst, src, bytes);
  if (t_replaying) return cudaSuccess;
  if (dst_device && src_device) {
    ++g_activity.device_to_device;
  } else if (dst_device) {
    ++g_activity.host_to_device;
    g_activity.host_to_device_bytes += bytes;
  } else if (src_device) {
    ++g_activity.device_to_host;
    g_activity.device_to_host_bytes += bytes;
  }
  return cudaSuccess;
}

// A memset, with device_mutex() held.
cudaError_t memset_locked(void* dst, int value, std::size_t bytes) {
  if (bytes == 0) return cudaSuccess;
  if (dst == nullptr || !find_allocation(dst, bytes)) return record(cudaErrorInvalidValue);
  std::memset(dst, value, bytes);
  if (!t_replaying) ++g_activity.memsets;
  return cudaSuccess;
}

}  // namespace

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind) {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (cudaError_t e = forbidden_while_capturing()) return record(e);
  return copy_locked(dst, src, bytes, kind);
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind,
                            cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (!valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  auto capture = g_captures.find(stream);
  if (capture != g_captures.end()) {
    bool dst_device = false, src_device = false;
    if (!copy_sides(dst, src, kind, &dst_device, &src_device)) return record(cudaErrorInvalidMemcpyDirection);
    if (!dst_device || !src_device) {  // host memory in a captured copy: not supported here
      capture->second.invalidated = true;
      return record(cudaErrorStreamCaptureUnsupported);
    }
    capture->second.ops.push_back([=](cudaStream_t) {
      std::lock_guard<std::mutex> replay_lock(device_mutex());
      return copy_locked(dst, src, bytes, kind);
    });
    return cudaSuccess;
  }
  return copy_locked(dst, src, bytes, kind);
}

cudaError_t cudaMemset(void* dst, int value, std::size_t bytes) {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (cudaError_t e = forbidden_while_capturing()) return record(e);
  return memset_locked(dst, value, bytes);
}

cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (!valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  auto capture = g_captures.find(stream);
  if (capture != g_captures.end()) {
    capture->second.ops.push_back([=](cudaStream_t) {
      std::lock_guard<std::mutex> replay_lock(device_mutex());
      memset_locked(dst, value, bytes);
    });
    return cudaSuccess;
  }
  return memset_locked(dst, value, bytes);
}

namespace {

// *out = a new handle holding `value`, remembered in `live` (streams and events are such handles).
template <typename Handle, typename Out>
cudaError_t create_handle(Out* out, std::set<const void*>& live, Handle value) {
  if (out == nullptr) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(device_mutex());
  auto* handle = new Handle(value);
  live.insert(handle);
  *out = reinterpret_cast<Out>(handle);
  return cudaSuccess;
}

// Forgets and frees a handle made by create_handle; an unknown one is an error.
template <typename Handle>
cudaError_t destroy_handle(const void* handle, std::set<const void*>& live) {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (live.erase(handle) == 0) return record(cudaErrorInvalidResourceHandle);
  delete static_cast<const Handle*>(handle);
  return cudaSuccess;
}

}  // namespace

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned int flags) {
  return create_handle(stream, g_streams, StreamHandle{flags});
}

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  return destroy_handle<StreamHandle>(stream, g_streams);
}

// Work runs when it is issued, so a stream is always idle.
cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (!valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  if (cudaError_t e = forbidden_while_capturing()) return record(e);
  ++g_activity.synchronizations;
  trim_pools_to_threshold();
  return cudaSuccess;
}
cudaError_t cudaStreamQuery(cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(device_mutex());
  return valid_stream(stream) ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}
cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned int) {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (!valid_stream(stream) || g_events.count(event) == 0) return record(cudaErrorInvalidResourceHandle);
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned int flags) {
  return create_handle(event, g_events, EventHandle{flags, false, {}});
}

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  return destroy_handle<EventHandle>(event, g_events);
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (g_events.count(event) == 0 || !valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
  auto* handle = reinterpret_cast<EventHandle*>(event);
  handle->recorded = true;
  handle->time = std::chrono::steady_clock::now();
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (g_events.count(event) == 0) return record(cudaErrorInvalidResourceHandle);
  if (cudaError_t e = forbidden_while_capturing()) return record(e);
  ++g_activity.synchronizations;
  trim_pools_to_threshold();
  return cudaSuccess;
}
cudaError_t cudaEventQuery(cudaEvent_t event) {
  std::lock_guard<std::mutex> lock(device_mutex());
  return g_events.count(event) ? cudaSuccess : record(cudaErrorInvalidResourceHandle);
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (ms == nullptr) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(device_mutex());
  if (g_events.count(start) == 0 || g_events.count(end) == 0) return record(cudaErrorInvalidResourceHandle);
  auto* a = reinterpret_cast<EventHandle*>(start);
  auto* b = reinterpret_cast<EventHandle*>(end);
  if ((a->flags | b->flags) & cudaEventDisableTiming) return record(cudaErrorInvalidResourceHandle);
  if (!a->recorded || !b->recorded) return record(cudaErrorInvalidResourceHandle);
  *ms = std::chrono::duration<float, std::milli>(b->time - a->time).count();
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (cudaError_t e = forbidden_while_capturing()) return record(e);
  ++g_activity.synchronizations;
  trim_pools_to_threshold();
  return cudaSuccess;
}

// ---- graphs (stream capture) ----

struct CUgraph_st {
  std::vector<std::function<void(cudaStream_t)>> ops;
};
struct CUgraphExec_st {
  std::vector<std::function<void(cudaStream_t)>> ops;
};

cudaError_t cudaStreamBeginCapture(cudaStream_t stream, cudaStreamCaptureMode) {
  std::lock_guard<std::mutex> lock(device_mutex());
  if (stream == nullptr || stream == cudaStreamLegacy || !valid_stream(stream)) return record(cudaErrorInvalidValue);
  if (g_captures.count(stream) != 0) return record(cudaErrorInvalidValue);  // already capturing
  g_captures[stream] = Capture{};
  ++g_capture_count;
  ++t_captures;
  return cudaSuccess;
}

cudaError_t cudaStreamEndCapture(cudaStream_t stream, cudaGraph_t* graph) {
  std::lock_guard<std::mutex> lock(device_mutex());
  auto it = g_captures.find(stream);
  if (it == g_captures.end()) return record(cudaErrorIllegalState);
  Capture capture = std::move(it->second);
  g_captures.erase(it);
  --g_capture_count;
  --t_captures;
  if (graph == nullptr) return record(cudaErrorInvalidValue);
  *graph = nullptr;
  if (capture.invalidated) return record(cudaErrorStreamCaptureInvalidated);
  *graph = new CUgraph_st{std::move(capture.ops)};
  return cudaSuccess;
}

cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (exec == nullptr || graph == nullptr) return record(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->ops};
  return cudaSuccess;
}

cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t stream) {
  if (exec == nullptr) return record(cudaErrorInvalidValue);
  {
    std::lock_guard<std::mutex> lock(device_mutex());
    if (!valid_stream(stream)) return record(cudaErrorInvalidResourceHandle);
    if (g_captures.count(stream) != 0) return record(cudaErrorStreamCaptureUnsupported);  // no nesting here
    ++g_activity.graph_launches;
  }
  struct Replaying {
    Replaying() { t_replaying = true; }
    ~Replaying() { t_replaying = false; }
  } replaying;
  for (const auto& op : exec->ops) {
    op(stream);
    if (t_last_error != cudaSuccess) return t_last_error;  // a node failed (e.g. a bad configuration)
  }
  return cudaSuccess;
}

cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}

cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  cudaError_t error = t_last_error;
  t_last_error = cudaSuccess;
  return error;
}
cudaError_t cudaPeekAtLastError() { return t_last_error; }

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInitializationError: return "initialization error";
    case cudaErrorCudartUnloading: return "driver shutting down";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection: return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNoKernelImageForDevice: return "no kernel image is available for execution on the device";
    case cudaErrorUnsupportedPtxVersion: return "the provided PTX was compiled with an unsupported toolchain.";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorIllegalAddress: return "an illegal memory access was encountered";
    case cudaErrorLaunchFailure: return "unspecified launch failure";
    case cudaErrorIllegalState: return "the operation cannot be performed in the present state";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
  }
  return "unknown error";
}

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInitializationError: return "cudaErrorInitializationError";
    case cudaErrorCudartUnloading: return "cudaErrorCudartUnloading";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorInvalidDevicePointer: return "cudaErrorInvalidDevicePointer";
    case cudaErrorInvalidMemcpyDirection: return "cudaErrorInvalidMemcpyDirection";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNoKernelImageForDevice: return "cudaErrorNoKernelImageForDevice";
    case cudaErrorUnsupportedPtxVersion: return "cudaErrorUnsupportedPtxVersion";
    case cudaErrorInvalidResourceHandle: return "cudaErrorInvalidResourceHandle";
    case cudaErrorNotReady: return "cudaErrorNotReady";
    case cudaErrorIllegalAddress: return "cudaErrorIllegalAddress";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    case cudaErrorIllegalState: return "cudaErrorIllegalState";
    case cudaErrorStreamCaptureUnsupported: return "cudaErrorStreamCaptureUnsupported";
    case cudaErrorStreamCaptureInvalidated: return "cudaErrorStreamCaptureInvalidated";
  }
  return "cudaErrorUnknown";
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (count == nullptr) return record(cudaErrorInvalidValue);
  *count = device_count();
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (prop == nullptr) return record(cudaErrorInvalidValue);
  if (device < 0 || device >= device_count()) return record(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::snprintf(prop->name, sizeof prop->name, "%s", kDeviceName);
  prop->totalGlobalMem = total_memory();
  prop->sharedMemPerBlock = kSharedMemoryPerBlock;
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = kMaxThreadsPerBlock;
  prop->maxThreadsDim[0] = 1024;
  prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 0x7fffffff;
  prop->maxGridSize[1] = 65535;
  prop->maxGridSize[2] = 65535;
  prop->major = 7;  // the oldest architecture napinet builds for
  prop->minor = 5;
  prop->multiProcessorCount = kMultiprocessors;
  prop->maxThreadsPerMultiProcessor = 1024;
  prop->sharedMemPerMultiprocessor = 64 * 1024;
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (value == nullptr) return record(cudaErrorInvalidValue);
  if (device < 0 || device >= device_count()) return record(cudaErrorInvalidDevice);
  switch (attr) {
    case cudaDevAttrMemoryPoolsSupported: *value = 1; return cudaSuccess;
    case cudaDevAttrMaxThreadsPerBlock: *value = kMaxThreadsPerBlock; return cudaSuccess;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = kSharedMemoryPerBlock; return cudaSuccess;
    case cudaDevAttrWarpSize: *value = 32; return cudaSuccess;
    case cudaDevAttrMultiProcessorCount: *value = kMultiprocessors; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMajor: *value = 7; return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor: *value = 5; return cudaSuccess;
  }
  return record(cudaErrorInvalidValue);
}

cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  if (free_bytes == nullptr || total_bytes == nullptr) return record(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(device_mutex());
  *total_bytes = total_memory();
  *free_bytes = total_memory() - device_used(t_device);
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device < 0 || device >= device_count()) return record(cudaErrorInvalidDevice);
  t_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (device == nullptr) return record(cudaErrorInvalidValue);
  *device = t_device;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* version) {
  if (version == nullptr) return record(cudaErrorInvalidValue);
  *version = kRuntimeVersion;
  return cudaSuccess;
}

cudaError_t cudaRuntimeGetVersion(int* version) {
  if (version == nullptr) return record(cudaErrorInvalidValue);
  *version = kRuntimeVersion;
  return cudaSuccess;
}

// ---------------------------------------------------------------------------------------------
// The GPU-like mode's libm (declared in native/kernels/common.h)
// ---------------------------------------------------------------------------------------------
#ifdef NAPINET_CUDA_EMU_GPU
namespace napinet {
namespace {

// Maximum error in ulps of CUDA's device functions (CUDA C++ Programming Guide, appendix
// "Mathematical Functions", tables of single- and double-precision standard library functions):
//   expf 2, logf 1, log1pf 1, expm1f 1, tanhf 2, erff 2, powf 4; exp 1, log 1, log1p 1 (double).
// Inside a kernel the emulator returns a value within that bound of the exact result (the
// argument's hash picks which), so a test passes here only if its tolerance covers what a GPU may
// return. An exactly representable result (exp(0) = 1, log(1) = 0, …), one that is not finite, and
// a result at the edge of the function's range (tanh → ±1) are returned exactly.
template <typename F>
struct Bits;
template <>
struct Bits<float> {
  using Int = std::uint32_t;
};
template <>
struct Bits<double> {
  using Int = std::uint64_t;
};

std::uint64_t mix(std::uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

template <typename F, typename Wide>
F within_ulps(Wide exact, int bound, std::uint64_t key, F low_limit, F high_limit) {
  const F nearest = static_cast<F>(exact);
  if (!std::isfinite(nearest) || static_cast<Wide>(nearest) == exact || nearest == F(0)) return nearest;
  if (std::fabs(nearest) < std::numeric_limits<F>::min()) return nearest;  // subnormal: leave it
  // The floats around the exact value: lo ≤ exact ≤ hi (one ulp apart).
  const F lo = static_cast<Wide>(nearest) < exact ? nearest : std::nextafter(nearest, -std::numeric_limits<F>::infinity());
  // Candidates lo − (bound − 1) … lo + bound ulps: each within `bound` ulps of the exact value.
  // NAPINET_CUDA_EMU_LIBM=low or high takes the farthest one below or above (the worst case a
  // tolerance must cover, all in one direction); unset or anything else: the argument's hash picks.
  static const int direction = [] {
    const char* mode = std::getenv("NAPINET_CUDA_EMU_LIBM");
    if (mode != nullptr && std::strcmp(mode, "low") == 0) return -1;
    if (mode != nullptr && std::strcmp(mode, "high") == 0) return 1;
    return 0;
  }();
  const int choices = 2 * bound;
  int step = direction < 0   ? -(bound - 1)
             : direction > 0 ? bound
                             : static_cast<int>(mix(key) % static_cast<std::uint64_t>(choices)) - (bound - 1);
  F result = lo;
  for (; step < 0; ++step) result = std::nextafter(result, -std::numeric_limits<F>::infinity());
  for (; step > 0; --step) result = std::nextafter(result, std::numeric_limits<F>::infinity());
  if (!std::isfinite(result) || result < low_limit || result > high_limit) return nearest;
  if ((result < F(0)) != (nearest < F(0))) return nearest;  // never a sign the exact value lacks
  return result;
}

template <typename F>
std::uint64_t key_of(F x, std::uint64_t function) {
  typename Bits<F>::Int bits;
  std::memcpy(&bits, &x, sizeof bits);
  return static_cast<std::uint64_t>(bits) * 0x9E3779B97F4A7C15ull + function;
}

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr double kInfD = std::numeric_limits<double>::infinity();

}  // namespace

float expf(float x) {
  if (!emu::in_kernel()) return ::expf(x);
  return within_ulps<float>(std::exp(static_cast<double>(x)), 2, key_of(x, 1), 0.0f, kInf);
}
float logf(float x) {
  if (!emu::in_kernel()) return ::logf(x);
  return within_ulps<float>(std::log(static_cast<double>(x)), 1, key_of(x, 2), -kInf, kInf);
}
float log1pf(float x) {
  if (!emu::in_kernel()) return ::log1pf(x);
  return within_ulps<float>(std::log1p(static_cast<double>(x)), 1, key_of(x, 3), -kInf, kInf);
}
float expm1f(float x) {
  if (!emu::in_kernel()) return ::expm1f(x);
  return within_ulps<float>(std::expm1(static_cast<double>(x)), 1, key_of(x, 4), -1.0f, kInf);
}
float tanhf(float x) {
  if (!emu::in_kernel()) return ::tanhf(x);
  return within_ulps<float>(std::tanh(static_cast<double>(x)), 2, key_of(x, 5), -1.0f, 1.0f);
}
float erff(float x) {
  if (!emu::in_kernel()) return ::erff(x);
  return within_ulps<float>(std::erf(static_cast<double>(x)), 2, key_of(x, 6), -1.0f, 1.0f);
}
float powf(float x, float y) {
  if (!emu::in_kernel()) return ::powf(x, y);
  return within_ulps<float>(std::pow(static_cast<double>(x), static_cast<double>(y)), 4,
                            key_of(x, 7) ^ mix(key_of(y, 8)), -kInf, kInf);
}
double exp(double x) {
  if (!emu::in_kernel()) return ::exp(x);
  return within_ulps<double>(std::exp(static_cast<long double>(x)), 1, key_of(x, 9), 0.0, kInfD);
}
double log(double x) {
  if (!emu::in_kernel()) return ::log(x);
  return within_ulps<double>(std::log(static_cast<long double>(x)), 1, key_of(x, 10), -kInfD, kInfD);
}
double log1p(double x) {
  if (!emu::in_kernel()) return ::log1p(x);
  return within_ulps<double>(std::log1p(static_cast<long double>(x)), 1, key_of(x, 11), -kInfD, kInfD);
}

}  // namespace napinet
#endif

namespace napinet::emu {
bool in_kernel() { return t_in_kernel; }
bool gpu_mode() {
#ifdef NAPINET_CUDA_EMU_GPU
  return true;
#else
  return false;
#endif
}
int host_threads() {
#ifdef NAPINET_CUDA_EMU_GPU
  return block_threads();
#else
  return 1;
#endif
}
}  // namespace napinet::emu
