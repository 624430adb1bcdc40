// Collector throughput: a C loop of openat+close of one unique file pinned to CPU 0 against the collector in this
// process pinned to CPU 1, along the real path (collector-run.ts): KernelSource -> Collector -> RawEventBatch encode
// -> MemoryBus publish -> a discarding consumer. Then the same storm against KernelSource alone (BPF programs, ring
// buffer, addon drain, decoder, cgroup and binary annotation), to split the CPU per event into taking events in and
// publishing them.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pb } from '@palisade/common';
import { loadCollectorConfig } from '@palisade/collector';
import { KernelSource } from '@palisade/collector/dist/kernel-source.js';
import { spawn } from 'node:child_process';
import { enableBpfStats, progCosts, progNames, snapshotProgStats, type ProgCost } from './bpf-prog-stats.js';
import { runCollectorStorm } from './collector-run.js';
import { pinProcess, setProcessNice } from './cpu-affinity.js';
import { OpenLoad } from './open-load.js';
import type { Teardown } from './teardown.js';

export interface CollectorBenchOptions {
  openLoadBin: string;
  /** openat+close pairs each storm makes. */
  stormOpens: number;
}

export interface CollectorBenchResult {
  /** What was measured, in words (the table prints it). */
  path: string;
  storm_opens: number;
  storm_seconds: number;
  /** Storm opens ÷ the storm's own run time (its CLOCK_MONOTONIC start to end). */
  offered_per_s: number;
  /** Storm events the Collector received and published (received − its backpressure drops). */
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
  /** Events the Collector dropped because the bus did not keep up. */
  backpressure_dropped: number;
  /** All events the Collector received in the window, the storm's and everyone else's. */
  events_received: number;
  batches_published: number;
  batches_consumed: number;
  bytes_published: number;
  /** User+system CPU of the collector process (Collector, bus, discarding consumer) ÷ events received. */
  cpu_us_per_event: number;
  /** Peak resident set of the collector process during the storm (VmHWM). */
  rss_mib: number;
  /** Its resident set when the storm started (BPF maps and ring buffer mapped, /proc walked, heap warm). */
  rss_start_mib: number;
  /** The same storm against KernelSource alone (no Collector, no publish): CPU ÷ events received. */
  kernel_source_cpu_us_per_event: number;
  /** Storm events KernelSource alone did not receive. */
  kernel_source_lost: number;
  /**
   * Per BPF program, from the kernel's bpf_stats during the KernelSource-alone runs: CPU ns per run (load-robust, unlike
   * wall time), costliest first. `storm`: the openat+close storm; `exec`: a shell starting /bin/true EXEC_STORM times.
   * Other processes' syscalls run the same programs, so `runs` is more than the storm's.
   */
  bpf_ns_per_run: { storm: ProgCost[]; exec: ProgCost[] };
  ring_buffer_bytes: number;
  buffer_mode: string;
  collector_cpu: string;
  storm_cpu: string;
}

export async function benchCollector(opts: CollectorBenchOptions, teardown: Teardown): Promise<CollectorBenchResult> {
  const cfg = loadCollectorConfig({ env: {}, argv: [] });
  const dir = mkdtempSync(join(tmpdir(), 'palisade-bench-'));
  const removeDir = teardown.add('storm temp dir', () => rmSync(dir, { recursive: true, force: true }));
  const stormPath = join(dir, `storm-${randomBytes(6).toString('hex')}`);
  writeFileSync(stormPath, 'x');

  // Two CPUs at least: the collector on CPU 1, the storm on CPU 0. With one CPU both share it (reported as such).
  const collectorCpu = cpus().length >= 2 ? '1' : '0';
  const stormCpu = 0;
  const unpin = teardown.add('CPU pinning', pinProcess(collectorCpu));
  // nice -20, inherited by the storm: on a machine others share, both keep their CPUs (see overhead-bench.ts).
  const unnice = teardown.add('priority', setProcessNice(-20));

  const run = await runCollectorStorm({
    openLoadBin: opts.openLoadBin, stormOpens: opts.stormOpens, stormPath, stormCpu, settleMs: 500,
  }, teardown);
  const kernelOnly = await kernelSourceOnly(opts.openLoadBin, opts.stormOpens, stormPath, stormCpu, teardown);
  await unnice();
  await unpin();
  await removeDir();

  const opens = run.storm.opens;
  const delivered = Math.max(0, run.stormDelivered - run.backpressureDropped);
  const stormNs = Number(run.storm.endNs - run.storm.startNs);
  const lastNs = run.lastStormDeliveryNs > run.storm.endNs ? run.lastStormDeliveryNs : run.storm.endNs;
  return {
    path: 'KernelSource → Collector → RawEventBatch → MemoryBus → discarding consumer',
    storm_opens: opens,
    storm_seconds: stormNs / 1e9,
    offered_per_s: opens / (stormNs / 1e9),
    delivered,
    delivered_per_s: delivered / (Number(lastNs - run.storm.startNs) / 1e9),
    lost: opens - delivered,
    lost_ratio: (opens - delivered) / opens,
    kernel_lost: run.kernelLost,
    kernel_counters: run.kernelCounters,
    decode_errors: run.decodeErrors,
    backpressure_dropped: run.backpressureDropped,
    events_received: run.eventsReceived,
    batches_published: run.batchesPublished,
    batches_consumed: run.batchesConsumed,
    bytes_published: run.bytesPublished,
    cpu_us_per_event: run.eventsReceived > 0 ? run.cpuUs / run.eventsReceived : Number.NaN,
    rss_mib: run.rssPeakMib,
    rss_start_mib: run.rssStartMib,
    kernel_source_cpu_us_per_event: kernelOnly.cpuUsPerEvent,
    kernel_source_lost: kernelOnly.lost,
    bpf_ns_per_run: kernelOnly.bpf,
    ring_buffer_bytes: cfg.ringBufferBytes,
    buffer_mode: cfg.bufferMode,
    collector_cpu: collectorCpu,
    storm_cpu: String(stormCpu),
  };
}

/** The storm against KernelSource with a handler that only counts: the cost of taking events in. */
async function kernelSourceOnly(
  openLoadBin: string, stormOpens: number, stormPath: string, stormCpu: number, teardown: Teardown,
): Promise<{ cpuUsPerEvent: number; lost: number; bpf: CollectorBenchResult['bpf_ns_per_run'] }> {
  const cfg = loadCollectorConfig({ env: {}, argv: [] });
  const source = new KernelSource({
    mode: cfg.bufferMode, ringBufferBytes: cfg.ringBufferBytes, perfBufferPages: cfg.perfBufferPages,
    ignoreSelf: cfg.ignoreSelf,
  });
  const closeSource = teardown.add('kernel source', () => source.close());
  let received = 0;
  let delivered = 0;
  source.start((events) => {
    received += events.length;
    for (const e of events) {
      if (e.kind === pb.EventKind.EVENT_KIND_FILE_OPEN && e.fileOpen?.path === stormPath) delivered++;
    }
  });
  const restoreStats = teardown.add('bpf_stats_enabled', enableBpfStats());
  await sleep(500);

  const statsBefore = snapshotProgStats();
  const receivedBefore = received;
  const cpuBefore = process.cpuUsage();
  const storm = new OpenLoad(openLoadBin, { count: stormOpens, ratePerS: 0, paths: [stormPath], cpu: stormCpu });
  const killStorm = teardown.add('storm process', () => storm.kill());
  const result = await storm.done;
  await killStorm();
  const drainDeadline = Date.now() + 10_000;
  let seen = delivered;
  let quietSince = Date.now();
  while (delivered < stormOpens && Date.now() < drainDeadline && Date.now() - quietSince < 500) {
    await sleep(50);
    if (delivered !== seen) { seen = delivered; quietSince = Date.now(); }
  }
  const cpu = process.cpuUsage(cpuBefore);
  const statsStorm = snapshotProgStats();
  await execStorm(EXEC_STORM, stormCpu);
  await sleep(200);
  const statsExec = snapshotProgStats();
  const names = progNames();
  await restoreStats();
  await closeSource();
  const eventsReceived = received - receivedBefore;
  return {
    cpuUsPerEvent: eventsReceived > 0 ? (cpu.user + cpu.system) / eventsReceived : Number.NaN,
    lost: result.opens - delivered,
    bpf: { storm: progCosts(statsBefore, statsStorm, names), exec: progCosts(statsStorm, statsExec, names) },
  };
}

/** Execs of the exec storm: enough for the per-run figures of the exec, fork and exit programs to settle. */
const EXEC_STORM = 2_000;

/** A shell on `cpu` that forks and execs /bin/true `n` times, one after the other. */
function execStorm(n: number, cpu: number): Promise<void> {
  const child = spawn('taskset', ['-c', String(cpu), 'sh', '-c', `i=0; while [ $i -lt ${n} ]; do /bin/true; i=$((i+1)); done`],
    { stdio: 'ignore' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`exec storm exited ${code}`))));
  });
}
