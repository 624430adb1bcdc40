#include "filter_maps.h"

#include <bpf/bpf.h>
#include <errno.h>

#include <cstring>
#include <vector>

#include "native_error.h"
#include "palisade.h"

namespace palisade {

namespace {

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

}  // namespace

int FilterMaps::Bind(bpf_object* obj, std::string* missing) {
  struct Slot {
    const char* name;
    int* fd;
  };
  const Slot slots[] = {
      {"pal_filter_comm", &comm_fd_},     {"pal_filter_prefix", &prefix_fd_}, {"pal_filter_state", &state_fd_},
      {"pal_filter_comm_prefix", &comm_prefix_fd_}, {"pal_filter_cgroup", &cgroup_fd_},
      {"pal_filter_port", &port_fd_},     {"pal_filter_rate", &rate_fd_},     {"pal_filter_bucket", &bucket_fd_},
  };
  for (const auto& slot : slots) {
    bpf_map* map = bpf_object__find_map_by_name(obj, slot.name);
    if (map == nullptr) {
      *missing = slot.name;
      return ENOENT;
    }
    *slot.fd = bpf_map__fd(map);
  }
  return 0;
}

// Replaces the whole filter while the programs run. Write order (see bpf/include/filter.bpf.h): rate shapes and
// a reset of the buckets, then every selector map (new entries, then stale ones deleted; array slots rewritten,
// unused ones cleared), then the state counts and the kind mask last, so a program never trusts a count that covers
// a slot not written yet.
void FilterMaps::Apply(Napi::Env env, const Napi::Object& arg) const {
  FilterSpec spec = ParseFilter(env, arg);
  std::string op;
  auto check = [&](int err, const std::string& what) {
    if (err != 0) throw MakeNativeError(env, ErrorKind::kNative, what, err);
  };

  check(FillArray(rate_fd_, spec.rates, 1, PAL_FILTER_RATES + 1), "bpf_map_update_elem(pal_filter_rate)");
  // Buckets of the old policy would carry its credit (or its debt) into a rate id that now means something else.
  {
    std::vector<pal_filter_bucket_key> none;
    std::vector<pal_filter_bucket> nothing;
    if (int err = SyncHash(bucket_fd_, none, nothing, &op); err != 0) check(err, op + "(pal_filter_bucket)");
  }
  if (int err = SyncHash(comm_fd_, spec.comm_keys, spec.comm_values, &op); err != 0) {
    check(err, op + "(pal_filter_comm)");
  }
  check(FillArray(comm_prefix_fd_, spec.comm_prefixes, 0, PAL_FILTER_COMM_PREFIXES),
        "bpf_map_update_elem(pal_filter_comm_prefix)");
  check(FillArray(prefix_fd_, spec.prefixes, 0, PAL_FILTER_PREFIXES), "bpf_map_update_elem(pal_filter_prefix)");
  if (int err = SyncHash(cgroup_fd_, spec.cgroup_keys, spec.cgroup_values, &op); err != 0) {
    check(err, op + "(pal_filter_cgroup)");
  }
  if (int err = SyncHash(port_fd_, spec.port_keys, spec.port_values, &op); err != 0) {
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
  if (bpf_map_update_elem(state_fd_, &zero, &state, BPF_ANY) != 0) {
    throw MakeNativeError(env, ErrorKind::kNative, "bpf_map_update_elem(pal_filter_state)", errno);
  }
}


}  // namespace palisade
