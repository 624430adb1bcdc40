// The ring/perf buffers as the loop sees them: wakeups, bounded drains, one Buffer per crossing into JS, and the
// asynchronous error path. See native/README.md, "Buffers and draining".
#include <errno.h>
#include <linux/perf_event.h>

#include <algorithm>

#include "native_error.h"
#include "palisade.h"
#include "record_frame.h"
#include "session.h"

namespace palisade {

namespace {

// What OnRingSample returns to make libbpf stop (it has consumed that sample and leaves the rest in the ring).
constexpr int kStopDrain = -ENOBUFS;

}  // namespace

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
  if (BatchFull(self->batch_.size(), self->max_batch_bytes_)) {
    self->capped_ = true;
    return kStopDrain;
  }
  return 0;
}

enum bpf_perf_event_ret Session::OnPerfEvent(void* ctx, int /*cpu*/, struct perf_event_header* event) {
  Session* self = static_cast<Session*>(ctx);
  const PerfEvent e = DecodePerfEvent(reinterpret_cast<const uint8_t*>(event), event->size);
  if (e.type == PerfEvent::Type::kSample) {
    self->Append(e.data, e.size);
  } else if (e.type == PerfEvent::Type::kLost) {
    self->perf_lost_ += e.lost;
  } else if (e.type == PerfEvent::Type::kMalformed) {
    self->records_malformed_++;
  }
  return LIBBPF_PERF_EVENT_CONT;
}

// Copies one record into the batch, trimmed to its header's size (perf pads samples). A record whose header
// does not fit what was received is dropped and counted: JS walks the batch by those sizes and must not desync.
// The checks are record_frame.cc's (fuzzed by native/fuzz/record_frame_fuzz.cc).
bool Session::Append(const void* data, size_t len) {
  if (!AppendRecord(&batch_, data, len)) {
    records_malformed_++;
    return false;
  }
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
  if (!closed_ && idle_) {
    if (capped_) {
      uv_idle_start(idle_.get(), OnIdle);
    } else {
      uv_idle_stop(idle_.get());
    }
  }
}

// Hands the batch to JS in crossings of at most max_batch_bytes_ each. Ring drains stop at the cap already; a
// perf drain (bounded by the perf buffers' size) is cut here at record boundaries. Each crossing gets a copy that
// JS owns outright and may keep; batch_ keeps its capacity for the next drain.
void Session::Deliver() {
  size_t off = 0;
  while (off < batch_.size() && !closed_) {
    const size_t end = CrossingEnd(batch_.data(), batch_.size(), off, max_batch_bytes_);
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
  Napi::Error error = MakeNativeError(env, ErrorKind::kPoll, op, err);
  if (poll_) uv_poll_stop(poll_.get());
  if (timer_) uv_timer_stop(timer_.get());
  if (idle_) uv_idle_stop(idle_.get());
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
