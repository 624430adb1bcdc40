// Starts a real single-node Apache Kafka (KRaft, combined broker + controller) for tests and local runs. The jars come
// from `node scripts/fetch-kafka.mjs` (deploy/kafka/pom.xml), which names their directory in .cache/kafka/current; the
// config is deploy/kafka/server.properties with fresh free ports and a temp data dir, so any number of brokers can run
// side by side and none outlives its stop().
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';
import { waitFor } from '@palisade/common/testing';

const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

export interface KafkaOptions {
  /** Where server.log (broker log) and jvm.log (JVM stdout/stderr) go; kept after stop(). Default: inside the temp dir. */
  logDir?: string;
  /** How long to wait for the broker to answer a metadata request. Default: 60 s. */
  startTimeoutMs?: number;
}

export interface RunningKafka {
  /** Bootstrap addresses, host:port. */
  brokers: string[];
  logDir: string;
  /** The broker JVM's process id (of the current JVM, after a restart()). */
  pid: number;
  /** SIGKILL the JVM, as a node crash would, and wait for it to exit; the data dir and ports stay for restart(). */
  kill9(): Promise<void>;
  /** Starts a new JVM on the same data dir, config and ports (after kill9()), and waits until it answers. */
  restart(): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period; removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

function repoRoot(): string {
  // Works from test/kafka (ts sources) and test/dist/kafka (compiled) alike.
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'deploy/kafka/pom.xml'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('kafka: cannot find deploy/kafka/pom.xml above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** The fetched Kafka's home (holding libs/), or undefined when scripts/fetch-kafka.mjs has not run. */
function kafkaHome(root: string): string | undefined {
  const pointer = join(root, '.cache/kafka/current');
  if (!existsSync(pointer)) return undefined;
  const home = join(root, '.cache/kafka', readFileSync(pointer, 'utf8').trim());
  return existsSync(join(home, '.fetched')) ? home : undefined;
}

/** Why a broker cannot start here, or undefined if it can: tests skip (or fail under CI=true) with this reason. */
export function kafkaUnavailableReason(): string | undefined {
  const java = spawnSync('java', ['-version'], { stdio: 'ignore' });
  if (java.error !== undefined || java.status !== 0) return 'java is not on PATH (need a JRE 17+)';
  if (kafkaHome(repoRoot()) === undefined) return 'the Kafka jars are missing; run: node scripts/fetch-kafka.mjs';
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('kafka: no free port'))));
    });
  });
}

function tail(file: string, lines: number): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

function jvmArgs(root: string, home: string, logDir: string): string[] {
  return [
    '-Xms128m',
    '-Xmx512m',
    // Two cores: a serial collector and C1 only start faster and stay out of the tests' way.
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-XX:-UsePerfData',
    '-Djava.awt.headless=true',
    '-Djava.net.preferIPv4Stack=true',
    `-Dlog4j.configuration=file:${join(root, 'deploy/kafka/log4j.properties')}`,
    `-Dkafka.logs.dir=${logDir}`,
    '-cp',
    `${join(home, 'libs')}/*`,
  ];
}

// Children still running when this process exits normally (a test that never calls stop()) are killed with it.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

// For the exits that run no handler (SIGKILL, or the test runner's SIGTERM on a timeout): a shell that waits for EOF
// on a pipe only this process holds, then kills the JVM and removes its temp dir. A 512 MB broker left behind would
// starve a 2-core machine.
function startWatchdog(jvmPid: number, tmp: string): ChildProcess {
  const script = 'read _; kill -9 "$1" 2>/dev/null; rm -rf "$2"';
  const dog = spawn('sh', ['-c', script, 'watchdog', String(jvmPid), tmp], { stdio: ['pipe', 'ignore', 'ignore'] });
  dog.unref();
  // The pipe must not keep this process alive on its own either.
  (dog.stdin as (NodeJS.WritableStream & { unref?: () => void }) | null)?.unref?.();
  return dog;
}

async function waitReady(brokers: string[], child: ChildProcess, timeoutMs: number): Promise<void> {
  const kafka = new Kafka({
    clientId: 'palisade-test-broker-probe',
    brokers,
    connectionTimeout: 1_000,
    requestTimeout: 2_000,
    retry: { retries: 0 },
    logLevel: logLevel.NOTHING,
  });
  // A JVM that exited will not answer: stop waiting at once.
  const gone = new AbortController();
  const onExit = (code: number | null, signal: NodeJS.Signals | null): void =>
    gone.abort(new Error(`exited with ${code ?? signal} before it was ready`));
  if (child.exitCode !== null || child.signalCode !== null) onExit(child.exitCode, child.signalCode);
  child.once('exit', onExit);
  try {
    await waitFor('an answer to a metadata request', async () => {
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.listTopics();
        return true;
      } finally {
        await admin.disconnect().catch(() => undefined);
      }
    }, { timeoutMs, intervalMs: 250, signal: gone.signal });
  } finally {
    child.off('exit', onExit);
  }
}

export async function startKafka(opts: KafkaOptions = {}): Promise<RunningKafka> {
  const reason = kafkaUnavailableReason();
  const root = repoRoot();
  const home = kafkaHome(root);
  if (reason !== undefined || home === undefined) throw new Error(`kafka: ${reason ?? 'not fetched'}`);
  const tmp = mkdtempSync(join(tmpdir(), 'palisade-kafka-'));
  const dataDir = join(tmp, 'data');
  const logDir = opts.logDir ?? join(tmp, 'logs');
  mkdirSync(logDir, { recursive: true });
  const [brokerPort, controllerPort] = [await freePort(), await freePort()];
  const config = join(tmp, 'server.properties');
  writeFileSync(
    config,
    readFileSync(join(root, 'deploy/kafka/server.properties'), 'utf8')
      .replaceAll('{{BROKER_PORT}}', String(brokerPort))
      .replaceAll('{{CONTROLLER_PORT}}', String(controllerPort))
      .replaceAll('{{DATA_DIR}}', dataDir),
  );
  const jvmLog = join(logDir, 'jvm.log');
  const brokers = [`127.0.0.1:${brokerPort}`];
  const cleanup = (): void => {
    rmSync(tmp, { recursive: true, force: true });
  };

  // A KRaft node starts only on a formatted log dir. The cluster id is any 16 random bytes, base64url, which is what
  // `kafka-storage random-uuid` prints, without a second JVM start.
  const clusterId = randomBytes(16).toString('base64url');
  const format = spawnSync(
    'java',
    [...jvmArgs(root, home, logDir), 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', config],
    { encoding: 'utf8' },
  );
  if (format.status !== 0) {
    cleanup();
    throw new Error(`kafka: formatting the storage failed (exit ${format.status}):\n${format.stdout}${format.stderr}`);
  }

  // One JVM at a time: the first one, or the one restart() started on the same data dir after kill9().
  interface Jvm { child: ChildProcess; exited: Promise<void>; watchdog: ChildProcess | undefined }
  const launch = (): Jvm => {
    const out = openSync(jvmLog, 'a');
    const child = spawn('java', [...jvmArgs(root, home, logDir), 'kafka.Kafka', config], { stdio: ['ignore', out, out] });
    closeSync(out);
    running.add(child);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    void exited.then(() => running.delete(child));
    const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid, tmp);
    return { child, exited, watchdog };
  };
  let jvm = launch();
  const alive = (j: Jvm): boolean => j.child.exitCode === null && j.child.signalCode === null;

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      jvm.watchdog?.kill('SIGKILL');
      if (alive(jvm)) {
        jvm.child.kill('SIGTERM');
        const grace = setTimeout(() => jvm.child.kill('SIGKILL'), STOP_GRACE_MS);
        await jvm.exited;
        clearTimeout(grace);
      }
      cleanup();
    })();
    return stopping;
  };

  const ready = async (): Promise<void> => {
    try {
      await waitReady(brokers, jvm.child, opts.startTimeoutMs ?? START_TIMEOUT_MS);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const logs = `--- server.log (tail) ---\n${tail(join(logDir, 'server.log'), 40)}\n--- jvm.log (tail) ---\n${tail(jvmLog, 20)}`;
      await stop();
      throw new Error(`kafka: broker on ${brokers[0]} did not start: ${why}\n${logs}`);
    }
  };
  await ready();
  const handle: RunningKafka = {
    brokers, logDir, pid: jvm.child.pid ?? -1, stop,
    kill9: async () => {
      // The watchdog would remove the data dir when its pipe closes: stop it first, keep the data.
      jvm.watchdog?.kill('SIGKILL');
      if (alive(jvm)) jvm.child.kill('SIGKILL');
      await jvm.exited;
    },
    restart: async () => {
      if (stopping !== undefined) throw new Error('kafka: restart() after stop()');
      if (alive(jvm)) throw new Error('kafka: restart() while the broker runs; kill9() it first');
      jvm = launch();
      handle.pid = jvm.child.pid ?? -1;
      await ready();
    },
  };
  return handle;
}
