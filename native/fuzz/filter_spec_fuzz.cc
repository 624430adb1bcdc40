// libFuzzer target: setFilter()'s argument checked and compiled into map contents (native/src/filter_spec.cc),
// the code filter_maps.cc runs before any map write. Built with -fsanitize=fuzzer,address,undefined by
// test/fuzz/native.ts.
//
// Input: one SpecValue tree in a small tag-length encoding that mirrors filter_maps.cc's FromJs (the same key set,
// list bounds and depth), so every input is an argument JS could pass:
//   tag u8: low 3 bits 0 missing, 1 number (f64 follows), 2 string (u8 len, bytes), 3 array (u16 length, then
//   that many items when length <= the key's ListBound; fewer if the input ends first), 4 object (u8 field count, then per field u8 key index and
//   a value), 5 boolean (bit 3 = true), 6 other object (a function, null is 7); bit 4 on an array or object: also
//   read fields / mark as array.
// The seed corpus (native/fuzz/corpus/filter_spec/) holds the filters kernel-filter-compile.ts makes of the
// shipped TracingPolicy and of its tests' cases, written by scripts/gen-fuzz-corpus.mjs.
//
// Checked: CompileFilter either throws FilterSpecError with a message naming the filter, or returns map contents
// that the kernel side can trust: every comm key NUL-terminated and padded, prefixes within their slots, actions
// non-zero and within what each map allows, rate ids naming a rate (and only with POST), kind masks without bit 0,
// ports 1-65535, cgroup ids non-zero, no more entries than a map holds, and FilterStateOf counting exactly those.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "filter_spec.h"
#include "palisade.h"

using palisade::CompileFilter;
using palisade::FilterSpec;
using palisade::FilterSpecError;
using palisade::FilterStateOf;
using palisade::ListBound;
using palisade::SpecKeys;
using palisade::SpecValue;

namespace {

#define CHECK(cond)                                                                  \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      fprintf(stderr, "filter_spec_fuzz: %s:%d: %s\n", __FILE__, __LINE__, #cond);   \
      abort();                                                                       \
    }                                                                                \
  } while (0)

constexpr int kMaxDepth = 4;  // as filter_maps.cc's FromJs

struct Reader {
  const uint8_t* p;
  size_t n;
  template <typename T>
  bool Take(T* out) {
    if (n < sizeof(T)) return false;
    memcpy(out, p, sizeof(T));
    p += sizeof(T);
    n -= sizeof(T);
    return true;
  }
};

SpecValue Decode(Reader* in, uint32_t bound, int depth) {
  SpecValue v;
  uint8_t tag = 0;
  if (!in->Take(&tag)) return v;
  switch (tag & 7) {
    case 1: {
      double d = 0;
      in->Take(&d);
      v.is_number = true;
      v.number = d;
      v.truthy = d != 0 && !std::isnan(d);
      break;
    }
    case 2: {
      uint8_t len = 0;
      in->Take(&len);
      len = static_cast<uint8_t>(std::min<size_t>(len, in->n));
      v.is_string = true;
      v.string.assign(reinterpret_cast<const char*>(in->p), len);
      in->p += len;
      in->n -= len;
      v.truthy = len > 0;
      break;
    }
    case 3:
    case 4: {
      v.is_object = true;
      v.truthy = true;
      const bool array = (tag & 7) == 3 || (tag & 16) != 0;
      const bool fields = (tag & 7) == 4 || (tag & 16) != 0;
      if (depth >= kMaxDepth) {
        v.is_array = array;
        break;
      }
      if (array) {
        uint16_t length = 0;
        in->Take(&length);
        v.is_array = true;
        v.length = length;
        if (v.length <= bound) {
          // An input that runs out makes a shorter array (still one JS could pass), not a thousand missing items.
          for (uint32_t i = 0; i < v.length && in->n > 0; i++) v.items.push_back(Decode(in, 0, depth + 1));
          v.length = static_cast<uint32_t>(v.items.size());
        }
      }
      if (fields) {
        uint8_t count = 0;
        in->Take(&count);
        const auto& keys = SpecKeys();
        for (uint8_t i = 0; i < count && in->n > 0; i++) {
          uint8_t k = 0;
          in->Take(&k);
          const std::string& key = keys[k % keys.size()];
          bool seen = false;
          for (const auto& f : v.fields) seen = seen || f.first == key;
          SpecValue value = Decode(in, ListBound(key), depth + 1);
          if (!seen) v.fields.emplace_back(key, std::move(value));  // a JS object has each key once
        }
      }
      break;
    }
    case 5:
      v.truthy = (tag & 8) != 0;
      break;
    case 6:
      v.is_object = true;
      v.truthy = true;
      break;
    default:  // missing, null
      break;
  }
  return v;
}

bool Padded(const char* s, size_t len, size_t cap) {
  for (size_t i = 0; i < len; i++) {
    if (s[i] == '\0') return false;
  }
  for (size_t i = len; i < cap; i++) {
    if (s[i] != '\0') return false;
  }
  return true;
}

void CheckValue(uint32_t actions, uint32_t rate, uint64_t kinds, uint32_t allowed, size_t nrates) {
  CHECK(actions != 0 && (actions & ~allowed) == 0);
  CHECK(rate <= nrates);
  if (rate != 0) CHECK(actions & PAL_ACTION_POST);
  CHECK((kinds & 1) == 0);
}

void CheckSpec(const FilterSpec& s) {
  constexpr uint32_t kKeyed = PAL_ACTION_DROP | PAL_ACTION_SIGKILL | PAL_ACTION_POST;
  constexpr uint32_t kCgroup = PAL_ACTION_DROP | PAL_ACTION_POST | PAL_ACTION_LISTED;
  constexpr uint32_t kPort = PAL_ACTION_DROP | PAL_ACTION_POST;
  constexpr uint32_t kPath = PAL_ACTION_DROP | PAL_ACTION_SIGKILL;
  CHECK((s.flags & ~static_cast<uint32_t>(PAL_FILTER_EMIT_KILL_EVENTS)) == 0);
  CHECK((s.kinds_dropped & 1) == 0);
  CHECK(s.cgroup_only <= 1);
  CHECK(s.rates.size() <= PAL_FILTER_RATES);
  for (const auto& r : s.rates) CHECK(r.cost_ns > 0 && r.burst_ns >= r.cost_ns);
  const size_t nrates = s.rates.size();
  CHECK(s.comm_keys.size() == s.comm_values.size() && s.comm_keys.size() <= PAL_FILTER_COMM_ENTRIES);
  for (size_t i = 0; i < s.comm_keys.size(); i++) {
    const size_t len = strnlen(s.comm_keys[i].comm, PAL_COMM_LEN);
    CHECK(len >= 1 && len < PAL_COMM_LEN);
    CHECK(Padded(s.comm_keys[i].comm, len, PAL_COMM_LEN));
    const auto& v = s.comm_values[i];
    CheckValue(v.actions, v.rate, v.kinds, kKeyed, nrates);
  }
  CHECK(s.comm_prefixes.size() <= PAL_FILTER_COMM_PREFIXES);
  for (const auto& p : s.comm_prefixes) {
    CHECK(p.len >= 1 && p.len < PAL_COMM_LEN);
    CHECK(Padded(p.prefix, p.len, PAL_COMM_LEN));
    CheckValue(p.actions, p.rate, p.kinds, kKeyed, nrates);
  }
  CHECK(s.prefixes.size() <= PAL_FILTER_PREFIXES);
  for (const auto& p : s.prefixes) {
    CHECK(p.len >= 1 && p.len <= PAL_FILTER_PREFIX_MAX);
    CHECK(Padded(p.prefix, p.len, PAL_FILTER_PREFIX_MAX));
    CHECK(p.actions != 0 && (p.actions & ~kPath) == 0);
  }
  CHECK(s.cgroup_keys.size() == s.cgroup_values.size() && s.cgroup_keys.size() <= PAL_FILTER_CGROUP_ENTRIES);
  for (size_t i = 0; i < s.cgroup_keys.size(); i++) {
    CHECK(s.cgroup_keys[i] != 0);
    const auto& v = s.cgroup_values[i];
    CheckValue(v.actions, v.rate, v.kinds, kCgroup, nrates);
  }
  CHECK(s.port_keys.size() == s.port_values.size() && s.port_keys.size() <= PAL_FILTER_PORT_ENTRIES);
  for (size_t i = 0; i < s.port_keys.size(); i++) {
    CHECK(s.port_keys[i] >= 1 && s.port_keys[i] <= 65535);
    const auto& v = s.port_values[i];
    CheckValue(v.actions, v.rate, v.kinds, kPort, nrates);
  }

  const pal_filter_state st = FilterStateOf(s);
  CHECK(st.comm_count == s.comm_keys.size());
  CHECK(st.prefix_count == s.prefixes.size());
  CHECK(st.prefix_kill <= st.prefix_count);
  CHECK(st.comm_prefix_count == s.comm_prefixes.size());
  CHECK(st.cgroup_count == s.cgroup_keys.size());
  CHECK(st.port_count == s.port_keys.size());
  CHECK(st.flags == s.flags && st.kinds_dropped == s.kinds_dropped && st.cgroup_only == s.cgroup_only);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in{data, size};
  const SpecValue spec = Decode(&in, 0, 0);
  try {
    CheckSpec(CompileFilter(spec));
  } catch (const FilterSpecError& e) {
    const std::string msg = e.what();
    CHECK(msg.rfind("filter", 0) == 0 || msg.rfind("too many filter.", 0) == 0);
  }
  return 0;
}
