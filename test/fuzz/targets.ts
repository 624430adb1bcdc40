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
      { binaries: ['xmrig', 'kworker/*'], action: 'Sigkill' },
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
];

export const TOTAL_RUNS = TARGETS.reduce((n, t) => n + t.runs, 0);
