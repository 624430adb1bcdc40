// PodCache's pure helpers, and what its watch does with a stream the real API server does not send (lines that are
// not events, an event split across chunks) and with refused watches, on a scripted local HTTP server. The cache
// itself, its list and watch, is tested against the real API server in test/kube/pod-cache.test.ts (the harness
// lives in the test workspace, which builds after the services), hung and silent watches included.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { waitFor } from '@palisade/common/testing';
import { PodCache, parseContainerId, resolveOwner } from './pod-cache.js';

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

// ---- the watch, on a scripted server ----------------------------------------------------------------------------

type WatchScript = (res: ServerResponse, req: IncomingMessage) => void;

interface FakeServer {
  cache: PodCache;
  readonly lists: number;
  watches: URL[];
  /** Watch requests whose connection is still open. */
  readonly openWatches: number;
}

/**
 * A server that answers every list with no pods at resourceVersion 10 and each watch with the next script (the
 * last one again when they run out). Plain HTTP: client-node allows it with skipTLSVerify.
 */
async function fakeServer(t: TestContext, scripts: WatchScript[], cache: { watchHeadersTimeoutMs?: number } = {}): Promise<FakeServer> {
  const open = new Set<ServerResponse>();
  const state = { lists: 0, watches: [] as URL[] };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    if (url.pathname !== '/api/v1/pods') {
      res.writeHead(404).end();
      return;
    }
    if (url.searchParams.get('watch') !== 'true') {
      state.lists += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'PodList', metadata: { resourceVersion: '10' }, items: [] }));
      return;
    }
    state.watches.push(url);
    open.add(res);
    res.once('close', () => open.delete(res));
    const script = scripts[Math.min(state.watches.length, scripts.length) - 1];
    script?.(res, req);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'fake', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
    users: [{ name: 'fake', token: 'fake-token' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
  const podCache = new PodCache({ kubeConfig, backoff: { initialMs: 5, maxMs: 20 }, ...cache });
  t.after(async () => {
    await podCache.stop();
    for (const res of open) res.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { cache: podCache, get lists() { return state.lists; }, watches: state.watches, get openWatches() { return open.size; } };
}

function podEvent(type: string, name: string, id: string, resourceVersion: string): string {
  return JSON.stringify({
    type,
    object: {
      apiVersion: 'v1', kind: 'Pod',
      metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion },
      spec: { nodeName: 'n', containers: [{ name: 'c', image: 'i' }] },
      status: { containerStatuses: [{ name: 'c', image: 'i', containerID: `containerd://${id}` }] },
    },
  });
}

/** Streams `chunks` as a watch's body, then holds the stream open (or ends it with `end`). */
const streams = (chunks: string[], opts: { end?: boolean } = {}): WatchScript => (res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
  res.flushHeaders();
  for (const c of chunks) res.write(c);
  if (opts.end === true) res.end();
};

const refuses = (code: number, message: string): WatchScript => (res) => {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message, code }));
};

test('watch lines: an event split across chunks is joined, one without a newline at the end is read, the rest is counted', async (t) => {
  const added = podEvent('ADDED', 'a', hex('a'), '11');
  const { cache, watches } = await fakeServer(t, [
    streams([
      'not json\n',
      '{"type":"ADDED"}\n', // no object
      '{"type":"ADDED","object":{"kind":"Pod"}}\n', // no metadata: ListWatch would throw on it
      '[1,2]\n',
      '\n', // blank lines are not events, nor errors
      added.slice(0, 40), added.slice(40) + '\n',
      JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', apiVersion: 'v1', metadata: { resourceVersion: '15' } } }) + '\n',
      podEvent('ADDED', 'b', hex('b'), '16'), // the server ends the stream after it
    ], { end: true }),
    streams([]),
  ]);
  cache.start();
  await cache.ready();
  await waitFor('both pods and the re-watch', () => cache.lookup(hex('a')) && cache.lookup(hex('b')) && watches.length === 2);
  assert.equal(cache.badWatchLines, 4);
  assert.equal(cache.errors, 0, 'bad lines do not end the watch');
  assert.equal(watches[1]?.searchParams.get('resourceVersion'), '16', 'the re-watch resumes from the last line');
  const first = watches[0];
  assert.equal(first?.searchParams.get('resourceVersion'), '10');
  assert.equal(first?.searchParams.get('allowWatchBookmarks'), 'true');
  assert.ok(Number(first?.searchParams.get('timeoutSeconds')) >= 300);
});

test('a refused watch: 410 relists and is no error, another status is an http_status error with the server\'s message', async (t) => {
  let authorization: string | undefined;
  const server = await fakeServer(t, [
    refuses(410, 'too old resource version: 10 (20)'),
    refuses(403, 'pods is forbidden: User "system:serviceaccount:x:enricher" cannot watch resource "pods"'),
    (res, req) => {
      authorization = req.headers.authorization;
      streams([podEvent('ADDED', 'a', hex('a'), '21') + '\n'])(res, req);
    },
  ]);
  const { cache, watches } = server;
  cache.start();
  await cache.ready();
  await waitFor('the pod after the 403', () => cache.lookup(hex('a')));
  assert.equal(server.lists, 2, 'the 410 relisted');
  assert.equal(cache.resyncs, 1);
  assert.deepEqual(cache.watchErrors, { headers_timeout: 0, idle_timeout: 0, http_status: 1, network: 0 }, 'the 410 is not an error');
  assert.equal(cache.errors, 1);
  assert.match(cache.lastError ?? '', /HTTP 403: pods is forbidden/);
  assert.equal(authorization, 'Bearer fake-token', 'the kubeconfig\'s credentials');
  assert.equal(watches.length, 3);
});

test('a watch with no answer is abandoned at the header deadline and retried; stop() abandons one still waiting', async (t) => {
  const hangs: WatchScript = () => { /* never answers */ };
  const retried = await fakeServer(t, [hangs, streams([podEvent('ADDED', 'a', hex('a'), '11') + '\n'])], { watchHeadersTimeoutMs: 200 });
  retried.cache.start();
  await retried.cache.ready();
  await waitFor('the pod from the second watch', () => retried.cache.lookup(hex('a')));
  assert.deepEqual(retried.cache.watchErrors, { headers_timeout: 1, idle_timeout: 0, http_status: 0, network: 0 });
  assert.equal(retried.cache.resyncs, 0);
  assert.equal(retried.watches[1]?.searchParams.get('resourceVersion'), '10', 'from the list\'s version');
  await waitFor('the abandoned request\'s connection to close', () => retried.openWatches === 1);

  const stopped = await fakeServer(t, [hangs], { watchHeadersTimeoutMs: 120_000 });
  stopped.cache.start();
  await stopped.cache.ready();
  await waitFor('the waiting watch', () => stopped.openWatches === 1);
  await stopped.cache.stop();
  await waitFor('stop() to close it', () => stopped.openWatches === 0);
  assert.equal(stopped.cache.errors, 0);
});
