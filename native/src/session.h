// One loaded-and-attached copy of build/bpf/palisade.bpf.o and its output buffer, polled on the JS thread.
//
// Lifecycle (libbpf order): constructor = open -> set .rodata config -> probe hooks -> load -> attach -> create
// ring/perf buffer. Programs are optional unless tagged PAL_REQUIRED: one whose hook this kernel lacks is not
// loaded, one the verifier refuses is dropped and the object loaded again without it, one that cannot attach is
// left detached; each is reported by programs(). A required one failing any of those steps fails the session.
//
// Files by concern: session.cc (lifecycle: open, load, attach, close), drain.cc (ring/perf buffers, draining,
// delivery to JS), stats.cc (counters), filter_maps.cc (the in-kernel filter), programs.cc (program tags, hooks).
// start() puts one epoll fd on the Node loop (uv_poll) plus a drain timer. close() undoes all of it, in reverse, and
// is idempotent; the environment cleanup hook and the destructor call it too.
//
// Ring mode is sharded: one BPF ring per CPU (or per group of CPUs), created here before load and put into the
// pal_rings ARRAY_OF_MAPS between load and attach. Each shard has its own libbpf ring_buffer manager, and the
// managers' epoll fds are nested in one epoll fd of ours, so the loop still sees one fd. One manager per shard
// because libbpf 1.1 has no per-ring consume (ring__consume is 1.3+): ring_buffer__consume always walks its rings
// from the first and a callback's stop aborts the walk, so with a per-drain byte cap a storm on CPU 0 would starve
// every other shard. Here each drain starts at the shard after the one the previous drain stopped in.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>
#include <uv.h>

#include "palisade.h"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "filter_maps.h"
#include "programs.h"
#include "record_frame.h"

namespace palisade {

struct BpfObjectDeleter {
  void operator()(bpf_object* o) const { bpf_object__close(o); }
};
struct BpfLinkDeleter {
  void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};
struct RingBufferDeleter {
  void operator()(ring_buffer* r) const { ring_buffer__free(r); }
};
struct PerfBufferDeleter {
  void operator()(perf_buffer* p) const { perf_buffer__free(p); }
};

// An owned file descriptor (the shard rings and the epoll fd the shard managers are nested in).
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// A libuv handle owned by its Session: closed (and, in the close callback, freed) by reset() or the destructor.
template <typename Handle>
class UvHandle {
 public:
  UvHandle() = default;
  UvHandle(const UvHandle&) = delete;
  UvHandle& operator=(const UvHandle&) = delete;
  ~UvHandle() { reset(); }
  // A fresh handle; the caller runs uv_*_init on it (and reset()s it if that fails: see Release()).
  Handle* make() {
    reset();
    h_ = new Handle;
    return h_;
  }
  Handle* get() const { return h_; }
  explicit operator bool() const { return h_ != nullptr; }
  // For a handle whose init failed (never registered with the loop): freed directly.
  void discard() {
    delete h_;
    h_ = nullptr;
  }
  void reset() {
    if (h_ == nullptr) return;
    uv_close(reinterpret_cast<uv_handle_t*>(h_), [](uv_handle_t* h) { delete reinterpret_cast<Handle*>(h); });
    h_ = nullptr;
  }

 private:
  Handle* h_ = nullptr;
};

class Session;

// One ring of pal_rings and the libbpf manager that consumes it (ctx of its sample callback).
struct RingShard {
  Session* session = nullptr;
  uint32_t index = 0;
  uint64_t records = 0;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring;
};

class Session : public Napi::ObjectWrap<Session> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit Session(const Napi::CallbackInfo& info);
  ~Session() override;

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value RingStats(const Napi::CallbackInfo& info);
  Napi::Value SetFilter(const Napi::CallbackInfo& info);
  Napi::Value Programs(const Napi::CallbackInfo& info);
  Napi::Value DetachAndDrain(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void Open(Napi::Env env, const Napi::Object& options);
  // One open -> config -> load attempt; returns the libbpf error of bpf_object__load (0 = loaded).
  int TryLoad(Napi::Env env, const std::string& object_path, const pal_config& cfg, uint32_t nshards,
              const std::vector<std::string>& refused, std::string* log);
  void Attach(Napi::Env env);
  void CloseAll();
  void Drain();
  void Deliver();
  void ReportError(const std::string& op, int err);
  bool Append(const void* data, size_t len);
  void OpenRings(Napi::Env env, uint32_t ring_bytes, uint32_t requested_shards);
  int DrainRings();
  void ScheduleDrain(bool now);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* handle);
  static void OnIdle(uv_idle_t* handle);
  static int OnRingSample(void* ctx, void* data, size_t len);
  static enum bpf_perf_event_ret OnPerfEvent(void* ctx, int cpu, struct perf_event_header* event);
  static void OnEnvCleanup(void* arg);

  napi_env env_;
  uv_loop_t* loop_ = nullptr;
  bool closed_ = false;
  bool started_ = false;
  bool draining_ = false;
  bool cleanup_hook_added_ = false;
  bool self_referenced_ = false;
  bool perf_mode_ = false;
  uint32_t drain_interval_ms_ = 10;
  uint32_t max_batch_bytes_ = 0;  // at most this many bytes per JS crossing
  uint32_t shard_bytes_ = 0;
  size_t next_shard_ = 0;         // where the next ring drain starts (round robin after a capped drain)
  bool capped_ = false;           // the last drain stopped at max_batch_bytes_: more is waiting

  // Destruction order matters (reverse of declaration): managers before links before the object that owns the
  // maps and programs, the shard ring fds after the object (pal_rings holds its own references), epoll last.
  UniqueFd epoll_fd_;
  std::vector<UniqueFd> shard_fds_;
  std::unique_ptr<bpf_object, BpfObjectDeleter> obj_;
  std::vector<std::unique_ptr<bpf_link, BpfLinkDeleter>> links_;
  std::vector<std::unique_ptr<RingShard>> shards_;
  std::unique_ptr<perf_buffer, PerfBufferDeleter> perf_;
  int stats_fd_ = -1;  // borrowed from obj_
  FilterMaps filter_;
  std::vector<ProgramInfo> programs_;
  std::vector<std::string> refused_logs_;  // "name: verifier log tail" per program dropped at load

  UvHandle<uv_poll_t> poll_;
  UvHandle<uv_timer_t> timer_;
  UvHandle<uv_idle_t> idle_;  // runs the next drain on the next loop turn while a capped drain left data behind

  Napi::FunctionReference on_batch_;
  Napi::FunctionReference on_error_;
  // Reused between drains (capacity stays at max_batch_bytes_); each crossing hands JS its own copy, which JS owns.
  std::vector<uint8_t> batch_;

  uint64_t perf_lost_ = 0;
  uint64_t records_malformed_ = 0;
  uint64_t records_ = 0;
  uint64_t batches_ = 0;
  uint64_t drains_capped_ = 0;
  uint64_t batch_bytes_max_ = 0;
};

}  // namespace palisade
