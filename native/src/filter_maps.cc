#include "filter_maps.h"

#include <bpf/bpf.h>
#include <errno.h>

#include <string>
#include <vector>

#include "filter_spec.h"
#include "native_error.h"
#include "palisade.h"

namespace palisade {

namespace {

// A JS value as CompileFilter reads it: an object's keys among SpecKeys() only, a list's items only within
// ListBound(key) (a longer list fails on its length alone), and no deeper than a filter goes (spec -> list ->
// entry -> kinds -> number), so a hostile argument costs no more than a valid one.
SpecValue FromJs(const Napi::Value& v, uint32_t bound, int depth) {
  constexpr int kMaxDepth = 4;
  SpecValue out;
  out.truthy = v.ToBoolean().Value();
  if (v.IsNumber()) {
    out.is_number = true;
    out.number = v.As<Napi::Number>().DoubleValue();
  } else if (v.IsString()) {
    out.is_string = true;
    out.string = v.As<Napi::String>().Utf8Value();
  }
  if (!v.IsObject() || depth >= kMaxDepth) {
    out.is_object = v.IsObject();
    out.is_array = v.IsArray();
    return out;
  }
  out.is_object = true;
  if (v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    out.is_array = true;
    out.length = a.Length();
    if (out.length <= bound) {
      for (uint32_t i = 0; i < out.length; i++) out.items.push_back(FromJs(a.Get(i), 0, depth + 1));
    }
  }
  Napi::Object o = v.As<Napi::Object>();
  for (const std::string& key : SpecKeys()) {
    Napi::Value field = o.Get(key);
    if (field.IsUndefined()) continue;
    out.fields.emplace_back(key, FromJs(field, ListBound(key), depth + 1));
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
      {"pal_filter_exe", &exe_fd_},       {"pal_filter_exe_prefix", &exe_prefix_fd_},
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
FilterSpec FilterMaps::Compile(Napi::Env env, const Napi::Object& arg) {
  try {
    return CompileFilter(FromJs(arg, 0, 0));
  } catch (const FilterSpecError& e) {
    throw Napi::TypeError::New(env, e.what());
  }
}

void FilterMaps::Apply(Napi::Env env, const Napi::Object& arg) const {
  const FilterSpec spec = Compile(env, arg);
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

  if (int err = SyncHash(exe_fd_, spec.exe_keys, spec.exe_values, &op); err != 0) check(err, op + "(pal_filter_exe)");
  check(FillArray(exe_prefix_fd_, spec.exe_prefixes, 0, PAL_FILTER_EXE_PREFIXES),
        "bpf_map_update_elem(pal_filter_exe_prefix)");

  pal_filter_state state = FilterStateOf(spec);
  exe_gen_ = exe_gen_ + 1 == 0 ? 1 : exe_gen_ + 1;
  state.exe_gen = exe_gen_;
  uint32_t zero = 0;
  if (bpf_map_update_elem(state_fd_, &zero, &state, BPF_ANY) != 0) {
    throw MakeNativeError(env, ErrorKind::kNative, "bpf_map_update_elem(pal_filter_state)", errno);
  }
}

}  // namespace palisade
