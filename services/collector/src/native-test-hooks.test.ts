// The addon's pure byte and argument handling through testHooks (native/src/test_hooks.cc): no kernel, no root.
// Regressions of what the fuzzers found, and the contract the fuzz targets (test/fuzz/) build on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ABI } from '@palisade/common';
import { resolveKernelFilter } from './kernel-filter-compile.js';
import { loadAddon } from './native.js';

const hooks = loadAddon().testHooks;
const H = ABI.structs.header;
const C = ABI.constants;

function record(size: number, kind = C.kindProcessExit): Buffer {
  const b = Buffer.alloc(size, 0xab);
  b.writeUInt16LE(kind, H.fields.kind);
  b.writeUInt16LE(size, H.fields.size);
  return b;
}

function perfSample(raw: Buffer, claim = raw.length): Buffer {
  const size = 8 + Math.ceil((4 + raw.length) / 8) * 8;
  const ev = Buffer.alloc(size);
  ev.writeUInt32LE(9, 0); // PERF_RECORD_SAMPLE
  ev.writeUInt16LE(size, 6);
  ev.writeUInt32LE(claim, 8);
  raw.copy(ev, 12);
  return ev;
}

const base = {
  flags: 0, cgroupOnly: false, kindsDropped: [], rates: [], binaries: [], binaryPrefixes: [], pathPrefixes: [], cgroups: [], ports: [],
};

// filter_spec_fuzz under UBSan: a double of up to 2^53 was cast to u32, which gcc wrapped, so 2^32 + DROP was
// accepted as DROP and rate 2^32 as "no limit".
test('setFilter refuses actions and rate ids past u32 instead of wrapping them', () => {
  assert.throws(() => hooks.compileFilter({ ...base, ports: [{ port: 53, actions: 2 ** 32 + C.actionDrop, rate: 0, kinds: [] }] }),
    { name: 'TypeError', message: 'filter.ports[].actions is invalid' });
  assert.throws(() => hooks.compileFilter({ ...base, binaries: [{ comm: 'sh', actions: C.actionPost, rate: 2 ** 32, kinds: [] }] }),
    { name: 'TypeError', message: 'filter.binaries[].rate names no entry of filter.rates' });
  assert.equal(hooks.compileFilter({ ...base, ports: [{ port: 53, actions: C.actionDrop, rate: 0, kinds: [] }] }).portCount, 1);
});

test('setFilter\'s compiler accepts what kernel-filter-compile.ts makes and counts it as the maps will hold it', () => {
  const f = resolveKernelFilter({
    binaries: [{ comm: 'curl', action: 'post', rateLimit: { events: 5, seconds: 1 }, kinds: [C.kindNetConnect] }],
    pathPrefixes: [{ prefix: '/etc/shadow', action: 'sigkill' }, { prefix: '/proc/self/', action: 'drop' }],
    ports: [{ port: 4444, action: 'drop' }],
    kinds: [C.kindProcessExec, C.kindFileOpen],
    emitKillEvents: true,
  });
  const got = hooks.compileFilter(f);
  assert.deepEqual({ ...got }, {
    commCount: 1, prefixCount: 2, prefixKill: 1, flags: C.filterEmitKillEvents,
    kindsDropped: f.kindsDropped.reduce((m, k) => m | (1n << BigInt(k)), 0n),
    commPrefixCount: 0, cgroupCount: 0, cgroupOnly: 0, portCount: 1, rateCount: 1,
  });
  assert.throws(() => hooks.compileFilter({ ...base, flags: 2 }), { name: 'TypeError', message: 'filter.flags is invalid' });
  assert.throws(() => hooks.compileFilter({ ...base, ports: new Array(C.filterPortEntries + 1) }),
    { name: 'TypeError', message: 'too many filter.ports' });
});

test('a perf sample whose raw size passes its event is refused whole, never read past the event', () => {
  const r = record(H.sizeof + 16);
  const ev = perfSample(r, r.length + 64);
  const out = hooks.frameRecords([ev, perfSample(r)], { perf: true });
  assert.equal(out.malformed, 1);
  assert.equal(out.records, 1);
  assert.deepEqual(out.crossings, [r]);
});

test('ring samples are trimmed to their header size, lies are dropped and counted, a drain stops before the cap', () => {
  const big = record(3000);
  const lie = record(200);
  lie.writeUInt16LE(201, H.fields.size);
  const out = hooks.frameRecords([Buffer.concat([record(100), Buffer.alloc(8)]), lie, record(H.sizeof - 1).subarray(0, 40), big, big, big],
    { maxBatchBytes: 6100, maxRecordBytes: 3050 });
  assert.equal(out.records, 4);
  assert.equal(out.malformed, 2);
  // The stop rule: after 3100 bytes one more 3050-byte record could pass 6100, so that drain ends there.
  assert.deepEqual(out.crossings.map((c) => c.length), [3100, 6000]);
  // A perf drain is cut at record boundaries instead.
  const perf = hooks.frameRecords([record(100), big, big, big].map((r) => perfSample(r)), { perf: true, maxBatchBytes: 6100, maxRecordBytes: 3050 });
  assert.deepEqual(perf.crossings.map((c) => c.length), [6100, 3000]);
  assert.throws(() => hooks.frameRecords([], { maxBatchBytes: 100, maxRecordBytes: 80 }), { name: 'TypeError' });
});
