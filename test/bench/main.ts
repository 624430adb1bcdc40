#!/usr/bin/env node
// npm run bench [-- --json] [--only collector,overhead,evaluator,pipeline] [--baseline <rev>]
//
// Four measurements, in this order so each runs on an otherwise idle machine:
//   collector  the real Collector (KernelSource -> Collector -> RawEventBatch -> MemoryBus) in this process (CPU 1)
//              against a C openat+close storm (CPU 0): events/s in, events lost, CPU per event, peak RSS. No Kafka.
//   overhead   the storm's wall time with nothing, empty hooks, the filtered collector, the collector, opensnoop
//              attached, interleaved over 3 rounds: the ratios to bare.
//   evaluator  PolicyEngine with the shipped rules over pre-built events: decisions/s inside evaluate(); in the same
//              run, alternating batches, the same rules through main's entrypoint alone and the first rule library
//              (PAL-001..006, commit 2f96ae3, built once into .cache/): the ratios (evaluator-bench.ts).
//   pipeline   real Kafka + the four services as processes, load from a pod cgroup: events/s carried end to end and
//              alert latency (kernel timestamp to a user's consumer).
// --baseline <rev> first runs the collector and overhead stages (those asked for) of an older commit, built once
// into .cache/bench-baseline/ (baseline.ts), then this checkout's, and the table puts the two side by side.
// Progress and the table go to stderr and stdout; with --json, stdout carries exactly one JSON object and the table
// goes to stderr. Everything started (processes, the broker, cgroups, CPU pinning) is undone on exit, error or signal.
import { parseArgs } from 'node:util';
import { toJson, type BenchResult } from './bench-result.js';
import { runBaseline } from './baseline.js';
import { benchCollector } from './collector-bench.js';
import { benchEvaluator } from './evaluator-bench.js';
import { describeMachine } from './machine-info.js';
import { buildOpenLoad } from './open-load.js';
import { benchOverhead } from './overhead-bench.js';
import { benchPipeline } from './pipeline-bench.js';
import { renderTable } from './report-table.js';
import { Teardown } from './teardown.js';

const STAGES = ['collector', 'overhead', 'evaluator', 'pipeline'] as const;
type Stage = (typeof STAGES)[number];

/** Sized so the whole run takes about three minutes on the 2-core reference VM (Kafka start-up included). */
const PLAN = {
  stormOpens: 1_000_000,
  overheadRounds: 3,
  evaluatorEvents: 200_000,
  pipelinePhases: [
    // Latency at a steady, ordinary rate: one container opening 2,000 files a second.
    { name: 'steady', ratePerS: 2_000, seconds: 10, alertEvery: 20 },
    // Throughput: more than two cores can carry through Kafka and four services, so the pipeline runs flat out.
    { name: 'flood', ratePerS: 50_000, seconds: 8, alertEvery: 200 },
  ],
  throughputPhase: 'flood',
  latencyPhase: 'steady',
};

const USAGE = `usage: node test/dist/bench/main.js [--json] [--only ${STAGES.join(',')}] [--baseline <rev>]
  --json      print one JSON object on stdout (the table goes to stderr)
  --only      run only these measurements (comma-separated)
  --baseline  also run the collector and overhead stages of this commit (a git rev, or issue-8 for the commit before
              issue 8's signals) in the same run, first, for a before/after pair
Needs root (BPF, cgroups), a C compiler, clang, libbpf, opensnoop (libbpf-tools), java and the Kafka jars
(node scripts/setup.mjs).
`;

function log(msg: string): void {
  process.stderr.write(`bench: ${msg}\n`);
}

function parse(): { json: boolean; stages: Set<Stage>; baseline: string | undefined } {
  const { values } = parseArgs({
    options: {
      json: { type: 'boolean', default: false }, only: { type: 'string' }, baseline: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) { process.stdout.write(USAGE); process.exit(0); }
  const stages = new Set<Stage>();
  for (const s of (values.only ?? STAGES.join(',')).split(',')) {
    if (!(STAGES as readonly string[]).includes(s)) throw new Error(`unknown stage ${JSON.stringify(s)}\n${USAGE}`);
    stages.add(s as Stage);
  }
  return { json: values.json, stages, baseline: values.baseline };
}

async function run(teardown: Teardown): Promise<void> {
  const { json, stages, baseline } = parse();
  const t0 = Date.now();
  const needsKernel = stages.has('collector') || stages.has('overhead') || stages.has('pipeline');
  if (needsKernel && process.getuid?.() !== 0) {
    throw new Error('the collector, overhead and pipeline measurements need root (BPF, cgroups); run as root or use --only evaluator');
  }
  const machine = describeMachine();
  log(`${machine.nproc} CPU × ${machine.cpu_model}, ${machine.memory_mib} MiB, Linux ${machine.kernel}`);
  const openLoadBin = needsKernel ? buildOpenLoad() : '';
  const result: BenchResult = { machine, total_seconds: 0 };

  if (baseline !== undefined) {
    const kernelStages = (['collector', 'overhead'] as const).filter((s) => stages.has(s));
    if (kernelStages.length === 0) throw new Error('--baseline compares the collector and overhead stages: --only names neither');
    result.baseline = await runBaseline(baseline, kernelStages, log, teardown);
  }
  if (stages.has('collector')) {
    log(`collector: ${PLAN.stormOpens.toLocaleString('en-US')} openat+close against the Collector, then KernelSource alone`);
    result.collector = await benchCollector({ openLoadBin, stormOpens: PLAN.stormOpens }, teardown);
  }
  if (stages.has('overhead')) {
    log(`overhead: ${PLAN.overheadRounds} rounds of ${PLAN.stormOpens.toLocaleString('en-US')} openat+close with ` +
      'nothing, empty hooks, the filtered collector, the collector, opensnoop attached');
    result.overhead = await benchOverhead({ openLoadBin, stormOpens: PLAN.stormOpens, rounds: PLAN.overheadRounds, log }, teardown);
  }
  if (stages.has('evaluator')) {
    log(`evaluator: ${PLAN.evaluatorEvents.toLocaleString('en-US')} events through PolicyEngine, alternating batches with ` +
      'main\'s entrypoint alone and the first rule library');
    result.evaluator = await benchEvaluator({ events: PLAN.evaluatorEvents, log });
  }
  if (stages.has('pipeline')) {
    result.pipeline = await benchPipeline({
      openLoadBin, phases: PLAN.pipelinePhases, throughputPhase: PLAN.throughputPhase, latencyPhase: PLAN.latencyPhase, log,
    }, teardown);
    log('pipeline: stopping services and Kafka');
  }
  await teardown.run();
  result.total_seconds = (Date.now() - t0) / 1000;
  // Machine first, total last, whatever order the stages ran in: the JSON reads top-down like the table.
  const { machine: _m, total_seconds: _t, ...stageResults } = result;
  const ordered: BenchResult = { machine, ...stageResults, total_seconds: result.total_seconds };

  const table = renderTable(ordered);
  if (json) {
    process.stderr.write(table);
    process.stdout.write(toJson(ordered) + '\n');
  } else {
    process.stdout.write(table);
  }
}

const teardown = new Teardown();
let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  // once: a second Ctrl-C kills at once (the broker's watchdog still takes the JVM down with us).
  process.once(sig, () => {
    interrupted = true;
    log(`${sig}: cleaning up`);
    void teardown.run().finally(() => process.exit(130));
  });
}
run(teardown).catch(async (err: unknown) => {
  // After a signal, the phase that was running fails because its processes were killed: that is not news.
  if (interrupted) return;
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
  await teardown.run();
  process.exit(1);
});
