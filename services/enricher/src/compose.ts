// Builds the enricher from its config and the shared pieces: used by main.ts and by the embedded pipeline.
import { kubeFromConfig, stageResilience, type Bus, type Logger, type Metrics } from '@palisade/common';
import { parseCgroupPath } from './cgroup-path.js';
import type { EnricherConfig } from './config.js';
import { Enricher, type ContainerIdentity, type PodDirectory } from './enricher.js';
import { PodCache } from './pod-cache.js';

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
    const m = shared.metrics;
    m.gauge('palisade_enricher_pods', 'Pods in the enricher\'s cache.', [], function collect() { this.set(c.size); });
    m.gauge('palisade_enricher_pod_watch_restarts', 'Times the pod watch was restarted (errors, 410 Gone).', [],
      function collect() { this.set(c.watchRestarts); });
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

function startCache(cache: PodCache, logger: Logger): () => Promise<void> {
  return async () => {
    cache.start();
    await cache.ready();
    logger.info('pod cache ready', { pods: cache.size });
  };
}
