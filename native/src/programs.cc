#include "programs.h"

#include <sys/stat.h>

#include <cstring>
#include <fstream>
#include <sstream>

#include "abi.h"

namespace palisade {

namespace {

constexpr const char* kTagRequired = "palisade:required";
constexpr const char* kTagKind = "palisade:kind=";
constexpr const char* kTagUnless = "palisade:unless=";

bool StartsWith(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

bool IsDir(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool HasBtfType(const btf* vmlinux, const std::string& name, int kind) {
  return vmlinux != nullptr && btf__find_by_name_kind(vmlinux, name.c_str(), kind) > 0;
}

bool BpfLsmActive() {
  std::ifstream in("/sys/kernel/security/lsm");
  std::string list;
  std::getline(in, list);
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item == "bpf") return true;
  }
  return false;
}

// After the first '/' of a section: "tracepoint/syscalls/sys_enter_openat" -> "syscalls/sys_enter_openat".
std::string Target(const std::string& section) {
  size_t slash = section.find('/');
  return slash == std::string::npos ? "" : section.substr(slash + 1);
}

}  // namespace

std::string TracefsRoot() {
  if (IsDir("/sys/kernel/tracing/events")) return "/sys/kernel/tracing";
  if (IsDir("/sys/kernel/debug/tracing/events")) return "/sys/kernel/debug/tracing";
  return "";
}

std::vector<ProgramInfo> ReadPrograms(bpf_object* obj) {
  std::vector<ProgramInfo> out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    ProgramInfo p;
    p.name = bpf_program__name(prog);
    p.section = bpf_program__section_name(prog);
    if (StartsWith(p.section, "tracepoint/") || StartsWith(p.section, "tp/")) {
      p.hook = "tracepoint";
    } else if (StartsWith(p.section, "raw_tp/") || StartsWith(p.section, "raw_tracepoint/")) {
      p.hook = "raw_tp";
    } else if (StartsWith(p.section, "tp_btf/")) {
      p.hook = "tp_btf";
    } else if (StartsWith(p.section, "kprobe/") || StartsWith(p.section, "kretprobe/")) {
      p.hook = "kprobe";
    } else if (StartsWith(p.section, "fentry/") || StartsWith(p.section, "fexit/")) {
      p.hook = "fentry";
    } else if (StartsWith(p.section, "lsm/")) {
      p.hook = "lsm";
    } else {
      p.hook = "other";
    }
    out.push_back(p);
  }
  const struct btf* b = bpf_object__btf(obj);
  if (b == nullptr) return out;
  const int n = static_cast<int>(btf__type_cnt(b));
  for (int id = 1; id < n; id++) {
    const struct btf_type* t = btf__type_by_id(b, id);
    if (!btf_is_decl_tag(t)) continue;
    const char* tag = btf__name_by_offset(b, t->name_off);
    const struct btf_type* target = btf__type_by_id(b, t->type);
    if (tag == nullptr || target == nullptr || !btf_is_func(target)) continue;
    const char* func = btf__name_by_offset(b, target->name_off);
    for (auto& p : out) {
      if (p.name != func) continue;
      if (strcmp(tag, kTagRequired) == 0) p.required = true;
      if (strncmp(tag, kTagKind, strlen(kTagKind)) == 0) p.kind = KindIdByCName(tag + strlen(kTagKind));
      if (strncmp(tag, kTagUnless, strlen(kTagUnless)) == 0) p.unless = tag + strlen(kTagUnless);
    }
  }
  return out;
}

void ProbeHooks(std::vector<ProgramInfo>* programs, const btf* vmlinux) {
  const std::string tracefs = TracefsRoot();
  int lsm_active = -1;
  for (auto& p : *programs) {
    const std::string target = Target(p.section);
    std::string missing;
    if (p.hook == "tracepoint") {
      if (tracefs.empty()) {
        missing = "tracefs is not mounted";
      } else if (!IsDir(tracefs + "/events/" + target)) {
        missing = "no tracepoint " + target;
      } else if (!p.unless.empty() && IsDir(tracefs + "/events/" + p.unless)) {
        missing = "not needed: this kernel has tracepoint " + p.unless;
      }
    } else if (p.hook == "tp_btf" || p.hook == "raw_tp") {
      // A raw tracepoint exists iff the kernel declares btf_trace_<name> for it; without BTF tp_btf cannot load.
      if (vmlinux == nullptr) {
        missing = p.hook == "tp_btf" ? "no kernel BTF" : "";
      } else if (!HasBtfType(vmlinux, "btf_trace_" + target, BTF_KIND_TYPEDEF)) {
        missing = "no raw tracepoint " + target;
      }
    } else if (p.hook == "fentry") {
      if (!HasBtfType(vmlinux, target, BTF_KIND_FUNC)) missing = "no kernel function " + target + " in BTF";
    } else if (p.hook == "lsm") {
      if (lsm_active < 0) lsm_active = BpfLsmActive() ? 1 : 0;
      if (lsm_active == 0) {
        missing = "BPF LSM is not active (lsm=... lacks bpf)";
      } else if (!HasBtfType(vmlinux, "bpf_lsm_" + target, BTF_KIND_FUNC)) {
        missing = "no LSM hook " + target;
      }
    }
    if (!missing.empty()) {
      p.supported = false;
      p.reason = missing;
    }
  }
}

std::string FailedProgramFromLog(const std::string& log) {
  // libbpf 1.x: "libbpf: prog 'pal_x': BPF program load failed: ..." / "libbpf: prog 'pal_x': failed to load: -22"
  static const char* kMarks[] = {"': BPF program load failed", "': failed to load", "': failed to resolve CO-RE"};
  for (const char* mark : kMarks) {
    size_t at = log.find(mark);
    if (at == std::string::npos) continue;
    size_t open = log.rfind("prog '", at);
    if (open == std::string::npos) continue;
    return log.substr(open + 6, at - open - 6);
  }
  return "";
}

Napi::Array ProgramsToJs(Napi::Env env, const std::vector<ProgramInfo>& programs) {
  Napi::Array out = Napi::Array::New(env, programs.size());
  for (size_t i = 0; i < programs.size(); i++) {
    const ProgramInfo& p = programs[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", p.name);
    o.Set("section", p.section);
    o.Set("hook", p.hook);
    o.Set("required", Napi::Boolean::New(env, p.required));
    const char* kind = KindName(p.kind);
    o.Set("kind", kind != nullptr ? kind : "");
    o.Set("unless", p.unless);
    o.Set("supported", Napi::Boolean::New(env, p.supported));
    o.Set("attached", Napi::Boolean::New(env, p.attached));
    o.Set("reason", p.reason);
    out.Set(static_cast<uint32_t>(i), o);
  }
  return out;
}

std::string VerifierVerdict(const std::string& log) {
  const size_t begin = log.find("-- BEGIN PROG LOAD LOG --");
  const size_t end = log.find("-- END PROG LOAD LOG --");
  if (begin == std::string::npos || end == std::string::npos || end < begin) return LogTail(log, 2);
  std::stringstream ss(log.substr(begin, end - begin));
  std::string line;
  std::string verdict;
  while (std::getline(ss, line)) {
    if (line.empty() || StartsWith(line, "processed ") || StartsWith(line, "verification time") ||
        StartsWith(line, "stack depth") || StartsWith(line, "-- BEGIN")) {
      continue;
    }
    verdict = line;
  }
  return verdict.empty() ? LogTail(log, 2) : verdict;
}

std::string LogTail(const std::string& log, size_t lines) {
  std::vector<std::string> all;
  std::stringstream ss(log);
  std::string line;
  while (std::getline(ss, line)) {
    if (!line.empty()) all.push_back(line);
  }
  std::string out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); i++) {
    if (!out.empty()) out += " | ";
    out += all[i];
  }
  return out;
}

}  // namespace palisade
