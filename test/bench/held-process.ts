// A helper process that stays attached to the kernel for the length of one measurement (the empty-hook loader,
// opensnoop): pinned to a CPU, killed by the kernel if the bench dies (PR_SET_PDEATHSIG through setpriv, which
// survives the exec), and stopped with SIGINT, then SIGKILL if it does not exit in time.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readdirSync, readlinkSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export interface HeldProcessOptions {
  /** Pin to this CPU (taskset). Its nice value is the bench's (setProcessNice), inherited. */
  cpu: number;
  /** Where its stdout goes: 'pipe' to read readiness from it, or a file (opensnoop's output goes to /dev/null). */
  stdout: 'pipe' | string;
}

export class HeldProcess {
  readonly child: ChildProcess;
  private stdout = '';
  private stderr = '';
  private readonly exited: Promise<void>;

  constructor(readonly name: string, argv: readonly string[], opts: HeldProcessOptions) {
    const outFd = opts.stdout === 'pipe' ? undefined : openSync(opts.stdout, 'w');
    try {
      this.child = spawn('taskset', ['-c', String(opts.cpu), 'setpriv', '--pdeathsig', 'KILL', '--', ...argv], {
        stdio: ['pipe', outFd ?? 'pipe', 'pipe'],
      });
    } finally {
      if (outFd !== undefined) closeSync(outFd);
    }
    this.child.stdout?.on('data', (d: Buffer) => { this.stdout += d.toString(); });
    this.child.stderr?.on('data', (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    // A stdin write after it exited would otherwise be an unhandled 'error'.
    this.child.stdin?.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      this.child.once('error', () => resolve());
      this.child.once('close', () => resolve());
    });
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until `ready()` holds, polling; throws with its stderr if it exits first or time runs out. */
  async waitUntil(what: string, ready: (p: HeldProcess) => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (ready(this)) return;
      if (!this.running) throw new Error(`${this.name} exited before ${what}: ${this.stderr.trim() || '(no stderr)'}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${what} after ${timeoutMs} ms: ${this.stderr.trim()}`);
      await sleep(25);
    }
  }

  get output(): string { return this.stdout; }

  /** How many BPF links it holds open: what it has attached. */
  bpfLinks(): number {
    const pid = this.child.pid;
    if (pid === undefined) return 0;
    let n = 0;
    try {
      for (const fd of readdirSync(`/proc/${pid}/fd`)) {
        try {
          if (readlinkSync(`/proc/${pid}/fd/${fd}`) === 'anon_inode:bpf_link') n++;
        } catch { /* closed meanwhile */ }
      }
    } catch { /* exited */ }
    return n;
  }

  /** Ends stdin, sends SIGINT, SIGKILL after `graceMs`; resolves once it is gone. Safe to call twice. */
  async stop(graceMs = 3_000): Promise<void> {
    if (this.running) {
      this.child.stdin?.end();
      this.child.kill('SIGINT');
      const timer = setTimeout(() => { if (this.running) this.child.kill('SIGKILL'); }, graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    await this.exited;
  }
}
