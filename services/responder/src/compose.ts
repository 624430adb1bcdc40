// Builds the responder from its config and the shared pieces: used by main.ts and by the embedded pipeline.
import { AlertVerifier, PalisadeError, kubeFromConfig, stageResilience, type Bus, type Logger, type Metrics, type palisade } from '@palisade/common';
import type { ResponderConfig } from './config.js';
import { quarantineClients, quarantinePod } from './quarantine.js';
import { Responder, type PodTarget, type Quarantiner } from './responder.js';

export function composeResponder(cfg: ResponderConfig, shared: { bus: Bus; metrics: Metrics; logger: Logger },
  opts: { onAction?: (r: palisade.v1.IActionRecord) => void; verifier?: AlertVerifier } = {}): { service: Responder } {
  const logger = shared.logger.child({ stage: 'responder' });
  if (opts.verifier === undefined && cfg.alertVerifyKeys.length === 0) {
    throw new PalisadeError('CONFIG_INVALID', 'invalid configuration:\n  the responder needs --alert-verify-keys ' +
      '(PALISADE_ALERT_VERIFY_KEYS): the evaluator\'s public key(s); without one it could trust no alert');
  }
  const verifier = opts.verifier ?? AlertVerifier.fromFiles(cfg.alertVerifyKeys);
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
  logger.info('responder configured', { dryRun: cfg.dryRun, kubernetes: kube?.server ?? null, protectedNamespaces,
    trustedAlertKeys: verifier.keyIds });
  // In the order quarantine.ts makes the calls: the policy first, so a pod is never labelled without it.
  const describe = (pod: PodTarget): string[] => [
    `CREATE networkpolicies/${pod.namespace}/${cfg.networkPolicyName} (deny all egress from ${cfg.quarantineLabel}=true)`,
    `PATCH pods/${pod.namespace}/${pod.name} labels ${cfg.quarantineLabel}=true`,
  ];
  const service = new Responder({
    resilience: stageResilience(cfg),
    bus: shared.bus, metrics: shared.metrics, logger, groupId: cfg.responderGroup, dryRun: cfg.dryRun,
    protectedNamespaces, quarantine, describe, dedupeWindowMs: cfg.dedupeWindowMs,
    maxActionsPerMinute: cfg.maxActionsPerMinute, verifier, ...(opts.onAction && { onAction: opts.onAction }),
  });
  return { service };
}
