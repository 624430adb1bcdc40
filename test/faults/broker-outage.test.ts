// Fault drill: a 2-minute broker outage under a steady 20k events/s, with nothing lost.
//
// A real Kafka broker, the collector as its own process on the real kernel, and open-load (test/bench/open-load.c)
// opening one file 20,000 times a second. Mid-stream the broker is paused (SIGSTOP: its sockets stay open and answer
// nothing, the nastiest kind of away) for OUTAGE_MS, then resumed on the same data. The collector must spool to its
// state dir and replay in order; every offered open must then be on palisade.events.raw at least once (events counted
// by their kernel timestamp, batches by seq per instance), and the collector must count zero losses.
//
// This file alone takes 4-5 minutes on a busy 2-core machine (scripts/test.mjs gives a file 600 s), so the restart
// drill is a file of its own (collector-restart.test.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import protobuf from 'protobufjs/minimal.js';
import { TOPICS, pb } from '@palisade/common';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { OpenLoad, buildOpenLoad } from '../bench/open-load.js';
import { kafkaUnavailableReason, startKafka, type RunningKafka } from '../kafka/broker.js';
import { canUseKernel } from '../support/pod-cgroup.js';
import { scrape, startService, type ServiceProcess } from '../support/service-process.js';

const { Reader } = protobuf;

/** The outage: 2 minutes (issue 7's target). PALISADE_DRILL_OUTAGE_S shortens it for a quick local look. */
const OUTAGE_MS = Number(process.env.PALISADE_DRILL_OUTAGE_S ?? 120) * 1000;
const RATE_PER_S = 20_000;
/** Load before the outage starts and after it ends. */
const LEAD_MS = 5_000;
const TAIL_MS = 5_000;

const kernel = canUseKernel();
const kafkaMissing = kafkaUnavailableReason();
const skip = skipUnless(kernel.ok, kernel.why) || skipUnless(kafkaMissing === undefined, `needs Kafka: ${kafkaMissing ?? ''}`);

let broker: RunningKafka | undefined;
let dir = '';
const services: ServiceProcess[] = [];
const consumers: Consumer[] = [];
const loads: OpenLoad[] = [];

/** User + system CPU seconds of a process (Linux /proc/<pid>/stat, clock ticks of 100 Hz). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function pause(b: RunningKafka): void { process.kill(b.pid, 'SIGSTOP'); }
function resume(b: RunningKafka): void { process.kill(b.pid, 'SIGCONT'); }

async function collector(name: string, stateDir: string, extra: string[] = []): Promise<ServiceProcess> {
  const s = await startService(name, 'services/collector/dist/main.js', ['--kafka', (broker?.brokers ?? []).join(','),
    // A clean stop detaches ~80 BPF programs and drains; on a 2-core machine under other work that can take seconds.
    '--node', name, '--state-dir', stateDir, '--log-level', 'warn', '--shutdown-deadline-ms', '30000', ...extra]);
  services.push(s);
  return s;
}

/** What arrived on the raw topic for one node: open events of `path` by kernel timestamp, and seqs per instance. */
class RawTally {
  private stamps = new Float64Array(1 << 20);
  private n = 0;
  readonly seqs = new Map<string, Set<number>>();
  batches = 0;
  lossRecords: { source: string; count: number }[] = [];

  constructor(private readonly node: string, private readonly path: string) {}

  // The tally reads 2.8 M events on a machine the broker and the collector need: only the fields it counts are
  // decoded (protobufjs' Reader, skipping the rest), which costs a fraction of pb.RawEventBatch.decode.
  add(value: Buffer): void {
    const r = Reader.create(value);
    let node = '';
    let seq = 0;
    let instance = '';
    const stamps: number[] = [];
    while (r.pos < r.len) {
      const tag = r.uint32();
      switch (tag >>> 3) {
        case 1: node = r.string(); break;
        case 2: seq = Number(r.uint64()); break;
        case 3: { const stamp = this.openStamp(r, r.uint32()); if (stamp !== undefined) stamps.push(stamp); break; }
        case 4: {
          const l = pb.LossRecord.decode(r, r.uint32());
          if (l.source !== 'visibility_gap') this.lossRecords.push({ source: l.source, count: Number(l.count) });
          break;
        }
        case 5: instance = r.string(); break;
        default: r.skipType(tag & 7);
      }
    }
    if (node !== this.node) return;
    this.batches++;
    let s = this.seqs.get(instance);
    if (s === undefined) this.seqs.set(instance, s = new Set());
    s.add(seq);
    for (const stamp of stamps) {
      if (this.n === this.stamps.length) {
        const grown = new Float64Array(this.stamps.length * 2);
        grown.set(this.stamps);
        this.stamps = grown;
      }
      this.stamps[this.n++] = stamp;
    }
  }

  /** RawEvent (time_unix_nano = 2, file_open = 12 with path = 1): its kernel timestamp when it opened `path`. */
  private openStamp(r: InstanceType<typeof Reader>, len: number): number | undefined {
    const end = r.pos + len;
    let stamp = 0;
    let match = false;
    while (r.pos < end) {
      const tag = r.uint32();
      if (tag >>> 3 === 2 && (tag & 7) === 1) {
        // Two opens of one process are microseconds apart; a double's 256 ns steps at today's epoch tell them apart.
        stamp = Number(r.fixed64());
      } else if (tag >>> 3 === 12 && (tag & 7) === 2) {
        const fend = r.uint32() + r.pos;
        while (r.pos < fend) {
          const ft = r.uint32();
          if (ft >>> 3 === 1 && (ft & 7) === 2) match = r.string() === this.path;
          else r.skipType(ft & 7);
        }
      } else {
        r.skipType(tag & 7);
      }
    }
    return match ? stamp : undefined;
  }

  /** Open events received, counting each kernel timestamp once; and how many arrived more than once. */
  distinct(): { events: number; duplicates: number } {
    const sorted = this.stamps.slice(0, this.n).sort();
    let events = 0;
    for (let i = 0; i < sorted.length; i++) if (i === 0 || sorted[i] !== sorted[i - 1]) events++;
    return { events, duplicates: this.n - events };
  }
}

async function tally(t: TestContext, node: string, path: string): Promise<RawTally> {
  const kafka = new Kafka({ brokers: broker?.brokers ?? [], clientId: `drill-${node}`, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `drill-${node}`, maxWaitTimeInMs: 200 });
  consumers.push(consumer);
  await consumer.connect();
  await consumer.subscribe({ topics: [TOPICS.raw], fromBeginning: true });
  const tl = new RawTally(node, path);
  await consumer.run({ eachMessage: async ({ message }) => { if (message.value) tl.add(message.value); } });
  t.after(() => consumer.disconnect().catch(() => undefined));
  return tl;
}

before(async () => {
  if (skip) return;
  broker = await startKafka();
  dir = mkdtempSync(join(tmpdir(), 'palisade-drill-'));
});

after(async () => {
  for (const l of loads) { l.kill(); await l.done.catch(() => undefined); }
  if (broker) resume(broker);
  for (const c of consumers) await c.disconnect().catch(() => undefined);
  for (const s of services.reverse()) await s.stop();
  await broker?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test(`a ${OUTAGE_MS / 1000} s broker outage at ${RATE_PER_S / 1000}k events/s loses nothing: spooled, then replayed in order`,
  { skip, timeout: OUTAGE_MS + 360_000 }, async (t) => {
    assert.ok(broker);
    const node = 'drill-outage';
    const target = join(dir, 'opened-by-the-drill');
    writeFileSync(target, 'x');
    const c = await collector(node, join(dir, 'state-outage'));
    const seen = await tally(t, node, target);
    const count = Math.round(RATE_PER_S * (LEAD_MS + OUTAGE_MS + TAIL_MS) / 1000);
    const load = new OpenLoad(buildOpenLoad(), { count, ratePerS: RATE_PER_S, paths: [target] });
    loads.push(load);
    await waitFor('the first events on the raw topic', () => seen.distinct().events > 0, { timeoutMs: 60_000 });
    await sleep(LEAD_MS);

    pause(broker);
    const outageStart = Date.now();
    await sleep(OUTAGE_MS);
    const spooledBytes = await scrape(c.metricsPort, 'palisade_collector_spool_bytes');
    const spooledRecords = await scrape(c.metricsPort, 'palisade_collector_spool_records');
    const oldestAgeS = await scrape(c.metricsPort, 'palisade_collector_spool_oldest_age_seconds');
    resume(broker);
    const resumed = Date.now();
    assert.ok(spooledBytes > 0, 'the collector spooled while the broker was away');

    await waitFor('the spool to be replayed', async () => (await scrape(c.metricsPort, 'palisade_collector_spool_records')) === 0
      && (await scrape(c.metricsPort, 'palisade_collector_replayed_records_total')) > 0, { timeoutMs: 240_000, intervalMs: 250 });
    const replayS = (Date.now() - resumed) / 1000;
    const done = await load.done;
    const offered = done.opens;
    await waitFor(`all ${offered} opens on the raw topic`, () => seen.distinct().events >= offered, { timeoutMs: 180_000, intervalMs: 500 });

    const { events, duplicates } = seen.distinct();
    const lost = await scrape(c.metricsPort, 'palisade_collector_lost_events_total');
    const figures = {
      cpuS: { collector: await scrape(c.metricsPort, 'process_cpu_seconds_total'), broker: cpuSeconds(broker.pid),
        test: (process.cpuUsage().user + process.cpuUsage().system) / 1e6 },
      offered, received: events, duplicates, lost, outageS: (resumed - outageStart) / 1000,
      spooledBytes, spooledRecords, oldestAgeS: Math.round(oldestAgeS),
      spooledEvents: await scrape(c.metricsPort, 'palisade_collector_spooled_events_total'),
      replayedRecords: await scrape(c.metricsPort, 'palisade_collector_replayed_records_total'),
      replayS, batches: seen.batches, lossRecords: seen.lossRecords,
    };
    t.diagnostic(`drill: ${JSON.stringify(figures)}`);
    assert.equal(events, offered, 'every offered open arrived');
    assert.equal(lost, 0, 'the collector counted no loss');
    assert.deepEqual(seen.lossRecords, [], 'no LossRecord on the topic');
    // Batches: one instance, seq 1..max with no hole (a hole is a lost batch).
    assert.equal(seen.seqs.size, 1);
    const seqs = [...seen.seqs.values()][0] ?? new Set<number>();
    assert.equal(seqs.size, Math.max(...seqs), 'no seq gap');
    assert.equal(c.child.exitCode, null, 'the collector never exited');
  });
