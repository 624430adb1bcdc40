// The evaluator's configuration: one schema, resolved once in main.ts.
import { stageKeys, topicKeys, commonKeys, int, loadConfig, str, type ConfigSources, type ResolvedConfig } from '@palisade/common';

export const evaluatorSchema = {
  ...commonKeys,
  ...stageKeys,
  ...topicKeys,
  metricsPort: int('Port of /metrics, /healthz and /readyz', 'PALISADE_EVALUATOR_METRICS_PORT', 9466, 0, 65535),
  policyDir: str('Folder with policy.wasm and metadata.json (built from policies/ by npm run setup); empty: build/policies',
    'PALISADE_POLICY_DIR', ''),
  evaluatorGroup: str('Consumer group of the evaluator', 'PALISADE_EVALUATOR_GROUP', 'palisade-evaluator'),
  alertSigningKeyFile: str('Ed25519 private key (PEM) that signs every alert; the responder acts only on signed alerts. ' +
    'Empty: alerts go out unsigned (embedded mode: a key made at start)', 'PALISADE_ALERT_SIGNING_KEY_FILE', ''),
};

export type EvaluatorConfig = ResolvedConfig<typeof evaluatorSchema>;

export function loadEvaluatorConfig(src: ConfigSources): EvaluatorConfig {
  return loadConfig(evaluatorSchema, src);
}
