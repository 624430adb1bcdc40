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

namespace palisade {

namespace {

constexpr long kTracefsMagic = 0x74726163;
constexpr long kBpffsMagic = 0xcafe4a11;
constexpr const char* kConfigVar = "pal_cfg";
// Automatic shard count (options.ringShards = 0): one per possible CPU, at most this many. Past it CPUs share a
// shard (cpu % shards): the contention a ring's spinlock sees is then split 16 ways, and a 16 MiB total still
// leaves each shard a megabyte.
constexpr uint32_t kAutoShardsMax = 16;
// pal_event_header.size is a u16, so no record is larger; a drain stops while one more still fits under the cap.
constexpr size_t kMaxRecordBytes = UINT16_MAX;
// What OnRingSample returns to make libbpf stop (it has consumed that sample and leaves the rest in the ring).
constexpr int kStopDrain = -ENOBUFS;

// Index = enum pal_stat. Append-only, like the enum.
constexpr const char* kStatNames[] = {
    "events_emitted",      "ringbuf_output_failed", "perfbuf_output_failed", "scratch_missing",
    "read_kernel_failed",  "read_user_failed",      "stash_missing",         "stash_update_failed",
    "filtered",            "killed",                "kill_failed",           "rate_limited",
    "ringbuf_shard_missing",
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
  std::vector<pal_filter_comm_prefix> comm_prefixes;
  std::vector<pal_filter_prefix> prefixes;
  std::vector<uint64_t> cgroup_keys;
  std::vector<pal_filter_value> cgroup_values;
  std::vector<uint32_t> port_keys;
  std::vector<pal_filter_value> port_values;
  std::vector<pal_filter_rate> rates;  // rate id = index + 1
  uint64_t kinds_dropped = 0;
  uint32_t cgroup_only = 0;
  uint32_t flags = 0;
};

static_assert(sizeof(pal_filter_comm_value) == sizeof(pal_filter_value), "comm value must have pal_filter_value's layout");

class FilterParser {
 public:
  explicit FilterParser(Napi::Env env) : env_(env) {}

  [[noreturn]] void Fail(const std::string& msg) const { throw Napi::TypeError::New(env_, msg); }

  Napi::Array List(const Napi::Object& o, const char* key, uint32_t max) const {
    Napi::Value v = o.Get(key);
    if (!v.IsArray()) Fail(std::string("filter.") + key + " must be an array");
    Napi::Array a = v.As<Napi::Array>();
    if (a.Length() > max) Fail(std::string("too many filter.") + key);
    return a;
  }

  Napi::Object Item(const Napi::Array& a, uint32_t i, const std::string& where) const {
    Napi::Value v = a.Get(i);
    if (!v.IsObject()) Fail(where + "[] must be objects");
    return v.As<Napi::Object>();
  }

  double Number(const Napi::Object& o, const char* key, const std::string& where) const {
    Napi::Value v = o.Get(key);
    if (!v.IsNumber()) Fail(where + "." + key + " must be a number");
    double d = v.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
      Fail(where + "." + key + " must be a non-negative integer");
    }
    return d;
  }

  std::string String(const Napi::Object& o, const char* key, const std::string& where, size_t max) const {
    Napi::Value v = o.Get(key);
    if (!v.IsString()) Fail(where + "." + key + " must be a string");
    std::string s = v.As<Napi::String>().Utf8Value();
    if (s.empty() || s.size() > max || s.find('\0') != std::string::npos) {
      Fail(where + "." + key + " must be 1-" + std::to_string(max) + " bytes without NUL");
    }
    return s;
  }

  uint32_t Actions(const Napi::Object& o, const std::string& where, uint32_t allowed) const {
    auto a = static_cast<uint32_t>(Number(o, "actions", where));
    if (a == 0 || (a & ~allowed) != 0) Fail(where + ".actions is invalid");
    return a;
  }

  uint32_t Rate(const Napi::Object& o, const std::string& where, size_t rates) const {
    auto r = static_cast<uint32_t>(Number(o, "rate", where));
    if (r > rates) Fail(where + ".rate names no entry of filter.rates");
    return r;
  }

  uint64_t Kinds(const Napi::Object& o, const char* key, const std::string& where) const {
    Napi::Array a = List(o, key, PAL_FILTER_KINDS);
    uint64_t mask = 0;
    for (uint32_t i = 0; i < a.Length(); i++) {
      Napi::Value v = a.Get(i);
      if (!v.IsNumber()) Fail(where + "." + key + "[] must be numbers");
      uint32_t k = v.As<Napi::Number>().Uint32Value();
      if (k == 0 || k >= PAL_FILTER_KINDS) Fail(where + "." + key + "[] must be event kinds 1-63");
      mask |= 1ULL << k;
    }
    return mask;
  }

  pal_filter_value Value(const Napi::Object& o, const std::string& where, uint32_t allowed, size_t rates) const {
    pal_filter_value v = {};
    v.actions = Actions(o, where, allowed);
    v.rate = Rate(o, where, rates);
    v.kinds = Kinds(o, "kinds", where);
    if (v.rate != 0 && !(v.actions & PAL_ACTION_POST)) Fail(where + ": a rate needs the POST action");
    return v;
  }

 private:
  Napi::Env env_;
};

FilterSpec ParseFilter(Napi::Env env, const Napi::Object& spec) {
  constexpr uint32_t kKeyed = PAL_ACTION_DROP | PAL_ACTION_SIGKILL | PAL_ACTION_POST;
  constexpr uint32_t kCgroup = PAL_ACTION_DROP | PAL_ACTION_POST | PAL_ACTION_LISTED;
  constexpr uint32_t kPort = PAL_ACTION_DROP | PAL_ACTION_POST;
  constexpr uint32_t kPath = PAL_ACTION_DROP | PAL_ACTION_SIGKILL;
  FilterParser p(env);
  FilterSpec out;

  Napi::Value flags = spec.Get("flags");
  if (!flags.IsNumber()) p.Fail("filter.flags must be a number");
  out.flags = flags.As<Napi::Number>().Uint32Value();
  if ((out.flags & ~static_cast<uint32_t>(PAL_FILTER_EMIT_KILL_EVENTS)) != 0) p.Fail("filter.flags is invalid");
  out.cgroup_only = spec.Get("cgroupOnly").ToBoolean().Value() ? 1 : 0;
  out.kinds_dropped = p.Kinds(spec, "kindsDropped", "filter");

  Napi::Array rates = p.List(spec, "rates", PAL_FILTER_RATES);
  for (uint32_t i = 0; i < rates.Length(); i++) {
    Napi::Object o = p.Item(rates, i, "filter.rates");
    pal_filter_rate r = {};
    r.cost_ns = static_cast<uint64_t>(p.Number(o, "costNs", "filter.rates[]"));
    r.burst_ns = static_cast<uint64_t>(p.Number(o, "burstNs", "filter.rates[]"));
    if (r.cost_ns == 0 || r.burst_ns < r.cost_ns) p.Fail("filter.rates[] needs 0 < costNs <= burstNs");
    out.rates.push_back(r);
  }
  const size_t nrates = out.rates.size();

  Napi::Array b = p.List(spec, "binaries", PAL_FILTER_COMM_ENTRIES);
  for (uint32_t i = 0; i < b.Length(); i++) {
    Napi::Object o = p.Item(b, i, "filter.binaries");
    std::string c = p.String(o, "comm", "filter.binaries[]", PAL_COMM_LEN - 1);
    pal_filter_comm_key key = {};
    memcpy(key.comm, c.data(), c.size());
    pal_filter_value v = p.Value(o, "filter.binaries[]", kKeyed, nrates);
    pal_filter_comm_value value = {};
    value.actions = v.actions;
    value.rate = v.rate;
    value.kinds = v.kinds;
    out.comm_keys.push_back(key);
    out.comm_values.push_back(value);
  }
  Napi::Array bp = p.List(spec, "binaryPrefixes", PAL_FILTER_COMM_PREFIXES);
  for (uint32_t i = 0; i < bp.Length(); i++) {
    Napi::Object o = p.Item(bp, i, "filter.binaryPrefixes");
    std::string c = p.String(o, "prefix", "filter.binaryPrefixes[]", PAL_COMM_LEN - 1);
    pal_filter_value v = p.Value(o, "filter.binaryPrefixes[]", kKeyed, nrates);
    pal_filter_comm_prefix slot = {};
    slot.len = static_cast<uint32_t>(c.size());
    slot.actions = v.actions;
    slot.rate = v.rate;
    slot.kinds = v.kinds;
    memcpy(slot.prefix, c.data(), c.size());
    out.comm_prefixes.push_back(slot);
  }
  Napi::Array pp = p.List(spec, "pathPrefixes", PAL_FILTER_PREFIXES);
  for (uint32_t i = 0; i < pp.Length(); i++) {
    Napi::Object o = p.Item(pp, i, "filter.pathPrefixes");
    std::string s = p.String(o, "prefix", "filter.pathPrefixes[]", PAL_FILTER_PREFIX_MAX);
    pal_filter_prefix slot = {};
    slot.len = static_cast<uint32_t>(s.size());
    slot.actions = p.Actions(o, "filter.pathPrefixes[]", kPath);
    memcpy(slot.prefix, s.data(), s.size());
    out.prefixes.push_back(slot);
  }
  Napi::Array cg = p.List(spec, "cgroups", PAL_FILTER_CGROUP_ENTRIES);
  for (uint32_t i = 0; i < cg.Length(); i++) {
    Napi::Object o = p.Item(cg, i, "filter.cgroups");
    auto id = static_cast<uint64_t>(p.Number(o, "id", "filter.cgroups[]"));
    if (id == 0) p.Fail("filter.cgroups[].id must not be 0");
    out.cgroup_keys.push_back(id);
    out.cgroup_values.push_back(p.Value(o, "filter.cgroups[]", kCgroup, nrates));
  }
  Napi::Array ports = p.List(spec, "ports", PAL_FILTER_PORT_ENTRIES);
  for (uint32_t i = 0; i < ports.Length(); i++) {
    Napi::Object o = p.Item(ports, i, "filter.ports");
    auto port = static_cast<uint64_t>(p.Number(o, "port", "filter.ports[]"));
    if (port == 0 || port > 65535) p.Fail("filter.ports[].port must be 1-65535");
    out.port_keys.push_back(static_cast<uint32_t>(port));
    out.port_values.push_back(p.Value(o, "filter.ports[]", kPort, nrates));
  }
  return out;
}

// Makes a HASH map hold exactly keys -> values: writes every wanted entry, then deletes the others. Collect first,
// delete after: deleting the key get_next_key is walking from restarts the walk.
template <typename Key, typename Value>
int SyncHash(int fd, const std::vector<Key>& keys, const std::vector<Value>& values, std::string* op) {
  for (size_t i = 0; i < keys.size(); i++) {
    if (bpf_map_update_elem(fd, &keys[i], &values[i], BPF_ANY) != 0) {
      *op = "bpf_map_update_elem";
      return errno;
    }
  }
  std::vector<Key> stale;
  Key key = {};
  Key next = {};
  const void* cursor = nullptr;
  while (bpf_map_get_next_key(fd, cursor, &next) == 0) {
    bool wanted = false;
    for (const auto& k : keys) wanted = wanted || memcmp(&k, &next, sizeof(Key)) == 0;
    if (!wanted) stale.push_back(next);
    key = next;
    cursor = &key;
  }
  for (const auto& k : stale) {
    if (bpf_map_delete_elem(fd, &k) != 0 && errno != ENOENT) {
      *op = "bpf_map_delete_elem";
      return errno;
    }
  }
  return 0;
}

// Writes slots [0, max) of an ARRAY map: the given values first, zeroed (empty) slots after.
template <typename Value>
int FillArray(int fd, const std::vector<Value>& values, uint32_t first, uint32_t max) {
  for (uint32_t slot = first; slot < max; slot++) {
    Value value = {};
    if (slot - first < values.size()) value = values[slot - first];
    if (bpf_map_update_elem(fd, &slot, &value, BPF_ANY) != 0) return errno;
  }
  return 0;
}

uint32_t FloorPow2(uint32_t v) {
  uint32_t p = 1;
  while (p <= v / 2) p *= 2;
  return p;
}

template <typename Handle>
void CloseHandle(Handle* handle) {
  uv_close(reinterpret_cast<uv_handle_t*>(handle), [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
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

Napi::Function Session::Define(Napi::Env env) {
  return DefineClass(env, "Session",
                     {
                         InstanceMethod<&Session::Start>("start"),
                         InstanceMethod<&Session::Stats>("stats"),
                         InstanceMethod<&Session::RingStats>("ringStats"),
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
  const uint32_t requested_shards = GetU32(options, "ringShards");
  max_batch_bytes_ = GetU32(options, "maxBatchBytes");
  if (max_batch_bytes_ < 2 * kMaxRecordBytes) throw Napi::TypeError::New(env, "options.maxBatchBytes is too small");
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

  // Shards: ringBufferBytes is the total; each shard gets the largest power of two (the kernel's rule) that fits
  // its share, at least a page. Perf mode still needs one (one-page) ring in pal_rings: the programs reference it.
  const int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) fail("libbpf_num_possible_cpus", -ncpu);
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
  if (int err = SetConfig(obj_.get(), cfg); err != 0) fail("set_config(.rodata pal_cfg)", err);

  bpf_map* rings = bpf_object__find_map_by_name(obj_.get(), "pal_rings");
  bpf_map* perf_events = bpf_object__find_map_by_name(obj_.get(), "pal_perf_events");
  bpf_map* stats = bpf_object__find_map_by_name(obj_.get(), "pal_stats");
  if (rings == nullptr || perf_events == nullptr || stats == nullptr) fail("bpf_object__find_map_by_name", ENOENT);
  if (int err = bpf_map__set_max_entries(rings, nshards); err != 0) fail("bpf_map__set_max_entries(pal_rings)", -err);
  // The rings themselves, sized here; libbpf only creates the small template of the BTF definition for the verifier
  // (a ring's size is not part of the map-in-map compatibility check).
  for (uint32_t i = 0; i < nshards; i++) {
    int fd = bpf_map_create(BPF_MAP_TYPE_RINGBUF, "pal_ring_shard", 0, 0, shard_bytes_, nullptr);
    if (fd < 0) fail("bpf_map_create(pal_ring_shard)", errno);
    shard_fds_.emplace_back(fd);
  }

  if (int err = bpf_object__load(obj_.get()); err != 0) fail("bpf_object__load", -err);
  // Every slot filled before any program is attached, so a lookup never misses in practice.
  for (uint32_t i = 0; i < nshards; i++) {
    int fd = shard_fds_[i].get();
    if (bpf_map_update_elem(bpf_map__fd(rings), &i, &fd, BPF_ANY) != 0) fail("bpf_map_update_elem(pal_rings)", errno);
  }

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
    epoll_fd_.reset(epoll_create1(EPOLL_CLOEXEC));
    if (epoll_fd_.get() < 0) fail("epoll_create1", errno);
    for (uint32_t i = 0; i < nshards; i++) {
      auto shard = std::make_unique<RingShard>();
      shard->session = this;
      shard->index = i;
      shard->ring.reset(ring_buffer__new(shard_fds_[i].get(), OnRingSample, shard.get(), nullptr));
      if (!shard->ring) fail("ring_buffer__new", errno);
      struct epoll_event ev = {};
      ev.events = EPOLLIN;
      ev.data.u32 = i;
      if (epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, ring_buffer__epoll_fd(shard->ring.get()), &ev) != 0) {
        fail("ring_buffer__new(epoll_ctl)", errno);
      }
      shards_.push_back(std::move(shard));
    }
    batch_.reserve(max_batch_bytes_);
  }
  stats_fd_ = bpf_map__fd(stats);
  bpf_map* filter_comm = bpf_object__find_map_by_name(obj_.get(), "pal_filter_comm");
  bpf_map* filter_prefix = bpf_object__find_map_by_name(obj_.get(), "pal_filter_prefix");
  bpf_map* filter_state = bpf_object__find_map_by_name(obj_.get(), "pal_filter_state");
  bpf_map* filter_comm_prefix = bpf_object__find_map_by_name(obj_.get(), "pal_filter_comm_prefix");
  bpf_map* filter_cgroup = bpf_object__find_map_by_name(obj_.get(), "pal_filter_cgroup");
  bpf_map* filter_port = bpf_object__find_map_by_name(obj_.get(), "pal_filter_port");
  bpf_map* filter_rate = bpf_object__find_map_by_name(obj_.get(), "pal_filter_rate");
  bpf_map* filter_bucket = bpf_object__find_map_by_name(obj_.get(), "pal_filter_bucket");
  if (filter_comm == nullptr || filter_prefix == nullptr || filter_state == nullptr || filter_comm_prefix == nullptr ||
      filter_cgroup == nullptr || filter_port == nullptr || filter_rate == nullptr || filter_bucket == nullptr) {
    fail("bpf_object__find_map_by_name(pal_filter_*)", ENOENT);
  }
  filter_comm_fd_ = bpf_map__fd(filter_comm);
  filter_prefix_fd_ = bpf_map__fd(filter_prefix);
  filter_state_fd_ = bpf_map__fd(filter_state);
  filter_comm_prefix_fd_ = bpf_map__fd(filter_comm_prefix);
  filter_cgroup_fd_ = bpf_map__fd(filter_cgroup);
  filter_port_fd_ = bpf_map__fd(filter_port);
  filter_rate_fd_ = bpf_map__fd(filter_rate);
  filter_bucket_fd_ = bpf_map__fd(filter_bucket);
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

  int epoll_fd = perf_ ? perf_buffer__epoll_fd(perf_.get()) : epoll_fd_.get();
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
  idle_ = new uv_idle_t;
  uv_idle_init(loop_, idle_);
  idle_->data = this;
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
  out.Set("drains_capped", Napi::Number::New(env, static_cast<double>(drains_capped_)));
  return out;
}

Napi::Value Session::RingStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeNativeError(env, "ringStats", EBADF);
  Napi::Object out = Napi::Object::New(env);
  Napi::Array records = Napi::Array::New(env, shards_.size());
  for (size_t i = 0; i < shards_.size(); i++) {
    records.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(shards_[i]->records)));
  }
  out.Set("shards", Napi::Number::New(env, static_cast<double>(shards_.size())));
  out.Set("shardBytes", Napi::Number::New(env, shards_.empty() ? 0 : shard_bytes_));
  out.Set("maxBatchBytes", Napi::Number::New(env, max_batch_bytes_));
  out.Set("batchBytesMax", Napi::Number::New(env, static_cast<double>(batch_bytes_max_)));
  out.Set("records", records);
  return out;
}

// Replaces the whole filter while the programs run. Write order (see bpf/include/filter.bpf.h): rate shapes and
// a reset of the buckets, then every selector map (new entries, then stale ones deleted; array slots rewritten,
// unused ones cleared), then the state counts and the kind mask last, so a program never trusts a count that covers
// a slot not written yet.
Napi::Value Session::SetFilter(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeNativeError(env, "setFilter", EBADF);
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "filter must be an object");
  FilterSpec spec = ParseFilter(env, info[0].As<Napi::Object>());
  std::string op;
  auto check = [&](int err, const std::string& what) {
    if (err != 0) throw MakeNativeError(env, what, err);
  };

  check(FillArray(filter_rate_fd_, spec.rates, 1, PAL_FILTER_RATES + 1), "bpf_map_update_elem(pal_filter_rate)");
  // Buckets of the old policy would carry its credit (or its debt) into a rate id that now means something else.
  {
    std::vector<pal_filter_bucket_key> none;
    std::vector<pal_filter_bucket> nothing;
    if (int err = SyncHash(filter_bucket_fd_, none, nothing, &op); err != 0) check(err, op + "(pal_filter_bucket)");
  }
  if (int err = SyncHash(filter_comm_fd_, spec.comm_keys, spec.comm_values, &op); err != 0) {
    check(err, op + "(pal_filter_comm)");
  }
  check(FillArray(filter_comm_prefix_fd_, spec.comm_prefixes, 0, PAL_FILTER_COMM_PREFIXES),
        "bpf_map_update_elem(pal_filter_comm_prefix)");
  check(FillArray(filter_prefix_fd_, spec.prefixes, 0, PAL_FILTER_PREFIXES), "bpf_map_update_elem(pal_filter_prefix)");
  if (int err = SyncHash(filter_cgroup_fd_, spec.cgroup_keys, spec.cgroup_values, &op); err != 0) {
    check(err, op + "(pal_filter_cgroup)");
  }
  if (int err = SyncHash(filter_port_fd_, spec.port_keys, spec.port_values, &op); err != 0) {
    check(err, op + "(pal_filter_port)");
  }

  pal_filter_state state = {};
  // Programs only test counts for zero (skip a lookup), so duplicated keys over-counting is harmless.
  state.comm_count = static_cast<uint32_t>(spec.comm_keys.size());
  state.prefix_count = static_cast<uint32_t>(spec.prefixes.size());
  for (const auto& p : spec.prefixes) {
    if (p.actions & PAL_ACTION_SIGKILL) state.prefix_kill++;
  }
  state.flags = spec.flags;
  state.kinds_dropped = spec.kinds_dropped;
  state.comm_prefix_count = static_cast<uint32_t>(spec.comm_prefixes.size());
  state.cgroup_count = static_cast<uint32_t>(spec.cgroup_keys.size());
  state.cgroup_only = spec.cgroup_only;
  state.port_count = static_cast<uint32_t>(spec.port_keys.size());
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
  if (idle_ != nullptr) {
    uv_idle_stop(idle_);
    CloseHandle(idle_);
    idle_ = nullptr;
  }
  shards_.clear();
  perf_.reset();
  while (!links_.empty()) links_.pop_back();
  obj_.reset();
  shard_fds_.clear();
  epoll_fd_.reset();
  batch_.clear();
  batch_.shrink_to_fit();
  stats_fd_ = -1;
  filter_comm_fd_ = filter_prefix_fd_ = filter_state_fd_ = -1;
  filter_comm_prefix_fd_ = filter_cgroup_fd_ = filter_port_fd_ = filter_rate_fd_ = filter_bucket_fd_ = -1;
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

void Session::OnIdle(uv_idle_t* handle) { static_cast<Session*>(handle->data)->Drain(); }

int Session::OnRingSample(void* ctx, void* data, size_t len) {
  RingShard* shard = static_cast<RingShard*>(ctx);
  Session* self = shard->session;
  if (self->Append(data, len)) shard->records++;
  // Stop while one more record of the largest possible size would still fit, so a batch never exceeds the cap.
  // libbpf has consumed this sample already and leaves everything after it in the ring for the next drain.
  if (self->batch_.size() + kMaxRecordBytes > self->max_batch_bytes_) {
    self->capped_ = true;
    return kStopDrain;
  }
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
bool Session::Append(const void* data, size_t len) {
  pal_event_header hdr;
  if (len < sizeof(hdr)) {
    records_malformed_++;
    return false;
  }
  memcpy(&hdr, data, sizeof(hdr));
  if (hdr.size < sizeof(hdr) || hdr.size > len) {
    records_malformed_++;
    return false;
  }
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  batch_.insert(batch_.end(), bytes, bytes + hdr.size);
  records_++;
  return true;
}

// One pass over the shards, starting after the shard the last capped drain stopped in, until the batch is full.
int Session::DrainRings() {
  const size_t n = shards_.size();
  int total = 0;
  for (size_t k = 0; k < n; k++) {
    const size_t i = (next_shard_ + k) % n;
    int got = ring_buffer__consume(shards_[i]->ring.get());
    if (got < 0 && capped_) {
      next_shard_ = (i + 1) % n;
      drains_capped_++;
      return total;
    }
    if (got < 0) return got;
    total += got;
  }
  return total;
}

void Session::Drain() {
  if (closed_ || !started_ || draining_) return;
  draining_ = true;
  capped_ = false;
  int n = perf_ ? perf_buffer__consume(perf_.get()) : DrainRings();
  draining_ = false;
  if (n < 0 && n != -EINTR) {
    batch_.clear();
    ReportError(perf_ ? "perf_buffer__consume" : "ring_buffer__consume", -n);
    return;
  }
  if (!batch_.empty()) Deliver();
  // A capped drain left records behind: take them on the next loop turn (after timers and I/O, so the rest of the
  // process keeps running) instead of waiting for a wakeup or the timer.
  if (!closed_ && idle_ != nullptr) {
    if (capped_) {
      uv_idle_start(idle_, OnIdle);
    } else {
      uv_idle_stop(idle_);
    }
  }
}

// Hands the batch to JS in crossings of at most max_batch_bytes_ each. Ring drains stop at the cap already; a
// perf drain (bounded by the perf buffers' size) is cut here at record boundaries. Each crossing gets a copy that
// JS owns outright and may keep; batch_ keeps its capacity for the next drain.
void Session::Deliver() {
  size_t off = 0;
  while (off < batch_.size() && !closed_) {
    size_t end = batch_.size();
    if (end - off > max_batch_bytes_) {
      end = off;
      while (end < batch_.size()) {
        pal_event_header hdr;
        memcpy(&hdr, batch_.data() + end, sizeof(hdr));
        if (end + hdr.size - off > max_batch_bytes_) break;
        end += hdr.size;
      }
    }
    Napi::Env env(env_);
    Napi::HandleScope scope(env);
    Napi::Buffer<uint8_t> buffer = Napi::Buffer<uint8_t>::Copy(env, batch_.data() + off, end - off);
    batches_++;
    batch_bytes_max_ = std::max<uint64_t>(batch_bytes_max_, end - off);
    off = end;
    try {
      on_batch_.MakeCallback(Value(), {buffer});
    } catch (const Napi::Error& e) {
      // No JS frame is below us (we are in a libuv callback): hand the exception to process 'uncaughtException'.
      napi_fatal_exception(env_, e.Value());
    }
  }
  batch_.clear();
}

// Asynchronous failures stop this session's polling (retrying a broken fd every 10 ms helps nobody) and go to
// onError, or to 'uncaughtException' when no onError was given.
void Session::ReportError(const std::string& op, int err) {
  Napi::Env env(env_);
  Napi::HandleScope scope(env);
  Napi::Error error = MakeNativeError(env, op, err);
  if (poll_ != nullptr) uv_poll_stop(poll_);
  if (timer_ != nullptr) uv_timer_stop(timer_);
  if (idle_ != nullptr) uv_idle_stop(idle_);
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
