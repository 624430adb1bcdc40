// End to end over a real Kafka broker: the four services as separate processes, the real Kubernetes API server (the
// run's shared one) behind the fault proxy with a pod whose container is a real cgroup, and a process in that cgroup
// reading /etc/shadow. The broker runs SASL_SSL with the authorizer on: each stage connects as its own principal,
// under the ACLs `palisade kafka-acls --apply` made, and the evaluator signs its alerts for the responder. The
// enricher and the responder reach the API server as ServiceAccounts of their own, with only the RBAC rules of the
// calls they make (support/stage-rbac.ts), so the scenario proves those rules too.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { TOPICS, pb, type palisade } from '@palisade/common';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { runKafkaAcls } from '@palisade/cli/dist/kafka-acls.js';
import { secureKafkaUnavailableReason, startKafka } from '../kafka/broker.js';
import { writeAlertKeys, type AlertKeyFiles } from '../support/alert-keys.js';
import { kubeUnavailableReason, sharedKubeCluster, uniqueNamespace, type KubeCluster } from '../support/kube-cluster.js';
import { startFaultProxy, type FaultProxy } from '../support/kube-fault-proxy.js';
import { createPod, getPod } from '../support/kube-pods.js';
import { canUseKernel } from '../support/pod-cgroup.js';
import { workloadPodInCgroup, type WorkloadPod } from '../support/pod-fixture.js';
import { scrape, startService, type ServiceProcess } from '../support/service-process.js';
import { stageToken } from '../support/stage-rbac.js';

// A node, a workload namespace and the stages' namespace of this run's own: the API server is shared.
const NODE = uniqueNamespace('e2e-node');
const NS = uniqueNamespace('shop');
const PALISADE_NS = uniqueNamespace('palisade');
const kernel = canUseKernel();
const kafkaMissing = secureKafkaUnavailableReason();
const kubeMissing = kubeUnavailableReason();
const skip = skipUnless(kernel.ok, kernel.why) || skipUnless(kafkaMissing === undefined, `needs Kafka: ${kafkaMissing ?? ''}`) ||
  skipUnless(kubeMissing === undefined, `needs the Kubernetes API server: ${kubeMissing ?? ''}`);
const STAGES = ['collector', 'enricher', 'evaluator', 'responder'] as const;

let broker: Awaited<ReturnType<typeof startKafka>> | undefined;
let kube: KubeCluster | undefined;
let proxy: FaultProxy | undefined;
let dir = '';
let enricherKubeconfig = '';
let responderKubeconfig = '';
const tokens = { enricher: '', responder: '' };
let keys: AlertKeyFiles | undefined;
let pod: WorkloadPod | undefined;
/** The pod's resourceVersion once made: any write to it changes this. */
let podVersion = '';
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
  kube = await sharedKubeCluster();
  proxy = await startFaultProxy(kube);
  dir = mkdtempSync(join(tmpdir(), 'palisade-e2e-'));
  keys = writeAlertKeys(dir);
  tokens.enricher = await stageToken(kube, PALISADE_NS, ['enricher']);
  tokens.responder = await stageToken(kube, PALISADE_NS, ['responder']);
  enricherKubeconfig = join(dir, 'enricher.kubeconfig');
  responderKubeconfig = join(dir, 'responder.kubeconfig');
  proxy.writeKubeconfig(enricherKubeconfig, { token: tokens.enricher });
  proxy.writeKubeconfig(responderKubeconfig, { token: tokens.responder });
  pod = await workloadPodInCgroup(kube, { namespace: NS, deployment: 'web', node: NODE });
  podVersion = (pod.object.metadata as { resourceVersion: string }).resourceVersion;

  // The test reads as the admin: a user's own consumer would have its own principal and READ ACLs.
  const kafka = new Kafka({ ...admin.client(), clientId: 'e2e-user', logLevel: logLevel.NOTHING });
  consumer = kafka.consumer({ groupId: 'e2e-user', maxWaitTimeInMs: 100 });
  await consumer.connect();
  // Consumers before producers: the services create the topics; wait for them, then subscribe from the start.
  await start('responder', ['--kubeconfig', responderKubeconfig]);
  await start('evaluator', []);
  await start('enricher', ['--kubeconfig', enricherKubeconfig, '--node', NODE]);
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
  pod?.cgroup.remove();
  await proxy?.stop();
  await broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const shadowAlert = (a: palisade.v1.Alert): boolean =>
  a.ruleId === 'PAL-001' && a.event?.event?.fileOpen?.path === '/etc/shadow' && a.event.pod?.uid === pod?.uid;

test('a container reading /etc/shadow gives an alert naming its pod; a benign read gives none', { skip }, async () => {
  assert.ok(pod);
  const benign = await pod.cgroup.run(['cat', '/etc/hostname']);
  assert.equal(benign.code, 0);
  const bad = await pod.cgroup.run(['cat', '/etc/shadow']);
  assert.equal(bad.code, 0);
  const alert = await waitFor('the /etc/shadow alert', () => alerts.find(shadowAlert));
  assert.equal(alert.severity, pb.Severity.SEVERITY_HIGH);
  assert.equal(alert.mitreTechnique, 'T1003.008');
  assert.deepEqual(alert.actions, ['quarantine']);
  assert.equal(alert.event?.status, pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED);
  // Every field of the pod as the real server has it: the name, the uid it assigned, the container the status
  // reports, and the workload from the ReplicaSet owner.
  assert.equal(alert.event?.pod?.namespace, NS);
  assert.equal(alert.event?.pod?.name, pod.name);
  assert.equal(alert.event?.pod?.uid, pod.uid);
  assert.equal(alert.event?.pod?.node, NODE);
  assert.equal(alert.event?.pod?.containerId, pod.cgroup.containerId);
  assert.equal(alert.event?.pod?.containerName, 'web');
  assert.equal(alert.event?.pod?.image, 'nginx:1.27');
  assert.deepEqual({ ...alert.event?.pod?.owner }, { kind: 'Deployment', name: 'web' });
  assert.equal(alert.event?.event?.process?.comm, 'cat');
  assert.equal(alert.event?.event?.process?.cgroupId, pod.cgroup.cgroupId);
  // The pod's events are in order on one partition: the hostname read was evaluated before the shadow read.
  assert.equal(alerts.filter((a) => a.event?.event?.fileOpen?.path === '/etc/hostname').length, 0);
});

test('dry run (the default) records what would be done and changes nothing', { skip }, async () => {
  assert.ok(pod && kube && proxy);
  const alert = await waitFor('the alert', () => alerts.find(shadowAlert));
  const rec = await waitFor('the dry-run action', () => actions.find((a) => a.alertId === alert.id));
  assert.equal(rec.outcome, pb.ActionOutcome.ACTION_OUTCOME_DRY_RUN);
  assert.equal(rec.kind, pb.ActionKind.ACTION_KIND_QUARANTINE);
  assert.equal(rec.target?.name, pod.name);
  assert.ok(rec.steps.some((s) => s.includes('quarantined=true')), rec.steps.join('\n'));
  assert.ok(rec.steps.some((s) => s.includes('palisade-quarantine')), rec.steps.join('\n'));
  // The responder did read the pod (the rails check its uid and node), as its ServiceAccount.
  assert.ok(proxy.requests.some((r) => r.method === 'GET' && r.path === `/api/v1/namespaces/${NS}/pods/${pod?.name}` && r.status === 200),
    'the dry-run responder never read the pod');
  // Read back from the server: the pod is as it was made (same resourceVersion: nothing wrote it) and there is no policy.
  const stored = await getPod(kube, NS, pod.name);
  const meta = stored?.['metadata'] as { labels?: Record<string, string>; resourceVersion?: string } | undefined;
  assert.equal(meta?.labels?.['quarantined'], undefined);
  assert.equal(meta?.resourceVersion, podVersion, 'the pod was written in a dry run');
  assert.equal((await kube.api('GET', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/palisade-quarantine`)).status, 404);
  assert.deepEqual(proxy.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`), [], 'dry run made a write');
});

test('each stage\'s ServiceAccount may make its own calls and no others (real 403s)', { skip }, async () => {
  assert.ok(kube && pod);
  const podPath = `/api/v1/namespaces/${NS}/pods/${pod.name}`;
  const patch = { metadata: { labels: { probe: 'x' } } };
  const merge = 'application/merge-patch+json';
  const status = async (token: string, method: string, path: string, body?: unknown, type?: string): Promise<number> =>
    (await kube!.apiAs(token, method, path, body, type)).status;
  // The enricher reads pods everywhere, and writes nothing.
  assert.equal(await status(tokens.enricher, 'GET', '/api/v1/pods?limit=1'), 200);
  assert.equal(await status(tokens.enricher, 'PATCH', podPath, patch, merge), 403);
  assert.equal(await status(tokens.enricher, 'GET', `/api/v1/namespaces/${NS}/secrets`), 403);
  assert.equal(await status(tokens.enricher, 'GET', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/palisade-quarantine`), 403);
  // The responder reads one pod but may not list them, nor delete one, nor read secrets.
  assert.equal(await status(tokens.responder, 'GET', podPath), 200);
  assert.equal(await status(tokens.responder, 'GET', '/api/v1/pods?limit=1'), 403);
  assert.equal(await status(tokens.responder, 'DELETE', podPath), 403);
  assert.equal(await status(tokens.responder, 'GET', `/api/v1/namespaces/${NS}/secrets`), 403);
  assert.equal(await status(tokens.responder, 'DELETE', `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies/palisade-quarantine`), 403);
  // Nothing above was written.
  const meta = (await getPod(kube, NS, pod.name))?.['metadata'] as { resourceVersion?: string } | undefined;
  assert.equal(meta?.resourceVersion, podVersion);
});

test('with dry run off the pod is labelled and the deny-egress policy exists, through 500s, a 409 and a 503', { skip }, async () => {
  assert.ok(pod && kube && proxy);
  const dry = services.find((s) => s.name === 'responder');
  assert.equal(await dry?.stop(), 0, 'the dry-run responder did not drain and exit 0 on SIGTERM');
  const podPath = `/api/v1/namespaces/${NS}/pods/${pod.name}`;
  const policies = `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`;
  proxy.failNext({ method: 'PATCH', pathIncludes: podPath, status: 500, count: 2 });
  proxy.failNext({ method: 'PATCH', pathIncludes: podPath, status: 409, reason: 'Conflict', count: 1 });
  proxy.failNext({ method: 'POST', pathIncludes: policies, status: 503, count: 1 });
  // A second responder group reads the same alert from the topic and acts on it for real.
  await start('responder', ['--kubeconfig', responderKubeconfig, '--dry-run=false', '--responder-group', 'palisade-responder-live']);
  const alert = await waitFor('the alert', () => alerts.find(shadowAlert));
  const rec = await waitFor('the done action', () => actions.find((a) =>
    a.alertId === alert.id && a.outcome === pb.ActionOutcome.ACTION_OUTCOME_DONE));
  assert.ok(rec.attempts >= 4, `attempts ${rec.attempts}: the injected failures were not retried`);
  const injected = proxy.requests.filter((r) => r.injected).map((r) => `${r.method} ${r.status}`);
  assert.deepEqual(injected.sort(), ['PATCH 409', 'PATCH 500', 'PATCH 500', 'POST 503'], 'not every injected fault was met');
  // Every request the server itself answered for the responder's token was allowed: its RBAC covers what it does.
  const denied = proxy.requests.filter((r) => !r.injected && (r.status === 401 || r.status === 403));
  assert.deepEqual(denied.map((r) => `${r.method} ${r.path} ${r.status}`), []);
  // Read back from the real server: the merge patch added the label and kept the others.
  const stored = await getPod(kube, NS, pod.name);
  const labels = (stored?.['metadata'] as { labels?: Record<string, string> } | undefined)?.labels ?? {};
  assert.equal(labels['quarantined'], 'true');
  assert.equal(labels['app'], 'web', 'the patch replaced the other labels');
  assert.equal(labels['pod-template-hash'], '7d9f8c6b5', 'the patch replaced the other labels');
  const got = await kube.api('GET', `${policies}/palisade-quarantine`);
  assert.equal(got.status, 200, `no NetworkPolicy: ${JSON.stringify(got.body)}`);
  const np = got.body as Record<string, unknown>;
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
  await pod.cgroup.run(['cat', '/etc/shadow']);
  await waitFor('an alert after the bad records', () => alerts.slice(before).find(shadowAlert), { timeoutMs: 60_000 })
    .catch((err: unknown) => { throw new Error(`${String(err)}\n${serviceLogs()}`, { cause: err }); });
});

test('an alert written straight to palisade.alerts is never acted on; a collector may not even write it', { skip }, async () => {
  assert.ok(broker?.security && kube && pod);
  const victim = await createPod(kube, { namespace: NS, name: 'db-0', node: NODE, labels: { app: 'db' },
    containers: [{ name: 'db', image: 'postgres:16' }] });
  const victimMeta = victim['metadata'] as { uid: string; resourceVersion: string };
  const victimUid = victimMeta.uid;
  const forged = Buffer.from(pb.Alert.encode({
    id: `PAL-001:${NODE}:1:1`, ruleId: 'PAL-001', actions: ['quarantine'], severity: pb.Severity.SEVERITY_HIGH,
    event: { node: NODE, status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED,
      pod: { namespace: NS, name: 'db-0', uid: victimUid, node: NODE } },
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
  const stored = (await getPod(kube, NS, 'db-0'))?.['metadata'] as { labels?: Record<string, string>; resourceVersion?: string } | undefined;
  assert.equal(stored?.labels?.['quarantined'], undefined);
  assert.equal(stored?.resourceVersion, victimMeta.resourceVersion, 'the victim pod was written');
  assert.equal(actions.filter((a) => a.target?.uid === victimUid).length, 0, 'a decision was recorded for a forged alert');
});
