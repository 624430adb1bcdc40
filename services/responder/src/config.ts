// The responder's configuration: one schema, resolved once in main.ts.
import { stageKeys, bool, commonKeys, int, kubeKeys, list, loadConfig, str, type ConfigSources, type ResolvedConfig } from '@palisade/common';

export const responderSchema = {
  ...commonKeys,
  ...stageKeys,
  metricsPort: int('Port of /metrics, /healthz and /readyz', 'PALISADE_RESPONDER_METRICS_PORT', 9467, 0, 65535),
  ...kubeKeys,
  responderGroup: str('Consumer group of the responder', 'PALISADE_RESPONDER_GROUP', 'palisade-responder'),
  dryRun: bool('Decide and record, but change nothing. Must be switched off explicitly (--dry-run=false)',
    'PALISADE_DRY_RUN', true),
  quarantineLabel: str('Label set to "true" on a quarantined pod; the deny-egress NetworkPolicy selects it',
    'PALISADE_QUARANTINE_LABEL', 'quarantined'),
  networkPolicyName: str('Name of the deny-all-egress NetworkPolicy created in a quarantined pod\'s namespace',
    'PALISADE_NETWORK_POLICY_NAME', 'palisade-quarantine'),
  protectedNamespaces: list('Namespaces never acted on, besides the pipeline\'s own', 'PALISADE_PROTECTED_NAMESPACES',
    ['kube-system']),
  ownNamespace: str('The namespace Palisade runs in (never acted on)', 'POD_NAMESPACE', 'palisade'),
  dedupeWindowMs: int('One pod is acted on at most once in this window', 'PALISADE_DEDUPE_WINDOW_MS', 300_000, 0),
  maxActionsPerMinute: int('Writes to the Kubernetes API per minute at most; more alerts are refused and recorded',
    'PALISADE_MAX_ACTIONS_PER_MINUTE', 10, 0),
  kubeAttempts: int('Attempts per Kubernetes API call on 5xx, 429 or a network error', 'PALISADE_KUBE_ATTEMPTS', 5, 1),
  alertVerifyKeys: list('Ed25519 public keys (PEM files, comma-separated) of the evaluator: only alerts signed by one ' +
    'of them are acted on; required (embedded mode: the key made at start)', 'PALISADE_ALERT_VERIFY_KEYS', []),
  kubeRequestTimeoutMs: int('Deadline of one Kubernetes API request; an API server that does not answer in time counts as a network error (retried)',
    'PALISADE_KUBE_REQUEST_TIMEOUT_MS', 10_000, 1),
};

export type ResponderConfig = ResolvedConfig<typeof responderSchema>;

export function loadResponderConfig(src: ConfigSources): ResponderConfig {
  return loadConfig(responderSchema, src);
}
