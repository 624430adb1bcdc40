// Configuration keys every service shares (same name, same env variable, same meaning), spread into each
// service's schema in its config.ts.
import { hostname } from 'node:os';
import { int, list, oneOf, str } from './config-schema.js';
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
