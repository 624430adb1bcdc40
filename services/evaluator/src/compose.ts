// Builds the evaluator from its config and the shared pieces: used by main.ts and by the embedded pipeline.
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AlertSigner, stageResilience, type Bus, type Logger, type Metrics, type palisade } from '@palisade/common';
import type { EvaluatorConfig } from './config.js';
import { Evaluator } from './evaluator.js';
import { PolicyEngine } from './policy-engine.js';

/** build/policies of this installation (services/evaluator/dist/ -> repo root). */
export const DEFAULT_POLICY_DIR = fileURLToPath(new URL('../../../build/policies/', import.meta.url));

export async function composeEvaluator(cfg: EvaluatorConfig, shared: { bus: Bus; metrics: Metrics; logger: Logger },
  opts: { onAlert?: (a: palisade.v1.IAlert) => void; signer?: AlertSigner } = {}): Promise<{ service: Evaluator; engine: PolicyEngine }> {
  // Read before anything else loads, so a bad key file stops the start with a config error.
  const signer = opts.signer ?? (cfg.alertSigningKeyFile !== '' ? AlertSigner.fromFile(cfg.alertSigningKeyFile) : undefined);
  const dir = cfg.policyDir !== '' ? resolve(cfg.policyDir) : DEFAULT_POLICY_DIR;
  const engine = await PolicyEngine.load({ wasmPath: join(dir, 'policy.wasm'), metadataPath: join(dir, 'metadata.json') });
  const logger = shared.logger.child({ stage: 'evaluator' });
  logger.info('policies loaded', { dir, rules: [...engine.rules.keys()], eventKinds: [...engine.eventKinds] });
  if (signer) logger.info('alerts are signed', { keyId: signer.keyId });
  else logger.warn('alerts are not signed (no --alert-signing-key-file): a responder will refuse every one of them');
  const m = shared.metrics;
  m.gauge('palisade_evaluator_events_skipped', 'Events no rule reads (filtered by kind before OPA), since start.', [],
    function collect() { this.set(engine.eventsSkipped); });
  const service = new Evaluator({
    resilience: stageResilience(cfg),
    bus: shared.bus, metrics: shared.metrics, logger, groupId: cfg.evaluatorGroup, engine,
    ...(opts.onAlert && { onAlert: opts.onAlert }), ...(signer && { signer }),
  });
  return { service, engine };
}
