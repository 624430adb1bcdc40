// Fault drill: the collector's loss counter across restarts. A collector loses events to a full spool while the
// broker is paused (a known, counted loss: spool_full), is killed with SIGKILL and started again, then stopped cleanly
// and started again; each time the counter must go on from the last total instead of starting at 0
// (carried-counters.ts keeps it in the state dir).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { OpenLoad, buildOpenLoad } from '../bench/open-load.js';
import { kafkaUnavailableReason, startKafka, type RunningKafka } from '../kafka/broker.js';
import { canUseKernel } from '../support/pod-cgroup.js';
import { scrape, startService, type ServiceProcess } from '../support/service-process.js';

const RATE_PER_S = 20_000;

const kernel = canUseKernel();
const kafkaMissing = kafkaUnavailableReason();
const skip = skipUnless(kernel.ok, kernel.why) || skipUnless(kafkaMissing === undefined, `needs Kafka: ${kafkaMissing ?? ''}`);

let broker: RunningKafka | undefined;
let dir = '';
const services: ServiceProcess[] = [];
const loads: OpenLoad[] = [];

function pause(b: RunningKafka): void { process.kill(b.pid, 'SIGSTOP'); }
function resume(b: RunningKafka): void { process.kill(b.pid, 'SIGCONT'); }

async function collector(name: string, stateDir: string, extra: string[] = []): Promise<ServiceProcess> {
  const s = await startService(name, 'services/collector/dist/main.js', ['--kafka', (broker?.brokers ?? []).join(','),
    // A clean stop detaches ~80 BPF programs and drains; on a 2-core machine under other work that can take seconds.
    '--node', name, '--state-dir', stateDir, '--log-level', 'warn', '--shutdown-deadline-ms', '30000', ...extra]);
  services.push(s);
  return s;
}

before(async () => {
  if (skip) return;
  broker = await startKafka();
  dir = mkdtempSync(join(tmpdir(), 'palisade-restart-drill-'));
});

after(async () => {
  for (const l of loads) { l.kill(); await l.done.catch(() => undefined); }
  if (broker) resume(broker);
  for (const s of services.reverse()) await s.stop();
  await broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the collector\'s loss counter goes on from its total after a kill -9 and after a clean stop', { skip, timeout: 240_000 }, async () => {
  assert.ok(broker);
  const node = 'drill-restart';
  const state = join(dir, 'state-restart');
  const target = join(dir, 'opened-by-the-restart-drill');
  writeFileSync(target, 'x');
  // A spool of 256 KiB fills within a second of the broker going away: a known loss, counted as spool_full.
  const args = ['--spool-max-bytes', String(256 << 10), '--spool-after-ms', '500'];
  const first = await collector(node, state, args);
  const load = new OpenLoad(buildOpenLoad(), { count: RATE_PER_S * 60, ratePerS: RATE_PER_S, paths: [target] });
  loads.push(load);
  const spoolFull = (s: ServiceProcess) => scrape(s.metricsPort, 'palisade_collector_lost_events_total', { reason: 'spool_full' });
  pause(broker);
  try {
    await waitFor('spool_full losses', async () => (await spoolFull(first)) > 0, { timeoutMs: 60_000, intervalMs: 200 });
  } finally {
    resume(broker);
  }
  await waitFor('the spool to be replayed', async () => (await scrape(first.metricsPort, 'palisade_collector_spool_records')) === 0,
    { timeoutMs: 120_000, intervalMs: 250 });
  // What a kill -9 leaves is what was saved (at most a second after the last growth).
  const saved = (): number => {
    try {
      return (JSON.parse(readFileSync(join(state, `counters-${node}.json`), 'utf8')) as { lost: Record<string, number> }).lost['spool_full'] ?? 0;
    } catch {
      return 0;
    }
  };
  const lostBefore = await waitFor('the total to be saved', async () => {
    const now = await spoolFull(first);
    assert.equal(saved(), now);
    return now;
  }, { timeoutMs: 20_000, intervalMs: 200 });
  first.child.kill('SIGKILL');
  await new Promise((r) => first.child.once('exit', r));

  // The next instances have the default spool: a slow moment of the broker on a busy machine costs them nothing, so
  // their count is the carried total (plus whatever they lose themselves, which would only add).
  const second = await collector(node, state);
  assert.ok(await spoolFull(second) >= lostBefore, 'after kill -9 the counter starts from the last total, not 0');
  assert.equal(await scrape(second.metricsPort, 'palisade_collector_counters_carried_info'), 1);
  const lostSecond = await spoolFull(second);
  assert.equal(await second.stop(), 0, `a clean stop; stderr tail:\n${second.stderr().slice(-3000)}`);
  const third = await collector(node, state);
  assert.ok(await spoolFull(third) >= lostSecond, 'after a clean stop too');
  assert.ok(lostSecond > 0);
  load.kill();
  await load.done.catch(() => undefined);
});
