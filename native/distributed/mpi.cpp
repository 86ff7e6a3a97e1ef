// MPI through Open MPI's ABI, loaded at run time (see mpi.h).
//
// How napinet talks to libmpi without mpi.h: Open MPI's handles (MPI_Comm, MPI_Datatype, MPI_Op,
// MPI_Request, …) are pointers to opaque structs, and its predefined handles are the addresses of
// exported globals: MPI_COMM_WORLD is &ompi_mpi_comm_world, MPI_FLOAT &ompi_mpi_float, MPI_SUM
// &ompi_mpi_op_sum. So dlsym() of those names gives the handles themselves, and the functions are
// called through pointers of the types below. The few constants are Open MPI's values:
// MPI_SUCCESS 0, MPI_THREAD_FUNNELED 1, MPI_COMM_TYPE_SHARED 0, MPI_IN_PLACE (void*)1,
// MPI_STATUSES_IGNORE NULL. This ABI (libmpi.so.40) has held from Open MPI 3.0 to 5.x. MPICH and
// its derivatives use integer handles instead; a libmpi without ompi_mpi_comm_world is refused
// with a message saying so.
//
// libmpi is opened with RTLD_GLOBAL: Open MPI loads its components (BTLs, PMIx, …) as plugins that
// resolve libmpi's and libopen-pal's symbols from the global namespace.
#include "mpi.h"

#ifndef _WIN32
#include <unistd.h>
#endif

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "dynamic_library.h"

namespace napinet::distributed::mpi {
namespace {

// Opaque handle types (Open MPI: struct ompi_communicator_t*, …), distinct so calls type-check.
struct CommT;
struct DatatypeT;
struct OpT;
struct RequestT;
struct ErrhandlerT;
struct InfoT;
using Comm = CommT*;
using Datatype = DatatypeT*;
using Op = OpT*;
using Request = RequestT*;
using Errhandler = ErrhandlerT*;
using Info = InfoT*;

constexpr int kSuccess = 0;
constexpr int kThreadFunneled = 1;
constexpr int kCommTypeShared = 0;
void* const kInPlace = reinterpret_cast<void*>(1);
constexpr std::int64_t kMaxCount = std::int64_t{1} << 30;  // MPI counts are int: chunk above this

struct Api {
  DynamicLibrary library;
  Comm comm_world;
  Datatype float_type, byte_type;
  Op sum;
  Errhandler errors_return;
  Info info_null;
  int (*Initialized)(int*);
  int (*Finalized)(int*);
  int (*Init_thread)(int*, char***, int, int*);
  int (*Finalize)();
  int (*Abort)(Comm, int);
  int (*Comm_rank)(Comm, int*);
  int (*Comm_size)(Comm, int*);
  int (*Comm_split_type)(Comm, int, int, Info, Comm*);
  int (*Comm_free)(Comm*);
  int (*Comm_set_errhandler)(Comm, Errhandler);
  int (*Error_string)(int, char*, int*);
  int (*Get_library_version)(char*, int*);
  int (*Iallreduce)(const void*, void*, int, Datatype, Op, Comm, Request*);
  int (*Ibcast)(void*, int, Datatype, int, Comm, Request*);
  int (*Iallgather)(const void*, int, Datatype, void*, int, Datatype, Comm, Request*);
  int (*Ibarrier)(Comm, Request*);
  int (*Testall)(int, Request*, int*, void*);
};

const char* const kInstallHint =
    "napinet.distributed needs Open MPI at run time (the napinet binary does not include it). "
    "Install it: Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev; Fedora/RHEL: dnf install "
    "openmpi (and module load mpi/openmpi-x86_64); macOS: brew install open-mpi.";

std::mutex g_mutex;  // guards loading and the state below
Api* g_api = nullptr;
World g_world;
bool g_initialized = false, g_finalized = false;
std::string g_broken;  // why the world is unusable (a collective timed out), empty if usable
std::thread::id g_owner;

template <typename T>
T handle(const DynamicLibrary& library, const char* name) {
  return static_cast<T>(library.symbol(name));
}

Api* load_locked() {
  if (g_api != nullptr) return g_api;
  LibraryRequest request;
  request.what = "MPI";
  request.env_override = "NAPINET_MPI_LIBRARY";
#ifdef __APPLE__
  request.candidates = {"libmpi.40.dylib", "libmpi.dylib", "/opt/homebrew/lib/libmpi.dylib",
                        "/usr/local/lib/libmpi.dylib"};
#else
  request.candidates = {"libmpi.so.40", "libmpi.so"};
#endif
  request.global = true;
  request.install_hint = kInstallHint;
  DynamicLibrary library;
  try {
    library = DynamicLibrary::open(request);
  } catch (const std::runtime_error& e) {
    throw Error(Error::Kind::kUnavailable, e.what());
  }
  if (library.find("ompi_mpi_comm_world") == nullptr) {
    throw Error(Error::Kind::kUnavailable,
                "the MPI library " + library.path() +
                    " is not Open MPI (it has no ompi_mpi_comm_world): napinet.distributed speaks "
                    "Open MPI's ABI; MPICH, Intel MPI and MVAPICH use another one. " + kInstallHint);
  }
  auto api = std::make_unique<Api>();
  try {
    api->comm_world = handle<Comm>(library, "ompi_mpi_comm_world");
    api->float_type = handle<Datatype>(library, "ompi_mpi_float");
    api->byte_type = handle<Datatype>(library, "ompi_mpi_byte");
    api->sum = handle<Op>(library, "ompi_mpi_op_sum");
    api->errors_return = handle<Errhandler>(library, "ompi_mpi_errors_return");
    api->info_null = handle<Info>(library, "ompi_mpi_info_null");
    api->Initialized = library.function<decltype(api->Initialized)>("MPI_Initialized");
    api->Finalized = library.function<decltype(api->Finalized)>("MPI_Finalized");
    api->Init_thread = library.function<decltype(api->Init_thread)>("MPI_Init_thread");
    api->Finalize = library.function<decltype(api->Finalize)>("MPI_Finalize");
    api->Abort = library.function<decltype(api->Abort)>("MPI_Abort");
    api->Comm_rank = library.function<decltype(api->Comm_rank)>("MPI_Comm_rank");
    api->Comm_size = library.function<decltype(api->Comm_size)>("MPI_Comm_size");
    api->Comm_split_type = library.function<decltype(api->Comm_split_type)>("MPI_Comm_split_type");
    api->Comm_free = library.function<decltype(api->Comm_free)>("MPI_Comm_free");
    api->Comm_set_errhandler = library.function<decltype(api->Comm_set_errhandler)>("MPI_Comm_set_errhandler");
    api->Error_string = library.function<decltype(api->Error_string)>("MPI_Error_string");
    api->Get_library_version = library.function<decltype(api->Get_library_version)>("MPI_Get_library_version");
    api->Iallreduce = library.function<decltype(api->Iallreduce)>("MPI_Iallreduce");
    api->Ibcast = library.function<decltype(api->Ibcast)>("MPI_Ibcast");
    api->Iallgather = library.function<decltype(api->Iallgather)>("MPI_Iallgather");
    api->Ibarrier = library.function<decltype(api->Ibarrier)>("MPI_Ibarrier");
    api->Testall = library.function<decltype(api->Testall)>("MPI_Testall");
  } catch (const std::runtime_error& e) {
    throw Error(Error::Kind::kUnavailable, e.what());
  }
  api->library = library;
  g_api = api.release();  // kept for the life of the process, like the library itself
  return g_api;
}

std::string error_text(const Api& api, int code) {
  char text[512] = {0};
  int length = 0;
  if (api.Error_string(code, text, &length) != kSuccess || length <= 0) return "MPI error " + std::to_string(code);
  return std::string(text, static_cast<std::size_t>(length)) + " (MPI error " + std::to_string(code) + ")";
}

void check(const Api& api, int code, const char* call) {
  if (code != kSuccess) throw Error(Error::Kind::kBackend, std::string(call) + " failed: " + error_text(api, code));
}

std::string first_line(const std::string& text) {
  const std::size_t end = text.find_first_of("\r\n");
  return end == std::string::npos ? text : text.substr(0, end);
}

std::string version_locked(const Api& api) {
  char text[4096] = {0};  // MPI_MAX_LIBRARY_VERSION_STRING is 256 in Open MPI; room to spare
  int length = 0;
  if (api.Get_library_version(text, &length) != kSuccess) return "unknown";
  std::string version(text, static_cast<std::size_t>(std::max(0, length)));
  version = first_line(version.substr(0, version.find('\0')));
  return version.substr(0, version.find_last_not_of(" \t") + 1);
}

// The state every collective needs: an initialised, unbroken world used from its own thread.
const Api& ready(const char* op) {
  if (!g_initialized) {
    throw Error(Error::Kind::kUsage, std::string(op) + (g_finalized ? " after finalize()" : " before init()") +
                                         ": napinet.distributed is not initialised");
  }
  if (std::this_thread::get_id() != g_owner) {
    throw Error(Error::Kind::kUsage, std::string(op) +
                                         " from another thread: MPI is used only from the thread that "
                                         "called napinet.distributed.init()");
  }
  if (!g_broken.empty()) {
    throw Error(Error::Kind::kUsage, std::string(op) + " after an earlier failure left the world unusable (" +
                                         g_broken + "); end this process");
  }
  return *g_api;
}

std::string where() {
  return "on rank " + std::to_string(g_world.rank) + " of " + std::to_string(g_world.size);
}

// Polls `requests` to completion; a timeout breaks the world (the requests stay pending).
void wait_all(const Api& api, std::vector<Request>& requests, double timeout_s, const std::string& what) {
  if (requests.empty()) return;
  int status = kSuccess;
  try {
    wait_until(
        [&] {
          int done = 0;
          status = api.Testall(static_cast<int>(requests.size()), requests.data(), &done, nullptr);
          return status != kSuccess || done != 0;
        },
        timeout_s, what + " " + where());
  } catch (const Error& e) {
    g_broken = e.what();
    throw;
  }
  if (status != kSuccess) {
    g_broken = what + " failed";
    check(api, status, "MPI_Testall");
  }
}

}  // namespace

void load() {
  std::lock_guard<std::mutex> lock(g_mutex);
  load_locked();
}

std::string library_version() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return version_locked(*load_locked());
}

World init() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_initialized) return g_world;
  if (g_finalized) throw Error(Error::Kind::kUsage, "init() after finalize(): MPI can be initialised once per process");
  const Api& api = *load_locked();
  int already = 0;
  check(api, api.Initialized(&already), "MPI_Initialized");
  if (already) throw Error(Error::Kind::kUsage, "MPI was already initialised in this process by another library");
  // Open MPI intercepts SIGSEGV, SIGBUS, SIGFPE and SIGABRT to print a stack trace unless told
  // otherwise; Node (V8's WebAssembly trap handler) relies on its own SIGSEGV handler.
#ifndef _WIN32
  setenv("OMPI_MCA_opal_signal", "", 0);
#endif
  int provided = 0;
  check(api, api.Init_thread(nullptr, nullptr, kThreadFunneled, &provided), "MPI_Init_thread");
  check(api, api.Comm_set_errhandler(api.comm_world, api.errors_return), "MPI_Comm_set_errhandler");
  World world;
  check(api, api.Comm_rank(api.comm_world, &world.rank), "MPI_Comm_rank");
  check(api, api.Comm_size(api.comm_world, &world.size), "MPI_Comm_size");
  Comm local = nullptr;
  check(api, api.Comm_split_type(api.comm_world, kCommTypeShared, world.rank, api.info_null, &local),
        "MPI_Comm_split_type");
  check(api, api.Comm_rank(local, &world.local_rank), "MPI_Comm_rank");
  check(api, api.Comm_size(local, &world.local_size), "MPI_Comm_size");
  check(api, api.Comm_free(&local), "MPI_Comm_free");
  world.thread_level = provided;
  world.library = api.library.path();
  world.version = version_locked(api);
#ifndef _WIN32
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  install_termination_handler("rank " + std::to_string(world.rank) + " of " + std::to_string(world.size) +
                              " (pid " + std::to_string(getpid()) + " on " + host + ")");
#endif
  g_world = world;
  g_owner = std::this_thread::get_id();
  g_initialized = true;
  return g_world;
}

bool initialized() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_initialized;
}

void finalize() {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_initialized) return;
  g_initialized = false;
  g_finalized = true;
  if (!g_broken.empty()) return;
  check(*g_api, g_api->Finalize(), "MPI_Finalize");
}

void abort(int code) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (!g_initialized) return;
  g_api->Abort(g_api->comm_world, code);
}

void all_reduce(float* const* data, const std::int64_t* lengths, std::size_t count, bool mean,
                double timeout_s, const std::string& what) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const Api& api = ready("allReduce");
  std::vector<Request> requests;
  for (std::size_t i = 0; i < count; ++i) {
    for (std::int64_t start = 0; start < lengths[i]; start += kMaxCount) {
      const int n = static_cast<int>(std::min(kMaxCount, lengths[i] - start));
      Request request = nullptr;
      check(api, api.Iallreduce(kInPlace, data[i] + start, n, api.float_type, api.sum, api.comm_world, &request),
            "MPI_Iallreduce");
      requests.push_back(request);
    }
  }
  wait_all(api, requests, timeout_s, what);
  if (mean && g_world.size > 1) {
    const float size = static_cast<float>(g_world.size);
    for (std::size_t i = 0; i < count; ++i) {
      float* x = data[i];
      for (std::int64_t j = 0; j < lengths[i]; ++j) x[j] /= size;
    }
  }
}

void broadcast(void* const* data, const std::int64_t* bytes, std::size_t count, int root,
               double timeout_s, const std::string& what) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const Api& api = ready("broadcast");
  if (root < 0 || root >= g_world.size) {
    throw Error(Error::Kind::kUsage, "Expected a rank in [0, " + std::to_string(g_world.size - 1) +
                                         "] for root but received " + std::to_string(root));
  }
  std::vector<Request> requests;
  for (std::size_t i = 0; i < count; ++i) {
    auto* base = static_cast<unsigned char*>(data[i]);
    for (std::int64_t start = 0; start < bytes[i]; start += kMaxCount) {
      const int n = static_cast<int>(std::min(kMaxCount, bytes[i] - start));
      Request request = nullptr;
      check(api, api.Ibcast(base + start, n, api.byte_type, root, api.comm_world, &request), "MPI_Ibcast");
      requests.push_back(request);
    }
  }
  wait_all(api, requests, timeout_s, what);
}

void all_gather(float* out, std::int64_t out_length, const float* in, std::int64_t n, double timeout_s,
                const std::string& what) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const Api& api = ready("allGather");
  if (out_length < n * g_world.size) {
    throw Error(Error::Kind::kUsage, "Expected at least " + std::to_string(n * g_world.size) +
                                         " elements for out (world size × " + std::to_string(n) +
                                         ") but received " + std::to_string(out_length));
  }
  if (n > INT32_MAX) {
    throw Error(Error::Kind::kUsage, "allGather takes at most 2^31 - 1 elements per rank; received " + std::to_string(n));
  }
  std::vector<Request> requests(1, nullptr);
  check(api, api.Iallgather(in, static_cast<int>(n), api.float_type, out, static_cast<int>(n), api.float_type,
                            api.comm_world, &requests[0]),
        "MPI_Iallgather");
  wait_all(api, requests, timeout_s, what);
}

void barrier(double timeout_s, const std::string& what) {
  std::lock_guard<std::mutex> lock(g_mutex);
  const Api& api = ready("barrier");
  std::vector<Request> requests(1, nullptr);
  check(api, api.Ibarrier(api.comm_world, &requests[0]), "MPI_Ibarrier");
  wait_all(api, requests, timeout_s, what);
}

}  // namespace napinet::distributed::mpi
