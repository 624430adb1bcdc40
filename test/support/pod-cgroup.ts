// A pod the kernel believes in: a cgroup v2 directory named as the kubelet's systemd driver names them
// (kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice/cri-containerd-<id>.scope).
// A process placed in it gets the cgroup's real id (the directory's inode) in every kernel event.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './service-process.js';

export const CGROUP2_ROOT = '/sys/fs/cgroup/unified';

export interface PodCgroup {
  podUid: string;
  containerId: string;
  /** Path below the cgroup2 mount, as the collector reports it. */
  path: string;
  /** Absolute directory. */
  dir: string;
  /** The cgroup id the kernel reports: the directory's inode. */
  cgroupId: number;
  /** Runs a command inside the container cgroup; resolves with its exit code and output. */
  run(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  /**
   * Runs argv as the container's entrypoint: its parent is a process named like the runtime's shim
   * (containerd-shim), outside the pod's cgroup, as on a node. run() gives the entrypoint the test's node process
   * as its parent, which no real container has, and which rules about unexpected parents would rightly flag.
   */
  runEntrypoint(argv: string[], opts?: { cwd?: string; env?: Record<string, string> }): Promise<RunResult>;
  remove(): void;
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function createPodCgroup(opts: { podUid?: string; containerId?: string } = {}): PodCgroup {
  const podUid = opts.podUid ?? randomUUID();
  const containerId = opts.containerId ?? randomBytes(32).toString('hex');
  const podSlice = `kubepods-besteffort-pod${podUid.replace(/-/g, '_')}.slice`;
  const parts = ['kubepods.slice', 'kubepods-besteffort.slice', podSlice, `cri-containerd-${containerId}.scope`];
  const dir = join(CGROUP2_ROOT, ...parts);
  mkdirSync(dir, { recursive: true });
  const cgroupId = statSync(dir).ino;
  return {
    podUid, containerId, dir, cgroupId, path: '/' + parts.join('/'),
    run: (argv) => runIn(dir, argv),
    runEntrypoint: (argv, o) => runAsEntrypoint(dir, argv, o),
    remove: () => removeTree(dir, 2),
  };
}

/** Runs argv with the process moved into the cgroup before it execs, so exec and everything after it is counted there. */
export function runIn(dir: string, argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const script = `echo $$ > '${join(dir, 'cgroup.procs')}' && exec "$@"`;
  return new Promise((resolve, reject) => {
    const child = spawn('/bin/sh', ['-c', script, 'sh', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

const SHIM_NAME = 'containerd-shim-runc-v2';
let shimPath: string | undefined;

/**
 * A copy of /bin/sh named like containerd's shim (its comm is then "containerd-shim", as on a node), under build/
 * rather than /tmp: a real shim is not run from a temporary directory, and rules may say so.
 */
function shim(): string {
  if (shimPath !== undefined && existsSync(shimPath)) return shimPath;
  const dir = join(REPO_ROOT, 'build/test-shim');
  mkdirSync(dir, { recursive: true });
  const path = join(dir, SHIM_NAME);
  const tmp = `${path}.${process.pid}`;
  copyFileSync('/bin/sh', tmp);
  chmodSync(tmp, 0o755);
  renameSync(tmp, path);
  shimPath = path;
  return path;
}

/**
 * The shim (outside the cgroup) forks a /bin/sh that moves itself into the cgroup and execs argv: the entrypoint's
 * parent is the shim, its exec is the first event in the cgroup. "; exit $?" keeps the shim from exec'ing the child.
 */
export function runAsEntrypoint(dir: string, argv: string[], opts: { cwd?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  const inner = `echo $$ > '${join(dir, 'cgroup.procs')}' && exec "$@"`;
  const outer = '/bin/sh -c "$0" sh "$@"; exit $?';
  return new Promise((resolve, reject) => {
    const child = spawn(shim(), ['-c', outer, inner, ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(opts.cwd !== undefined && { cwd: opts.cwd }),
      ...(opts.env !== undefined && { env: opts.env }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Removes the leaf and up to `parents` of its empty parents (shared slices stay while other tests use them). */
function removeTree(dir: string, parents: number): void {
  let d = dir;
  for (let i = 0; i <= parents; i++) {
    try {
      if (existsSync(d) && readFileSync(join(d, 'cgroup.procs'), 'utf8').trim() === '') rmdirSync(d);
    } catch {
      return; // busy or not empty: another test's pod lives there
    }
    d = join(d, '..');
  }
}

/** True when this process can create cgroups and load BPF (root with cgroup v2 mounted). */
export function canUseKernel(): { ok: boolean; why: string } {
  if (process.getuid?.() !== 0) return { ok: false, why: 'needs root' };
  if (!existsSync(join(CGROUP2_ROOT, 'cgroup.procs'))) return { ok: false, why: `no cgroup v2 at ${CGROUP2_ROOT}` };
  return { ok: true, why: '' };
}
