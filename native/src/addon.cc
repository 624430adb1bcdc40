// Module entry. The export order here is the order services/collector/src/native.ts declares them in.
#include <napi.h>

#include "layout.h"
#include "native_error.h"
#include "palisade.h"
#include "session.h"

namespace palisade {

// The limits and bits of the filter maps added after filterLayout() (bpf/include/palisade.h, filter section); mirrored
// by FILTER_LIMITS in services/collector/src/native.ts and checked by native.test.ts.
static Napi::Value FilterLimits(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object c = Napi::Object::New(env);
  c.Set("actionPost", static_cast<int>(PAL_ACTION_POST));
  c.Set("actionListed", static_cast<int>(PAL_ACTION_LISTED));
  c.Set("filterCommPrefixes", PAL_FILTER_COMM_PREFIXES);
  c.Set("filterCgroupEntries", PAL_FILTER_CGROUP_ENTRIES);
  c.Set("filterCgroupDepth", PAL_FILTER_CGROUP_DEPTH);
  c.Set("filterPortEntries", PAL_FILTER_PORT_ENTRIES);
  c.Set("filterRates", PAL_FILTER_RATES);
  c.Set("filterKinds", PAL_FILTER_KINDS);
  return c;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrint();
  exports.Set("layout", Napi::Function::New(env, Layout, "layout"));
  exports.Set("filterLayout", Napi::Function::New(env, FilterLayout, "filterLayout"));
  exports.Set("filterLimits", Napi::Function::New(env, FilterLimits, "filterLimits"));
  exports.Set("clocks", Napi::Function::New(env, Clocks, "clocks"));
  exports.Set("Session", Session::Define(env));
  return exports;
}

}  // namespace palisade

// NODE_API_MODULE pastes the function name into an identifier, so it needs an unqualified one.
static Napi::Object InitPalisade(Napi::Env env, Napi::Object exports) { return palisade::Init(env, exports); }

NODE_API_MODULE(palisade, InitPalisade)
