// The poll loop with a timeout and the SIGTERM handler (see wait.h).
#include "wait.h"

#ifndef _WIN32
#include <signal.h>
#include <unistd.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <csignal>
#include <cstring>
#include <thread>

namespace napinet::distributed {
namespace {

volatile std::sig_atomic_t g_terminate_signal = 0;
volatile std::sig_atomic_t g_message_written = 0;
#ifndef _WIN32
struct sigaction g_previous_action;
#endif
bool g_installed = false;
// Written before the handler is installed and never freed: the handler only reads them.
char g_message[1024];
std::size_t g_message_length = 0;
// What wait_until is waiting in (a static buffer: the handler may read it at any time).
char g_waiting_in[256];
volatile std::sig_atomic_t g_waiting = 0;

#ifndef _WIN32
void write_all(const char* text, std::size_t length) {
  while (length > 0) {
    const ssize_t written = ::write(STDERR_FILENO, text, length);
    if (written <= 0) return;
    text += written;
    length -= static_cast<std::size_t>(written);
  }
}

// Async-signal-safe: write(), strlen(), sigaction(), and the previous handler.
extern "C" void on_terminate(int signal_number, siginfo_t* info, void* context) {
  g_terminate_signal = signal_number;
  if (!g_message_written) {
    g_message_written = 1;
    write_all(g_message, g_message_length);
    if (g_waiting) {
      static const char kWaiting[] = " It was waiting in ";
      write_all(kWaiting, sizeof kWaiting - 1);
      write_all(g_waiting_in, std::strlen(g_waiting_in));
      write_all(".", 1);
    }
    write_all("\n", 1);
  }
  const struct sigaction& previous = g_previous_action;
  if (previous.sa_flags & SA_RESETHAND) {
    // The previous handler expects to run once with the default restored (Node's re-raises).
    struct sigaction defaults {};
    defaults.sa_handler = SIG_DFL;
    sigaction(signal_number, &defaults, nullptr);
  }
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction != nullptr) previous.sa_sigaction(signal_number, info, context);
  } else if (previous.sa_handler == SIG_DFL) {
    struct sigaction defaults {};
    defaults.sa_handler = SIG_DFL;
    sigaction(signal_number, &defaults, nullptr);
    raise(signal_number);  // delivered when this handler returns: the process ends by SIGTERM
  } else if (previous.sa_handler != SIG_IGN) {
    previous.sa_handler(signal_number);
  }
}

#endif  // _WIN32

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void install_termination_handler(const std::string& who) {
#ifdef _WIN32
  (void)who;
  (void)g_installed;
  (void)g_message_length;
#else
  if (g_installed) return;
  const std::string message =
      "\nnapinet.distributed: " + who +
      " received SIGTERM. mpirun sends it to every rank when one rank exits with an error or "
      "without finalize() (or when mpirun itself is interrupted): look for that rank's error in the "
      "output. This rank stops now.";
  g_message_length = std::min(message.size(), sizeof g_message - 1);
  std::memcpy(g_message, message.data(), g_message_length);
  struct sigaction action {};
  action.sa_sigaction = on_terminate;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGTERM, &action, &g_previous_action) == 0) g_installed = true;
#endif
}

bool termination_requested() { return g_terminate_signal != 0; }

void wait_until(const std::function<bool()>& done, double timeout_s, const std::string& what) {
  const std::int64_t start = now_ns();
  const std::size_t length = std::min(what.size(), sizeof g_waiting_in - 1);
  std::memcpy(g_waiting_in, what.data(), length);
  g_waiting_in[length] = '\0';
  g_waiting = 1;
  struct Done {
    ~Done() { g_waiting = 0; }
  } done_guard;
  for (;;) {
    if (done()) return;
    if (termination_requested()) {
      throw Error(Error::Kind::kTerminated,
                  what + " was interrupted: this process received SIGTERM (mpirun sends it to every "
                         "rank when one rank fails)");
    }
    const double elapsed = static_cast<double>(now_ns() - start) * 1e-9;
    if (elapsed > timeout_s) {
      char seconds[32];
      std::snprintf(seconds, sizeof seconds, "%g", timeout_s);
      throw Error(Error::Kind::kTimeout,
                  what + " timed out after " + seconds +
                      " s: not every rank reached it (a rank may be stuck or much slower, dead "
                      "without the launcher noticing, or calling a different collective); "
                      "napinet.distributed.init({ timeoutMs }) or the call's { timeoutMs } sets the limit");
    }
    if (elapsed < 1e-3) continue;  // spin: the other ranks are usually microseconds away
    if (elapsed < 20e-3) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
  }
}

}  // namespace napinet::distributed
