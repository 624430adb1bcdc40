// runServices without signals: a service failure is what triggers the shutdown here, and process.exit is mocked.
// The SIGTERM/SIGINT listeners it installs on this process are removed after each test.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { Lifecycle, type ServiceState } from './lifecycle.js';
import { silentLogger } from './logger.js';
import { Metrics } from './metrics.js';
import { runServices, type RunnableService } from './run-services.js';

class FakeService implements RunnableService {
  readonly life = new Lifecycle();
  why: string | undefined;
  constructor(readonly name: string, private readonly events: string[], private readonly stopError?: Error) {}
  get state(): ServiceState { return this.life.state; }
  onFail(listener: (err: unknown) => void): void { this.life.onFail(listener); }
  async start(): Promise<void> { this.events.push(`start ${this.name}`); this.life.set('ready'); }
  notReady(): string | undefined { return this.why; }
  async stop(): Promise<void> {
    this.events.push(`stop ${this.name}`);
    this.life.set('stopped');
    if (this.stopError) throw this.stopError;
  }
}

function harness(t: TestContext) {
  const before = { SIGTERM: process.listeners('SIGTERM'), SIGINT: process.listeners('SIGINT') };
  t.after(() => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) {
      for (const l of process.listeners(sig)) if (!before[sig].includes(l)) process.removeListener(sig, l);
    }
  });
  let exited!: (code: number | undefined) => void;
  const exit = new Promise<number | undefined>((resolve) => { exited = resolve; });
  t.mock.method(process, 'exit', ((code?: number) => { exited(code); }) as unknown as typeof process.exit);
  return exit;
}

test('services start in order and are ready; a failure stops them in reverse, cleans up, closes the port, exits 1', async (t) => {
  const exit = harness(t);
  const events: string[] = [];
  const a = new FakeService('a', events);
  const b = new FakeService('b', events, new Error('b could not stop'));
  const c = new FakeService('c', events);
  const { metricsPort } = await runServices({
    logger: silentLogger, metrics: new Metrics(), metricsHost: '127.0.0.1', metricsPort: 0, shutdownDeadlineMs: 2_000,
    services: [a, b, c], cleanup: async () => { events.push('cleanup'); },
  });
  assert.deepEqual(events, ['start a', 'start b', 'start c']);
  const ready = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
  assert.equal(ready.status, 200);
  assert.deepEqual((await ready.json() as { states: unknown }).states, { a: 'ready', b: 'ready', c: 'ready' });

  // A ready service that says it cannot work makes /readyz 503, with its reason.
  b.why = 'consumer stalled: in/0';
  const stalled = await fetch(`http://127.0.0.1:${metricsPort}/readyz`);
  assert.equal(stalled.status, 503);
  assert.deepEqual((await stalled.json() as { reasons: unknown }).reasons, { b: 'consumer stalled: in/0' });
  b.why = undefined;
  assert.equal((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status, 200);

  a.life.fail(new Error('a broke'));
  assert.equal(await exit, 1);
  assert.deepEqual(events.slice(3), ['stop c', 'stop b', 'stop a', 'cleanup'],
    'a service that fails to stop does not keep the ones before it running');
  await assert.rejects(fetch(`http://127.0.0.1:${metricsPort}/healthz`), 'the ops port is closed on the way out');
});
