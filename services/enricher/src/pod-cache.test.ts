// PodCache's pure helpers. The cache itself, its list and watch, is tested against the real API server in
// test/kube/pod-cache.test.ts (the harness lives in the test workspace, which builds after the services).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Pod } from '@kubernetes/client-node';
import { parseContainerId, resolveOwner } from './pod-cache.js';

const hex = (c: string): string => c.repeat(64);

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
