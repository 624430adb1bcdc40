// probe(objectPath?): what this kernel supports, found by trying it (as `tetra probe` and `karmor probe` do): BTF,
// the buffer maps, each hook type (a tiny program loaded and attached), the helpers enforcement needs, and, given
// the BPF object, which of its programs have their hook here (so which event kinds will be seen).
#pragma once

#include <napi.h>

namespace palisade {

Napi::Value Probe(const Napi::CallbackInfo& info);

}  // namespace palisade
