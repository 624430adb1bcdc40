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

// What failed, as the stable code JS reports (PalisadeError.code): decided here, where the failing step is known,
// never guessed from the op's wording.
enum class ErrorKind {
  kLoad,    // BPF_LOAD_FAILED: open, .rodata config, map creation, the verifier
  kAttach,  // BPF_ATTACH_FAILED: a required program could not attach, or a buffer manager could not be created
  kPoll,    // BPF_POLL_FAILED: reading the buffers while running
  kNative,  // NATIVE_ERROR: anything else (map writes, bad state)
};

const char* ErrorKindCode(ErrorKind kind);

// err is a positive errno. The JS error carries {errno, code (the errno name), op, kind (ErrorKindCode), log?}.
Napi::Error MakeNativeError(Napi::Env env, ErrorKind kind, const std::string& op, int err, const std::string& log = "");

}  // namespace palisade
