#include "filter_spec.h"

#include <cmath>
#include <cstring>

namespace palisade {

namespace {

static_assert(sizeof(pal_filter_comm_value) == sizeof(pal_filter_value), "comm value must have pal_filter_value's layout");

const SpecValue kMissing;

class FilterParser {
 public:
  [[noreturn]] void Fail(const std::string& msg) const { throw FilterSpecError(msg); }

  const std::vector<SpecValue>& List(const SpecValue& o, const char* key, uint32_t max) const {
    const SpecValue& v = o.Get(key);
    if (!v.is_array) Fail(std::string("filter.") + key + " must be an array");
    if (v.length > max) Fail(std::string("too many filter.") + key);
    return v.items;
  }

  const SpecValue& Item(const std::vector<SpecValue>& a, size_t i, const std::string& where) const {
    const SpecValue& v = a[i];
    if (!v.is_object) Fail(where + "[] must be objects");
    return v;
  }

  double Number(const SpecValue& o, const char* key, const std::string& where) const {
    const SpecValue& v = o.Get(key);
    if (!v.is_number) Fail(where + "." + key + " must be a number");
    double d = v.number;
    // Range first: the cast below is only defined for a double that fits.
    if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
      Fail(where + "." + key + " must be a non-negative integer");
    }
    return d;
  }

  std::string String(const SpecValue& o, const char* key, const std::string& where, size_t max) const {
    const SpecValue& v = o.Get(key);
    if (!v.is_string) Fail(where + "." + key + " must be a string");
    const std::string& s = v.string;
    if (s.empty() || s.size() > max || s.find('\0') != std::string::npos) {
      Fail(where + "." + key + " must be 1-" + std::to_string(max) + " bytes without NUL");
    }
    return s;
  }

  // Checked as u64: Number() allows up to 2^53, and a cast of that to u32 is undefined behaviour (in practice it
  // wrapped, so 2^32 + DROP passed as DROP). Found by filter_spec_fuzz (corpus/filter_spec/regress-*).
  uint32_t Actions(const SpecValue& o, const std::string& where, uint32_t allowed) const {
    auto a = static_cast<uint64_t>(Number(o, "actions", where));
    if (a == 0 || (a & ~static_cast<uint64_t>(allowed)) != 0) Fail(where + ".actions is invalid");
    return static_cast<uint32_t>(a);
  }

  uint32_t Rate(const SpecValue& o, const std::string& where, size_t rates) const {
    auto r = static_cast<uint64_t>(Number(o, "rate", where));
    if (r > rates) Fail(where + ".rate names no entry of filter.rates");
    return static_cast<uint32_t>(r);
  }

  uint64_t Kinds(const SpecValue& o, const char* key, const std::string& where) const {
    const std::vector<SpecValue>& a = List(o, key, PAL_FILTER_KINDS);
    uint64_t mask = 0;
    for (const SpecValue& v : a) {
      if (!v.is_number) Fail(where + "." + key + "[] must be numbers");
      uint32_t k = ToUint32(v.number);
      if (k == 0 || k >= PAL_FILTER_KINDS) Fail(where + "." + key + "[] must be event kinds 1-63");
      mask |= 1ULL << k;
    }
    return mask;
  }

  pal_filter_value Value(const SpecValue& o, const std::string& where, uint32_t allowed, size_t rates) const {
    pal_filter_value v = {};
    v.actions = Actions(o, where, allowed);
    v.rate = Rate(o, where, rates);
    v.kinds = Kinds(o, "kinds", where);
    if (v.rate != 0 && !(v.actions & PAL_ACTION_POST)) Fail(where + ": a rate needs the POST action");
    return v;
  }
};

}  // namespace

const SpecValue& SpecValue::Get(const std::string& key) const {
  for (const auto& f : fields) {
    if (f.first == key) return f.second;
  }
  return kMissing;
}

const std::vector<std::string>& SpecKeys() {
  static const std::vector<std::string> keys = {
      "flags",  "cgroupOnly", "kindsDropped", "rates", "binaries", "binaryPrefixes", "pathPrefixes", "cgroups",
      "ports",  "costNs",     "burstNs",      "comm",  "prefix",   "actions",        "rate",         "kinds",
      "id",     "port",       "exes",         "exePrefixes", "path",
  };
  return keys;
}

uint32_t ListBound(const std::string& key) {
  if (key == "kindsDropped" || key == "kinds") return PAL_FILTER_KINDS;
  if (key == "rates") return PAL_FILTER_RATES;
  if (key == "binaries") return PAL_FILTER_COMM_ENTRIES;
  if (key == "binaryPrefixes") return PAL_FILTER_COMM_PREFIXES;
  if (key == "pathPrefixes") return PAL_FILTER_PREFIXES;
  if (key == "cgroups") return PAL_FILTER_CGROUP_ENTRIES;
  if (key == "ports") return PAL_FILTER_PORT_ENTRIES;
  if (key == "exes") return PAL_FILTER_EXE_ENTRIES;
  if (key == "exePrefixes") return PAL_FILTER_EXE_PREFIXES;
  return 0;
}

uint32_t ToUint32(double d) {
  if (!std::isfinite(d)) return 0;
  double t = std::fmod(std::trunc(d), 4294967296.0);
  if (t < 0) t += 4294967296.0;
  return static_cast<uint32_t>(t);
}

FilterSpec CompileFilter(const SpecValue& spec) {
  constexpr uint32_t kKeyed = PAL_ACTION_DROP | PAL_ACTION_SIGKILL | PAL_ACTION_POST;
  constexpr uint32_t kCgroup = PAL_ACTION_DROP | PAL_ACTION_POST | PAL_ACTION_LISTED;
  constexpr uint32_t kPort = PAL_ACTION_DROP | PAL_ACTION_POST;
  constexpr uint32_t kPath = PAL_ACTION_DROP | PAL_ACTION_SIGKILL;
  FilterParser p;
  FilterSpec out;

  const SpecValue& flags = spec.Get("flags");
  if (!flags.is_number) p.Fail("filter.flags must be a number");
  out.flags = ToUint32(flags.number);
  if ((out.flags & ~static_cast<uint32_t>(PAL_FILTER_EMIT_KILL_EVENTS)) != 0) p.Fail("filter.flags is invalid");
  out.cgroup_only = spec.Get("cgroupOnly").truthy ? 1 : 0;
  out.kinds_dropped = p.Kinds(spec, "kindsDropped", "filter");

  const auto& rates = p.List(spec, "rates", PAL_FILTER_RATES);
  for (size_t i = 0; i < rates.size(); i++) {
    const SpecValue& o = p.Item(rates, i, "filter.rates");
    pal_filter_rate r = {};
    r.cost_ns = static_cast<uint64_t>(p.Number(o, "costNs", "filter.rates[]"));
    r.burst_ns = static_cast<uint64_t>(p.Number(o, "burstNs", "filter.rates[]"));
    if (r.cost_ns == 0 || r.burst_ns < r.cost_ns) p.Fail("filter.rates[] needs 0 < costNs <= burstNs");
    out.rates.push_back(r);
  }
  const size_t nrates = out.rates.size();

  const auto& b = p.List(spec, "binaries", PAL_FILTER_COMM_ENTRIES);
  for (size_t i = 0; i < b.size(); i++) {
    const SpecValue& o = p.Item(b, i, "filter.binaries");
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
  const auto& bp = p.List(spec, "binaryPrefixes", PAL_FILTER_COMM_PREFIXES);
  for (size_t i = 0; i < bp.size(); i++) {
    const SpecValue& o = p.Item(bp, i, "filter.binaryPrefixes");
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
  const auto& pp = p.List(spec, "pathPrefixes", PAL_FILTER_PREFIXES);
  for (size_t i = 0; i < pp.size(); i++) {
    const SpecValue& o = p.Item(pp, i, "filter.pathPrefixes");
    std::string s = p.String(o, "prefix", "filter.pathPrefixes[]", PAL_FILTER_PREFIX_MAX);
    pal_filter_prefix slot = {};
    slot.len = static_cast<uint32_t>(s.size());
    slot.actions = p.Actions(o, "filter.pathPrefixes[]", kPath);
    memcpy(slot.prefix, s.data(), s.size());
    out.prefixes.push_back(slot);
  }
  const auto& cg = p.List(spec, "cgroups", PAL_FILTER_CGROUP_ENTRIES);
  for (size_t i = 0; i < cg.size(); i++) {
    const SpecValue& o = p.Item(cg, i, "filter.cgroups");
    auto id = static_cast<uint64_t>(p.Number(o, "id", "filter.cgroups[]"));
    if (id == 0) p.Fail("filter.cgroups[].id must not be 0");
    out.cgroup_keys.push_back(id);
    out.cgroup_values.push_back(p.Value(o, "filter.cgroups[]", kCgroup, nrates));
  }
  const auto& ports = p.List(spec, "ports", PAL_FILTER_PORT_ENTRIES);
  for (size_t i = 0; i < ports.size(); i++) {
    const SpecValue& o = p.Item(ports, i, "filter.ports");
    auto port = static_cast<uint64_t>(p.Number(o, "port", "filter.ports[]"));
    if (port == 0 || port > 65535) p.Fail("filter.ports[].port must be 1-65535");
    out.port_keys.push_back(static_cast<uint32_t>(port));
    out.port_values.push_back(p.Value(o, "filter.ports[]", kPort, nrates));
  }
  // Executable selectors: optional keys (a filter from before them has none). Absolute paths only: the kernel's
  // resolved path always starts with '/' (a truncated one with "...", which nothing may match).
  if (spec.Get("exes").is_array || spec.Get("exes").is_object) {
    const auto& ex = p.List(spec, "exes", PAL_FILTER_EXE_ENTRIES);
    for (size_t i = 0; i < ex.size(); i++) {
      const SpecValue& o = p.Item(ex, i, "filter.exes");
      std::string path = p.String(o, "path", "filter.exes[]", PAL_PATH_MAX - 1);
      if (path[0] != '/') p.Fail("filter.exes[].path must be an absolute path");
      pal_filter_exe_key key = {};
      memcpy(key.path, path.data(), path.size());
      out.exe_keys.push_back(key);
      out.exe_values.push_back(p.Value(o, "filter.exes[]", kKeyed, nrates));
    }
  } else if (spec.Get("exes").truthy) {
    p.Fail("filter.exes must be an array");
  }
  if (spec.Get("exePrefixes").is_array || spec.Get("exePrefixes").is_object) {
    const auto& ep = p.List(spec, "exePrefixes", PAL_FILTER_EXE_PREFIXES);
    for (size_t i = 0; i < ep.size(); i++) {
      const SpecValue& o = p.Item(ep, i, "filter.exePrefixes");
      std::string prefix = p.String(o, "prefix", "filter.exePrefixes[]", PAL_FILTER_PREFIX_MAX);
      if (prefix[0] != '/') p.Fail("filter.exePrefixes[].prefix must be an absolute path");
      pal_filter_value v = p.Value(o, "filter.exePrefixes[]", kKeyed, nrates);
      pal_filter_exe_prefix slot = {};
      slot.len = static_cast<uint32_t>(prefix.size());
      slot.actions = v.actions;
      slot.rate = v.rate;
      slot.kinds = v.kinds;
      memcpy(slot.prefix, prefix.data(), prefix.size());
      out.exe_prefixes.push_back(slot);
    }
  } else if (spec.Get("exePrefixes").truthy) {
    p.Fail("filter.exePrefixes must be an array");
  }
  return out;
}

pal_filter_state FilterStateOf(const FilterSpec& spec) {
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
  state.exe_count = static_cast<uint32_t>(spec.exe_keys.size());
  state.exe_prefix_count = static_cast<uint32_t>(spec.exe_prefixes.size());
  return state;
}

}  // namespace palisade
