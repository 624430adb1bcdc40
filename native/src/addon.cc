// Module entry. The export order here is the order services/collector/src/native.ts declares them in:
//   abi(), probe(objectPath?), clocks(), Session { start, stats, ringStats, setFilter, programs, close },
//   testHooks { frameRecords, compileFilter } (pure: no kernel, for the fuzz suite).
#include <napi.h>

#include "abi.h"
#include "native_error.h"
#include "probe.h"
#include "session.h"
#include "test_hooks.h"

namespace palisade {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrint();
  exports.Set("abi", Napi::Function::New(env, Abi, "abi"));
  exports.Set("probe", Napi::Function::New(env, Probe, "probe"));
  exports.Set("clocks", Napi::Function::New(env, Clocks, "clocks"));
  exports.Set("Session", Session::Define(env));
  exports.Set("testHooks", TestHooks(env));
  return exports;
}

}  // namespace palisade

// NODE_API_MODULE pastes the function name into an identifier, so it needs an unqualified one.
static Napi::Object InitPalisade(Napi::Env env, Napi::Object exports) { return palisade::Init(env, exports); }

NODE_API_MODULE(palisade, InitPalisade)
