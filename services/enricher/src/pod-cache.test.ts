// PodCache driven through the real @kubernetes/client-node against the in-process fake API server.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { FakeKubeApi, type FakeKubeApiOptions, type JsonObject } from '@palisade/test/dist/fake-kube-api/index.js';
import { PodCache, parseContainerId, resolveOwner, type PodCacheOptions, type PodIndexedEvent } from './pod-cache.js';
import { waitFor } from '@palisade/common/testing';

const hex = (c: string): string => c.repeat(64);

async function setup(
  t: TestContext,
  fakeOptions: FakeKubeApiOptions = {},
  cacheOptions: Partial<PodCacheOptions> = {},
): Promise<{ fake: FakeKubeApi; cache: PodCache; indexed: PodIndexedEvent[] }> {
  const fake = new FakeKubeApi(fakeOptions);
  await fake.start();
  const dir = await mkdtemp(join(tmpdir(), 'pod-cache-'));
  await fake.writeKubeconfig(join(dir, 'kubeconfig'));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(join(dir, 'kubeconfig'));
  const cache = new PodCache({ kubeConfig, backoff: { initialMs: 5, maxMs: 20 }, deletedRetentionMs: 0, ...cacheOptions });
  const indexed: PodIndexedEvent[] = [];
  cache.onPodAdded((e) => indexed.push(e));
  t.after(async () => {
    await cache.stop();
    await fake.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { fake, cache, indexed };
}

interface PodSpec {
  name: string;
  namespace?: string;
  uid?: string;
  node?: string;
  labels?: Record<string, string>;
  owner?: { kind: string; name: string };
  containers?: Array<{ name: string; image: string; id?: string }>;
  init?: Array<{ name: string; image: string; id?: string }>;
}

function pod(p: PodSpec): JsonObject {
  const containers = p.containers ?? [{ name: 'app', image: 'nginx:1.27' }];
  const status = (list: Array<{ name: string; image: string; id?: string }>): JsonObject[] =>
    list
      .filter((c) => c.id !== undefined)
      .map((c) => ({ name: c.name, image: `docker.io/library/${c.image}`, imageID: '', ready: true, restartCount: 0, containerID: c.id ?? '' }));
  const metadata: JsonObject = { name: p.name, namespace: p.namespace ?? 'default' };
  if (p.uid !== undefined) metadata['uid'] = p.uid;
  if (p.labels !== undefined) metadata['labels'] = p.labels;
  if (p.owner !== undefined) {
    metadata['ownerReferences'] = [{ apiVersion: 'apps/v1', kind: p.owner.kind, name: p.owner.name, uid: 'owner-uid', controller: true }];
  }
  const spec: JsonObject = { containers: containers.map((c) => ({ name: c.name, image: c.image })) };
  if (p.init !== undefined) spec['initContainers'] = p.init.map((c) => ({ name: c.name, image: c.image }));
  if (p.node !== undefined) spec['nodeName'] = p.node;
  return {
    metadata,
    spec,
    status: { phase: 'Running', containerStatuses: status(containers), initContainerStatuses: status(p.init ?? []) },
  };
}

test('ready after the first list; pods resolve by container id and by uid', async (t) => {
  const { fake, cache } = await setup(t);
  fake.addPod(
    pod({
      name: 'web-7d9c5b7f4-x2x9z',
      uid: '11111111-1111-4111-8111-111111111111',
      labels: { app: 'web', 'pod-template-hash': '7d9c5b7f4' },
      owner: { kind: 'ReplicaSet', name: 'web-7d9c5b7f4' },
      node: 'node-1',
      containers: [
        { name: 'app', image: 'nginx:1.27', id: `containerd://${hex('a')}` },
        { name: 'sidecar', image: 'envoy:1.30', id: `containerd://${hex('b')}` },
      ],
      init: [{ name: 'setup', image: 'busybox:1.36', id: `containerd://${hex('c')}` }],
    }),
  );
  cache.start();
  await cache.ready();
  assert.equal(cache.size, 1);
  assert.deepEqual(cache.lookup(hex('b')), {
    namespace: 'default',
    name: 'web-7d9c5b7f4-x2x9z',
    uid: '11111111-1111-4111-8111-111111111111',
    labels: { app: 'web', 'pod-template-hash': '7d9c5b7f4' },
    owner: { kind: 'Deployment', name: 'web' },
    node: 'node-1',
    containerId: hex('b'),
    containerName: 'sidecar',
    image: 'envoy:1.30',
    runtime: 'containerd',
  });
  assert.equal(cache.lookup(`containerd://${hex('c')}`)?.containerName, 'setup', 'init containers, prefixed ids');
  const byUid = cache.lookup(undefined, '11111111-1111-4111-8111-111111111111');
  assert.equal(byUid?.name, 'web-7d9c5b7f4-x2x9z');
  assert.equal(byUid?.containerId, undefined);
  assert.equal(cache.lookup(hex('f'), '11111111-1111-4111-8111-111111111111')?.containerId, undefined, 'unknown container falls back to the pod');
  assert.equal(cache.lookup(hex('f')), undefined);
  assert.equal(cache.lookup(), undefined);
  assert.equal(cache.resyncs, 0);
  assert.equal(cache.errors, 0);
});

test('the watch sees pods added, gaining containers, and deleted', async (t) => {
  const { fake, cache, indexed } = await setup(t);
  cache.start();
  await cache.ready();
  assert.equal(cache.size, 0);

  const created = fake.addPod(pod({ name: 'job-1', containers: [{ name: 'main', image: 'alpine:3' }] }));
  const uid = String((created['metadata'] as JsonObject)['uid']);
  await waitFor('ADDED', () => cache.lookup(undefined, uid) !== undefined);
  assert.deepEqual(indexed, [{ podUid: uid, containerIds: [] }]);

  fake.updatePod('default', 'job-1', (p) => {
    p['status'] = { phase: 'Running', containerStatuses: [{ name: 'main', image: 'alpine:3', imageID: '', ready: true, restartCount: 0, containerID: `cri-o://${hex('d')}` }] };
  });
  await waitFor('MODIFIED', () => cache.lookup(hex('d')) !== undefined);
  assert.equal(cache.lookup(hex('d'))?.runtime, 'cri-o');
  assert.deepEqual(indexed.at(-1), { podUid: uid, containerIds: [hex('d')] });

  // A restart: the new instance resolves, and so does the old one (its exit event may still be in flight).
  fake.updatePod('default', 'job-1', (p) => {
    p['status'] = {
      phase: 'Running',
      containerStatuses: [
        { name: 'main', image: 'alpine:3', imageID: '', ready: true, restartCount: 1, containerID: `cri-o://${hex('e')}`, lastState: { terminated: { exitCode: 1, containerID: `cri-o://${hex('d')}` } } },
      ],
    };
  });
  await waitFor('restart', () => cache.lookup(hex('e')) !== undefined);
  assert.equal(cache.lookup(hex('d'))?.uid, uid);

  fake.deletePod('default', 'job-1');
  await waitFor('DELETED', () => cache.size === 0);
  assert.equal(cache.lookup(hex('e')), undefined);
  assert.equal(cache.lookup(undefined, uid), undefined);
});

test('deleted pods keep resolving for the retention period', async (t) => {
  let now = 1_000_000;
  const { fake, cache } = await setup(t, {}, { deletedRetentionMs: 30_000, now: () => now });
  fake.addPod(pod({ name: 'a', containers: [{ name: 'app', image: 'x', id: `docker://${hex('a')}` }] }));
  cache.start();
  await cache.ready();
  // Two restarts: the status names the current and the previous instance; the first one drops out of it.
  const restarted = (current: string, previous: string) => (p: JsonObject): void => {
    p['status'] = {
      phase: 'Running',
      containerStatuses: [
        { name: 'app', image: 'x', imageID: '', ready: true, restartCount: 1, containerID: `docker://${hex(current)}`, lastState: { terminated: { exitCode: 1, containerID: `docker://${hex(previous)}` } } },
      ],
    };
  };
  fake.updatePod('default', 'a', restarted('b', 'a'));
  await waitFor('first restart', () => cache.lookup(hex('b')) !== undefined);
  fake.updatePod('default', 'a', restarted('c', 'b'));
  await waitFor('second restart', () => cache.lookup(hex('c')) !== undefined);
  assert.equal(cache.lookup(hex('a'))?.name, 'a', 'a superseded id resolves during the retention');
  now += 30_000;
  assert.equal(cache.lookup(hex('a')), undefined, 'and not after it');
  assert.equal(cache.lookup(hex('b'))?.name, 'a', 'the previous instance is still in the status');

  fake.deletePod('default', 'a');
  await waitFor('DELETED', () => cache.size === 0);
  assert.equal(cache.lookup(hex('c'))?.name, 'a');
  assert.equal(cache.lookup(undefined, cache.lookup(hex('c'))?.uid ?? '')?.name, 'a');
  now += 30_000;
  assert.equal(cache.lookup(hex('c')), undefined);
  assert.equal(cache.lookup(hex('b')), undefined);
});

test('a pod replaced under the same name resolves to the new uid', async (t) => {
  const { fake, cache } = await setup(t);
  fake.addPod(pod({ name: 'db-0', uid: '22222222-2222-4222-8222-222222222222', containers: [{ name: 'db', image: 'pg', id: `containerd://${hex('1')}` }] }));
  cache.start();
  await cache.ready();
  // A StatefulSet pod recreated between two watch events: the watch sees DELETED then ADDED.
  fake.deletePod('default', 'db-0');
  fake.addPod(pod({ name: 'db-0', uid: '33333333-3333-4333-8333-333333333333', containers: [{ name: 'db', image: 'pg', id: `containerd://${hex('2')}` }] }));
  await waitFor('replacement', () => cache.lookup(hex('2')) !== undefined);
  assert.equal(cache.lookup(hex('1')), undefined);
  assert.equal(cache.lookup(undefined, '22222222-2222-4222-8222-222222222222'), undefined);
  assert.equal(cache.size, 1);
});

test('restricted to a node: pods elsewhere are not indexed; a pod bound later is', async (t) => {
  const { fake, cache } = await setup(t, {}, { nodeName: 'node-1' });
  fake.addPod(pod({ name: 'here', node: 'node-1', containers: [{ name: 'c', image: 'i', id: `containerd://${hex('1')}` }] }));
  fake.addPod(pod({ name: 'there', node: 'node-2', containers: [{ name: 'c', image: 'i', id: `containerd://${hex('2')}` }] }));
  fake.addPod(pod({ name: 'pending' }));
  cache.start();
  await cache.ready();
  assert.equal(cache.size, 1);
  assert.equal(cache.lookup(hex('2')), undefined);
  fake.updatePod('default', 'pending', (p) => {
    (p['spec'] as JsonObject)['nodeName'] = 'node-1';
  });
  await waitFor('bound pod', () => cache.size === 2);
  const lists = fake.requests.filter((r) => r.path === '/api/v1/pods');
  assert.ok(lists.length >= 2 && lists.every((r) => r.query['fieldSelector'] === 'spec.nodeName=node-1'), 'list and watch both filter by node');
});

for (const expiredWatch of ['event', 'http'] as const) {
  test(`410 on re-watch (${expiredWatch === 'event' ? 'ERROR event' : 'HTTP 410'}) relists and converges`, async (t) => {
    const { fake, cache, indexed } = await setup(t, { expiredWatch });
    fake.addPod(pod({ name: 'stays' }));
    fake.addPod(pod({ name: 'goes', containers: [{ name: 'c', image: 'i', id: `containerd://${hex('9')}` }] }));
    cache.start();
    await cache.ready();
    await waitFor('watching', () => fake.watchCount === 1);
    // While the client is between watches, things change and etcd compacts: its version is gone.
    fake.closeWatches();
    fake.deletePod('default', 'goes');
    const added = fake.addPod(pod({ name: 'new', containers: [{ name: 'c', image: 'i', id: `containerd://${hex('8')}` }] }));
    fake.compact();
    await waitFor('resync', () => cache.resyncs === 1 && cache.lookup(hex('8')) !== undefined && cache.lookup(hex('9')) === undefined);
    assert.equal(cache.size, 2);
    assert.deepEqual(indexed.at(-1), { podUid: String((added['metadata'] as JsonObject)['uid']), containerIds: [hex('8')] });
    await waitFor('watching again', () => fake.watchCount === 1);
    const watches = fake.requests.filter((r) => r.watch);
    assert.equal(watches.at(-2)?.status, expiredWatch === 'event' ? 200 : 410, 'the re-watch from the old version');
    assert.equal(watches.at(-1)?.query['resourceVersion'], fake.resourceVersion, 'the new watch starts at the relist');
    assert.ok(cache.watchRestarts >= 1);
    // And it keeps watching after the resync.
    fake.addPod(pod({ name: 'later' }));
    await waitFor('event after resync', () => cache.size === 3);
  });
}

test('list errors are retried with backoff before ready', async (t) => {
  const { fake, cache } = await setup(t);
  fake.addPod(pod({ name: 'a' }));
  fake.failNext({ method: 'GET', pathIncludes: '/api/v1/pods', watch: false, status: 500, count: 2 });
  cache.start();
  await cache.ready();
  assert.equal(cache.size, 1);
  assert.equal(cache.errors, 2);
  assert.match(cache.lastError ?? '', /500/);
});

test('a broken watch reconnects from where it was, without relisting', async (t) => {
  const { fake, cache } = await setup(t);
  cache.start();
  await cache.ready();
  await waitFor('watching', () => fake.watchCount === 1);
  fake.failNext({ watch: true, status: 500 });
  fake.failNext({ watch: true, status: 'reset' });
  fake.closeWatches(); // re-watch → 500 → backoff → reset → backoff → watch
  fake.addPod(pod({ name: 'while-away' }));
  await waitFor('reconnected', () => cache.size === 1);
  assert.equal(cache.errors, 2);
  assert.equal(cache.resyncs, 0, 'the version was still valid: no relist');
  fake.addPod(pod({ name: 'after' }));
  await waitFor('live again', () => cache.size === 2);
});

test('stop ends the watch; ready() rejects when stopped first', async (t) => {
  const { fake, cache } = await setup(t);
  cache.start();
  await cache.ready();
  await waitFor('watching', () => fake.watchCount === 1);
  await cache.stop();
  await waitFor('watch closed', () => fake.watchCount === 0);
  const before = fake.requests.length;
  fake.addPod(pod({ name: 'unseen' }));
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(fake.requests.length, before);
  assert.equal(cache.size, 0);
  assert.equal(cache.errors, 0, 'the abort on stop is not an error');

  const early = (await setup(t)).cache;
  early.start();
  const ready = early.ready();
  await early.stop();
  await assert.rejects(ready, /stopped before it was ready/);
});

test('owner resolution', () => {
  const p = (refs: Array<{ kind: string; name: string; controller?: boolean }>, labels: Record<string, string> = {}): V1Pod => ({
    metadata: { name: 'p', labels, ownerReferences: refs.map((r) => ({ apiVersion: 'v1', uid: 'u', ...r })) },
  });
  assert.deepEqual(resolveOwner(p([])), { kind: 'Pod', name: 'p' });
  assert.deepEqual(resolveOwner(p([{ kind: 'ReplicaSet', name: 'api-5f7b9c' }], { 'pod-template-hash': '5f7b9c' })), { kind: 'Deployment', name: 'api' });
  assert.deepEqual(resolveOwner(p([{ kind: 'ReplicaSet', name: 'api-5f7b9c' }])), { kind: 'ReplicaSet', name: 'api-5f7b9c' }, 'no hash label');
  assert.deepEqual(resolveOwner(p([{ kind: 'ReplicaSet', name: 'standalone' }], { 'pod-template-hash': 'abc' })), { kind: 'ReplicaSet', name: 'standalone' });
  assert.deepEqual(resolveOwner(p([{ kind: 'Job', name: 'nightly-backup-29123456' }])), { kind: 'CronJob', name: 'nightly-backup' });
  assert.deepEqual(resolveOwner(p([{ kind: 'Job', name: 'backup-20240101' }])), { kind: 'Job', name: 'backup-20240101' }, 'a date is not a schedule time');
  assert.deepEqual(resolveOwner(p([{ kind: 'Job', name: 'migrate' }])), { kind: 'Job', name: 'migrate' });
  assert.deepEqual(resolveOwner(p([{ kind: 'DaemonSet', name: 'agent' }])), { kind: 'DaemonSet', name: 'agent' });
  assert.deepEqual(resolveOwner(p([{ kind: 'Node', name: 'node-1' }])), { kind: 'Pod', name: 'p' }, 'static pods');
  assert.deepEqual(
    resolveOwner(p([{ kind: 'Foo', name: 'not-controller' }, { kind: 'StatefulSet', name: 'db', controller: true }])),
    { kind: 'StatefulSet', name: 'db' },
    'the controller reference wins',
  );
});

test('container id prefixes', () => {
  assert.deepEqual(parseContainerId(`containerd://${hex('a')}`), { id: hex('a'), runtime: 'containerd' });
  assert.deepEqual(parseContainerId(`cri-o://${hex('a')}`), { id: hex('a'), runtime: 'cri-o' });
  assert.deepEqual(parseContainerId(`docker://${hex('a')}`), { id: hex('a'), runtime: 'docker' });
  assert.deepEqual(parseContainerId(hex('a')), { id: hex('a'), runtime: '' });
});

test('resolveOwner survives pods whose fields have the wrong types (found by fuzzing)', () => {
  for (const pod of [null, 1, 'x', {}, { metadata: null }, { metadata: { name: 7, ownerReferences: [null, 3, { kind: 1 }] } },
    { metadata: { name: 'p', labels: null, ownerReferences: [{ kind: 'ReplicaSet', name: 'web-abc' }] } }]) {
    const owner = resolveOwner(pod as never);
    assert.equal(typeof owner.kind, 'string');
    assert.equal(typeof owner.name, 'string');
  }
  assert.deepEqual(resolveOwner({ metadata: { name: 'p', ownerReferences: [null, { kind: 'Job', name: 'j' }] } } as never), { kind: 'Job', name: 'j' });
});
