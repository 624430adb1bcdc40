// setFilter()'s argument checked and compiled into the pal_filter_* map contents, with no N-API or libbpf in it so
// that native/fuzz/filter_spec_fuzz.cc runs exactly this code under ASan and UBSan. filter_maps.cc turns the JS
// object into a SpecValue (reading only the keys the filter names, and a list's items only within its bound), then
// CompileFilter checks it again (services/collector/src/kernel-filter-compile.ts built it; a bad key must still
// never reach a map), and FilterMaps::Apply writes the result.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "palisade.h"

namespace palisade {

// One JS value as the filter reads it. An array is also an object (as in JS); a missing key is all false.
struct SpecValue {
  bool is_number = false;
  bool is_string = false;
  bool is_array = false;
  bool is_object = false;
  bool truthy = false;  // ToBoolean
  double number = 0;
  std::string string;  // UTF-8
  uint32_t length = 0;  // an array's length; its items are read only when length <= ListBound(key)
  std::vector<SpecValue> items;
  std::vector<std::pair<std::string, SpecValue>> fields;  // an object's keys among SpecKeys()

  // The field of that name, or a missing value.
  const SpecValue& Get(const std::string& key) const;
};

// Every key the filter reads, at any depth.
const std::vector<std::string>& SpecKeys();
// The most items a list under that key may have (0: not a list). A longer one fails as "too many".
uint32_t ListBound(const std::string& key);

// A malformed spec; the message is the TypeError setFilter() throws.
class FilterSpecError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// The map contents of one filter.
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
  std::vector<pal_filter_exe_key> exe_keys;  // executable paths (bpf/include/exe.bpf.h)
  std::vector<pal_filter_value> exe_values;
  std::vector<pal_filter_exe_prefix> exe_prefixes;
  uint64_t kinds_dropped = 0;
  uint32_t cgroup_only = 0;
  uint32_t flags = 0;
};

// Checks and compiles; throws FilterSpecError.
FilterSpec CompileFilter(const SpecValue& spec);

// pal_filter_state[0] for a compiled filter (written last, so no program trusts a count before its slots exist).
pal_filter_state FilterStateOf(const FilterSpec& spec);

// ECMAScript ToUint32 (what napi_get_value_uint32 does): NaN and infinities are 0, else truncated modulo 2^32.
uint32_t ToUint32(double d);

}  // namespace palisade
