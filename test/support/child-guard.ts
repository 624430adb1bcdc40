// What every test server the suites start (the Kafka broker, etcd and kube-apiserver) needs so that nothing outlives
// the test process: a free loopback port, a kill on normal exit, and a watchdog for the exits that run no handler.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no free port on 127.0.0.1'))));
    });
  });
}

// Children still running when this process exits normally (a test that never stops them) are killed with it.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/** Kills child when this process exits normally; returns a function that forgets it (after a clean stop). */
export function killOnExit(child: ChildProcess): () => void {
  running.add(child);
  return () => running.delete(child);
}

/**
 * For the exits that run no handler (SIGKILL, or the test runner's SIGTERM on a timeout): a shell that waits for EOF
 * on a pipe only this process holds, then kills pid and removes dir. A server left behind would starve a 2-core
 * machine. Kill the returned watchdog before a deliberate stop that must keep dir (dir '' removes nothing).
 */
export function startWatchdog(pid: number, dir = '', opts: { group?: boolean } = {}): ChildProcess {
  // group: pid leads its own process group (spawned detached), and the whole group goes: `npm start` leaves its
  // node child behind otherwise.
  // It ignores the signals a process-group kill (the test runner's, a shell's ^C) sends: it must outlive its target
  // to kill it.
  const script = `trap '' TERM INT HUP; read _; kill -9 ${opts.group === true ? '-- -"$1"' : '"$1"'} 2>/dev/null; [ -z "$2" ] || rm -rf "$2"`;
  const dog = spawn('sh', ['-c', script, 'watchdog', String(pid), dir], { stdio: ['pipe', 'ignore', 'ignore'] });
  dog.unref();
  // The pipe must not keep this process alive on its own either.
  (dog.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null)?.unref?.();
  return dog;
}
