// The programs of one BPF object, what each says about itself (BTF decl tags, see PAL_REQUIRED, PAL_KIND and PAL_UNLESS in
// bpf/include/palisade.h), and whether the running kernel has its hook. Hooks are found by probing the kernel
// (tracefs events, vmlinux BTF types and functions, the active LSMs), never by comparing version numbers.
#pragma once

#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

namespace palisade {

struct BtfDeleter {
  void operator()(btf* b) const { btf__free(b); }
};
using BtfPtr = std::unique_ptr<btf, BtfDeleter>;

struct ProgramInfo {
  std::string name;      // the function name, e.g. pal_openat_in
  std::string section;   // e.g. tracepoint/syscalls/sys_enter_openat
  std::string hook;      // tracepoint | raw_tp | tp_btf | kprobe | fentry | lsm | other
  bool required = false; // PAL_REQUIRED
  int kind = 0;          // PAL_KIND: enum pal_event_kind, 0 when untagged
  std::string unless;    // PAL_UNLESS: a tracepoint whose presence makes this fallback unneeded, "" when untagged
  bool supported = true; // the hook exists on this kernel (as far as probing can tell)
  bool attached = false;
  std::string reason;    // why it is not attached ("" when it is)
};

// Reads every program of an opened (not yet loaded) object with its tags. Never fails: an object without BTF
// gives untagged programs (optional, kind 0).
std::vector<ProgramInfo> ReadPrograms(bpf_object* obj);

// Marks each program whose hook this kernel lacks, and each fallback (PAL_UNLESS) whose tracepoint it has
// (supported = false, reason set). vmlinux may be null (no BTF):
// hooks that need it are then unsupported.
void ProbeHooks(std::vector<ProgramInfo>* programs, const btf* vmlinux);

// The name of the program whose load failed, from libbpf's log ("prog 'NAME': ... failed to load"), or "".
std::string FailedProgramFromLog(const std::string& log);

// The verifier's verdict from a failed load's log: the last line of its program log that is not a statistic
// ("R0 invalid mem access 'scalar'"), or the log's last lines when it has no program log.
std::string VerifierVerdict(const std::string& log);

// The last non-empty lines of a log, joined by " | ", for a reason string.
std::string LogTail(const std::string& log, size_t lines);

// [{name, section, hook, required, kind (registry name or ""), unless, attached, supported, reason}].
Napi::Array ProgramsToJs(Napi::Env env, const std::vector<ProgramInfo>& programs);

// Where tracefs is mounted (/sys/kernel/tracing, else /sys/kernel/debug/tracing), or "".
std::string TracefsRoot();

}  // namespace palisade
