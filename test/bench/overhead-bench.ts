// Overhead on the workload: the storm's wall time (1M openat+close pinned to CPU 0) with X attached ÷ with nothing
// attached. The five modes run interleaved, round after round (bare, empty_hook, filtered, all_events, opensnoop,
// ×rounds), so a drift of the machine over the minute hits every mode alike; each ratio is median ÷ median.
//
//   bare        nothing attached
//   empty_hook  the collector's hooks with empty programs (empty-hooks.ts): the floor this kernel imposes
//   filtered    the collector (collector-run.ts) with an in-kernel filter that drops the storm's comm
//   all_events  the collector, every storm event delivered to userspace and published on the bus
//   opensnoop   libbpf-tools' opensnoop, output to /dev/null: the peer
//
// Everything that consumes events (this process, the loader, opensnoop) is pinned to CPU 1. This process runs at
// nice -20 for the stage and its children inherit it, so on a machine others share the storm and its tracer keep
// their CPUs; each run also records the storm's own CPU time, and wall ÷ CPU shows a run that was preempted anyway.
import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { DEFAULT_OBJECT_PATH } from '@palisade/collector/dist/native.js';
import { runCollectorStorm } from './collector-run.js';
import { pinProcess, setProcessNice } from './cpu-affinity.js';
import { attachEmptyHooks, buildEmptyHooks } from './empty-hooks.js';
import type { HeldProcess } from './held-process.js';
import { OpenLoad, type OpenLoadResult } from './open-load.js';
import { attachOpensnoop, findOpensnoop } from './opensnoop-peer.js';
import { quantile } from './percentiles.js';
import type { Teardown } from './teardown.js';

export const OVERHEAD_MODES = ['bare', 'empty_hook', 'filtered', 'all_events', 'opensnoop'] as const;
export type OverheadMode = (typeof OVERHEAD_MODES)[number];

export interface OverheadBenchOptions {
  openLoadBin: string;
  stormOpens: number;
  rounds: number;
  log: (msg: string) => void;
}

export interface OverheadRun {
  mode: OverheadMode;
  round: number;
  /** The storm's own CLOCK_MONOTONIC start to end. */
  seconds: number;
  /** The storm's own user+system CPU time over the same loop: close to seconds unless it was preempted. */
  cpu_seconds: number;
  /** The storm CPU's steal time over the run: the hypervisor running someone else (not the storm, not a tracer). */
  steal_seconds: number;
  /** The storm CPU's hard+soft interrupt time over the run (not in cpu_seconds: wakeups of a reader land here). */
  irq_seconds: number;
  /** filtered, all_events: storm events that reached the Collector (filtered: should be 0). */
  storm_delivered?: number;
  /** all_events: storm events that did not (should be 0). */
  lost?: number;
  /** filtered: growth of the kernel's `filtered` counter (should be about storm_opens: the exits). */
  kernel_filtered?: number;
}

export interface OverheadBenchResult {
  empty_hook_ratio: number;
  filtered_ratio: number;
  all_events_ratio: number;
  opensnoop_ratio: number;
  /**
   * The same ratios from the storm's own CPU time (median ÷ median) instead of its wall time: blind to steal and to
   * interrupt time, so steadier on a shared VM, but they miss the cost of waking a reader (irq_seconds).
   */
  cpu_time_ratios: Record<Exclude<OverheadMode, 'bare'>, number>;
  storm_opens: number;
  rounds: number;
  median_seconds: Record<OverheadMode, number>;
  /** Every run, in the order it ran. */
  runs: OverheadRun[];
  /** The sections attached with empty programs (read from the collector's object). */
  empty_hook_sections: string[];
  /** The storm's comm, dropped by the filtered mode's filter. */
  filtered_comm: string;
  filter_via: string;
  opensnoop_path: string;
  storm_cpu: string;
  tracer_cpu: string;
  /** BPF programs that appeared during the stage and were still loaded after it (should be empty). */
  leftover_programs: string[];
  /** 1-minute load average before and after the stage: others' work on the machine shows here. */
  load_average: [number, number];
}

/** Steal and interrupt time of one CPU so far, in seconds (/proc/stat counts in USER_HZ, 100 on Linux). */
function cpuTimes(cpu: number): { steal: number; irq: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n').find((l) => l.startsWith(`cpu${cpu} `)) ?? '';
  // cpuN user nice system idle iowait irq softirq steal ...
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  return { steal: (f[7] ?? Number.NaN) / 100, irq: ((f[5] ?? Number.NaN) + (f[6] ?? Number.NaN)) / 100 };
}

/** BPF programs loaded now, by id: "id name type (pids)". */
function loadedPrograms(): Map<number, string> {
  const r = spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' });
  const out = new Map<number, string>();
  if (r.status !== 0) return out;
  const progs = JSON.parse(r.stdout) as { id: number; name?: string; type?: string; pids?: { pid: number; comm: string }[] }[];
  for (const p of progs) {
    const owners = (p.pids ?? []).map((o) => `${o.comm}(${o.pid})`).join(',');
    out.set(p.id, `${p.id} ${p.name ?? '?'} ${p.type ?? '?'}${owners ? ` ${owners}` : ''}`);
  }
  return out;
}

export async function benchOverhead(opts: OverheadBenchOptions, teardown: Teardown): Promise<OverheadBenchResult> {
  const twoCpus = cpus().length >= 2;
  const stormCpu = 0;
  const tracerCpu = twoCpus ? 1 : 0;
  const programsBefore = loadedPrograms();
  const loadBefore = loadavg()[0] ?? Number.NaN;
  const emptyBuild = buildEmptyHooks(DEFAULT_OBJECT_PATH);
  const opensnoop = findOpensnoop();
  // The kernel's comm is the executable's name, cut to 15 bytes.
  const stormComm = basename(opts.openLoadBin).slice(0, 15);

  const dir = mkdtempSync(join(tmpdir(), 'palisade-overhead-'));
  const removeDir = teardown.add('overhead temp dir', () => rmSync(dir, { recursive: true, force: true }));
  const stormPath = join(dir, `storm-${randomBytes(6).toString('hex')}`);
  writeFileSync(stormPath, 'x');
  const unpin = teardown.add('CPU pinning', pinProcess(String(tracerCpu)));
  const unnice = teardown.add('priority', setProcessNice(-20));

  type Timed = Pick<OverheadRun, 'seconds' | 'cpu_seconds' | 'steal_seconds' | 'irq_seconds'>;
  let cpuStatBefore = cpuTimes(stormCpu);
  const markStart = (): void => { cpuStatBefore = cpuTimes(stormCpu); };
  const timed = (r: OpenLoadResult): Timed => {
    const now = cpuTimes(stormCpu);
    return {
      seconds: Number(r.endNs - r.startNs) / 1e9, cpu_seconds: r.cpuNs / 1e9,
      steal_seconds: now.steal - cpuStatBefore.steal, irq_seconds: now.irq - cpuStatBefore.irq,
    };
  };
  const stormAlone = async (): Promise<Timed> => {
    markStart();
    const storm = new OpenLoad(opts.openLoadBin, { count: opts.stormOpens, ratePerS: 0, paths: [stormPath], cpu: stormCpu });
    const kill = teardown.add('storm process', () => storm.kill());
    const r = await storm.done;
    await kill();
    return timed(r);
  };
  const withHeld = async (attach: () => Promise<HeldProcess>, what: string): Promise<Timed> => {
    const held = await attach();
    const detach = teardown.add(what, () => held.stop());
    try {
      await sleep(SETTLE_MS);
      return await stormAlone();
    } finally {
      await detach();
    }
  };

  let filterVia = '';
  const runs: OverheadRun[] = [];
  for (let round = 1; round <= opts.rounds; round++) {
    for (const mode of OVERHEAD_MODES) {
      let run: OverheadRun;
      switch (mode) {
        case 'bare':
          await sleep(SETTLE_MS);
          run = { mode, round, ...await stormAlone() };
          break;
        case 'empty_hook':
          run = { mode, round, ...await withHeld(() => attachEmptyHooks(emptyBuild, tracerCpu), 'empty hooks') };
          break;
        case 'opensnoop':
          run = { mode, round, ...await withHeld(() => attachOpensnoop(opensnoop, tracerCpu), 'opensnoop') };
          break;
        case 'filtered':
        case 'all_events': {
          const r = await runCollectorStorm({
            openLoadBin: opts.openLoadBin, stormOpens: opts.stormOpens, stormPath, stormCpu, settleMs: SETTLE_MS,
            ...(mode === 'filtered' && { dropComm: stormComm }),
            onStormStart: markStart,
          }, teardown);
          if (r.filterVia !== undefined) filterVia = r.filterVia;
          const delivered = Math.max(0, r.stormDelivered - r.backpressureDropped);
          run = {
            mode, round, ...timed(r.storm), storm_delivered: r.stormDelivered,
            ...(mode === 'all_events'
              ? { lost: r.storm.opens - delivered }
              : { kernel_filtered: r.kernelCounters.filtered ?? 0 }),
          };
          break;
        }
      }
      runs.push(run);
      const extra = run.lost !== undefined ? `, lost ${run.lost}`
        : run.kernel_filtered !== undefined ? `, storm events through ${run.storm_delivered ?? 0}, kernel filtered +${run.kernel_filtered}`
          : '';
      opts.log(`overhead: round ${round} ${mode.padEnd(10)} ${run.seconds.toFixed(3)} s (storm on CPU ` +
        `${(100 * run.cpu_seconds / run.seconds).toFixed(0)}% of it, steal ${run.steal_seconds.toFixed(2)} s, ` +
        `irq ${run.irq_seconds.toFixed(2)} s)${extra}`);
    }
  }
  await unnice();
  await unpin();
  await removeDir();

  // Let the kernel finish freeing the programs of the last detach (links go away with their fds, programs with the
  // last reference, after an RCU grace period).
  await sleep(200);
  const leftover = [...loadedPrograms()].filter(([id]) => !programsBefore.has(id)).map(([, desc]) => desc);
  if (leftover.length > 0) opts.log(`overhead: BPF programs left loaded after the stage: ${leftover.join('; ')}`);

  const medianOf = (m: OverheadMode): number =>
    quantile(runs.filter((r) => r.mode === m).map((r) => r.seconds).sort((a, b) => a - b), 0.5);
  const medians = Object.fromEntries(OVERHEAD_MODES.map((m) => [m, medianOf(m)])) as Record<OverheadMode, number>;
  const ratio = (m: OverheadMode): number => medians[m] / medians.bare;
  const cpuMedianOf = (m: OverheadMode): number =>
    quantile(runs.filter((r) => r.mode === m).map((r) => r.cpu_seconds).sort((a, b) => a - b), 0.5);
  const cpuRatio = (m: OverheadMode): number => cpuMedianOf(m) / cpuMedianOf('bare');
  return {
    empty_hook_ratio: ratio('empty_hook'),
    filtered_ratio: ratio('filtered'),
    all_events_ratio: ratio('all_events'),
    opensnoop_ratio: ratio('opensnoop'),
    cpu_time_ratios: {
      empty_hook: cpuRatio('empty_hook'), filtered: cpuRatio('filtered'), all_events: cpuRatio('all_events'),
      opensnoop: cpuRatio('opensnoop'),
    },
    storm_opens: opts.stormOpens,
    rounds: opts.rounds,
    median_seconds: medians,
    runs,
    empty_hook_sections: emptyBuild.sections,
    filtered_comm: stormComm,
    filter_via: filterVia,
    opensnoop_path: opensnoop,
    storm_cpu: String(stormCpu),
    tracer_cpu: String(tracerCpu),
    leftover_programs: leftover,
    load_average: [loadBefore, loadavg()[0] ?? Number.NaN],
  };
}

/** Between attaching and the storm: the attach-time burst (the collector's /proc walk, ring buffer start) settles. */
const SETTLE_MS = 300;
