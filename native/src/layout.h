#pragma once

#include <napi.h>

namespace palisade {

// Sizes and offsets of the structs in bpf/include/palisade.h, as this compiler laid them out, for the test that
// keeps services/collector/src/event-decoder.ts in sync.
Napi::Value Layout(const Napi::CallbackInfo& info);

// The in-kernel filter's constants and the PAL_EVENT_PROCESS_KILL record, for services/collector/src/native.ts.
Napi::Value FilterLayout(const Napi::CallbackInfo& info);

// CLOCK_REALTIME and CLOCK_BOOTTIME read back to back, so JS can turn bpf_ktime_get_boot_ns() into wall time.
Napi::Value Clocks(const Napi::CallbackInfo& info);

}  // namespace palisade
