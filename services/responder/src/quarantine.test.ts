// Quarantine driven through the real @kubernetes/client-node against the in-process fake API server.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { FakeKubeApi, type JsonObject } from '@palisade/test/dist/fake-kube-api/index.js';
import { kubeError, policyMatches, quarantineClients, quarantinePod, type QuarantineClients, type QuarantineOptions } from './quarantine.js';

interface Setup {
  fake: FakeKubeApi;
  kc: KubeConfig;
  clients: QuarantineClients;
  uid: string;
  sleeps: number[];
  opts: QuarantineOptions;
}

async function setup(t: TestContext, namespace = 'shop'): Promise<Setup> {
  const fake = new FakeKubeApi();
  await fake.start();
  const dir = await mkdtemp(join(tmpdir(), 'quarantine-'));
  await fake.writeKubeconfig(join(dir, 'kubeconfig'));
  const kc = new KubeConfig();
  kc.loadFromFile(join(dir, 'kubeconfig'));
  t.after(async () => {
    await fake.stop();
    await rm(dir, { recursive: true, force: true });
  });
  const pod = fake.addPod({
    metadata: { name: 'web-1', namespace, labels: { app: 'web' } },
    spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
  });
  const sleeps: number[] = [];
  const opts: QuarantineOptions = {
    protectedNamespaces: ['palisade'],
    retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 5000 },
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  };
  return { fake, kc, clients: quarantineClients(kc), uid: uidOf(pod), sleeps, opts };
}

function uidOf(obj: JsonObject | undefined): string {
  const meta = obj?.['metadata'];
  return typeof meta === 'object' && meta !== null && !Array.isArray(meta) ? String(meta['uid']) : '';
}

function labelsOf(obj: JsonObject | undefined): JsonObject | undefined {
  const meta = obj?.['metadata'];
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) return undefined;
  const labels = meta['labels'];
  return typeof labels === 'object' && labels !== null && !Array.isArray(labels) ? labels : undefined;
}

const writes = (fake: FakeKubeApi): string[] => fake.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path} ${r.status}`);

const DENY_EGRESS = { podSelector: { matchLabels: { quarantined: 'true' } }, policyTypes: ['Egress'] };

test('done: creates the deny-egress policy, then labels the pod', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(r.steps, ['GET pods/shop/web-1', 'GET networkpolicies/shop/palisade-quarantine',
    'CREATE networkpolicies/shop/palisade-quarantine', 'PATCH pods/shop/web-1 labels quarantined=true']);
  assert.deepEqual(writes(fake).map((w) => w.split(' ')[0]), ['POST', 'PATCH'], 'the policy is written before the label');
  assert.equal(r.attempts, 4);
  assert.deepEqual(labelsOf(fake.getObject('pods', 'shop', 'web-1')), { app: 'web', quarantined: 'true' });
  const np = fake.getObject('networkpolicies', 'shop', 'palisade-quarantine');
  assert.deepEqual(np?.['spec'], DENY_EGRESS, 'egress: [] is stored as absent: deny all');
  assert.deepEqual(labelsOf(np), { 'app.kubernetes.io/managed-by': 'palisade' });
  const patch = fake.requests.find((req) => req.method === 'PATCH');
  assert.equal(patch?.contentType, 'application/merge-patch+json');
});

test('idempotent: a second run writes nothing (not even a create that gets 409) and still reports done', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  fake.clearRequests();
  const rv = fake.resourceVersion;
  const before = { pod: fake.getObject('pods', 'shop', 'web-1'), np: fake.getObject('networkpolicies', 'shop', 'palisade-quarantine') };
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(r.steps, [
    'GET pods/shop/web-1',
    'GET networkpolicies/shop/palisade-quarantine',
    'networkpolicies/shop/palisade-quarantine already denies egress for quarantined=true',
    'pods/shop/web-1 already labelled quarantined=true',
  ]);
  assert.deepEqual(writes(fake), [], 'a quarantined pod got a write request');
  assert.equal(fake.resourceVersion, rv, 'no write happened');
  assert.deepEqual(fake.getObject('pods', 'shop', 'web-1'), before.pod);
  assert.deepEqual(fake.getObject('networkpolicies', 'shop', 'palisade-quarantine'), before.np);
});

test('dry run: says what would be done and writes nothing', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  const rv = fake.resourceVersion;
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, { ...opts, dryRun: true });
  assert.equal(r.outcome, 'dry_run');
  assert.deepEqual(r.steps, [
    'GET pods/shop/web-1',
    'GET networkpolicies/shop/palisade-quarantine',
    'would CREATE networkpolicies/shop/palisade-quarantine',
    'would PATCH pods/shop/web-1 labels quarantined=true',
  ]);
  assert.deepEqual(writes(fake), []);
  assert.equal(fake.resourceVersion, rv);

  // With a policy that is not ours, the dry run says it would replace it.
  fake.addObject('networkpolicies', { metadata: { name: 'palisade-quarantine', namespace: 'shop' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } });
  const r2 = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, { ...opts, dryRun: true });
  assert.ok(r2.steps.includes('would REPLACE networkpolicies/shop/palisade-quarantine spec'), r2.steps.join('\n'));
  assert.deepEqual(writes(fake), []);
});

test('refused: protected namespaces, without any API call', async (t) => {
  const { fake, clients, opts } = await setup(t);
  fake.clearRequests();
  for (const namespace of ['kube-system', 'palisade']) {
    const r = await quarantinePod(clients, { namespace, name: 'x', uid: 'u' }, opts);
    assert.equal(r.outcome, 'refused');
    assert.match(r.reason, /protected/);
    assert.equal(r.attempts, 0);
  }
  // kube-system stays protected even when the caller passes its own list.
  const r = await quarantinePod(clients, { namespace: 'kube-system', name: 'x', uid: 'u' }, { ...opts, protectedNamespaces: [] });
  assert.equal(r.outcome, 'refused');
  assert.deepEqual(fake.requests, []);
});

test('refused: pod gone, or replaced by a pod with another uid', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  const gone = await quarantinePod(clients, { namespace: 'shop', name: 'nope', uid }, opts);
  assert.equal(gone.outcome, 'refused');
  assert.equal(gone.reason, 'pod gone');
  const replaced = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid: '00000000-0000-4000-8000-000000000000' }, opts);
  assert.equal(replaced.outcome, 'refused');
  assert.match(replaced.reason, /pod replaced/);
  assert.deepEqual(writes(fake), []);
  assert.equal(labelsOf(fake.getObject('pods', 'shop', 'web-1'))?.['quarantined'], undefined);
});

test('a pod replaced between the read and the patch is not labelled', async (t) => {
  const { fake, kc, uid, opts } = await setup(t);
  const core = kc.makeApiClient(CoreV1Api);
  let replaced = false;
  // The first read returns the original pod; right after it, the pod is recreated under the same name.
  const racingCore = new Proxy(core, {
    get(target, prop, receiver): unknown {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop !== 'readNamespacedPod' || typeof value !== 'function') return value;
      return async (...args: unknown[]): Promise<unknown> => {
        const pod: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (!replaced) {
          replaced = true;
          fake.deletePod('shop', 'web-1');
          fake.addPod({ metadata: { name: 'web-1', namespace: 'shop' }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] } });
        }
        return pod;
      };
    },
  });
  const clients: QuarantineClients = { ...quarantineClients(kc), core: racingCore };
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  assert.equal(r.outcome, 'refused', r.reason);
  assert.match(r.reason, /pod replaced/);
  assert.ok(r.steps.includes('pods/shop/web-1 changed since read (409 Conflict): re-reading'), r.steps.join('\n'));
  assert.deepEqual(labelsOf(fake.getObject('pods', 'shop', 'web-1')), undefined, 'the replacement is untouched');
  // The policy, written before the label, stays: it selects only labelled pods, so the replacement is not isolated.
  assert.deepEqual(fake.getObject('networkpolicies', 'shop', 'palisade-quarantine')?.['spec'], DENY_EGRESS);
});

test('409 Conflict on the patch: re-read and retry', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  fake.failNext({ method: 'PATCH', pathIncludes: '/pods/', status: 409, reason: 'Conflict', message: 'the object has been modified' });
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(r.steps.slice(0, 7), [
    'GET pods/shop/web-1',
    'GET networkpolicies/shop/palisade-quarantine',
    'CREATE networkpolicies/shop/palisade-quarantine',
    'PATCH pods/shop/web-1 labels quarantined=true',
    'pods/shop/web-1 changed since read (409 Conflict): re-reading',
    'GET pods/shop/web-1',
    'PATCH pods/shop/web-1 labels quarantined=true',
  ]);
  assert.equal(labelsOf(fake.getObject('pods', 'shop', 'web-1'))?.['quarantined'], 'true');
});

test('500s then success: the action is not lost', async (t) => {
  const { fake, clients, uid, opts, sleeps } = await setup(t);
  fake.failNext({ method: 'PATCH', pathIncludes: '/pods/', status: 500, count: 2 });
  fake.failNext({ method: 'POST', pathIncludes: '/networkpolicies', status: 503 });
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.equal(r.attempts, 7); // GET pod, GET policy, CREATE x2, PATCH x3
  assert.equal(sleeps.length, 3);
  // The create's one retry, then the patch's two: each call's backoff starts over and doubles.
  assert.ok(sleeps[0] !== undefined && sleeps[0] >= 50 && sleeps[0] <= 100, `create backoff ${sleeps[0]}`);
  assert.ok(sleeps[1] !== undefined && sleeps[1] >= 50 && sleeps[1] <= 100, `first patch backoff ${sleeps[1]}`);
  assert.ok(sleeps[2] !== undefined && sleeps[2] >= 100 && sleeps[2] <= 200, `second patch backoff ${sleeps[2]}`);
  assert.equal(labelsOf(fake.getObject('pods', 'shop', 'web-1'))?.['quarantined'], 'true');
  assert.deepEqual(fake.getObject('networkpolicies', 'shop', 'palisade-quarantine')?.['spec'], DENY_EGRESS);
});

test('429 honours Retry-After; connection resets are retried', async (t) => {
  const { fake, clients, uid, opts, sleeps } = await setup(t);
  fake.failNext({ method: 'GET', pathIncludes: '/pods/web-1', status: 429, retryAfterSeconds: 2 });
  fake.failNext({ method: 'PATCH', pathIncludes: '/pods/', status: 'reset' });
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.equal(sleeps[0], 2000);
  assert.equal(r.attempts, 6); // GET x2, PATCH x2, GET, CREATE
});

test('failed: retries run out on the label, the reason says why, and the policy stands', async (t) => {
  const { fake, clients, uid, opts, sleeps } = await setup(t);
  fake.failNext({ method: 'PATCH', pathIncludes: '/pods/', status: 500, count: 100 });
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  assert.equal(r.outcome, 'failed');
  assert.equal(r.error?.code, 'KUBE_UNAVAILABLE');
  assert.match(r.reason, /PATCH pods\/shop\/web-1: HTTP 500 InternalError/);
  assert.equal(r.attempts, 8); // GET pod, GET policy, CREATE, 5 PATCH
  assert.equal(sleeps.length, 4);
  assert.deepEqual(fake.getObject('networkpolicies', 'shop', 'palisade-quarantine')?.['spec'], DENY_EGRESS);
  assert.match(r.steps.at(-1) ?? '', /^failed: KUBE_UNAVAILABLE/);
});

test('failed: a policy that cannot be written leaves the pod unlabelled, never labelled without one', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  fake.failNext({ method: 'POST', pathIncludes: '/networkpolicies', status: 500, count: 100 });
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  assert.equal(r.outcome, 'failed');
  assert.match(r.reason, /CREATE networkpolicies\/shop\/palisade-quarantine: HTTP 500/);
  assert.equal(fake.requests.filter((req) => req.method === 'PATCH').length, 0);
  assert.equal(labelsOf(fake.getObject('pods', 'shop', 'web-1'))?.['quarantined'], undefined);
});

test('failed: 403 is not retried', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  fake.failNext({ method: 'PATCH', status: 403, reason: 'Forbidden', message: 'cannot patch resource "pods"' });
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  assert.equal(r.outcome, 'failed');
  assert.equal(r.error?.code, 'KUBE_FORBIDDEN');
  assert.equal(r.attempts, 4); // GET pod, GET policy, CREATE, one PATCH
});

test('a policy that is not ours is replaced', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  fake.addObject('networkpolicies', {
    metadata: { name: 'palisade-quarantine', namespace: 'shop', labels: { team: 'net' } },
    spec: { podSelector: { matchLabels: { quarantined: 'true', extra: 'x' } }, policyTypes: ['Egress'], egress: [{}] },
  });
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(r.steps.slice(1), [
    'GET networkpolicies/shop/palisade-quarantine',
    'REPLACE networkpolicies/shop/palisade-quarantine spec',
    'PATCH pods/shop/web-1 labels quarantined=true',
  ]);
  assert.equal(fake.requests.filter((req) => req.method === 'POST').length, 0, 'a create was tried on an existing policy');
  const np = fake.getObject('networkpolicies', 'shop', 'palisade-quarantine');
  assert.deepEqual(np?.['spec'], DENY_EGRESS);
  assert.deepEqual(labelsOf(np), { team: 'net', 'app.kubernetes.io/managed-by': 'palisade' });
  const put = fake.requests.find((req) => req.method === 'PUT');
  assert.equal(put?.status, 200);
});

test('a 409 on create that is not AlreadyExists: read, find nothing, create again', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  fake.failNext({ method: 'POST', pathIncludes: '/networkpolicies', status: 409 });
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(r.steps.slice(1, 5), [
    'GET networkpolicies/shop/palisade-quarantine',
    'CREATE networkpolicies/shop/palisade-quarantine',
    'GET networkpolicies/shop/palisade-quarantine',
    'CREATE networkpolicies/shop/palisade-quarantine',
  ]);
  assert.deepEqual(fake.getObject('networkpolicies', 'shop', 'palisade-quarantine')?.['spec'], DENY_EGRESS);
});

test('a create whose answer was lost (stored, then 409 AlreadyExists on the retry) is read back, not created twice', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  fake.failNext({ method: 'POST', pathIncludes: '/networkpolicies', status: 'hang', apply: true });
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, { ...opts, requestTimeoutMs: 300 });
  assert.equal(r.outcome, 'done', r.reason);
  const stored = fake.requests.filter((req) => req.method === 'POST' && req.status >= 200 && req.status < 300);
  assert.equal(stored.length, 1, 'the policy was created more than once');
  assert.deepEqual(r.steps.slice(-3), [
    'GET networkpolicies/shop/palisade-quarantine',
    'networkpolicies/shop/palisade-quarantine already denies egress for quarantined=true',
    'PATCH pods/shop/web-1 labels quarantined=true',
  ]);
});

test('an API server that never answers costs one deadline per attempt, then a failed outcome', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  fake.failNext({ method: 'GET', pathIncludes: '/pods/web-1', status: 'hang', count: 100 });
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid },
    { ...opts, retry: { maxAttempts: 3 }, requestTimeoutMs: 200 });
  assert.equal(r.outcome, 'failed', r.reason);
  assert.equal(r.error?.code, 'KUBE_UNAVAILABLE');
  assert.equal(r.error?.retriable, true);
  assert.equal(r.attempts, 3);
  assert.equal(fake.requests.filter((req) => req.method === 'GET').length, 3);
});

test('409 Conflict on the replace: re-read and retry', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  fake.addObject('networkpolicies', { metadata: { name: 'palisade-quarantine', namespace: 'shop' }, spec: { podSelector: {}, policyTypes: ['Ingress'] } });
  fake.failNext({ method: 'PUT', status: 409, reason: 'Conflict' });
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(fake.getObject('networkpolicies', 'shop', 'palisade-quarantine')?.['spec'], DENY_EGRESS);
  assert.equal(r.steps.filter((s) => s.startsWith('REPLACE')).length, 2);
});

test('custom label and policy name', async (t) => {
  const { fake, clients, uid, opts } = await setup(t);
  const r = await quarantinePod(clients, { namespace: 'shop', name: 'web-1', uid }, { ...opts, labelKey: 'security.example.com/quarantine', labelValue: 'yes', policyName: 'isolate' });
  assert.equal(r.outcome, 'done', r.reason);
  assert.equal(labelsOf(fake.getObject('pods', 'shop', 'web-1'))?.['security.example.com/quarantine'], 'yes');
  assert.deepEqual(fake.getObject('networkpolicies', 'shop', 'isolate')?.['spec'], {
    podSelector: { matchLabels: { 'security.example.com/quarantine': 'yes' } },
    policyTypes: ['Egress'],
  });
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

test('a pod scheduled on another node than the one that reported the event is refused before any write', async (t) => {
  const { fake, clients, opts } = await setup(t, 'other');
  const pod = fake.addPod({
    metadata: { name: 'db-0', namespace: 'other' },
    spec: { nodeName: 'node-a', containers: [{ name: 'db', image: 'postgres:16' }] },
  });
  const uid = uidOf(pod);
  for (const dryRun of [true, false]) {
    const r = await quarantinePod(clients, { namespace: 'other', name: 'db-0', uid, node: 'node-b' }, { ...opts, dryRun });
    assert.equal(r.outcome, 'refused');
    assert.equal(r.nodeMismatch, 'pods/other/db-0 is scheduled on node "node-a", but node "node-b" reported the event');
    assert.deepEqual(r.steps, ['GET pods/other/db-0']);
  }
  assert.deepEqual(writes(fake), []);
  // Not scheduled at all (no spec.nodeName) is a mismatch too: no node ran it.
  const r = await quarantinePod(clients, { namespace: 'other', name: 'web-1', uid: uidOf(fake.getObject('pods', 'other', 'web-1')), node: 'node-b' }, opts);
  assert.match(r.nodeMismatch ?? '', /scheduled on node "", but node "node-b"/);
  // On the right node it goes ahead.
  const ok = await quarantinePod(clients, { namespace: 'other', name: 'db-0', uid, node: 'node-a' }, opts);
  assert.equal(ok.outcome, 'done', ok.reason);
  assert.equal(ok.nodeMismatch, undefined);
});
