// The ops endpoint over real HTTP: what the kubelet's probes and Prometheus see.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { OpsServer } from './http-server.js';
import type { ServiceState } from './lifecycle.js';
import { Metrics } from './metrics.js';

async function start(t: TestContext, states: () => Record<string, ServiceState>) {
  const metrics = new Metrics();
  const server = new OpsServer({ host: '127.0.0.1', port: 0, registry: metrics.registry, states });
  const { port } = await server.start();
  t.after(() => server.stop());
  const get = async (path: string, method = 'GET') => {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { method });
    return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
  };
  return { metrics, server, port, get };
}

test('/metrics serves the registry in the Prometheus text format', async (t) => {
  const { metrics, port, get } = await start(t, () => ({}));
  assert.ok(port > 0, 'port 0 picks a free port and reports it');
  metrics.counter('palisade_test_things_total', 'Things.', ['kind']).inc({ kind: 'a' }, 3);
  const res = await get('/metrics');
  assert.equal(res.status, 200);
  assert.match(res.type ?? '', /^text\/plain/);
  assert.match(res.body, /# TYPE palisade_test_things_total counter/);
  assert.match(res.body, /palisade_test_things_total\{kind="a"\} 3/);
});

test('/readyz is 503 until every service is ready, and again once one drains', async (t) => {
  const states: Record<string, ServiceState> = { collector: 'starting', enricher: 'starting' };
  const { get } = await start(t, () => ({ ...states }));
  let res = await get('/readyz');
  assert.equal(res.status, 503);
  assert.deepEqual(JSON.parse(res.body), { ok: false, states });
  states['collector'] = 'ready';
  assert.equal((await get('/readyz')).status, 503, 'ready while one service is still starting');
  states['enricher'] = 'ready';
  res = await get('/readyz?verbose=1');
  assert.equal(res.status, 200, 'a query string does not change the path');
  assert.equal(res.type, 'application/json');
  assert.deepEqual(JSON.parse(res.body), { ok: true, states });
  states['enricher'] = 'draining';
  assert.equal((await get('/readyz')).status, 503, 'a draining service must stop receiving work');
});

test('/readyz is 503 with no services at all', async (t) => {
  const { get } = await start(t, () => ({}));
  assert.equal((await get('/readyz')).status, 503);
});

test('/healthz is 200 unless a service failed', async (t) => {
  const states: Record<string, ServiceState> = { a: 'starting', b: 'draining' };
  const { get } = await start(t, () => ({ ...states }));
  assert.equal((await get('/healthz')).status, 200);
  states['b'] = 'failed';
  const res = await get('/healthz');
  assert.equal(res.status, 503);
  assert.equal(JSON.parse(res.body).ok, false);
});

test('other paths are 404 and other methods 405', async (t) => {
  const { get } = await start(t, () => ({ a: 'ready' }));
  assert.equal((await get('/nope')).status, 404);
  assert.equal((await get('/readyz', 'POST')).status, 405);
});

test('stop() closes the port, even with a keep-alive connection open, and is idempotent', async (t) => {
  const { server, port, get } = await start(t, () => ({ a: 'ready' }));
  assert.equal((await get('/healthz')).status, 200); // fetch keeps the connection alive
  await server.stop();
  await server.stop();
  await assert.rejects(fetch(`http://127.0.0.1:${port}/healthz`));
});

test('/readyz carries each service detail(), e.g. the collector programs this kernel lacks', async (t) => {
  const metrics = new Metrics();
  const detail = { notAttached: [{ program: 'pal_fchmodat2_in', kind: 'file_op', reason: 'no tracepoint' }] };
  const server = new OpsServer({
    host: '127.0.0.1', port: 0, registry: metrics.registry, states: () => ({ collector: 'ready' }),
    details: () => ({ collector: detail }),
  });
  const { port } = await server.start();
  t.after(() => server.stop());
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  assert.equal(res.status, 200, 'a degraded collector is still ready');
  assert.deepEqual(await res.json(), { ok: true, states: { collector: 'ready' }, detail: { collector: detail } });
});

test('/readyz is 503 with the reason while a ready service says it cannot work; /healthz stays 200', async (t) => {
  const metrics = new Metrics();
  let reasons: Record<string, string> = { responder: 'output failing: nothing got through to palisade.actions for 61 s' };
  const server = new OpsServer({
    host: '127.0.0.1', port: 0, registry: metrics.registry, states: () => ({ responder: 'ready' }), reasons: () => reasons,
  });
  const { port } = await server.start();
  t.after(() => server.stop());
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  assert.equal(res.status, 503);
  assert.deepEqual(await res.json(), { ok: false, states: { responder: 'ready' }, reasons });
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200, 'not a reason to restart it');
  reasons = {};
  assert.equal((await fetch(`http://127.0.0.1:${port}/readyz`)).status, 200);
});
