// The fake is driven by the real @kubernetes/client-node, so what these tests pin is what the services see.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ApiException,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  PatchStrategy,
  Watch,
  setHeaderOptions,
  type V1Pod,
} from '@kubernetes/client-node';
import { FakeKubeApi, type FakeKubeApiOptions } from './fake-kube-api.js';
import { isObject, type JsonObject } from './json.js';

interface Harness {
  fake: FakeKubeApi;
  kc: KubeConfig;
  core: CoreV1Api;
  net: NetworkingV1Api;
}

async function harness(t: TestContext, options: FakeKubeApiOptions = {}): Promise<Harness> {
  const fake = new FakeKubeApi(options);
  await fake.start();
  const dir = await mkdtemp(join(tmpdir(), 'fake-kube-'));
  const path = join(dir, 'kubeconfig');
  await fake.writeKubeconfig(path);
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  t.after(async () => {
    await fake.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { fake, kc, core: kc.makeApiClient(CoreV1Api), net: kc.makeApiClient(NetworkingV1Api) };
}

function pod(name: string, extra: { labels?: Record<string, string>; nodeName?: string; namespace?: string } = {}): V1Pod {
  return {
    metadata: { name, namespace: extra.namespace ?? 'default', ...(extra.labels === undefined ? {} : { labels: extra.labels }) },
    spec: { containers: [{ name: 'app', image: 'nginx:1.27' }], ...(extra.nodeName === undefined ? {} : { nodeName: extra.nodeName }) },
  };
}

/** The Status an ApiException carries (the client hands non-2xx bodies over as text). */
function statusOf(err: unknown): { code: number; reason: string; message: string; details?: JsonObject } {
  assert.ok(err instanceof ApiException, `expected ApiException, got ${String(err)}`);
  const body: unknown = typeof err.body === 'string' ? JSON.parse(err.body) : err.body;
  assert.ok(isObject(body), 'Status body');
  assert.equal(body['kind'], 'Status');
  assert.equal(body['code'], err.code);
  const out: { code: number; reason: string; message: string; details?: JsonObject } = {
    code: err.code,
    reason: String(body['reason']),
    message: String(body['message']),
  };
  if (isObject(body['details'])) out.details = body['details'];
  return out;
}

async function rejectsWith(p: Promise<unknown>, code: number, reason: string): Promise<{ message: string; details?: JsonObject }> {
  try {
    await p;
  } catch (err) {
    const s = statusOf(err);
    assert.equal(s.code, code, s.message);
    assert.equal(s.reason, reason, s.message);
    return s;
  }
  assert.fail(`expected ${code} ${reason}`);
}

interface WatchEvent {
  type: string;
  object: JsonObject;
}

/** Opens a watch through the client's Watch and collects events until `count` arrived (or the stream ended). */
async function collect(kc: KubeConfig, path: string, query: Record<string, string | boolean>, count: number, trigger?: () => void): Promise<{ events: WatchEvent[]; err: unknown }> {
  const events: WatchEvent[] = [];
  let controller: AbortController | undefined;
  const result = await new Promise<{ events: WatchEvent[]; err: unknown }>((resolve) => {
    const timer = setTimeout(() => resolve({ events, err: new Error('timeout') }), 3000);
    void new Watch(kc)
      .watch(
        path,
        query,
        (type: string, object: unknown) => {
          events.push({ type, object: isObject(object) ? object : {} });
          if (events.length >= count) {
            clearTimeout(timer);
            resolve({ events, err: undefined });
          }
        },
        (err: unknown) => {
          clearTimeout(timer);
          resolve({ events, err });
        },
      )
      .then((c) => {
        controller = c;
        trigger?.();
      });
  });
  controller?.abort();
  return result;
}

function nameOf(obj: JsonObject): string {
  const meta = obj['metadata'];
  return isObject(meta) ? String(meta['name']) : '';
}

test('create assigns uid, resourceVersion and status; get and list see it', async (t) => {
  const { core, fake } = await harness(t);
  const before = Number(fake.resourceVersion);
  const created = await core.createNamespacedPod({ namespace: 'default', body: pod('web-1') });
  assert.match(created.metadata?.uid ?? '', /^[0-9a-f-]{36}$/);
  assert.equal(created.metadata?.resourceVersion, String(before + 1));
  assert.equal(created.status?.phase, 'Pending');
  const got = await core.readNamespacedPod({ namespace: 'default', name: 'web-1' });
  assert.equal(got.metadata?.uid, created.metadata?.uid);
  const list = await core.listNamespacedPod({ namespace: 'default' });
  assert.equal(list.metadata?.resourceVersion, fake.resourceVersion);
  assert.deepEqual(list.items.map((p) => p.metadata?.name), ['web-1']);
  const namespaces = await core.listNamespace();
  assert.deepEqual(namespaces.items.map((n) => n.metadata?.name), ['default', 'kube-system']);
});

test('duplicate create is 409 AlreadyExists; create in a missing namespace is 404', async (t) => {
  const { core } = await harness(t);
  await core.createNamespacedPod({ namespace: 'default', body: pod('web-1') });
  const s = await rejectsWith(core.createNamespacedPod({ namespace: 'default', body: pod('web-1') }), 409, 'AlreadyExists');
  assert.equal(s.details?.['name'], 'web-1');
  await rejectsWith(core.createNamespacedPod({ namespace: 'nope', body: pod('web-1', { namespace: 'nope' }) }), 404, 'NotFound');
});

test('invalid names, labels and pod specs are 422 Invalid with causes', async (t) => {
  const { core } = await harness(t);
  const bad = await rejectsWith(core.createNamespacedPod({ namespace: 'default', body: pod('Web_1') }), 422, 'Invalid');
  assert.match(bad.message, /metadata\.name: Invalid value: "Web_1"/);
  const causes = bad.details?.['causes'];
  assert.ok(Array.isArray(causes) && causes.length === 1);

  const noName: V1Pod = { metadata: {}, spec: { containers: [{ name: 'app', image: 'x' }] } };
  const missing = await rejectsWith(core.createNamespacedPod({ namespace: 'default', body: noName }), 422, 'Invalid');
  assert.match(missing.message, /name or generateName is required/);

  await rejectsWith(core.createNamespacedPod({ namespace: 'default', body: pod('ok', { labels: { 'bad key!': 'v' } }) }), 422, 'Invalid');
  await rejectsWith(core.createNamespacedPod({ namespace: 'default', body: pod('ok', { labels: { k: 'x'.repeat(64) } }) }), 422, 'Invalid');
  await rejectsWith(core.createNamespacedPod({ namespace: 'default', body: { metadata: { name: 'ok' }, spec: { containers: [] } } }), 422, 'Invalid');
  await rejectsWith(core.createNamespace({ body: { metadata: { name: 'a.b' } } }), 422, 'Invalid'); // namespaces are labels, not subdomains
  // Near misses that are valid.
  await core.createNamespacedPod({ namespace: 'default', body: pod('a.b-1', { labels: { 'example.com/team': 'blue_1', empty: '' } }) });
  const generated = await core.createNamespacedPod({ namespace: 'default', body: { metadata: { generateName: 'job-' }, spec: { containers: [{ name: 'c', image: 'i' }] } } });
  assert.match(generated.metadata?.name ?? '', /^job-[0-9a-f]{5}$/);
});

test('network policies: malformed specs are 422 (400 when types are wrong), defaults applied, empty lists dropped', async (t) => {
  const { net, fake } = await harness(t);
  const ns = 'default';
  await rejectsWith(net.createNamespacedNetworkPolicy({ namespace: ns, body: { metadata: { name: 'p' }, spec: { podSelector: {}, policyTypes: ['Sideways'] } } }), 422, 'Invalid');
  await rejectsWith(
    net.createNamespacedNetworkPolicy({ namespace: ns, body: { metadata: { name: 'p' }, spec: { podSelector: { matchExpressions: [{ key: 'a', operator: 'In', values: [] }] } } } }),
    422,
    'Invalid',
  );
  await rejectsWith(
    net.createNamespacedNetworkPolicy({ namespace: ns, body: { metadata: { name: 'p' }, spec: { podSelector: {}, egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/33' } }] }] } } }),
    422,
    'Invalid',
  );
  await rejectsWith(
    net.createNamespacedNetworkPolicy({ namespace: ns, body: { metadata: { name: 'p' }, spec: { podSelector: {}, egress: [{ ports: [{ port: 70000 }] }] } } }),
    422,
    'Invalid',
  );
  const raw = await fetch(`${fake.url}/apis/networking.k8s.io/v1/namespaces/default/networkpolicies`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ metadata: { name: 'p' }, spec: { podSelector: {}, egress: 'all' } }),
  });
  assert.equal(raw.status, 400);

  const created = await net.createNamespacedNetworkPolicy({
    namespace: ns,
    body: { metadata: { name: 'deny' }, spec: { podSelector: { matchLabels: { quarantined: 'true' } }, policyTypes: ['Egress'], egress: [] } },
  });
  assert.deepEqual(created.spec?.policyTypes, ['Egress']);
  assert.equal(created.spec?.egress, undefined, 'egress: [] is omitempty in the Go types');
  assert.equal(created.metadata?.generation, 1);
  const defaulted = await net.createNamespacedNetworkPolicy({ namespace: ns, body: { metadata: { name: 'd' }, spec: { podSelector: {}, egress: [{ ports: [{ port: 53 }] }] } } });
  assert.deepEqual(defaulted.spec?.policyTypes, ['Ingress', 'Egress']);
  assert.equal(defaulted.spec?.egress?.[0]?.ports?.[0]?.protocol, 'TCP');
});

test('get of a missing object is 404 NotFound with a Status body', async (t) => {
  const { core, net } = await harness(t);
  const s = await rejectsWith(core.readNamespacedPod({ namespace: 'default', name: 'ghost' }), 404, 'NotFound');
  assert.equal(s.message, 'pods "ghost" not found');
  await rejectsWith(net.readNamespacedNetworkPolicy({ namespace: 'default', name: 'ghost' }), 404, 'NotFound');
});

test('merge and strategic-merge patches with resourceVersion preconditions', async (t) => {
  const { core, fake } = await harness(t);
  const created = await core.createNamespacedPod({ namespace: 'default', body: pod('web-1', { labels: { app: 'web' } }) });
  const rv = created.metadata?.resourceVersion ?? '';

  const merged = await core.patchNamespacedPod(
    { namespace: 'default', name: 'web-1', body: { metadata: { labels: { quarantined: 'true' }, resourceVersion: rv } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
  assert.deepEqual(merged.metadata?.labels, { app: 'web', quarantined: 'true' });
  assert.notEqual(merged.metadata?.resourceVersion, rv);

  // The same precondition is stale now.
  await rejectsWith(
    core.patchNamespacedPod(
      { namespace: 'default', name: 'web-1', body: { metadata: { labels: { x: 'y' }, resourceVersion: rv } } },
      setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
    ),
    409,
    'Conflict',
  );
  const smp = await core.patchNamespacedPod(
    { namespace: 'default', name: 'web-1', body: { metadata: { labels: { app: null, tier: 'front' } } } },
    setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
  );
  assert.deepEqual(smp.metadata?.labels, { quarantined: 'true', tier: 'front' });

  // A patch that changes nothing is not a write.
  const rvBefore = fake.resourceVersion;
  await core.patchNamespacedPod({ namespace: 'default', name: 'web-1', body: { metadata: { labels: { tier: 'front' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  assert.equal(fake.resourceVersion, rvBefore);

  // Invalid label through a patch, a forbidden pod spec change, and an immutable uid.
  await rejectsWith(
    core.patchNamespacedPod({ namespace: 'default', name: 'web-1', body: { metadata: { labels: { k: 'bad value' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    422,
    'Invalid',
  );
  await rejectsWith(
    core.patchNamespacedPod({ namespace: 'default', name: 'web-1', body: { spec: { nodeName: 'other' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    422,
    'Invalid',
  );
  await rejectsWith(
    core.patchNamespacedPod({ namespace: 'default', name: 'web-1', body: { metadata: { uid: 'someone-else' } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    422,
    'Invalid',
  );
  await rejectsWith(
    core.patchNamespacedPod({ namespace: 'default', name: 'ghost', body: { metadata: { labels: { a: 'b' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)),
    404,
    'NotFound',
  );
});

test('JSON patch is applied (test op included); server-side apply is 415', async (t) => {
  const { core, fake } = await harness(t);
  await core.createNamespacedPod({ namespace: 'default', body: pod('web-1', { labels: { app: 'web' } }) });
  const patched = await core.patchNamespacedPod({
    namespace: 'default',
    name: 'web-1',
    body: [
      { op: 'test', path: '/metadata/labels/app', value: 'web' },
      { op: 'add', path: '/metadata/labels/quarantined', value: 'true' },
    ],
  });
  assert.equal(patched.metadata?.labels?.['quarantined'], 'true');
  await rejectsWith(core.patchNamespacedPod({ namespace: 'default', name: 'web-1', body: [{ op: 'test', path: '/metadata/labels/app', value: 'db' }] }), 422, 'Invalid');
  const apply = await fetch(`${fake.url}/api/v1/namespaces/default/pods/web-1`, {
    method: 'PATCH',
    headers: { 'Content-Type': 'application/apply-patch+yaml' },
    body: 'metadata: {}',
  });
  assert.equal(apply.status, 415);
});

test('replace (PUT) honours resourceVersion and uid preconditions', async (t) => {
  const { net } = await harness(t);
  const created = await net.createNamespacedNetworkPolicy({ namespace: 'default', body: { metadata: { name: 'p' }, spec: { podSelector: {} } } });
  const body = { ...created, spec: { podSelector: { matchLabels: { a: 'b' } }, policyTypes: ['Egress'] } };
  const replaced = await net.replaceNamespacedNetworkPolicy({ namespace: 'default', name: 'p', body });
  assert.equal(replaced.metadata?.generation, 2);
  await rejectsWith(net.replaceNamespacedNetworkPolicy({ namespace: 'default', name: 'p', body }), 409, 'Conflict');
  const wrongUid = { ...replaced, metadata: { ...replaced.metadata, uid: '00000000-0000-0000-0000-000000000000' } };
  const s = await rejectsWith(net.replaceNamespacedNetworkPolicy({ namespace: 'default', name: 'p', body: wrongUid }), 409, 'Conflict');
  assert.match(s.message, /Precondition failed: UID/);
});

test('delete removes, emits DELETED, and honours preconditions', async (t) => {
  const { core, fake } = await harness(t);
  const created = await core.createNamespacedPod({ namespace: 'default', body: pod('web-1') });
  await rejectsWith(core.deleteNamespacedPod({ namespace: 'default', name: 'web-1', body: { preconditions: { uid: 'other' } } }), 409, 'Conflict');
  await core.deleteNamespacedPod({ namespace: 'default', name: 'web-1', body: { preconditions: { uid: created.metadata?.uid ?? '' } } });
  assert.equal(fake.getObject('pods', 'default', 'web-1'), undefined);
  await rejectsWith(core.deleteNamespacedPod({ namespace: 'default', name: 'web-1' }), 404, 'NotFound');
});

test('list filters by labelSelector and fieldSelector spec.nodeName; bad selectors are 400', async (t) => {
  const { core, fake } = await harness(t);
  fake.addPod(pod('a', { nodeName: 'node-1', labels: { app: 'web', tier: 'front' } }));
  fake.addPod(pod('b', { nodeName: 'node-2', labels: { app: 'web' } }));
  fake.addPod(pod('c', { nodeName: 'node-1', namespace: 'team-x', labels: { app: 'db' } }));
  const names = async (q: { labelSelector?: string; fieldSelector?: string }): Promise<string[]> =>
    (await core.listPodForAllNamespaces(q)).items.map((p) => p.metadata?.name ?? '');
  assert.deepEqual(await names({ fieldSelector: 'spec.nodeName=node-1' }), ['a', 'c']);
  assert.deepEqual(await names({ labelSelector: 'app=web' }), ['a', 'b']);
  assert.deepEqual(await names({ labelSelector: 'app in (web, db),!tier' }), ['b', 'c']);
  assert.deepEqual(await names({ labelSelector: 'app!=web', fieldSelector: 'spec.nodeName==node-1' }), ['c']);
  assert.deepEqual(await names({ labelSelector: 'tier' }), ['a']);
  const errors: number[] = [];
  for (const q of [{ labelSelector: 'app in (web' }, { fieldSelector: 'spec.containers=x' }, { labelSelector: 'bad key=1' }]) {
    await core.listPodForAllNamespaces(q).catch((err: unknown) => errors.push(statusOf(err).code));
  }
  assert.deepEqual(errors, [400, 400, 400]);
});

test('watch from a resourceVersion streams what happened after it, then live events', async (t) => {
  const { kc, fake } = await harness(t);
  const a = fake.addPod(pod('a'));
  const rvA = String((a['metadata'] as JsonObject)['resourceVersion']);
  fake.addPod(pod('b'));
  fake.updatePod('default', 'a', (p) => {
    p['status'] = { phase: 'Running' };
  });
  fake.deletePod('default', 'b');
  const { events } = await collect(kc, '/api/v1/namespaces/default/pods', { resourceVersion: rvA }, 4, () => {
    fake.addPod(pod('c'));
  });
  assert.deepEqual(
    events.map((e) => `${e.type} ${nameOf(e.object)}`),
    ['ADDED b', 'MODIFIED a', 'DELETED b', 'ADDED c'],
  );
  // Resource versions increase along the stream.
  const rvs = events.map((e) => Number((e.object['metadata'] as JsonObject)['resourceVersion']));
  assert.deepEqual([...rvs].sort((x, y) => x - y), rvs);
});

test('watch without a resourceVersion starts with the current state', async (t) => {
  const { kc, fake } = await harness(t);
  fake.addPod(pod('a'));
  fake.addPod(pod('b'));
  const { events } = await collect(kc, '/api/v1/pods', {}, 2);
  assert.deepEqual(events.map((e) => `${e.type} ${nameOf(e.object)}`), ['ADDED a', 'ADDED b']);
  assert.equal(events[0]?.object['kind'], 'Pod');
});

test('watch with a selector sees objects leave and enter it', async (t) => {
  const { kc, fake } = await harness(t);
  fake.addPod(pod('a', { labels: { app: 'web' } }));
  const rv = fake.resourceVersion;
  fake.updatePod('default', 'a', (p) => {
    (p['metadata'] as JsonObject)['labels'] = { app: 'db' };
  });
  fake.updatePod('default', 'a', (p) => {
    (p['metadata'] as JsonObject)['labels'] = { app: 'web' };
  });
  fake.addPod(pod('b', { labels: { app: 'db' } }));
  fake.updatePod('default', 'a', (p) => {
    p['spec'] = { ...(p['spec'] as JsonObject), nodeName: 'n1' };
  });
  const { events } = await collect(kc, '/api/v1/pods', { resourceVersion: rv, labelSelector: 'app=web' }, 3);
  assert.deepEqual(events.map((e) => `${e.type} ${nameOf(e.object)}`), ['DELETED a', 'ADDED a', 'MODIFIED a']);
});

test('a watch from a compacted resourceVersion gets an ERROR event with 410 Expired', async (t) => {
  const { kc, fake } = await harness(t);
  fake.addPod(pod('a'));
  const old = fake.resourceVersion;
  fake.addPod(pod('b'));
  fake.compact();
  const { events, err } = await collect(kc, '/api/v1/pods', { resourceVersion: old }, 2);
  assert.equal(err, null, 'the stream ends cleanly after the error event');
  assert.equal(events.length, 1);
  assert.equal(events[0]?.type, 'ERROR');
  assert.equal(events[0]?.object['code'], 410);
  assert.equal(events[0]?.object['reason'], 'Expired');
  // Watching from the current version is still fine.
  const fresh = await collect(kc, '/api/v1/pods', { resourceVersion: fake.resourceVersion }, 1, () => fake.addPod(pod('c')));
  assert.deepEqual(fresh.events.map((e) => e.type), ['ADDED']);
});

test('expiredWatch "http" answers 410 Gone with a Status body', async (t) => {
  const { kc, fake } = await harness(t, { expiredWatch: 'http' });
  fake.addPod(pod('a'));
  const old = fake.resourceVersion;
  fake.addPod(pod('b'));
  fake.compact();
  const { err } = await collect(kc, '/api/v1/pods', { resourceVersion: old }, 1);
  assert.equal((err as { statusCode?: number }).statusCode, 410);
  const raw = await fetch(`${fake.url}/api/v1/pods?watch=true&resourceVersion=${old}`);
  assert.equal(raw.status, 410);
  const body = (await raw.json()) as JsonObject;
  assert.equal(body['kind'], 'Status');
  assert.equal(body['reason'], 'Expired');
});

test('history beyond historyLimit expires on its own', async (t) => {
  const { kc, fake } = await harness(t, { historyLimit: 2 });
  const old = fake.resourceVersion;
  fake.addPod(pod('a'));
  fake.addPod(pod('b'));
  fake.addPod(pod('c'));
  const { events } = await collect(kc, '/api/v1/pods', { resourceVersion: old }, 1);
  assert.equal(events[0]?.type, 'ERROR');
});

test('bookmarks only when allowed', async (t) => {
  const { kc, fake } = await harness(t);
  const rv = fake.resourceVersion;
  const allowed = await collect(kc, '/api/v1/pods', { resourceVersion: rv, allowWatchBookmarks: true }, 1, () => fake.bookmark());
  assert.equal(allowed.events[0]?.type, 'BOOKMARK');
  assert.equal((allowed.events[0]?.object['metadata'] as JsonObject)['resourceVersion'], fake.resourceVersion);
  const notAllowed = await collect(kc, '/api/v1/pods', { resourceVersion: rv }, 1, () => {
    fake.bookmark();
    fake.addPod(pod('a'));
  });
  assert.deepEqual(notAllowed.events.map((e) => e.type), ['ADDED']);
});

test('failNext injects errors for matching requests only, and the request log records them', async (t) => {
  const { core, fake } = await harness(t);
  fake.addPod(pod('a'));
  fake.failNext({ method: 'PATCH', pathIncludes: '/pods/', status: 500, count: 2 });
  fake.failNext({ method: 'GET', pathIncludes: '/pods/a', status: 429, retryAfterSeconds: 1 });
  const patch = (): Promise<V1Pod> =>
    core.patchNamespacedPod({ namespace: 'default', name: 'a', body: { metadata: { labels: { x: 'y' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
  await rejectsWith(patch(), 500, 'InternalError');
  await rejectsWith(patch(), 500, 'InternalError');
  const ok = await patch();
  assert.equal(ok.metadata?.labels?.['x'], 'y');
  try {
    await core.readNamespacedPod({ namespace: 'default', name: 'a' });
    assert.fail('expected 429');
  } catch (err) {
    assert.equal(statusOf(err).reason, 'TooManyRequests');
    assert.equal((err as ApiException<unknown>).headers['retry-after'], '1');
  }
  await core.readNamespacedPod({ namespace: 'default', name: 'a' });
  assert.deepEqual(
    fake.requests.map((r) => `${r.method} ${r.path} ${r.status}${r.injected ? ' injected' : ''}`),
    [
      'PATCH /api/v1/namespaces/default/pods/a 500 injected',
      'PATCH /api/v1/namespaces/default/pods/a 500 injected',
      'PATCH /api/v1/namespaces/default/pods/a 200',
      'GET /api/v1/namespaces/default/pods/a 429 injected',
      'GET /api/v1/namespaces/default/pods/a 200',
    ],
  );
  assert.equal(fake.requests[2]?.contentType, 'application/merge-patch+json');
  assert.deepEqual(fake.requests[2]?.body, { metadata: { labels: { x: 'y' } } });
});

test('a reset fault drops the connection', async (t) => {
  const { core, fake } = await harness(t);
  fake.failNext({ pathIncludes: '/pods', status: 'reset' });
  await assert.rejects(core.listPodForAllNamespaces(), (err: unknown) => !(err instanceof ApiException));
  await core.listPodForAllNamespaces();
});

test('a hang fault holds the request unanswered; with apply the write is stored and the answer withheld', async (t) => {
  const { fake } = await harness(t);
  fake.addPod(pod('a'));
  const url = `${fake.url}/api/v1/namespaces/default/pods/a`;
  const patch = (labels: Record<string, string>): Promise<Response> => fetch(url, {
    method: 'PATCH', body: JSON.stringify({ metadata: { labels } }), headers: { 'Content-Type': 'application/merge-patch+json' },
    signal: AbortSignal.timeout(300),
  });
  fake.failNext({ method: 'PATCH', status: 'hang' });
  fake.failNext({ method: 'PATCH', status: 'hang', apply: true });
  await assert.rejects(patch({ first: 'x' }), (err: Error) => err.name === 'TimeoutError');
  await assert.rejects(patch({ second: 'y' }), (err: Error) => err.name === 'TimeoutError');
  const labels = (fake.getObject('pods', 'default', 'a')?.['metadata'] as { labels?: Record<string, string> }).labels ?? {};
  assert.equal(labels['first'], undefined, 'a plain hang stored the write');
  assert.equal(labels['second'], 'y', 'a hang with apply did not store the write');
  assert.deepEqual(fake.requests.map((r) => `${r.method} ${r.status}${r.injected ? ' injected' : ''}${r.withheld ? ' withheld' : ''}`),
    ['PATCH 0 injected', 'PATCH 200 injected withheld']);
  assert.equal((await patch({ third: 'z' })).status, 200, 'the fault outlived its count');
});

test('token auth: requests without the bearer token are 401', async (t) => {
  const { core, fake } = await harness(t, { token: 's3cret' });
  await core.listNamespace(); // the kubeconfig carries the token
  const raw = await fetch(`${fake.url}/api/v1/namespaces`);
  assert.equal(raw.status, 401);
});

test('unknown paths are 404 and unsupported methods 405', async (t) => {
  const { fake } = await harness(t);
  assert.equal((await fetch(`${fake.url}/api/v1/services`)).status, 404);
  assert.equal((await fetch(`${fake.url}/apis/apps/v1/deployments`)).status, 404);
  assert.equal((await fetch(`${fake.url}/api/v1/pods`, { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } })).status, 405);
  assert.equal((await fetch(`${fake.url}/api/v1/namespaces/default/pods`, { method: 'POST', body: '{}', headers: { 'Content-Type': 'text/plain' } })).status, 415);
});

test('creating with a resourceVersion is refused; dryRun=All stores nothing', async (t) => {
  const { core, fake } = await harness(t);
  const withRv = pod('a');
  withRv.metadata = { ...withRv.metadata, resourceVersion: '5' };
  await rejectsWith(core.createNamespacedPod({ namespace: 'default', body: withRv }), 500, 'InternalError');
  const rv = fake.resourceVersion;
  await core.createNamespacedPod({ namespace: 'default', body: pod('a'), dryRun: 'All' });
  assert.equal(fake.getObject('pods', 'default', 'a'), undefined);
  assert.equal(fake.resourceVersion, rv);
});

test('deleting a namespace deletes what is in it', async (t) => {
  const { core, fake } = await harness(t);
  fake.addPod(pod('a', { namespace: 'team-x' }));
  await core.deleteNamespace({ name: 'team-x' });
  assert.equal(fake.getObject('pods', 'team-x', 'a'), undefined);
  assert.equal(fake.getObject('namespaces', undefined, 'team-x'), undefined);
});
