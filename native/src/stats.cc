// stats() and ringStats(): the kernel's per-CPU counters summed, the addon's own, and the ring shards' traffic.
// Names come from the registry (PAL_STATS, PAL_ADDON_STATS in bpf/include/palisade.h).
#include <bpf/bpf.h>
#include <errno.h>

#include <cctype>
#include <string>
#include <vector>

#include "native_error.h"
#include "palisade.h"
#include "session.h"

namespace palisade {

namespace {

struct StatNames {
  std::string names[PAL_STAT__COUNT];
  StatNames() {
    std::string lower;
#define PAL_X_STAT(NAME, id, loss, doc)                                                       \
  lower = #NAME;                                                                              \
  for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch))); \
  names[id] = lower;
    PAL_STATS(PAL_X_STAT)
#undef PAL_X_STAT
  }
  const std::string& operator[](uint32_t id) const { return names[id]; }
};

const StatNames kStatNames;

#define PAL_X_ADDON_STAT(name, loss, doc) #name,
constexpr const char* kAddonStatNames[] = {PAL_ADDON_STATS(PAL_X_ADDON_STAT)};
#undef PAL_X_ADDON_STAT

}  // namespace

Napi::Value Session::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeNativeError(env, ErrorKind::kNative, "stats", EBADF);
  Napi::Object out = Napi::Object::New(env);
  int ncpu = libbpf_num_possible_cpus();
  if (ncpu <= 0) throw MakeNativeError(env, ErrorKind::kNative, "libbpf_num_possible_cpus", -ncpu);
  // Per-CPU array lookups return one 8-byte-aligned value per possible CPU.
  std::vector<uint64_t> values(static_cast<size_t>(ncpu));
  for (uint32_t key = 0; key < PAL_STAT__COUNT; key++) {
    if (bpf_map_lookup_elem(stats_fd_, &key, values.data()) != 0) {
      throw MakeNativeError(env, ErrorKind::kNative, "bpf_map_lookup_elem(pal_stats)", errno);
    }
    uint64_t sum = 0;
    for (uint64_t v : values) sum += v;
    out.Set(kStatNames[key], Napi::Number::New(env, static_cast<double>(sum)));
  }
  // PAL_ADDON_STATS, in its order: a counter added to the registry without a value here fails to compile.
  const uint64_t addon[] = {perf_lost_, records_malformed_, records_, batches_, drains_capped_};
  static_assert(sizeof(addon) / sizeof(addon[0]) == sizeof(kAddonStatNames) / sizeof(kAddonStatNames[0]),
                "stats(): one value per PAL_ADDON_STATS row");
  for (size_t i = 0; i < sizeof(addon) / sizeof(addon[0]); i++) {
    out.Set(kAddonStatNames[i], Napi::Number::New(env, static_cast<double>(addon[i])));
  }
  return out;
}

Napi::Value Session::RingStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (closed_) throw MakeNativeError(env, ErrorKind::kNative, "ringStats", EBADF);
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

}  // namespace palisade
