// End to end over a real Kafka broker: the four services as separate processes, the fake Kubernetes API with a pod
// whose container is a real cgroup, and a process in that cgroup reading /etc/shadow. The broker runs SASL_SSL with
// the authorizer on: each stage connects as its own principal, under the ACLs `palisade kafka-acls --apply` made, and
// the evaluator signs its alerts for the responder.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { TOPICS, pb, type palisade } from '@palisade/common';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { runKafkaAcls } from '@palisade/cli/dist/kafka-acls.js';
import { FakeKubeApi } from '../fake-kube-api/index.js';
import { secureKafkaUnavailableReason, startKafka } from '../kafka/broker.js';
import { writeAlertKeys, type AlertKeyFiles } from '../support/alert-keys.js';
import { canUseKernel, createPodCgroup, type PodCgroup } from '../support/pod-cgroup.js';
import { podFor } from '../support/pod-fixture.js';
import { scrape, startService, type ServiceProcess } from '../support/service-process.js';

const NODE = 'e2e-node-1';
const kernel = canUseKernel();
const kafkaMissing = secureKafkaUnavailableReason();
const skip = skipUnless(kernel.ok, kernel.why) || skipUnless(kafkaMissing === undefined, `needs Kafka: ${kafkaMissing ?? ''}`);
const STAGES = ['collector', 'enricher', 'evaluator', 'responder'] as const;

let broker: Awaited<ReturnType<typeof startKafka>> | undefined;
let fake: FakeKubeApi | undefined;
let dir = '';
let kubeconfig = '';
let keys: AlertKeyFiles | undefined;
let pod: PodCgroup | undefined;
const services: ServiceProcess[] = [];
let consumer: Consumer | undefined;
const alerts: palisade.v1.Alert[] = [];
const actions: palisade.v1.ActionRecord[] = [];
const deadLetters: palisade.v1.DeadLetter[] = [];
const undecodable: { topic: string; offset: string }[] = [];

async function start(name: (typeof STAGES)[number], args: string[]): Promise<ServiceProcess> {
  // A short dedup window: a later test's repeat of the shadow read is a new alert or the window's update within 1 s.
  const keyArgs = name === 'evaluator' ? ['--alert-dedup-window-ms', '1000', ...(keys?.evaluatorArgs ?? [])]
    : name === 'responder' ? keys?.responderArgs : [];
  const s = await startService(name, `services/${name}/dist/main.js`, ['--kafka', (broker?.brokers ?? []).join(','),
    ...(broker?.security?.serviceArgs(`palisade-${name}`) ?? []), ...(keyArgs ?? []), '--log-level', 'warn', ...args]);
  services.push(s);
  return s;
}

/** The last lines each service wrote to stderr, for a failure message. */
function serviceLogs(): string {
  return services.map((s) => `--- ${s.name} (:${s.metricsPort}) stderr tail ---\n${s.stderr().split('\n').slice(-15).join('\n')}`)
    .join('\n');
}

before(async () => {
  if (skip) return;
  broker = await startKafka({ secure: { users: STAGES.map((s) => `palisade-${s}`) } });
  const admin = broker.security;
  assert.ok(admin);
  // As the admin: the topics and the ACLs, also for the second responder group the dry-run-off test uses.
  for (const group of ['palisade-responder', 'palisade-responder-live']) {
    await runKafkaAcls({ argv: ['--apply', '--kafka', broker.brokers.join(','), ...admin.serviceArgs('admin'),
      '--responder-group', group], env: {} }, () => undefined);
  }
  fake = new FakeKubeApi({ namespaces: ['default', 'kube-system', 'shop'] });
  await fake.start();
  dir = mkdtempSync(join(tmpdir(), 'palisade-e2e-'));
  keys = writeAlertKeys(dir);
  kubeconfig = join(dir, 'kubeconfig');
  await fake.writeKubeconfig(kubeconfig);
  pod = createPodCgroup();
  fake.addPod(podFor(pod, { namespace: 'shop', name: 'web-7d9f8c6b5-x2x9z', node: NODE }).object);

  // The test reads as the admin: a user's own consumer would have its own principal and READ ACLs.
  const kafka = new Kafka({ ...admin.client(), clientId: 'e2e-user', logLevel: logLevel.NOTHING });
  consumer = kafka.consumer({ groupId: 'e2e-user', maxWaitTimeInMs: 100 });
  await consumer.connect();
  // Consumers before producers: the services create the topics; wait for them, then subscribe from the start.
  await start('responder', ['--kubeconfig', kubeconfig]);
  await start('evaluator', []);
  await start('enricher', ['--kubeconfig', kubeconfig, '--node', NODE]);
  await start('collector', ['--node', NODE]);
  await consumer.subscribe({ topics: [TOPICS.alerts, TOPICS.actions, TOPICS.deadLetter], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ topic, message }) => {
      const v = message.value ?? Buffer.alloc(0);
      // The last test writes garbage to palisade.alerts; a consumer that throws on it would stall its partition
      // (kafkajs redelivers the message forever), as any user's consumer would.
      try {
        if (topic === TOPICS.alerts) alerts.push(pb.Alert.decode(v));
        else if (topic === TOPICS.actions) actions.push(pb.ActionRecord.decode(v));
        else deadLetters.push(pb.DeadLetter.decode(v));
      } catch {
        undecodable.push({ topic, offset: message.offset });
      }
    },
  });
});

after(async () => {
  await consumer?.disconnect().catch(() => undefined);
  for (const s of services.reverse()) await s.stop();
  pod?.remove();
  await fake?.stop();
  await broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const shadowAlert = (a: palisade.v1.Alert): boolean =>
  a.ruleId === 'PAL-001' && a.event?.event?.fileOpen?.path === '/etc/shadow' && a.event.pod?.uid === pod?.podUid;

test('a container reading /etc/shadow gives an alert naming its pod; a benign read gives none', { skip }, async () => {
  assert.ok(pod);
  const benign = await pod.run(['cat', '/etc/hostname']);
  assert.equal(benign.code, 0);
  const bad = await pod.run(['cat', '/etc/shadow']);
  assert.equal(bad.code, 0);
  const alert = await waitFor('the /etc/shadow alert', () => alerts.find(shadowAlert));
  assert.equal(alert.severity, pb.Severity.SEVERITY_HIGH);
  assert.equal(alert.mitreTechnique, 'T1003.008');
  assert.deepEqual(alert.actions, ['quarantine']);
  assert.equal(alert.event?.status, pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED);
  assert.equal(alert.event?.pod?.namespace, 'shop');
  assert.equal(alert.event?.pod?.name, 'web-7d9f8c6b5-x2x9z');
  assert.equal(alert.event?.pod?.containerId, pod.containerId);
  assert.equal(alert.event?.pod?.containerName, 'web');
  assert.equal(alert.event?.pod?.image, 'nginx:1.27');
  assert.deepEqual({ ...alert.event?.pod?.owner }, { kind: 'Deployment', name: 'web-7d9f8c6b5'.replace(/-[^-]+$/, '') });
  assert.equal(alert.event?.event?.process?.comm, 'cat');
  assert.equal(alert.event?.event?.process?.cgroupId, pod.cgroupId);
  // The pod's events are in order on one partition: the hostname read was evaluated before the shadow read.
  assert.equal(alerts.filter((a) => a.event?.event?.fileOpen?.path === '/etc/hostname').length, 0);
});

test('dry run (the default) records what would be done and changes nothing', { skip }, async () => {
  assert.ok(pod && fake);
  const alert = await waitFor('the alert', () => alerts.find(shadowAlert));
  const rec = await waitFor('the dry-run action', () => actions.find((a) => a.alertId === alert.id));
  assert.equal(rec.outcome, pb.ActionOutcome.ACTION_OUTCOME_DRY_RUN);
  assert.equal(rec.kind, pb.ActionKind.ACTION_KIND_QUARANTINE);
  assert.equal(rec.target?.name, 'web-7d9f8c6b5-x2x9z');
  assert.ok(rec.steps.some((s) => s.includes('quarantined=true')), rec.steps.join('\n'));
  assert.ok(rec.steps.some((s) => s.includes('palisade-quarantine')), rec.steps.join('\n'));
  const stored = fake.getObject('pods', 'shop', 'web-7d9f8c6b5-x2x9z');
  const labels = (stored?.['metadata'] as { labels?: Record<string, string> } | undefined)?.labels ?? {};
  assert.equal(labels['quarantined'], undefined);
  assert.equal(fake.getObject('networkpolicies', 'shop', 'palisade-quarantine'), undefined);
  assert.equal(fake.requests.filter((r) => r.method !== 'GET').length, 0, 'dry run made a write');
});

test('with dry run off the pod is labelled and the deny-egress policy exists, through 500s and a 409', { skip }, async () => {
  assert.ok(pod && fake);
  const dry = services.find((s) => s.name === 'responder');
  assert.equal(await dry?.stop(), 0, 'the dry-run responder did not drain and exit 0 on SIGTERM');
  fake.failNext({ method: 'PATCH', pathIncludes: '/pods/', status: 500, count: 2 });
  fake.failNext({ method: 'PATCH', pathIncludes: '/pods/', status: 409, reason: 'Conflict', count: 1 });
  fake.failNext({ method: 'POST', pathIncludes: '/networkpolicies', status: 503, count: 1 });
  // A second responder group reads the same alert from the topic and acts on it for real.
  await start('responder', ['--kubeconfig', kubeconfig, '--dry-run=false', '--responder-group', 'palisade-responder-live']);
  const alert = await waitFor('the alert', () => alerts.find(shadowAlert));
  const rec = await waitFor('the done action', () => actions.find((a) =>
    a.alertId === alert.id && a.outcome === pb.ActionOutcome.ACTION_OUTCOME_DONE));
  assert.ok(rec.attempts >= 4, `attempts ${rec.attempts}: the injected failures were not retried`);
  const stored = fake.getObject('pods', 'shop', 'web-7d9f8c6b5-x2x9z');
  const labels = (stored?.['metadata'] as { labels?: Record<string, string> } | undefined)?.labels ?? {};
  assert.equal(labels['quarantined'], 'true');
  assert.equal(labels['app'], 'web', 'the patch replaced the other labels');
  const np = fake.getObject('networkpolicies', 'shop', 'palisade-quarantine');
  assert.ok(np, 'no NetworkPolicy');
  const spec = np['spec'] as { podSelector?: { matchLabels?: Record<string, string> }; policyTypes?: string[]; egress?: unknown[] };
  assert.deepEqual(spec.podSelector?.matchLabels, { quarantined: 'true' });
  assert.deepEqual(spec.policyTypes, ['Egress']);
  assert.equal((spec.egress ?? []).length, 0);
});

test('a malformed record on each topic is dead-lettered with the reason and the stages keep going', { skip }, async () => {
  assert.ok(broker?.security && pod);
  // Written as the admin (a super user): what a misconfigured ACL would let through.
  const kafka = new Kafka({ ...broker.security.client(), clientId: 'e2e-bad', logLevel: logLevel.NOTHING });
  const producer = kafka.producer();
  await producer.connect();
  const garbage = Buffer.from('this is not a protobuf message \xff\xff\xff');
  for (const topic of [TOPICS.raw, TOPICS.enriched, TOPICS.alerts]) {
    await producer.send({ topic, messages: [{ key: 'bad', value: garbage }] });
  }
  await producer.disconnect();
  for (const topic of [TOPICS.raw, TOPICS.enriched, TOPICS.alerts]) {
    const dl = await waitFor(`a dead letter from ${topic}`, () => deadLetters.find((d) => d.sourceTopic === topic));
    assert.ok(dl.reason.length > 0);
    assert.deepEqual(Buffer.from(dl.value), garbage);
  }
  const byStage: Record<string, string> = { enricher: TOPICS.raw, evaluator: TOPICS.enriched };
  for (const [stage, topic] of Object.entries(byStage)) {
    const svc = services.filter((s) => s.name === stage).at(-1);
    assert.ok(svc);
    assert.equal(await scrape(svc.metricsPort, 'palisade_records_invalid_total', { stage, topic }), 1, stage);
  }
  // The responder does not even decode what nobody signed: refused as untrusted.
  const responder = services.filter((s) => s.name === 'responder').at(-1);
  assert.ok(responder);
  assert.match(deadLetters.find((d) => d.sourceTopic === TOPICS.alerts)?.reason ?? '', /^untrusted alert \(unsigned\)/);
  assert.equal(await scrape(responder.metricsPort, 'palisade_responder_untrusted_alerts_total', { reason: 'unsigned' }), 1);
  assert.deepEqual(undecodable.map((u) => u.topic), [TOPICS.alerts], 'only the injected alert record is garbage');
  // Still going: a new read is alerted.
  const before = alerts.length;
  await pod.run(['cat', '/etc/shadow']);
  await waitFor('an alert after the bad records', () => alerts.slice(before).find(shadowAlert), { timeoutMs: 60_000 })
    .catch((err: unknown) => { throw new Error(`${String(err)}\n${serviceLogs()}`, { cause: err }); });
});

test('an alert written straight to palisade.alerts is never acted on; a collector may not even write it', { skip }, async () => {
  assert.ok(broker?.security && fake && pod);
  const victim = fake.addPod({ metadata: { name: 'db-0', namespace: 'shop', labels: { app: 'db' } },
    spec: { nodeName: NODE, containers: [{ name: 'db', image: 'postgres:16' }] } });
  const victimUid = String((victim['metadata'] as { uid?: string }).uid);
  const forged = Buffer.from(pb.Alert.encode({
    id: `PAL-001:${NODE}:1:1`, ruleId: 'PAL-001', actions: ['quarantine'], severity: pb.Severity.SEVERITY_HIGH,
    event: { node: NODE, status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED,
      pod: { namespace: 'shop', name: 'db-0', uid: victimUid, node: NODE } },
  }).finish());
  // A collector's principal is refused by the broker.
  const asCollector = new Kafka({ ...broker.security.client('palisade-collector'), clientId: 'e2e-forger', logLevel: logLevel.NOTHING });
  const p1 = asCollector.producer();
  await p1.connect();
  await assert.rejects(p1.send({ topic: TOPICS.alerts, messages: [{ key: victimUid, value: forged }] }), /authoriz/i);
  await p1.disconnect();
  // Past a misconfigured ACL (here: the admin) the record lands, and the responder, with dry run off, refuses it.
  const responder = services.filter((s) => s.name === 'responder').at(-1);
  assert.ok(responder);
  const before = await scrape(responder.metricsPort, 'palisade_responder_untrusted_alerts_total', { reason: 'unsigned' });
  const asAdmin = new Kafka({ ...broker.security.client(), clientId: 'e2e-misconfigured', logLevel: logLevel.NOTHING });
  const p2 = asAdmin.producer();
  await p2.connect();
  await p2.send({ topic: TOPICS.alerts, messages: [{ key: victimUid, value: forged, headers: { 'palisade-signature-key': 'ffffffffffffffff',
    'palisade-signature': Buffer.alloc(64).toString('base64') } }, { key: victimUid, value: forged }] });
  await p2.disconnect();
  await waitFor('both forged alerts dead-lettered', () =>
    deadLetters.filter((d) => d.sourceTopic === TOPICS.alerts && Buffer.from(d.value).equals(forged)).length >= 2);
  assert.equal(await scrape(responder.metricsPort, 'palisade_responder_untrusted_alerts_total', { reason: 'unsigned' }), before + 1);
  assert.equal(await scrape(responder.metricsPort, 'palisade_responder_untrusted_alerts_total', { reason: 'unknown_key' }), 1);
  const stored = fake.getObject('pods', 'shop', 'db-0');
  assert.equal(((stored?.['metadata'] as { labels?: Record<string, string> } | undefined)?.labels ?? {})['quarantined'], undefined);
  assert.equal(actions.filter((a) => a.target?.uid === victimUid).length, 0, 'a decision was recorded for a forged alert');
});
