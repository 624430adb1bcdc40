// Where a service finds its Kubernetes API server. Sources are tried in order: an explicit kubeconfig file, a
// KUBECONFIG-style list of files, the in-cluster service account. Values come in as parameters (config.ts reads
// the environment), so this never looks at process.env, and client-node's own loadFromDefault/loadFromCluster
// (which do) are not used.
import { existsSync, readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { delimiter, join } from 'node:path';
import { KubeConfig, type Cluster, type Context, type User } from '@kubernetes/client-node';
import { PalisadeError } from './errors.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConfigSources {
  /** A kubeconfig file named explicitly (a flag, PALISADE_KUBECONFIG). When given it must load. */
  kubeconfigPath?: string;
  /** A KUBECONFIG-style list of files joined by the platform's path delimiter. Missing files are skipped. */
  kubeconfigList?: string;
  /** A context to use instead of the files' current-context. */
  context?: string;
  /**
   * In-cluster service account. host and port are the values of KUBERNETES_SERVICE_HOST and
   * KUBERNETES_SERVICE_PORT, which the caller reads; both must be set for this source to count.
   */
  inCluster?: { host?: string; port?: string; serviceAccountDir?: string };
}

export type KubeConfigSource = 'kubeconfig' | 'kubeconfig-list' | 'in-cluster';

export interface LoadedKubeConfig {
  kubeConfig: KubeConfig;
  source: KubeConfigSource;
  /** The API server URL of the current context. */
  server: string;
  /** The current context's namespace; in-cluster, the service account's (the pipeline's own) namespace. */
  namespace?: string;
}

function invalid(message: string, cause?: unknown): PalisadeError {
  return new PalisadeError('CONFIG_INVALID', message, cause === undefined ? {} : { cause });
}

function loadFile(path: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    // Relative certificate and key paths in the file are resolved against the file's directory.
    kc.loadFromFile(path);
  } catch (err) {
    throw invalid(`kubeconfig ${path} could not be loaded: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  return kc;
}

/** kubectl's merge rule: the first file to define a name (or set current-context) wins. */
function mergeFirstWins(configs: readonly KubeConfig[]): KubeConfig {
  const merged = new KubeConfig();
  const clusters: Cluster[] = [];
  const users: User[] = [];
  const contexts: Context[] = [];
  let current = '';
  for (const kc of configs) {
    for (const c of kc.getClusters()) if (!clusters.some((x) => x.name === c.name)) clusters.push(c);
    for (const u of kc.getUsers()) if (!users.some((x) => x.name === u.name)) users.push(u);
    for (const c of kc.getContexts()) if (!contexts.some((x) => x.name === c.name)) contexts.push(c);
    if (current === '' && kc.getCurrentContext()) current = kc.getCurrentContext();
  }
  merged.loadFromOptions({ clusters, users, contexts, currentContext: current });
  return merged;
}

function finish(kc: KubeConfig, source: KubeConfigSource, origin: string, context: string | undefined): LoadedKubeConfig {
  if (context !== undefined && context !== '') {
    if (kc.getContextObject(context) === null) throw invalid(`${origin}: context "${context}" not found`);
    kc.setCurrentContext(context);
  }
  const ctx = kc.getContextObject(kc.getCurrentContext());
  if (ctx === null) throw invalid(`${origin}: no current context`);
  const cluster = kc.getCurrentCluster();
  if (cluster === null || cluster.server === '') throw invalid(`${origin}: context "${ctx.name}" names no cluster with a server`);
  const loaded: LoadedKubeConfig = { kubeConfig: kc, source, server: cluster.server };
  if (ctx.namespace !== undefined && ctx.namespace !== '') loaded.namespace = ctx.namespace;
  return loaded;
}

function inCluster(host: string, port: string, dir: string): LoadedKubeConfig | undefined {
  const tokenFile = join(dir, 'token');
  // Pods with automountServiceAccountToken: false have the variables but no token: not configured.
  if (!existsSync(tokenFile)) return undefined;
  const caFile = join(dir, 'ca.crt');
  if (!existsSync(caFile)) throw invalid(`in-cluster: ${caFile} is missing next to the service account token`);
  const server = `https://${isIPv6(host) ? `[${host}]` : host}:${port}`;
  const namespaceFile = join(dir, 'namespace');
  const namespace = existsSync(namespaceFile) ? readFileSync(namespaceFile, 'utf8').trim() : undefined;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'in-cluster', server, caFile, skipTLSVerify: false }],
    // The tokenFile provider re-reads the file every minute: projected service account tokens rotate.
    users: [{ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile } } }],
    contexts: [{ name: 'in-cluster', cluster: 'in-cluster', user: 'in-cluster', ...(namespace ? { namespace } : {}) }],
    currentContext: 'in-cluster',
  });
  return finish(kc, 'in-cluster', 'in-cluster', undefined);
}

/**
 * Builds a KubeConfig from the first configured source, or returns undefined when none is configured.
 * Throws PalisadeError CONFIG_INVALID when a configured source is broken (a named file that does not load,
 * an unknown context, a config without a server): a misconfiguration is not the same as no configuration.
 */
export function loadKubeConfig(sources: KubeConfigSources): LoadedKubeConfig | undefined {
  if (sources.kubeconfigPath !== undefined && sources.kubeconfigPath !== '') {
    if (!existsSync(sources.kubeconfigPath)) throw invalid(`kubeconfig ${sources.kubeconfigPath} does not exist`);
    return finish(loadFile(sources.kubeconfigPath), 'kubeconfig', sources.kubeconfigPath, sources.context);
  }
  if (sources.kubeconfigList !== undefined && sources.kubeconfigList !== '') {
    const files = sources.kubeconfigList.split(delimiter).filter((f) => f !== '' && existsSync(f));
    if (files.length > 0) {
      return finish(mergeFirstWins(files.map(loadFile)), 'kubeconfig-list', files.join(delimiter), sources.context);
    }
  }
  const ic = sources.inCluster;
  if (ic?.host !== undefined && ic.host !== '' && ic.port !== undefined && ic.port !== '') {
    return inCluster(ic.host, ic.port, ic.serviceAccountDir ?? SERVICE_ACCOUNT_DIR);
  }
  return undefined;
}
