// abi(): the ABI registry of bpf/include/palisade.h (kinds, ops, counters, limits, flag bits, struct layouts),
// exported once. scripts/gen-abi.mjs writes it to services/common/src/gen/abi.ts; nothing in userspace keeps a copy.
// clocks(): CLOCK_REALTIME and CLOCK_BOOTTIME read back to back (BPF timestamps are boottime).
#pragma once

#include <napi.h>

namespace palisade {

Napi::Value Abi(const Napi::CallbackInfo& info);
Napi::Value Clocks(const Napi::CallbackInfo& info);

// The kind id for a registry name ("FILE_OP"), or 0. Used to read a program's PAL_KIND tag.
int KindIdByCName(const char* name);
// The registry's lower-case kind name ("file_op") for an id, or nullptr.
const char* KindName(int id);

}  // namespace palisade
