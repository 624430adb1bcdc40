// The chart on a real API server (test/support/kube-cluster.ts): its manifests pass a server-side dry-run apply,
// Pod Security admits what the namespace labels claim, and, applied for real, each stage's ServiceAccount can make
// exactly the calls that stage's code makes. RBAC is shown by running that code (the enricher's PodCache, the
// responder's quarantinePod) with the stage's own token, and by 403s for what it must not do. Pods never run here
// (no kubelet): the API server's admission, validation and authorisation are what is proven.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { KubeConfig } from '@kubernetes/client-node';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { PodCache } from '@palisade/enricher/dist/pod-cache.js';
import { quarantineClients, quarantinePod } from '@palisade/responder/dist/quarantine.js';
import { CHART_DIR, helm, helmUnavailableReason, kubeTool, render, type K8sObject } from '../support/helm.js';
import { kubeUnavailableReason, sharedKubeCluster, uniqueNamespace, type KubeCluster } from '../support/kube-cluster.js';
import { ALL_OPTIONS_VALUES, TLS_SASL_VALUES, nameOf } from './values-fixtures.js';

const why = helmUnavailableReason() ?? kubeUnavailableReason();
const skip = skipUnless(why === undefined, why ?? '');
let kube: KubeCluster | undefined;
let dir = '';

before(async () => {
  if (skip) return;
  kube = await sharedKubeCluster();
  dir = mkdtempSync(join(tmpdir(), 'palisade-chart-'));
});

after(async () => {
  await kube?.stop();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

/** kubectl with the admin's kubeconfig; unlike kube.kubectl, returns stderr (warnings) and the status. */
function kubectl(k: KubeCluster, args: string[], input: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(kubeTool('kubectl'), ['--kubeconfig', k.kubeconfig, ...args], { encoding: 'utf8', input, timeout: 120_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const dryRun = (k: KubeCluster, yaml: string): { status: number; stdout: string; stderr: string } =>
  kubectl(k, ['apply', '--server-side', '--dry-run=server', '--field-manager=helm-test', '-f', '-'], yaml);

const asYaml = (objects: K8sObject[]): string => JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects });

async function tokenKubeconfig(k: KubeCluster, ns: string, sa: string): Promise<{ token: string; kc: KubeConfig }> {
  const token = await k.mintToken(ns, sa);
  const file = join(dir, `${ns}-${sa}.kubeconfig`);
  k.writeTokenKubeconfig(file, token);
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  return { token, kc };
}

async function createPod(k: KubeCluster, ns: string, name: string): Promise<string> {
  await k.mintToken(ns, 'default'); // makes the namespace when missing
  const r = await k.api('POST', `/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, labels: { app: name } },
    spec: { nodeName: 'node-a', containers: [{ name: 'app', image: 'nginx:1.27' }] },
  });
  assert.equal(r.status, 201, JSON.stringify(r.body));
  return (r.body as { metadata: { uid: string } }).metadata.uid;
}

test('the rendered manifests pass a server-side dry-run apply with zero errors: defaults, TLS + SASL, every option on', { skip }, async () => {
  assert.ok(kube);
  for (const values of [{}, TLS_SASL_VALUES, ALL_OPTIONS_VALUES]) {
    const ns = uniqueNamespace('chart');
    const { objects, yaml } = render({ namespace: ns, release: `rel-${ns.slice(-8)}`, values: { ...values, namespace: { create: true } } });
    // A dry run persists nothing, so the namespace the other objects go into must exist first.
    const nsObject = objects.find((o) => o.kind === 'Namespace');
    assert.ok(nsObject);
    kube.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(nsObject));
    const r = dryRun(kube, yaml);
    assert.equal(r.status, 0, `dry-run apply failed:\n${r.stderr}`);
    assert.doesNotMatch(r.stderr, /error/i);
    const applied = r.stdout.trim().split('\n');
    assert.equal(applied.length, objects.length, r.stdout);
    for (const line of applied) assert.match(line, /serverside-applied \(server dry run\)$/);
  }
});

test('Pod Security: the collector is admitted only where enforce is privileged; the other stages pass restricted', { skip }, async () => {
  assert.ok(kube);
  const k = kube;
  const { objects } = render({ namespace: 'ps', values: { namespace: { create: true } } });
  const podOf = (o: K8sObject, ns: string): unknown => {
    const t = (o['spec'] as { template: { metadata: Record<string, unknown>; spec: Record<string, unknown> } }).template;
    return { apiVersion: 'v1', kind: 'Pod', metadata: { ...t.metadata, name: `${o.metadata.name}-x`, namespace: ns },
      spec: { ...t.spec, nodeName: 'node-a' } };
  };
  const level = async (enforce: string): Promise<string> => {
    const ns = uniqueNamespace(`ps-${enforce.slice(0, 4)}`);
    const r = await k.api('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace',
      metadata: { name: ns, labels: { 'pod-security.kubernetes.io/enforce': enforce } } });
    assert.equal(r.status, 201);
    return ns;
  };
  const create = (ns: string, o: K8sObject): Promise<{ status: number; body: unknown }> =>
    k.api('POST', `/api/v1/namespaces/${ns}/pods?dryRun=All`, podOf(o, ns));
  const collector = objects.find((o) => o.kind === 'DaemonSet')!;
  const privileged = await level('privileged');
  assert.equal((await create(privileged, collector)).status, 201);
  const baseline = await level('baseline');
  const refused = await create(baseline, collector);
  assert.equal(refused.status, 403, JSON.stringify(refused.body));
  const message = (refused.body as { message: string }).message;
  assert.match(message, /violates PodSecurity "baseline:latest"/);
  for (const what of [/host namespaces \(hostPID=true\)/, /hostPath volumes/, /non-default capabilities/]) assert.match(message, what);
  assert.doesNotMatch(message, /privileged/, 'the collector is not privileged');
  const restricted = await level('restricted');
  for (const o of objects.filter((x) => x.kind === 'Deployment')) {
    const r = await create(restricted, o);
    assert.equal(r.status, 201, `${o.metadata.name}: ${JSON.stringify(r.body)}`);
  }
  // And the chart's own namespace: enforce privileged, warn restricted; the warning names only the collector.
  const ns = uniqueNamespace('ps-chart');
  const mine = render({ namespace: ns, values: { namespace: { create: true } } }).objects;
  kube.kubectl(['apply', '--server-side', '-f', '-'], JSON.stringify(mine.find((o) => o.kind === 'Namespace')));
  const deployments = dryRun(kube, asYaml(mine.filter((o) => o.kind === 'Deployment')));
  assert.equal(deployments.status, 0, deployments.stderr);
  assert.doesNotMatch(deployments.stderr, /PodSecurity/);
  const daemonSet = dryRun(kube, asYaml(mine.filter((o) => o.kind === 'DaemonSet')));
  assert.equal(daemonSet.status, 0, daemonSet.stderr);
  assert.match(daemonSet.stderr, /would violate PodSecurity "restricted:latest".*hostPID/);
});

test('RBAC with each stage\'s own token: every call the stage makes succeeds, everything else is 403', { skip }, async () => {
  assert.ok(kube);
  const k = kube;
  const ns = uniqueNamespace('palisade');
  const { objects } = render({ namespace: ns, values: { namespace: { create: true } } });
  const applied = kubectl(k, ['apply', '--server-side', '--field-manager=helm-test', '-f', '-'], asYaml(objects));
  assert.equal(applied.status, 0, applied.stderr);

  const workloadNs = uniqueNamespace('shop');
  const podUid = await createPod(k, workloadNs, 'web');

  // The enricher: its real PodCache, with its token, lists pods of every namespace and sees new ones by its watch.
  const enricher = await tokenKubeconfig(k, ns, nameOf('enricher'));
  for (const nodeName of [undefined, 'node-a']) {
    const cache = new PodCache({ kubeConfig: enricher.kc, ...(nodeName !== undefined && { nodeName }) });
    try {
      cache.start();
      await cache.ready();
      assert.ok(cache.lookup(undefined, podUid) !== undefined, 'the list found the pod');
      const later = await createPod(k, workloadNs, `web-${nodeName ?? 'all'}`);
      await waitFor('the watch to deliver the new pod', () => cache.lookup(undefined, later) !== undefined, { timeoutMs: 60_000 });
      assert.equal(cache.errors, 0, cache.lastError);
    } finally {
      await cache.stop();
    }
  }

  // The responder: its real quarantinePod, with its token: read the pod, create the NetworkPolicy, label the pod;
  // then a policy of that name that is not ours, which it replaces.
  const responder = await tokenKubeconfig(k, ns, nameOf('responder'));
  const clients = quarantineClients(responder.kc);
  const first = await quarantinePod(clients, { namespace: workloadNs, name: 'web', uid: podUid, node: 'node-a' });
  assert.equal(first.outcome, 'done', JSON.stringify(first));
  assert.deepEqual(first.steps.map((s) => s.split(' ')[0]), ['GET', 'GET', 'CREATE', 'PATCH']);
  const otherNs = uniqueNamespace('bank');
  const otherUid = await createPod(k, otherNs, 'api');
  const foreign = await k.api('POST', `/apis/networking.k8s.io/v1/namespaces/${otherNs}/networkpolicies`, {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'palisade-quarantine', namespace: otherNs },
    spec: { podSelector: { matchLabels: { app: 'other' } }, policyTypes: ['Ingress'] },
  });
  assert.equal(foreign.status, 201);
  const second = await quarantinePod(clients, { namespace: otherNs, name: 'api', uid: otherUid });
  assert.equal(second.outcome, 'done', JSON.stringify(second));
  assert.ok(second.steps.some((s) => s.startsWith('REPLACE networkpolicies/')), second.steps.join('\n'));
  const labelled = await k.api('GET', `/api/v1/namespaces/${otherNs}/pods/api`);
  assert.equal((labelled.body as { metadata: { labels: Record<string, string> } }).metadata.labels['quarantined'], 'true');

  // What no stage may do. Each call is made with each token; all must be 403 (not 404: authorisation comes first).
  const pod = `/api/v1/namespaces/${workloadNs}/pods/web`;
  const policy = `/apis/networking.k8s.io/v1/namespaces/${workloadNs}/networkpolicies/palisade-quarantine`;
  const forbiddenToAll: [string, string, unknown?, string?][] = [
    ['GET', `/api/v1/namespaces/${ns}/secrets`],
    ['GET', `/api/v1/namespaces/${workloadNs}/secrets`],
    ['GET', '/api/v1/secrets'],
    ['DELETE', `${pod}?gracePeriodSeconds=0`],
    ['POST', `/api/v1/namespaces/${workloadNs}/pods`, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'x' }, spec: { containers: [{ name: 'x', image: 'x' }] } }],
    ['POST', `/api/v1/namespaces/${workloadNs}/pods/web/exec?command=sh&stdout=true`],
    ['POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'pwn' }, rules: [] }],
    ['POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name: 'pwn' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' }, subjects: [{ kind: 'ServiceAccount', name: nameOf('responder'), namespace: ns }] }],
    ['POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'pwn' } }],
    ['DELETE', `/api/v1/namespaces/${workloadNs}`],
    ['PATCH', '/api/v1/nodes/node-a', { metadata: { labels: { pwn: 'true' } } }, 'application/merge-patch+json'],
    ['GET', '/api/v1/nodes'],
    ['GET', `/api/v1/namespaces/${ns}/configmaps`],
    ['DELETE', policy],
    ['GET', '/apis/networking.k8s.io/v1/networkpolicies'],
    ['PATCH', `/apis/apps/v1/namespaces/${ns}/daemonsets/${nameOf('collector')}`, { spec: { template: { spec: { hostNetwork: true } } } }, 'application/merge-patch+json'],
    ['POST', `/api/v1/namespaces/${ns}/serviceaccounts/${nameOf('responder')}/token`, { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} }],
  ];
  const calls = {
    enricher: { allowed: [['GET', '/api/v1/pods'], ['GET', '/api/v1/pods?watch=1&timeoutSeconds=1'],
      ['GET', `/api/v1/namespaces/${workloadNs}/pods`], ['GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-a']],
    forbidden: [['GET', pod], ['PATCH', pod, { metadata: { labels: { a: 'b' } } }, 'application/merge-patch+json'], ['GET', policy]] },
    responder: { allowed: [['GET', pod], ['GET', policy], ['PATCH', pod, { metadata: { labels: { seen: 'yes' } } }, 'application/merge-patch+json']],
      forbidden: [['GET', '/api/v1/pods'], ['GET', `/api/v1/namespaces/${workloadNs}/pods`], ['GET', '/api/v1/pods?watch=1&timeoutSeconds=1']] },
    collector: { allowed: [], forbidden: [['GET', '/api/v1/pods'], ['GET', pod], ['GET', policy], ['PATCH', pod, { metadata: { labels: { a: 'b' } } }, 'application/merge-patch+json']] },
    evaluator: { allowed: [], forbidden: [['GET', '/api/v1/pods'], ['GET', pod], ['GET', policy], ['PATCH', pod, { metadata: { labels: { a: 'b' } } }, 'application/merge-patch+json']] },
  } as Record<string, { allowed: [string, string, unknown?, string?][]; forbidden: [string, string, unknown?, string?][] }>;
  const failures: string[] = [];
  for (const [stage, c] of Object.entries(calls)) {
    const { token } = await tokenKubeconfig(k, ns, `palisade-${stage}`);
    for (const [method, path, body, type] of c.allowed) {
      const r = await k.apiAs(token, method, path, body, type);
      if (r.status !== 200) failures.push(`${stage}: ${method} ${path} = ${r.status}, want 200`);
    }
    for (const [method, path, body, type] of [...c.forbidden, ...forbiddenToAll]) {
      const r = await k.apiAs(token, method, path, body, type);
      if (r.status !== 403) failures.push(`${stage}: ${method} ${path} = ${r.status}, want 403`);
    }
  }
  assert.deepEqual(failures, []);
  // The responder's NetworkPolicy writes, once more as raw calls: create in a fresh namespace, update, never delete.
  const { token } = await tokenKubeconfig(k, ns, nameOf('responder'));
  const fresh = uniqueNamespace('fresh');
  await createPod(k, fresh, 'p');
  const npPath = `/apis/networking.k8s.io/v1/namespaces/${fresh}/networkpolicies`;
  const created = await k.apiAs(token, 'POST', npPath, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
    metadata: { name: 'palisade-quarantine' }, spec: { podSelector: { matchLabels: { quarantined: 'true' } }, policyTypes: ['Egress'] } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const updated = await k.apiAs(token, 'PUT', `${npPath}/palisade-quarantine`, created.body);
  assert.equal(updated.status, 200, JSON.stringify(updated.body));
  assert.equal((await k.apiAs(token, 'DELETE', `${npPath}/palisade-quarantine`)).status, 403);
});

test('helm install as the README does it (labelled namespace, Secrets, TLS + SASL), then helm uninstall', { skip }, async () => {
  assert.ok(kube);
  const ns = uniqueNamespace('readme');
  kube.kubectl(['create', 'namespace', ns]);
  kube.kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=privileged',
    'pod-security.kubernetes.io/warn=restricted', 'pod-security.kubernetes.io/audit=restricted']);
  kube.kubectl(['-n', ns, 'create', 'secret', 'generic', 'palisade-alert-signing', '--from-literal=signing.key=x', '--from-literal=verify.pem=y']);
  kube.kubectl(['-n', ns, 'create', 'secret', 'generic', 'kafka-ca', '--from-literal=ca.crt=x']);
  kube.kubectl(['-n', ns, 'create', 'secret', 'generic', 'palisade-kafka', ...['collector', 'enricher', 'evaluator', 'responder'].map((s) => `--from-literal=${s}=pw`)]);
  const release = `r${ns.slice(-8)}`;
  const install = helm(['install', release, CHART_DIR, '-n', ns, '--kubeconfig', kube.kubeconfig,
    '--set-json', 'kafka.brokers=["kafka-0.kafka:9093"]', '--set', 'kafka.tls.enabled=true', '--set', 'kafka.tls.caSecret=kafka-ca',
    '--set', 'kafka.sasl.enabled=true', '--set', 'kafka.sasl.passwordSecret=palisade-kafka']);
  assert.equal(install.status, 0, install.stderr);
  assert.match(install.stdout, /STATUS: deployed/);
  const ds = await kube.api('GET', `/apis/apps/v1/namespaces/${ns}/daemonsets/${release}-palisade-collector`);
  assert.equal(ds.status, 200);
  const env = (ds.body as { spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } } })
    .spec.template.spec.containers[0]?.env ?? [];
  assert.equal(env.find((e) => e.name === 'PALISADE_KAFKA_SECURITY_PROTOCOL')?.value, 'SASL_SSL');
  const uninstall = helm(['uninstall', release, '-n', ns, '--kubeconfig', kube.kubeconfig]);
  assert.equal(uninstall.status, 0, uninstall.stderr);
  assert.equal((await kube.api('GET', `/apis/rbac.authorization.k8s.io/v1/clusterroles/${release}-palisade-responder`)).status, 404);
});
