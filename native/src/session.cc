#include "session.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <sys/epoll.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "native_error.h"
#include "palisade.h"
#include "programs.h"

namespace palisade {

namespace {

constexpr long kTracefsMagic = 0x74726163;
constexpr long kBpffsMagic = 0xcafe4a11;
constexpr const char* kConfigVar = "pal_cfg";
// Automatic shard count (options.ringShards = 0): one per possible CPU, at most this many. Past it CPUs share a
// shard (cpu % shards): the contention a ring's spinlock sees is then split 16 ways, and a 16 MiB total still
// leaves each shard a megabyte.
constexpr uint32_t kAutoShardsMax = 16;
// A verifier refusal of an optional program drops it and loads the object again; this bounds how often.
constexpr int kMaxLoadAttempts = 16;

bool IsMounted(const char* path, long magic) {
  struct statfs st;
  return statfs(path, &st) == 0 && static_cast<long>(st.f_type) == magic;
}

// Syscall tracepoints are attached by id, which libbpf reads from tracefs; nothing else mounts it on a bare node.
// bpffs is not needed to run (nothing is pinned) but is mounted for operators' bpftool, so failing that is ignored.
int EnsureMounts() {
  if (!IsMounted("/sys/fs/bpf", kBpffsMagic)) mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0700");
  if (!IsMounted("/sys/kernel/tracing", kTracefsMagic) &&
      mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, nullptr) != 0 && errno != EBUSY) {
    return errno;
  }
  return 0;
}

uint32_t GetU32(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("options.") + key + " must be a number");
  return v.As<Napi::Number>().Uint32Value();
}

std::string GetString(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throw Napi::TypeError::New(o.Env(), std::string("options.") + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Writes the config into .rodata between open and load. Found through BTF rather than a generated skeleton so
// that the addon does not have to be rebuilt with the object it loads.
int SetConfig(bpf_object* obj, const pal_config& cfg) {
  const struct btf* btf = bpf_object__btf(obj);
  if (btf == nullptr) return ENOENT;
  int sec_id = btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC);
  if (sec_id < 0) return ENOENT;
  const struct btf_type* sec = btf__type_by_id(btf, sec_id);
  const struct btf_var_secinfo* vars = btf_var_secinfos(sec);
  long offset = -1;
  for (int i = 0; i < btf_vlen(sec); i++) {
    const struct btf_type* var = btf__type_by_id(btf, vars[i].type);
    if (strcmp(btf__name_by_offset(btf, var->name_off), kConfigVar) == 0) {
      if (vars[i].size != sizeof(pal_config)) return EINVAL;
      offset = vars[i].offset;
      break;
    }
  }
  if (offset < 0) return ENOENT;

  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    if (!bpf_map__is_internal(map) || !EndsWith(bpf_map__name(map), ".rodata")) continue;
    size_t size = 0;
    const void* current = bpf_map__initial_value(map, &size);
    if (current == nullptr || static_cast<size_t>(offset) + sizeof(cfg) > size) return EINVAL;
    std::vector<uint8_t> data(static_cast<const uint8_t*>(current), static_cast<const uint8_t*>(current) + size);
    memcpy(data.data() + offset, &cfg, sizeof(cfg));
    return -bpf_map__set_initial_value(map, data.data(), data.size());
  }
  return ENOENT;
}


uint32_t FloorPow2(uint32_t v) {
  uint32_t p = 1;
  while (p <= v / 2) p *= 2;
  return p;
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

void UniqueFd::reset(int fd) {
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
}

Session::Session(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Session>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "options must be an object");
  if (napi_get_uv_event_loop(env, &loop_) != napi_ok) {
    throw MakeNativeError(env, ErrorKind::kNative, "napi_get_uv_event_loop", EINVAL);
  }
  Open(env, info[0].As<Napi::Object>());
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
  cleanup_hook_added_ = true;
}

Session::~Session() { CloseAll(); }

Napi::Function Session::Define(Napi::Env env) {
  return DefineClass(env, "Session",
                     {
                         InstanceMethod<&Session::Start>("start"),
                         InstanceMethod<&Session::Stats>("stats"),
                         InstanceMethod<&Session::RingStats>("ringStats"),
                         InstanceMethod<&Session::SetFilter>("setFilter"),
                         InstanceMethod<&Session::Programs>("programs"),
                         InstanceMethod<&Session::DetachAndDrain>("detachAndDrain"),
                         InstanceMethod<&Session::Close>("close"),
                     });
}

// Opens the object and writes its config, leaves the programs in `refused` (and those whose hook this kernel
// lacks) out, and loads. On failure the object is closed again and the libbpf log returned, so the caller can
// tell which program the verifier refused.
int Session::TryLoad(Napi::Env env, const std::string& object_path, const pal_config& cfg, uint32_t nshards,
                     const std::vector<std::string>& refused, std::string* log) {
  auto fail = [&](ErrorKind kind, const std::string& op, int err) -> void {
    throw MakeNativeError(env, kind, op, err, LogCaptureEnd());
  };
  obj_.reset(bpf_object__open_file(object_path.c_str(), nullptr));
  if (!obj_) fail(ErrorKind::kLoad, "bpf_object__open_file", errno);
  if (int err = SetConfig(obj_.get(), cfg); err != 0) fail(ErrorKind::kLoad, "set_config(.rodata pal_cfg)", err);

  programs_ = ReadPrograms(obj_.get());
  BtfPtr vmlinux(btf__load_vmlinux_btf());
  ProbeHooks(&programs_, vmlinux.get());
  for (auto& p : programs_) {
    if (std::find(refused.begin(), refused.end(), p.name) != refused.end()) {
      p.supported = false;
      p.reason = "refused by the verifier on this kernel";
    }
    if (p.supported) continue;
    if (p.required) {
      fail(ErrorKind::kAttach, "required program " + p.name + " (" + p.section + "): " + p.reason, ENOENT);
    }
    bpf_program* prog = bpf_object__find_program_by_name(obj_.get(), p.name.c_str());
    if (prog != nullptr) bpf_program__set_autoload(prog, false);
  }

  bpf_map* rings = bpf_object__find_map_by_name(obj_.get(), "pal_rings");
  if (rings == nullptr) fail(ErrorKind::kLoad, "bpf_object__find_map_by_name(pal_rings)", ENOENT);
  if (int err = bpf_map__set_max_entries(rings, nshards); err != 0) {
    fail(ErrorKind::kLoad, "bpf_map__set_max_entries(pal_rings)", -err);
  }
  LogCaptureBegin();
  int err = bpf_object__load(obj_.get());
  *log = LogCaptureEnd();
  LogCaptureBegin();
  if (err != 0) obj_.reset();
  return err;
}

void Session::Open(Napi::Env env, const Napi::Object& options) {
  const std::string object_path = GetString(options, "objectPath");
  const std::string mode = GetString(options, "mode");
  const uint32_t ring_bytes = GetU32(options, "ringBufferBytes");
  const uint32_t perf_pages = GetU32(options, "perfBufferPages");
  const uint32_t wakeup_bytes = GetU32(options, "wakeupBytes");
  const uint32_t ignore_tgid = GetU32(options, "ignoreTgid");
  drain_interval_ms_ = GetU32(options, "drainIntervalMs");
  const uint32_t requested_shards = GetU32(options, "ringShards");
  max_batch_bytes_ = GetU32(options, "maxBatchBytes");
  if (max_batch_bytes_ < 2 * kMaxRecordBytes) throw Napi::TypeError::New(env, "options.maxBatchBytes is too small");
  if (mode != "ringbuf" && mode != "perfbuf") throw Napi::TypeError::New(env, "options.mode must be ringbuf|perfbuf");
  perf_mode_ = mode == "perfbuf";

  // Any throw below leaves the already-created pieces to the unique_ptr members, which free them in reverse.
  auto fail = [&](ErrorKind kind, const std::string& op, int err) -> void {
    throw MakeNativeError(env, kind, op, err, LogCaptureEnd());
  };
  LogCaptureBegin();

  if (int err = EnsureMounts(); err != 0) fail(ErrorKind::kLoad, "mount(tracefs)", err);

  // Shards: ringBufferBytes is the total; each shard gets the largest power of two (the kernel's rule) that fits
  // its share, at least a page. Perf mode still needs one (one-page) ring in pal_rings: the programs reference it.
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) fail(ErrorKind::kNative, "libbpf_num_possible_cpus", -ncpu);
  const auto page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  uint32_t nshards = 1;
  shard_bytes_ = page;
  if (!perf_mode_) {
    // More shards than possible CPUs would never be written to.
    nshards = std::min<uint32_t>(requested_shards == 0 ? kAutoShardsMax : requested_shards, static_cast<uint32_t>(ncpu));
    nshards = std::max<uint32_t>(1, std::min(nshards, ring_bytes / page));
    shard_bytes_ = std::max(page, FloorPow2(ring_bytes / nshards));
  }

  pal_config cfg = {};
  cfg.output_mode = perf_mode_ ? PAL_OUTPUT_PERFBUF : PAL_OUTPUT_RINGBUF;
  cfg.ignore_tgid = ignore_tgid;
  // Per shard. A watermark at or above the shard size would never wake us: the ring would fill between timer ticks.
  cfg.wakeup_bytes = std::min<uint64_t>(wakeup_bytes, shard_bytes_ / 2);
  cfg.ring_shards = nshards;

  // The rings themselves, sized here; libbpf only creates the small template of the BTF definition for the verifier
  // (a ring's size is not part of the map-in-map compatibility check).
  for (uint32_t i = 0; i < nshards; i++) {
    int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "pal_ring_shard", 0, 0, shard_bytes_, nullptr);
    if (fd < 0) fail(ErrorKind::kLoad, "bpf_map_create(pal_ring_shard)", errno);
    shard_fds_.emplace_back(fd);
  }

  // Load; a program the verifier refuses is left out and the object loaded again, unless it is required.
  std::vector<std::string> refused;
  for (int attempt = 0;; attempt++) {
    std::string log;
    int err = TryLoad(env, object_path, cfg, nshards, refused, &log);
    if (err == 0) break;
    const std::string bad = FailedProgramFromLog(log);
    bool optional = false;
    for (const auto& p : programs_) optional = optional || (p.name == bad && !p.required);
    if (!optional || attempt + 1 >= kMaxLoadAttempts ||
        std::find(refused.begin(), refused.end(), bad) != refused.end()) {
      throw MakeNativeError(env, ErrorKind::kLoad, bad.empty() ? "bpf_object__load" : "bpf_object__load(" + bad + ")",
                            -err, log);
    }
    refused.push_back(bad);
    refused_logs_.push_back(bad + ": " + VerifierVerdict(log));
  }
  for (auto& p : programs_) {
    for (const auto& line : refused_logs_) {
      if (line.rfind(p.name + ": ", 0) == 0) p.reason = "refused by the verifier: " + line.substr(p.name.size() + 2);
    }
  }

  bpf_map* rings = bpf_object__find_map_by_name(obj_.get(), "pal_rings");
  bpf_map* perf_events = bpf_object__find_map_by_name(obj_.get(), "pal_perf_events");
  bpf_map* stats = bpf_object__find_map_by_name(obj_.get(), "pal_stats");
  if (rings == nullptr || perf_events == nullptr || stats == nullptr) {
    fail(ErrorKind::kLoad, "bpf_object__find_map_by_name", ENOENT);
  }
  // Every slot filled before any program is attached, so a lookup never misses in practice.
  for (uint32_t i = 0; i < nshards; i++) {
    int fd = shard_fds_[i].get();
    if (bpf_map_update_elem(bpf_map__fd(rings), &i, &fd, BPF_ANY) != 0) {
      fail(ErrorKind::kLoad, "bpf_map_update_elem(pal_rings)", errno);
    }
  }

  Attach(env);

  if (perf_mode_) {
    struct perf_event_attr attr = {};
    attr.type = PERF_TYPE_SOFTWARE;
    attr.config = PERF_COUNT_SW_BPF_OUTPUT;
    attr.sample_type = PERF_SAMPLE_RAW;
    attr.sample_period = 1;
    // Wake on a byte watermark instead of per sample (libbpf's perf_buffer__new default), like the ring's
    // BPF_RB_NO_WAKEUP; the drain timer picks up the rest.
    const uint64_t per_cpu_bytes = static_cast<uint64_t>(perf_pages) * sysconf(_SC_PAGESIZE);
    attr.watermark = 1;
    attr.wakeup_watermark = static_cast<uint32_t>(std::min<uint64_t>(wakeup_bytes, per_cpu_bytes / 2));
    perf_.reset(perf_buffer__new_raw(bpf_map__fd(perf_events), perf_pages, &attr, OnPerfEvent, this, nullptr));
    if (!perf_) fail(ErrorKind::kAttach, "perf_buffer__new_raw", errno);
  } else {
    epoll_fd_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (epoll_fd_.get() < 0) fail(ErrorKind::kAttach, "epoll_create1", errno);
    for (uint32_t i = 0; i < nshards; i++) {
      auto shard = std::make_unique<RingShard>();
      shard->session = this;
      shard->index = i;
      shard->ring.reset(ring_buffer__new(shard_fds_[i].get(), OnRingSample, shard.get(), nullptr));
      if (!shard->ring) fail(ErrorKind::kAttach, "ring_buffer__new", errno);
      struct epoll_event ev = {};
      ev.events = EPOLLIN;
      ev.data.u32 = i;
      if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, ring_buffer__epoll_fd(shard->ring.get()), &ev) != 0) {
        fail(ErrorKind::kAttach, "ring_buffer__new(epoll_ctl)", errno);
      }
      shards_.push_back(std::move(shard));
    }
    batch_.reserve(max_batch_bytes_);
  }
  stats_fd_ = bpf_map__fd(stats);
  std::string missing;
  if (int err = filter_.Bind(obj_.get(), &missing); err != 0) {
    fail(ErrorKind::kLoad, "bpf_object__find_map_by_name(" + missing + ")", err);
  }
  LogCaptureEnd();
}

// Attaches every loaded program. An optional one that the kernel refuses stays detached, with the reason; a
// required one fails the session.
void Session::Attach(Napi::Env env) {
  for (auto& p : programs_) {
    if (!p.supported) continue;
    bpf_program* prog = bpf_object__find_program_by_name(obj_.get(), p.name.c_str());
    bpf_link* link = prog == nullptr ? nullptr : bpf_program__attach(prog);
    if (link == nullptr) {
      const int err = prog == nullptr ? ENOENT : errno;
      if (p.required) {
        throw MakeNativeError(env, ErrorKind::kAttach, "bpf_program__attach(" + p.name + ")", err, LogCaptureEnd());
      }
      const char* name = strerrorname_np(err);
      p.reason = std::string("attach failed: ") + (name != nullptr ? name : "error");
      continue;
    }
    p.attached = true;
    p.reason.clear();
    links_.emplace_back(link);
  }
}

Napi::Value Session::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeNativeError(env, ErrorKind::kNative, "start", EBADF);
  if (started_) throw MakeNativeError(env, ErrorKind::kNative, "start", EALREADY);
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "onBatch must be a function");
  if (info.Length() >= 2 && !info[1].IsUndefined() && !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "onError must be a function");
  }

  int epoll_fd = perf_ ? perf_buffer__epoll_fd(perf_.get()) : epoll_fd_.get();
  if (int err = uv_poll_init(loop_, poll_.make(), epoll_fd); err != 0) {
    poll_.discard();
    throw MakeNativeError(env, ErrorKind::kPoll, "uv_poll_init", -err);
  }
  poll_.get()->data = this;
  uv_timer_init(loop_, timer_.make());
  timer_.get()->data = this;
  uv_idle_init(loop_, idle_.make());
  idle_.get()->data = this;
  if (int err = uv_poll_start(poll_.get(), UV_READABLE, OnPoll); err != 0) {
    throw MakeNativeError(env, ErrorKind::kPoll, "uv_poll_start", -err);
  }
  uv_timer_start(timer_.get(), OnTimer, drain_interval_ms_, drain_interval_ms_);

  on_batch_ = Napi::Persistent(info[0].As<Napi::Function>());
  if (info.Length() >= 2 && info[1].IsFunction()) on_error_ = Napi::Persistent(info[1].As<Napi::Function>());
  // While polling, the JS object must not be collected out from under the loop callbacks.
  Ref();
  self_referenced_ = true;
  started_ = true;
  return env.Undefined();
}

Napi::Value Session::SetFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeNativeError(env, ErrorKind::kNative, "setFilter", EBADF);
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "filter must be an object");
  filter_.Apply(env, info[0].As<Napi::Object>());
  return env.Undefined();
}

// Every program of the object: [{name, section, hook, required, kind, attached, reason}], in the object's order.
Napi::Value Session::Programs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeNativeError(env, ErrorKind::kNative, "programs", EBADF);
  return ProgramsToJs(env, programs_);
}

// For a clean stop (SIGTERM): the programs are detached first, so nothing new is written, then every record still in
// the buffers is delivered to onBatch before this returns. Returns how many records that last drain delivered.
Napi::Value Session::DetachAndDrain(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeNativeError(env, ErrorKind::kNative, "detachAndDrain", EBADF);
  while (!links_.empty()) links_.pop_back();
  for (auto& p : programs_) p.attached = false;
  const uint64_t before = records_;
  if (started_) {
    // Each pass stops at maxBatchBytes; a pass that was not capped emptied every shard.
    do {
      Drain();
    } while (capped_ && !closed_);
  }
  return Napi::Number::New(env, static_cast<double>(records_ - before));
}

Napi::Value Session::Close(const Napi::CallbackInfo& info) {
  CloseAll();
  return info.Env().Undefined();
}

void Session::CloseAll() {
  if (closed_) return;
  closed_ = true;
  // Off the loop first, so no callback can touch the buffers freed next. uv_close() unregisters the fd from
  // libuv's epoll synchronously; the handle memory itself is freed in the close callback.
  if (poll_) uv_poll_stop(poll_.get());
  if (timer_) uv_timer_stop(timer_.get());
  if (idle_) uv_idle_stop(idle_.get());
  poll_.reset();
  timer_.reset();
  idle_.reset();
  shards_.clear();
  perf_.reset();
  while (!links_.empty()) links_.pop_back();
  obj_.reset();
  shard_fds_.clear();
  epoll_fd_.reset();
  batch_.clear();
  batch_.shrink_to_fit();
  stats_fd_ = -1;
  filter_.Reset();
  on_batch_.Reset();
  on_error_.Reset();
  if (cleanup_hook_added_) {
    napi_remove_env_cleanup_hook(env_, OnEnvCleanup, this);
    cleanup_hook_added_ = false;
  }
  if (self_referenced_) {
    self_referenced_ = false;
    Unref();
  }
}

void Session::OnEnvCleanup(void* arg) {
  Session* self = static_cast<Session*>(arg);
  // Node is running the hook list; removing ourselves from it now is neither needed nor allowed.
  self->cleanup_hook_added_ = false;
  self->CloseAll();
}

}  // namespace palisade
