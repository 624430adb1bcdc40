// The enricher's PodCache (services/enricher/src/pod-cache.ts) through the real @kubernetes/client-node against the
// real API server (test/support/kube-cluster.ts), with the fault proxy in between for the failures, and as the
// enricher's ServiceAccount: a ClusterRole with list and watch on pods and nothing else. It lives here rather than
// next to pod-cache.ts because the harness is in this workspace, which builds after the services.
//
// Each test has its own namespace and its own node name, and its cache watches only that node (fieldSelector
// spec.nodeName, as the enricher does with PALISADE_ENRICHER_NODE_ONLY): the shared server holds every other
// test's pods, and this keeps each cache's size exact. The forced-410 test runs the whole-cluster watch (the
// default) on a private server of its own.
import { before, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { PodCache, type PodCacheOptions, type PodIndexedEvent } from '@palisade/enricher/dist/pod-cache.js';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { kubeUnavailableReason, sharedKubeCluster, startKubeCluster, uniqueNamespace, type KubeCluster } from '../support/kube-cluster.js';
import { startFaultProxy, type FaultProxy, type RequestRecord } from '../support/kube-fault-proxy.js';
import { createPod, deletePod, deploymentPod, ensureNamespace, getPod, setPodStatus, type JsonObject } from '../support/kube-pods.js';

const why = kubeUnavailableReason();
const skip = skipUnless(why === undefined, why ?? '');
const hex = (c: string): string => c.repeat(64);
const RUNNING = { running: { startedAt: '2026-01-01T00:00:00Z' } };

let kube: KubeCluster;
let token: string;

/** A ServiceAccount token with exactly what the pod cache calls: list and watch on pods, cluster-wide. */
async function enricherToken(cluster: KubeCluster): Promise<string> {
  const ns = uniqueNamespace('enr-sa');
  const name = `palisade-enricher-${ns}`;
  const minted = await cluster.mintToken(ns, 'enricher');
  const role = await cluster.api('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name },
    rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['list', 'watch'] }],
  });
  assert.equal(role.status, 201, JSON.stringify(role.body));
  const binding = await cluster.api('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name },
    subjects: [{ kind: 'ServiceAccount', name: 'enricher', namespace: ns }],
  });
  assert.equal(binding.status, 201, JSON.stringify(binding.body));
  // The authorizer learns of the binding through its own watch: wait until it does, so no test starts on a 403.
  await waitFor('the enricher binding to take effect', async () =>
    (await cluster.apiAs(minted, 'GET', '/api/v1/pods?limit=1')).status === 200, { timeoutMs: 60_000 });
  return minted;
}

before(async () => {
  if (skip) return;
  kube = await sharedKubeCluster();
  token = await enricherToken(kube);
});

interface Setup {
  proxy: FaultProxy;
  cache: PodCache;
  indexed: PodIndexedEvent[];
  ns: string;
  node: string;
}

async function setup(
  t: TestContext,
  opts: { cluster?: KubeCluster; token?: string; wholeCluster?: boolean; cache?: Partial<PodCacheOptions> } = {},
): Promise<Setup> {
  const cluster = opts.cluster ?? kube;
  const proxy = await startFaultProxy(cluster);
  const dir = await mkdtemp(join(tmpdir(), 'pod-cache-'));
  proxy.writeKubeconfig(join(dir, 'kubeconfig'), { token: opts.token ?? token });
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(join(dir, 'kubeconfig'));
  const ns = uniqueNamespace('enr');
  await ensureNamespace(cluster, ns);
  const node = `node-${ns}`;
  const cache = new PodCache({
    kubeConfig, backoff: { initialMs: 5, maxMs: 20 }, deletedRetentionMs: 0,
    ...(opts.wholeCluster !== true && { nodeName: node }), ...opts.cache,
  });
  const indexed: PodIndexedEvent[] = [];
  cache.onPodAdded((e) => indexed.push(e));
  t.after(async () => {
    await cache.stop();
    await proxy.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { proxy, cache, indexed, ns, node };
}

const meta = (pod: JsonObject | undefined): { uid: string; resourceVersion: string } =>
  (pod?.['metadata'] ?? {}) as { uid: string; resourceVersion: string };
const watches = (proxy: FaultProxy): RequestRecord[] => proxy.requests.filter((r) => r.watch);
const lists = (proxy: FaultProxy): RequestRecord[] => proxy.requests.filter((r) => !r.watch && r.path === '/api/v1/pods');

/** A container status as a kubelet reports it; `previous` is the instance a restart replaced. */
function status(name: string, image: string, id: string, previous?: string): JsonObject {
  return {
    name, image, imageID: '', ready: true, started: true, restartCount: previous === undefined ? 0 : 1, containerID: id, state: RUNNING,
    ...(previous !== undefined && { lastState: { terminated: { exitCode: 1, reason: 'Error', containerID: previous } } }),
  };
}

test('ready after the first list; pods resolve by container id and by uid', { skip }, async (t) => {
  const { cache, ns, node } = await setup(t);
  const name = 'web-7d9c5b7f4-x2x9z';
  // createPod has no init containers: this pod is made by hand, as the API server would get it from a ReplicaSet.
  const created = await kube.api('POST', `/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns, ...deploymentPod('web', '7d9c5b7f4') },
    spec: {
      nodeName: node,
      initContainers: [{ name: 'setup', image: 'busybox:1.36' }],
      containers: [{ name: 'app', image: 'nginx:1.27' }, { name: 'sidecar', image: 'envoy:1.30' }],
    },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  // The runtime reports the image it resolved; the cache keeps the image as the spec names it.
  await setPodStatus(kube, ns, name, {
    phase: 'Running',
    initContainerStatuses: [{ ...status('setup', 'docker.io/library/busybox:1.36', `containerd://${hex('c')}`), ready: false, started: false,
      state: { terminated: { exitCode: 0, reason: 'Completed', containerID: `containerd://${hex('c')}` } } }],
    containerStatuses: [
      status('app', 'docker.io/library/nginx:1.27', `containerd://${hex('a')}`),
      status('sidecar', 'docker.io/library/envoy:1.30', `containerd://${hex('b')}`),
    ],
  });
  const uid = meta(created.body as JsonObject).uid;
  cache.start();
  await cache.ready();
  assert.equal(cache.size, 1);
  assert.deepEqual(cache.lookup(hex('b')), {
    namespace: ns,
    name,
    uid,
    labels: { app: 'web', 'pod-template-hash': '7d9c5b7f4' },
    owner: { kind: 'Deployment', name: 'web' },
    node,
    containerId: hex('b'),
    containerName: 'sidecar',
    image: 'envoy:1.30',
    runtime: 'containerd',
  });
  assert.equal(cache.lookup(`containerd://${hex('c')}`)?.containerName, 'setup', 'init containers, prefixed ids');
  const byUid = cache.lookup(undefined, uid);
  assert.equal(byUid?.name, name);
  assert.equal(byUid?.containerId, undefined);
  assert.equal(cache.lookup(hex('f'), uid)?.containerId, undefined, 'unknown container falls back to the pod');
  assert.equal(cache.lookup(hex('f')), undefined);
  assert.equal(cache.lookup(), undefined);
  assert.equal(cache.resyncs, 0);
  assert.equal(cache.errors, 0);
});

test('the watch sees pods added, gaining containers, restarted (a new container id) and deleted', { skip }, async (t) => {
  const { cache, indexed, ns, node } = await setup(t);
  cache.start();
  await cache.ready();
  assert.equal(cache.size, 0);

  // Created, then the status a kubelet reports before the container runs: no container id yet.
  const created = await createPod(kube, { namespace: ns, name: 'job-1', node, containers: [{ name: 'main', image: 'alpine:3' }] });
  const uid = meta(created).uid;
  await waitFor('ADDED', () => cache.lookup(undefined, uid) !== undefined);
  assert.deepEqual(indexed, [{ podUid: uid, containerIds: [] }]);

  await setPodStatus(kube, ns, 'job-1', { containerStatuses: [status('main', 'alpine:3', `cri-o://${hex('d')}`)] });
  await waitFor('MODIFIED', () => cache.lookup(hex('d')) !== undefined);
  assert.equal(cache.lookup(hex('d'))?.runtime, 'cri-o');
  assert.deepEqual(indexed.at(-1), { podUid: uid, containerIds: [hex('d')] });

  // A restart: the new instance resolves, and so does the old one (its exit event may still be in flight), both
  // to the same pod and container name.
  await setPodStatus(kube, ns, 'job-1', { containerStatuses: [status('main', 'alpine:3', `cri-o://${hex('e')}`, `cri-o://${hex('d')}`)] });
  await waitFor('restart', () => cache.lookup(hex('e')) !== undefined);
  assert.equal(cache.lookup(hex('d'))?.uid, uid);
  assert.equal(cache.lookup(hex('e'))?.uid, uid);
  assert.equal(cache.lookup(hex('e'))?.containerName, 'main');
  assert.deepEqual(indexed.at(-1), { podUid: uid, containerIds: [hex('e')] });

  // A label patch is a MODIFIED with nothing new to resolve: the labels change, no listener call.
  const calls = indexed.length;
  const patched = await kube.api('PATCH', `/api/v1/namespaces/${ns}/pods/job-1`, { metadata: { labels: { tier: 'batch' } } },
    'application/strategic-merge-patch+json');
  assert.equal(patched.status, 200);
  await waitFor('the label', () => cache.lookup(hex('e'))?.labels?.['tier'] === 'batch');
  assert.equal(indexed.length, calls);

  await deletePod(kube, ns, 'job-1');
  await waitFor('DELETED', () => cache.size === 0);
  assert.equal(cache.lookup(hex('e')), undefined);
  assert.equal(cache.lookup(undefined, uid), undefined);
  assert.equal(cache.errors, 0);
});

test('deleted pods and superseded container ids keep resolving for the retention period', { skip }, async (t) => {
  let now = 1_000_000;
  const { cache, ns, node } = await setup(t, { cache: { deletedRetentionMs: 30_000, now: () => now } });
  const created = await createPod(kube, { namespace: ns, name: 'a', node, containers: [{ name: 'app', image: 'x' }] });
  await setPodStatus(kube, ns, 'a', { containerStatuses: [status('app', 'x', `docker://${hex('a')}`)] });
  cache.start();
  await cache.ready();
  assert.equal(cache.lookup(hex('a'))?.runtime, 'docker');
  // Two restarts: the status names the current and the previous instance; the first one drops out of it.
  await setPodStatus(kube, ns, 'a', { containerStatuses: [status('app', 'x', `docker://${hex('b')}`, `docker://${hex('a')}`)] });
  await waitFor('first restart', () => cache.lookup(hex('b')) !== undefined);
  await setPodStatus(kube, ns, 'a', { containerStatuses: [status('app', 'x', `docker://${hex('c')}`, `docker://${hex('b')}`)] });
  await waitFor('second restart', () => cache.lookup(hex('c')) !== undefined);
  assert.equal(cache.lookup(hex('a'))?.name, 'a', 'a superseded id resolves during the retention');
  now += 30_000;
  assert.equal(cache.lookup(hex('a')), undefined, 'and not after it');
  assert.equal(cache.lookup(hex('b'))?.name, 'a', 'the previous instance is still in the status');

  await deletePod(kube, ns, 'a');
  await waitFor('DELETED', () => cache.size === 0);
  assert.equal(cache.lookup(hex('c'))?.name, 'a');
  assert.equal(cache.lookup(undefined, meta(created).uid)?.name, 'a');
  now += 30_000;
  assert.equal(cache.lookup(hex('c')), undefined);
  assert.equal(cache.lookup(hex('b')), undefined);
  assert.equal(cache.lookup(undefined, meta(created).uid), undefined);
});

test('a pod replaced under the same name resolves to the new uid', { skip }, async (t) => {
  const { cache, ns, node } = await setup(t);
  const first = await createPod(kube, { namespace: ns, name: 'db-0', node, containers: [{ name: 'db', image: 'pg', id: hex('1') }] });
  cache.start();
  await cache.ready();
  // A StatefulSet pod recreated: the server gives the new pod a new uid; the watch sees DELETED then ADDED.
  await deletePod(kube, ns, 'db-0');
  const second = await createPod(kube, { namespace: ns, name: 'db-0', node, containers: [{ name: 'db', image: 'pg', id: hex('2') }] });
  assert.notEqual(meta(second).uid, meta(first).uid);
  await waitFor('replacement', () => cache.lookup(hex('2')) !== undefined);
  assert.equal(cache.lookup(hex('2'))?.uid, meta(second).uid);
  assert.equal(cache.lookup(hex('1')), undefined);
  assert.equal(cache.lookup(undefined, meta(first).uid), undefined);
  assert.equal(cache.size, 1);
});

test('restricted to a node: pods elsewhere are not indexed; a pod bound later is', { skip }, async (t) => {
  const { proxy, cache, ns, node } = await setup(t);
  await createPod(kube, { namespace: ns, name: 'here', node, containers: [{ name: 'c', image: 'i', id: hex('1') }] });
  await createPod(kube, { namespace: ns, name: 'there', node: `${node}-other`, containers: [{ name: 'c', image: 'i', id: hex('2') }] });
  // Not bound yet: no nodeName, as a pod is until the scheduler binds it.
  const pending = await kube.api('POST', `/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pending', namespace: ns }, spec: { containers: [{ name: 'c', image: 'i' }] },
  });
  assert.equal(pending.status, 201);
  cache.start();
  await cache.ready();
  assert.equal(cache.size, 1);
  assert.equal(cache.lookup(hex('1'))?.name, 'here');
  assert.equal(cache.lookup(hex('2')), undefined);
  // What the scheduler does: the binding subresource sets spec.nodeName (the field is immutable otherwise).
  const bound = await kube.api('POST', `/api/v1/namespaces/${ns}/pods/pending/binding`, {
    apiVersion: 'v1', kind: 'Binding', metadata: { name: 'pending', namespace: ns }, target: { apiVersion: 'v1', kind: 'Node', name: node },
  });
  assert.equal(bound.status, 201, JSON.stringify(bound.body));
  await waitFor('bound pod', () => cache.size === 2);
  assert.equal(cache.lookup(undefined, meta(pending.body as JsonObject).uid)?.node, node);
  const requests = [...lists(proxy), ...watches(proxy)];
  assert.ok(requests.length >= 2, 'a list and a watch');
  assert.ok(requests.every((r) => r.query['fieldSelector'] === `spec.nodeName=${node}`), 'list and watch both filter by node');
});

test('a 410 on the re-watch (etcd compacted past its version) relists and converges', {
  skip, timeout: 240_000,
}, async (t) => {
  // A private server: without the watch cache a watch reads etcd, and etcd compacts every 5 s, so a version the
  // client held through an outage is really gone (the shared server's watch cache would serve it).
  const cluster = await startKubeCluster({ apiserverArgs: ['--etcd-compaction-interval=5s', '--watch-cache=false'] });
  t.after(() => cluster.stop());
  const { proxy, cache, indexed, ns, node } = await setup(t, {
    cluster, token: await enricherToken(cluster), wholeCluster: true, cache: { backoff: { initialMs: 50, maxMs: 250 } },
  });
  await createPod(cluster, { namespace: ns, name: 'stays', node });
  await createPod(cluster, { namespace: ns, name: 'goes', node, containers: [{ name: 'c', image: 'i', id: hex('9') }] });
  cache.start();
  await cache.ready();
  assert.equal(cache.size, 2);
  await waitFor('watching', () => proxy.watchCount === 1);
  const resumeFrom = watches(proxy)[0]?.query['resourceVersion'] ?? '';
  assert.notEqual(resumeFrom, '');

  // An outage: the watch breaks and the server is unreachable for as long as it takes etcd to compact past the
  // cache's version, and meanwhile a pod goes and another comes.
  proxy.failNext({ watch: true, status: 503, count: Infinity });
  proxy.closeWatches();
  await deletePod(cluster, ns, 'goes');
  const added = await createPod(cluster, { namespace: ns, name: 'new', node, containers: [{ name: 'c', image: 'i', id: hex('8') }] });
  // The same watch the cache will make, asked directly: compacted when the server answers it with 410.
  await waitFor('etcd to compact past the cache\'s version', async () => {
    const r = await cluster.api('GET', `/api/v1/pods?watch=true&resourceVersion=${resumeFrom}&timeoutSeconds=1`);
    return r.status === 410 || /"code":\s*410/.test(typeof r.body === 'string' ? r.body : JSON.stringify(r.body));
  }, { timeoutMs: 120_000, intervalMs: 1_000 });
  assert.equal(cache.resyncs, 0, 'no relist during the outage');
  assert.ok(cache.errors >= 1);
  const outage = proxy.requests.length;
  proxy.clearFailures();

  await waitFor('resync', () => cache.resyncs === 1 && cache.lookup(hex('8')) !== undefined && cache.lookup(hex('9')) === undefined,
    { timeoutMs: 60_000 });
  assert.equal(cache.size, 2, 'the deleted-while-away pod is gone, the new one is there');
  assert.deepEqual(indexed.at(-1), { podUid: meta(added).uid, containerIds: [hex('8')] });
  await waitFor('watching again', () => proxy.watchCount === 1);
  // After the outage: the re-watch from the old version (the server's answer, not the proxy's), then the relist,
  // then a watch from the relist's version.
  const since = proxy.requests.slice(outage).filter((r) => r.path === '/api/v1/pods');
  const rewatch = since.findIndex((r) => r.watch && !r.injected && r.query['resourceVersion'] === resumeFrom);
  assert.ok(rewatch >= 0, 'the cache resumed from the version it had');
  assert.ok([200, 410].includes(since[rewatch]?.status ?? 0), `the server answered the re-watch (${since[rewatch]?.status})`);
  const relist = since.findIndex((r, i) => i > rewatch && !r.watch);
  assert.ok(relist > rewatch, 'then listed');
  const fresh = since.slice(relist).find((r) => r.watch);
  assert.ok(BigInt(fresh?.query['resourceVersion'] ?? '0') > BigInt(resumeFrom), 'and watched from the relist\'s version');
  assert.ok(cache.watchRestarts >= 2, 'the restart after the outage and the one after the 410 (the watch restarts metric)');
  // And it keeps watching after the resync.
  await createPod(cluster, { namespace: ns, name: 'later', node });
  await waitFor('event after resync', () => cache.size === 3);
  assert.equal(cache.resyncs, 1);
});

test('list errors are retried with backoff before ready', { skip }, async (t) => {
  const { proxy, cache, ns, node } = await setup(t);
  await createPod(kube, { namespace: ns, name: 'a', node });
  proxy.failNext({ method: 'GET', pathIncludes: '/api/v1/pods', watch: false, status: 500, count: 2 });
  cache.start();
  await cache.ready();
  assert.equal(cache.size, 1);
  assert.equal(cache.errors, 2);
  assert.match(cache.lastError ?? '', /500/);
  assert.equal(cache.listErrors, 2);
  assert.deepEqual(lists(proxy).map((r) => r.status), [500, 500, 200]);
  assert.equal(cache.resyncs, 0, 'failed lists are not resyncs');
});

test('a broken watch reconnects from the last version it saw, through a 500 and a reset, without relisting', { skip }, async (t) => {
  const { proxy, cache, ns, node } = await setup(t);
  cache.start();
  await cache.ready();
  await waitFor('watching', () => proxy.watchCount === 1);
  // An event moves the cache's version past the list's.
  const seen = await createPod(kube, { namespace: ns, name: 'before', node, containers: [{ name: 'c', image: 'i', id: hex('1') }] });
  await waitFor('the last event of the pod', () => cache.lookup(hex('1')) !== undefined);

  // The server ends the stream (as it does at a watch's timeout): the cache re-watches at once, from that event.
  const before = watches(proxy).length;
  proxy.closeWatches();
  await waitFor('re-watched', () => proxy.watchCount === 1 && watches(proxy).length === before + 1);
  assert.equal(watches(proxy).at(-1)?.query['resourceVersion'], meta(seen).resourceVersion, 'resumed from the last event');
  assert.equal(cache.errors, 0, 'a closed stream is not an error');

  proxy.failNext({ watch: true, status: 500 });
  proxy.failNext({ watch: true, status: 'reset' });
  proxy.closeWatches(); // re-watch → 500 → backoff → reset → backoff → watch
  await createPod(kube, { namespace: ns, name: 'while-away', node });
  await waitFor('reconnected', () => cache.size === 2);
  assert.equal(cache.errors, 2);
  assert.deepEqual(cache.watchErrors, { headers_timeout: 0, idle_timeout: 0, http_status: 1, network: 1 });
  assert.equal(cache.resyncs, 0, 'the version was still valid: no relist');
  assert.equal(lists(proxy).length, 1);
  const after = watches(proxy).slice(before + 1);
  assert.deepEqual(after.map((r) => (r.injected ? (r.status === 0 ? 'reset' : r.status) : 'server')).slice(0, 3), [500, 'reset', 'server']);
  assert.ok(after.every((r) => r.query['resourceVersion'] === meta(seen).resourceVersion), 'every retry resumes from the same version');
  await createPod(kube, { namespace: ns, name: 'after', node });
  await waitFor('live again', () => cache.size === 3);
});

test('the watch asks for bookmarks, and re-watches from a bookmark\'s version rather than its last pod\'s', { skip }, async (t) => {
  const { proxy, cache, ns, node } = await setup(t, { cache: { watchTimeoutSeconds: 4 } });
  cache.start();
  await cache.ready();
  const own = await createPod(kube, { namespace: ns, name: 'mine', node, containers: [{ name: 'c', image: 'i', id: hex('1') }] });
  await waitFor('own pod', () => cache.lookup(hex('1')) !== undefined);
  // Writes the node's watch does not see (a pod on another node) move the cluster's version past the cache's last
  // event. Versions are etcd revisions: comparing them as numbers is what this test is about, not what clients do.
  const elsewhere = await createPod(kube, { namespace: ns, name: 'elsewhere', node: `${node}-other` });
  const past = BigInt(meta(elsewhere).resourceVersion);
  assert.ok(past > BigInt(meta(own).resourceVersion));
  // The server ends each watch after its timeout (4–8 s) and sends a bookmark 2 s before: the next watch starts
  // from the bookmark's version.
  await waitFor('a re-watch from a bookmark', () => watches(proxy).some((r) => BigInt(r.query['resourceVersion'] ?? '0') >= past),
    { timeoutMs: 90_000, intervalMs: 200 });
  for (const w of watches(proxy)) {
    assert.equal(w.query['allowWatchBookmarks'], 'true');
    const timeout = Number(w.query['timeoutSeconds']);
    assert.ok(timeout >= 4 && timeout <= 8, `timeoutSeconds ${timeout}`);
  }
  assert.equal(cache.size, 1, 'a bookmark is not a pod');
  assert.equal(cache.badWatchLines, 0, 'nor a bad line');
  assert.equal(cache.resyncs, 0);
  assert.equal(cache.errors, 0);
  await createPod(kube, { namespace: ns, name: 'after', node });
  await waitFor('events after the bookmark', () => cache.size === 2);
});

const NO_WATCH_ERRORS = { headers_timeout: 0, idle_timeout: 0, http_status: 0, network: 0 };

test('a list the server never answers is abandoned at its deadline and retried: the cache becomes ready', { skip }, async (t) => {
  const { proxy, cache, ns, node } = await setup(t, { cache: { listTimeoutMs: 1_000 } });
  await createPod(kube, { namespace: ns, name: 'a', node, containers: [{ name: 'c', image: 'i', id: hex('7') }] });
  proxy.failNext({ method: 'GET', pathIncludes: '/api/v1/pods', watch: false, status: 'hang' });
  cache.start();
  await cache.ready();
  assert.ok(cache.lookup(hex('7')) !== undefined);
  const [hung, retry] = lists(proxy);
  assert.ok(hung?.injected === true && retry !== undefined && retry.status === 200, JSON.stringify(lists(proxy)));
  // The deadline runs from the client's send, a little before the proxy logs the arrival: half of it is the bound
  // (without the deadline there would be no retry; a retry from the 5-20 ms backoff alone would come at once).
  assert.ok(retry.at - hung.at >= 500, `the retry came only after the deadline (${retry.at - hung.at} ms)`);
  t.diagnostic(`hung list → retry ${retry.at - hung.at} ms (deadline 1000 ms)`);
  assert.equal(cache.errors, 1);
  assert.equal(cache.listErrors, 1);
  assert.equal(cache.resyncs, 0, 'a failed first list is not a resync');
  await waitFor('the abandoned list\'s connection to close', () => proxy.heldCount === 0);
});

test('a watch the server never answers is abandoned at its header deadline and retried: the cache learns a pod created since', {
  skip,
}, async (t) => {
  const { proxy, cache, indexed, ns, node } = await setup(t, { cache: { watchHeadersTimeoutMs: 1_000 } });
  proxy.failNext({ watch: true, status: 'hang' });
  cache.start();
  await cache.ready();
  const hung = await waitFor('the hung watch', () => watches(proxy)[0]);
  assert.equal(hung.injected, true);
  const created = await createPod(kube, { namespace: ns, name: 'during', node, containers: [{ name: 'c', image: 'i', id: hex('1') }] });
  await waitFor('the pod created after the watch hung', () => cache.lookup(hex('1')) !== undefined);
  const learnedAt = Date.now();
  assert.deepEqual(indexed.at(-1), { podUid: meta(created).uid, containerIds: [hex('1')] });
  const retry = watches(proxy)[1];
  assert.ok(retry !== undefined && !retry.injected, 'a second watch, answered by the server');
  // As for the list: the deadline runs from before the send, so the proxy's clock can see a little less of it.
  assert.ok(retry.at - hung.at >= 500, `the retry came only after the deadline (${retry.at - hung.at} ms)`);
  assert.equal(retry.query['resourceVersion'], hung.query['resourceVersion'], 'resumed from the list\'s version');
  t.diagnostic(`hung watch → retry ${retry.at - hung.at} ms, → pod learned ${learnedAt - hung.at} ms (deadline 1000 ms)`);
  assert.deepEqual(cache.watchErrors, { ...NO_WATCH_ERRORS, headers_timeout: 1 });
  assert.equal(cache.errors, 1);
  assert.match(cache.lastError ?? '', /no answer within 1000 ms/);
  assert.equal(cache.resyncs, 0, 'the version was still valid: no relist');
  assert.equal(lists(proxy).length, 1);
  await waitFor('the abandoned request\'s connection to close', () => proxy.heldCount === 0);
});

test('a watch stream that goes silent is abandoned past its timeoutSeconds and re-watched', { skip }, async (t) => {
  // The server ends each watch after 1–2 s: silence for that long plus the margin is a dead stream.
  const { proxy, cache, ns, node } = await setup(t, { cache: { watchTimeoutSeconds: 1, watchIdleMarginMs: 1_000 } });
  cache.start();
  await cache.ready();
  await waitFor('watching', () => proxy.watchCount === 1);
  proxy.failNext({ watch: true, status: 'stall' });
  proxy.closeWatches(); // the re-watch is answered (200, headers), then nothing more comes
  // Its status is the server's, once the server answered: the client has the headers.
  const stalled = await waitFor('the stalled watch', () => watches(proxy).find((r) => r.injected && r.status === 200));
  const timeoutMs = Number(stalled.query['timeoutSeconds']) * 1000;
  // The silence shows on the staleness gauge (at least timeoutSeconds plus the margin of it before the re-watch).
  await waitFor('the silence to show', () => cache.secondsSinceHeard >= 1);
  await createPod(kube, { namespace: ns, name: 'unheard', node, containers: [{ name: 'c', image: 'i', id: hex('2') }] });
  await waitFor('the pod created while the stream was silent', () => cache.lookup(hex('2')) !== undefined);
  const learnedAt = Date.now();
  assert.ok(cache.secondsSinceHeard < 1, `heard again: ${cache.secondsSinceHeard} s`);
  const next = watches(proxy).find((r) => r.at >= stalled.at && r !== stalled);
  assert.ok(next !== undefined && !next.injected);
  assert.ok(next.at - stalled.at >= timeoutMs + 1_000, `re-watched after the idle deadline (${next.at - stalled.at} ms)`);
  assert.equal(next.query['resourceVersion'], stalled.query['resourceVersion'], 'from the version it had');
  t.diagnostic(`stalled watch (timeoutSeconds ${timeoutMs / 1000}) → re-watch ${next.at - stalled.at} ms, → pod learned ${learnedAt - stalled.at} ms`);
  assert.ok(cache.watchErrors.idle_timeout >= 1, JSON.stringify(cache.watchErrors));
  assert.equal(cache.watchErrors.headers_timeout + cache.watchErrors.http_status + cache.watchErrors.network, 0);
  assert.match(cache.lastError ?? '', /nothing received for/);
  assert.equal(cache.resyncs, 0);
  assert.equal(cache.badWatchLines, 0);
  await waitFor('the silent connection to close', () => proxy.heldCount === 0);
});

test('stop() abandons a watch that is still waiting for its answer', { skip }, async (t) => {
  const { proxy, cache } = await setup(t, { cache: { watchHeadersTimeoutMs: 120_000 } });
  proxy.failNext({ watch: true, status: 'hang' });
  cache.start();
  await cache.ready();
  await waitFor('the hung watch', () => proxy.heldCount === 1);
  await cache.stop();
  await waitFor('the hung watch to be abandoned', () => proxy.heldCount === 0);
  assert.equal(cache.errors, 0, 'the abort on stop is not an error');
  assert.deepEqual(cache.watchErrors, NO_WATCH_ERRORS);
});

test('stop ends the watch; ready() rejects when stopped first', { skip }, async (t) => {
  const { proxy, cache, ns, node } = await setup(t);
  cache.start();
  await cache.ready();
  await waitFor('watching', () => proxy.watchCount === 1);
  await cache.stop();
  await waitFor('watch closed', () => proxy.watchCount === 0);
  const requests = proxy.requests.length;
  await createPod(kube, { namespace: ns, name: 'unseen', node });
  assert.ok(await getPod(kube, ns, 'unseen'));
  // Nothing to wait for: a stopped cache makes no request. Give a reconnect (5–20 ms backoff) ample time to show.
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(proxy.requests.length, requests);
  assert.equal(cache.size, 0);
  assert.equal(cache.errors, 0, 'the abort on stop is not an error');

  // Stopped while its first list is in flight: ready() rejects, and when the list's answer comes, no watch follows
  // it (client-node's ListWatch checks for a stop only before it lists).
  const { proxy: earlyProxy, cache: early } = await setup(t);
  early.start();
  const ready = early.ready();
  await early.stop();
  await assert.rejects(ready, /stopped before it was ready/);
  await waitFor('the list to be answered', () => lists(earlyProxy)[0]?.status === 200);
  await new Promise((r) => setTimeout(r, 500)); // as above: nothing to wait for but time
  assert.deepEqual(watches(earlyProxy), [], 'no watch after stop');
  assert.equal(early.size, 0);
});
