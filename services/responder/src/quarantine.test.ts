// The quarantine's pure parts: error mapping, policy comparison, and the refusals made before any API call. Every
// behaviour that talks to Kubernetes is tested against the real kube-apiserver through the fault proxy, in
// test/kube/responder-quarantine.test.ts (the harness in test/support builds after the services, so it lives there).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException, KubeConfig } from '@kubernetes/client-node';
import { desiredPolicy, kubeError, policyMatches, quarantineClients, quarantinePod } from './quarantine.js';

/** Clients for an API server that is not there: any request would fail (and count as an attempt). */
function nowhere() {
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'none', server: 'https://127.0.0.1:1', skipTLSVerify: true }],
    users: [{ name: 'none' }], contexts: [{ name: 'none', cluster: 'none', user: 'none' }], currentContext: 'none',
  });
  return quarantineClients(kc);
}

test('refused: protected namespaces and incomplete targets, without any API call', async () => {
  const clients = nowhere();
  const opts = { protectedNamespaces: ['palisade'], retry: { maxAttempts: 1 } };
  for (const namespace of ['kube-system', 'palisade']) {
    const r = await quarantinePod(clients, { namespace, name: 'x', uid: 'u' }, opts);
    assert.equal(r.outcome, 'refused');
    assert.match(r.reason, /protected/);
    assert.equal(r.attempts, 0);
    assert.deepEqual(r.steps, []);
  }
  // kube-system stays protected even when the caller passes its own list.
  const r = await quarantinePod(clients, { namespace: 'kube-system', name: 'x', uid: 'u' }, { ...opts, protectedNamespaces: [] });
  assert.equal(r.outcome, 'refused');
  assert.equal(r.attempts, 0);
  const noUid = await quarantinePod(clients, { namespace: 'shop', name: 'x', uid: '' }, opts);
  assert.equal(noUid.outcome, 'refused');
  assert.equal(noUid.reason, 'target needs a namespace, a name and a uid');
  assert.equal(noUid.attempts, 0);
  // The same client does reach for the network when the target is acceptable: the refusals above were not luck.
  const tried = await quarantinePod(clients, { namespace: 'shop', name: 'x', uid: 'u' }, opts);
  assert.equal(tried.outcome, 'failed');
  assert.equal(tried.attempts, 1);
  assert.equal(tried.error?.code, 'KUBE_UNAVAILABLE');
});

test('the desired policy: deny all egress from pods with the label, marked as ours', () => {
  assert.deepEqual(desiredPolicy('shop', 'palisade-quarantine', 'quarantined', 'true'), {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
    metadata: { name: 'palisade-quarantine', namespace: 'shop', labels: { 'app.kubernetes.io/managed-by': 'palisade' } },
    spec: { podSelector: { matchLabels: { quarantined: 'true' } }, policyTypes: ['Egress'], egress: [] },
  });
  const p = desiredPolicy('shop', 'isolate', 'security.example.com/q', 'yes');
  assert.equal(policyMatches(p.spec, 'security.example.com/q', 'yes'), true);
});

test('kubeError maps client errors to codes', () => {
  const api = (code: number, reason: string): ApiException<string> =>
    new ApiException(code, 'x', JSON.stringify({ kind: 'Status', reason, message: 'm', code }), {});
  const cases: Array<[unknown, string, boolean]> = [
    [api(404, 'NotFound'), 'KUBE_NOT_FOUND', false],
    [api(409, 'Conflict'), 'KUBE_CONFLICT', true],
    [api(409, 'AlreadyExists'), 'KUBE_CONFLICT', false],
    [api(422, 'Invalid'), 'KUBE_INVALID', false],
    [api(400, 'BadRequest'), 'KUBE_INVALID', false],
    [api(401, 'Unauthorized'), 'KUBE_FORBIDDEN', false],
    [api(403, 'Forbidden'), 'KUBE_FORBIDDEN', false],
    [api(429, 'TooManyRequests'), 'KUBE_UNAVAILABLE', true],
    [api(500, 'InternalError'), 'KUBE_UNAVAILABLE', true],
    [api(504, 'Timeout'), 'KUBE_UNAVAILABLE', true],
    [Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }), 'KUBE_UNAVAILABLE', true],
    [new Error('boom'), 'INTERNAL', false],
  ];
  for (const [err, code, retriable] of cases) {
    const e = kubeError(err, 'op');
    assert.equal(e.code, code, e.message);
    assert.equal(e.retriable, retriable, e.message);
    assert.equal(e.cause, err);
  }
  assert.equal(kubeError(api(404, 'NotFound'), 'GET pods/a/b').message, 'GET pods/a/b: HTTP 404 NotFound: m');
});

test('policyMatches compares meaning, not text', () => {
  assert.equal(policyMatches({ podSelector: { matchLabels: { quarantined: 'true' } }, policyTypes: ['Egress'] }, 'quarantined', 'true'), true);
  assert.equal(policyMatches({ podSelector: { matchLabels: { quarantined: 'true' } }, policyTypes: ['Egress'], egress: [] }, 'quarantined', 'true'), true);
  assert.equal(policyMatches({ podSelector: { matchLabels: { quarantined: 'true' } }, policyTypes: ['Egress'], egress: [{}] }, 'quarantined', 'true'), false, 'an empty rule allows all');
  assert.equal(policyMatches({ podSelector: { matchLabels: { quarantined: 'true' } }, policyTypes: ['Ingress', 'Egress'] }, 'quarantined', 'true'), false);
  assert.equal(policyMatches({ podSelector: {}, policyTypes: ['Egress'] }, 'quarantined', 'true'), false, 'would isolate the whole namespace');
  assert.equal(policyMatches(undefined, 'quarantined', 'true'), false);
});
