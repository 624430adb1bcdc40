// The byte handling between the kernel's buffers and the one Buffer per JS crossing, with no libbpf or N-API in it
// so that the libFuzzer targets (native/fuzz/) run exactly this code under ASan and UBSan:
//   - a ring sample or perf sample -> one record in the batch, trimmed to its header's size, or dropped as malformed;
//   - a perf event (PERF_RECORD_SAMPLE / PERF_RECORD_LOST) -> its raw sample or its lost count, within the event;
//   - the drain's stop rule (one more largest record would pass the cap);
//   - a batch -> crossings of at most the cap, cut at record boundaries.
// JS walks each crossing by pal_event_header.size, so every record in a batch has a size in [header, what is left].
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace palisade {

// pal_event_header.size is a u16, so no record is larger; a drain stops while one more still fits under the cap.
constexpr size_t kMaxRecordBytes = UINT16_MAX;

// The size a record claims (pal_event_header.size) when its header fits in len bytes and that size is in
// [sizeof(pal_event_header), len]; 0 for a malformed record.
size_t RecordSize(const uint8_t* data, size_t len);

// Appends one record received from a buffer (a ring sample, or a perf sample the kernel padded) to the batch,
// trimmed to its header's size. A malformed one (see RecordSize) is not appended: returns false.
bool AppendRecord(std::vector<uint8_t>* batch, const void* data, size_t len);

// The ring drain's stop rule: after a sample, stop while one more record of max_record bytes could still pass
// max_batch. With max_batch >= 2 * max_record (Session checks it) a batch never exceeds max_batch.
inline bool BatchFull(size_t batch_bytes, size_t max_batch, size_t max_record = kMaxRecordBytes) {
  return batch_bytes + max_record > max_batch;
}

// One perf buffer event as libbpf hands it over (struct perf_event_header first, `len` bytes in all: the
// header's size field). Every read stays inside those len bytes.
struct PerfEvent {
  enum class Type { kSample, kLost, kOther, kMalformed };
  Type type = Type::kOther;
  const uint8_t* data = nullptr;  // kSample: the PERF_SAMPLE_RAW bytes (after their u32 size)
  size_t size = 0;                // kSample: how many
  uint64_t lost = 0;              // kLost: records the kernel could not write
};
PerfEvent DecodePerfEvent(const uint8_t* event, size_t len);

// Where the crossing that starts at `off` of a batch ends: the whole rest when it fits in max_bytes, else the last
// record boundary that keeps it within max_bytes. Always past off while off < size (a lone record larger than
// max_bytes is one crossing by itself; Session's cap rules that out), and never past size: a record whose header
// is cut or claims a size outside [header, rest] (Append never lets one in) ends the crossing at the batch's end.
size_t CrossingEnd(const uint8_t* batch, size_t size, size_t off, size_t max_bytes);

}  // namespace palisade
