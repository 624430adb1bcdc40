#include "session.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cstring>

#include "native_error.h"
#include "palisade.h"

namespace palisade {

namespace {

constexpr long kTracefsMagic = 0x74726163;
constexpr long kBpffsMagic = 0xcafe4a11;
constexpr const char* kConfigVar = "pal_cfg";

// Index = enum pal_stat. Append-only, like the enum.
constexpr const char* kStatNames[] = {
    "events_emitted",      "ringbuf_output_failed", "perfbuf_output_failed", "scratch_missing",
    "read_kernel_failed",  "read_user_failed",      "stash_missing",         "stash_update_failed",
    "filtered",            "killed",                "kill_failed",
};
static_assert(sizeof(kStatNames) / sizeof(kStatNames[0]) == PAL_STAT__COUNT,
              "kStatNames must name every enum pal_stat value in bpf/include/palisade.h");

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

// One setFilter() argument, checked again here although native.ts validates it: a bad key must never reach a map.
struct FilterSpec {
  std::vector<pal_filter_comm_key> comm_keys;
  std::vector<pal_filter_comm_value> comm_values;
  std::vector<pal_filter_prefix> prefixes;
  uint32_t flags = 0;
};

FilterSpec ParseFilter(Napi::Env env, const Napi::Object& spec) {
  constexpr uint32_t kActions = PAL_ACTION_DROP | PAL_ACTION_SIGKILL;
  auto actions_of = [&](const Napi::Object& o, const char* what) -> uint32_t {
    Napi::Value v = o.Get("actions");
    if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string(what) + ".actions must be a number");
    uint32_t a = v.As<Napi::Number>().Uint32Value();
    if (a == 0 || (a & ~kActions) != 0) throw Napi::TypeError::New(env, std::string(what) + ".actions is invalid");
    return a;
  };
  FilterSpec out;
  Napi::Value binaries = spec.Get("binaries");
  Napi::Value prefixes = spec.Get("pathPrefixes");
  Napi::Value flags = spec.Get("flags");
  if (!binaries.IsArray() || !prefixes.IsArray() || !flags.IsNumber()) {
    throw Napi::TypeError::New(env, "filter must be {binaries: [], pathPrefixes: [], flags: number}");
  }
  out.flags = flags.As<Napi::Number>().Uint32Value();
  if ((out.flags & ~static_cast<uint32_t>(PAL_FILTER_EMIT_KILL_EVENTS)) != 0) {
    throw Napi::TypeError::New(env, "filter.flags is invalid");
  }
  Napi::Array b = binaries.As<Napi::Array>();
  if (b.Length() > PAL_FILTER_COMM_ENTRIES) throw Napi::TypeError::New(env, "too many filter binaries");
  for (uint32_t i = 0; i < b.Length(); i++) {
    Napi::Value item = b.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(env, "filter.binaries[] must be objects");
    Napi::Object o = item.As<Napi::Object>();
    Napi::Value comm = o.Get("comm");
    if (!comm.IsString()) throw Napi::TypeError::New(env, "filter.binaries[].comm must be a string");
    std::string c = comm.As<Napi::String>().Utf8Value();
    if (c.empty() || c.size() >= PAL_COMM_LEN || c.find('\0') != std::string::npos) {
      throw Napi::TypeError::New(env, "filter.binaries[].comm must be 1-15 bytes without NUL");
    }
    pal_filter_comm_key key = {};
    memcpy(key.comm, c.data(), c.size());
    pal_filter_comm_value value = {};
    value.actions = actions_of(o, "filter.binaries[]");
    out.comm_keys.push_back(key);
    out.comm_values.push_back(value);
  }
  Napi::Array p = prefixes.As<Napi::Array>();
  if (p.Length() > PAL_FILTER_PREFIXES) throw Napi::TypeError::New(env, "too many filter path prefixes");
  for (uint32_t i = 0; i < p.Length(); i++) {
    Napi::Value item = p.Get(i);
    if (!item.IsObject()) throw Napi::TypeError::New(env, "filter.pathPrefixes[] must be objects");
    Napi::Object o = item.As<Napi::Object>();
    Napi::Value prefix = o.Get("prefix");
    if (!prefix.IsString()) throw Napi::TypeError::New(env, "filter.pathPrefixes[].prefix must be a string");
    std::string s = prefix.As<Napi::String>().Utf8Value();
    if (s.empty() || s.size() > PAL_FILTER_PREFIX_MAX || s.find('\0') != std::string::npos) {
      throw Napi::TypeError::New(env, "filter.pathPrefixes[].prefix must be 1-64 bytes without NUL");
    }
    pal_filter_prefix slot = {};
    slot.len = static_cast<uint32_t>(s.size());
    slot.actions = actions_of(o, "filter.pathPrefixes[]");
    memcpy(slot.prefix, s.data(), s.size());
    out.prefixes.push_back(slot);
  }
  return out;
}

template <typename Handle>
void CloseHandle(Handle* handle) {
  uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
}

}  // namespace

Napi::Function Session::Define(Napi::Env env) {
  return DefineClass(env, "Session",
                     {
                         InstanceMethod<&Session::Start>("start"),
                         InstanceMethod<&Session::Stats>("stats"),
                         InstanceMethod<&Session::SetFilter>("setFilter"),
                         InstanceMethod<&Session::Close>("close"),
                     });
}

Session::Session(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Session>(info), env_(info.Env()) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "options must be an object");
  if (napi_get_uv_event_loop(env, &loop_) != napi_ok) throw MakeNativeError(env, "napi_get_uv_event_loop", EINVAL);
  Open(env, info[0].As<Napi::Object>());
  napi_add_env_cleanup_hook(env, OnEnvCleanup, this);
  cleanup_hook_added_ = true;
}

Session::~Session() { CloseAll(); }

void Session::Open(Napi::Env env, const Napi::Object& options) {
  const std::string object_path = GetString(options, "objectPath");
  const std::string mode = GetString(options, "mode");
  const uint32_t ring_bytes = GetU32(options, "ringBufferBytes");
  const uint32_t perf_pages = GetU32(options, "perfBufferPages");
  const uint32_t wakeup_bytes = GetU32(options, "wakeupBytes");
  const uint32_t ignore_tgid = GetU32(options, "ignoreTgid");
  drain_interval_ms_ = GetU32(options, "drainIntervalMs");
  if (mode != "ringbuf" && mode != "perfbuf") throw Napi::TypeError::New(env, "options.mode must be ringbuf|perfbuf");
  perf_mode_ = mode == "perfbuf";

  // Any throw below leaves the already-created pieces to the unique_ptr members, which free them in reverse.
  auto fail = [&](const std::string& op, int err) -> void {
    std::string log = LogCaptureEnd();
    throw MakeNativeError(env, op, err, log);
  };
  LogCaptureBegin();

  if (int err = EnsureMounts(); err != 0) fail("mount(tracefs)", err);

  obj_.reset(bpf_object__open_file(object_path.c_str(), nullptr));
  if (!obj_) fail("bpf_object__open_file", errno);

  pal_config cfg = {};
  cfg.output_mode = perf_mode_ ? PAL_OUTPUT_PERFBUF : PAL_OUTPUT_RINGBUF;
  cfg.ignore_tgid = ignore_tgid;
  cfg.wakeup_bytes = wakeup_bytes;
  if (int err = SetConfig(obj_.get(), cfg); err != 0) fail("set_config(.rodata pal_cfg)", err);

  bpf_map* events = bpf_object__find_map_by_name(obj_.get(), "pal_events");
  bpf_map* perf_events = bpf_object__find_map_by_name(obj_.get(), "pal_perf_events");
  bpf_map* stats = bpf_object__find_map_by_name(obj_.get(), "pal_stats");
  if (events == nullptr || perf_events == nullptr || stats == nullptr) fail("bpf_object__find_map_by_name", ENOENT);
  // Both output maps exist in every object; the unused ring shrinks to one page.
  uint32_t ring_size = perf_mode_ ? static_cast<uint32_t>(sysconf(_SC_PAGESIZE)) : ring_bytes;
  if (int err = bpf_map__set_max_entries(events, ring_size); err != 0) fail("bpf_map__set_max_entries", -err);

  if (int err = bpf_object__load(obj_.get()); err != 0) fail("bpf_object__load", -err);

  bpf_program* prog;
  bpf_object__for_each_program(prog, obj_.get()) {
    bpf_link* link = bpf_program__attach(prog);
    if (link == nullptr) fail(std::string("bpf_program__attach(") + bpf_program__name(prog) + ")", errno);
    links_.emplace_back(link);
  }

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
    if (!perf_) fail("perf_buffer__new_raw", errno);
  } else {
    ring_.reset(ring_buffer__new(bpf_map__fd(events), OnRingSample, this, nullptr));
    if (!ring_) fail("ring_buffer__new", errno);
  }
  stats_fd_ = bpf_map__fd(stats);
  bpf_map* filter_comm = bpf_object__find_map_by_name(obj_.get(), "pal_filter_comm");
  bpf_map* filter_prefix = bpf_object__find_map_by_name(obj_.get(), "pal_filter_prefix");
  bpf_map* filter_state = bpf_object__find_map_by_name(obj_.get(), "pal_filter_state");
  if (filter_comm == nullptr || filter_prefix == nullptr || filter_state == nullptr) {
    fail("bpf_object__find_map_by_name(pal_filter_*)", ENOENT);
  }
  filter_comm_fd_ = bpf_map__fd(filter_comm);
  filter_prefix_fd_ = bpf_map__fd(filter_prefix);
  filter_state_fd_ = bpf_map__fd(filter_state);
  LogCaptureEnd();
}

Napi::Value Session::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeNativeError(env, "start", EBADF);
  if (started_) throw MakeNativeError(env, "start", EALREADY);
  if (info.Length() < 1 || !info[0].IsFunction()) throw Napi::TypeError::New(env, "onBatch must be a function");
  if (info.Length() >= 2 && !info[1].IsUndefined() && !info[1].IsFunction()) {
    throw Napi::TypeError::New(env, "onError must be a function");
  }

  int epoll_fd = perf_ ? perf_buffer__epoll_fd(perf_.get()) : ring_buffer__epoll_fd(ring_.get());
  poll_ = new uv_poll_t;
  if (int err = uv_poll_init(loop_, poll_, epoll_fd); err != 0) {
    delete poll_;
    poll_ = nullptr;
    throw MakeNativeError(env, "uv_poll_init", -err);
  }
  poll_->data = this;
  timer_ = new uv_timer_t;
  uv_timer_init(loop_, timer_);
  timer_->data = this;
  if (int err = uv_poll_start(poll_, UV_READABLE, OnPoll); err != 0) throw MakeNativeError(env, "uv_poll_start", -err);
  uv_timer_start(timer_, OnTimer, drain_interval_ms_, drain_interval_ms_);

  on_batch_ = Napi::Persistent(info[0].As<Napi::Function>());
  if (info.Length() >= 2 && info[1].IsFunction()) on_error_ = Napi::Persistent(info[1].As<Napi::Function>());
  // While polling, the JS object must not be collected out from under the loop callbacks.
  Ref();
  self_referenced_ = true;
  started_ = true;
  return env.Undefined();
}

Napi::Value Session::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeNativeError(env, "stats", EBADF);
  Napi::Object out = Napi::Object::New(env);
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) throw MakeNativeError(env, "libbpf_num_possible_cpus", -ncpu);
  // Per-CPU array lookups return one 8-byte-aligned value per possible CPU.
  std::vector<uint64_t> values(static_cast<size_t>(ncpu));
  for (uint32_t key = 0; key < PAL_STAT__COUNT; key++) {
    if (bpf_map_lookup_elem(stats_fd_, &key, values.data()) != 0) {
      throw MakeNativeError(env, "bpf_map_lookup_elem(pal_stats)", errno);
    }
    uint64_t sum = 0;
    for (uint64_t v : values) sum += v;
    out.Set(kStatNames[key], Napi::Number::New(env, static_cast<double>(sum)));
  }
  out.Set("perfbuf_lost", Napi::Number::New(env, static_cast<double>(perf_lost_)));
  out.Set("records_malformed", Napi::Number::New(env, static_cast<double>(records_malformed_)));
  out.Set("records_delivered", Napi::Number::New(env, static_cast<double>(records_)));
  out.Set("batches_delivered", Napi::Number::New(env, static_cast<double>(batches_)));
  return out;
}

// Replaces the whole filter while the programs run. Write order (see bpf/include/filter.bpf.h): new comm entries,
// then every prefix slot (unused ones cleared), then stale comm entries deleted, then the state counts last, so a
// program never trusts a count that covers a slot not written yet.
Napi::Value Session::SetFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeNativeError(env, "setFilter", EBADF);
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "filter must be an object");
  FilterSpec spec = ParseFilter(env, info[0].As<Napi::Object>());

  for (size_t i = 0; i < spec.comm_keys.size(); i++) {
    if (bpf_map_update_elem(filter_comm_fd_, &spec.comm_keys[i], &spec.comm_values[i], BPF_ANY) != 0) {
      throw MakeNativeError(env, "bpf_map_update_elem(pal_filter_comm)", errno);
    }
  }
  pal_filter_state state = {};
  for (uint32_t slot = 0; slot < PAL_FILTER_PREFIXES; slot++) {
    pal_filter_prefix value = {};
    if (slot < spec.prefixes.size()) {
      value = spec.prefixes[slot];
      state.prefix_count++;
      if (value.actions & PAL_ACTION_SIGKILL) state.prefix_kill++;
    }
    if (bpf_map_update_elem(filter_prefix_fd_, &slot, &value, BPF_ANY) != 0) {
      throw MakeNativeError(env, "bpf_map_update_elem(pal_filter_prefix)", errno);
    }
  }
  // Collect first, delete after: deleting the key get_next_key is walking from restarts the walk.
  std::vector<pal_filter_comm_key> stale;
  pal_filter_comm_key key = {};
  pal_filter_comm_key next = {};
  const void* cursor = nullptr;
  while (bpf_map_get_next_key(filter_comm_fd_, cursor, &next) == 0) {
    bool wanted = false;
    for (const auto& k : spec.comm_keys) wanted = wanted || memcmp(k.comm, next.comm, sizeof(k.comm)) == 0;
    if (!wanted) stale.push_back(next);
    key = next;
    cursor = &key;
  }
  for (const auto& k : stale) {
    if (bpf_map_delete_elem(filter_comm_fd_, &k) != 0 && errno != ENOENT) {
      throw MakeNativeError(env, "bpf_map_delete_elem(pal_filter_comm)", errno);
    }
  }
  // Programs only test it for zero (skip the hash lookup), so duplicated comms over-counting is harmless.
  state.comm_count = static_cast<uint32_t>(spec.comm_keys.size());
  state.flags = spec.flags;
  uint32_t zero = 0;
  if (bpf_map_update_elem(filter_state_fd_, &zero, &state, BPF_ANY) != 0) {
    throw MakeNativeError(env, "bpf_map_update_elem(pal_filter_state)", errno);
  }
  return env.Undefined();
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
  if (poll_ != nullptr) {
    uv_poll_stop(poll_);
    CloseHandle(poll_);
    poll_ = nullptr;
  }
  if (timer_ != nullptr) {
    uv_timer_stop(timer_);
    CloseHandle(timer_);
    timer_ = nullptr;
  }
  ring_.reset();
  perf_.reset();
  while (!links_.empty()) links_.pop_back();
  obj_.reset();
  stats_fd_ = -1;
  filter_comm_fd_ = filter_prefix_fd_ = filter_state_fd_ = -1;
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

void Session::OnPoll(uv_poll_t* handle, int status, int /*events*/) {
  Session* self = static_cast<Session*>(handle->data);
  if (status < 0) {
    self->ReportError("uv_poll", -status);
    return;
  }
  self->Drain();
}

void Session::OnTimer(uv_timer_t* handle) { static_cast<Session*>(handle->data)->Drain(); }

int Session::OnRingSample(void* ctx, void* data, size_t len) {
  static_cast<Session*>(ctx)->Append(data, len);
  return 0;
}

enum bpf_perf_event_ret Session::OnPerfEvent(void* ctx, int /*cpu*/, struct perf_event_header* event) {
  Session* self = static_cast<Session*>(ctx);
  const uint8_t* body = reinterpret_cast<const uint8_t*>(event) + sizeof(*event);
  if (event->type == PERF_RECORD_SAMPLE) {
    // PERF_SAMPLE_RAW: u32 size, then the bytes (padded by the kernel to 8-byte alignment).
    uint32_t size;
    memcpy(&size, body, sizeof(size));
    self->Append(body + sizeof(size), size);
  } else if (event->type == PERF_RECORD_LOST) {
    uint64_t lost;  // after u64 id
    memcpy(&lost, body + sizeof(uint64_t), sizeof(lost));
    self->perf_lost_ += lost;
  }
  return LIBBPF_PERF_EVENT_CONT;
}

// Copies one record into the batch, trimmed to its header's size (perf pads samples). A record whose header
// does not fit what was received is dropped and counted: JS walks the batch by those sizes and must not desync.
void Session::Append(const void* data, size_t len) {
  pal_event_header hdr;
  if (len < sizeof(hdr)) {
    records_malformed_++;
    return;
  }
  memcpy(&hdr, data, sizeof(hdr));
  if (hdr.size < sizeof(hdr) || hdr.size > len) {
    records_malformed_++;
    return;
  }
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  batch_.insert(batch_.end(), bytes, bytes + hdr.size);
  records_++;
}

void Session::Drain() {
  if (closed_ || !started_ || draining_) return;
  draining_ = true;
  int n = perf_ ? perf_buffer__consume(perf_.get()) : ring_buffer__consume(ring_.get());
  draining_ = false;
  if (n < 0 && n != -EINTR) {
    batch_.clear();
    ReportError(perf_ ? "perf_buffer__consume" : "ring_buffer__consume", -n);
    return;
  }
  if (!batch_.empty()) Deliver();
}

void Session::Deliver() {
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::Copy(env, batch_.data(), batch_.size());
  batch_.clear();
  batches_++;
  try {
    on_batch_.MakeCallback(Value(), {buffer});
  } catch (const Napi::Error& e) {
    // No JS frame is below us (we are in a libuv callback): hand the exception to process 'uncaughtException'.
    napi_fatal_exception(env_, e.Value());
  }
}

// Asynchronous failures stop this session's polling (retrying a broken fd every 10 ms helps nobody) and go to
// onError, or to 'uncaughtException' when no onError was given.
void Session::ReportError(const std::string& op, int err) {
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  Napi::Error error = MakeNativeError(env, op, err);
  if (poll_ != nullptr) uv_poll_stop(poll_);
  if (timer_ != nullptr) uv_timer_stop(timer_);
  if (on_error_.IsEmpty()) {
    napi_fatal_exception(env_, error.Value());
    return;
  }
  try {
    on_error_.MakeCallback(Value(), {error.Value()});
  } catch (const Napi::Error& e) {
    napi_fatal_exception(env_, e.Value());
  }
}

}  // namespace palisade
