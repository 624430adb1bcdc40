// A real Kubernetes control plane for tests (issue 10): etcd and kube-apiserver, built by scripts/fetch-kube.mjs,
// on loopback with TLS, RBAC and a fresh data directory. Tests get an admin kubeconfig (a client certificate in
// system:masters), a helper that mints ServiceAccount tokens (the TokenRequest API, as kubelet does), and a kubectl.
// Everything stops on stop(), on exit, and (the watchdog) on the exits that run no handler.
//
// Suites share one server: scripts/test.mjs starts a cluster for the whole run and hands its handle (a JSON file:
// URL, CA, admin certificate, serving certificate) to every test file through PALISADE_TEST_KUBE;
// sharedKubeCluster() attaches to it, or, for a file run on its own, starts one for the process. A shared handle's
// stop() leaves the server running. Tests on a shared server keep to namespaces of their own (uniqueNamespace()).
// A test that needs different server flags (the forced-410 configuration) starts its own with startKubeCluster().
//
// What a control plane without controller-manager, scheduler and kubelet means for tests (the measured facts are in
// issue 10): the ServiceAccount admission plugin is off (no controller creates "default" accounts), pods need
// spec.nodeName and stay Pending, container ids and pod IPs come from patching the status subresource, deletes use
// grace 0, and a test uses its own namespace (a deleted namespace stays Terminating).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@palisade/common/testing';
import { createTestCa, testCaUnavailableReason } from '../kafka/test-ca.js';
import { freePort, killOnExit, startWatchdog } from './child-guard.js';
import { REPO_ROOT } from './service-process.js';

export interface KubeClusterOptions {
  /** Extra kube-apiserver flags (e.g. --etcd-compaction-interval=5s --watch-cache=false to force 410 Gone). */
  apiserverArgs?: string[];
  /** Deadline for etcd and the API server to answer /readyz. */
  startTimeoutMs?: number;
  /**
   * The servers do not keep this process alive (the exit kill and the watchdog still end them): for a cluster that
   * is never stopped, such as sharedKubeCluster()'s own, so that a test file run on its own can exit.
   */
  unref?: boolean;
}

export interface ApiResponse {
  status: number;
  body: unknown;
}

/** What another process needs to use a running cluster: written by startKubeCluster(), read by attach. */
export interface KubeClusterHandle {
  server: string;
  caFile: string;
  /** The admin client certificate (system:masters) and its key. */
  adminCertFile: string;
  adminKeyFile: string;
  /** The API server's serving certificate (127.0.0.1) and key, for a proxy clients should trust alike. */
  serverCertFile: string;
  serverKeyFile: string;
  kubeconfig: string;
  /** The directory of kube-apiserver, etcd, kubectl (and helm). */
  binDir: string;
}

export interface KubeCluster {
  /** https://127.0.0.1:<port> */
  server: string;
  caFile: string;
  /** Everything a client needs, serialisable (see writeHandle / attachKubeCluster). */
  handle: KubeClusterHandle;
  /** An admin kubeconfig (system:masters), for tests and for the stages under test. */
  kubeconfig: string;
  /** Writes a kubeconfig that authenticates with a bearer token (a ServiceAccount's). */
  writeTokenKubeconfig(path: string, token: string): void;
  /** Creates the ServiceAccount (and namespace) when missing and returns a fresh token for it (TokenRequest). */
  mintToken(namespace: string, serviceAccount: string, expirationSeconds?: number): Promise<string>;
  /** kubectl against this server as the admin; throws with stderr on a non-zero exit. */
  kubectl(args: string[], input?: string): string;
  /** Raw admin request: method, path, body; resolves with status and parsed JSON (or text). */
  api(method: string, path: string, body?: unknown, contentType?: string): Promise<ApiResponse>;
  /** The same request authenticated with a bearer token instead of the admin certificate. */
  apiAs(token: string, method: string, path: string, body?: unknown, contentType?: string): Promise<ApiResponse>;
  /** SIGTERM both, SIGKILL after a grace period; removes the data directory. Idempotent. A no-op on a shared cluster. */
  stop(): Promise<void>;
}

export function kubeBinDir(): string | undefined {
  const current = join(REPO_ROOT, '.cache/kube/current');
  if (!existsSync(current)) return undefined;
  return join(REPO_ROOT, '.cache/kube', readFileSync(current, 'utf8').trim(), 'bin');
}

/** Why a cluster cannot be started here, or undefined. */
export function kubeUnavailableReason(): string | undefined {
  const bin = kubeBinDir();
  if (bin === undefined) return 'the Kubernetes binaries are not built: node scripts/fetch-kube.mjs (setup does)';
  for (const tool of ['etcd', 'kube-apiserver', 'kubectl']) {
    if (!existsSync(join(bin, tool))) return `${join(bin, tool)} is missing: node scripts/fetch-kube.mjs`;
  }
  return testCaUnavailableReason();
}

function tail(file: string, lines = 30): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no output)';
  }
}

interface Proc { child: ChildProcess; exited: Promise<void>; watchdog: ChildProcess | undefined; log: string }

function startProc(cmd: string, args: string[], dir: string, name: string, unref = false): Proc {
  const log = join(dir, `${name}.log`);
  const out = openSync(log, 'a');
  const child = spawn(cmd, args, { stdio: ['ignore', out, out] });
  closeSync(out);
  if (unref) child.unref();
  const forget = killOnExit(child);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  void exited.then(forget);
  const watchdog = child.pid === undefined ? undefined : startWatchdog(child.pid, dir);
  return { child, exited, watchdog, log };
}

async function stopProc(p: Proc): Promise<void> {
  if (p.child.exitCode === null && p.child.signalCode === null) {
    p.child.kill('SIGTERM');
    const grace = setTimeout(() => p.child.kill('SIGKILL'), 5_000);
    await p.exited;
    clearTimeout(grace);
  }
  p.watchdog?.kill('SIGKILL');
}

export async function startKubeCluster(opts: KubeClusterOptions = {}): Promise<KubeCluster> {
  const why = kubeUnavailableReason();
  if (why !== undefined) throw new Error(why);
  const bin = kubeBinDir()!;
  const dir = mkdtempSync(join(tmpdir(), 'palisade-kube-'));
  const ca = createTestCa(dir);
  const admin = ca.issueClient('palisade-test-admin', 'system:masters');
  // The ServiceAccount token signer: its own key pair, as a cluster's.
  const sa = spawnSync('openssl', ['genrsa', '-out', join(dir, 'sa.key'), '2048'], { encoding: 'utf8' });
  if (sa.status !== 0) throw new Error(`openssl genrsa: ${sa.stderr}`);
  const pub = spawnSync('openssl', ['rsa', '-in', join(dir, 'sa.key'), '-pubout', '-out', join(dir, 'sa.pub')], { encoding: 'utf8' });
  if (pub.status !== 0) throw new Error(`openssl rsa -pubout: ${pub.stderr}`);

  const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdClient}`;
  const etcd = startProc(join(bin, 'etcd'), [
    '--name', 'palisade-test', '--data-dir', join(dir, 'etcd'),
    '--listen-client-urls', etcdUrl, '--advertise-client-urls', etcdUrl,
    '--listen-peer-urls', `http://127.0.0.1:${etcdPeer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${etcdPeer}`,
    '--initial-cluster', `palisade-test=http://127.0.0.1:${etcdPeer}`,
    '--log-level', 'warn', '--quota-backend-bytes', String(1 << 30),
  ], dir, 'etcd', opts.unref);
  const procs: Proc[] = [etcd];
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      for (const p of procs.reverse()) await stopProc(p);
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };
  const server = `https://127.0.0.1:${apiPort}`;
  const kubeconfig = join(dir, 'admin.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(server, ca.caFile, `    client-certificate: ${admin.certFile}\n    client-key: ${admin.keyFile}\n`));

  const handle: KubeClusterHandle = {
    server, caFile: ca.caFile, adminCertFile: admin.certFile, adminKeyFile: admin.keyFile,
    serverCertFile: ca.serverCertFile, serverKeyFile: ca.serverKeyFile, kubeconfig, binDir: bin,
  };
  const client = clientFor(handle, stop);
  const api = client.api;

  try {
    const timeoutMs = opts.startTimeoutMs ?? 120_000;
    await waitFor('etcd to answer /health', async () => {
      if (etcd.child.exitCode !== null) throw new Error(`etcd exited ${etcd.child.exitCode}:\n${tail(etcd.log)}`);
      try {
        const r = await fetch(`${etcdUrl}/health`);
        return r.ok;
      } catch {
        return false;
      }
    }, { timeoutMs, intervalMs: 100 });
    const apiserver = startProc(join(bin, 'kube-apiserver'), [
      '--etcd-servers', etcdUrl,
      '--bind-address', '127.0.0.1', '--advertise-address', '127.0.0.1', '--secure-port', String(apiPort),
      '--tls-cert-file', ca.serverCertFile, '--tls-private-key-file', ca.serverKeyFile,
      '--client-ca-file', ca.caFile,
      '--authorization-mode', 'RBAC',
      '--service-account-issuer', 'https://kubernetes.default.svc.cluster.local',
      '--service-account-key-file', join(dir, 'sa.pub'), '--service-account-signing-key-file', join(dir, 'sa.key'),
      '--api-audiences', 'https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range', '10.96.0.0/16',
      // No kubelet or controller-manager here: no endpoints to reconcile on loopback, no "default" ServiceAccounts.
      '--endpoint-reconciler-type', 'none',
      '--disable-admission-plugins', 'ServiceAccount',
      '--enable-priority-and-fairness=false',
      '--profiling=false',
      '-v', '1',
      ...(opts.apiserverArgs ?? []),
    ], dir, 'kube-apiserver', opts.unref);
    procs.push(apiserver);
    await waitFor('kube-apiserver to answer /readyz', async () => {
      if (apiserver.child.exitCode !== null) {
        throw new Error(`kube-apiserver exited ${apiserver.child.exitCode}:\n${tail(apiserver.log)}`);
      }
      try {
        return (await api('GET', '/readyz')).status === 200;
      } catch {
        return false;
      }
    }, { timeoutMs, intervalMs: 100 });
  } catch (err) {
    await stop();
    throw err;
  }

  return client;
}

/** The client side of a cluster: requests as the admin or a token, kubectl, token minting. */
function clientFor(handle: KubeClusterHandle, stop: () => Promise<void>): KubeCluster {
  const { server, caFile, adminCertFile, adminKeyFile, kubeconfig } = handle;
  const send = (auth: { token: string } | 'admin', method: string, path: string, body?: unknown,
    contentType = 'application/json'): Promise<ApiResponse> =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
      const tls = auth === 'admin' ? { cert: readFileSync(adminCertFile), key: readFileSync(adminKeyFile) } : {};
      const req = request(`${server}${path}`, {
        method, ca: readFileSync(caFile), ...tls,
        headers: {
          accept: 'application/json',
          ...(payload !== undefined && { 'content-type': contentType }),
          ...(auth !== 'admin' && { authorization: `Bearer ${auth.token}` }),
        },
        timeout: 10_000,
      }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (d: string) => (text += d)).on('end', () => {
          let parsed: unknown = text;
          try { parsed = JSON.parse(text); } catch { /* not JSON: /readyz answers text */ }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 10 s`)));
      req.on('error', reject);
      req.end(payload);
    });
  const api = (method: string, path: string, body?: unknown, contentType?: string): Promise<ApiResponse> =>
    send('admin', method, path, body, contentType);
  const kubectl = (args: string[], input?: string): string => {
    const r = spawnSync(join(handle.binDir, 'kubectl'), ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', input, timeout: 60_000 });
    if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: exit ${r.status}\n${r.stderr}`);
    return r.stdout;
  };

  return {
    server, caFile, handle, kubeconfig, kubectl, api, stop,
    apiAs: (token, method, path, body, contentType) => send({ token }, method, path, body, contentType),
    writeTokenKubeconfig: (path, token) => writeFileSync(path, kubeconfigYaml(server, caFile, `    token: ${token}\n`)),
    async mintToken(namespace, serviceAccount, expirationSeconds = 3600) {
      await ensure(api, `/api/v1/namespaces/${namespace}`, '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
      await ensure(api, `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}`, `/api/v1/namespaces/${namespace}/serviceaccounts`,
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: serviceAccount, namespace } });
      const r = await api('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
        { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds } });
      const token = (r.body as { status?: { token?: string } }).status?.token;
      if (r.status !== 201 || token === undefined) throw new Error(`TokenRequest for ${namespace}/${serviceAccount}: ${r.status} ${JSON.stringify(r.body)}`);
      return token;
    },
  };
}

/** The environment variable scripts/test.mjs sets to the shared cluster's handle file. */
export const SHARED_KUBE_ENV = 'PALISADE_TEST_KUBE';

/** Writes the handle for other processes (scripts/test.mjs hands it to every test file). */
export function writeHandle(cluster: KubeCluster, file: string): void {
  writeFileSync(file, `${JSON.stringify(cluster.handle, null, 2)}\n`);
}

/** A client for a cluster another process runs (its handle file); stop() leaves that cluster alone. */
export function attachKubeCluster(file: string): KubeCluster {
  const handle = JSON.parse(readFileSync(file, 'utf8')) as KubeClusterHandle;
  return clientFor(handle, () => Promise.resolve());
}

let shared: Promise<KubeCluster> | undefined;

/**
 * The run's shared cluster (scripts/test.mjs starts it) or, when this file runs on its own, one for this process,
 * stopped when it exits. stop() on the result is a no-op; use your own namespaces.
 */
export function sharedKubeCluster(): Promise<KubeCluster> {
  shared ??= (async () => {
    const file = process.env[SHARED_KUBE_ENV];
    if (file !== undefined && file !== '' && existsSync(file)) return attachKubeCluster(file);
    const own = await startKubeCluster({ unref: true });
    // The process-exit kill and the watchdog stop the servers; the handle's stop() must not end them for the
    // other suites of this process.
    return { ...own, stop: () => Promise.resolve() };
  })();
  return shared;
}

async function ensure(
  api: KubeCluster['api'], path: string, collection: string, object: unknown,
): Promise<void> {
  if ((await api('GET', path)).status === 200) return;
  const r = await api('POST', collection, object);
  if (r.status !== 201 && r.status !== 409) throw new Error(`POST ${collection}: ${r.status} ${JSON.stringify(r.body)}`);
}

function kubeconfigYaml(server: string, caFile: string, userFields: string): string {
  return [
    'apiVersion: v1', 'kind: Config', 'current-context: palisade-test',
    'clusters:', '- name: palisade-test', '  cluster:', `    server: ${server}`, `    certificate-authority: ${caFile}`,
    'users:', '- name: palisade-test', '  user:', userFields.trimEnd(),
    'contexts:', '- name: palisade-test', '  context:', '    cluster: palisade-test', '    user: palisade-test',
    '',
  ].join('\n');
}

/** A namespace name no other test uses (deleted namespaces stay Terminating without a controller-manager). */
export function uniqueNamespace(prefix = 'pal'): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}
