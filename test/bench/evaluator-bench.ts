// Evaluator throughput: the shipped rules (build/policies, the evaluator's default) run by PolicyEngine over
// pre-built enriched events, in batches the size the evaluator uses. Only evaluate() is timed: the kind filter, the
// Rego input conversion, the wasm call and alert building; no Kafka, no protobuf decoding.
import { join } from 'node:path';
import { DEFAULT_POLICY_DIR } from '@palisade/evaluator';
import { DEFAULT_BATCH_SIZE, PolicyEngine } from '@palisade/evaluator/dist/policy-engine.js';
import { buildEventMix, DEFAULT_MIX, type EventMixShare } from './event-mix.js';
import { distribution, type Distribution } from './percentiles.js';

export interface EvaluatorBenchOptions {
  events: number;
  batchSize?: number;
  /** Batches evaluated before timing starts (wasm tiering, first allocations). */
  warmupBatches?: number;
}

export interface EvaluatorBenchResult {
  /** Events handed to evaluate() ÷ seconds spent inside evaluate(). */
  decisions_per_s: number;
  /** Events that reached OPA (a kind some rule reads) ÷ the same seconds. */
  opa_events_per_s: number;
  events: number;
  events_to_opa: number;
  events_skipped: number;
  batch_size: number;
  batches: number;
  seconds: number;
  batch_ms: Distribution;
  alerts: number;
  alerts_by_rule: Record<string, number>;
  rules: string[];
  mix: EventMixShare;
}

export async function benchEvaluator(opts: EvaluatorBenchOptions): Promise<EvaluatorBenchResult> {
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  const engine = await PolicyEngine.load({
    wasmPath: join(DEFAULT_POLICY_DIR, 'policy.wasm'), metadataPath: join(DEFAULT_POLICY_DIR, 'metadata.json'),
  });
  const events = buildEventMix({ count: opts.events, seed: 42 });
  const warmup = buildEventMix({ count: (opts.warmupBatches ?? 20) * batchSize, seed: 7 });
  for (let i = 0; i < warmup.length; i += batchSize) engine.evaluate(warmup.slice(i, i + batchSize), Date.now() * 1e6);

  const evaluatedBefore = engine.eventsEvaluated;
  const skippedBefore = engine.eventsSkipped;
  const alertsBefore = new Map(engine.alertsByRule);
  const batches: (typeof events)[] = [];
  for (let i = 0; i < events.length; i += batchSize) batches.push(events.slice(i, i + batchSize));
  const batchMs: number[] = [];
  let totalNs = 0n;
  let alerts = 0;
  const now = Date.now() * 1e6;
  for (const batch of batches) {
    const t0 = process.hrtime.bigint();
    alerts += engine.evaluate(batch, now).length;
    const dt = process.hrtime.bigint() - t0;
    totalNs += dt;
    batchMs.push(Number(dt) / 1e6);
  }
  const seconds = Number(totalNs) / 1e9;
  const byRule: Record<string, number> = {};
  for (const [rule, n] of engine.alertsByRule) byRule[rule] = n - (alertsBefore.get(rule) ?? 0);
  const toOpa = engine.eventsEvaluated - evaluatedBefore;
  return {
    decisions_per_s: events.length / seconds,
    opa_events_per_s: toOpa / seconds,
    events: events.length,
    events_to_opa: toOpa,
    events_skipped: engine.eventsSkipped - skippedBefore,
    batch_size: batchSize,
    batches: batches.length,
    seconds,
    batch_ms: distribution(batchMs),
    alerts,
    alerts_by_rule: byRule,
    rules: [...engine.rules.keys()],
    mix: DEFAULT_MIX,
  };
}
