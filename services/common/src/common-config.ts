// Configuration keys every service shares (same name, same env variable, same meaning), spread into each
// service's schema in its config.ts.
import { hostname } from 'node:os';
import { int, list, oneOf, str } from './config-schema.js';
import type { StageResilience } from './consumer-stage.js';
import { TOPICS } from './bus.js';
import { kafkaSecurityKeys } from './kafka-security.js';
import { LOG_LEVELS } from './logger.js';

export const commonKeys = {
  kafka: list('Kafka bootstrap brokers, comma-separated', 'PALISADE_KAFKA_BROKERS', ['127.0.0.1:9092']),
  node: { ...str('This node\'s name, as Kubernetes knows it (the collector keys its records with it)', 'NODE_NAME', hostname()),
    show: 'the host name' },
  logLevel: oneOf('Minimum log level', 'PALISADE_LOG_LEVEL', 'info', LOG_LEVELS),
  metricsHost: str('Address the /metrics, /healthz and /readyz endpoint listens on', 'PALISADE_METRICS_HOST', '0.0.0.0'),
  shutdownDeadlineMs: int('How long a SIGTERM drain may take before the process exits anyway', 'PALISADE_SHUTDOWN_DEADLINE_MS', 10_000, 100),
  ...kafkaSecurityKeys,
};

/** Keys of every consuming stage (enricher, evaluator, responder): bounded retries and readiness (consumer-stage.ts). */
export const stageKeys = {
  retryBudgetMs: int('How long a batch may keep failing with retriable errors before its records move to the stage\'s ' +
    'retry topic (palisade.retry.<stage>), so the partition goes on', 'PALISADE_RETRY_BUDGET_MS', 60_000, 0),
  retryDelayMs: int('Delay before a record on the retry topic is tried again (doubles on each further trip)',
    'PALISADE_RETRY_DELAY_MS', 30_000, 0),
  retryAttempts: int('Trips through the retry topic before a record is dead-lettered (cause retry_exhausted); ' +
    '0 dead-letters it once the budget is spent', 'PALISADE_RETRY_ATTEMPTS', 3, 0, 100),
  stallAfterMs: int('/readyz answers 503 when a partition with lag has had a batch waiting this long for its commit',
    'PALISADE_STALL_AFTER_MS', 120_000, 1),
  outputFailAfterMs: int('/readyz answers 503 when the stage\'s output sends have all failed for this long',
    'PALISADE_OUTPUT_FAIL_AFTER_MS', 60_000, 1),
};

/** The resilience part of a resolved config, as ConsumerStage takes it. */
export function stageResilience(cfg: { retryBudgetMs: number; retryDelayMs: number; retryAttempts: number;
  stallAfterMs: number; outputFailAfterMs: number }): StageResilience {
  return { retryBudgetMs: cfg.retryBudgetMs, retryDelayMs: cfg.retryDelayMs, retryAttempts: cfg.retryAttempts,
    stallAfterMs: cfg.stallAfterMs, outputFailAfterMs: cfg.outputFailAfterMs };
}

/**
 * Settings of the topics a service creates when they are missing (the enricher and evaluator at start, `palisade
 * kafka-acls --apply`). Only used at creation: an existing topic keeps its configs (kafka-configs.sh changes them).
 */
export const topicKeys = {
  enrichedRetentionMs: int('How long palisade.events.enriched keeps events (its retention.ms when created): the history ' +
    '`palisade policy backtest` can replay. -1: keep forever', 'PALISADE_ENRICHED_RETENTION_MS', 86_400_000, -1),
};

/** Topic configs by topic, for createBus/KafkaBus (topicConfigs) and applyAclPlan. */
export function topicConfigs(cfg: { enrichedRetentionMs: number }): Record<string, Record<string, string>> {
  return { [TOPICS.enriched]: { 'retention.ms': String(cfg.enrichedRetentionMs) } };
}

/** Where the Kubernetes API is: an explicit kubeconfig, KUBECONFIG, or the in-cluster service account. */
export const kubeKeys = {
  kubeconfig: str('Kubeconfig file (must load when given); empty: KUBECONFIG, then the in-cluster service account, ' +
    'else no Kubernetes API', 'PALISADE_KUBECONFIG', ''),
  kubeconfigList: str('KUBECONFIG-style list of kubeconfig files (missing files are skipped)', 'KUBECONFIG', ''),
  kubeContext: str('Kubeconfig context to use instead of the current one', 'PALISADE_KUBE_CONTEXT', ''),
  kubernetesServiceHost: str('In-cluster API host (set by Kubernetes)', 'KUBERNETES_SERVICE_HOST', ''),
  kubernetesServicePort: str('In-cluster API port (set by Kubernetes)', 'KUBERNETES_SERVICE_PORT', ''),
};

export interface KubeKeyValues {
  kubeconfig: string;
  kubeconfigList: string;
  kubeContext: string;
  kubernetesServiceHost: string;
  kubernetesServicePort: string;
}
