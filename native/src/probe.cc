#include "probe.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

#include "native_error.h"
#include "programs.h"

namespace palisade {

namespace {

// r0 = 0; exit
const struct bpf_insn kReturnZero[] = {
    {BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0},
    {BPF_JMP | BPF_EXIT, 0, 0, 0, 0},
};
constexpr size_t kReturnZeroLen = sizeof(kReturnZero) / sizeof(kReturnZero[0]);

struct Result {
  bool ok = false;
  std::string detail;
};

std::string ErrName(int err) {
  const char* name = strerrorname_np(err);
  return name != nullptr ? name : std::to_string(err);
}

Result Fail(const std::string& what, int err) { return {false, what + ": " + ErrName(err)}; }

// Loads a return-0 program of a BTF-attached type (tp_btf, fentry, lsm) against vmlinux type `target`, then
// attaches it through a link; both steps must work for the hook type to be usable.
Result ProbeBtfAttach(const btf* vmlinux, bpf_prog_type type, bpf_attach_type attach, const std::string& target,
                      int btf_kind) {
  if (vmlinux == nullptr) return {false, "no kernel BTF"};
  int id = btf__find_by_name_kind(vmlinux, target.c_str(), btf_kind);
  if (id <= 0) return {false, "no " + target + " in kernel BTF"};
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = attach, .attach_btf_id = static_cast<__u32>(id));
  int prog = bpf_prog_load(type, "pal_probe", "GPL", kReturnZero, kReturnZeroLen, &opts);
  if (prog < 0) return Fail("load", errno);
  int link = bpf_link_create(prog, 0, attach, nullptr);
  if (link < 0) link = bpf_raw_tracepoint_open(nullptr, prog);  // older kernels attach tracing programs this way
  int err = errno;
  close(prog);
  if (link < 0) return Fail("attach", err);
  close(link);
  return {true, target};
}

// Opens the perf event and attaches prog to it (how tracepoint and kprobe programs attach); closes both.
Result AttachThroughPerfEvent(struct perf_event_attr* attr, int prog, const std::string& what) {
  int pfd = static_cast<int>(syscall(__NR_perf_event_open, attr, -1, 0, -1, PERF_FLAG_FD_CLOEXEC));
  if (pfd < 0) {
    int err = errno;
    close(prog);
    return Fail("perf_event_open(" + what + ")", err);
  }
  int rc = ioctl(pfd, PERF_EVENT_IOC_SET_BPF, prog);
  int err = errno;
  close(pfd);
  close(prog);
  if (rc != 0) return Fail("attach", err);
  return {true, what};
}

// A tracepoint program attached to syscalls/sys_enter_getpid through perf_event_open.
Result ProbeTracepoint(const std::string& tracefs) {
  if (tracefs.empty()) return {false, "tracefs is not mounted"};
  std::ifstream idf(tracefs + "/events/syscalls/sys_enter_getpid/id");
  long long tp_id = -1;
  if (!(idf >> tp_id)) return {false, "no syscalls/sys_enter_getpid tracepoint"};
  int prog = bpf_prog_load(BPF_PROG_TYPE_TRACEPOINT, "pal_probe", "GPL", kReturnZero, kReturnZeroLen, nullptr);
  if (prog < 0) return Fail("load", errno);
  struct perf_event_attr attr = {};
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof(attr);
  attr.config = static_cast<__u64>(tp_id);
  attr.sample_period = 1;
  return AttachThroughPerfEvent(&attr, prog, "syscalls/sys_enter_getpid");
}

Result ProbeRawTp() {
  int prog = bpf_prog_load(BPF_PROG_TYPE_RAW_TRACEPOINT, "pal_probe", "GPL", kReturnZero, kReturnZeroLen, nullptr);
  if (prog < 0) return Fail("load", errno);
  int fd = bpf_raw_tracepoint_open("sched_process_exec", prog);
  int err = errno;
  close(prog);
  if (fd < 0) return Fail("attach", err);
  close(fd);
  return {true, "sched_process_exec"};
}

// A kprobe through the kprobe PMU (what libbpf does by default), on a function every kernel has.
Result ProbeKprobe() {
  std::ifstream tf("/sys/bus/event_source/devices/kprobe/type");
  int pmu = -1;
  if (!(tf >> pmu)) return {false, "no kprobe PMU (/sys/bus/event_source/devices/kprobe)"};
  int prog = bpf_prog_load(BPF_PROG_TYPE_KPROBE, "pal_probe", "GPL", kReturnZero, kReturnZeroLen, nullptr);
  if (prog < 0) return Fail("load", errno);
  static const char kFunc[] = "do_nanosleep";
  struct perf_event_attr attr = {};
  attr.type = static_cast<__u32>(pmu);
  attr.size = sizeof(attr);
  attr.config1 = reinterpret_cast<__u64>(kFunc);
  return AttachThroughPerfEvent(&attr, prog, kFunc);
}

Result Bool(int probe_result, const std::string& what) {
  if (probe_result == 1) return {true, what};
  if (probe_result == 0) return {false, what + " not supported"};
  return Fail(what, -probe_result);
}

Napi::Object ToJs(Napi::Env env, const Result& r) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", Napi::Boolean::New(env, r.ok));
  o.Set("detail", r.detail);
  return o;
}

std::string ReadLine(const char* path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

}  // namespace

Napi::Value Probe(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  struct utsname u = {};
  uname(&u);
  out.Set("kernelRelease", u.release);
  out.Set("lsm", ReadLine("/sys/kernel/security/lsm"));

  BtfPtr vmlinux(btf__load_vmlinux_btf());
  out.Set("btf", ToJs(env, vmlinux ? Result{true, "/sys/kernel/btf/vmlinux"} : Fail("btf__load_vmlinux_btf", errno)));

  Napi::Object buffers = Napi::Object::New(env);
  buffers.Set("ringbuf", ToJs(env, Bool(libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr), "BPF_MAP_TYPE_RINGBUF")));
  buffers.Set("perfbuf", ToJs(env, Bool(libbpf_probe_bpf_map_type(BPF_MAP_TYPE_PERF_EVENT_ARRAY, nullptr),
                                        "BPF_MAP_TYPE_PERF_EVENT_ARRAY")));
  out.Set("buffers", buffers);

  const std::string tracefs = TracefsRoot();
  Napi::Object hooks = Napi::Object::New(env);
  hooks.Set("tracepoint", ToJs(env, ProbeTracepoint(tracefs)));
  hooks.Set("raw_tp", ToJs(env, ProbeRawTp()));
  hooks.Set("tp_btf", ToJs(env, ProbeBtfAttach(vmlinux.get(), BPF_PROG_TYPE_TRACING, BPF_TRACE_RAW_TP,
                                               "btf_trace_sched_process_exec", BTF_KIND_TYPEDEF)));
  hooks.Set("kprobe", ToJs(env, ProbeKprobe()));
  hooks.Set("fentry", ToJs(env, ProbeBtfAttach(vmlinux.get(), BPF_PROG_TYPE_TRACING, BPF_TRACE_FENTRY,
                                               "do_nanosleep", BTF_KIND_FUNC)));
  hooks.Set("lsm", ToJs(env, ProbeBtfAttach(vmlinux.get(), BPF_PROG_TYPE_LSM, BPF_LSM_MAC, "bpf_lsm_file_open",
                                            BTF_KIND_FUNC)));
  out.Set("hooks", hooks);

  Napi::Object helpers = Napi::Object::New(env);
  helpers.Set("send_signal", ToJs(env, Bool(libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_send_signal,
                                                                    nullptr), "bpf_send_signal")));
  helpers.Set("override_return", ToJs(env, Bool(libbpf_probe_bpf_helper(BPF_PROG_TYPE_KPROBE,
                                                                        BPF_FUNC_override_return, nullptr),
                                                "bpf_override_return")));
  out.Set("helpers", helpers);

  // The object's programs against this kernel's hooks (no load: the verifier's verdict needs a real session).
  if (info.Length() >= 1 && info[0].IsString()) {
    const std::string path = info[0].As<Napi::String>().Utf8Value();
    bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
    if (obj == nullptr) throw MakeNativeError(env, ErrorKind::kLoad, "bpf_object__open_file", errno);
    std::vector<ProgramInfo> programs = ReadPrograms(obj);
    bpf_object__close(obj);
    ProbeHooks(&programs, vmlinux.get());
    out.Set("programs", ProgramsToJs(env, programs));
  }
  return out;
}

}  // namespace palisade
