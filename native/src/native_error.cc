#include "native_error.h"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace palisade {

namespace {

// The addon is single-threaded (everything runs on the JS thread), so plain statics are enough. Log capture is
// process-wide because libbpf's print hook is; a second worker_thread using the addon would share it.
bool g_capturing = false;
std::string g_log;
constexpr size_t kMaxLog = 32 * 1024;

int LibbpfPrint(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG || !g_capturing) return 0;
  char line[1024];
  int n = vsnprintf(line, sizeof(line), fmt, args);
  if (n <= 0) return 0;
  g_log.append(line, std::min<size_t>(static_cast<size_t>(n), sizeof(line) - 1));
  // Keep the tail: the verifier's last lines say why it refused.
  if (g_log.size() > kMaxLog) g_log.erase(0, g_log.size() - kMaxLog);
  return 0;
}

}  // namespace

void InstallLibbpfPrint() {
  static bool installed = false;
  if (!installed) {
    libbpf_set_print(LibbpfPrint);
    installed = true;
  }
}

void LogCaptureBegin() {
  g_log.clear();
  g_capturing = true;
}

std::string LogCaptureEnd() {
  g_capturing = false;
  std::string out;
  out.swap(g_log);
  return out;
}

const char* ErrorKindCode(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kLoad:
      return "BPF_LOAD_FAILED";
    case ErrorKind::kAttach:
      return "BPF_ATTACH_FAILED";
    case ErrorKind::kPoll:
      return "BPF_POLL_FAILED";
    case ErrorKind::kNative:
      break;
  }
  return "NATIVE_ERROR";
}

Napi::Error MakeNativeError(Napi::Env env, ErrorKind kind, const std::string& op, int err, const std::string& log) {
  const char* name = err > 0 ? strerrorname_np(err) : nullptr;
  std::string message = op + ": " + (err > 0 ? strerror(err) : "unknown error");
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("errno", Napi::Number::New(env, err));
  error.Set("code", Napi::String::New(env, name != nullptr ? name : "EUNKNOWN"));
  error.Set("op", Napi::String::New(env, op));
  error.Set("kind", Napi::String::New(env, ErrorKindCode(kind)));
  if (!log.empty()) error.Set("log", Napi::String::New(env, log));
  return error;
}

}  // namespace palisade
