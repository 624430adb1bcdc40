// 64-bit proto fields are plain JS numbers in Palisade (cgroup ids and nanosecond timestamps fit: timestamps lose
// at most 256 ns of precision, ids are far below 2^53). protobufjs returns Long objects whenever the `long` package
// can be loaded, so switch that off before the generated module computes its defaults: proto.ts imports this first.
import protobuf from 'protobufjs/minimal.js';

protobuf.util.Long = undefined as unknown as typeof protobuf.util.Long;
protobuf.configure();
