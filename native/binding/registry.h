// Registration of the addon's functions. Each binding file registers its own functions with
// NAPINET_EXPORT, so adding an op never touches a central list; addon.cc exports them all.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

namespace napinet::binding {

using Method = Napi::Value (*)(const Napi::CallbackInfo&);

struct Export {
  const char* name;
  Method method;
  // Whether the method takes over the loss passes the binding holds back (native/binding/cuda/
  // deferred.h) instead of having call_guarded run them first.
  bool keeps_deferred = false;
};

std::vector<Export>& exports_registry();

struct Registration {
  Registration(const char* name, Method method, bool keeps_deferred = false) {
    exports_registry().push_back({name, method, keeps_deferred});
  }
};

// Per-environment state: one T per Node.js environment (the main thread, each worker thread) that
// loads the addon, made by T(env) on first use. The environment holds a reference until it is torn
// down; holders of the shared_ptr (e.g. objects whose finalizers may run later) keep it alive.
std::shared_ptr<void>& env_slot(Napi::Env env, const void* key);

template <typename T>
std::shared_ptr<T> env_state(Napi::Env env) {
  static const char key = 0;
  std::shared_ptr<void>& slot = env_slot(env, &key);
  if (!slot) slot = std::make_shared<T>(env);
  return std::static_pointer_cast<T>(slot);
}

// Calls method, turning any C++ exception (a kernel's or CUDA's std::runtime_error, bad_alloc)
// into a JavaScript Error, so nothing escapes into Node and aborts the process. Unless
// keeps_deferred, first runs the work the binding holds back (CUDA builds; cuda/deferred.h).
Napi::Value call_guarded(Method method, const Napi::CallbackInfo& info, bool keeps_deferred = false);

}  // namespace napinet::binding

#define NAPINET_CONCAT_INNER(a, b) a##b
#define NAPINET_CONCAT(a, b) NAPINET_CONCAT_INNER(a, b)
#define NAPINET_EXPORT(js_name, method)                                                    \
  static ::napinet::binding::Registration NAPINET_CONCAT(napinet_export_, __LINE__)(js_name, \
                                                                                  method)
// An export that may take over the held loss passes (softmaxCrossEntropyBackward, linearBackward):
// it must run them itself (run_deferred) before anything else it launches.
#define NAPINET_EXPORT_KEEPING_DEFERRED(js_name, method)                                     \
  static ::napinet::binding::Registration NAPINET_CONCAT(napinet_export_, __LINE__)(js_name, \
                                                                                  method, true)
