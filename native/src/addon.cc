// Module entry. The export order here is the order services/collector/src/native.ts declares them in.
#include <napi.h>

#include "layout.h"
#include "native_error.h"
#include "session.h"

namespace palisade {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrint();
  exports.Set("layout", Napi::Function::New(env, Layout, "layout"));
  exports.Set("filterLayout", Napi::Function::New(env, FilterLayout, "filterLayout"));
  exports.Set("clocks", Napi::Function::New(env, Clocks, "clocks"));
  exports.Set("Session", Session::Define(env));
  return exports;
}

}  // namespace palisade

// NODE_API_MODULE pastes the function name into an identifier, so it needs an unqualified one.
static Napi::Object InitPalisade(Napi::Env env, Napi::Object exports) { return palisade::Init(env, exports); }

NODE_API_MODULE(palisade, InitPalisade)
