// Fuzz targets: what arrives from outside (kernel records, the wire, files, flags, the Kubernetes API) against the
// code that reads it. Each target is a fast-check property whose invariant is the project's rule for bad input: a
// clear, typed error or a counted skip, never an untyped throw, a hang or a crash. `npm run fuzz` runs them long;
// fuzz.test.ts runs a bounded share on every `npm test`. A crash found becomes a case in regressions.ts.
import fc from 'fast-check';
import { stringify } from 'yaml';
import { ABI, PalisadeError, loadConfig, pb } from '@palisade/common';
import { collectorSchema } from '@palisade/collector';
import { EventDecoder, LAYOUT } from '@palisade/collector/dist/event-decoder.js';
import { parseTracingPolicy } from '@palisade/collector/dist/filter-policy.js';
import { resolveKernelFilter, type KernelFilter } from '@palisade/collector/dist/kernel-filter-compile.js';
import { loadAddon } from '@palisade/collector/dist/native.js';
import { parseContainerId, resolveOwner } from '@palisade/enricher/dist/pod-cache.js';
import { toRegoEvent } from '@palisade/evaluator/dist/rego-input.js';

export interface FuzzTarget {
  readonly name: string;
  /** Runs in the CI share (fuzz.test.ts); `npm run fuzz` multiplies them. */
  readonly runs: number;
  readonly property: () => fc.IPropertyWithHooks<unknown[]> | fc.IProperty<unknown[]>;
}

const H = LAYOUT.header;

/** A kernel record: a valid header of any registry kind (or none), a size that may lie, and any body. */
const kernelRecord = fc.record({
  kind: fc.oneof(fc.constantFrom(...ABI.kinds.map((k) => k.id)), fc.integer({ min: 0, max: 0xffff })),
  size: fc.oneof(fc.constant(-1), fc.integer({ min: 0, max: 0xffff })),
  body: fc.uint8Array({ maxLength: 1400 }),
}).map(({ kind, size, body }) => {
  const sizes = Object.values(ABI.structs).map((v) => v.sizeof);
  const len = Math.max(H.sizeof, body.length + H.sizeof);
  const buf = Buffer.alloc(len);
  buf.set(body, H.sizeof);
  buf.writeUInt16LE(kind, H.fields.kind);
  // Mostly the record's own length (what the addon guarantees) or a struct's size, sometimes a lie.
  const declared = size < 0 ? len : size % 3 === 0 ? (sizes[size % sizes.length] ?? len) : size;
  buf.writeUInt16LE(Math.min(declared, 0xffff), H.fields.size);
  return buf;
});

const decoder = new EventDecoder({ bootToRealtimeOffsetNs: 0n });

function onlyPalisadeErrors(fn: () => unknown, codes: readonly string[]): boolean {
  try {
    fn();
    return true;
  } catch (err) {
    if (err instanceof PalisadeError && codes.includes(err.code)) return true;
    throw err;
  }
}

const VALID_POLICY = {
  apiVersion: 'palisade.dev/v1alpha1', kind: 'TracingPolicy', metadata: { name: 'p' },
  spec: {
    kinds: ['exec', 'file_open'],
    selectors: [
      { binaries: ['/usr/bin/xmrig'], action: 'Sigkill' },
      { comms: ['xmrig', 'kworker/*'], action: 'Sigkill' },
      { pathPrefixes: ['/proc/self/'], action: 'Drop' },
      { ports: [53], action: 'Post', rateLimit: { events: 10, seconds: 1 } },
      { cgroups: ['kubepods.slice'], match: 'NotIn', action: 'Drop' },
    ],
  },
};

/** Replaces one node of a JSON value by something arbitrary: near misses of a valid document. */
function mutate(value: unknown, path: number[], replacement: unknown): unknown {
  if (path.length === 0 || value === null || typeof value !== 'object') return replacement;
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value);
  if (entries.length === 0) return replacement;
  const [key, child] = entries[path[0]! % entries.length]!;
  if (Array.isArray(value)) {
    const copy: unknown[] = [...value];
    copy[key as number] = mutate(child, path.slice(1), replacement);
    return copy;
  }
  return { ...(value as Record<string, unknown>), [key]: mutate(child, path.slice(1), replacement) };
}

const anyJson = fc.jsonValue({ maxDepth: 3 });

// ---- Kernel records into the addon: testHooks (native/src/test_hooks.cc) runs the addon's own framing and filter
// compiler from JS, so these targets cross the real N-API layer into the code a Session runs (libFuzzer fuzzes that
// code alone under ASan and UBSan: test/fuzz/native.ts).
const hooks = loadAddon().testHooks;
const PERF_RECORD_LOST = 2;
const PERF_RECORD_SAMPLE = 9;

/** What the addon keeps of one sample: the record trimmed to its header's size, or nothing (malformed). */
function keptOf(sample: Buffer): Buffer | undefined {
  if (sample.length < H.sizeof) return undefined;
  const size = sample.readUInt16LE(H.fields.size);
  return size >= H.sizeof && size <= sample.length ? sample.subarray(0, size) : undefined;
}

/** A PERF_RECORD_SAMPLE event around raw bytes (padded to 8 as the kernel does); `claim` lies about their size. */
function perfSample(raw: Buffer, claim?: number): Buffer {
  const size = 8 + Math.ceil((4 + raw.length) / 8) * 8;
  const ev = Buffer.alloc(size);
  ev.writeUInt32LE(PERF_RECORD_SAMPLE, 0);
  ev.writeUInt16LE(size, 6);
  ev.writeUInt32LE(claim ?? raw.length, 8);
  raw.copy(ev, 12);
  return ev;
}

function perfLost(n: number): Buffer {
  const ev = Buffer.alloc(24);
  ev.writeUInt32LE(PERF_RECORD_LOST, 0);
  ev.writeUInt16LE(24, 6);
  ev.writeBigUInt64LE(BigInt(n), 16);
  return ev;
}

/** One drain's worth of samples: kernel records (sizes that may lie), trailing bytes, cuts, perf lies, lost events. */
const drainCase = fc.record({
  samples: fc.array(fc.record({
    record: kernelRecord,
    pad: fc.nat(16),
    cut: fc.oneof(fc.constant(-1), fc.constant(-1), fc.nat(H.sizeof + 40)),
    perfLie: fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0), fc.integer({ min: 1, max: 64 })),
    lost: fc.oneof(fc.constant(0), fc.constant(0), fc.constant(0), fc.constant(0), fc.nat(5000)),
  }), { maxLength: 14 }),
  perf: fc.boolean(),
  maxRecordBytes: fc.integer({ min: 1500, max: 3000 }),
  extra: fc.nat(4000),
});

/** A filter using every selector, as kernel-filter-compile.ts hands it to setFilter(): the base of near misses. */
const VALID_NATIVE = resolveKernelFilter({
  binaries: [{ comm: 'xmrig', action: 'sigkill' }, { comm: 'curl', action: 'post', rateLimit: { events: 10, seconds: 1 }, kinds: [1, 4] }],
  binaryPrefixes: [{ prefix: 'kworker/', action: 'drop', kinds: [3] }],
  pathPrefixes: [{ prefix: '/proc/self/', action: 'drop' }, { prefix: '/etc/shadow', action: 'sigkill' }],
  cgroups: [{ id: 77, action: 'post', rateLimit: { events: 5, seconds: 2 } }],
  onlyCgroups: [77],
  ports: [{ port: 53, action: 'post', rateLimit: { events: 100, seconds: 1 } }, { port: 4444, action: 'drop' }],
  kinds: [1, 2, 3, 4],
  emitKillEvents: true,
});

const filterAction = <A extends string>(...a: A[]) => fc.constantFrom(...a);
const kernelFilter: fc.Arbitrary<KernelFilter> = fc.record({
  binaries: fc.array(fc.record({ comm: fc.stringMatching(/^[a-z0-9._/-]{1,15}$/), action: filterAction('drop', 'sigkill', 'post') }), { maxLength: 5 }),
  binaryPrefixes: fc.array(fc.record({ prefix: fc.stringMatching(/^[a-z0-9._/-]{1,15}$/), action: filterAction('drop', 'sigkill', 'post') }), { maxLength: 3 }),
  pathPrefixes: fc.array(fc.record({ prefix: fc.stringMatching(/^\/[a-z0-9._/-]{0,60}$/), action: filterAction('drop', 'sigkill') }), { maxLength: 4 }),
  ports: fc.array(fc.record({ port: fc.integer({ min: 1, max: 65535 }), action: filterAction('drop', 'post') }), { maxLength: 4 }),
  cgroups: fc.array(fc.record({ id: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), action: filterAction('drop', 'post') }), { maxLength: 3 }),
  kinds: fc.option(fc.uniqueArray(fc.integer({ min: 1, max: ABI.constants.filterKinds - 1 }), { minLength: 1, maxLength: 6 }), { nil: undefined }),
  emitKillEvents: fc.boolean(),
}, { requiredKeys: ['binaries', 'pathPrefixes'] });

/** Values a hostile or buggy caller could put anywhere in setFilter()'s argument. */
const hostile = fc.oneof(
  anyJson,
  fc.constantFrom(2 ** 32, 2 ** 32 + 1, 2 ** 32 + 4, 2 ** 53, 2 ** 64, -0, Number.NaN, Infinity, -1, 0.5, 65536, '', 'a\0b', 'x'.repeat(80), true, null),
  fc.array(fc.constantFrom(1, 3, 63, 64, 2 ** 32 + 3, -1, 'exec', {}), { maxLength: 70 }),
  // Made in the property (a thunk): fast-check spends seconds walking a 70k-slot array it generated itself.
  fc.nat(70_000).map((n) => () => new Array<unknown>(n)),
  fc.constant(Object.defineProperty({}, 'comm', { get: () => 'sh' })),
);

function walkSizes(crossing: Buffer): number {
  let off = 0;
  let n = 0;
  while (off < crossing.length) {
    const size = crossing.readUInt16LE(off + H.fields.size);
    if (size < H.sizeof || off + size > crossing.length) throw new Error(`crossing desyncs at ${off}`);
    off += size;
    n++;
  }
  return n;
}

function countsOf(f: ReturnType<typeof resolveKernelFilter>): Record<string, number | bigint> {
  return {
    commCount: f.binaries.length, prefixCount: f.pathPrefixes.length,
    prefixKill: f.pathPrefixes.filter((p) => p.actions & ABI.constants.actionSigkill).length, flags: f.flags,
    kindsDropped: f.kindsDropped.reduce((m, k) => m | (1n << BigInt(k)), 0n), commPrefixCount: f.binaryPrefixes.length,
    cgroupCount: f.cgroups.length, cgroupOnly: f.cgroupOnly ? 1 : 0, portCount: f.ports.length, rateCount: f.rates.length,
  };
}

export const TARGETS: readonly FuzzTarget[] = [
  {
    name: 'kernel records into the event decoder',
    runs: 300_000,
    property: () => fc.property(fc.array(kernelRecord, { maxLength: 6 }), (records) => {
      // Never throws, and never makes up events: a size that lies within the batch may merge records (nothing can
      // tell), one that points past it ends the batch with a counted error.
      const events = decoder.decode(Buffer.concat(records));
      return events.length <= records.length && events.every((e) => typeof e.kind === 'number' && e.process != null);
    }),
  },
  {
    name: 'random bytes into the event decoder',
    runs: 300_000,
    property: () => fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
      decoder.decode(Buffer.from(bytes));
      return true;
    }),
  },
  {
    name: 'TracingPolicy YAML: near misses of a valid policy',
    runs: 12_000,
    property: () => fc.property(fc.array(fc.nat(), { maxLength: 6 }), anyJson, (path, replacement) =>
      onlyPalisadeErrors(() => parseTracingPolicy(stringify(mutate(VALID_POLICY, path, replacement)), 'fuzz',
        { resolveCgroup: () => 42 }), ['CONFIG_INVALID'])),
  },
  {
    name: 'TracingPolicy YAML: arbitrary text',
    runs: 40_000,
    property: () => fc.property(fc.string({ maxLength: 300 }), (text) =>
      onlyPalisadeErrors(() => parseTracingPolicy(text, 'fuzz', { resolveCgroup: () => undefined }), ['CONFIG_INVALID'])),
  },
  {
    name: 'flags and environment into the config parser',
    runs: 60_000,
    property: () => fc.property(
      fc.array(fc.oneof(fc.constantFrom(...Object.keys(collectorSchema).map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`)), fc.string({ maxLength: 20 })), { maxLength: 8 }),
      fc.dictionary(fc.constantFrom(...Object.values(collectorSchema).map((k) => k.env)), fc.string({ maxLength: 20 }), { maxKeys: 4 }),
      (argv, env) => onlyPalisadeErrors(() => loadConfig(collectorSchema, { argv, env }), ['CONFIG_INVALID'])),
  },
  {
    name: 'wire bytes into every protobuf decoder, then the Rego input',
    runs: 200_000,
    property: () => fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
      for (const type of [pb.RawEventBatch, pb.EnrichedEventBatch, pb.Alert, pb.ActionRecord]) {
        let msg: unknown;
        try {
          msg = (type as { decode(b: Uint8Array): unknown }).decode(bytes);
        } catch (err) {
          if (err instanceof Error) continue; // protobufjs: "index out of range", "invalid wire type": a clean refusal
          throw err;
        }
        if (type === pb.EnrichedEventBatch) {
          for (const e of (msg as { events: unknown[] }).events) toRegoEvent(e as Parameters<typeof toRegoEvent>[0]);
        }
      }
      return true;
    }),
  },
  {
    name: 'Pod JSON from the API server into the pod cache helpers',
    runs: 150_000,
    property: () => fc.property(anyJson, fc.string({ maxLength: 90 }), (pod, containerId) => {
      const owner = resolveOwner(pod as Parameters<typeof resolveOwner>[0]);
      const id = parseContainerId(containerId);
      return typeof owner.kind === 'string' && typeof owner.name === 'string' && typeof id.id === 'string';
    }),
  },
  {
    name: "kernel records through the addon's framing into the event decoder",
    runs: 30_000,
    property: () => fc.property(drainCase, ({ samples, perf, maxRecordBytes, extra }) => {
      // The model: which records survive, trimmed how, and what is counted; the addon must agree byte for byte.
      const bytes: Buffer[] = [];
      const kept: Buffer[] = [];
      let malformed = 0;
      let lost = 0;
      for (const s of samples) {
        let sample = Buffer.concat([s.record, Buffer.alloc(s.pad)]);
        if (s.cut >= 0) sample = sample.subarray(0, Math.min(s.cut, sample.length));
        if (perf && s.lost > 0) {
          bytes.push(perfLost(s.lost));
          lost += s.lost;
        }
        if (perf && s.perfLie > 0) {
          // A raw size past the event: the event is refused whole, nothing of it read.
          bytes.push(perfSample(sample, Math.ceil((4 + sample.length) / 8) * 8 - 4 + s.perfLie));
          malformed++;
          continue;
        }
        bytes.push(perf ? perfSample(sample) : sample);
        const k = keptOf(sample);
        if (k) kept.push(k);
        else malformed++;
      }
      const maxBatchBytes = 2 * maxRecordBytes + extra;
      const out = hooks.frameRecords(bytes, { perf, maxBatchBytes, maxRecordBytes });
      if (out.records !== kept.length || out.malformed !== malformed || out.lost !== lost) {
        throw new Error(`counted ${out.records}/${out.malformed}/${out.lost}, expected ${kept.length}/${malformed}/${lost}`);
      }
      if (!Buffer.concat(out.crossings).equals(Buffer.concat(kept))) throw new Error('the crossings are not the kept records');
      let walked = 0;
      for (const c of out.crossings) {
        if (c.length === 0 || c.length > maxBatchBytes) throw new Error(`a crossing of ${c.length} bytes (cap ${maxBatchBytes})`);
        const records = walkSizes(c);
        walked += records;
        // The decoder walks the crossing to its end: every record is an event or one counted error, none lost to a desync.
        const before = decoder.decodeErrors;
        const events = decoder.decode(c);
        if (events.length + (decoder.decodeErrors - before) !== records) throw new Error('the decoder lost records of a crossing');
      }
      return walked === kept.length;
    }),
  },
  {
    name: "setFilter arguments into the addon's filter compiler",
    runs: 20_000,
    property: () => fc.property(
      fc.oneof(
        kernelFilter.map((k) => ({ valid: true as const, arg: resolveKernelFilter(k) as unknown })),
        fc.tuple(fc.array(fc.nat(), { maxLength: 5 }), hostile).map(([path, r]) => ({ valid: false as const, arg: mutate(VALID_NATIVE, path, typeof r === 'function' ? (r as () => unknown)() : r) })),
        fc.anything().map((arg) => ({ valid: false as const, arg })),
      ),
      ({ valid, arg }) => {
        let got: ReturnType<typeof hooks.compileFilter>;
        try {
          got = hooks.compileFilter(arg);
        } catch (err) {
          // Refused with a TypeError that names the filter; what kernel-filter-compile.ts makes is never refused.
          if (valid || !(err instanceof TypeError) || !/^(filter|too many filter\.)/.test(err.message)) throw err;
          return true;
        }
        if (valid) {
          const want = countsOf(arg as ReturnType<typeof resolveKernelFilter>);
          for (const [k, v] of Object.entries(want)) {
            if (got[k as keyof typeof got] !== v) throw new Error(`${k}: the addon counted ${String(got[k as keyof typeof got])}, the filter has ${String(v)}`);
          }
        }
        return got.prefixKill <= got.prefixCount && (got.kindsDropped & 1n) === 0n;
      }),
  },
];

export const TOTAL_RUNS = TARGETS.reduce((n, t) => n + t.runs, 0);
