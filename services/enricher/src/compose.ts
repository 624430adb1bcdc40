// Builds the enricher from its config and the shared pieces: used by main.ts and by the embedded pipeline.
import { kubeFromConfig, stageResilience, type Bus, type Logger, type Metrics } from '@palisade/common';
import { parseCgroupPath } from './cgroup-path.js';
import type { EnricherConfig } from './config.js';
import { Enricher, type ContainerIdentity, type PodDirectory } from './enricher.js';
import { PodCache, type PodCacheCounts } from './pod-cache.js';

/** The cgroup path names the container; the leaf name read in the kernel at exec is the fallback. */
export function identifyContainer(cgroupPath: string, cgroupName: string): ContainerIdentity | null {
  return parseCgroupPath(cgroupPath) ?? (cgroupName !== '' ? parseCgroupPath(cgroupName) : null);
}

export function composeEnricher(cfg: EnricherConfig, shared: { bus: Bus; metrics: Metrics; logger: Logger }):
  { service: Enricher; cleanup: () => Promise<void>; pods: PodCache | undefined } {
  const logger = shared.logger.child({ stage: 'enricher' });
  const kube = kubeFromConfig(cfg);
  let cache: PodCache | undefined;
  let pods: PodDirectory | undefined;
  if (kube) {
    cache = new PodCache({ kubeConfig: kube.kubeConfig, ...(cfg.watchNodeOnly && { nodeName: cfg.node }) });
    const c = cache;
    pods = { lookup: (cid, uid) => c.lookup(cid, uid), subscribe: (listener) => c.onPodAdded(() => listener()) };
    podCacheMetrics(shared.metrics, c);
    logger.info('watching pods', { server: kube.server, source: kube.source, nodeOnly: cfg.watchNodeOnly });
  } else {
    logger.warn('no Kubernetes API configured: container identity comes from cgroup names only');
  }
  const service = new Enricher({
    resilience: stageResilience(cfg),
    node: cfg.node, bus: shared.bus, metrics: shared.metrics, logger, groupId: cfg.enricherGroup, pods,
    identify: identifyContainer, holdMs: cfg.holdMs, negativeTtlMs: cfg.negativeTtlMs,
    ...(cache && { beforeStart: startCache(cache, logger) }),
  });
  return { service, pods: cache, cleanup: async () => { await cache?.stop(); } };
}

/** The pod cache's metrics: what it holds, and how its list and watch are faring. */
export function podCacheMetrics(m: Metrics, c: PodCacheCounts): void {
  m.gauge('palisade_enricher_pods', 'Pods in the enricher\'s cache.', [], function collect() { this.set(c.size); });
  // Counts since start, read from the cache when scraped, so gauges (as palisade_evaluator_events_skipped): a
  // prom-client Counter cannot be set, and rate() reads a reset of either the same way.
  m.gauge('palisade_enricher_pod_watch_restarts', 'Times the pod watch was restarted (errors, 410 Gone).', [],
    function collect() { this.set(c.watchRestarts); });
  m.gauge('palisade_enricher_pod_resyncs', 'Relists of the pods after the first (the watch\'s version expired: 410 Gone).', [],
    function collect() { this.set(c.resyncs); });
  m.gauge('palisade_enricher_pod_list_errors', 'Pod lists that failed (refused, unreachable, or past their deadline), each retried.', [],
    function collect() { this.set(c.listErrors); });
  m.gauge('palisade_enricher_pod_watch_errors',
    'Pod watches that ended in an error, by reason: headers_timeout (no answer), idle_timeout (a silent stream), ' +
    'http_status (refused, 410 aside), network.', ['reason'],
    function collect() { for (const [reason, n] of Object.entries(c.watchErrors)) this.set({ reason }, n); });
  m.gauge('palisade_enricher_pod_watch_silence_seconds',
    'Seconds since the API server last answered the pod list or watch or sent anything on it: how stale the pod cache may be.', [],
    function collect() { this.set(c.secondsSinceHeard); });
  m.gauge('palisade_enricher_pod_watch_bad_lines', 'Pod watch lines that were not a watch event (not JSON, no type or object).', [],
    function collect() { this.set(c.badWatchLines); });
}

function startCache(cache: PodCache, logger: Logger): () => Promise<void> {
  return async () => {
    cache.start();
    await cache.ready();
    logger.info('pod cache ready', { pods: cache.size });
  };
}
