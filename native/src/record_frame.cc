#include "record_frame.h"

#include <linux/perf_event.h>

#include <cstring>

#include "palisade.h"

namespace palisade {

size_t RecordSize(const uint8_t* data, size_t len) {
  pal_event_header hdr;
  if (data == nullptr || len < sizeof(hdr)) return 0;
  memcpy(&hdr, data, sizeof(hdr));
  if (hdr.size < sizeof(hdr) || hdr.size > len) return 0;
  return hdr.size;
}

bool AppendRecord(std::vector<uint8_t>* batch, const void* data, size_t len) {
  const uint8_t* bytes = static_cast<const uint8_t*>(data);
  const size_t size = RecordSize(bytes, len);
  if (size == 0) return false;
  batch->insert(batch->end(), bytes, bytes + size);
  return true;
}

PerfEvent DecodePerfEvent(const uint8_t* event, size_t len) {
  PerfEvent out;
  perf_event_header header;
  if (event == nullptr || len < sizeof(header)) {
    out.type = PerfEvent::Type::kMalformed;
    return out;
  }
  memcpy(&header, event, sizeof(header));
  // libbpf copies an event that wraps the buffer into one piece of header.size bytes; never read past that.
  if (header.size < sizeof(header) || header.size > len) {
    out.type = PerfEvent::Type::kMalformed;
    return out;
  }
  const uint8_t* body = event + sizeof(header);
  const size_t body_len = header.size - sizeof(header);
  if (header.type == PERF_RECORD_SAMPLE) {
    // PERF_SAMPLE_RAW: u32 size, then the bytes (padded by the kernel to 8-byte alignment).
    uint32_t size;
    if (body_len < sizeof(size)) {
      out.type = PerfEvent::Type::kMalformed;
      return out;
    }
    memcpy(&size, body, sizeof(size));
    if (size > body_len - sizeof(size)) {
      out.type = PerfEvent::Type::kMalformed;
      return out;
    }
    out.type = PerfEvent::Type::kSample;
    out.data = body + sizeof(size);
    out.size = size;
  } else if (header.type == PERF_RECORD_LOST) {
    // u64 id, then u64 lost.
    if (body_len < 2 * sizeof(uint64_t)) {
      out.type = PerfEvent::Type::kMalformed;
      return out;
    }
    out.type = PerfEvent::Type::kLost;
    memcpy(&out.lost, body + sizeof(uint64_t), sizeof(out.lost));
  }
  return out;
}

size_t CrossingEnd(const uint8_t* batch, size_t size, size_t off, size_t max_bytes) {
  if (off >= size) return size;
  if (size - off <= max_bytes) return size;
  size_t end = off;
  while (end < size) {
    const size_t record = RecordSize(batch + end, size - end);
    // Not a batch AppendRecord built: end before the bad bytes, or hand them over whole, rather than desync.
    if (record == 0) return end > off ? end : size;
    if (end + record - off > max_bytes) break;
    end += record;
  }
  if (end == off) end += RecordSize(batch + off, size - off);  // one record larger than the cap
  return end;
}

}  // namespace palisade
