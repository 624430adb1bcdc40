// CPU pinning of this process through taskset(1): Node has no sched_setaffinity. -a moves every thread (the main
// thread, libuv's pool, V8's helpers), so the collector under test really has one CPU and the load the other.
// And its priority: on a machine others share, nice -20 keeps a measured process on its CPU.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';

function taskset(args: string[]): string {
  const r = spawnSync('taskset', args, { encoding: 'utf8' });
  if (r.error !== undefined) throw new Error(`taskset: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`taskset ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** This process' CPU list, as taskset prints it ("0,1" or "0-3"). */
export function currentCpuList(pid = process.pid): string {
  const out = taskset(['-p', '-c', String(pid)]);
  const m = /:\s*(\S+)\s*$/.exec(out.trim());
  if (!m?.[1]) throw new Error(`taskset: cannot read the affinity of ${pid} from ${JSON.stringify(out)}`);
  return m[1];
}

/** Pins every thread of this process to `cpus`; returns a function that restores the previous list. */
export function pinProcess(cpus: string, pid = process.pid): () => void {
  const before = currentCpuList(pid);
  taskset(['-a', '-p', '-c', cpus, String(pid)]);
  return () => { taskset(['-a', '-p', '-c', before, String(pid)]); };
}

/**
 * Sets the nice value of every thread of this process (Linux applies setpriority(PRIO_PROCESS) to one thread, and
 * threads started later inherit their creator's); returns a function that restores the previous values.
 */
export function setProcessNice(nice: number): () => void {
  const before = new Map<number, number>();
  for (const name of readdirSync('/proc/self/task')) {
    const tid = Number(name);
    try {
      before.set(tid, getPriority(tid));
      setPriority(tid, nice);
    } catch { /* the thread exited meanwhile */ }
  }
  return () => {
    for (const [tid, prio] of before) {
      try { setPriority(tid, prio); } catch { /* exited */ }
    }
  };
}
