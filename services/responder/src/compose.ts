// Builds the responder from its config and the shared pieces: used by main.ts and by the embedded pipeline.
import { kubeFromConfig, type Bus, type Logger, type Metrics, type palisade } from '@palisade/common';
import type { ResponderConfig } from './config.js';
import { quarantineClients, quarantinePod } from './quarantine.js';
import { Responder, type PodTarget, type Quarantiner } from './responder.js';

export function composeResponder(cfg: ResponderConfig, shared: { bus: Bus; metrics: Metrics; logger: Logger },
  opts: { onAction?: (r: palisade.v1.IActionRecord) => void } = {}): { service: Responder } {
  const logger = shared.logger.child({ stage: 'responder' });
  const kube = kubeFromConfig(cfg);
  const protectedNamespaces = [...new Set([...cfg.protectedNamespaces, 'kube-system', cfg.ownNamespace])];
  let quarantine: Quarantiner | undefined;
  if (kube) {
    const clients = quarantineClients(kube.kubeConfig);
    quarantine = (pod, dryRun) => quarantinePod(clients, pod, {
      labelKey: cfg.quarantineLabel, labelValue: 'true', policyName: cfg.networkPolicyName, dryRun,
      protectedNamespaces, retry: { maxAttempts: cfg.kubeAttempts }, requestTimeoutMs: cfg.kubeRequestTimeoutMs,
    });
  }
  logger.info('responder configured', { dryRun: cfg.dryRun, kubernetes: kube?.server ?? null, protectedNamespaces });
  const describe = (pod: PodTarget): string[] => [
    `PATCH pods/${pod.namespace}/${pod.name} labels ${cfg.quarantineLabel}=true`,
    `CREATE networkpolicies/${pod.namespace}/${cfg.networkPolicyName} (deny all egress from ${cfg.quarantineLabel}=true)`,
  ];
  const service = new Responder({
    bus: shared.bus, metrics: shared.metrics, logger, groupId: cfg.responderGroup, dryRun: cfg.dryRun,
    protectedNamespaces, quarantine, describe, dedupeWindowMs: cfg.dedupeWindowMs,
    maxActionsPerMinute: cfg.maxActionsPerMinute, ...(opts.onAction && { onAction: opts.onAction }),
  });
  return { service };
}
