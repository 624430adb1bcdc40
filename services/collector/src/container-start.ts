// When did this container start? For ProcessExec.exe_modified_after_container_start: a binary whose inode ctime is
// later than its container's start was written (or copied up, chmod'ed, renamed into place) by the container, not
// shipped in its image. The kernel gives the exe's ctime (bpf/include/exec_env.bpf.h); the start comes from here.
//
// The start of a container is taken as the start time of the oldest process alive in its cgroup (the container's
// init, started by the runtime after the rootfs was prepared), read once per cgroup id from
// <cgroup2>/<path>/cgroup.procs and /proc/<pid>/stat (field 22, clock ticks since boot, on CLOCK_BOOTTIME), and cached.
// Why not the first exec the collector sees in the cgroup: a collector started (or restarted) after the container
// would then date the container from its restart and call every binary written before it "image". The oldest live
// process is right across collector restarts. Its limits:
//   - the container's init must still be alive (it is, for the container's lifetime); when the cgroup is already
//     empty at the look-up (a short-lived container whose exec event is read after it exited), the exec's own
//     process start, else the event's time, stands in: later than the real start, so it can only miss a change;
//   - ticks are 10 ms (USER_HZ = 100) and ctime is the kernel's coarse clock: a file written within ~10 ms of the
//     start can fall either side;
//   - a container's own sub-cgroups (cgroup namespaces, crun's leaf) get the start of their own oldest process;
//   - only cgroups whose path names a container (a <runtime>-<64 hex>.scope or a bare 64-hex id, as the kubelet
//     and the runtimes name them): host processes get 0 and false.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { palisade } from '@palisade/common';
import { DEFAULT_CGROUP2_ROOT } from './cgroup-resolver.js';
import { parseProcStat } from './process-cache.js';

/** A cgroup directory name that is a container: the runtime's scope or the cgroupfs driver's bare id. */
const CONTAINER_SEGMENT = /(?:^|\/)(?:(?:cri-containerd|crio|docker)-)?[0-9a-f]{64}(?:\.scope)?(?:\/|$)/;
/** USER_HZ: /proc/<pid>/stat reports times in these ticks on every Linux architecture the collector supports. */
const CLOCK_TICKS_PER_SECOND = 100;

export interface ContainerStartOptions {
  /** Where procfs is mounted. */
  procRoot?: string;
  /** Where cgroup2 is mounted (the cgroup resolver's root). */
  cgroupRoot?: string;
  /** Most cgroups remembered; past it the oldest go. */
  maxEntries?: number;
}

export function isContainerCgroup(path: string): boolean {
  return CONTAINER_SEGMENT.test(path);
}

export class ContainerStartCache {
  private readonly procRoot: string;
  private readonly cgroupRoot: string;
  private readonly maxEntries: number;
  /** cgroup id -> start, Unix ns (0: not a container). Insertion order is age, for eviction. */
  private readonly starts = new Map<number, number>();
  private offsetNs = 0;
  /** /proc and cgroup.procs reads, for tests and stats. */
  lookups = 0;

  constructor(opts: ContainerStartOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.cgroupRoot = opts.cgroupRoot ?? DEFAULT_CGROUP2_ROOT;
    this.maxEntries = opts.maxEntries ?? 4096;
  }

  /** The decoder's CLOCK_BOOTTIME -> Unix offset: /proc start times are boot-relative. */
  setBootToRealtimeOffsetNs(offsetNs: bigint): void {
    this.offsetNs = Number(offsetNs);
  }

  /** Unix ns of the container's start, 0 when the cgroup is not a container's (or nothing could be read). */
  startOf(cgroupId: number, cgroupPath: string, pid: number, eventTimeUnixNano: number): number {
    const hit = this.starts.get(cgroupId);
    if (hit !== undefined) return hit;
    const start = isContainerCgroup(cgroupPath) ? this.lookUp(cgroupPath, pid, eventTimeUnixNano) : 0;
    if (this.starts.size >= this.maxEntries) {
      const oldest = this.starts.keys().next();
      if (oldest.done !== true) this.starts.delete(oldest.value);
    }
    this.starts.set(cgroupId, start);
    return start;
  }

  /** Fills an exec's container_start_unix_nano and exe_modified_after_container_start (cgroupPath already set). */
  annotate(event: palisade.v1.IRawEvent): void {
    const exec = event.exec;
    const proc = event.process;
    if (exec == null || proc == null) return;
    const start = this.startOf(proc.cgroupId ?? 0, proc.cgroupPath ?? '', proc.pid ?? 0, event.timeUnixNano ?? 0);
    const ctime = Number(exec.exeCtimeUnixNano ?? 0);
    exec.containerStartUnixNano = start;
    exec.exeModifiedAfterContainerStart = start > 0 && ctime > start;
  }

  private lookUp(cgroupPath: string, pid: number, eventTimeUnixNano: number): number {
    this.lookups++;
    let pids: number[] = [];
    try {
      pids = readFileSync(join(this.cgroupRoot, cgroupPath, 'cgroup.procs'), 'utf8').split('\n')
        .filter((l) => l !== '').map(Number);
    } catch {
      // removed already: the exec's own process below, else the event's time
    }
    if (pid > 0 && !pids.includes(pid)) pids.push(pid);
    let oldest = Infinity;
    for (const p of pids) {
      try {
        const stat = parseProcStat(readFileSync(`${this.procRoot}/${p}/stat`, 'utf8'));
        if (stat !== undefined && stat.startTimeTicks < oldest) oldest = stat.startTimeTicks;
      } catch {
        // exited meanwhile
      }
    }
    if (oldest === Infinity) return eventTimeUnixNano;
    const bootNs = oldest * (1e9 / CLOCK_TICKS_PER_SECOND);
    return Math.min(bootNs + this.offsetNs, eventTimeUnixNano || Infinity);
  }
}
