// What a trigger runs in: a scratch directory of its own, optionally a throwaway kubelet-style pod cgroup (so the
// collector and every rule see a container process), loopback listeners it starts, and a clean container-like
// environment. Everything is undone by close(), whatever the trigger did.
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, statSync, writeFileSync,
} from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Pod {
  podUid: string;
  containerId: string;
  /** Absolute cgroup directory. */
  dir: string;
  cgroupId: number;
}

/** A plain container PATH: not the caller's (version-manager shims are shell scripts and would be in every exec). */
export const CONTAINER_ENV: Readonly<Record<string, string>> = {
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  LANG: 'C.UTF-8',
};

const SHIM_NAME = 'containerd-shim-runc-v2';

export interface AttackContextOptions {
  /** Run in a new pod cgroup below this cgroup2 mount (undefined: in the caller's own cgroup). */
  podCgroupRoot?: string;
  /** Where the shim copy lives (a runtime is not run from /tmp); default: the scratch root's sibling. */
  shimDir?: string;
}

export class AttackContext {
  /** This trigger's own directory: every file it writes goes here. */
  readonly scratch: string;
  readonly pod: Pod | undefined;
  private readonly servers: Server[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly shim: string | undefined;

  constructor(readonly name: string, opts: AttackContextOptions = {}) {
    this.scratch = mkdtempSync(join(tmpdir(), `palisade-attack-${name.toLowerCase()}-`));
    chmodSync(this.scratch, 0o755);
    if (opts.podCgroupRoot !== undefined) {
      this.pod = createPod(opts.podCgroupRoot);
      const shimDir = opts.shimDir ?? '/var/lib/palisade/attack';
      mkdirSync(shimDir, { recursive: true });
      this.shim = join(shimDir, SHIM_NAME);
      if (!existsSync(this.shim)) {
        copyFileSync('/bin/sh', `${this.shim}.tmp`);
        chmodSync(`${this.shim}.tmp`, 0o755);
        rmSync(this.shim, { force: true });
        copyFileSync(`${this.shim}.tmp`, this.shim);
        chmodSync(this.shim, 0o755);
        rmSync(`${this.shim}.tmp`, { force: true });
      }
    }
  }

  /**
   * Runs argv as a container entrypoint would be: in the pod cgroup (when there is one), its parent a process named
   * like the runtime's shim, cwd = scratch, a container-like environment.
   */
  run(argv: string[], opts: { env?: Record<string, string>; cwd?: string; timeoutMs?: number; input?: string } = {}): Promise<RunResult> {
    const env = { ...CONTAINER_ENV, HOME: this.scratch, ...opts.env };
    const cwd = opts.cwd ?? this.scratch;
    let cmd: string;
    let args: string[];
    if (this.pod !== undefined && this.shim !== undefined) {
      const inner = `echo $$ > '${join(this.pod.dir, 'cgroup.procs')}' && exec "$@"`;
      cmd = this.shim;
      args = ['-c', '/bin/sh -c "$0" sh "$@"; exit $?', inner, ...argv];
    } else {
      [cmd, ...args] = argv as [string, ...string[]];
    }
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { cwd, env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
      child.stdout!.on('data', (d: Buffer) => { stdout += d.toString(); });
      child.stderr!.on('data', (d: Buffer) => { stderr += d.toString(); });
      if (opts.input !== undefined) child.stdin!.end(opts.input);
      child.on('error', (err) => { clearTimeout(timer); reject(err); });
      child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    });
  }

  /** `sh -c script` as the entrypoint. */
  sh(script: string, opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<RunResult> {
    return this.run(['/bin/sh', '-c', script], opts);
  }

  /**
   * A TCP listener on 127.0.0.1 that this context owns; it accepts, optionally writes `greeting`, and holds the
   * connection until close(). Returns its port.
   */
  async listen(greeting?: string): Promise<number> {
    const server = createServer((s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
      if (greeting !== undefined) s.write(greeting);
      s.resume();
    });
    this.servers.push(server);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const a = server.address();
    if (typeof a !== 'object' || a === null) throw new Error('listener has no address');
    return a.port;
  }

  close(): void {
    for (const s of this.sockets) s.destroy();
    for (const s of this.servers) s.close();
    rmSync(this.scratch, { recursive: true, force: true });
    if (this.pod !== undefined) removePod(this.pod.dir);
  }
}

function createPod(root: string): Pod {
  const podUid = randomUUID();
  const containerId = randomBytes(32).toString('hex');
  const parts = ['kubepods.slice', 'kubepods-besteffort.slice', `kubepods-besteffort-pod${podUid.replace(/-/g, '_')}.slice`,
    `cri-containerd-${containerId}.scope`];
  const dir = join(root, ...parts);
  mkdirSync(dir, { recursive: true });
  return { podUid, containerId, dir, cgroupId: statSync(dir).ino };
}

/**
 * Kills whatever the trigger left running in the container's cgroup (cgroup.kill), then removes it and its pod
 * slice once empty (the shared kubepods slices stay).
 */
function removePod(dir: string): void {
  try {
    writeFileSync(join(dir, 'cgroup.kill'), '1');
  } catch {
    // cgroup.kill is Linux 5.14+; older kernels keep what is left until it exits.
  }
  const deadline = Date.now() + 5_000;
  const wait = new Int32Array(new SharedArrayBuffer(4));
  while (Date.now() < deadline && existsSync(join(dir, 'cgroup.procs')) &&
    readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== '') Atomics.wait(wait, 0, 0, 20);
  let d = dir;
  for (let i = 0; i < 2; i++) {
    try {
      const procs = join(d, 'cgroup.procs');
      if (existsSync(procs) && readFileSync(procs, 'utf8').trim() === '') rmdirSync(d);
    } catch {
      return;
    }
    d = join(d, '..');
  }
}
