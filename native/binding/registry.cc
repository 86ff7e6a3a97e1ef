// The registry of NAPINET_EXPORT functions, per-environment state slots, and call_guarded, which
// turns C++ exceptions into JavaScript errors (see registry.h).
#include "registry.h"

#include "args.h"
#ifdef NAPINET_WITH_CUDA
#include "cuda/deferred.h"
#endif

#include <exception>
#include <map>
#include <new>
#include <string>

namespace napinet::binding {

std::vector<Export>& exports_registry() {
  static std::vector<Export> registry;
  return registry;
}

namespace {
struct EnvSlots {
  std::map<const void*, std::shared_ptr<void>> slots;
};
}  // namespace

std::shared_ptr<void>& env_slot(Napi::Env env, const void* key) {
  EnvSlots* slots = env.GetInstanceData<EnvSlots>();
  if (slots == nullptr) {
    slots = new EnvSlots;
    env.SetInstanceData(slots);  // deleted when the environment is torn down
  }
  return slots->slots[key];
}

Napi::Value call_guarded(Method method, const Napi::CallbackInfo& info, bool keeps_deferred) {
  Napi::Env env = info.Env();
  try {
    begin_call();
#ifdef NAPINET_WITH_CUDA
    if (!keeps_deferred) run_deferred();
#else
    (void)keeps_deferred;
#endif
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
