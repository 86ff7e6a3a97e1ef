// MPI for napinet.distributed, without MPI headers or a link-time dependency: libmpi is opened at
// run time (dynamic_library.h) and spoken to through Open MPI's ABI (mpi.cpp says how). Pure C++,
// no napi.h: the binding is native/binding/distributed.cc, the TypeScript side lib/distributed/.
//
// Every collective starts non-blocking MPI calls and polls them (MPI_Testall, in wait_until of
// wait.h) until they complete, the timeout passes, or SIGTERM arrives: a rank never waits forever
// for ranks that died or went elsewhere. After a timeout the world is broken: the requests cannot
// be cancelled, so every later call throws and finalize() skips MPI_Finalize.
// Tests: test/distributed.test.ts (runs the scripts in test/distributed/ under mpirun).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "wait.h"

namespace napinet::distributed::mpi {

struct World {
  int rank = 0, size = 1;
  int local_rank = 0, local_size = 1;  // among the ranks on this machine (MPI_COMM_TYPE_SHARED)
  int thread_level = 0;                // what MPI_Init_thread provided (1: MPI_THREAD_FUNNELED)
  std::string library;                 // the file that was opened
  std::string version;                 // MPI_Get_library_version, first line
};

// Opens libmpi (NAPINET_MPI_LIBRARY, else libmpi.so.40, libmpi.so) and resolves every entry point;
// idempotent. Throws Error(kUnavailable) naming what to install.
void load();
// The library's version line (loads it; MPI needs no initialisation for this).
std::string library_version();

// MPI_Init_thread(MPI_THREAD_FUNNELED), errors returned instead of aborting, the ranks on this
// machine, and the explaining SIGTERM handler. Once per process; the calling thread is then the
// only one allowed to use MPI.
World init();
bool initialized();  // init() done and finalize() not yet
// MPI_Finalize (a broken world skips it: it could wait for the requests that timed out); idempotent.
void finalize();
// MPI_Abort on MPI_COMM_WORLD: the launcher ends every rank.
void abort(int code);

// In place: each float buffer summed over the ranks (mean: then divided by the world size), one
// request per buffer (per 2^30 elements), all started before any is waited for.
void all_reduce(float* const* data, const std::int64_t* lengths, std::size_t count, bool mean,
                double timeout_s, const std::string& what);
// In place: raw bytes from `root` to every rank.
void broadcast(void* const* data, const std::int64_t* bytes, std::size_t count, int root,
               double timeout_s, const std::string& what);
// out[r·n + i] = rank r's in[i]; out must hold size·n floats.
void all_gather(float* out, std::int64_t out_length, const float* in, std::int64_t n, double timeout_s,
                const std::string& what);
void barrier(double timeout_s, const std::string& what);

}  // namespace napinet::distributed::mpi
