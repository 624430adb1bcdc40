// Fuzz targets for every consuming stage's real decode + handle path: arbitrary and mutated records go onto the
// stage's input topic of a MemoryBus, and the stage (enricher, evaluator with the real rules in OPA wasm, responder
// in dry run with a fake Kubernetes client) takes them as it would from Kafka. Per input, the invariants:
// - the stage never ends in `failed`, and its input partition moves on (everything is committed);
// - every record its schema does not decode is dead-lettered, with the record's offset and sha256;
// - no record is dead-lettered as unprocessable with an untyped error (code INTERNAL): bisecting would hide such a
//   bug from the pipeline, so the fuzzer must not (a typed refusal, e.g. POLICY_EVAL_FAILED, is fine).
import { createHash } from 'node:crypto';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import fc from 'fast-check';
import {
  ephemeralAlertKeys, MemoryBus, Metrics, TOPICS, pb, silentLogger, type ConsumerStage, type palisade,
} from '@palisade/common';
import { Enricher, identifyContainer, type PodDirectory } from '@palisade/enricher';
import { Evaluator } from '@palisade/evaluator';
import { PolicyEngine } from '@palisade/evaluator/dist/policy-engine.js';
import { Responder } from '@palisade/responder/dist/responder.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const NODE = 'node-1';
const CID = '3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f';
const POD_UID = '6a1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const CGROUP = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_UID.replace(/-/g, '_')}.slice/cri-containerd-${CID}.scope`;
const POD: palisade.v1.IPod = {
  uid: POD_UID, name: 'web-1', namespace: 'shop', containerId: CID, containerName: 'web', node: NODE, runtime: 'containerd',
  labels: { app: 'web' }, owner: { kind: 'Deployment', name: 'web' }, image: 'nginx:1',
};

// ---- Arbitraries: structured messages (valid wire, odd content), then bytes mutated from them.

const text = fc.oneof(fc.constantFrom('', '/etc/shadow', '/bin/sh', 'nginx', CGROUP, NODE, 'shop', 'kube-system'),
  fc.string({ maxLength: 40 }));
const num = fc.oneof(fc.constantFrom(0, 1, -1, 0xffffffff, Number.MAX_SAFE_INTEGER), fc.integer());
const u32 = fc.oneof(fc.constantFrom(0, 1, 0xffffffff), fc.nat({ max: 0xffffffff }));

const rawEvent: fc.Arbitrary<palisade.v1.IRawEvent> = fc.record({
  kind: fc.integer({ min: 0, max: 24 }),
  timeUnixNano: fc.oneof(fc.constant(Date.now() * 1e6), fc.nat()),
  process: fc.record({
    pid: u32, tid: u32, ppid: u32, uid: u32, euid: u32, comm: text, parentComm: text, binary: text,
    cgroupId: fc.nat(), cgroupPath: fc.oneof(fc.constant(CGROUP), text),
  }, { requiredKeys: [] }),
  fileOpen: fc.record({ path: text, flags: u32, mode: u32, result: num }, { requiredKeys: [] }),
  exec: fc.record({ filename: text, argv: fc.array(text, { maxLength: 4 }) }, { requiredKeys: [] }),
  netConnect: fc.record({ daddr: text, dport: u32, family: fc.integer({ min: 0, max: 12 }), result: num }, { requiredKeys: [] }),
}, { requiredKeys: [] });

const pod: fc.Arbitrary<palisade.v1.IPod> = fc.oneof(fc.constant(POD), fc.record({
  uid: text, name: text, namespace: text, containerId: text, node: text,
  labels: fc.dictionary(text, text, { maxKeys: 3 }),
}, { requiredKeys: [] }));

const loss: fc.Arbitrary<palisade.v1.ILossRecord> = fc.record({ source: text, count: fc.nat() }, { requiredKeys: [] });

const rawBatch = fc.record({
  node: fc.oneof(fc.constant(NODE), text), seq: fc.nat(), instanceId: text,
  events: fc.array(rawEvent, { maxLength: 4 }), losses: fc.array(loss, { maxLength: 2 }),
}, { requiredKeys: [] }).map((b) => pb.RawEventBatch.encode(b).finish());

const enrichedEvent: fc.Arbitrary<palisade.v1.IEnrichedEvent> = fc.record({
  node: fc.oneof(fc.constant(NODE), text), status: fc.integer({ min: 0, max: 6 }), pod, event: rawEvent,
}, { requiredKeys: [] });

const enrichedBatch = fc.record({
  node: text, events: fc.array(enrichedEvent, { maxLength: 4 }), losses: fc.array(loss, { maxLength: 2 }),
}, { requiredKeys: [] }).map((b) => pb.EnrichedEventBatch.encode(b).finish());

const alert = fc.record({
  id: text, ruleId: fc.oneof(fc.constantFrom('PAL-001', 'PAL-002'), text), title: text, severity: fc.integer({ min: 0, max: 7 }),
  actions: fc.array(fc.oneof(fc.constantFrom('quarantine', 'deny_egress', 'alert'), text), { maxLength: 3 }),
  message: text, event: enrichedEvent, timeUnixNano: fc.nat(),
}, { requiredKeys: [] }).map((a) => pb.Alert.encode(a).finish());

/** A valid encoding as it is, truncated, with bytes overwritten, or plain random bytes. */
function records(valid: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array[]> {
  const mutated = fc.tuple(valid, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), fc.nat())
    .map(([bytes, edits, cut]) => {
      const out = Uint8Array.from(bytes);
      for (const [at, b] of edits) if (out.length > 0) out[at % out.length] = b;
      return cut % 4 === 0 && out.length > 0 ? out.subarray(0, cut % out.length) : out;
    });
  return fc.array(fc.oneof({ weight: 3, arbitrary: valid }, { weight: 3, arbitrary: mutated },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }) }), { minLength: 1, maxLength: 6 });
}

// ---- Harness: one stage per target, started once and fed input after input.

interface Harness {
  bus: MemoryBus;
  stage: ConsumerStage<unknown>;
  input: string;
  decode(bytes: Uint8Array): unknown;
  dead: palisade.v1.DeadLetter[];
  /** Headers a record needs to be taken at all (the responder's alert signature); none by default. */
  headers: (value: Uint8Array) => Record<string, string>;
}

const pods: PodDirectory = { lookup: (cid) => (cid === CID ? POD : undefined), subscribe: () => () => undefined };

async function harness(make: (bus: MemoryBus, metrics: Metrics) => Promise<ConsumerStage<unknown>>, input: string,
  decode: (bytes: Uint8Array) => unknown, headers: Harness['headers'] = () => ({})): Promise<Harness> {
  // One partition, so "caught up" is one offset; bounded lag so nothing piles up.
  const bus = new MemoryBus({ partitions: 1, retainUnread: 100 });
  const dead: palisade.v1.DeadLetter[] = [];
  await bus.consume({ groupId: 'fuzz-dl', topics: [TOPICS.deadLetter], handler: async (b) => {
    for (const m of b) dead.push(pb.DeadLetter.decode(m.value));
  } });
  const stage = await make(bus, new Metrics());
  await stage.start();
  return { bus, stage, input, decode, dead, headers };
}

const harnesses = new Map<string, Promise<Harness>>();

function once(name: string, build: () => Promise<Harness>): Promise<Harness> {
  let h = harnesses.get(name);
  if (!h) { h = build(); harnesses.set(name, h); }
  return h;
}

/** Stops every stage the targets started (fuzz.test.ts and main.ts call it at the end). */
export async function closeStageHarnesses(): Promise<void> {
  for (const h of harnesses.values()) {
    const { stage, bus } = await h;
    await stage.stop();
    await bus.close();
  }
  harnesses.clear();
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

async function feed(h: Harness, values: Uint8Array[]): Promise<boolean> {
  const from = h.bus.endOffsets(h.input)[0] ?? 0;
  const deadBefore = h.dead.length;
  await h.bus.producer().send(h.input, values.map((v) => ({ key: 'k', value: Buffer.from(v), headers: h.headers(v) })));
  const end = from + values.length;
  // Each turn of the loop lets the stage run; it either catches up or fails (a hang is the test runner's timeout).
  while ((h.stage.progress().input[0]?.committed ?? 0) < end) {
    if (h.stage.state !== 'ready') throw new Error(`the stage is ${h.stage.state}`);
    await nextTurn();
  }
  // Dead letters are published before the commit, but reach their reader a turn later.
  const invalid = values.flatMap((v, i) => {
    try { h.decode(Buffer.from(v)); return []; } catch { return [{ offset: String(from + i), sha: sha(v) }]; }
  });
  // (The enricher dead-letters other things too, e.g. an event for another node's pod, so count by offset.)
  const missing = (): typeof invalid => invalid.filter((want) =>
    !h.dead.slice(deadBefore).some((d) => d.offset === want.offset && d.sourceTopic === h.input));
  for (let turn = 0; missing().length > 0 && turn < 1_000; turn++) await nextTurn();
  const lost = missing()[0];
  if (lost) throw new Error(`record at offset ${lost.offset} does not decode but was not dead-lettered`);
  const fresh = h.dead.slice(deadBefore);
  for (const want of invalid) {
    const got = fresh.find((d) => d.offset === want.offset && d.sourceTopic === h.input);
    if (got && Buffer.from(got.valueSha256).toString('hex') !== want.sha) throw new Error(`dead letter ${want.offset}: wrong sha256`);
  }
  for (const d of fresh) {
    if (d.cause === pb.DeadLetterCause.DEAD_LETTER_CAUSE_UNPROCESSABLE && /could not process the record: INTERNAL/.test(d.reason)) {
      throw new Error(`untyped error in the handler: ${d.reason}`);
    }
  }
  if (h.stage.state !== 'ready') throw new Error(`the stage is ${h.stage.state}`);
  return true;
}

const enricher = (): Promise<Harness> => once('enricher', () => harness(async (bus, metrics) => new Enricher({
  node: NODE, bus, metrics, logger: silentLogger, groupId: 'fuzz-enricher', pods, identify: identifyContainer,
  holdMs: 0, negativeTtlMs: 60_000,
}) as unknown as ConsumerStage<unknown>, TOPICS.raw, (b) => {
  const batch = pb.RawEventBatch.decode(b);
  if (!batch.node) throw new Error('node is empty');
}));

const evaluator = (): Promise<Harness> => once('evaluator', () => harness(async (bus, metrics) => {
  const engine = await PolicyEngine.load({
    wasmPath: join(ROOT, 'build/policies/policy.wasm'), metadataPath: join(ROOT, 'build/policies/metadata.json'),
  });
  return new Evaluator({ bus, metrics, logger: silentLogger, groupId: 'fuzz-evaluator', engine }) as unknown as ConsumerStage<unknown>;
}, TOPICS.enriched, (b) => {
  const batch = pb.EnrichedEventBatch.decode(b);
  for (const e of batch.events) if (!e.event) throw new Error('an enriched event has no event');
}));

// Every fuzzed alert is signed, as the evaluator would sign it, so each one gets past the signature check and reaches
// the decoder and the handler (unsigned and forged alerts have their own tests in responder.test.ts).
const alertKeys = ephemeralAlertKeys();
const responder = (): Promise<Harness> => once('responder', () => harness(async (bus, metrics) => new Responder({
  bus, metrics, logger: silentLogger, groupId: 'fuzz-responder', dryRun: true, protectedNamespaces: ['kube-system'],
  verifier: alertKeys.verifier,
  // The Kubernetes client stays simulated here, on purpose: this target fuzzes the stage's decoding and bookkeeping
  // at thousands of records a second, and a dry run makes no API call anyway. What a dry run against the real API
  // server reports is what this answers (test/kube/responder-quarantine.test.ts proves that on the server).
  quarantine: async (target, dryRun) => ({
    outcome: dryRun ? 'dry_run' : 'done', reason: 'fuzz', steps: [`label ${target.namespace}/${target.name}`], attempts: 1,
  }),
  describe: (target) => [`label ${target.namespace}/${target.name}`], dedupeWindowMs: 1_000, maxActionsPerMinute: 10,
}) as unknown as ConsumerStage<unknown>, TOPICS.alerts, (b) => {
  const a = pb.Alert.decode(b);
  if (!a.id || !a.ruleId) throw new Error('alert has no id or rule_id');
}, (v) => alertKeys.signer.sign(v)));

export interface AsyncFuzzTarget {
  readonly name: string;
  readonly runs: number;
  readonly property: () => fc.IAsyncProperty<[Uint8Array[]]>;
}

export const STAGE_TARGETS: readonly AsyncFuzzTarget[] = [
  {
    name: 'raw records through the enricher on a MemoryBus',
    runs: 2_000,
    property: () => fc.asyncProperty(records(rawBatch), async (values) => feed(await enricher(), values)),
  },
  {
    name: 'enriched records through the evaluator (real rules, OPA wasm) on a MemoryBus',
    runs: 2_000,
    property: () => fc.asyncProperty(records(enrichedBatch), async (values) => feed(await evaluator(), values)),
  },
  {
    name: 'alerts through the responder (dry run, fake Kubernetes client) on a MemoryBus',
    runs: 2_000,
    property: () => fc.asyncProperty(records(alert), async (values) => feed(await responder(), values)),
  },
];
