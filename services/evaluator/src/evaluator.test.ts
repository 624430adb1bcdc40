// The evaluator over the in-process bus with a scripted engine: enriched batches in, alerts out.
import { join } from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import {
  MemoryBus, Metrics, PalisadeError, TOPICS, ephemeralAlertKeys, pb, silentLogger, type AlertSigner, type IncomingMessage,
  type palisade,
} from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { Evaluator, type AlertEngine } from './evaluator.js';
import { PolicyEngine } from './policy-engine.js';
import { buildPolicies } from './built-policies.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BUILT = { wasmPath: join(ROOT, 'build/policies/policy.wasm'), metadataPath: join(ROOT, 'build/policies/metadata.json') };

/** The skip option: false once the policies are built (a no-op when up to date); without opa, the reason. */

const NODE = 'node-1';

/** Fires PAL-T01 (high) on every open of /etc/shadow. */
class FakeEngine implements AlertEngine {
  calls: palisade.v1.IEnrichedEvent[][] = [];
  throwError: unknown;
  evaluate(events: palisade.v1.IEnrichedEvent[], nowUnixNano: number): palisade.v1.IAlert[] {
    this.calls.push(events);
    if (this.throwError !== undefined) throw this.throwError;
    return events.filter((e) => e.event?.fileOpen?.path === '/etc/shadow').map((e) => ({
      id: `PAL-T01:${e.node}:${e.event?.process?.pid}`, ruleId: 'PAL-T01', title: 'shadow read',
      severity: pb.Severity.SEVERITY_HIGH, actions: ['quarantine'], event: e, timeUnixNano: nowUnixNano,
    }));
  }
}

function enriched(pid: number, path: string, podUid?: string): palisade.v1.IEnrichedEvent {
  return {
    node: NODE,
    status: podUid ? pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED : pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST,
    ...(podUid ? { pod: { uid: podUid, name: `pod-${podUid}`, namespace: 'shop' } } : {}),
    event: {
      kind: pb.EventKind.EVENT_KIND_FILE_OPEN, timeUnixNano: Date.now() * 1e6,
      process: { pid, cgroupId: 1000 + pid }, fileOpen: { path },
    },
  };
}

async function metricValue(metrics: Metrics, name: string, labels: Record<string, string> = {}): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
  return m?.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value ?? 0;
}

async function setup(t: TestContext, signer?: AlertSigner) {
  const bus = new MemoryBus({ partitions: 2 });
  t.after(() => bus.close());
  const engine = new FakeEngine();
  const metrics = new Metrics();
  const seen: palisade.v1.IAlert[] = [];
  const evaluator = new Evaluator({ bus, metrics, logger: silentLogger, groupId: 'evaluator', engine, onAlert: (a) => seen.push(a),
    ...(signer && { signer }) });
  await evaluator.start();
  t.after(() => evaluator.stop());
  const alerts: IncomingMessage[] = [];
  await bus.consume({ groupId: 'reader', topics: [TOPICS.alerts], handler: async (b) => { alerts.push(...b); } });
  const send = (key: string, batch: palisade.v1.IEnrichedEventBatch): Promise<void> =>
    bus.producer().send(TOPICS.enriched, [{ key, value: pb.EnrichedEventBatch.encode(batch).finish() }]);
  return { bus, engine, metrics, seen, evaluator, alerts, send };
}

test('alerts are published keyed by pod uid, with the rule in a header, and handed to onAlert', async (t) => {
  const { send, alerts, seen, engine, metrics, evaluator } = await setup(t);
  assert.equal(evaluator.state, 'ready');
  await send('uid-a', { node: NODE, events: [enriched(1, '/etc/hosts', 'uid-a'), enriched(2, '/etc/shadow', 'uid-a')] });
  await waitFor('the alert', () => alerts.length >= 1);
  assert.equal(engine.calls.flat().length, 2, 'the engine saw every event of the batch');
  assert.equal(alerts.length, 1);
  const a = alerts[0];
  assert.equal(a?.key?.toString(), 'uid-a');
  assert.equal(a?.headers['palisade-rule'], 'PAL-T01');
  assert.equal(a?.headers['palisade-schema'], 'palisade.v1.Alert');
  const decoded = pb.Alert.decode(a?.value ?? Buffer.alloc(0));
  assert.equal(decoded.id, `PAL-T01:${NODE}:2`);
  assert.equal(decoded.event?.pod?.name, 'pod-uid-a');
  assert.equal(decoded.severity, pb.Severity.SEVERITY_HIGH);
  // onAlert runs once the send resolved, which a consumer of the topic may see before it does.
  await waitFor('onAlert', () => seen.length >= 1);
  assert.deepEqual(seen.map((x) => x.id), [`PAL-T01:${NODE}:2`]);
  assert.equal(await metricValue(metrics, 'palisade_evaluator_alerts_total', { rule_id: 'PAL-T01', severity: 'high' }), 1);
  assert.equal(await metricValue(metrics, 'palisade_evaluator_events_total'), 2);
});

test('an alert without a pod is keyed like its enriched record: node and cgroup', async (t) => {
  const { send, alerts } = await setup(t);
  await send(`${NODE}/cgroup/1007`, { node: NODE, events: [enriched(7, '/etc/shadow')] });
  await waitFor('the alert', () => alerts.length >= 1);
  assert.equal(alerts[0]?.key?.toString(), `${NODE}/cgroup/1007`);
});

test('a batch with no match publishes nothing; loss records are counted and never reach the engine', async (t) => {
  const { send, alerts, seen, engine, metrics } = await setup(t);
  // One key, so one partition: the loss record is handled before the event behind it.
  await send(NODE, { node: NODE, events: [], losses: [{ source: 'ringbuf_output_failed', count: 9 }] });
  await send(NODE, { node: NODE, events: [enriched(1, '/etc/hosts', 'uid-a')] });
  await waitFor('the engine to see the event', () => engine.calls.length >= 1);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(await metricValue(metrics, 'palisade_evaluator_upstream_lost_events_total', { source: 'ringbuf_output_failed' }), 9);
  assert.ok(engine.calls.every((c) => c.length > 0), 'the engine was called with no events');
  assert.equal(alerts.length, 0);
  assert.equal(seen.length, 0);
});

test('a record the engine cannot evaluate is isolated by bisecting and dead-lettered; the other 999 are evaluated', async (t) => {
  const bus = new MemoryBus({ partitions: 1, maxBatch: 1000 });
  t.after(() => bus.close());
  const poison = new PoisonEngine(7_537);
  const metrics = new Metrics();
  const dead: palisade.v1.DeadLetter[] = [];
  await bus.consume({ groupId: 'dl', topics: [TOPICS.deadLetter], handler: async (b) => { dead.push(...b.map((m) => pb.DeadLetter.decode(m.value))); } });
  const alerts: IncomingMessage[] = [];
  await bus.consume({ groupId: 'reader', topics: [TOPICS.alerts], handler: async (b) => { alerts.push(...b); } });
  // 1000 records of one event each, all there before the evaluator starts, so they arrive as one batch.
  await bus.producer().send(TOPICS.enriched, Array.from({ length: 1000 }, (_, i) => ({
    key: 'uid-a', value: pb.EnrichedEventBatch.encode({ node: NODE, events: [enriched(7_000 + i, '/etc/shadow', 'uid-a')] }).finish(),
  })));
  const evaluator = new Evaluator({ bus, metrics, logger: silentLogger, groupId: 'evaluator', engine: poison });
  await evaluator.start();
  t.after(() => evaluator.stop());
  await waitFor('999 alerts and one dead letter', () => alerts.length === 999 && dead.length === 1);
  const d = dead[0] as palisade.v1.DeadLetter;
  assert.equal(d.offset, '537');
  assert.equal(d.sourceTopic, TOPICS.enriched);
  assert.equal(d.cause, pb.DeadLetterCause.DEAD_LETTER_CAUSE_UNPROCESSABLE);
  assert.match(d.reason, /POLICY_EVAL_FAILED: wasm trap on pid 7537/);
  const pids = alerts.map((a) => pb.Alert.decode(a.value).event?.event?.process?.pid);
  assert.equal(new Set(pids).size, 999, 'each other record alerted once');
  assert.ok(!pids.includes(7_537));
  assert.equal(evaluator.state, 'ready');
  assert.ok(poison.calls.length <= 21, `${poison.calls.length} engine calls`);
});

/** The FakeEngine's rule, but a wasm trap whenever the batch holds one pid. */
class PoisonEngine extends FakeEngine {
  constructor(private readonly pid: number) { super(); }
  override evaluate(events: palisade.v1.IEnrichedEvent[], nowUnixNano: number): palisade.v1.IAlert[] {
    if (events.some((e) => e.event?.process?.pid === this.pid)) {
      this.calls.push(events);
      throw new PalisadeError('POLICY_EVAL_FAILED', `wasm trap on pid ${this.pid}`);
    }
    return super.evaluate(events, nowUnixNano);
  }
}

describe('with the real rules in OPA wasm', { skip: buildPolicies() }, () => {
  test('an event too large for the wasm memory is dead-lettered; the rest of its batch still alerts', async (t) => {
    // 32 pages (2 MiB) of wasm memory: a 4 MiB argv makes OPA's evaluation fail, as policy-engine.test.ts shows.
    const engine = await PolicyEngine.load({ ...BUILT, maxMemoryPages: 32 });
    const bus = new MemoryBus({ partitions: 1, maxMessageBytes: 16 << 20 });
    t.after(() => bus.close());
    const dead: palisade.v1.DeadLetter[] = [];
    await bus.consume({ groupId: 'dl', topics: [TOPICS.deadLetter], handler: async (b) => { dead.push(...b.map((m) => pb.DeadLetter.decode(m.value))); } });
    const alerts: IncomingMessage[] = [];
    await bus.consume({ groupId: 'reader', topics: [TOPICS.alerts], handler: async (b) => { alerts.push(...b); } });
    const huge = enriched(66, '/etc/shadow', 'uid-b');
    huge.event = { ...huge.event, kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, fileOpen: null,
      exec: { filename: '/bin/sh', argv: ['x'.repeat(4 << 20)] }, process: { pid: 66, cgroupId: 1066, comm: 'sh', parentComm: 'nginx' } };
    const records = [1, 2, 3].map((pid) => ({ node: NODE, events: [enriched(pid, '/etc/shadow', 'uid-a')] }));
    records.splice(1, 0, { node: NODE, events: [huge] });
    await bus.producer().send(TOPICS.enriched, records.map((r) => ({ key: 'k', value: pb.EnrichedEventBatch.encode(r).finish() })));
    const evaluator = new Evaluator({ bus, metrics: new Metrics(), logger: silentLogger, groupId: 'evaluator', engine });
    await evaluator.start();
    t.after(() => evaluator.stop());
    await waitFor('three alerts and one dead letter', () => alerts.length === 3 && dead.length === 1);
    assert.equal(dead[0]?.offset, '1');
    assert.equal(dead[0]?.cause, pb.DeadLetterCause.DEAD_LETTER_CAUSE_UNPROCESSABLE);
    assert.match(dead[0]?.reason ?? '', /POLICY_EVAL_FAILED/);
    assert.deepEqual(alerts.map((a) => pb.Alert.decode(a.value).ruleId), ['PAL-001', 'PAL-001', 'PAL-001']);
    assert.equal(evaluator.state, 'ready');
  });
});

test('with a signing key every alert carries a signature of its value that the responder\'s verifier accepts', async (t) => {
  const keys = ephemeralAlertKeys();
  const { send, alerts } = await setup(t, keys.signer);
  await send('uid-a', { node: NODE, events: [enriched(1, '/etc/shadow', 'uid-a'), enriched(2, '/etc/shadow', 'uid-a')] });
  await waitFor('two alerts', () => alerts.length >= 2);
  for (const a of alerts) {
    assert.equal(a.headers['palisade-signature-key'], keys.signer.keyId);
    assert.deepEqual(keys.verifier.verify(a.value, a.headers), { ok: true, keyId: keys.signer.keyId });
  }
  // Each signature covers its own record: swapped, they do not verify.
  const [x, y] = alerts;
  assert.ok(x && y);
  assert.equal(keys.verifier.verify(x.value, y.headers).ok, false);
});

test('without a signing key alerts go out unsigned', async (t) => {
  const { send, alerts } = await setup(t);
  await send('uid-a', { node: NODE, events: [enriched(1, '/etc/shadow', 'uid-a')] });
  await waitFor('the alert', () => alerts.length >= 1);
  assert.equal(alerts[0]?.headers['palisade-signature'], undefined);
});

// ---- Dedup: repeats within the window are a count on the first alert, published at the window's end.

async function dedupSetup(t: TestContext, dedup: { windowMs: number; maxKeys: number }) {
  const bus = new MemoryBus({ partitions: 2, maxBatch: 1000 });
  t.after(() => bus.close());
  const metrics = new Metrics();
  const evaluator = new Evaluator({ bus, metrics, logger: silentLogger, groupId: 'evaluator', engine: new FakeEngine(), dedup });
  await evaluator.start();
  t.after(() => evaluator.stop());
  const alerts: palisade.v1.Alert[] = [];
  await bus.consume({ groupId: 'reader', topics: [TOPICS.alerts],
    handler: async (b) => { for (const m of b) alerts.push(pb.Alert.decode(m.value)); } });
  /** n shadow reads in pod `uid`, pids from pid0, in one record (one batch: one evaluator decision time). */
  const fire = (uid: string, n: number, pid0 = 1): Promise<void> => bus.producer().send(TOPICS.enriched, [{
    key: uid, value: pb.EnrichedEventBatch.encode({ node: NODE, events: Array.from({ length: n }, (_, i) => enriched(pid0 + i, '/etc/shadow', uid)) }).finish(),
  }]);
  return { evaluator, metrics, alerts, fire };
}

describe('alert dedup', () => {
  test('1000 identical firings: one alert at once, and one update with suppressed 999 at the window\'s end', async (t) => {
    const { alerts, fire, metrics } = await dedupSetup(t, { windowMs: 500, maxKeys: 100 });
    await fire('uid-a', 1000);
    await waitFor('the update', () => alerts.length >= 2);
    const [first, update] = alerts;
    assert.equal(first?.updateOf, '');
    assert.equal(first?.id, `PAL-T01:${NODE}:1`);
    assert.equal(first?.dedupKey, 'PAL-T01|uid-a||/etc/shadow');
    assert.equal(update?.updateOf, first?.id);
    assert.equal(Number(update?.suppressed), 999);
    assert.equal(update?.event?.event?.process?.pid, 1000);
    assert.match(update?.message ?? '', /^suppressed 999: /);
    assert.equal(await metricValue(metrics, 'palisade_evaluator_alerts_suppressed_total', { rule_id: 'PAL-T01' }), 999);
    assert.equal(await metricValue(metrics, 'palisade_evaluator_alert_updates_total', { reason: 'window_end' }), 1);
    assert.equal(await metricValue(metrics, 'palisade_evaluator_alerts_total', { rule_id: 'PAL-T01' }), 1);
    await waitFor('the window closed', async () => (await metricValue(metrics, 'palisade_evaluator_dedup_windows')) === 0);
    assert.equal(alerts.length, 2);
  });

  test('two pods: two alerts, and an update each', async (t) => {
    const { alerts, fire } = await dedupSetup(t, { windowMs: 300, maxKeys: 100 });
    await fire('uid-a', 3);
    await fire('uid-b', 5, 100);
    await waitFor('both updates', () => alerts.filter((a) => a.updateOf !== '').length >= 2);
    const firsts = alerts.filter((a) => a.updateOf === '').map((a) => a.event?.pod?.uid).sort();
    assert.deepEqual(firsts, ['uid-a', 'uid-b']);
    const counts = alerts.filter((a) => a.updateOf !== '').map((a) => [a.event?.pod?.uid, Number(a.suppressed)]).sort();
    assert.deepEqual(counts, [['uid-a', 2], ['uid-b', 4]]);
  });

  test('bounded state: beyond maxKeys the oldest window is closed early with its count', async (t) => {
    const { alerts, fire, metrics } = await dedupSetup(t, { windowMs: 600_000, maxKeys: 2 });
    await fire('uid-a', 10);
    await fire('uid-b', 1, 100);
    await waitFor('two alerts', () => alerts.length >= 2);
    assert.equal(await metricValue(metrics, 'palisade_evaluator_dedup_windows'), 2);
    await fire('uid-c', 1, 200);
    await waitFor('the early update and the third alert', () => alerts.length >= 4);
    const [, , update, third] = alerts;
    assert.equal(update?.event?.pod?.uid, 'uid-a');
    assert.equal(Number(update?.suppressed), 9);
    assert.equal(third?.event?.pod?.uid, 'uid-c');
    assert.equal(await metricValue(metrics, 'palisade_evaluator_alert_updates_total', { reason: 'overflow' }), 1);
    assert.equal(await metricValue(metrics, 'palisade_evaluator_dedup_windows'), 2);
  });

  test('open windows are published when the evaluator stops (flush on close)', async (t) => {
    const { alerts, fire, evaluator, metrics } = await dedupSetup(t, { windowMs: 600_000, maxKeys: 100 });
    await fire('uid-a', 5);
    await waitFor('the first alert', () => alerts.length >= 1);
    await waitFor('all five counted', async () => (await metricValue(metrics, 'palisade_evaluator_alerts_suppressed_total', { rule_id: 'PAL-T01' })) === 4);
    assert.equal(alerts.length, 1);
    await evaluator.stop();
    await waitFor('the update', () => alerts.length >= 2);
    assert.equal(alerts[1]?.updateOf, alerts[0]?.id);
    assert.equal(Number(alerts[1]?.suppressed), 4);
    assert.equal(await metricValue(metrics, 'palisade_evaluator_alert_updates_total', { reason: 'shutdown' }), 1);
  });

  test('window 0: every firing is published', async (t) => {
    const { alerts, fire } = await dedupSetup(t, { windowMs: 0, maxKeys: 100 });
    await fire('uid-a', 20);
    await waitFor('20 alerts', () => alerts.length >= 20);
    assert.ok(alerts.every((a) => a.updateOf === '' && a.dedupKey === ''));
  });
});

test('/readyz detail names the active policy (its bundle revision) and the open dedup windows', async (t) => {
  const bus = new MemoryBus({ partitions: 1 });
  t.after(() => bus.close());
  const engine = Object.assign(new FakeEngine(), { detail: () => ({ revision: 'r9', source: '/b.tar.gz' }) });
  const evaluator = new Evaluator({ bus, metrics: new Metrics(), logger: silentLogger, groupId: 'e', engine,
    dedup: { windowMs: 60_000, maxKeys: 10 } });
  await evaluator.start();
  t.after(() => evaluator.stop());
  const d = evaluator.detail() as { policy?: { revision: string }; dedupWindows?: number; lag?: number };
  assert.equal(d.policy?.revision, 'r9');
  assert.equal(d.dedupWindows, 0);
  assert.equal(typeof d.lag, 'number');
});

test('dedup: a first alert whose send failed is published when its batch comes again, not counted as a repeat', async (t) => {
  let failures = 2;
  class FlakyBus extends MemoryBus {
    override producer() {
      const inner = super.producer();
      return {
        send: async (topic: string, messages: Parameters<typeof inner.send>[1]) => {
          if (topic === TOPICS.alerts && failures > 0) {
            failures--;
            throw new PalisadeError('BUS_SEND_FAILED', 'broker away', { retriable: true });
          }
          await inner.send(topic, messages);
        },
      };
    }
  }
  const bus = new FlakyBus({ partitions: 1, maxBatch: 1000 });
  t.after(() => bus.close());
  const evaluator = new Evaluator({ bus, metrics: new Metrics(), logger: silentLogger, groupId: 'evaluator', engine: new FakeEngine(),
    dedup: { windowMs: 600_000, maxKeys: 100 } });
  await evaluator.start();
  t.after(() => evaluator.stop());
  const alerts: palisade.v1.Alert[] = [];
  await bus.consume({ groupId: 'reader', topics: [TOPICS.alerts], handler: async (b) => { for (const m of b) alerts.push(pb.Alert.decode(m.value)); } });
  await bus.producer().send(TOPICS.enriched, [{ key: 'uid-a', value: pb.EnrichedEventBatch.encode({ node: NODE,
    events: [1, 2, 3].map((pid) => enriched(pid, '/etc/shadow', 'uid-a')) }).finish() }]);
  await waitFor('the first alert, after two failed sends', () => alerts.length >= 1);
  assert.equal(failures, 0);
  assert.equal(alerts[0]?.updateOf, '');
  assert.equal(alerts[0]?.id, `PAL-T01:${NODE}:1`);
  await evaluator.stop();
  await waitFor('the update', () => alerts.length >= 2);
  assert.equal(Number(alerts[1]?.suppressed), 2, 'the redelivered repeats are counted once');
});
