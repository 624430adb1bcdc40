// Builds and runs open-load.c, the benchmark's syscall load: a C loop, so the load measures the kernel and the
// collector rather than a JavaScript loop's own overhead.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../support/service-process.js';

const SOURCE = join(REPO_ROOT, 'test/bench/open-load.c');
const OUT_DIR = join(REPO_ROOT, 'build/bench');

export interface OpenLoadResult {
  pid: number;
  opens: number;
  failed: number;
  /** CLOCK_MONOTONIC, comparable with process.hrtime.bigint(). */
  startNs: bigint;
  endNs: bigint;
  /** The loop's own user+system CPU time. */
  cpuNs: number;
}

export interface OpenLoadOptions {
  count: number;
  /** Opens per second; 0: as fast as the CPU allows. */
  ratePerS: number;
  /** Opened in turn: path i % paths.length at step i. */
  paths: string[];
  /** Pin to this CPU (taskset). */
  cpu?: number;
  /** cgroup v2 directory the process moves into before its first open. */
  cgroupDir?: string;
}

/** Compiles open-load.c with the system C compiler; returns the binary's path. */
export function buildOpenLoad(): string {
  mkdirSync(OUT_DIR, { recursive: true });
  const bin = join(OUT_DIR, 'open-load');
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Werror', '-o', bin, SOURCE], { encoding: 'utf8' });
  if (cc.error !== undefined) throw new Error(`cc: ${cc.error.message} (a C compiler is needed for the bench)`);
  if (cc.status !== 0) throw new Error(`cc ${SOURCE} failed:\n${cc.stderr}`);
  return bin;
}

/** How many of `count` opens went to paths[index] (the loop cycles through the paths). */
export function opensOfPath(count: number, paths: number, index: number): number {
  return Math.floor(count / paths) + (index < count % paths ? 1 : 0);
}

export class OpenLoad {
  private readonly child: ChildProcess;
  readonly done: Promise<OpenLoadResult>;

  constructor(bin: string, opts: OpenLoadOptions) {
    const args = [
      ...(opts.cgroupDir !== undefined ? ['--cgroup', opts.cgroupDir] : []),
      String(opts.count), String(opts.ratePerS), ...opts.paths,
    ];
    const argv = opts.cpu !== undefined ? ['taskset', '-c', String(opts.cpu), bin, ...args] : [bin, ...args];
    this.child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    this.child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    this.child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
    this.done = new Promise((resolve, reject) => {
      this.child.once('error', reject);
      this.child.once('close', (code, signal) => {
        if (code !== 0) { reject(new Error(`open-load exited with ${code ?? signal}: ${err.trim()}`)); return; }
        try {
          const r = JSON.parse(out) as { pid: number; opens: number; failed: number; cpu_ns?: number };
          // Re-read the times as bigints: nanosecond monotonic stamps exceed 2^53 after ~104 days of uptime.
          const ns = /"start_ns":(\d+),"end_ns":(\d+)/.exec(out);
          resolve({
            pid: r.pid, opens: r.opens, failed: r.failed, startNs: BigInt(ns?.[1] ?? 0), endNs: BigInt(ns?.[2] ?? 0),
            cpuNs: r.cpu_ns ?? Number.NaN,
          });
        } catch (e) {
          reject(new Error(`open-load printed something unexpected: ${out.slice(0, 200)} (${String(e)})`));
        }
      });
    });
  }

  /** Stops it early (teardown). Safe after it exited. */
  kill(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}
