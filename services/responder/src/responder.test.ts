// The responder's safety rails over the in-process bus with a scripted quarantiner: what it does, what it refuses,
// and that every decision lands on the actions topic; and that it trusts only signed alerts whose pod runs on the
// reporting node (everything else is dead-lettered, never decided).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  AlertSigner, AlertVerifier, MemoryBus, Metrics, TOPICS, ephemeralAlertKeys, pb, silentLogger, type IncomingMessage, type OutgoingMessage,
  type palisade,
} from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { composeResponder } from './compose.js';
import { loadResponderConfig } from './config.js';
import { Responder, type PodTarget, type QuarantineResult, type Quarantiner, type ResponderOptions } from './responder.js';

const O = pb.ActionOutcome;

let alertCount = 0;
function alert(opts: { uid?: string; namespace?: string; enriched?: boolean; actions?: string[] } = {}): palisade.v1.IAlert {
  const uid = opts.uid ?? 'uid-a';
  return {
    id: `PAL-T01:node-1:${++alertCount}`, ruleId: 'PAL-T01', title: 't', severity: pb.Severity.SEVERITY_CRITICAL,
    actions: opts.actions ?? ['quarantine'],
    event: {
      node: 'node-1',
      status: opts.enriched === false ? pb.EnrichmentStatus.ENRICHMENT_STATUS_UNENRICHED : pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED,
      pod: { uid, name: `pod-${uid}`, namespace: opts.namespace ?? 'shop', ...(opts.enriched === false ? { name: '' } : {}) },
      event: { kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, process: { pid: 1 } },
    },
  };
}

/** The evaluator's key in these tests; the responder trusts its public half. */
const keys = ephemeralAlertKeys();

/** An alert record as the evaluator publishes it: signed (by signer, default the trusted key). */
function signed(a: palisade.v1.IAlert, signer: AlertSigner = keys.signer): OutgoingMessage {
  const value = pb.Alert.encode(a).finish();
  return { key: 'k', value, headers: { 'palisade-schema': 'palisade.v1.Alert', ...signer.sign(value) } };
}

async function setup(t: TestContext, opts: Partial<ResponderOptions> & { noQuarantiner?: boolean } = {}) {
  const bus = new MemoryBus({ partitions: 2 });
  t.after(() => bus.close());
  const calls: { pod: PodTarget; dryRun: boolean }[] = [];
  let next: QuarantineResult | undefined;
  const quarantine: Quarantiner = async (pod, dryRun) => {
    calls.push({ pod, dryRun });
    const r = next ?? { outcome: dryRun ? 'dry_run' : 'done', reason: 'ok', steps: [`label ${pod.namespace}/${pod.name}`], attempts: 1 };
    next = undefined;
    return r;
  };
  const metrics = new Metrics();
  const decided: palisade.v1.IActionRecord[] = [];
  const responder = new Responder({
    bus, metrics, logger: silentLogger, groupId: 'responder', dryRun: false, protectedNamespaces: ['kube-system'],
    quarantine: opts.noQuarantiner ? undefined : quarantine,
    describe: (pod) => [`would label ${pod.namespace}/${pod.name}`, 'would ensure deny-egress NetworkPolicy'],
    dedupeWindowMs: 60_000, maxActionsPerMinute: 100, verifier: keys.verifier, onAction: (r) => decided.push(r), ...opts,
  });
  await responder.start();
  t.after(() => responder.stop());
  const actions: IncomingMessage[] = [];
  await bus.consume({ groupId: 'reader', topics: [TOPICS.actions], handler: async (b) => { actions.push(...b); } });
  const records = (): palisade.v1.ActionRecord[] => actions.map((m) => pb.ActionRecord.decode(m.value));
  const deadLetters: palisade.v1.DeadLetter[] = [];
  await bus.consume({ groupId: 'dl-reader', topics: [TOPICS.deadLetter],
    handler: async (b) => { for (const m of b) deadLetters.push(pb.DeadLetter.decode(m.value)); } });
  /** Sends alerts on one key, in order, and waits for that many decisions. */
  const respond = async (...alerts: palisade.v1.IAlert[]): Promise<palisade.v1.ActionRecord[]> => {
    const before = decided.length;
    await bus.producer().send(TOPICS.alerts, alerts.map((a) => signed(a)));
    await waitFor(`${alerts.length} decisions`, () => decided.length >= before + alerts.length);
    await waitFor('the action records', () => actions.length >= decided.length);
    return records().slice(before);
  };
  return { bus, calls, setNext: (r: QuarantineResult) => { next = r; }, metrics, responder, actions, records, respond, decided,
    deadLetters };
}

test('a quarantine is carried out and its record published, keyed by pod uid', async (t) => {
  const { respond, calls, actions, metrics } = await setup(t);
  const a = alert({ uid: 'uid-a' });
  const [r] = await respond(a);
  assert.deepEqual(calls, [{ pod: { namespace: 'shop', name: 'pod-uid-a', uid: 'uid-a', node: 'node-1' }, dryRun: false }]);
  assert.equal(r?.outcome, O.ACTION_OUTCOME_DONE);
  assert.equal(r?.kind, pb.ActionKind.ACTION_KIND_QUARANTINE);
  assert.equal(r?.alertId, a.id);
  assert.equal(r?.id, `${a.id}/quarantine`);
  assert.equal(r?.ruleId, 'PAL-T01');
  assert.equal(r?.target?.uid, 'uid-a');
  assert.deepEqual(r?.steps, ['label shop/pod-uid-a']);
  assert.equal(r?.attempts, 1);
  assert.ok(Number(r?.timeUnixNano) > 0);
  assert.equal(actions[0]?.key?.toString(), 'uid-a');
  assert.equal(actions[0]?.headers['palisade-schema'], 'palisade.v1.ActionRecord');
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'palisade_responder_actions_total');
  assert.equal(m?.values.find((v) => v.labels['outcome'] === 'done')?.value, 1);
});

test('an alert about an event that is not enriched is refused, and the record says so', async (t) => {
  const { respond, calls, actions } = await setup(t);
  const a = alert({ enriched: false });
  const [r] = await respond(a);
  assert.equal(r?.outcome, O.ACTION_OUTCOME_REFUSED);
  assert.match(r?.reason ?? '', /no known pod/);
  assert.equal(calls.length, 0);
  assert.equal(actions[0]?.key?.toString(), 'uid-a');
});

test('a protected namespace is refused without calling the quarantiner', async (t) => {
  const { respond, calls } = await setup(t);
  const [r] = await respond(alert({ namespace: 'kube-system' }));
  assert.equal(r?.outcome, O.ACTION_OUTCOME_REFUSED);
  assert.match(r?.reason ?? '', /namespace kube-system is protected/);
  assert.equal(calls.length, 0);
});

test('one pod is acted on once per dedupe window; other pods are not held back', async (t) => {
  const { respond, calls } = await setup(t, { dedupeWindowMs: 100 });
  const rs = await respond(alert({ uid: 'uid-a' }), alert({ uid: 'uid-a' }), alert({ uid: 'uid-b' }));
  assert.deepEqual(rs.map((r) => r.outcome), [O.ACTION_OUTCOME_DONE, O.ACTION_OUTCOME_REFUSED, O.ACTION_OUTCOME_DONE]);
  assert.match(rs[1]?.reason ?? '', /duplicate: pod shop\/pod-uid-a/);
  assert.deepEqual(calls.map((c) => c.pod.uid), ['uid-a', 'uid-b']);
  await new Promise((r) => setTimeout(r, 120));
  const [again] = await respond(alert({ uid: 'uid-a' }));
  assert.equal(again?.outcome, O.ACTION_OUTCOME_DONE, 'after the window the pod is acted on again');
});

test('a failed quarantine is published as FAILED and does not stop a retry on the next alert', async (t) => {
  const { respond, setNext, calls } = await setup(t);
  setNext({ outcome: 'failed', reason: 'api 500 after 3 attempts', steps: ['label shop/pod-uid-a'], attempts: 3 });
  const [failed, next] = await respond(alert({ uid: 'uid-a' }), alert({ uid: 'uid-a' }));
  assert.equal(failed?.outcome, O.ACTION_OUTCOME_FAILED);
  assert.equal(failed?.reason, 'api 500 after 3 attempts');
  assert.equal(failed?.attempts, 3);
  assert.equal(next?.outcome, O.ACTION_OUTCOME_DONE);
  assert.equal(calls.length, 2);
});

test('at most maxActionsPerMinute writes; the rest are refused', async (t) => {
  const { respond, calls } = await setup(t, { maxActionsPerMinute: 2 });
  const rs = await respond(alert({ uid: 'p1' }), alert({ uid: 'p2' }), alert({ uid: 'p3' }));
  assert.deepEqual(rs.map((r) => r.outcome), [O.ACTION_OUTCOME_DONE, O.ACTION_OUTCOME_DONE, O.ACTION_OUTCOME_REFUSED]);
  assert.match(rs[2]?.reason ?? '', /rate limit: 2 actions per minute/);
  assert.equal(calls.length, 2);
});

test('dry run asks the quarantiner with dryRun=true and is not rate limited', async (t) => {
  const { respond, calls } = await setup(t, { dryRun: true, maxActionsPerMinute: 1 });
  const rs = await respond(alert({ uid: 'p1' }), alert({ uid: 'p2' }));
  assert.deepEqual(rs.map((r) => r.outcome), [O.ACTION_OUTCOME_DRY_RUN, O.ACTION_OUTCOME_DRY_RUN]);
  assert.deepEqual(calls.map((c) => c.dryRun), [true, true]);
});

test('no Kubernetes API: dry run records the described steps; a real run is refused', async (t) => {
  const dry = await setup(t, { noQuarantiner: true, dryRun: true });
  const [r] = await dry.respond(alert({ uid: 'uid-z' }));
  assert.equal(r?.outcome, O.ACTION_OUTCOME_DRY_RUN);
  assert.deepEqual(r?.steps, ['would label shop/pod-uid-z', 'would ensure deny-egress NetworkPolicy']);

  const real = await setup(t, { noQuarantiner: true, dryRun: false });
  const [refused] = await real.respond(alert({ uid: 'uid-z' }));
  assert.equal(refused?.outcome, O.ACTION_OUTCOME_REFUSED);
  assert.match(refused?.reason ?? '', /no Kubernetes API/);
});

test('an alert that recommends no action publishes nothing', async (t) => {
  const { bus, respond, actions, calls } = await setup(t);
  await bus.producer().send(TOPICS.alerts, [signed(alert({ actions: ['kill_nothing'] }))]);
  // An actionable alert behind it on the same partition: once it is decided, the first one was handled.
  const [r] = await respond(alert({ uid: 'uid-b' }));
  assert.equal(r?.target?.uid, 'uid-b');
  assert.equal(actions.length, 1);
  assert.equal(calls.length, 1);
});

test('a dedup update ("suppressed N") is not a new detection: no decision, no record, counted', async (t) => {
  const { bus, respond, actions, calls, metrics } = await setup(t, { dedupeWindowMs: 0 });
  // Its pod was never acted on and the responder's own dedupe is off: acted on as a detection, it would be quarantined.
  const update = { ...alert({ uid: 'uid-u' }), updateOf: 'PAL-T01:node-1:0', suppressed: 41 };
  await bus.producer().send(TOPICS.alerts, [signed(update)]);
  const [r] = await respond(alert({ uid: 'uid-b' }));
  assert.equal(r?.target?.uid, 'uid-b');
  assert.equal(actions.length, 1);
  assert.deepEqual(calls.map((c) => c.pod.uid), ['uid-b']);
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'palisade_responder_alert_updates_total');
  assert.equal(m?.values[0]?.value, 1);
});

// ---- Trust: only signed alerts, only for pods on the reporting node.

async function untrusted(metrics: Metrics, reason: string): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'palisade_responder_untrusted_alerts_total');
  return Number(m?.values.find((v) => v.labels['reason'] === reason)?.value ?? 0);
}

/**
 * Sends the record, then a trusted alert behind it on the same partition: once that one is decided, the first was
 * handled. Returns the dead letter of the first and whether anything but the trusted alert was decided or attempted.
 */
async function refusedOnly(s: Awaited<ReturnType<typeof setup>>, record: OutgoingMessage): Promise<palisade.v1.DeadLetter> {
  const before = { calls: s.calls.length, dl: s.deadLetters.length };
  await s.bus.producer().send(TOPICS.alerts, [record]);
  const uid = `uid-trusted-${++alertCount}`; // a pod of its own each time, so the dedupe window does not refuse it
  const [r] = await s.respond(alert({ uid }));
  assert.equal(r?.target?.uid, uid, 'something else was decided before the trusted alert');
  assert.deepEqual(s.calls.slice(before.calls).map((c) => c.pod.uid), [uid], 'the untrusted alert reached the quarantiner');
  const dl = await waitFor('the dead letter', () => s.deadLetters[before.dl]);
  assert.equal(dl.sourceTopic, TOPICS.alerts);
  assert.deepEqual(Buffer.from(dl.value), Buffer.from(record.value));
  return dl;
}

test('an unsigned alert is dead-lettered and counted, never acted on (dry-run or not)', async (t) => {
  const s = await setup(t);
  const dl = await refusedOnly(s, { key: 'k', value: pb.Alert.encode(alert({ uid: 'uid-victim' })).finish() });
  assert.match(dl.reason, /^untrusted alert \(unsigned\): no palisade-signature/);
  assert.equal(await untrusted(s.metrics, 'unsigned'), 1);
  assert.equal(s.records().filter((r) => r.target?.uid === 'uid-victim').length, 0, 'an action record for the forged alert');
});

test('a forged alert signed with a key the responder does not trust is refused (unknown_key)', async (t) => {
  const s = await setup(t);
  const attacker = ephemeralAlertKeys().signer;
  const dl = await refusedOnly(s, signed(alert({ uid: 'uid-victim' }), attacker));
  assert.match(dl.reason, /untrusted alert \(unknown_key\): signed with key "[0-9a-f]{16}", which is not trusted/);
  assert.equal(await untrusted(s.metrics, 'unknown_key'), 1);
});

test('a signed alert changed in flight is refused (bad_signature): another pod, or replayed as another node\'s', async (t) => {
  const s = await setup(t);
  const genuine = signed(alert({ uid: 'uid-a' }));
  // The same signature over an alert naming another pod.
  const otherPod = pb.Alert.encode({ ...pb.Alert.decode(genuine.value), event: { ...alert({ uid: 'uid-victim' }).event } }).finish();
  let dl = await refusedOnly(s, { ...genuine, value: otherPod });
  assert.match(dl.reason, /untrusted alert \(bad_signature\)/);
  // The genuine alert replayed as if node-2 had reported it (its pod moved there): the node is signed too.
  const a = pb.Alert.decode(genuine.value);
  const replayed = pb.Alert.encode({ ...a, event: { ...a.event, node: 'node-2', pod: { ...a.event?.pod, node: 'node-2' } } }).finish();
  dl = await refusedOnly(s, { ...genuine, value: replayed });
  assert.match(dl.reason, /untrusted alert \(bad_signature\)/);
  // A signature header that is not even base64 of 64 bytes.
  dl = await refusedOnly(s, { ...genuine, headers: { ...genuine.headers, 'palisade-signature': 'AAAA' } });
  assert.match(dl.reason, /bad_signature/);
  assert.equal(await untrusted(s.metrics, 'bad_signature'), 3);
});

test('a signed alert whose pod is on another node than the reporting one is refused (node_mismatch)', async (t) => {
  const s = await setup(t);
  const a = alert({ uid: 'uid-victim' });
  const onOtherNode = { ...a, event: { ...a.event, pod: { ...a.event?.pod, node: 'node-2' } } };
  const dl = await refusedOnly(s, signed(onOtherNode));
  assert.match(dl.reason, /untrusted alert \(node_mismatch\): pod shop\/pod-uid-victim is on node "node-2" in the alert, but node "node-1" reported it/);
  const noNode = { ...a, event: { ...a.event, node: '' } };
  assert.match((await refusedOnly(s, signed(noNode))).reason, /node_mismatch\): the alert names no reporting node/);
  assert.equal(await untrusted(s.metrics, 'node_mismatch'), 2);
});

test('the Kubernetes API says the pod is scheduled elsewhere: dead letter, no action record, no dedupe entry', async (t) => {
  const s = await setup(t);
  const detail = 'pods/shop/pod-uid-a is scheduled on node "node-9", but node "node-1" reported the event';
  s.setNext({ outcome: 'refused', reason: detail, steps: ['GET pods/shop/pod-uid-a'], attempts: 1, nodeMismatch: detail });
  const before = s.decided.length;
  await s.bus.producer().send(TOPICS.alerts, [signed(alert({ uid: 'uid-a' }))]);
  const dl = await waitFor('the dead letter', () => s.deadLetters[0]);
  assert.equal(dl.reason, `untrusted alert (node_mismatch): ${detail}; not acted on`);
  assert.equal(s.decided.length, before, 'a node mismatch was recorded as a decision');
  // The pod was not marked as acted on: a trusted alert for it right after is decided normally.
  const [r] = await s.respond(alert({ uid: 'uid-a' }));
  assert.equal(r?.outcome, O.ACTION_OUTCOME_DONE);
  assert.equal(await untrusted(s.metrics, 'node_mismatch'), 1);
});

test('during a key rotation both trusted keys are accepted', async (t) => {
  const next = ephemeralAlertKeys();
  const s = await setup(t, { verifier: new AlertVerifier([keys.signer.publicKey, next.signer.publicKey]) });
  await s.bus.producer().send(TOPICS.alerts, [signed(alert({ uid: 'uid-new-key' }), next.signer), signed(alert({ uid: 'uid-old-key' }))]);
  await waitFor('both decisions', () => s.decided.length >= 2);
  assert.deepEqual(s.decided.map((d) => [d.target?.uid, d.outcome]),
    [['uid-new-key', O.ACTION_OUTCOME_DONE], ['uid-old-key', O.ACTION_OUTCOME_DONE]]);
  assert.equal(s.deadLetters.length, 0);
});

test('a responder configured without a key to verify alerts with does not start (config error)', () => {
  const shared = { bus: new MemoryBus(), metrics: new Metrics(), logger: silentLogger };
  const none = loadResponderConfig({ argv: [], env: {} });
  assert.throws(() => composeResponder(none, shared), (e: unknown) => (e as { code?: string }).code === 'CONFIG_INVALID' &&
    /the responder needs --alert-verify-keys/.test((e as Error).message));
  const missing = loadResponderConfig({ argv: ['--alert-verify-keys', '/nonexistent/alert.pub'], env: {} });
  assert.throws(() => composeResponder(missing, shared), /alert verification key "\/nonexistent\/alert.pub"/);
});
