// Waiting for a collective without ever hanging: the shared poll loop of the MPI path (mpi.cpp)
// and the NCCL path (cuda/nccl.cu), its errors, and the SIGTERM handler that explains why a rank
// is being ended. Pure C++, no napi.h.
//
// Why a SIGTERM handler: when one rank exits with an error (or without finalizing), mpirun ends
// every other rank with SIGTERM. Node's own handler would end the process silently; ours first
// writes which rank received it and why, then hands the signal on to the previous handler
// (normally Node's, which ends the process). A rank waiting in a collective also sees the signal
// through termination_requested() and throws, in case the previous handler does not end it (a
// JavaScript process.on('SIGTERM') listener).
#pragma once

#include <functional>
#include <stdexcept>
#include <string>

namespace napinet::distributed {

// A failure of the distributed runtime; kind gives the JavaScript Error a stable `code`.
class Error : public std::runtime_error {
 public:
  enum class Kind {
    kUnavailable,  // a library (libmpi, libnccl) could not be loaded or is not the expected one
    kBackend,      // an MPI or NCCL call returned an error
    kTimeout,      // a collective did not complete in time
    kTerminated,   // SIGTERM arrived while waiting
    kUsage,        // called before init(), after finalize(), from another thread, after a timeout
  };
  Error(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

// Calls done() until it returns true. Between calls it spins for the first millisecond, then
// yields the CPU, then sleeps 100 µs at a time, so a rank waiting for a slower one does not take a
// core from it. Throws Error(kTimeout) after timeout_s seconds and Error(kTerminated) when SIGTERM
// arrives; `what` names the operation in messages ("allReduce of 2 tensors on rank 0 of 2").
void wait_until(const std::function<bool()>& done, double timeout_s, const std::string& what);

// Installs the explaining SIGTERM handler (idempotent); `who` identifies this process in its
// message ("rank 1 of 2 (pid 1234 on host)"). While wait_until runs, the message also says what
// the rank was waiting in.
void install_termination_handler(const std::string& who);
bool termination_requested();

}  // namespace napinet::distributed
