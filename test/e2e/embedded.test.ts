// The same scenario through `npm start`: the whole pipeline in one process on the in-process bus, alerts on
// stdout as JSON lines, the real Kubernetes API server (the run's shared one) as the cluster, reached through the
// fault proxy (unarmed here: it records the requests) as a ServiceAccount with the enricher's and responder's rules.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { kubeUnavailableReason, sharedKubeCluster, uniqueNamespace, type KubeCluster } from '../support/kube-cluster.js';
import { startFaultProxy, type FaultProxy } from '../support/kube-fault-proxy.js';
import { getPod } from '../support/kube-pods.js';
import { canUseKernel, createPodCgroup, type PodCgroup } from '../support/pod-cgroup.js';
import { workloadPodInCgroup } from '../support/pod-fixture.js';
import { scrape, startService, type ServiceProcess } from '../support/service-process.js';
import { stageToken } from '../support/stage-rbac.js';

const kernel = canUseKernel();
const skip = skipUnless(kernel.ok, kernel.why);
const kubeMissing = kubeUnavailableReason();
const skipKube = skip || skipUnless(kubeMissing === undefined, `needs the Kubernetes API server: ${kubeMissing ?? ''}`);
const NODE = uniqueNamespace('embedded-node');

interface AlertJson {
  ruleId?: string;
  severity?: string;
  event?: { status?: string; pod?: { name?: string; namespace?: string; uid?: string; containerId?: string };
    event?: { kind?: string; fileOpen?: { path?: string; requestedPath?: string } } };
}

let kube: KubeCluster | undefined;
let proxy: FaultProxy | undefined;
let dir = '';
const pods: PodCgroup[] = [];
const running: ServiceProcess[] = [];

function alertsOf(p: ServiceProcess): AlertJson[] {
  const out: AlertJson[] = [];
  for (const line of p.stdoutLines) {
    if (!line.startsWith('{')) continue; // npm's own banner, if any
    out.push(JSON.parse(line) as AlertJson);
  }
  return out;
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'palisade-embedded-'));
  if (skipKube) return;
  kube = await sharedKubeCluster();
  proxy = await startFaultProxy(kube);
  // One process runs both stages, so one ServiceAccount holds both stages' rules.
  proxy.writeKubeconfig(join(dir, 'kubeconfig'), { token: await stageToken(kube, uniqueNamespace('palisade'), ['enricher', 'responder']) });
});

after(async () => {
  for (const p of running) await p.stop();
  for (const p of pods) p.remove();
  await proxy?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('npm start: /etc/shadow read in a pod → alert on stdout within a second, pod quarantined', { skip: skipKube }, async () => {
  assert.ok(kube && proxy);
  const ns = uniqueNamespace('shop');
  const wp = await workloadPodInCgroup(kube, { namespace: ns, deployment: 'api', hash: '5f6d7c8b9', node: NODE });
  const pod = wp.cgroup;
  pods.push(pod);
  // The node the pod is scheduled on: the enricher accepts a node's events only for its own pods.
  const p = await startService('embedded', '', ['--kubeconfig', join(dir, 'kubeconfig'), '--dry-run=false',
    '--node', NODE, '--log-level', 'info'], { command: ['npm', '--silent', 'start', '--'] });
  running.push(p);
  await pod.run(['cat', '/etc/hostname']);
  await pod.run(['cat', '/etc/shadow']);
  await waitFor('the alert line', () => alertsOf(p).find((a) => a.event?.pod?.uid === wp.uid && a.ruleId === 'PAL-001'));
  const mine = alertsOf(p).filter((a) => a.event?.pod?.uid === wp.uid);
  assert.equal(mine.length, 1, JSON.stringify(mine));
  const alert = mine[0];
  assert.equal(alert?.severity, 'SEVERITY_HIGH');
  assert.equal(alert?.event?.status, 'ENRICHMENT_STATUS_ENRICHED');
  assert.equal(alert?.event?.pod?.name, wp.name);
  assert.equal(alert?.event?.pod?.namespace, ns);
  assert.equal(alert?.event?.event?.fileOpen?.path, '/etc/shadow');
  // The action is counted once both writes are made: the NetworkPolicy first, then the label, so a labelled pod
  // never exists without the policy that isolates it.
  await waitFor('the quarantine to be counted done',
    async () => (await scrape(p.metricsPort, 'palisade_responder_actions_total', { outcome: 'done' })) >= 1, { intervalMs: 100 });
  // Read back from the real server.
  const stored = await getPod(kube, ns, wp.name);
  const labels = (stored?.['metadata'] as { labels?: Record<string, string> } | undefined)?.labels ?? {};
  assert.equal(labels['quarantined'], 'true');
  assert.equal(labels['app'], 'api');
  assert.equal((await kube.api('GET', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/palisade-quarantine`)).status, 200);
  // The order the server stored them in, from the requests it answered 2xx.
  const writes = proxy.requests.filter((r) => r.method !== 'GET' && r.status >= 200 && r.status < 300)
    .map((r) => `${r.method} ${r.path}`);
  const policyAt = writes.findIndex((w) => w.startsWith('POST') && w.includes('/networkpolicies'));
  const labelAt = writes.findIndex((w) => w.startsWith('PATCH') && w.includes('/pods/'));
  assert.ok(policyAt >= 0 && labelAt > policyAt, `the policy is written before the label: ${writes.join(', ')}`);
  assert.equal(await scrape(p.metricsPort, 'palisade_responder_actions_total', { outcome: 'done' }), 1);
  // npm re-raises the signal it forwarded, so judge the pipeline by its own last word: a clean drain.
  await p.stop();
  assert.match(p.stderr(), /"msg":"stopped"/, 'the pipeline did not drain and stop cleanly on SIGTERM');
});

test('without a Kubernetes API the alert still names the container, from the cgroup name', { skip }, async () => {
  const pod = createPodCgroup();
  pods.push(pod);
  const p = await startService('embedded', 'services/palisade/dist/main.js', ['embedded', '--log-level', 'warn']);
  running.push(p);
  await pod.run(['cat', '/etc/shadow']);
  const alert = await waitFor('the alert line', () => alertsOf(p).find((a) => a.event?.pod?.containerId === pod.containerId));
  assert.equal(alert.ruleId, 'PAL-001');
  assert.equal(alert.event?.status, 'ENRICHMENT_STATUS_UNENRICHED');
  assert.equal(alert.event?.pod?.uid, pod.podUid);
  // The responder reads the alert from the bus after it is printed: wait for its decision.
  await waitFor('the refused action to be counted',
    async () => (await scrape(p.metricsPort, 'palisade_responder_actions_total', { outcome: 'refused' })) >= 1, { intervalMs: 100 });
  assert.equal(await scrape(p.metricsPort, 'palisade_responder_actions_total', { outcome: 'refused' }), 1);
  assert.equal(await p.stop(), 0);
});

test('".." out of the default policy\'s Drop prefix: PAL-001 alerts on the resolved /etc/shadow', { skip }, async () => {
  const pod = createPodCgroup();
  pods.push(pod);
  const p = await startService('embedded', 'services/palisade/dist/main.js', ['embedded', '--log-level', 'warn']);
  running.push(p);
  // As passed, the path starts with /sys/fs/cgroup/, which the default TracingPolicy drops in the kernel.
  const spelled = '/sys/fs/cgroup/../../../etc/shadow';
  await pod.run(['cat', spelled]);
  const alert = await waitFor('the alert line', () => alertsOf(p).find((a) => a.event?.pod?.containerId === pod.containerId));
  assert.equal(alert.ruleId, 'PAL-001');
  assert.equal(alert.event?.event?.fileOpen?.path, '/etc/shadow');
  assert.equal(alert.event?.event?.fileOpen?.requestedPath, spelled);
  assert.equal(await p.stop(), 0);
});
