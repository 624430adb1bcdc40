// Evaluator throughput: the shipped rules (build/policies, the evaluator's default) run by PolicyEngine over
// pre-built enriched events, in batches the size the evaluator uses. Only evaluate() is timed: the kind filter, the
// Rego input conversion, the wasm calls and alert building; no Kafka, no protobuf decoding.
//
// In the same run, over the same batches, two more engines for comparison (issue 9, "Measure and report"):
//   single    the shipped rules through the one palisade/main/alerts entrypoint (every rule over every event), as the
//             engine ran them before dispatch by kind
//   baseline  the first rule library (policies/ of commit 2f96ae3, PAL-001..006; evaluator-baseline.ts builds it once
//             into .cache/ with today's scripts/build-policies.mjs), run by today's engine
// Each batch goes through every engine before the next batch, in an order that rotates from batch to batch, so a
// drift of the shared machine (other processes, frequency) hits all of them alike and the ratios are fair.
import { join } from 'node:path';
import { DEFAULT_POLICY_DIR } from '@palisade/evaluator';
import { DEFAULT_BATCH_SIZE, PolicyEngine, type PolicyDispatch } from '@palisade/evaluator/dist/policy-engine.js';
import { prepareRuleBaseline, RULE_BASELINE_REV, type RuleBaseline } from './evaluator-baseline.js';
import { buildEventMix, DEFAULT_MIX, type EventMixShare } from './event-mix.js';
import { distribution, type Distribution } from './percentiles.js';

export interface EvaluatorBenchOptions {
  events: number;
  batchSize?: number;
  /** Batches evaluated by every engine before timing starts (wasm tiering, first allocations). */
  warmupBatches?: number;
  /** Also time the shipped rules through main's entrypoint alone. Default true. */
  single?: boolean;
  /** The commit whose policies/ is the baseline rule library; null for none. Default RULE_BASELINE_REV. */
  baselineRev?: string | null;
  log?: (msg: string) => void;
}

/** One engine's figures over the run's batches. */
export interface EvaluatorEngineResult {
  /** Events handed to evaluate() ÷ seconds spent inside evaluate(). */
  decisions_per_s: number;
  /** Events that reached OPA (a kind some rule reads) ÷ the same seconds. */
  opa_events_per_s: number;
  events_to_opa: number;
  events_skipped: number;
  seconds: number;
  /** Events ÷ this process' user+system CPU seconds inside evaluate(): steadier than wall time on a shared machine. */
  decisions_per_cpu_s: number;
  cpu_seconds: number;
  batch_ms: Distribution;
  /** Wasm calls (by kind: one per kind per batch). */
  evaluations: number;
  dispatch: PolicyDispatch;
  alerts: number;
  alerts_by_rule: Record<string, number>;
  rules: string[];
}

export interface EvaluatorBenchResult extends EvaluatorEngineResult {
  events: number;
  batch_size: number;
  batches: number;
  mix: EventMixShare;
  /** The shipped rules through palisade/main/alerts alone; `dispatch_speedup` is decisions_per_s over its figure. */
  single?: EvaluatorEngineResult;
  dispatch_speedup?: number;
  /**
   * The first rule library, or why it could not be built (then only the absolute figures stand). `ratio` is the
   * baseline's decisions_per_s over the shipped rules': how many times slower the full library is (`cpu_ratio` the
   * same by CPU time).
   */
  baseline?: (EvaluatorEngineResult & { rev: string; sha: string; subject: string; ratio: number; cpu_ratio: number }) |
    { rev: string; error: string };
}

interface Timed {
  engine: PolicyEngine;
  batchMs: number[];
  totalNs: bigint;
  cpuUs: number;
  alerts: number;
  before: { evaluated: number; skipped: number; evaluations: number; byRule: Map<string, number> };
}

function timed(engine: PolicyEngine): Timed {
  return {
    engine, batchMs: [], totalNs: 0n, cpuUs: 0, alerts: 0,
    before: {
      evaluated: engine.eventsEvaluated, skipped: engine.eventsSkipped, evaluations: engine.evaluations,
      byRule: new Map(engine.alertsByRule),
    },
  };
}

function resultOf(t: Timed, events: number): EvaluatorEngineResult {
  const seconds = Number(t.totalNs) / 1e9;
  const byRule: Record<string, number> = {};
  for (const [rule, n] of t.engine.alertsByRule) byRule[rule] = n - (t.before.byRule.get(rule) ?? 0);
  const toOpa = t.engine.eventsEvaluated - t.before.evaluated;
  return {
    decisions_per_s: events / seconds,
    opa_events_per_s: toOpa / seconds,
    events_to_opa: toOpa,
    events_skipped: t.engine.eventsSkipped - t.before.skipped,
    seconds,
    decisions_per_cpu_s: events / (t.cpuUs / 1e6),
    cpu_seconds: t.cpuUs / 1e6,
    batch_ms: distribution(t.batchMs),
    evaluations: t.engine.evaluations - t.before.evaluations,
    dispatch: t.engine.dispatch,
    alerts: t.alerts,
    alerts_by_rule: byRule,
    rules: [...t.engine.rules.keys()],
  };
}

async function loadFrom(dir: string, dispatch?: PolicyDispatch): Promise<PolicyEngine> {
  return PolicyEngine.load({
    wasmPath: join(dir, 'policy.wasm'), metadataPath: join(dir, 'metadata.json'), ...(dispatch && { dispatch }),
  });
}

export async function benchEvaluator(opts: EvaluatorBenchOptions): Promise<EvaluatorBenchResult> {
  const log = opts.log ?? ((): void => {});
  const batchSize = opts.batchSize ?? DEFAULT_BATCH_SIZE;
  const baselineRev = opts.baselineRev === undefined ? RULE_BASELINE_REV : opts.baselineRev;
  const engines: { name: 'shipped' | 'single' | 'baseline'; engine: PolicyEngine }[] = [
    { name: 'shipped', engine: await loadFrom(DEFAULT_POLICY_DIR) },
  ];
  if (opts.single ?? true) engines.push({ name: 'single', engine: await loadFrom(DEFAULT_POLICY_DIR, 'single') });
  let baseline: RuleBaseline | { rev: string; error: string } | undefined;
  if (baselineRev !== null) {
    baseline = prepareRuleBaseline(baselineRev, log);
    if ('dir' in baseline) engines.push({ name: 'baseline', engine: await loadFrom(baseline.dir) });
    else log(`evaluator: no baseline rule library, absolute figures only: ${baseline.error}`);
  }

  const events = buildEventMix({ count: opts.events, seed: 42 });
  const warmup = buildEventMix({ count: (opts.warmupBatches ?? 20) * batchSize, seed: 7 });
  for (const { engine } of engines) {
    for (let i = 0; i < warmup.length; i += batchSize) engine.evaluate(warmup.slice(i, i + batchSize), Date.now() * 1e6);
  }

  const batches: (typeof events)[] = [];
  for (let i = 0; i < events.length; i += batchSize) batches.push(events.slice(i, i + batchSize));
  const runs = engines.map(({ engine }) => timed(engine));
  const now = Date.now() * 1e6;
  batches.forEach((batch, b) => {
    for (let k = 0; k < runs.length; k++) {
      const run = runs[(b + k) % runs.length]!;
      const c0 = process.cpuUsage();
      const t0 = process.hrtime.bigint();
      run.alerts += run.engine.evaluate(batch, now).length;
      const dt = process.hrtime.bigint() - t0;
      const cpu = process.cpuUsage(c0);
      run.totalNs += dt;
      run.cpuUs += cpu.user + cpu.system;
      run.batchMs.push(Number(dt) / 1e6);
    }
  });

  const byName = new Map(engines.map(({ name }, i) => [name, resultOf(runs[i]!, events.length)]));
  const shipped = byName.get('shipped')!;
  const single = byName.get('single');
  const base = byName.get('baseline');
  return {
    ...shipped,
    events: events.length,
    batch_size: batchSize,
    batches: batches.length,
    mix: DEFAULT_MIX,
    ...(single && { single, dispatch_speedup: shipped.decisions_per_s / single.decisions_per_s }),
    ...(baseline && {
      baseline: 'dir' in baseline && base
        ? {
          ...base, rev: baseline.rev, sha: baseline.sha, subject: baseline.subject,
          ratio: base.decisions_per_s / shipped.decisions_per_s,
          cpu_ratio: base.decisions_per_cpu_s / shipped.decisions_per_cpu_s,
        }
        : { rev: baselineRev ?? '', error: 'error' in baseline ? baseline.error : 'not loaded' },
    }),
  };
}
