// Per-program kernel cost from the kernel's own BPF statistics (kernel.bpf_stats_enabled): run_time_ns and run_cnt
// of every BPF program this process holds, read from /proc/self/fdinfo of its bpf-prog fds, snapshotted around a
// workload. run_time_ns is CPU time inside the program, so ns per run hardly moves with the machine's load (wall time
// does): a regression names its program. Names come from bpftool (the fdinfo has only the id); without bpftool a
// program is listed as "id<N>".
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';

const SYSCTL = '/proc/sys/kernel/bpf_stats_enabled';

export interface ProgStat {
  id: number;
  runTimeNs: number;
  runCnt: number;
}

/** One program's cost over a window. */
export interface ProgCost {
  name: string;
  runs: number;
  ns_per_run: number;
}

/**
 * Turns the statistics on (they cost two clock reads per program run, so they are off by default) and returns the
 * function that puts the previous value back. Other processes' programs are counted too while it is on: harmless.
 */
export function enableBpfStats(): () => void {
  let before: string;
  try {
    before = readFileSync(SYSCTL, 'utf8').trim();
  } catch {
    return () => {};
  }
  if (before === '1') return () => {};
  try {
    writeFileSync(SYSCTL, '1');
  } catch {
    return () => {};
  }
  return () => {
    try { writeFileSync(SYSCTL, before); } catch { /* nothing to restore to */ }
  };
}

/** run_time_ns and run_cnt of each BPF program this process has an fd of (once per program id). */
export function snapshotProgStats(pid: number | 'self' = 'self'): Map<number, ProgStat> {
  const out = new Map<number, ProgStat>();
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    let target: string;
    try { target = readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { continue; }
    if (target !== 'anon_inode:bpf-prog') continue;
    let info: string;
    try { info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'); } catch { continue; }
    const stat = parseProgFdinfo(info);
    if (stat !== undefined) out.set(stat.id, stat);
  }
  return out;
}

/** The fields of a bpf-prog fdinfo this module needs; undefined when it has no prog_id (not a program). */
export function parseProgFdinfo(info: string): ProgStat | undefined {
  const field = (name: string): number | undefined => {
    const m = new RegExp(`^${name}:\\s+(\\d+)$`, 'm').exec(info);
    return m?.[1] !== undefined ? Number(m[1]) : undefined;
  };
  const id = field('prog_id');
  if (id === undefined) return undefined;
  return { id, runTimeNs: field('run_time_ns') ?? 0, runCnt: field('run_cnt') ?? 0 };
}

/** Program names by id, from `bpftool prog show --json`; empty when bpftool is not there. */
export function progNames(): Map<number, string> {
  const names = new Map<number, string>();
  const r = spawnSync('bpftool', ['prog', 'show', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0 || r.stdout === '') return names;
  try {
    for (const p of JSON.parse(r.stdout) as { id: number; name?: string }[]) {
      if (p.name !== undefined) names.set(p.id, p.name);
    }
  } catch { /* no names, ids only */ }
  return names;
}

/**
 * Each program's runs and ns per run between two snapshots, costliest first by total time; programs that did not run
 * are left out. Two programs with one name (none in the collector's object) would be kept apart by their id.
 */
export function progCosts(before: Map<number, ProgStat>, after: Map<number, ProgStat>,
  names: Map<number, string>): ProgCost[] {
  const rows: (ProgCost & { total: number })[] = [];
  for (const [id, a] of after) {
    const b = before.get(id);
    const runs = a.runCnt - (b?.runCnt ?? 0);
    const ns = a.runTimeNs - (b?.runTimeNs ?? 0);
    if (runs <= 0) continue;
    rows.push({ name: names.get(id) ?? `id${id}`, runs, ns_per_run: ns / runs, total: ns });
  }
  rows.sort((x, y) => y.total - x.total || x.name.localeCompare(y.name));
  return rows.map(({ name, runs, ns_per_run }) => ({ name, runs, ns_per_run }));
}
