#!/usr/bin/env node
// Writes the libFuzzer seed corpora of native/fuzz/ (checked in; run again after an ABI change):
//   native/fuzz/corpus/record_frame/  kernel records built from the ABI registry's layouts (one of each struct,
//                                     as a ring sample and as a perf sample, a lost-records event, and the lies the
//                                     framing must refuse), in record_frame_fuzz.cc's chunk format;
//   native/fuzz/corpus/filter_spec/   the native filters kernel-filter-compile.ts makes of policies/tracing/*.yaml
//                                     and of filters using every selector, in filter_spec_fuzz.cc's encoding.
// Regression inputs (`regress-*`) found by the fuzzers are left alone; `hostile-*` ones are written here. Needs the TypeScript build (dist/).
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { ABI } = await import(join(root, 'services/common/dist/gen/abi.js'));
const { resolveKernelFilter } = await import(join(root, 'services/collector/dist/kernel-filter-compile.js'));
const { parseTracingPolicy } = await import(join(root, 'services/collector/dist/filter-policy.js'));

const H = ABI.structs.header;
const PERF_RECORD_LOST = 2;
const PERF_RECORD_SAMPLE = 9;

function writeCorpus(name, inputs) {
  const dir = join(root, 'native/fuzz/corpus', name);
  mkdirSync(dir, { recursive: true });
  for (const f of readdirSync(dir)) if (!f.startsWith('regress-')) rmSync(join(dir, f));
  for (const [file, bytes] of Object.entries(inputs)) writeFileSync(join(dir, `${file}.bin`), bytes);
  process.stderr.write(`gen-fuzz-corpus: ${Object.keys(inputs).length} inputs in native/fuzz/corpus/${name}/\n`);
}

// ---- record_frame: [u32 max_batch][u16 max_record] then chunks [u8 tag][u16 len][bytes] (odd tag = perf event).

/** A record of one struct: header filled as the kernel fills it, the rest a recognisable pattern. */
function record(kindId, size) {
  const buf = Buffer.alloc(size);
  for (let i = H.sizeof; i < size; i++) buf[i] = i & 0xff;
  buf.writeUInt16LE(kindId, H.fields.kind);
  buf.writeUInt16LE(Math.min(size, 0xffff), H.fields.size);
  buf.writeUInt32LE(1, H.fields.cpu);
  buf.writeBigUInt64LE(123456789n, H.fields.ts_ns);
  buf.writeUInt32LE(4242, H.fields.pid);
  buf.writeUInt32LE(4242, H.fields.tid);
  buf.write('sh', H.fields.comm);
  return buf;
}

/** PERF_RECORD_SAMPLE with PERF_SAMPLE_RAW: header, u32 size, the bytes padded to 8 as the kernel does. */
function perfSample(raw) {
  const body = 4 + raw.length;
  const size = 8 + Math.ceil(body / 8) * 8;
  const ev = Buffer.alloc(size);
  ev.writeUInt32LE(PERF_RECORD_SAMPLE, 0);
  ev.writeUInt16LE(size, 6);
  ev.writeUInt32LE(raw.length, 8);
  raw.copy(ev, 12);
  return ev;
}

function perfLost(n) {
  const ev = Buffer.alloc(24);
  ev.writeUInt32LE(PERF_RECORD_LOST, 0);
  ev.writeUInt16LE(24, 6);
  ev.writeBigUInt64LE(7n, 8);
  ev.writeBigUInt64LE(BigInt(n), 16);
  return ev;
}

function frameInput(maxBatch, maxRecord, chunks) {
  const head = Buffer.alloc(6);
  head.writeUInt32LE(maxBatch, 0);
  head.writeUInt16LE(maxRecord, 4);
  const parts = [head];
  for (const { perf, bytes } of chunks) {
    const c = Buffer.alloc(3);
    c[0] = perf ? 1 : 0;
    c.writeUInt16LE(bytes.length, 1);
    parts.push(c, bytes);
  }
  return Buffer.concat(parts);
}

const kindOfStruct = {
  exec: 'exec', exit: 'exit', fileOpen: 'file_open', netConnect: 'net_connect', processKill: 'process_kill',
  fork: 'fork', syscall: 'file_op', netSocket: 'net_socket', dns: 'dns_query', fdDup: 'fd_dup',
  processRename: 'process_rename',
};
/** Structs that are parts of records, not records (pal_sock_info: in exec and fd_dup). */
const PARTS = new Set(['header', 'sockInfo']);
const kindId = (name) => ABI.kinds.find((k) => k.name === name)?.id ?? 0;
const structs = Object.entries(ABI.structs).filter(([name]) => !PARTS.has(name));
for (const [name] of structs) {
  if (!(name in kindOfStruct)) throw new Error(`gen-fuzz-corpus: no kind for struct ${name}; add it to kindOfStruct`);
}
const maxStruct = Math.max(...structs.map(([, s]) => s.sizeof));

const frames = {};
for (const [name, s] of structs) {
  const r = record(kindId(kindOfStruct[name]), s.sizeof);
  // The record, then the same as a perf sample, and a ring sample longer than its record (trimmed).
  frames[name] = frameInput(2 * maxStruct, maxStruct, [
    { perf: false, bytes: r }, { perf: true, bytes: perfSample(r) }, { perf: false, bytes: Buffer.concat([r, Buffer.alloc(8)]) },
  ]);
}
const all = structs.map(([name, s]) => record(kindId(kindOfStruct[name]), s.sizeof));
// Every struct back to back under a cap that cuts them into several crossings.
frames.mixed = frameInput(3 * maxStruct, maxStruct, [...all.map((r) => ({ perf: false, bytes: r })), ...all.map((r) => ({ perf: true, bytes: perfSample(r) }))]);
frames.lost = frameInput(2 * maxStruct, maxStruct, [{ perf: true, bytes: perfLost(12) }, { perf: false, bytes: all[0] }]);
const lie = (r, size) => {
  const b = Buffer.from(r);
  b.writeUInt16LE(size, H.fields.size);
  return b;
};
frames.lies = frameInput(2 * maxStruct, maxStruct, [
  { perf: false, bytes: all[1].subarray(0, H.sizeof - 1) },            // header cut
  { perf: false, bytes: lie(all[1], H.sizeof - 1) },                   // size below the header
  { perf: false, bytes: lie(all[1], all[1].length + 1) },              // size past what was received
  { perf: false, bytes: lie(all[1], 0) },
  { perf: true, bytes: perfSample(all[1]).subarray(0, 16) },           // perf sample cut inside its event
  { perf: true, bytes: Buffer.from([9, 0, 0, 0, 0, 0, 255, 255]) },    // perf header claiming more than there is
]);
writeCorpus('record_frame', frames);

// ---- filter_spec: the encoding of filter_spec_fuzz.cc's Decode().
const KEYS = ['flags', 'cgroupOnly', 'kindsDropped', 'rates', 'binaries', 'binaryPrefixes', 'pathPrefixes', 'cgroups',
  'ports', 'costNs', 'burstNs', 'comm', 'prefix', 'actions', 'rate', 'kinds', 'id', 'port', 'exes', 'exePrefixes', 'path'];
const C = ABI.constants;
const BOUNDS = {
  kindsDropped: C.filterKinds, kinds: C.filterKinds, rates: C.filterRates, binaries: C.filterCommEntries,
  binaryPrefixes: C.filterCommPrefixes, pathPrefixes: C.filterPrefixes, cgroups: C.filterCgroupEntries, ports: C.filterPortEntries,
  exes: C.filterExeEntries, exePrefixes: C.filterExePrefixes,
};

function encode(v, bound = 0) {
  if (v === undefined || v === null) return Buffer.from([0]);
  if (typeof v === 'number') {
    const b = Buffer.alloc(9);
    b[0] = 1;
    b.writeDoubleLE(v, 1);
    return b;
  }
  if (typeof v === 'string') {
    const s = Buffer.from(v, 'utf8');
    if (s.length > 255) throw new Error('gen-fuzz-corpus: string too long for the encoding');
    return Buffer.concat([Buffer.from([2, s.length]), s]);
  }
  if (typeof v === 'boolean') return Buffer.from([5 | (v ? 8 : 0)]);
  if (Array.isArray(v)) {
    const head = Buffer.alloc(3);
    head[0] = 3;
    head.writeUInt16LE(v.length, 1);
    return Buffer.concat([head, ...(v.length <= bound ? v.map((x) => encode(x)) : [])]);
  }
  const fields = Object.entries(v).filter(([k, x]) => KEYS.includes(k) && x !== undefined);
  return Buffer.concat([Buffer.from([4, fields.length]),
    ...fields.map(([k, x]) => Buffer.concat([Buffer.from([KEYS.indexOf(k)]), encode(x, BOUNDS[k] ?? 0)]))]);
}

const filters = {};
const policyDir = join(root, 'policies/tracing');
for (const f of readdirSync(policyDir).filter((f) => f.endsWith('.yaml'))) {
  const policy = parseTracingPolicy(readFileSync(join(policyDir, f), 'utf8'), f, { resolveCgroup: () => 4242 });
  filters[`policy-${f.replace(/\.yaml$/, '')}`] = resolveKernelFilter(policy.filter);
}
const rate = { events: 10, seconds: 1 };
filters.every_selector = resolveKernelFilter({
  binaries: [{ comm: 'xmrig', action: 'sigkill' }, { comm: 'curl', action: 'post', rateLimit: rate, kinds: [kindId('exec'), kindId('net_connect')] }],
  binaryPrefixes: [{ prefix: 'kworker/', action: 'drop', kinds: [kindId('file_open')] }],
  pathPrefixes: [{ prefix: '/proc/self/', action: 'drop' }, { prefix: '/etc/shadow', action: 'sigkill' }],
  cgroups: [{ id: 77, action: 'post', rateLimit: { events: 5, seconds: 2 } }],
  onlyCgroups: [77, 78],
  ports: [{ port: 53, action: 'post', rateLimit: { events: 100, seconds: 1 } }, { port: 4444, action: 'drop' }],
  kinds: [kindId('exec'), kindId('exit'), kindId('file_open'), kindId('net_connect')],
  emitKillEvents: true,
});
filters.empty = resolveKernelFilter({ binaries: [], pathPrefixes: [] });
filters.full_prefixes = resolveKernelFilter({
  binaries: [], pathPrefixes: Array.from({ length: C.filterPrefixes }, (_, i) => ({ prefix: `/${'p'.repeat(C.filterPrefixMax - 3)}${i.toString(16).padStart(2, '0')}`, action: 'drop' })),
  binaryPrefixes: Array.from({ length: C.filterCommPrefixes }, (_, i) => ({ prefix: `${'c'.repeat(C.commLen - 2)}${i}`, action: 'drop' })),
});
// Hand-made hostile arguments (not what kernel-filter-compile.ts makes; what a caller bypassing it could pass).
const emptyNative = { flags: 0, cgroupOnly: false, kindsDropped: [], rates: [], binaries: [], binaryPrefixes: [], pathPrefixes: [], cgroups: [], ports: [] };
// A rate id past u32 (2^32): cast to u32 it was undefined behaviour, in practice rate 0 ("no limit") accepted.
filters['hostile-rate-past-u32'] = { ...emptyNative, binaries: [{ comm: 'sh', actions: C.actionPost, rate: 2 ** 32, kinds: [] }] };
// Actions past u32 (2^32 + DROP): truncated, they read as DROP alone.
filters['hostile-actions-past-u32'] = { ...emptyNative, ports: [{ port: 53, actions: 2 ** 32 + C.actionDrop, rate: 0, kinds: [] }] };
filters['hostile-too-many-kinds'] = { ...emptyNative, kindsDropped: Array.from({ length: C.filterKinds + 1 }, () => 1) };
filters['hostile-kind-wraps-u32'] = { ...emptyNative, kindsDropped: [2 ** 32 + 3, -1, 0.5] };
writeCorpus('filter_spec', Object.fromEntries(Object.entries(filters).map(([k, v]) => [k, encode(v)])));
