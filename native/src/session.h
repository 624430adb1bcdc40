// One loaded-and-attached copy of build/bpf/palisade.bpf.o and its output buffer, polled on the JS thread.
//
// Lifecycle (libbpf order): constructor = open -> set .rodata config -> load -> attach -> create ring/perf buffer.
// start() puts the buffer's epoll fd on the Node loop (uv_poll) plus a drain timer. close() undoes all of it, in
// reverse, and is idempotent; the environment cleanup hook and the destructor call it too.
#pragma once

#include <bpf/libbpf.h>
#include <napi.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

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

class Session : public Napi::ObjectWrap<Session> {
 public:
  static Napi::Function Define(Napi::Env env);

  explicit Session(const Napi::CallbackInfo& info);
  ~Session() override;

 private:
  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value SetFilter(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  void Open(Napi::Env env, const Napi::Object& options);
  void CloseAll();
  void Drain();
  void Deliver();
  void ReportError(const std::string& op, int err);
  void Append(const void* data, size_t len);

  static void OnPoll(uv_poll_t* handle, int status, int events);
  static void OnTimer(uv_timer_t* handle);
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

  // Destruction order matters: buffers before links before the object that owns the maps and programs.
  std::unique_ptr<bpf_object, BpfObjectDeleter> obj_;
  std::vector<std::unique_ptr<bpf_link, BpfLinkDeleter>> links_;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring_;
  std::unique_ptr<perf_buffer, PerfBufferDeleter> perf_;
  int stats_fd_ = -1;
  int filter_comm_fd_ = -1;
  int filter_prefix_fd_ = -1;
  int filter_state_fd_ = -1;
  int filter_comm_prefix_fd_ = -1;
  int filter_cgroup_fd_ = -1;
  int filter_port_fd_ = -1;
  int filter_rate_fd_ = -1;
  int filter_bucket_fd_ = -1;

  // Owned by libuv between uv_close() and its close callback, which frees them.
  uv_poll_t* poll_ = nullptr;
  uv_timer_t* timer_ = nullptr;

  Napi::FunctionReference on_batch_;
  Napi::FunctionReference on_error_;
  std::vector<uint8_t> batch_;

  uint64_t perf_lost_ = 0;
  uint64_t records_malformed_ = 0;
  uint64_t records_ = 0;
  uint64_t batches_ = 0;
};

}  // namespace palisade
