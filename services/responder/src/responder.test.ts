// The responder's safety rails over the in-process bus with a scripted quarantiner: what it does, what it refuses,
// and that every decision lands on the actions topic.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import {
  MemoryBus, Metrics, TOPICS, pb, silentLogger, type IncomingMessage, type palisade,
} from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
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
    dedupeWindowMs: 60_000, maxActionsPerMinute: 100, onAction: (r) => decided.push(r), ...opts,
  });
  await responder.start();
  t.after(() => responder.stop());
  const actions: IncomingMessage[] = [];
  await bus.consume({ groupId: 'reader', topics: [TOPICS.actions], handler: async (b) => { actions.push(...b); } });
  const records = (): palisade.v1.ActionRecord[] => actions.map((m) => pb.ActionRecord.decode(m.value));
  /** Sends alerts on one key, in order, and waits for that many decisions. */
  const respond = async (...alerts: palisade.v1.IAlert[]): Promise<palisade.v1.ActionRecord[]> => {
    const before = decided.length;
    await bus.producer().send(TOPICS.alerts, alerts.map((a) => ({ key: 'k', value: pb.Alert.encode(a).finish() })));
    await waitFor(`${alerts.length} decisions`, () => decided.length >= before + alerts.length);
    await waitFor('the action records', () => actions.length >= decided.length);
    return records().slice(before);
  };
  return { bus, calls, setNext: (r: QuarantineResult) => { next = r; }, metrics, responder, actions, records, respond, decided };
}

test('a quarantine is carried out and its record published, keyed by pod uid', async (t) => {
  const { respond, calls, actions, metrics } = await setup(t);
  const a = alert({ uid: 'uid-a' });
  const [r] = await respond(a);
  assert.deepEqual(calls, [{ pod: { namespace: 'shop', name: 'pod-uid-a', uid: 'uid-a' }, dryRun: false }]);
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
  await bus.producer().send(TOPICS.alerts, [{ key: 'k', value: pb.Alert.encode(alert({ actions: ['kill_nothing'] })).finish() }]);
  // An actionable alert behind it on the same partition: once it is decided, the first one was handled.
  const [r] = await respond(alert({ uid: 'uid-b' }));
  assert.equal(r?.target?.uid, 'uid-b');
  assert.equal(actions.length, 1);
  assert.equal(calls.length, 1);
});
