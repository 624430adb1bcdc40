// Builds the evaluator from its config and the shared pieces: used by main.ts and by the embedded pipeline.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AlertSigner, PalisadeError, errorMessage, stageResilience, type Bus, type Logger, type Metrics, type palisade } from '@palisade/common';
import type { EvaluatorConfig } from './config.js';
import { Evaluator } from './evaluator.js';
import { ActivePolicy } from './active-policy.js';
import { bundleSource } from './bundle-source.js';
import { TuningWatcher } from './tuning-watcher.js';

/** build/policies of this installation (services/evaluator/dist/ -> repo root). */
export const DEFAULT_POLICY_DIR = fileURLToPath(new URL('../../../build/policies/', import.meta.url));

export async function composeEvaluator(cfg: EvaluatorConfig, shared: { bus: Bus; metrics: Metrics; logger: Logger },
  opts: { onAlert?: (a: palisade.v1.IAlert) => void; signer?: AlertSigner } = {},
): Promise<{ service: Evaluator; engine: ActivePolicy; tuning: TuningWatcher | undefined }> {
  // Read before anything else loads, so a bad key file stops the start with a config error.
  const signer = opts.signer ?? (cfg.alertSigningKeyFile !== '' ? AlertSigner.fromFile(cfg.alertSigningKeyFile) : undefined);
  const location = cfg.policyBundle !== '' ? cfg.policyBundle : cfg.policyDir !== '' ? resolve(cfg.policyDir) : DEFAULT_POLICY_DIR;
  const logger = shared.logger.child({ stage: 'evaluator' });
  let token: string | undefined;
  if (cfg.policyBundleTokenFile !== '') {
    try {
      token = readFileSync(cfg.policyBundleTokenFile, 'utf8').trim();
    } catch (err) {
      throw new PalisadeError('CONFIG_INVALID', `--policy-bundle-token-file: ${errorMessage(err)}`, { cause: err });
    }
  }
  const excepted = shared.metrics.counter('palisade_evaluator_alerts_excepted_total',
    'Alerts a rule raised that a tuning exception silenced, by rule and exception name.', ['rule_id', 'exception']);
  const engine = await ActivePolicy.start({
    source: bundleSource(location, { timeoutMs: cfg.policyBundleTimeoutMs, ...(token !== undefined && { token }) }),
    pollMs: cfg.policyBundlePollMs, logger: logger.child({ module: 'policy-bundle' }), metrics: shared.metrics,
    onExcepted: (ruleId, exception) => excepted.inc({ rule_id: ruleId, exception }),
  });
  // Before the first event: a tuning that does not load stops the start (CONFIG_INVALID), like a bad flag. The
  // active policy keeps it across bundle swaps; rule ids are checked against whichever bundle is active.
  let tuning: TuningWatcher | undefined;
  if (cfg.tuning !== '') {
    tuning = new TuningWatcher({
      path: resolve(cfg.tuning), knownRules: () => new Set(engine.rules.keys()), apply: (t) => engine.setTuning(t),
      logger, metrics: shared.metrics, checkIntervalMs: cfg.tuningCheckIntervalMs,
    });
    tuning.start();
  }
  logger.info('policies loaded', { source: location, revision: engine.revision, rules: [...engine.rules.keys()],
    eventKinds: [...engine.eventKinds], dispatch: engine.engine.dispatch });
  if (signer) logger.info('alerts are signed', { keyId: signer.keyId });
  else logger.warn('alerts are not signed (no --alert-signing-key-file): a responder will refuse every one of them');
  const m = shared.metrics;
  m.gauge('palisade_evaluator_events_skipped', 'Events no rule reads (filtered by kind before OPA), since start.', [],
    function collect() { this.set(engine.eventsSkipped); });
  const service = new Evaluator({
    resilience: stageResilience(cfg),
    bus: shared.bus, metrics: shared.metrics, logger, groupId: cfg.evaluatorGroup, engine,
    dedup: { windowMs: cfg.alertDedupWindowMs, maxKeys: cfg.alertDedupMaxKeys },
    ...(opts.onAlert && { onAlert: opts.onAlert }), ...(signer && { signer }),
  });
  return { service, engine, tuning };
}
