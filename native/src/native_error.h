// Errors crossing into JS carry {errno, code, op} (plus the captured libbpf log when there is one). native.ts
// turns them into PalisadeError with a stable code and the friendly message; no message wording is decided here.
#pragma once

#include <napi.h>

#include <string>

namespace palisade {

// Starts capturing libbpf's warnings (the verifier log on a failed load) so the next error can carry them.
void LogCaptureBegin();
// Stops capturing and returns what was captured.
std::string LogCaptureEnd();
// Installs the libbpf print callback once per process.
void InstallLibbpfPrint();

// err is a positive errno.
Napi::Error MakeNativeError(Napi::Env env, const std::string& op, int err, const std::string& log = "");

}  // namespace palisade
