// testHooks: the addon's own handling of kernel bytes and of setFilter()'s argument, callable from JS with no
// kernel, no BPF and no root, so the fast-check suite (test/fuzz/targets.ts) drives the N-API layer and the code
// behind it exactly as a Session does. Touches no map, no ring and no global state.
#pragma once

#include <napi.h>

namespace palisade {

Napi::Object TestHooks(Napi::Env env);

}  // namespace palisade
