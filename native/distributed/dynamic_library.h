// Shared libraries loaded at run time (dlopen), so the addon links no MPI or NCCL and the prebuilt
// binary still loads on a machine without them; a missing library becomes an Error that says what
// to install. Used by native/distributed/mpi.cpp (libmpi) and cuda/nccl.cu (libnccl).
#pragma once

#include <string>
#include <vector>

namespace napinet::distributed {

struct LibraryRequest {
  std::string what;                     // "MPI", "NCCL": how messages name the library
  std::string env_override;             // variable that names an explicit path, e.g. NAPINET_MPI_LIBRARY
  std::vector<std::string> candidates;  // tried in order when the variable is unset
  bool global = false;                  // RTLD_GLOBAL: Open MPI's own plugins need libmpi's symbols
  std::string install_hint;             // appended to the error: what to install
};

class DynamicLibrary {
 public:
  // Opens the library named by request.env_override if set, else the first candidate that loads.
  // Throws std::runtime_error naming every file tried, dlerror()'s reason and the install hint.
  // The handle is never closed: MPI and NCCL keep threads and handlers that outlive any unload.
  static DynamicLibrary open(const LibraryRequest& request);

  // The address of `name`; throws naming the symbol and the library if it is absent.
  void* symbol(const char* name) const;
  // nullptr if absent (optional entry points, or a probe for the library's flavour).
  void* find(const char* name) const noexcept;

  // A function pointer of type F (a plain C function type's pointer).
  template <typename F>
  F function(const char* name) const {
    return reinterpret_cast<F>(symbol(name));
  }

  const std::string& path() const { return path_; }
  const std::string& what() const { return what_; }

 private:
  void* handle_ = nullptr;
  std::string path_, what_;
};

}  // namespace napinet::distributed
