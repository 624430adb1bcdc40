// The evaluator's configuration: one schema, resolved once in main.ts.
import { stageKeys, topicKeys, commonKeys, int, loadConfig, str, type ConfigSources, type ResolvedConfig } from '@palisade/common';

export const evaluatorSchema = {
  ...commonKeys,
  ...stageKeys,
  ...topicKeys,
  metricsPort: int('Port of /metrics, /healthz and /readyz', 'PALISADE_EVALUATOR_METRICS_PORT', 9466, 0, 65535),
  policyDir: str('Folder with policy.wasm, data.json and metadata.json (built from policies/ by npm run setup), re-read like a bundle directory; empty: build/policies',
    'PALISADE_POLICY_DIR', ''),
  policyBundle: str('OPA bundle to run instead of --policy-dir: a bundle.tar.gz or bundle directory as scripts/build-policies.mjs ' +
    'makes it (opa build -t wasm with the rule metadata in its .manifest), or an http(s) URL of a bundle server; ' +
    're-read every --policy-bundle-poll-ms and swapped between batches, a bad one refused', 'PALISADE_POLICY_BUNDLE', ''),
  policyBundlePollMs: int('How often the policy bundle (or --policy-dir) is checked for a new one; a server is asked with ' +
    'If-None-Match. 0: loaded once at start', 'PALISADE_POLICY_BUNDLE_POLL_MS', 30_000, 0),
  policyBundleTimeoutMs: int('Deadline of one bundle server request', 'PALISADE_POLICY_BUNDLE_TIMEOUT_MS', 10_000, 100),
  policyBundleTokenFile: str('File with a bearer token sent to the bundle server; empty: none', 'PALISADE_POLICY_BUNDLE_TOKEN_FILE', ''),
  alertDedupWindowMs: int('Repeats of an alert (same rule, pod and key) within this window are counted, not published; one ' +
    '"suppressed N" update follows at its end. 0: every firing is published', 'PALISADE_ALERT_DEDUP_WINDOW_MS', 60_000, 0),
  alertDedupMaxKeys: int('Open dedup windows at most; beyond, the oldest is closed early with its count. 0: dedup off',
    'PALISADE_ALERT_DEDUP_MAX_KEYS', 10_000, 0),
  tuning: str('Rule tuning: a RuleTuning YAML/JSON file, or a folder of them (a mounted ConfigMap: its .yaml, .yml and .json files, ' +
    'merged); re-read on change, a bad change keeps the previous tuning. Empty: no tuning (policies/README.md "Tuning")',
  'PALISADE_TUNING', ''),
  tuningCheckIntervalMs: int('How often the tuning is re-checked besides fs.watch; 0: load once, never reload',
    'PALISADE_TUNING_CHECK_MS', 5000),
  evaluatorGroup: str('Consumer group of the evaluator', 'PALISADE_EVALUATOR_GROUP', 'palisade-evaluator'),
  alertSigningKeyFile: str('Ed25519 private key (PEM) that signs every alert; the responder acts only on signed alerts. ' +
    'Empty: alerts go out unsigned (embedded mode: a key made at start)', 'PALISADE_ALERT_SIGNING_KEY_FILE', ''),
};

export type EvaluatorConfig = ResolvedConfig<typeof evaluatorSchema>;

export function loadEvaluatorConfig(src: ConfigSources): EvaluatorConfig {
  return loadConfig(evaluatorSchema, src);
}
