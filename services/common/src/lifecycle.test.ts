// Lifecycle, and installShutdown driven through the function it returns with an injected exit. No signal is sent:
// the SIGTERM/SIGINT listeners it adds to this process are removed after each test.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Lifecycle, installShutdown, type ShutdownOptions } from './lifecycle.js';
import { createLogger } from './logger.js';

test('a lifecycle starts in starting and moves where it is set', () => {
  const life = new Lifecycle();
  assert.equal(life.state, 'starting');
  life.set('ready');
  assert.equal(life.state, 'ready');
  life.set('draining');
  assert.equal(life.state, 'draining');
});

test('fail() records the first error and tells every listener once', () => {
  const life = new Lifecycle();
  const heard: unknown[] = [];
  life.onFail((e) => heard.push(['a', e]));
  life.onFail((e) => heard.push(['b', e]));
  const first = new Error('first');
  life.fail(first);
  life.fail(new Error('second'));
  assert.equal(life.state, 'failed');
  assert.equal(life.error, first);
  assert.deepEqual(heard, [['a', first], ['b', first]]);
});

test('a stopped service does not fail', () => {
  const life = new Lifecycle();
  let heard = 0;
  life.onFail(() => heard++);
  life.set('stopped');
  life.fail(new Error('late'));
  assert.equal(life.state, 'stopped');
  assert.equal(heard, 0);
});

function install(t: TestContext, opts: Partial<ShutdownOptions>) {
  const before = { SIGTERM: process.listeners('SIGTERM'), SIGINT: process.listeners('SIGINT') };
  const exits: number[] = [];
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', write: (l) => logs.push(JSON.parse(l) as Record<string, unknown>) });
  let exited!: (code: number) => void;
  const exitedP = new Promise<number>((resolve) => { exited = resolve; });
  const shutdown = installShutdown({
    logger, deadlineMs: 1_000, stop: async () => {}, ...opts,
    exit: (code) => { exits.push(code); exited(code); },
  });
  t.after(() => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      for (const l of process.listeners(sig)) if (!before[sig].includes(l)) process.removeListener(sig, l);
    }
  });
  return { shutdown, exits, exited: exitedP, logs };
}

test('installShutdown listens for SIGTERM and SIGINT', (t) => {
  const term = process.listenerCount('SIGTERM');
  const int = process.listenerCount('SIGINT');
  install(t, {});
  assert.equal(process.listenerCount('SIGTERM'), term + 1);
  assert.equal(process.listenerCount('SIGINT'), int + 1);
});

test('a clean shutdown stops once and exits 0; later calls are ignored', async (t) => {
  let stops = 0;
  const { shutdown, exits, exited } = install(t, { stop: async () => { stops++; } });
  shutdown('test');
  shutdown('again');
  assert.equal(await exited, 0);
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(stops, 1);
  assert.deepEqual(exits, [0]);
});

test('a shutdown after a fatal error drains and exits 1', async (t) => {
  let stopped = false;
  const { shutdown, exited, logs } = install(t, { stop: async () => { stopped = true; } });
  shutdown('enricher failed', new Error('boom'));
  assert.equal(await exited, 1);
  assert.equal(stopped, true);
  assert.ok(logs.some((l) => l['level'] === 'error' && l['reason'] === 'enricher failed'));
});

test('a failing stop exits 1', async (t) => {
  const { shutdown, exited } = install(t, { stop: async () => { throw new Error('could not drain'); } });
  shutdown('test');
  assert.equal(await exited, 1);
});

test('a stop that misses the deadline exits 1 at the deadline', async (t) => {
  const started = Date.now();
  const { shutdown, exited } = install(t, { deadlineMs: 50, stop: () => new Promise<void>(() => {}) });
  // The deadline timer is unref'd (it must not keep a drained process alive); in a real drain the hung I/O does.
  const keepAlive = setInterval(() => {}, 1_000);
  t.after(() => clearInterval(keepAlive));
  shutdown('test');
  assert.equal(await exited, 1);
  assert.ok(Date.now() - started >= 45);
});
