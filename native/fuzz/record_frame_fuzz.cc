// libFuzzer target: what the addon does with the bytes the kernel hands it (native/src/record_frame.cc), as
// drain.cc runs it. Built with -fsanitize=fuzzer,address,undefined by test/fuzz/native.ts.
//
// Input: u32 max_batch, u16 max_record, then chunks of [u8 tag][u16 len][len bytes]: an even tag is a ring
// sample, an odd one a perf buffer event (perf_event_header first). Each chunk is copied into a heap block of
// exactly its length, so a read past what the kernel handed over hits ASan's redzone.
//
// Checked: a record is appended iff its header fits and claims a size in [header, received], and then exactly
// that many bytes of it; a perf sample never reaches past its event; the batch tiles into the appended records;
// the drain's stop rule keeps a batch within max_batch (given max_batch >= 2 * max_record, as Session requires);
// crossings are non-empty, within the cap unless one record alone is larger, start and end on record boundaries,
// and cover the batch; CrossingEnd on arbitrary (not appended) bytes always advances and stays in bounds.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

#include "palisade.h"
#include "record_frame.h"

using palisade::AppendRecord;
using palisade::BatchFull;
using palisade::CrossingEnd;
using palisade::DecodePerfEvent;
using palisade::PerfEvent;
using palisade::RecordSize;

namespace {

#define CHECK(cond)                                                             \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "record_frame_fuzz: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      abort();                                                                  \
    }                                                                           \
  } while (0)

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

// Walks crossings over [0, size) and checks them against the record boundaries (empty set: unknown layout).
void CheckCrossings(const uint8_t* batch, size_t size, size_t max_bytes, const std::set<size_t>& bounds) {
  size_t off = 0;
  size_t crossings = 0;
  while (off < size) {
    const size_t end = CrossingEnd(batch, size, off, max_bytes);
    CHECK(end > off);
    CHECK(end <= size);
    if (!bounds.empty()) {
      CHECK(bounds.count(end) == 1);
      // Over the cap only as one lone record.
      if (end - off > max_bytes) CHECK(RecordSize(batch + off, size - off) == end - off);
    }
    off = end;
    CHECK(++crossings <= size);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Reader in{data, size};
  uint32_t max_batch_in = 0;
  uint16_t max_record_in = 0;
  if (!in.Take(&max_batch_in) || !in.Take(&max_record_in)) return 0;
  const size_t max_record = std::max<size_t>(sizeof(pal_event_header), max_record_in);
  // Session refuses maxBatchBytes < 2 * kMaxRecordBytes; here the same ratio, scaled to the input's record bound.
  const size_t max_batch = std::max<size_t>(2 * max_record, max_batch_in % (1u << 20));

  std::vector<uint8_t> batch;   // everything appended (as drain.cc's batch_ between deliveries)
  std::vector<uint8_t> ring;    // the ring drain as OnRingSample runs it: stops at BatchFull, then delivers
  std::set<size_t> bounds = {0};
  size_t appended = 0;

  while (in.n > 0) {
    uint8_t tag = 0;
    uint16_t len = 0;
    if (!in.Take(&tag) || !in.Take(&len)) break;
    len = static_cast<uint16_t>(std::min<size_t>(len, in.n));
    std::vector<uint8_t> chunk(in.p, in.p + len);  // exactly len bytes on the heap
    in.p += len;
    in.n -= len;
    const uint8_t* bytes = chunk.data();
    size_t avail = chunk.size();

    if (tag & 1) {
      const PerfEvent e = DecodePerfEvent(bytes, avail);
      if (e.type != PerfEvent::Type::kSample) {
        CHECK(e.data == nullptr && e.size == 0);
        continue;
      }
      CHECK(e.data >= bytes && e.size <= avail && e.data + e.size <= bytes + avail);
      bytes = e.data;
      avail = e.size;
    }

    const size_t want = RecordSize(bytes, avail);
    const size_t before = batch.size();
    const bool ok = AppendRecord(&batch, bytes, avail);
    CHECK(ok == (want != 0));
    if (!ok) {
      CHECK(batch.size() == before);
      continue;
    }
    CHECK(want >= sizeof(pal_event_header) && want <= avail);
    CHECK(batch.size() == before + want);
    CHECK(memcmp(batch.data() + before, bytes, want) == 0);
    bounds.insert(batch.size());
    appended++;

    // The ring drain: records no larger than max_record (the kernel's u16 bound, scaled), cut when full.
    if (want <= max_record) {
      CHECK(AppendRecord(&ring, bytes, avail));
      CHECK(ring.size() <= max_batch);
      if (BatchFull(ring.size(), max_batch, max_record)) ring.clear();
    }
  }

  // The batch tiles into exactly the appended records.
  size_t off = 0;
  size_t records = 0;
  while (off < batch.size()) {
    const size_t r = RecordSize(batch.data() + off, batch.size() - off);
    CHECK(r != 0);
    CHECK(bounds.count(off + r) == 1);
    off += r;
    records++;
  }
  CHECK(off == batch.size() && records == appended);

  // Crossings over the batch at a cap from the input (and at the session's own floor).
  CheckCrossings(batch.data(), batch.size(), std::max<size_t>(1, max_batch_in % 4096), bounds);
  CheckCrossings(batch.data(), batch.size(), max_batch, bounds);
  // And over bytes no Append checked: still bounded and advancing.
  std::vector<uint8_t> raw(data, data + size);
  CheckCrossings(raw.data(), raw.size(), std::max<size_t>(1, max_record_in), {});
  return 0;
}
