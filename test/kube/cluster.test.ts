// The real control plane harness itself (test/support/kube-cluster.ts): it starts, reports the pinned version, and
// authenticates and authorises as a cluster does: an admin certificate, ServiceAccount tokens from TokenRequest
// that RBAC allows (200) or refuses (403), and a wrong token refused (401).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { skipUnless } from '@palisade/common/testing';
import { kubeUnavailableReason, startKubeCluster, uniqueNamespace, type KubeCluster } from '../support/kube-cluster.js';

const why = kubeUnavailableReason();
const skip = skipUnless(why === undefined, why ?? '');
let kube: KubeCluster | undefined;

before(async () => {
  if (skip) return;
  kube = await startKubeCluster();
});

after(async () => {
  await kube?.stop();
});

test('the API server reports its pinned version and is ready', { skip }, async () => {
  assert.ok(kube);
  const v = await kube.api('GET', '/version');
  assert.equal(v.status, 200);
  assert.match((v.body as { gitVersion: string }).gitVersion, /^v1\.\d+\.\d+$/);
  assert.equal((await kube.api('GET', '/readyz')).status, 200);
  assert.match(kube.kubectl(['version', '-o', 'json']), /"serverVersion"/);
});

test('RBAC: a ServiceAccount token is allowed what its Role grants, refused the rest; a bad token is 401', { skip }, async () => {
  assert.ok(kube);
  const ns = uniqueNamespace();
  const token = await kube.mintToken(ns, 'reader');
  kube.kubectl(['apply', '-f', '-'], JSON.stringify({
    apiVersion: 'v1', kind: 'List', items: [
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'pod-reader', namespace: ns },
        rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list', 'watch'] }] },
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'reader', namespace: ns },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: ns }] },
    ],
  }));
  const allowed = await kube.apiAs(token, 'GET', `/api/v1/namespaces/${ns}/pods`);
  assert.equal(allowed.status, 200);
  const refused = await kube.apiAs(token, 'GET', `/api/v1/namespaces/${ns}/secrets`);
  assert.equal(refused.status, 403);
  const bad = await kube.apiAs(`${token.slice(0, -4)}AAAA`, 'GET', `/api/v1/namespaces/${ns}/pods`);
  assert.equal(bad.status, 401);
});
