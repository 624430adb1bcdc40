// Runs a Palisade service as its own process, the way an operator would, and waits until /readyz says ready.
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@palisade/common/testing';
import { freePort, killOnExit, startWatchdog } from './child-guard.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../../..');

export { freePort };

export interface ServiceProcess {
  name: string;
  child: ChildProcess;
  metricsPort: number;
  stdoutLines: string[];
  stderr(): string;
  /** SIGTERM, then waits for exit; resolves with the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts `node <script> <args>` (or `opts.command <args>`, e.g. npm start) with a free metrics port, and waits
 * until its /readyz answers 200.
 */
export async function startService(name: string, script: string, args: string[],
  opts: { env?: Record<string, string>; readyTimeoutMs?: number; command?: string[] } = {}): Promise<ServiceProcess> {
  const metricsPort = await freePort();
  const [cmd, ...cmdArgs] = opts.command ?? [process.execPath, join(REPO_ROOT, script)];
  const child = spawn(cmd ?? process.execPath, [...cmdArgs, ...args, '--metrics-port', String(metricsPort),
    '--metrics-host', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...opts.env }, cwd: REPO_ROOT,
    // Its own process group, so the watchdog takes npm's children too when this test process is killed outright.
    detached: true,
  });
  const forget = killOnExit(child);
  const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid, '', { group: true });
  const stdoutLines: string[] = [];
  let err = '';
  let partial = '';
  child.stdout?.on('data', (d: Buffer) => {
    partial += d.toString();
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      stdoutLines.push(line);
    }
  });
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); if (err.length > 4_000_000) err = err.slice(-2_000_000); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  void exited.then(() => { forget(); watchdog?.kill('SIGKILL'); });
  const svc: ServiceProcess = {
    name, child, metricsPort, stdoutLines,
    stderr: () => err,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  // A service that exited will never be ready: stop waiting at once.
  const gone = new AbortController();
  void exited.then((code) => gone.abort(new Error(`${name} exited with ${code ?? child.signalCode} before it was ready`)));
  try {
    // Until it listens, fetch() fails; that is retried like a 503.
    await waitFor(`${name} to answer 200 on /readyz`,
      async () => (await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status === 200,
      { timeoutMs: opts.readyTimeoutMs ?? 60_000, intervalMs: 100, signal: gone.signal });
  } catch (e) {
    await svc.stop();
    throw new Error(`${e instanceof Error ? e.message : String(e)}; stderr tail:\n${err.slice(-4000)}`, { cause: e });
  }
  return svc;
}

/** Sum of a metric's samples whose labels include every given label. */
export async function scrape(port: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
