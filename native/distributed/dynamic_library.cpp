// dlopen/dlsym with errors a user can act on (see dynamic_library.h).
#include "dynamic_library.h"

#include <cstdlib>
#include <stdexcept>

#ifdef _WIN32
// Open MPI and NCCL's Linux ABI are what napinet.distributed speaks: on Windows it reports itself
// unavailable (MS-MPI would need its own handles).
namespace napinet::distributed {
DynamicLibrary DynamicLibrary::open(const LibraryRequest& request) {
  throw std::runtime_error("napinet.distributed runs on Linux and macOS: " + request.what +
                           " is not loaded on Windows");
}
void* DynamicLibrary::find(const char*) const noexcept { return nullptr; }
void* DynamicLibrary::symbol(const char* name) const {
  throw std::runtime_error(std::string("no symbol ") + name + " on Windows");
}
}  // namespace napinet::distributed
#else
#include <dlfcn.h>

namespace napinet::distributed {

DynamicLibrary DynamicLibrary::open(const LibraryRequest& request) {
  std::vector<std::string> candidates = request.candidates;
  const char* override_path = request.env_override.empty() ? nullptr : std::getenv(request.env_override.c_str());
  if (override_path != nullptr && *override_path != '\0') candidates = {override_path};
  const int flags = RTLD_NOW | (request.global ? RTLD_GLOBAL : RTLD_LOCAL);
  std::string failures;
  for (const std::string& candidate : candidates) {
    dlerror();
    if (void* handle = dlopen(candidate.c_str(), flags)) {
      DynamicLibrary library;
      library.handle_ = handle;
      library.path_ = candidate;
      library.what_ = request.what;
      return library;
    }
    const char* reason = dlerror();
    failures += "\n  " + candidate + ": " + (reason ? reason : "unknown dlopen error");
  }
  std::string message = "cannot load the " + request.what + " library";
  if (override_path != nullptr && *override_path != '\0') {
    message += " named by " + request.env_override;
  }
  message += ". Tried:" + failures + "\n" + request.install_hint;
  if (!request.env_override.empty() && (override_path == nullptr || *override_path == '\0')) {
    message += "\nOr set " + request.env_override + "=/path/to/the/library.";
  }
  throw std::runtime_error(message);
}

void* DynamicLibrary::find(const char* name) const noexcept { return dlsym(handle_, name); }

void* DynamicLibrary::symbol(const char* name) const {
  void* address = find(name);
  if (address == nullptr) {
    throw std::runtime_error("the " + what_ + " library " + path_ + " has no symbol " + name +
                             " (too old a version, or not the library napinet expects)");
  }
  return address;
}

}  // namespace napinet::distributed
#endif  // _WIN32
