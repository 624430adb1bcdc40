#include "test_hooks.h"

#include <algorithm>
#include <cstdint>
#include <vector>

#include "filter_maps.h"
#include "filter_spec.h"
#include "record_frame.h"

namespace palisade {

namespace {

uint32_t OptU32(const Napi::Object& o, const char* key, uint32_t dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("options.") + key + " must be a number");
  return v.As<Napi::Number>().Uint32Value();
}

// frameRecords(samples: Buffer[], {perf?, maxBatchBytes?, maxRecordBytes?}) -> {crossings, records, malformed,
// lost}: the samples as one drain would take them from the buffers (drain.cc: a ring sample through Append, a
// perf event through DecodePerfEvent then Append), a ring drain flushed whenever BatchFull says stop, and every
// batch handed over in the crossings Deliver cuts. maxRecordBytes (default the u16 bound) scales the stop rule
// down so small inputs reach it; maxBatchBytes must be at least twice it, as Session requires.
Napi::Value FrameRecords(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArray()) throw Napi::TypeError::New(env, "samples must be an array of Buffers");
  Napi::Array samples = info[0].As<Napi::Array>();
  Napi::Object options = info.Length() > 1 && info[1].IsObject() ? info[1].As<Napi::Object>() : Napi::Object::New(env);
  const bool perf = options.Get("perf").ToBoolean().Value();
  const size_t max_record = OptU32(options, "maxRecordBytes", kMaxRecordBytes);
  const size_t max_batch = OptU32(options, "maxBatchBytes", 2 * kMaxRecordBytes);
  if (max_record < 1 || max_batch < 2 * max_record) {
    throw Napi::TypeError::New(env, "options.maxBatchBytes must be at least twice options.maxRecordBytes");
  }

  std::vector<uint8_t> batch;
  Napi::Array crossings = Napi::Array::New(env);
  double records = 0;
  double malformed = 0;
  double lost = 0;
  auto append = [&](const void* data, size_t len) {
    if (AppendRecord(&batch, data, len)) {
      records++;
    } else {
      malformed++;
    }
  };
  auto deliver = [&]() {
    size_t off = 0;
    while (off < batch.size()) {
      const size_t end = CrossingEnd(batch.data(), batch.size(), off, max_batch);
      crossings.Set(crossings.Length(), Napi::Buffer<uint8_t>::Copy(env, batch.data() + off, end - off));
      off = end;
    }
    batch.clear();
  };
  for (uint32_t i = 0; i < samples.Length(); i++) {
    Napi::Value v = samples.Get(i);
    if (!v.IsBuffer()) throw Napi::TypeError::New(env, "samples must be an array of Buffers");
    Napi::Buffer<uint8_t> b = v.As<Napi::Buffer<uint8_t>>();
    // A copy of exactly the sample's length: a read past it would be past the end of a heap block.
    std::vector<uint8_t> sample(b.Data(), b.Data() + b.Length());
    if (perf) {
      const PerfEvent e = DecodePerfEvent(sample.data(), sample.size());
      if (e.type == PerfEvent::Type::kSample) {
        append(e.data, e.size);
      } else if (e.type == PerfEvent::Type::kLost) {
        lost += static_cast<double>(e.lost);
      } else if (e.type == PerfEvent::Type::kMalformed) {
        malformed++;
      }
    } else {
      append(sample.data(), sample.size());
      if (BatchFull(batch.size(), max_batch, max_record)) deliver();
    }
  }
  deliver();
  Napi::Object out = Napi::Object::New(env);
  out.Set("crossings", crossings);
  out.Set("records", Napi::Number::New(env, records));
  out.Set("malformed", Napi::Number::New(env, malformed));
  out.Set("lost", Napi::Number::New(env, lost));
  return out;
}

// compileFilter(spec) -> the pal_filter_state setFilter() would write last (kindsDropped as a BigInt) and the rate
// count, or the TypeError setFilter() throws. The same FilterMaps::Compile, without the map writes.
Napi::Value CompileFilterHook(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "filter must be an object");
  const FilterSpec spec = FilterMaps::Compile(env, info[0].As<Napi::Object>());
  const pal_filter_state st = FilterStateOf(spec);
  Napi::Object out = Napi::Object::New(env);
  out.Set("commCount", Napi::Number::New(env, st.comm_count));
  out.Set("prefixCount", Napi::Number::New(env, st.prefix_count));
  out.Set("prefixKill", Napi::Number::New(env, st.prefix_kill));
  out.Set("flags", Napi::Number::New(env, st.flags));
  out.Set("kindsDropped", Napi::BigInt::New(env, static_cast<uint64_t>(st.kinds_dropped)));
  out.Set("commPrefixCount", Napi::Number::New(env, st.comm_prefix_count));
  out.Set("cgroupCount", Napi::Number::New(env, st.cgroup_count));
  out.Set("cgroupOnly", Napi::Number::New(env, st.cgroup_only));
  out.Set("portCount", Napi::Number::New(env, st.port_count));
  out.Set("rateCount", Napi::Number::New(env, static_cast<double>(spec.rates.size())));
  return out;
}

}  // namespace

Napi::Object TestHooks(Napi::Env env) {
  Napi::Object hooks = Napi::Object::New(env);
  hooks.Set("frameRecords", Napi::Function::New(env, FrameRecords, "frameRecords"));
  hooks.Set("compileFilter", Napi::Function::New(env, CompileFilterHook, "compileFilter"));
  return hooks;
}

}  // namespace palisade
