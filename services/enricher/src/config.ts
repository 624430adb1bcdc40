// The enricher's configuration: one schema, resolved once in main.ts.
import { stageKeys, topicKeys, bool, commonKeys, int, kubeKeys, loadConfig, str, type ConfigSources, type ResolvedConfig } from '@palisade/common';

export const enricherSchema = {
  ...commonKeys,
  ...stageKeys,
  ...topicKeys,
  metricsPort: int('Port of /metrics, /healthz and /readyz', 'PALISADE_ENRICHER_METRICS_PORT', 9465, 0, 65535),
  ...kubeKeys,
  enricherGroup: str('Consumer group of the enricher', 'PALISADE_ENRICHER_GROUP', 'palisade-enricher'),
  holdMs: int('How long an event of a container whose pod is not known yet is held before it goes on unenriched',
    'PALISADE_ENRICHER_HOLD_MS', 2_000, 0),
  negativeTtlMs: int('After a hold timed out, events of that container pass straight through for this long',
    'PALISADE_ENRICHER_NEGATIVE_TTL_MS', 60_000, 0),
  watchNodeOnly: bool('Watch only the pods of --node (one enricher per node) instead of the whole cluster',
    'PALISADE_ENRICHER_NODE_ONLY', false),
};

export type EnricherConfig = ResolvedConfig<typeof enricherSchema>;

export function loadEnricherConfig(src: ConfigSources): EnricherConfig {
  return loadConfig(enricherSchema, src);
}
