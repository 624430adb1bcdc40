// The fault proxy (test/support/kube-fault-proxy.ts) in front of the shared real API server: unarmed it is
// transparent (the server's answers, RBAC on the client's own token, watches streamed); armed, it answers the
// matching requests with a Status and Retry-After, resets them, or holds them, with or without the server having
// carried the write out, or stalls a watch after its headers. And the pod helpers make pods as a kubelet would
// report them.
import assert from 'node:assert/strict';
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { kubeUnavailableReason, sharedKubeCluster, uniqueNamespace, type KubeCluster } from '../support/kube-cluster.js';
import { startFaultProxy, type FaultProxy } from '../support/kube-fault-proxy.js';
import { createPod, deletePod, getPod, podInCgroup } from '../support/kube-pods.js';

const why = kubeUnavailableReason();
const skip = skipUnless(why === undefined, why ?? '');
let kube: KubeCluster;
let proxy: FaultProxy;

before(async () => {
  if (skip) return;
  kube = await sharedKubeCluster();
  proxy = await startFaultProxy(kube);
});

after(async () => {
  await proxy?.stop();
});

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

/** One request to the proxy; rejects with the socket error on a reset, never settles on a hang until `timeoutMs`. */
function viaProxy(method: string, path: string, opts: { token?: string; body?: unknown; timeoutMs?: number } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = opts.body === undefined ? undefined : JSON.stringify(opts.body);
    const req = request(`${proxy.url}${path}`, {
      method, ca: readFileSync(kube.caFile), agent: false,
      headers: {
        accept: 'application/json',
        ...(payload !== undefined && { 'content-type': 'application/json' }),
        ...(opts.token !== undefined && { authorization: `Bearer ${opts.token}` }),
      },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => (body += d)).on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}

test('unarmed, the proxy forwards: the server answers, as the admin without a token and as the ServiceAccount with one', { skip }, async () => {
  const ns = uniqueNamespace();
  await createPod(kube, { namespace: ns, name: 'web-1' });
  const admin = await viaProxy('GET', `/api/v1/namespaces/${ns}/pods/web-1`);
  assert.equal(admin.status, 200);
  assert.equal(JSON.parse(admin.body).metadata.name, 'web-1');
  // A token the server does not know RBAC for: the real 403, not the proxy's admin identity.
  const token = await kube.mintToken(ns, 'nobody');
  const refused = await viaProxy('GET', `/api/v1/namespaces/${ns}/pods/web-1`, { token });
  assert.equal(refused.status, 403);
  assert.equal(JSON.parse(refused.body).reason, 'Forbidden');
  // Server-side validation comes through too: a pod without containers is 422 Invalid.
  const invalid = await viaProxy('POST', `/api/v1/namespaces/${ns}/pods`, {
    body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'bad' }, spec: { containers: [] } },
  });
  assert.equal(invalid.status, 422);
  const rec = proxy.requests.find((r) => r.method === 'POST' && r.path === `/api/v1/namespaces/${ns}/pods`);
  assert.equal(rec?.status, 422);
  assert.equal(rec?.injected, false);
});

test('an armed status answers the matching requests with a Status body (and Retry-After), then the server answers again', { skip }, async () => {
  const ns = uniqueNamespace();
  await createPod(kube, { namespace: ns, name: 'web-1' });
  proxy.failNext({ method: 'GET', pathIncludes: `/namespaces/${ns}/pods/web-1`, status: 429, retryAfterSeconds: 3, count: 2 });
  for (let i = 0; i < 2; i++) {
    const a = await viaProxy('GET', `/api/v1/namespaces/${ns}/pods/web-1`);
    assert.equal(a.status, 429);
    assert.equal(a.headers['retry-after'], '3');
    assert.deepEqual({ kind: JSON.parse(a.body).kind, reason: JSON.parse(a.body).reason, code: JSON.parse(a.body).code },
      { kind: 'Status', reason: 'TooManyRequests', code: 429 });
  }
  assert.equal((await viaProxy('GET', `/api/v1/namespaces/${ns}/pods/web-1`)).status, 200);
  // A method that does not match is not failed.
  proxy.failNext({ method: 'PATCH', pathIncludes: `/namespaces/${ns}/`, status: 409, reason: 'Conflict', message: 'the object has been modified' });
  assert.equal((await viaProxy('GET', `/api/v1/namespaces/${ns}/pods/web-1`)).status, 200);
  const conflict = await viaProxy('PATCH', `/api/v1/namespaces/${ns}/pods/web-1`, { body: {} });
  assert.equal(conflict.status, 409);
  assert.equal(JSON.parse(conflict.body).message, 'the object has been modified');
});

test('reset destroys the connection; hang holds it; hang with apply stores the write and withholds the answer', { skip }, async () => {
  const ns = uniqueNamespace();
  await createPod(kube, { namespace: ns, name: 'web-1' });
  proxy.failNext({ method: 'GET', pathIncludes: `/namespaces/${ns}/pods/web-1`, status: 'reset' });
  await assert.rejects(viaProxy('GET', `/api/v1/namespaces/${ns}/pods/web-1`), /socket hang up|ECONNRESET/);

  proxy.failNext({ method: 'GET', pathIncludes: `/namespaces/${ns}/pods/web-1`, status: 'hang' });
  await assert.rejects(viaProxy('GET', `/api/v1/namespaces/${ns}/pods/web-1`, { timeoutMs: 1_000 }), /timed out/);

  proxy.failNext({ method: 'POST', pathIncludes: `/namespaces/${ns}/configmaps`, status: 'hang', apply: true });
  await assert.rejects(viaProxy('POST', `/api/v1/namespaces/${ns}/configmaps`, {
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'stored' }, data: { a: '1' } }, timeoutMs: 5_000,
  }), /timed out/);
  const rec = proxy.requests.find((r) => r.method === 'POST' && r.path === `/api/v1/namespaces/${ns}/configmaps`);
  await waitFor('the held write to reach the server', () => rec?.upstreamStatus === 201, { timeoutMs: 30_000 });
  assert.equal(rec?.withheld, true);
  assert.equal((await kube.api('GET', `/api/v1/namespaces/${ns}/configmaps/stored`)).status, 200);
});

test('watches stream through the proxy, and closeWatches ends them', { skip }, async () => {
  const ns = uniqueNamespace();
  await createPod(kube, { namespace: ns, name: 'web-1' });
  const events: string[] = [];
  let ended = false;
  const req = request(`${proxy.url}/api/v1/namespaces/${ns}/pods?watch=true`, { ca: readFileSync(kube.caFile), agent: false }, (res) => {
    res.setEncoding('utf8').on('data', (d: string) => events.push(d)).on('end', () => (ended = true));
  });
  req.on('error', () => { /* ended by closeWatches */ });
  req.end();
  await waitFor('the watch to replay the pod', () => events.join('').includes('"ADDED"'), { timeoutMs: 30_000 });
  await createPod(kube, { namespace: ns, name: 'web-2' });
  await waitFor('the watch to stream the new pod', () => events.join('').includes('web-2'), { timeoutMs: 30_000 });
  assert.ok(proxy.watchCount >= 1);
  proxy.closeWatches();
  await waitFor('the watch to end', () => ended, { timeoutMs: 30_000 });
  req.destroy();
});

test('stall passes on a watch\'s headers and then nothing, not even the server\'s end, until the client gives up', { skip }, async () => {
  const ns = uniqueNamespace();
  await createPod(kube, { namespace: ns, name: 'web-1' });
  proxy.failNext({ watch: true, pathIncludes: `/namespaces/${ns}/pods`, status: 'stall' });
  let status = 0;
  let received = 0;
  let ended = false;
  // A watch from no version starts with an ADDED for the pod that exists, and the server ends it after 1 s.
  const req = request(`${proxy.url}/api/v1/namespaces/${ns}/pods?watch=true&timeoutSeconds=1`, { ca: readFileSync(kube.caFile), agent: false }, (res) => {
    status = res.statusCode ?? 0;
    res.on('data', (d: Buffer) => (received += d.length)).on('end', () => (ended = true));
  });
  req.on('error', () => { /* destroyed below */ });
  req.end();
  const rec = await waitFor('the stalled watch', () => proxy.requests.find((r) => r.watch && r.path === `/api/v1/namespaces/${ns}/pods`));
  await waitFor('the server to send the ADDED and end the watch', () => (rec.withheldBytes ?? 0) > 0 && rec.upstreamEnded === true,
    { timeoutMs: 30_000 });
  assert.equal(status, 200, 'the client has the server\'s headers');
  assert.equal(rec.status, 200);
  assert.equal(rec.injected, true);
  assert.equal(received, 0, 'and none of the body');
  assert.equal(ended, false, 'nor its end');
  assert.equal(proxy.heldCount, 1);
  assert.equal(proxy.watchCount, 0, 'a stalled watch is not streaming (closeWatches leaves it)');
  req.destroy();
  await waitFor('the proxy to let go of it', () => proxy.heldCount === 0);
});

test('the pod helpers: bound to a node, status as a kubelet reports it, the cgroup named with the server-assigned uid', { skip }, async () => {
  const ns = uniqueNamespace();
  const { pod, cgroup } = await podInCgroup(kube, { namespace: ns, name: 'web-1', podIP: '10.244.0.7' });
  try {
    const meta = pod.metadata as { uid: string };
    assert.equal(cgroup.podUid, meta.uid);
    assert.equal((pod.spec as { nodeName: string }).nodeName, 'node-a');
    const status = pod.status as { phase: string; podIP: string; containerStatuses: { containerID: string }[] };
    assert.equal(status.phase, 'Running');
    assert.equal(status.podIP, '10.244.0.7');
    assert.equal(status.containerStatuses[0]?.containerID, `containerd://${cgroup.containerId}`);
    assert.ok(cgroup.path.includes(meta.uid.replace(/-/g, '_')));
  } finally {
    cgroup.remove();
  }
  await deletePod(kube, ns, 'web-1');
  assert.equal(await getPod(kube, ns, 'web-1'), undefined);
});
