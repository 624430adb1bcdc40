// The in-kernel filter's maps (pal_filter_*): found once after load, rewritten whole by Apply() while the programs
// stay attached. The argument is what services/collector/src/kernel-filter-compile.ts builds; it is checked again
// here, because a bad key must never reach a map.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>

#include <string>

#include "filter_spec.h"

namespace palisade {

class FilterMaps {
 public:
  // Looks the maps up in a loaded object. Returns 0, or ENOENT with *missing set to the first absent map's name.
  int Bind(bpf_object* obj, std::string* missing);
  // Replaces the whole filter; throws a TypeError for a malformed spec and a native error for a failed map write.
  void Apply(Napi::Env env, const Napi::Object& spec) const;
  // What Apply writes, without writing it: the argument read (see FromJs in filter_maps.cc) and checked by
  // CompileFilter; throws a TypeError for a malformed one. Also the test hook testHooks.compileFilter().
  static FilterSpec Compile(Napi::Env env, const Napi::Object& spec);
  void Reset() { *this = FilterMaps(); }

 private:
  // Borrowed from the bpf_object, which owns them.
  int comm_fd_ = -1;
  int prefix_fd_ = -1;
  int state_fd_ = -1;
  int comm_prefix_fd_ = -1;
  int cgroup_fd_ = -1;
  int port_fd_ = -1;
  int rate_fd_ = -1;
  int bucket_fd_ = -1;
  int exe_fd_ = -1;
  int exe_prefix_fd_ = -1;
  // pal_filter_state.exe_gen of the last Apply: bumped on every one, so cached exe verdicts are redone.
  mutable uint32_t exe_gen_ = 0;
};

}  // namespace palisade
