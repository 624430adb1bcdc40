// The enricher over the in-process bus with a scripted pod directory: raw batches in, what a consumer of the
// enriched topic reads out. The directory is scripted on purpose: these tests are about the stage's holding and
// ordering of events around a pod's arrival, timed by the test; the pod cache behind the real directory is tested on
// the real API server in test/kube/pod-cache.test.ts, and the whole path in test/e2e.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  MemoryBus, Metrics, TOPICS, pb, silentLogger, type IncomingMessage, type palisade,
} from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { Enricher, type ContainerIdentity, type EnricherOptions, type PodDirectory } from './enricher.js';

const S = pb.EnrichmentStatus;
const NODE = 'node-1';

class FakePods implements PodDirectory {
  private readonly pods = new Map<string, palisade.v1.IPod>(); // container id -> pod
  private readonly listeners = new Set<() => void>();
  lookups = 0;
  lookup(containerId: string | undefined): palisade.v1.IPod | undefined {
    this.lookups++;
    return containerId === undefined ? undefined : this.pods.get(containerId);
  }
  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  add(pod: palisade.v1.IPod): void {
    this.pods.set(pod.containerId ?? '', pod);
    for (const l of [...this.listeners]) l();
  }
  get subscribers(): number { return this.listeners.size; }
}

/** Test cgroup paths: "pods/<uid>/<container id>" is a container, anything else the host. */
function identify(cgroupPath: string): ContainerIdentity | null {
  const m = /^pods\/([^/]+)\/([^/]+)$/.exec(cgroupPath);
  return m ? { podUid: m[1], containerId: m[2], runtime: 'containerd' } : null;
}

function pod(uid: string, cid: string, name = `pod-${uid}`): palisade.v1.IPod {
  return {
    uid, containerId: cid, name, namespace: 'shop', labels: { app: 'web' }, owner: { kind: 'Deployment', name: 'web' },
    containerName: 'main', image: 'nginx:1', node: NODE, runtime: 'containerd',
  };
}

function ev(pid: number, cgroupPath: string, cgroupId = pid): palisade.v1.IRawEvent {
  return { kind: pb.EventKind.EVENT_KIND_FILE_OPEN, process: { pid, cgroupPath, cgroupId }, fileOpen: { path: '/etc/passwd' } };
}

async function counterValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value ?? 0;
}

interface Out { key: string; batch: palisade.v1.EnrichedEventBatch; at: number }

async function setup(t: TestContext, opts: Partial<EnricherOptions> & { noPods?: boolean } = {}) {
  const bus = new MemoryBus({ partitions: 3 });
  t.after(() => bus.close());
  const pods = new FakePods();
  const metrics = new Metrics();
  const enricher = new Enricher({
    node: NODE, bus, metrics, logger: silentLogger, groupId: 'enricher', pods: opts.noPods ? undefined : pods,
    identify, holdMs: 150, negativeTtlMs: 60_000, ...opts,
  });
  await enricher.start();
  t.after(() => enricher.stop());
  const out: Out[] = [];
  await bus.consume({
    groupId: 'reader', topics: [TOPICS.enriched],
    handler: async (b: IncomingMessage[]) => {
      for (const m of b) out.push({ key: m.key?.toString() ?? '', batch: pb.EnrichedEventBatch.decode(m.value), at: Date.now() });
    },
  });
  let seq = 0;
  const send = async (events: palisade.v1.IRawEvent[], losses: palisade.v1.ILossRecord[] = [], s = ++seq): Promise<number> => {
    await bus.producer().send(TOPICS.raw, [{ key: NODE, value: pb.RawEventBatch.encode({ node: NODE, seq: s, events, losses }).finish() }]);
    return Date.now();
  };
  const events = (): palisade.v1.IEnrichedEvent[] => out.flatMap((o) => o.batch.events);
  const byPid = (pid: number): palisade.v1.IEnrichedEvent | undefined => events().find((e) => e.event?.process?.pid === pid);
  return { bus, pods, metrics, enricher, out, send, events, byPid };
}

test('host events pass as HOST, keyed by node and cgroup', async (t) => {
  const { send, out, byPid, enricher } = await setup(t);
  assert.equal(enricher.state, 'ready');
  await send([ev(1, '/system.slice/sshd.service', 77)]);
  await waitFor('the event', () => out.length >= 1);
  assert.equal(byPid(1)?.status, S.ENRICHMENT_STATUS_HOST);
  assert.equal(byPid(1)?.node, NODE);
  assert.equal(out[0]?.key, `${NODE}/cgroup/77`);
});

test('an event from a known pod is ENRICHED with the pod\'s metadata and keyed by pod uid', async (t) => {
  const { send, out, byPid, pods, metrics } = await setup(t);
  pods.add(pod('uid-a', 'cid-a', 'web-1'));
  await send([ev(1, 'pods/uid-a/cid-a')]);
  await waitFor('the event', () => out.length >= 1);
  const e = byPid(1);
  assert.equal(e?.status, S.ENRICHMENT_STATUS_ENRICHED);
  assert.equal(e?.pod?.name, 'web-1');
  assert.equal(e?.pod?.namespace, 'shop');
  assert.deepEqual(e?.pod?.labels, { app: 'web' });
  assert.equal(e?.pod?.owner?.name, 'web');
  assert.equal(e?.event?.fileOpen?.path, '/etc/passwd', 'the raw event travels unchanged');
  assert.equal(out[0]?.key, 'uid-a');
  assert.equal(await counterValue(metrics, 'palisade_enricher_events_total', { status: 'enriched' }), 1);
});

test('an event from a pod not known yet is held until the directory has it, then ENRICHED', async (t) => {
  const { send, out, byPid, pods, metrics } = await setup(t, { holdMs: 2_000 });
  const sent = await send([ev(1, 'pods/uid-b/cid-b')]);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(out.length, 0, 'an event of an unknown pod was passed on without waiting');
  pods.add(pod('uid-b', 'cid-b', 'late-pod'));
  await waitFor('the held event', () => out.length >= 1);
  assert.ok((out[0]?.at ?? Infinity) - sent < 1_000, 'the held batch did not go as soon as the pod appeared');
  assert.equal(byPid(1)?.status, S.ENRICHMENT_STATUS_ENRICHED);
  assert.equal(byPid(1)?.pod?.name, 'late-pod');
  assert.equal(await counterValue(metrics, 'palisade_enricher_held_batches_total'), 1);
  assert.equal(pods.subscribers, 0, 'the hold unsubscribed');
});

test('a pod that never appears: UNENRICHED after holdMs, counted; later events of it pass straight through', async (t) => {
  const { send, out, byPid, metrics } = await setup(t, { holdMs: 120 });
  const sent = await send([ev(1, 'pods/uid-x/cid-x')]);
  await waitFor('the timed-out event', () => out.length >= 1);
  const waited = (out[0]?.at ?? 0) - sent;
  assert.ok(waited >= 100, `released after ${waited} ms, before holdMs`);
  const e = byPid(1);
  assert.equal(e?.status, S.ENRICHMENT_STATUS_UNENRICHED);
  assert.equal(e?.pod?.containerId, 'cid-x', 'what the cgroup says is kept');
  assert.equal(e?.pod?.uid, 'uid-x');
  assert.equal(out[0]?.key, 'uid-x');
  assert.equal(await counterValue(metrics, 'palisade_enricher_unenriched_total', { reason: 'pod_unknown' }), 1);

  const again = await send([ev(2, 'pods/uid-x/cid-x')]);
  await waitFor('the second event', () => byPid(2) !== undefined);
  assert.ok((out.at(-1)?.at ?? Infinity) - again < 80, 'the negative cache did not let the event through at once');
  assert.equal(byPid(2)?.status, S.ENRICHMENT_STATUS_UNENRICHED);
  assert.equal(await counterValue(metrics, 'palisade_enricher_held_batches_total'), 1);
  assert.equal(await counterValue(metrics, 'palisade_enricher_unenriched_total', { reason: 'pod_unknown' }), 2);
});

test('a held batch keeps its order: per pod, and across the batches behind it', async (t) => {
  const { send, out, pods, events } = await setup(t, { holdMs: 2_000 });
  pods.add(pod('uid-a', 'cid-a'));
  await send([ev(1, 'pods/uid-a/cid-a'), ev(2, 'pods/uid-b/cid-b'), ev(3, 'host', 9), ev(4, 'pods/uid-a/cid-a'), ev(5, 'pods/uid-b/cid-b')]);
  await send([ev(6, 'pods/uid-b/cid-b'), ev(7, 'pods/uid-a/cid-a')]);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(out.length, 0, 'events behind a held one were passed on ahead of it');
  pods.add(pod('uid-b', 'cid-b'));
  await waitFor('all seven', () => events().length >= 7);
  const pidsOf = (key: string): number[] =>
    out.filter((o) => o.key === key).flatMap((o) => o.batch.events.map((e) => e.event?.process?.pid ?? -1));
  assert.deepEqual(pidsOf('uid-a'), [1, 4, 7]);
  assert.deepEqual(pidsOf('uid-b'), [2, 5, 6]);
  assert.deepEqual(pidsOf(`${NODE}/cgroup/9`), [3]);
  assert.ok(events().filter((e) => e.event?.process?.cgroupPath !== 'host').every((e) => e.status === S.ENRICHMENT_STATUS_ENRICHED));
});

test('without a pod directory, container events are UNENRICHED at once with the container id', async (t) => {
  const { send, out, byPid, metrics } = await setup(t, { noPods: true, holdMs: 5_000 });
  const sent = await send([ev(1, 'pods/uid-c/cid-c'), ev(2, 'host')]);
  await waitFor('the events', () => out.length >= 2);
  assert.ok(Date.now() - sent < 1_000, 'events were held with nothing to wait for');
  assert.equal(byPid(1)?.status, S.ENRICHMENT_STATUS_UNENRICHED);
  assert.equal(byPid(1)?.pod?.containerId, 'cid-c');
  assert.equal(byPid(1)?.pod?.runtime, 'containerd');
  assert.equal(byPid(2)?.status, S.ENRICHMENT_STATUS_HOST);
  assert.equal(await counterValue(metrics, 'palisade_enricher_unenriched_total', { reason: 'no_kubernetes_api' }), 1);
});

test('loss records are forwarded on the enriched topic and counted; seq gaps are counted', async (t) => {
  const { send, out, metrics } = await setup(t);
  await send([ev(1, 'host')], [{ source: 'ringbuf_output_failed', count: 42, fromUnixNano: 1e18, toUnixNano: 1.1e18 }], 1);
  await waitFor('events and losses', () => out.length >= 2);
  const lossOut = out.find((o) => o.batch.losses.length > 0);
  assert.equal(lossOut?.key, NODE);
  assert.deepEqual(lossOut?.batch.losses.map((l) => [l.source, Number(l.count)]), [['ringbuf_output_failed', 42]]);
  assert.equal(lossOut?.batch.node, NODE);
  assert.equal(await counterValue(metrics, 'palisade_enricher_upstream_lost_events_total', { source: 'ringbuf_output_failed' }), 42);

  await send([ev(2, 'host')], [], 5); // batches 2..4 never arrived
  await waitFor('the next batch', () => out.length >= 3);
  assert.equal(await counterValue(metrics, 'palisade_enricher_batch_seq_gaps_total', { node: NODE }), 3);
});

test('seq is counted per collector instance: a restart is no gap, its visibility gap travels on', async (t) => {
  const { bus, out, metrics } = await setup(t);
  const raw = (instanceId: string, seq: number, losses: palisade.v1.ILossRecord[] = []) => bus.producer().send(TOPICS.raw,
    [{ key: NODE, value: pb.RawEventBatch.encode({ node: NODE, seq, instanceId, events: [ev(seq, 'host')], losses }).finish() }]);
  await raw('boot:1', 1);
  await raw('boot:1', 2);
  const gap = { source: 'visibility_gap', count: 0, fromUnixNano: 1e18, toUnixNano: 1.000005e18 };
  await raw('boot:2', 1, [gap]); // the collector restarted: seq starts again
  await raw('boot:2', 3); // batch 2 of the new instance was lost
  await waitFor('four batches and the gap', () => out.filter((o) => o.batch.events.length > 0).length >= 4 &&
    out.some((o) => o.batch.losses.some((l) => l.source === 'visibility_gap')));
  assert.equal(await counterValue(metrics, 'palisade_enricher_batch_seq_gaps_total', { node: NODE }), 1);
});

test('a raw record that does not decode goes to the dead-letter topic and the stage keeps going', async (t) => {
  const { bus, send, out, enricher } = await setup(t);
  const dead: IncomingMessage[] = [];
  await bus.consume({ groupId: 'dl', topics: [TOPICS.deadLetter], handler: async (b) => { dead.push(...b); } });
  await bus.producer().send(TOPICS.raw, [{ key: NODE, value: pb.RawEventBatch.encode({ node: '', seq: 1 }).finish() }]);
  await send([ev(1, 'host')]);
  await waitFor('the dead letter and the good batch', () => dead.length >= 1 && out.length >= 1);
  assert.match(pb.DeadLetter.decode(dead[0]?.value ?? Buffer.alloc(0)).reason, /node is empty/);
  assert.equal(enricher.state, 'ready');
});

test('a node speaks only for its own pods: an event naming a pod scheduled elsewhere is counted and dead-lettered', async (t) => {
  const { bus, pods, send, out, metrics, byPid } = await setup(t);
  const dead: IncomingMessage[] = [];
  await bus.consume({ groupId: 'dl', topics: [TOPICS.deadLetter], handler: async (b) => { dead.push(...b); } });
  pods.add(pod('u-here', 'c-here'));
  pods.add({ ...pod('u-there', 'c-there', 'victim'), node: 'node-2' });
  await send([ev(1, 'pods/u-here/c-here'), ev(2, 'pods/u-there/c-there')]);
  await waitFor('the enriched event and the dead letter', () => byPid(1) !== undefined && dead.length >= 1);
  assert.equal(byPid(2), undefined, 'the other node\'s pod never reaches the rules as that pod');
  const letter = pb.DeadLetter.decode(dead[0]!.value);
  assert.match(letter.reason, /pod shop\/victim, which is scheduled on node "node-2"/);
  assert.equal(pb.RawEvent.decode(letter.value).process?.pid, 2, 'the refused event itself is in the dead letter');
  assert.equal(await counterValue(metrics, 'palisade_enricher_node_mismatch_total'), 1);
  assert.ok(out.length >= 1);
});
