// Collector throughput: the kernel side of the collector (KernelSource: BPF programs, ring buffer, addon drain,
// decoder, cgroup and binary annotation) in this process, pinned to one CPU, against a C loop of openat+close of one
// unique file pinned to the other CPU. No Kafka: this is the most the collector can take in, before publishing costs.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pb } from '@palisade/common';
import { loadCollectorConfig } from '@palisade/collector';
import { KernelSource } from '@palisade/collector/dist/kernel-source.js';
import { pinProcess } from './cpu-affinity.js';
import { KERNEL_LOSS_COUNTERS } from './loss-reasons.js';
import { OpenLoad } from './open-load.js';
import type { Teardown } from './teardown.js';

export interface CollectorBenchOptions {
  openLoadBin: string;
  /** openat+close pairs the storm makes. */
  stormOpens: number;
}

export interface CollectorBenchResult {
  storm_opens: number;
  storm_seconds: number;
  /** Storm opens ÷ the storm's own run time (its CLOCK_MONOTONIC start to end). */
  offered_per_s: number;
  /** Storm events the collector received. */
  delivered: number;
  /** delivered ÷ (storm start → last storm event received, or storm end if later). */
  delivered_per_s: number;
  /** storm_opens − delivered. */
  lost: number;
  lost_ratio: number;
  /** Sum of the loss counters' growth over the storm (all processes' events, not only the storm's). */
  kernel_lost: number;
  /** Growth of every kernel/addon counter over the storm. */
  kernel_counters: Record<string, number>;
  decode_errors: number;
  /** All events received during the storm window, the storm's and everyone else's. */
  events_received: number;
  /** CPU time (user+system) of this process over the window ÷ events received: the collector's cost per event. */
  cpu_us_per_event: number;
  /** Peak resident set of this process (the collector side only: no Kafka client, no service around it). */
  rss_mib: number;
  ring_buffer_bytes: number;
  buffer_mode: string;
  collector_cpu: string;
  storm_cpu: string;
}

export async function benchCollector(opts: CollectorBenchOptions, teardown: Teardown): Promise<CollectorBenchResult> {
  // The collector's production defaults, so the bench measures what a deployment runs.
  const cfg = loadCollectorConfig({ env: {}, argv: [] });
  const dir = mkdtempSync(join(tmpdir(), 'palisade-bench-'));
  const removeDir = teardown.add('storm temp dir', () => rmSync(dir, { recursive: true, force: true }));
  const stormPath = join(dir, `storm-${randomBytes(6).toString('hex')}`);
  writeFileSync(stormPath, 'x');

  // Two CPUs at least: the collector on CPU 1, the storm on CPU 0. With one CPU both share it (reported as such).
  const twoCpus = cpus().length >= 2;
  const collectorCpu = twoCpus ? '1' : '0';
  const stormCpu = 0;
  const unpin = teardown.add('CPU pinning', pinProcess(collectorCpu));

  const source = new KernelSource({
    mode: cfg.bufferMode, ringBufferBytes: cfg.ringBufferBytes, perfBufferPages: cfg.perfBufferPages,
    ignoreSelf: cfg.ignoreSelf,
  });
  const closeSource = teardown.add('kernel source', () => source.close());
  let received = 0;
  let delivered = 0;
  let lastDeliveryNs = 0n;
  source.start((events) => {
    received += events.length;
    let mine = 0;
    for (const e of events) {
      if (e.kind === pb.EventKind.EVENT_KIND_FILE_OPEN && e.fileOpen?.path === stormPath) mine++;
    }
    if (mine > 0) { delivered += mine; lastDeliveryNs = process.hrtime.bigint(); }
  });
  // Let the start-up burst (whatever was queued while attaching) drain before the window opens.
  await sleep(500);

  const before = source.stats();
  const receivedBefore = received;
  const cpuBefore = process.cpuUsage();
  const storm = new OpenLoad(opts.openLoadBin, { count: opts.stormOpens, ratePerS: 0, paths: [stormPath], cpu: stormCpu });
  const killStorm = teardown.add('storm process', () => storm.kill());
  const result = await storm.done;
  await killStorm();

  // Drain: until every storm event is in, or nothing more came for 500 ms.
  const drainDeadline = Date.now() + 10_000;
  let seen = delivered;
  let quietSince = Date.now();
  while (delivered < opts.stormOpens && Date.now() < drainDeadline && Date.now() - quietSince < 500) {
    await sleep(50);
    if (delivered !== seen) { seen = delivered; quietSince = Date.now(); }
  }
  const cpu = process.cpuUsage(cpuBefore);
  const after = source.stats();
  const eventsReceived = received - receivedBefore;
  await closeSource();
  await unpin();
  await removeDir();

  const counters: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.kernel)) counters[k] = v - (before.kernel[k] ?? 0);
  const kernelLost = KERNEL_LOSS_COUNTERS.reduce((s, k) => s + (counters[k] ?? 0), 0);
  const stormNs = Number(result.endNs - result.startNs);
  const lastNs = lastDeliveryNs > result.endNs ? lastDeliveryNs : result.endNs;
  const deliveryNs = Number(lastNs - result.startNs);
  return {
    storm_opens: result.opens,
    storm_seconds: stormNs / 1e9,
    offered_per_s: result.opens / (stormNs / 1e9),
    delivered,
    delivered_per_s: delivered / (deliveryNs / 1e9),
    lost: result.opens - delivered,
    lost_ratio: (result.opens - delivered) / result.opens,
    kernel_lost: kernelLost,
    kernel_counters: counters,
    decode_errors: after.decodeErrors - before.decodeErrors,
    events_received: eventsReceived,
    cpu_us_per_event: eventsReceived > 0 ? (cpu.user + cpu.system) / eventsReceived : Number.NaN,
    rss_mib: process.resourceUsage().maxRSS / 1024,
    ring_buffer_bytes: cfg.ringBufferBytes,
    buffer_mode: cfg.bufferMode,
    collector_cpu: collectorCpu,
    storm_cpu: String(stormCpu),
  };
}
