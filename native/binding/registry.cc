#include "registry.h"

#include <exception>
#include <new>
#include <string>

namespace napinet::binding {

std::vector<Export>& exports_registry() {
  static std::vector<Export> registry;
  return registry;
}

Napi::Value call_guarded(Method method, const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  try {
    return method(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw Napi::Error::New(env, "napinet: out of host memory");
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, std::string("napinet: ") + e.what());
  }
}

}  // namespace napinet::binding
