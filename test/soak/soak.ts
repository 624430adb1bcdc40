// The soak: the pipeline as deployed (a real Kafka broker, the enricher, evaluator and responder as their own
// processes) fed for N minutes with synthetic RawEventBatch records produced straight to palisade.events.raw at a
// fixed rate, 1,024 events a record, one of them an /etc/shadow open from a pod (PAL-001, so alerts and dry-run
// actions flow too), the rest benign file opens from 16 pods' cgroups. No collector runs: the raw topic is where its
// output would go, and the kernel side has its own benchmark. The load generator is this process.
//
// Every sampleMs it records, per process: resident memory, V8 heap used, event-loop delay (p99 and max since the last
// sample: prom-client's nodejs_eventloop_lag_* come from perf_hooks.monitorEventLoopDelay, as does this process' own
// monitor), and per consumer group the lag (end offsets minus committed). At the end it stops the load, gives the
// pipeline drainS to catch up, and reports:
//   rss_slope_mib_per_min  least-squares slope of RSS over the samples after the warm-up
//   loss                   alerts expected (one per record produced) minus distinct alerts received, once drained;
//                          null when the lag did not reach zero in time (then `undrained` says how much was left)
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, CompressionTypes, type Admin, type Consumer, type Producer } from 'kafkajs';
import { TOPICS, pb, type palisade } from '@palisade/common';
import { startKafka, type RunningKafka } from '../kafka/broker.js';
import { writeAlertKeys } from '../support/alert-keys.js';
import { startService, type ServiceProcess } from '../support/service-process.js';

export const SOAK_STAGES = ['enricher', 'evaluator', 'responder'] as const;
type SoakStage = (typeof SOAK_STAGES)[number];
const GROUPS: Record<SoakStage, { group: string; topic: string }> = {
  enricher: { group: 'palisade-enricher', topic: TOPICS.raw },
  evaluator: { group: 'palisade-evaluator', topic: TOPICS.enriched },
  responder: { group: 'palisade-responder', topic: TOPICS.alerts },
};
const NODE = 'soak-node-1';
const EVENTS_PER_RECORD = 1024;

export interface SoakOptions {
  minutes: number;
  /** Events offered per second. */
  ratePerS: number;
  /** Samples before this are left out of the slope. */
  warmupS: number;
  sampleMs: number;
  /** How long the pipeline may take to catch up after the load stops. */
  drainS: number;
  log: (msg: string) => void;
}

export interface ProcessSample {
  t_s: number;
  rss_mib: number;
  heap_used_mib: number;
  loop_p99_ms: number;
  loop_max_ms: number;
}

export interface ProcessReport {
  rss_slope_mib_per_min: number;
  rss_mib: { first: number; after_warmup: number; last: number; max: number };
  heap_used_mib: { after_warmup: number; last: number; max: number };
  heap_slope_mib_per_min: number;
  loop_lag_ms: { p99_median: number; p99_max: number; max: number };
  /** Largest lag of its consumer group (records) seen in a sample, and at the end of the load. */
  consumer_lag?: { max: number; end_of_load: number; after_drain: number };
  samples: ProcessSample[];
}

export interface SoakResult {
  minutes: number;
  rate_offered_per_s: number;
  rate_achieved_per_s: number;
  events_offered: number;
  records_produced: number;
  send_failures: number;
  alerts_expected: number;
  alerts_received: number;
  loss: number | null;
  undrained: Record<string, number>;
  drained_s: number | null;
  warmup_s: number;
  processes: Record<string, ProcessReport>;
}

/** Least-squares slope of y over x (x in seconds), per minute. */
export function slopePerMinute(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, p) => s + p.x, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? 0 : (num / den) * 60;
}

function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const round = (x: number, d = 2): number => Math.round(x * 10 ** d) / 10 ** d;

/** The pods of the synthetic node: kubelet-style cgroup paths, so the enricher takes their identity from the name. */
function pods(n: number): { path: string; cgroupId: number }[] {
  return Array.from({ length: n }, (_, i) => {
    const uid = randomUUID().replace(/-/g, '_');
    const cid = randomBytes(32).toString('hex');
    return {
      path: `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid}.slice/cri-containerd-${cid}.scope`,
      cgroupId: 100_000 + i,
    };
  });
}

const BENIGN = ['/etc/hosts', '/etc/resolv.conf', '/app/config/settings.yaml', '/usr/lib/python3.11/json/__init__.py',
  '/var/log/app/access.log', '/etc/ld.so.cache', '/etc/passwd', '/app/static/index.html'];

/** Builds records: the benign events are encoded once; the alertable one (unique time, so a unique alert id) per record. */
class RecordFactory {
  private readonly benign: Buffer;
  private readonly pods = pods(16);
  private seq = 0;
  /** Four synthetic nodes, each with its own batch sequence, so the records spread over the raw topic's partitions. */
  private readonly nodeSeq = [0, 0, 0, 0];
  private readonly instanceId = `soak:${Date.now() * 1e6}`;

  constructor() {
    const now = Date.now() * 1e6;
    const events: palisade.v1.IRawEvent[] = [];
    for (let i = 0; i < EVENTS_PER_RECORD - 1; i++) {
      const pod = this.pods[i % this.pods.length]!;
      events.push({
        kind: pb.EventKind.EVENT_KIND_FILE_OPEN, timeUnixNano: now + i, cpu: i % 2,
        process: { pid: 1000 + (i % 64), ppid: 1, comm: 'python3', binary: '/usr/bin/python3', cgroupId: pod.cgroupId, cgroupPath: pod.path, uid: 1000 },
        fileOpen: { path: BENIGN[i % BENIGN.length]!, result: 3, syscall: 'openat' },
      });
    }
    this.benign = Buffer.from(pb.RawEventBatch.encode({ events }).finish());
  }

  next(): { key: string; value: Buffer } {
    this.seq += 1;
    const n = this.seq % this.nodeSeq.length;
    this.nodeSeq[n] = (this.nodeSeq[n] ?? 0) + 1;
    const node = `${NODE}-${n}`;
    const pod = this.pods[this.seq % this.pods.length]!;
    const alertable = pb.RawEventBatch.encode({
      node, seq: this.nodeSeq[n], instanceId: this.instanceId,
      events: [{
        kind: pb.EventKind.EVENT_KIND_FILE_OPEN, timeUnixNano: Date.now() * 1e6 + (this.seq % 1e6), cpu: 0,
        process: { pid: 4242, ppid: 1, comm: 'cat', binary: '/usr/bin/cat', cgroupId: pod.cgroupId, cgroupPath: pod.path, uid: 0 },
        fileOpen: { path: '/etc/shadow', result: 3, syscall: 'openat' },
      }],
    }).finish();
    // Protobuf fields may come in any order and repeated ones append: the benign events, then this record's own.
    return { key: node, value: Buffer.concat([this.benign, alertable]) };
  }
}

interface Metric { rss: number; heap: number; p99: number; max: number }

async function scrapeProcess(port: number): Promise<Metric | undefined> {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    const get = (name: string): number => {
      const m = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+(\\S+)$`, 'm').exec(text);
      return m ? Number(m[1]) : NaN;
    };
    return { rss: get('process_resident_memory_bytes'), heap: get('nodejs_heap_size_used_bytes'),
      p99: get('nodejs_eventloop_lag_p99_seconds') * 1000, max: get('nodejs_eventloop_lag_max_seconds') * 1000 };
  } catch {
    return undefined;
  }
}

async function groupLag(admin: Admin, group: string, topic: string): Promise<number> {
  const [ends, committed] = await Promise.all([
    admin.fetchTopicOffsets(topic),
    admin.fetchOffsets({ groupId: group, topics: [topic] }),
  ]);
  const done = new Map((committed[0]?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
  let lag = 0;
  for (const e of ends) {
    const c = done.get(e.partition) ?? -1;
    lag += Number(e.high) - (c < 0 ? Number(e.low) : c);
  }
  return lag;
}

export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const started: { broker?: RunningKafka; services: ServiceProcess[]; producer?: Producer; admin?: Admin; consumer?: Consumer; keyDir?: string } = { services: [] };
  try {
    opts.log('starting Kafka');
    const broker = await startKafka();
    started.broker = broker;
    const common = ['--kafka', broker.brokers.join(','), '--log-level', 'warn', '--node', NODE];
    const svc: Partial<Record<SoakStage, ServiceProcess>> = {};
    // Consumers first: each creates the topics it reads and writes.
    // The evaluator signs its alerts and the responder trusts only that key, as in a deployment.
    const keyDir = mkdtempSync(join(tmpdir(), 'palisade-soak-keys-'));
    started.keyDir = keyDir;
    const keys = writeAlertKeys(keyDir);
    // Loss is alerts expected minus alerts received, one per record: alert dedup would fold them, so it is off.
    const extra = { responder: keys.responderArgs, evaluator: ['--alert-dedup-window-ms', '0', ...keys.evaluatorArgs], enricher: [] };
    for (const stage of ['responder', 'evaluator', 'enricher'] as const) {
      opts.log(`starting the ${stage}`);
      const s = await startService(stage, `services/${stage}/dist/main.js`, [...common, ...extra[stage]], { readyTimeoutMs: 120_000 });
      svc[stage] = s;
      started.services.push(s);
    }

    const kafka = new Kafka({ brokers: broker.brokers, clientId: 'soak', logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    started.admin = admin;
    await admin.connect();
    const alertIds = new Set<string>();
    const consumer = kafka.consumer({ groupId: 'soak-user', maxWaitTimeInMs: 200 });
    started.consumer = consumer;
    await consumer.connect();
    await consumer.subscribe({ topics: [TOPICS.alerts], fromBeginning: true });
    await consumer.run({
      eachBatch: async ({ batch }) => {
        for (const m of batch.messages) {
          try { alertIds.add(pb.Alert.decode(m.value ?? Buffer.alloc(0)).id); } catch { /* not an alert */ }
        }
      },
    });
    const producer = kafka.producer({ allowAutoTopicCreation: false });
    started.producer = producer;
    await producer.connect();

    const factory = new RecordFactory();
    const loop = monitorEventLoopDelay({ resolution: 10 });
    loop.enable();
    const samples: Record<string, ProcessSample[]> = { producer: [], enricher: [], evaluator: [], responder: [] };
    const lags: Record<SoakStage, number[]> = { enricher: [], evaluator: [], responder: [] };
    const t0 = Date.now();
    const sample = async (): Promise<void> => {
      const t_s = (Date.now() - t0) / 1000;
      const mem = process.memoryUsage();
      samples['producer']!.push({ t_s, rss_mib: mem.rss / 2 ** 20, heap_used_mib: mem.heapUsed / 2 ** 20,
        loop_p99_ms: loop.percentile(99) / 1e6, loop_max_ms: loop.max / 1e6 });
      loop.reset();
      for (const stage of SOAK_STAGES) {
        const s = svc[stage];
        const m = s ? await scrapeProcess(s.metricsPort) : undefined;
        if (m) samples[stage]!.push({ t_s, rss_mib: m.rss / 2 ** 20, heap_used_mib: m.heap / 2 ** 20, loop_p99_ms: m.p99, loop_max_ms: m.max });
        lags[stage].push(await groupLag(admin, GROUPS[stage].group, GROUPS[stage].topic).catch(() => NaN));
      }
    };

    // The load: records sent in ticks of 20 ms, each tick bringing the total up to what the rate owes by then. A send
    // that fails is counted, not retried: the soak measures the pipeline, not the load generator's patience.
    const recordsPerS = opts.ratePerS / EVENTS_PER_RECORD;
    const durationMs = opts.minutes * 60_000;
    let produced = 0;
    let failures = 0;
    let inflight = 0;
    let nextSample = 0;
    opts.log(`offering ${opts.ratePerS} events/s (${recordsPerS.toFixed(1)} records/s) for ${opts.minutes} min`);
    for (;;) {
      const elapsed = Date.now() - t0;
      if (elapsed >= durationMs) break;
      if (elapsed >= nextSample) {
        nextSample += opts.sampleMs;
        void sample();
      }
      const owed = Math.floor((elapsed / 1000) * recordsPerS) - produced - failures - inflight;
      // One record a send (a record is ~250 KB, and kafkajs puts a send's records for one partition into one batch,
      // which must stay under the broker's 1 MiB); at most 16 in flight, so a broker that falls behind slows the load
      // instead of piling it up here.
      for (let i = 0; i < owed && inflight < 16; i++) {
        inflight += 1;
        producer.send({ topic: TOPICS.raw, messages: [factory.next()], acks: -1, compression: CompressionTypes.None })
          .then(() => { produced += 1; }, () => { failures += 1; })
          .finally(() => { inflight -= 1; });
      }
      await sleep(20);
    }
    const loadS = (Date.now() - t0) / 1000;
    while (inflight > 0) await sleep(50);
    await sample();
    const endOfLoad = Object.fromEntries(SOAK_STAGES.map((s) => [s, lags[s].at(-1) ?? NaN])) as Record<SoakStage, number>;

    opts.log(`load done: ${produced} records in ${loadS.toFixed(0)} s; draining (up to ${opts.drainS} s)`);
    const drainStart = Date.now();
    let after: Record<SoakStage, number> = { enricher: NaN, evaluator: NaN, responder: NaN };
    let drainedS: number | null = null;
    while ((Date.now() - drainStart) / 1000 < opts.drainS) {
      after = Object.fromEntries(await Promise.all(SOAK_STAGES.map(async (s) =>
        [s, await groupLag(admin, GROUPS[s].group, GROUPS[s].topic).catch(() => NaN)]))) as Record<SoakStage, number>;
      if (SOAK_STAGES.every((s) => after[s] === 0) && alertIds.size >= produced) {
        drainedS = (Date.now() - drainStart) / 1000;
        break;
      }
      await sleep(500);
    }
    loop.disable();

    const processes: Record<string, ProcessReport> = {};
    for (const [name, ss] of Object.entries(samples)) {
      const warm = ss.filter((s) => s.t_s >= opts.warmupS);
      const first = warm[0];
      const rep: ProcessReport = {
        rss_slope_mib_per_min: round(slopePerMinute(warm.map((s) => ({ x: s.t_s, y: s.rss_mib })))),
        rss_mib: { first: round(ss[0]?.rss_mib ?? NaN, 1), after_warmup: round(first?.rss_mib ?? NaN, 1),
          last: round(ss.at(-1)?.rss_mib ?? NaN, 1), max: round(Math.max(...ss.map((s) => s.rss_mib)), 1) },
        heap_used_mib: { after_warmup: round(first?.heap_used_mib ?? NaN, 1), last: round(ss.at(-1)?.heap_used_mib ?? NaN, 1),
          max: round(Math.max(...ss.map((s) => s.heap_used_mib)), 1) },
        heap_slope_mib_per_min: round(slopePerMinute(warm.map((s) => ({ x: s.t_s, y: s.heap_used_mib })))),
        loop_lag_ms: { p99_median: round(median(ss.map((s) => s.loop_p99_ms))), p99_max: round(Math.max(...ss.map((s) => s.loop_p99_ms))),
          max: round(Math.max(...ss.map((s) => s.loop_max_ms))) },
        samples: ss.map((s) => ({ t_s: round(s.t_s, 1), rss_mib: round(s.rss_mib, 1), heap_used_mib: round(s.heap_used_mib, 1),
          loop_p99_ms: round(s.loop_p99_ms), loop_max_ms: round(s.loop_max_ms) })),
      };
      if (name !== 'producer') {
        const stage = name as SoakStage;
        rep.consumer_lag = { max: Math.max(0, ...lags[stage].filter(Number.isFinite)), end_of_load: endOfLoad[stage], after_drain: after[stage] };
      }
      processes[name] = rep;
    }
    const undrained = Object.fromEntries(SOAK_STAGES.filter((s) => after[s] !== 0).map((s) => [s, after[s]]));
    return {
      minutes: opts.minutes,
      rate_offered_per_s: opts.ratePerS,
      rate_achieved_per_s: Math.round((produced * EVENTS_PER_RECORD) / loadS),
      events_offered: produced * EVENTS_PER_RECORD,
      records_produced: produced,
      send_failures: failures,
      alerts_expected: produced,
      alerts_received: alertIds.size,
      loss: drainedS === null ? null : produced - alertIds.size,
      undrained,
      drained_s: drainedS === null ? null : round(drainedS, 1),
      warmup_s: opts.warmupS,
      processes,
    };
  } finally {
    await started.consumer?.disconnect().catch(() => undefined);
    await started.producer?.disconnect().catch(() => undefined);
    await started.admin?.disconnect().catch(() => undefined);
    for (const s of started.services.reverse()) await s.stop().catch(() => undefined);
    await started.broker?.stop();
    if (started.keyDir !== undefined) rmSync(started.keyDir, { recursive: true, force: true });
  }
}
