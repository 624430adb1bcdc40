// pid -> what the collector knows about that process: its binary, parent and exec id. The kernel events carry the
// pid, ppid and comms but not the binary or anything above the parent, and a rule needs both ("a web server spawned a
// shell"). Seeded from /proc at start-up, so a collector restart does not forget processes started before it, then
// kept current by the events themselves: exec replaces an entry, exit removes it after a grace period, and a pid the
// cache has never seen is looked up in /proc once.
//
// Exec ids: `<boot>:<pid>:<clock><time>`, unique on a node across pid reuse, and across nodes in practice.
//   <boot>  the first 8 hex digits of /proc/sys/kernel/random/boot_id: a reboot restarts pids and clocks.
//   k<ns>   for a process whose exec event we saw: that event's CLOCK_BOOTTIME timestamp in ns. Distinguishes two
//           execs in the same pid (sh -c 'exec sleep'), which a start time cannot. The decoder carries the timestamp
//           only as wall-clock time in a double, so the ns are recovered from it and are within 256 ns of the kernel's.
//   p<ticks> for a process found in /proc: its start time (stat field 22, clock ticks since boot). Stable across
//           collector restarts, so ids published before and after a restart agree.
// The two clocks are marked because they are different things (exec time vs fork time) and must never compare equal.
// A process that exec'd while the collector watched has a k id; if the collector then restarts, the same process gets
// its p id from /proc: ids are stable per collector lifetime, not across a restart for execs seen live.
// "" when unknown: a process that vanished before we could read /proc. An id that might not be unique would be worse.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { pb, type palisade } from '@palisade/common';

export interface ProcessEntry {
  readonly pid: number;
  /** Real parent's pid; follows reparenting as events report it. 0 for init and kthreadd. */
  ppid: number;
  /** Path of the last exec ("" if unknown: a kernel thread, or gone before we looked). */
  readonly binary: string;
  readonly comm: string;
  /** See the header of this file. */
  readonly execId: string;
  /** Start time in clock ticks since boot (stat field 22); 0 when it came from an exec event of a pid new to us. */
  readonly startTimeTicks: number;
}

export interface ProcessCacheOptions {
  /** Where procfs is mounted (a host's /proc inside a container: /host/proc). */
  procRoot?: string;
  /** Most processes remembered. Past it, the least recently used go (CLOCK: one reference bit per entry). */
  maxEntries?: number;
  /** How long an exited process stays resolvable, for its own late events and its children's. */
  exitGraceMs?: number;
  /** The boot id prefix; read from <procRoot>/sys/kernel/random/boot_id when absent. */
  bootId?: string;
  /** Clock in ms, for tests. */
  now?: () => number;
}

export interface ProcessCacheStats {
  /** Lookups (the event's process and its ancestors) answered from the cache. */
  hits: number;
  /** Lookups of pids not in the cache: each costs one /proc lookup. */
  misses: number;
  /** /proc/<pid> reads, at start-up and on misses. */
  procLookups: number;
  /** /proc lookups that found no process (it exited first); remembered until the exit grace ends. */
  procLookupsFailed: number;
  /** Entries dropped because the cache was full. */
  evictions: number;
  entries: number;
}

interface Entry extends ProcessEntry {
  /** Shared, frozen: every event of this exec whose ancestor it is points at the same object. */
  ancestor: palisade.v1.IAncestor | undefined;
  /** Shared, frozen: this process' ancestors, valid while the entries they came from are ancestryOf. */
  ancestry: palisade.v1.IAncestor[] | undefined;
  ancestryOf: [Entry | undefined, Entry | undefined];
  /** CLOCK reference bit: looked up since the eviction hand last passed. */
  referenced: boolean;
  /** When the exit grace ends (ms, now() clock); 0 while the process lives. */
  expiresAt: number;
}

/** At most this many ancestors per event: parent and grandparent. */
export const MAX_ANCESTORS = 2;
const EXPIRE_EVERY = 256;
const KIND_EXEC = pb.EventKind.EVENT_KIND_PROCESS_EXEC;
const KIND_EXIT = pb.EventKind.EVENT_KIND_PROCESS_EXIT;

/** Fields of /proc/<pid>/stat after the comm: index = field number - 3 (proc(5)). */
const STAT_PPID = 4 - 3;
const STAT_STARTTIME = 22 - 3;

/** Parses /proc/<pid>/stat. The comm is in parentheses and may itself contain ") ", so split at the last one. */
export function parseProcStat(text: string): { ppid: number; comm: string; startTimeTicks: number } | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open === -1 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  const ppid = Number(rest[STAT_PPID]);
  const startTimeTicks = Number(rest[STAT_STARTTIME]);
  if (!Number.isSafeInteger(ppid) || !Number.isSafeInteger(startTimeTicks)) return undefined;
  return { ppid, comm: text.slice(open + 1, close), startTimeTicks };
}

export class ProcessCache {
  private readonly procRoot: string;
  private readonly maxEntries: number;
  private readonly exitGraceMs: number;
  private readonly now: () => number;
  private readonly bootId: string;
  private readonly byPid = new Map<number, Entry>();
  /** Exited entries in exit order; grace periods are all equal, so expiry order is exit order. */
  private readonly exiting: Entry[] = [];
  private exitingHead = 0;
  private offsetNs = 0n;
  /** The CLOCK hand of evict(). */
  private hand: MapIterator<[number, Entry]> = this.byPid.entries();
  private calls = 0;
  private readonly counters = { hits: 0, misses: 0, procLookups: 0, procLookupsFailed: 0, evictions: 0 };
  /** What the last resolve() found above its process (an out value, so resolve() allocates nothing). */
  resolvedAncestors: readonly palisade.v1.IAncestor[] = Object.freeze([]);

  constructor(opts: ProcessCacheOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.maxEntries = opts.maxEntries ?? 32_768;
    this.exitGraceMs = opts.exitGraceMs ?? 5_000;
    this.now = opts.now ?? Date.now;
    this.bootId = opts.bootId ?? readBootId(this.procRoot);
  }

  /** The first 8 hex digits of the boot id, the first part of every exec id. */
  get bootIdPrefix(): string {
    return this.bootId;
  }

  /**
   * The offset the decoder added to CLOCK_BOOTTIME to get time_unix_nano, so exec ids can carry the boot-time
   * timestamp, which does not depend on when this collector started.
   */
  setBootToRealtimeOffsetNs(offsetNs: bigint): void {
    this.offsetNs = offsetNs;
  }

  /** Reads every process in /proc. Processes that exit meanwhile are skipped. Returns how many were added. */
  scanProc(): number {
    let names: string[];
    try {
      names = readdirSync(this.procRoot);
    } catch {
      return 0;
    }
    let added = 0;
    for (const name of names) {
      if (this.byPid.size >= this.maxEntries) break;
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(name);
      if (this.byPid.has(pid)) continue;
      if (this.readProc(pid) !== undefined) added++;
    }
    return added;
  }

  /** The cached entry, or a /proc lookup on a miss. undefined when the process is gone and was never seen. */
  get(pid: number): ProcessEntry | undefined {
    return this.lookup(pid);
  }

  /** A process exec'd: a new exec id, even when the pid is known. */
  exec(pid: number, ppid: number, binary: string, comm: string, timeUnixNano: number): ProcessEntry {
    return this.execEntry(pid, ppid, binary, comm, timeUnixNano);
  }

  private execEntry(pid: number, ppid: number, binary: string, comm: string, timeUnixNano: number): Entry {
    const prev = this.byPid.get(pid);
    // exec keeps the start time; a pid that had exited (or was never seen) is a new process whose start we do not know.
    const startTimeTicks = prev !== undefined && prev.expiresAt === 0 ? prev.startTimeTicks : 0;
    const bootNs = BigInt(Number.isFinite(timeUnixNano) ? Math.trunc(timeUnixNano) : 0) - this.offsetNs;
    const entry = this.newEntry(pid, ppid, binary, comm, `${this.bootId}:${pid}:k${bootNs}`, startTimeTicks);
    this.insert(entry);
    return entry;
  }

  /** A process exited: it stays resolvable for exitGraceMs, for its late events and its children's. */
  exit(pid: number): void {
    const e = this.byPid.get(pid);
    if (e === undefined || e.expiresAt !== 0) return;
    e.expiresAt = this.now() + this.exitGraceMs;
    this.exiting.push(e);
  }

  /** Drops entries whose exit grace has ended. annotate() calls this every few hundred events; KernelSource per batch. */
  expire(now = this.now()): void {
    while (this.exitingHead < this.exiting.length) {
      const e = this.exiting[this.exitingHead];
      if (e === undefined || e.expiresAt > now) break;
      this.exitingHead++;
      // A later exec in the same pid replaced the entry: that one is alive.
      if (this.byPid.get(e.pid) === e) this.byPid.delete(e.pid);
    }
    if (this.exitingHead > 1024 && this.exitingHead * 2 > this.exiting.length) {
      this.exiting.splice(0, this.exitingHead);
      this.exitingHead = 0;
    }
  }

  /**
   * Fills process.binary, exec_id and ancestors, and keeps the cache current with exec and exit events. Call it for
   * every event, in the order the kernel produced them.
   */
  annotate(event: palisade.v1.IRawEvent): void {
    const proc = event.process;
    if (proc === null || proc === undefined) return;
    if ((++this.calls & (EXPIRE_EVERY - 1)) === 0) this.expire();
    const pid = proc.pid ?? 0;
    const ppid = proc.ppid ?? 0;
    let self: Entry | undefined;
    if (event.kind === KIND_EXEC) {
      // The executable as the kernel resolved it (bprm->file, to the process' root), not the string passed to execve
      // ("./x", a symlink): the same path the TracingPolicy's binaries selectors match.
      const exec = event.exec;
      self = this.execEntry(pid, ppid, exec?.resolvedFilename || exec?.filename || '', proc.comm ?? '', event.timeUnixNano ?? 0);
    } else {
      self = this.current(pid, ppid, proc.comm ?? '');
      if (event.kind === KIND_EXIT) this.exit(pid);
    }
    proc.binary = self.binary;
    proc.execId = self.execId;
    proc.ancestors = this.ancestors(self, proc.parentComm ?? '');
  }

  /**
   * annotate() for an event that is neither an exec nor an exit, from its fields rather than an object (KernelSource's
   * encoded path): the event's process; its ancestors, the array annotate() would set, are then in resolvedAncestors.
   */
  resolve(pid: number, ppid: number, comm: string, parentComm: string): ProcessEntry {
    if ((++this.calls & (EXPIRE_EVERY - 1)) === 0) this.expire();
    const self = this.current(pid, ppid, comm);
    this.resolvedAncestors = this.ancestors(self, parentComm);
    return self;
  }

  /** The entry of a running (or recently exited) process, for an event other than its exec. */
  private current(pid: number, ppid: number, comm: string): Entry {
    let self = this.lookup(pid);
    // An exited entry with another parent is a new process in a reused pid (it forked and has not exec'd yet).
    if (self !== undefined && self.expiresAt !== 0 && ppid !== 0 && self.ppid !== ppid) {
      this.byPid.delete(pid);
      self = this.lookup(pid);
    }
    if (self === undefined) {
      // Gone before we could look: what the event itself says is all we will know.
      self = this.newEntry(pid, ppid, '', comm, '', 0);
      this.insert(self);
      this.exitLater(self);
    } else if (ppid !== 0 && self.ppid !== ppid) {
      self.ppid = ppid; // reparented (its parent died), as the kernel now reports it
    }
    return self;
  }

  stats(): ProcessCacheStats {
    return { ...this.counters, entries: this.byPid.size };
  }

  // The array is shared by every event of `self` while its parent and grandparent entries stay the same, so the hot
  // path allocates nothing (a fresh array per event made the young generation churn: ~5x the cost of the lookups).
  // Frozen, so a consumer that tried to edit one event's ancestry would throw rather than rewrite its neighbours'.
  private ancestors(self: Entry, parentComm: string): palisade.v1.IAncestor[] {
    const parent = self.ppid === 0 ? undefined : this.lookupOrGhost(self.ppid, parentComm);
    const grandparent = parent === undefined || parent.ppid === 0 || parent.ppid === parent.pid
      ? undefined
      : this.lookupOrGhost(parent.ppid, '');
    if (self.ancestry !== undefined && self.ancestryOf[0] === parent && self.ancestryOf[1] === grandparent) {
      return self.ancestry;
    }
    const list: palisade.v1.IAncestor[] = [];
    if (parent !== undefined) list.push(asAncestor(parent));
    if (grandparent !== undefined) list.push(asAncestor(grandparent));
    // The proto's type is a mutable array; the freeze is the runtime guard described above.
    self.ancestry = Object.freeze(list) as palisade.v1.IAncestor[];
    self.ancestryOf = [parent, grandparent];
    return self.ancestry;
  }

  /**
   * A process that exited before we ever saw it is remembered (until the grace ends) as a ghost, so its other children
   * do not each cost a /proc lookup. A parent's comm is in the event; nothing above a ghost can be known.
   */
  private lookupOrGhost(pid: number, comm: string): Entry {
    let e = this.lookup(pid);
    if (e === undefined) {
      e = this.newEntry(pid, 0, '', comm, '', 0);
      this.insert(e);
      this.exitLater(e);
    }
    return e;
  }

  private lookup(pid: number): Entry | undefined {
    const e = this.byPid.get(pid);
    if (e !== undefined) {
      this.counters.hits++;
      e.referenced = true;
      return e;
    }
    if (pid === 0) return undefined;
    this.counters.misses++;
    return this.readProc(pid);
  }

  /** One process from /proc. Every read may race with the process exiting, or with its exec. */
  private readProc(pid: number): Entry | undefined {
    this.counters.procLookups++;
    let stat: ReturnType<typeof parseProcStat>;
    try {
      stat = parseProcStat(readFileSync(`${this.procRoot}/${pid}/stat`, 'utf8'));
    } catch {
      stat = undefined;
    }
    if (stat === undefined) {
      this.counters.procLookupsFailed++;
      return undefined;
    }
    let binary = '';
    try {
      binary = exeInRoot(readlinkSync(`${this.procRoot}/${pid}/exe`), readlinkSync(`${this.procRoot}/${pid}/root`));
    } catch {
      // kernel threads have no exe; a zombie has lost it
    }
    const entry = this.newEntry(pid, stat.ppid, binary, stat.comm, `${this.bootId}:${pid}:p${stat.startTimeTicks}`,
      stat.startTimeTicks);
    this.insert(entry);
    return entry;
  }

  private newEntry(pid: number, ppid: number, binary: string, comm: string, execId: string, startTimeTicks: number): Entry {
    return {
      pid, ppid, binary, comm, execId, startTimeTicks,
      ancestor: undefined, ancestry: undefined, ancestryOf: [undefined, undefined], referenced: false, expiresAt: 0,
    };
  }

  private exitLater(e: Entry): void {
    e.expiresAt = this.now() + this.exitGraceMs;
    this.exiting.push(e);
  }

  private insert(entry: Entry): void {
    this.byPid.delete(entry.pid);
    this.byPid.set(entry.pid, entry);
    if (this.byPid.size > this.maxEntries) this.evict();
  }

  // CLOCK over the Map's insertion order: a referenced entry gets a second chance (moved to the back, bit cleared),
  // the first unreferenced one goes. A hit costs one property write instead of an LRU's delete and re-insert.
  // The hand is one long-lived iterator: a fresh byPid.entries() per eviction would start at the front of V8's hash
  // table and skip every slot deleted since its last rehash, which made eviction cost grow with the churn.
  private evict(): void {
    for (let budget = this.byPid.size; this.byPid.size > this.maxEntries && budget >= 0; budget--) {
      let next = this.hand.next();
      if (next.done === true) {
        this.hand = this.byPid.entries();
        next = this.hand.next();
        if (next.done === true) return;
      }
      const [pid, e] = next.value;
      this.byPid.delete(pid);
      if (e.referenced && budget > 0) {
        e.referenced = false;
        this.byPid.set(pid, e);
      } else {
        this.counters.evictions++;
      }
    }
  }
}

function asAncestor(e: Entry): palisade.v1.IAncestor {
  e.ancestor ??= Object.freeze({ pid: e.pid, binary: e.binary, comm: e.comm, execId: e.execId });
  return e.ancestor;
}

/** The first 8 hex digits of this boot's id, or "00000000" when procfs does not have it. */
export function readBootId(procRoot = '/proc'): string {
  try {
    const hex = readFileSync(`${procRoot}/sys/kernel/random/boot_id`, 'utf8').replace(/[^0-9a-f]/gi, '').toLowerCase();
    return hex.length >= 8 ? hex.slice(0, 8) : '00000000';
  } catch {
    return '00000000';
  }
}

/**
 * A process' executable as its own root sees it, from /proc/<pid>/exe and /proc/<pid>/root as the collector reads
 * them (both in the collector's mount namespace): a container process' /usr/bin/curl reads as
 * <rootfs>/usr/bin/curl, and its root as <rootfs>, so the root is cut off. That is what the kernel's exe walk gives
 * (to the task's root), so process.binary means the same path whether the process cache saw the exec or met the
 * process later (started before the collector). An exe outside the root (or an unreachable root) stays as read.
 */
export function exeInRoot(exe: string, root: string): string {
  if (root === '/' || root === '') return exe;
  const base = root.endsWith('/') ? root.slice(0, -1) : root;
  return exe.startsWith(`${base}/`) ? exe.slice(base.length) : exe;
}
