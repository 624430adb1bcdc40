// The responder's quarantine (services/responder/src/quarantine.ts) against the real kube-apiserver, through the
// fault proxy: the real @kubernetes/client-node, the real server's patch merging, validation, optimistic concurrency
// (resourceVersion) and 409 AlreadyExists, and the faults a cluster shows (409, 5xx, 429 with Retry-After, resets,
// a server that never answers, a write stored whose answer is lost, 403). Objects are read back from the server as
// the admin, never through the proxy, so the proxy's log holds exactly what the responder sent.
//
// Here rather than next to quarantine.ts: the harness (test/support) builds after the services, so a service's own
// tests cannot import it. The pure functions keep their unit tests in services/responder/src/quarantine.test.ts.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { quarantineClients, quarantinePod, type QuarantineClients, type QuarantineOptions } from '@palisade/responder/dist/quarantine.js';
import { kubeUnavailableReason, sharedKubeCluster, uniqueNamespace, type KubeCluster } from '../support/kube-cluster.js';
import { startFaultProxy, type FaultProxy, type RequestRecord } from '../support/kube-fault-proxy.js';
import { createPod, deletePod, getPod, type JsonObject } from '../support/kube-pods.js';

const why = kubeUnavailableReason();
const skip = skipUnless(why === undefined, why ?? '');
let kube: KubeCluster;
let proxy: FaultProxy;
let dir: string;
let kc: KubeConfig;

before(async () => {
  if (skip) return;
  kube = await sharedKubeCluster();
  proxy = await startFaultProxy(kube);
  dir = mkdtempSync(join(tmpdir(), 'resp-quarantine-'));
  // No token: the proxy forwards as the admin (RBAC is responder-rbac.test.ts's subject).
  proxy.writeKubeconfig(join(dir, 'kubeconfig'));
  kc = new KubeConfig();
  kc.loadFromFile(join(dir, 'kubeconfig'));
});

after(async () => {
  await proxy?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

interface Setup {
  ns: string;
  uid: string;
  clients: QuarantineClients;
  sleeps: number[];
  opts: QuarantineOptions;
  target: { namespace: string; name: string; uid: string };
}

/** A namespace of its own with pod web-1 (labels app=web, tier=front) on node-a. Backoffs are recorded, not slept. */
async function setup(): Promise<Setup> {
  const ns = uniqueNamespace('resp');
  const pod = await createPod(kube, { namespace: ns, name: 'web-1', labels: { app: 'web', tier: 'front' } });
  const uid = (pod.metadata as { uid: string }).uid;
  const sleeps: number[] = [];
  const opts: QuarantineOptions = {
    protectedNamespaces: ['palisade'],
    retry: { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 5000 },
    sleep: async (ms) => { sleeps.push(ms); },
  };
  return { ns, uid, clients: quarantineClients(kc), sleeps, opts, target: { namespace: ns, name: 'web-1', uid } };
}

/** What the responder sent for this namespace, in order. */
const sent = (ns: string): RequestRecord[] => proxy.requests.filter((r) => r.path.includes(`/namespaces/${ns}/`));
const writes = (ns: string): string[] => sent(ns).filter((r) => r.method !== 'GET')
  .map((r) => `${r.method} ${r.path.slice(r.path.indexOf(`/namespaces/${ns}/`) + `/namespaces/${ns}/`.length)} ${r.status}`);

async function policy(ns: string, name = 'palisade-quarantine'): Promise<JsonObject | undefined> {
  const r = await kube.api('GET', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies/${name}`);
  if (r.status === 404) return undefined;
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body as JsonObject;
}

async function policyNames(ns: string): Promise<string[]> {
  const r = await kube.api('GET', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`);
  assert.equal(r.status, 200);
  return (r.body as { items: { metadata: { name: string } }[] }).items.map((i) => i.metadata.name);
}

const meta = (obj: JsonObject | undefined): { labels?: Record<string, string>; resourceVersion?: string; uid?: string } =>
  (obj?.['metadata'] ?? {}) as { labels?: Record<string, string>; resourceVersion?: string; uid?: string };
const labels = async (ns: string, name = 'web-1'): Promise<Record<string, string> | undefined> => meta(await getPod(kube, ns, name)).labels;

/** As the server stores our policy: `egress: []` (deny all) comes back absent. */
const DENY_EGRESS = { podSelector: { matchLabels: { quarantined: 'true' } }, policyTypes: ['Egress'] };

test('done: the server stores the deny-egress policy, then merges the label into the pod\'s own', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  const before = meta(await getPod(kube, ns, 'web-1')).resourceVersion;
  const r = await quarantinePod(clients, target, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(r.steps, [`GET pods/${ns}/web-1`, `GET networkpolicies/${ns}/palisade-quarantine`,
    `CREATE networkpolicies/${ns}/palisade-quarantine`, `PATCH pods/${ns}/web-1 labels quarantined=true`]);
  assert.deepEqual(writes(ns), ['POST networkpolicies 201', 'PATCH pods/web-1 200'], 'the policy is written before the label');
  assert.equal(r.attempts, 4);
  // A JSON merge patch: the server keeps the labels the patch does not name.
  const patch = sent(ns).find((q) => q.method === 'PATCH');
  assert.equal(patch?.contentType, 'application/merge-patch+json');
  assert.deepEqual((patch?.body as { metadata: JsonObject }).metadata,
    { labels: { quarantined: 'true' }, uid: target.uid, resourceVersion: before }, 'the patch is conditional on what was read');
  const pod = await getPod(kube, ns, 'web-1');
  assert.deepEqual(meta(pod).labels, { app: 'web', tier: 'front', quarantined: 'true' });
  assert.equal(meta(pod).uid, target.uid);
  assert.notEqual(meta(pod).resourceVersion, before);
  const np = await policy(ns);
  assert.deepEqual(np?.['spec'], DENY_EGRESS, 'the server drops egress: [] (deny all) and keeps the rest');
  assert.deepEqual(meta(np).labels, { 'app.kubernetes.io/managed-by': 'palisade' });
  assert.deepEqual(await policyNames(ns), ['palisade-quarantine']);
});

test('idempotent: a second run writes nothing and reports done; the stored objects are untouched', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  assert.equal((await quarantinePod(clients, target, opts)).outcome, 'done');
  const stored = { pod: meta(await getPod(kube, ns, 'web-1')).resourceVersion, np: meta(await policy(ns)).resourceVersion };
  const mark = sent(ns).length;
  const r = await quarantinePod(clients, target, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(r.steps, [
    `GET pods/${ns}/web-1`,
    `GET networkpolicies/${ns}/palisade-quarantine`,
    `networkpolicies/${ns}/palisade-quarantine already denies egress for quarantined=true`,
    `pods/${ns}/web-1 already labelled quarantined=true`,
  ]);
  assert.deepEqual(sent(ns).slice(mark).map((q) => q.method), ['GET', 'GET'], 'a quarantined pod got a write request');
  assert.equal(meta(await getPod(kube, ns, 'web-1')).resourceVersion, stored.pod);
  assert.equal(meta(await policy(ns)).resourceVersion, stored.np);
});

test('a policy created by someone else after the read: the server\'s 409 AlreadyExists is read back, no second object', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  // Another responder replica created it first; this one's read is answered from before that (an injected 404).
  const other = await quarantinePod(clients, { ...target }, opts);
  assert.equal(other.outcome, 'done');
  await kube.api('PATCH', `/api/v1/namespaces/${ns}/pods/web-1`, { metadata: { labels: { quarantined: null } } }, 'application/merge-patch+json');
  proxy.failNext({ method: 'GET', pathIncludes: `/namespaces/${ns}/networkpolicies/`, status: 404, reason: 'NotFound' });
  const npBefore = meta(await policy(ns));
  const mark = sent(ns).length;
  const r = await quarantinePod(clients, target, opts);
  assert.equal(r.outcome, 'done', r.reason);
  const create = sent(ns).slice(mark).find((q) => q.method === 'POST');
  assert.equal(create?.status, 409, 'the server refused the second create');
  assert.equal(create?.injected, false);
  assert.deepEqual(r.steps.slice(1, 6), [
    `GET networkpolicies/${ns}/palisade-quarantine`,
    `CREATE networkpolicies/${ns}/palisade-quarantine`,
    `GET networkpolicies/${ns}/palisade-quarantine`,
    `networkpolicies/${ns}/palisade-quarantine already denies egress for quarantined=true`,
    `PATCH pods/${ns}/web-1 labels quarantined=true`,
  ]);
  assert.deepEqual(await policyNames(ns), ['palisade-quarantine']);
  assert.equal(meta(await policy(ns)).uid, npBefore.uid, 'a second policy object replaced the first');
  assert.equal((await labels(ns))?.['quarantined'], 'true');
});

test('dry run: says what would be done, and the server is not written (no dryRun=All either: only reads)', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  const rv = meta(await getPod(kube, ns, 'web-1')).resourceVersion;
  const r = await quarantinePod(clients, target, { ...opts, dryRun: true });
  assert.equal(r.outcome, 'dry_run');
  assert.deepEqual(r.steps, [
    `GET pods/${ns}/web-1`,
    `GET networkpolicies/${ns}/palisade-quarantine`,
    `would CREATE networkpolicies/${ns}/palisade-quarantine`,
    `would PATCH pods/${ns}/web-1 labels quarantined=true`,
  ]);
  assert.deepEqual(writes(ns), []);
  assert.equal(meta(await getPod(kube, ns, 'web-1')).resourceVersion, rv);
  assert.equal(await policy(ns), undefined);

  // With a policy of that name that is not ours, the dry run says it would replace it, and does not.
  const foreign = await kube.api('POST', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'palisade-quarantine' },
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  });
  assert.equal(foreign.status, 201);
  const r2 = await quarantinePod(clients, target, { ...opts, dryRun: true });
  assert.ok(r2.steps.includes(`would REPLACE networkpolicies/${ns}/palisade-quarantine spec`), r2.steps.join('\n'));
  assert.deepEqual(writes(ns), []);
  assert.deepEqual((await policy(ns))?.['spec'], { podSelector: {}, policyTypes: ['Ingress'] });
});

test('refused: pod gone, or replaced by a pod with another uid (the server assigns uids); nothing written', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  const gone = await quarantinePod(clients, { ...target, name: 'nope' }, opts);
  assert.equal(gone.outcome, 'refused');
  assert.equal(gone.reason, 'pod gone');
  await deletePod(kube, ns, 'web-1');
  await createPod(kube, { namespace: ns, name: 'web-1', labels: { app: 'web' } });
  const replaced = await quarantinePod(clients, target, opts);
  assert.equal(replaced.outcome, 'refused');
  assert.match(replaced.reason, /pod replaced: .* has uid [0-9a-f-]{36}, the alert was for /);
  assert.deepEqual(writes(ns), []);
  assert.equal((await labels(ns))?.['quarantined'], undefined);
});

/** Clients whose first pod read runs `then` right after the server answered it: a race between read and patch. */
function afterFirstRead(clients: QuarantineClients, then: () => Promise<void>): QuarantineClients {
  const core = kc.makeApiClient(CoreV1Api);
  let done = false;
  const racing = new Proxy(core, {
    get(target, prop, receiver): unknown {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (prop !== 'readNamespacedPod' || typeof value !== 'function') return value;
      return async (...args: unknown[]): Promise<unknown> => {
        const pod: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (!done) {
          done = true;
          await then();
        }
        return pod;
      };
    },
  });
  return { ...clients, core: racing };
}

test('a pod replaced between the read and the patch: the server refuses the patch (409, old resourceVersion), the re-read refuses the pod', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  const racing = afterFirstRead(clients, async () => {
    await deletePod(kube, ns, 'web-1');
    await createPod(kube, { namespace: ns, name: 'web-1', labels: { app: 'web' } });
  });
  const r = await quarantinePod(racing, target, opts);
  assert.equal(r.outcome, 'refused', r.reason);
  assert.match(r.reason, /pod replaced/);
  assert.ok(r.steps.includes(`pods/${ns}/web-1 changed since read (409 Conflict): re-reading`), r.steps.join('\n'));
  const patch = sent(ns).find((q) => q.method === 'PATCH');
  assert.deepEqual([patch?.status, patch?.injected], [409, false], 'the server\'s own conflict');
  assert.deepEqual(await labels(ns), { app: 'web' }, 'the replacement is untouched');
  // The policy, written before the label, stays: it selects only labelled pods, so the replacement is not isolated.
  assert.deepEqual((await policy(ns))?.['spec'], DENY_EGRESS);
});

test('another writer between the read and the patch: the server\'s 409, a re-read, and both writes kept', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  const racing = afterFirstRead(clients, async () => {
    const r = await kube.api('PATCH', `/api/v1/namespaces/${ns}/pods/web-1`,
      { metadata: { labels: { team: 'shop' }, annotations: { 'example.com/owner': 'ops' } } }, 'application/merge-patch+json');
    assert.equal(r.status, 200);
  });
  const r = await quarantinePod(racing, target, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(sent(ns).filter((q) => q.method === 'PATCH').map((q) => [q.status, q.injected]), [[409, false], [200, false]]);
  const pod = await getPod(kube, ns, 'web-1');
  assert.deepEqual(meta(pod).labels, { app: 'web', tier: 'front', team: 'shop', quarantined: 'true' });
  assert.deepEqual((pod?.['metadata'] as { annotations?: JsonObject }).annotations, { 'example.com/owner': 'ops' });
});

test('409 Conflict on the patch: re-read and retry', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  proxy.failNext({ method: 'PATCH', pathIncludes: `/namespaces/${ns}/pods/`, status: 409, reason: 'Conflict', message: 'the object has been modified' });
  const r = await quarantinePod(clients, target, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(r.steps.slice(3, 7), [
    `PATCH pods/${ns}/web-1 labels quarantined=true`,
    `pods/${ns}/web-1 changed since read (409 Conflict): re-reading`,
    `GET pods/${ns}/web-1`,
    `PATCH pods/${ns}/web-1 labels quarantined=true`,
  ]);
  assert.deepEqual(await labels(ns), { app: 'web', tier: 'front', quarantined: 'true' });
});

test('500s on the patch and a 503 on the create, then success: the action is not lost', { skip }, async () => {
  const { ns, clients, target, opts, sleeps } = await setup();
  proxy.failNext({ method: 'PATCH', pathIncludes: `/namespaces/${ns}/pods/`, status: 500, count: 2 });
  proxy.failNext({ method: 'POST', pathIncludes: `/namespaces/${ns}/networkpolicies`, status: 503 });
  const r = await quarantinePod(clients, target, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.equal(r.attempts, 7); // GET pod, GET policy, CREATE x2, PATCH x3
  assert.deepEqual(writes(ns), ['POST networkpolicies 503', 'POST networkpolicies 201',
    'PATCH pods/web-1 500', 'PATCH pods/web-1 500', 'PATCH pods/web-1 200']);
  // The create's one retry, then the patch's two: each call's backoff starts over and doubles.
  assert.equal(sleeps.length, 3);
  assert.ok(sleeps[0]! >= 50 && sleeps[0]! <= 100, `create backoff ${sleeps[0]}`);
  assert.ok(sleeps[1]! >= 50 && sleeps[1]! <= 100, `first patch backoff ${sleeps[1]}`);
  assert.ok(sleeps[2]! >= 100 && sleeps[2]! <= 200, `second patch backoff ${sleeps[2]}`);
  assert.equal((await labels(ns))?.['quarantined'], 'true');
  assert.deepEqual((await policy(ns))?.['spec'], DENY_EGRESS);
});

test('429 with Retry-After: the retry comes no sooner than the server asked (proxy arrival times); a reset is retried', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  proxy.failNext({ method: 'GET', pathIncludes: `/namespaces/${ns}/pods/web-1`, status: 429, retryAfterSeconds: 2 });
  proxy.failNext({ method: 'PATCH', pathIncludes: `/namespaces/${ns}/pods/`, status: 'reset' });
  const asked: number[] = [];
  // Real waits this time: what is asserted is when the requests reached the proxy.
  const r = await quarantinePod(clients, target, { ...opts, sleep: async (ms) => {
    asked.push(ms);
    await new Promise((resolve) => setTimeout(resolve, ms));
  } });
  assert.equal(r.outcome, 'done', r.reason);
  assert.equal(asked[0], 2000, 'Retry-After: 2 is a 2 s wait');
  const gets = sent(ns).filter((q) => q.method === 'GET' && q.path.endsWith('/pods/web-1'));
  assert.deepEqual(gets.slice(0, 2).map((q) => q.status), [429, 200]);
  const gap = gets[1]!.at - gets[0]!.at;
  assert.ok(gap >= 1990, `the retry came ${gap} ms after the 429 that asked for 2 s`);
  assert.deepEqual(writes(ns), ['POST networkpolicies 201', 'PATCH pods/web-1 0', 'PATCH pods/web-1 200']);
  assert.equal(r.attempts, 6); // GET x2, GET policy, CREATE, PATCH x2
  assert.equal((await labels(ns))?.['quarantined'], 'true');
});

test('failed: retries run out on the label, the reason says why, and the policy stands', { skip }, async () => {
  const { ns, clients, target, opts, sleeps } = await setup();
  proxy.failNext({ method: 'PATCH', pathIncludes: `/namespaces/${ns}/pods/`, status: 500, count: 100 });
  const r = await quarantinePod(clients, target, opts);
  assert.equal(r.outcome, 'failed');
  assert.equal(r.error?.code, 'KUBE_UNAVAILABLE');
  assert.equal(r.error?.retriable, true);
  assert.match(r.reason, new RegExp(`PATCH pods/${ns}/web-1: HTTP 500 InternalError`));
  assert.equal(r.attempts, 8); // GET pod, GET policy, CREATE, 5 PATCH
  assert.equal(sleeps.length, 4);
  assert.deepEqual((await policy(ns))?.['spec'], DENY_EGRESS);
  assert.equal((await labels(ns))?.['quarantined'], undefined);
  assert.match(r.steps.at(-1) ?? '', /^failed: KUBE_UNAVAILABLE/);
});

test('failed: a policy that cannot be written leaves the pod unlabelled, never labelled without one', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  proxy.failNext({ method: 'POST', pathIncludes: `/namespaces/${ns}/networkpolicies`, status: 500, count: 100 });
  const r = await quarantinePod(clients, target, opts);
  assert.equal(r.outcome, 'failed');
  assert.match(r.reason, new RegExp(`CREATE networkpolicies/${ns}/palisade-quarantine: HTTP 500`));
  assert.equal(sent(ns).filter((q) => q.method === 'PATCH').length, 0);
  assert.equal((await labels(ns))?.['quarantined'], undefined);
  assert.equal(await policy(ns), undefined);
});

test('failed: 403 Forbidden is not retried', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  proxy.failNext({ method: 'PATCH', pathIncludes: `/namespaces/${ns}/pods/`, status: 403, reason: 'Forbidden', message: 'cannot patch resource "pods"' });
  const r = await quarantinePod(clients, target, opts);
  assert.equal(r.outcome, 'failed');
  assert.equal(r.error?.code, 'KUBE_FORBIDDEN');
  assert.equal(r.error?.retriable, false);
  assert.equal(r.attempts, 4); // GET pod, GET policy, CREATE, one PATCH
  assert.equal((await labels(ns))?.['quarantined'], undefined);
});

test('a policy of that name that is not ours is replaced (a PUT with its resourceVersion); its other labels kept', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  const foreign = await kube.api('POST', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
    metadata: { name: 'palisade-quarantine', labels: { team: 'net' } },
    spec: { podSelector: { matchLabels: { quarantined: 'true', extra: 'x' } }, policyTypes: ['Egress'], egress: [{}] },
  });
  assert.equal(foreign.status, 201);
  const r = await quarantinePod(clients, target, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(r.steps.slice(1), [
    `GET networkpolicies/${ns}/palisade-quarantine`,
    `REPLACE networkpolicies/${ns}/palisade-quarantine spec`,
    `PATCH pods/${ns}/web-1 labels quarantined=true`,
  ]);
  assert.deepEqual(writes(ns), ['PUT networkpolicies/palisade-quarantine 200', 'PATCH pods/web-1 200']);
  const put = sent(ns).find((q) => q.method === 'PUT');
  assert.equal((put?.body as { metadata: { resourceVersion?: string } }).metadata.resourceVersion,
    meta(foreign.body as JsonObject).resourceVersion, 'the replace is conditional on what was read');
  const np = await policy(ns);
  assert.deepEqual(np?.['spec'], DENY_EGRESS);
  assert.deepEqual(meta(np).labels, { team: 'net', 'app.kubernetes.io/managed-by': 'palisade' });
  assert.equal(meta(np).uid, meta(foreign.body as JsonObject).uid);
});

test('409 Conflict on the replace: re-read and retry', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  assert.equal((await kube.api('POST', `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`, {
    apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'palisade-quarantine' },
    spec: { podSelector: {}, policyTypes: ['Ingress'] },
  })).status, 201);
  proxy.failNext({ method: 'PUT', pathIncludes: `/namespaces/${ns}/networkpolicies/`, status: 409, reason: 'Conflict' });
  const r = await quarantinePod(clients, target, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual((await policy(ns))?.['spec'], DENY_EGRESS);
  assert.equal(r.steps.filter((s) => s.startsWith('REPLACE')).length, 2);
});

test('a 409 on create that is not AlreadyExists: read, find nothing, create again', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  proxy.failNext({ method: 'POST', pathIncludes: `/namespaces/${ns}/networkpolicies`, status: 409 });
  const r = await quarantinePod(clients, target, opts);
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(r.steps.slice(1, 5), [
    `GET networkpolicies/${ns}/palisade-quarantine`,
    `CREATE networkpolicies/${ns}/palisade-quarantine`,
    `GET networkpolicies/${ns}/palisade-quarantine`,
    `CREATE networkpolicies/${ns}/palisade-quarantine`,
  ]);
  assert.deepEqual(await policyNames(ns), ['palisade-quarantine']);
});

test('a create stored whose answer was lost: the retry gets the server\'s 409 AlreadyExists and reads it back, one object', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  proxy.failNext({ method: 'POST', pathIncludes: `/namespaces/${ns}/networkpolicies`, status: 'hang', apply: true });
  // The request deadline is long enough for the server to store the create before the responder gives up on it; the
  // backoff waits until the server has answered the held request (to the proxy), so the retry meets a stored object.
  const r = await quarantinePod(clients, target, { ...opts, requestTimeoutMs: 8_000, sleep: async () => {
    await waitFor('the held create to be stored', () => sent(ns).some((q) => q.withheld === true && q.upstreamStatus !== undefined));
  } });
  assert.equal(r.outcome, 'done', r.reason);
  const posts = sent(ns).filter((q) => q.method === 'POST');
  assert.deepEqual(posts.map((q) => [q.withheld ?? false, q.upstreamStatus ?? q.status]), [[true, 201], [false, 409]]);
  assert.deepEqual(r.steps.slice(-3), [
    `GET networkpolicies/${ns}/palisade-quarantine`,
    `networkpolicies/${ns}/palisade-quarantine already denies egress for quarantined=true`,
    `PATCH pods/${ns}/web-1 labels quarantined=true`,
  ]);
  assert.deepEqual(await policyNames(ns), ['palisade-quarantine']);
  assert.equal((await labels(ns))?.['quarantined'], 'true');
});

test('an API server that never answers costs one request deadline per attempt, then a failed outcome', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  proxy.failNext({ method: 'GET', pathIncludes: `/namespaces/${ns}/pods/web-1`, status: 'hang', count: 100 });
  const r = await quarantinePod(clients, target, { ...opts, retry: { maxAttempts: 3 }, requestTimeoutMs: 500 });
  assert.equal(r.outcome, 'failed', r.reason);
  assert.equal(r.error?.code, 'KUBE_UNAVAILABLE');
  assert.equal(r.error?.retriable, true);
  assert.equal(r.attempts, 3);
  const gets = sent(ns).filter((q) => q.method === 'GET');
  assert.deepEqual(gets.map((q) => [q.injected, q.status]), [[true, 0], [true, 0], [true, 0]]);
  assert.deepEqual(writes(ns), []);
});

test('custom label and policy name, as the server validates and stores them', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  const r = await quarantinePod(clients, target, { ...opts, labelKey: 'security.example.com/quarantine', labelValue: 'yes', policyName: 'isolate' });
  assert.equal(r.outcome, 'done', r.reason);
  assert.deepEqual(await labels(ns), { app: 'web', tier: 'front', 'security.example.com/quarantine': 'yes' });
  assert.deepEqual((await policy(ns, 'isolate'))?.['spec'], {
    podSelector: { matchLabels: { 'security.example.com/quarantine': 'yes' } },
    policyTypes: ['Egress'],
  });
});

test('a label the server finds invalid: 422 on the policy create, not retried, and the pod is not labelled', { skip }, async () => {
  const { ns, clients, target, opts } = await setup();
  const r = await quarantinePod(clients, target, { ...opts, labelValue: 'not a label value!' });
  assert.equal(r.outcome, 'failed');
  assert.equal(r.error?.code, 'KUBE_INVALID');
  assert.equal(r.error?.retriable, false);
  assert.match(r.reason, /HTTP 422 Invalid/);
  assert.equal(r.attempts, 3); // GET pod, GET policy, one CREATE
  assert.deepEqual(writes(ns), ['POST networkpolicies 422']);
  assert.deepEqual(await labels(ns), { app: 'web', tier: 'front' });
});

test('a pod scheduled on another node than the one that reported the event is refused before any write', { skip }, async () => {
  const { ns, clients, opts } = await setup();
  const pod = await createPod(kube, { namespace: ns, name: 'db-0', node: 'node-a', containers: [{ name: 'db', image: 'postgres:16' }] });
  const uid = meta(pod).uid!;
  for (const dryRun of [true, false]) {
    const r = await quarantinePod(clients, { namespace: ns, name: 'db-0', uid, node: 'node-b' }, { ...opts, dryRun });
    assert.equal(r.outcome, 'refused');
    assert.equal(r.nodeMismatch, `pods/${ns}/db-0 is scheduled on node "node-a", but node "node-b" reported the event`);
    assert.deepEqual(r.steps, [`GET pods/${ns}/db-0`]);
  }
  // Not scheduled at all (no spec.nodeName: Pending, no scheduler here) is a mismatch too: no node ran it.
  const pending = await kube.api('POST', `/api/v1/namespaces/${ns}/pods`, {
    apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pending' }, spec: { containers: [{ name: 'app', image: 'nginx:1.27' }] },
  });
  assert.equal(pending.status, 201);
  const r = await quarantinePod(clients, { namespace: ns, name: 'pending', uid: meta(pending.body as JsonObject).uid!, node: 'node-b' }, opts);
  assert.match(r.nodeMismatch ?? '', /scheduled on node "", but node "node-b"/);
  assert.deepEqual(writes(ns), []);
  // On the right node it goes ahead.
  const ok = await quarantinePod(clients, { namespace: ns, name: 'db-0', uid, node: 'node-a' }, opts);
  assert.equal(ok.outcome, 'done', ok.reason);
  assert.equal(ok.nodeMismatch, undefined);
});
