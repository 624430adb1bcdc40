// Starts a real single-node Apache Kafka (KRaft, combined broker + controller) for tests and local runs. The jars come
// from `node scripts/fetch-kafka.mjs` (deploy/kafka/pom.xml), which names their directory in .cache/kafka/current; the
// config is deploy/kafka/server.properties with fresh free ports and a temp data dir, so any number of brokers can run
// side by side and none outlives its stop().
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, closeSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import { freePort, killOnExit, startWatchdog } from '../support/child-guard.js';
import { waitFor } from '@palisade/common/testing';
import { createTestCa, testCaUnavailableReason } from './test-ca.js';

const START_TIMEOUT_MS = 60_000;
const STOP_GRACE_MS = 10_000;

export interface KafkaOptions {
  /** Where server.log (broker log) and jvm.log (JVM stdout/stderr) go; kept after stop(). Default: inside the temp dir. */
  logDir?: string;
  /** How long to wait for the broker to answer a metadata request. Default: 60 s. */
  startTimeoutMs?: number;
  /**
   * Run secured instead of PLAINTEXT: a SASL_SSL listener (SCRAM-SHA-512 and PLAIN, a throwaway CA: test-ca.ts) as `brokers`, an
   * SSL listener that requires a client certificate (principal = the certificate's CN) as `security.mtlsBrokers`,
   * and the StandardAuthorizer (no ACL: denied) with `admin` as super user. `users` get SCRAM credentials at format
   * time, besides admin. The controller listener stays PLAINTEXT on loopback.
   */
  secure?: { users?: readonly string[] };
}

/** The part of a kafkajs KafkaConfig that says where and how to connect. */
export type BrokerClientConfig = Pick<KafkaConfig, 'ssl' | 'sasl'> & { brokers: string[] };

export interface BrokerUser {
  username: string;
  password: string;
  /** The password in a file of its own, as a mounted Secret would hold it. */
  passwordFile: string;
}

export interface BrokerSecurity {
  caFile: string;
  caPem: string;
  admin: BrokerUser;
  users: Record<string, BrokerUser>;
  /** Bootstrap addresses of the listener that takes a client certificate instead of SASL. */
  mtlsBrokers: string[];
  /** kafkajs client options for a user (default admin) over SASL_SSL with SCRAM-SHA-512. */
  client(username?: string): BrokerClientConfig;
  /** A Palisade service's flags for a user over SASL_SSL (the --kafka flag not included). */
  serviceArgs(username: string): string[];
  /** Issues a client certificate whose CN (and so principal) is cn. */
  issueClientCert(cn: string): { certFile: string; keyFile: string };
}

export interface RunningKafka {
  /** Bootstrap addresses, host:port. */
  brokers: string[];
  logDir: string;
  /** The broker JVM's process id (of the current JVM, after a restart()). */
  pid: number;
  /** With `secure`: the CA, the users and how clients connect. */
  security?: BrokerSecurity;
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

/** Why a secured broker cannot start here (kafkaUnavailableReason, or no openssl), or undefined. */
export function secureKafkaUnavailableReason(): string | undefined {
  return kafkaUnavailableReason() ?? testCaUnavailableReason();
}

/** Sets key=value in a properties text: replaces the key's line, or appends it. */
function withProperties(text: string, props: Record<string, string>): string {
  let out = text;
  for (const [k, v] of Object.entries(props)) {
    const line = new RegExp(`^${k.replace(/\./g, '\\.')}=.*$`, 'm');
    out = line.test(out) ? out.replace(line, () => `${k}=${v}`) : `${out.trimEnd()}\n${k}=${v}\n`;
  }
  return out;
}

function jaasQuote(v: string): string {
  return `"${v.replace(/["\\]/g, '')}"`;
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

async function waitReady(client: BrokerClientConfig, child: ChildProcess, timeoutMs: number): Promise<void> {
  const kafka = new Kafka({
    clientId: 'palisade-test-broker-probe',
    ...client,
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
  let properties = readFileSync(join(root, 'deploy/kafka/server.properties'), 'utf8')
    .replaceAll('{{BROKER_PORT}}', String(brokerPort))
    .replaceAll('{{CONTROLLER_PORT}}', String(controllerPort))
    .replaceAll('{{DATA_DIR}}', dataDir);
  const jvmLog = join(logDir, 'jvm.log');
  const brokers = [`127.0.0.1:${brokerPort}`];
  const cleanup = (): void => {
    rmSync(tmp, { recursive: true, force: true });
  };
  const scram: string[] = [];
  let security: BrokerSecurity | undefined;
  if (opts.secure !== undefined) {
    const reason = testCaUnavailableReason();
    if (reason !== undefined) { cleanup(); throw new Error(`kafka: ${reason}`); }
    const secrets = join(tmp, 'secrets');
    mkdirSync(secrets, { mode: 0o700 });
    const ca = createTestCa(secrets);
    const user = (username: string): BrokerUser => {
      const password = randomBytes(18).toString('hex');
      const passwordFile = join(secrets, `${username}.password`);
      writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
      return { username, password, passwordFile };
    };
    const admin = user('admin');
    const users: Record<string, BrokerUser> = {};
    for (const name of opts.secure.users ?? []) users[name] = user(name);
    const all = [admin, ...Object.values(users)];
    for (const u of all) scram.push(`SCRAM-SHA-512=[name=${u.username},password=${u.password}]`);
    const mtlsPort = await freePort();
    properties = withProperties(properties, {
      'listeners': `SASL_SSL://127.0.0.1:${brokerPort},SSL://127.0.0.1:${mtlsPort},CONTROLLER://127.0.0.1:${controllerPort}`,
      'advertised.listeners': `SASL_SSL://127.0.0.1:${brokerPort},SSL://127.0.0.1:${mtlsPort}`,
      'listener.security.protocol.map': 'SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:PLAINTEXT',
      'inter.broker.listener.name': 'SASL_SSL',
      'sasl.enabled.mechanisms': 'SCRAM-SHA-512,PLAIN',
      'sasl.mechanism.inter.broker.protocol': 'SCRAM-SHA-512',
      'listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config': 'org.apache.kafka.common.security.scram.ScramLoginModule required ' +
        `username=${jaasQuote(admin.username)} password=${jaasQuote(admin.password)};`,
      'listener.name.sasl_ssl.plain.sasl.jaas.config': 'org.apache.kafka.common.security.plain.PlainLoginModule required ' +
        `username=${jaasQuote(admin.username)} password=${jaasQuote(admin.password)} ` +
        `${all.map((u) => `user_${u.username}=${jaasQuote(u.password)}`).join(' ')};`,
      'ssl.keystore.type': 'PKCS12',
      'ssl.keystore.location': ca.keystoreFile,
      'ssl.keystore.password': ca.keystorePassword,
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': ca.caFile,
      'listener.name.ssl.ssl.client.auth': 'required',
      // A client certificate's principal is its CN (User:collector), not the whole DN.
      'ssl.principal.mapping.rules': 'RULE:^CN=([^,]+).*$/$1/,DEFAULT',
      'authorizer.class.name': 'org.apache.kafka.metadata.authorizer.StandardAuthorizer',
      // The broker reaches its own controller over the PLAINTEXT loopback listener, as ANONYMOUS: test-only.
      'super.users': 'User:admin;User:ANONYMOUS',
      'allow.everyone.if.no.acl.found': 'false',
    });
    const client = (username = 'admin'): BrokerClientConfig => {
      const u = username === 'admin' ? admin : users[username];
      if (u === undefined) throw new Error(`kafka: no user ${username} on this broker`);
      return { brokers, ssl: { ca: [ca.caPem] }, sasl: { mechanism: 'scram-sha-512', username: u.username, password: u.password } };
    };
    security = {
      caFile: ca.caFile, caPem: ca.caPem, admin, users, mtlsBrokers: [`127.0.0.1:${mtlsPort}`], client,
      serviceArgs: (username) => {
        const u = username === 'admin' ? admin : users[username];
        if (u === undefined) throw new Error(`kafka: no user ${username} on this broker`);
        return ['--kafka-security-protocol', 'SASL_SSL', '--kafka-ca-file', ca.caFile, '--kafka-username', u.username,
          '--kafka-password-file', u.passwordFile];
      },
      issueClientCert: (cn) => ca.issueClient(cn),
    };
  }
  writeFileSync(config, properties);

  // A KRaft node starts only on a formatted log dir. The cluster id is any 16 random bytes, base64url, which is what
  // `kafka-storage random-uuid` prints, without a second JVM start.
  const clusterId = randomBytes(16).toString('base64url');
  const format = spawnSync(
    'java',
    [...jvmArgs(root, home, logDir), 'kafka.tools.StorageTool', 'format', `--cluster-id=${clusterId}`, '-c', config,
      ...scram.flatMap((s) => ['--add-scram', s])],
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
    const forget = killOnExit(child);
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    void exited.then(forget);
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
      await waitReady(security?.client() ?? { brokers }, jvm.child, opts.startTimeoutMs ?? START_TIMEOUT_MS);
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const logs = `--- server.log (tail) ---\n${tail(join(logDir, 'server.log'), 40)}\n--- jvm.log (tail) ---\n${tail(jvmLog, 20)}`;
      await stop();
      throw new Error(`kafka: broker on ${brokers[0]} did not start: ${why}\n${logs}`);
    }
  };
  await ready();
  const handle: RunningKafka = {
    brokers, logDir, pid: jvm.child.pid ?? -1, stop, ...(security && { security }),
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
