// The whole pipeline as deployed: a real Kafka broker on loopback and the four services, each its own process
// (collector as root, no Kubernetes API: the enricher takes container identity from cgroup names). Load comes from a
// process in a kubelet-style pod cgroup opening /etc/shadow (an alert each time, PAL-001) between benign files, at a
// fixed rate; alerts are read from palisade.alerts with a plain kafkajs consumer.
//
// Per phase:
//   latency          alert arrival (Date.now() in the consumer) − the event's kernel timestamp, per /etc/shadow open
//   carried_per_s    growth of the evaluator's palisade_evaluator_events_total (enriched events it received, the
//                    load's and every other process' on this node) from load start until the load's last alert
//                    arrived, ÷ that time: the events the pipeline carried end to end per second
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startKafka } from '../kafka/broker.js';
import { writeAlertKeys } from '../support/alert-keys.js';
import { createPodCgroup, type PodCgroup } from '../support/pod-cgroup.js';
import { scrape, startService, type ServiceProcess } from '../support/service-process.js';
import { AlertConsumer } from './alert-consumer.js';
import { CounterSampler } from './counter-sampler.js';
import { COLLECTOR_LOSS_REASONS } from './loss-reasons.js';
import { OpenLoad, opensOfPath } from './open-load.js';
import { distribution, type Distribution } from './percentiles.js';
import type { Teardown } from './teardown.js';

const STAGES = ['collector', 'enricher', 'evaluator', 'responder'] as const;
type Stage = (typeof STAGES)[number];

/** Files every container opens; none matches a rule. */
const BENIGN = ['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/etc/passwd', '/etc/os-release', '/etc/ld.so.cache'];
const ALERT_PATH = '/etc/shadow';

export interface PipelinePhase {
  name: string;
  /** Opens per second the load makes. */
  ratePerS: number;
  seconds: number;
  /** One open in this many is /etc/shadow. */
  alertEvery: number;
}

export interface PipelineBenchOptions {
  openLoadBin: string;
  phases: PipelinePhase[];
  /** The phase whose carried_per_s is reported as pipeline.events_per_s, and the one whose latency is pipeline.latency_ms. */
  throughputPhase: string;
  latencyPhase: string;
  log: (msg: string) => void;
}

export interface PhaseResult {
  name: string;
  load_opens: number;
  load_seconds: number;
  offered_per_s: number;
  alerts_expected: number;
  alerts_received: number;
  /** Load start to the arrival of the load's last alert. */
  window_seconds: number;
  events_carried: number;
  carried_per_s: number;
  latency_ms: Distribution;
  /** Events the collector dropped in the phase (kernel buffer full, decode, backpressure), from its metrics. */
  collector_lost: number;
  /** The same by reason, only those that grew. */
  collector_lost_by_reason: Record<string, number>;
  /** CPU seconds each service used in the phase (process_cpu_seconds_total). */
  cpu_s: Record<Stage, number>;
}

export interface PipelineBenchResult {
  events_per_s: number;
  latency_ms: Distribution;
  phases: PhaseResult[];
  /** Resident memory of each service after the last phase (process_resident_memory_bytes). */
  rss_mib: Record<Stage, number>;
  kafka_start_s: number;
  services_start_s: number;
  first_alert_s: number;
}

function perStage(f: (s: Stage) => number): Record<Stage, number> {
  return Object.fromEntries(STAGES.map((s) => [s, f(s)])) as Record<Stage, number>;
}

/** palisade_collector_lost_events_total by reason, real drops only (see loss-reasons.ts). */
async function collectorLosses(port: number): Promise<Record<string, number>> {
  const values = await Promise.all(COLLECTOR_LOSS_REASONS.map((reason) =>
    scrape(port, 'palisade_collector_lost_events_total', { reason })));
  return Object.fromEntries(COLLECTOR_LOSS_REASONS.map((r, i) => [r, values[i]!]));
}

async function removePod(pod: PodCgroup): Promise<void> {
  // A killed load process lingers as a zombie for a moment; the cgroup is not empty until it is reaped.
  for (let i = 0; i < 50; i++) {
    pod.remove();
    if (!existsSync(pod.dir)) return;
    await sleep(20);
  }
  throw new Error(`cgroup ${pod.dir} is still busy`);
}

/** The counters that say where events stopped, for an error message. */
async function diagnose(svc: Record<Stage, ServiceProcess>): Promise<string> {
  const metrics: [Stage, string][] = [
    ['collector', 'palisade_collector_events_total'], ['collector', 'palisade_collector_batches_total'],
    ['collector', 'palisade_collector_lost_events_total'], ['enricher', 'palisade_enricher_events_total'],
    ['evaluator', 'palisade_evaluator_events_total'], ['evaluator', 'palisade_evaluator_alerts_total'],
  ];
  const parts = await Promise.all(metrics.map(async ([stage, name]) =>
    `${name} ${await scrape(svc[stage].metricsPort, name).catch((e: unknown) => String(e))}`));
  const logs = STAGES.map((s) => `--- ${s} stderr/stdout tail ---\n${svc[s].stderr().slice(-1500)}` +
    `${svc[s].stdoutLines.slice(-10).join('\n')}`);
  return [parts.join(', '), ...logs].join('\n');
}

export async function benchPipeline(opts: PipelineBenchOptions, teardown: Teardown): Promise<PipelineBenchResult> {
  const { log } = opts;
  let t = Date.now();
  log('pipeline: starting Kafka');
  const kafka = await startKafka();
  teardown.add('Kafka broker', () => kafka.stop());
  const kafkaStartS = (Date.now() - t) / 1000;

  t = Date.now();
  log(`pipeline: starting ${STAGES.join(', ')} against ${kafka.brokers.join(',')}`);
  // No Kubernetes API, whatever this shell has configured: the bench must not touch a real cluster.
  const env = { KUBECONFIG: '', PALISADE_KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '', KUBERNETES_SERVICE_PORT: '' };
  // One after the other: two services creating the same topic at once can leave the loser subscribing before the
  // topic has a leader, which kills it ("This server does not host this topic-partition"; see the report).
  const running: ServiceProcess[] = [];
  teardown.add('services', async () => { await Promise.all(running.map((s) => s.stop())); });
  const keyDir = mkdtempSync(join(tmpdir(), 'palisade-bench-keys-'));
  teardown.add('alert keys', () => rmSync(keyDir, { recursive: true, force: true }));
  const keys = writeAlertKeys(keyDir);
  // Latency is measured per alert, so every firing must be one: alert dedup off.
  const keyArgs: Partial<Record<Stage, string[]>> = { evaluator: ['--alert-dedup-window-ms', '0', ...keys.evaluatorArgs], responder: keys.responderArgs };
  for (const s of STAGES) {
    running.push(await startService(s, `services/${s}/dist/main.js`,
      ['--kafka', kafka.brokers.join(','), '--node', 'bench', '--log-level', 'warn', ...(keyArgs[s] ?? [])], { env }));
  }
  const svc = Object.fromEntries(STAGES.map((s, i) => [s, running[i]!])) as Record<Stage, ServiceProcess>;
  const servicesStartS = (Date.now() - t) / 1000;

  const alerts = await AlertConsumer.start(kafka.brokers);
  teardown.add('alert consumer', () => alerts.stop());
  const pod = createPodCgroup();
  teardown.add('pod cgroup', () => removePod(pod));
  const carried = new CounterSampler(svc.evaluator.metricsPort, 'palisade_evaluator_events_total');
  teardown.add('counter sampler', () => carried.stop());

  const runLoad = async (count: number, ratePerS: number, paths: string[]) => {
    const load = new OpenLoad(opts.openLoadBin, { count, ratePerS, paths, cgroupDir: pod.dir });
    const kill = teardown.add('pipeline load', () => load.kill());
    const result = await load.done;
    await kill();
    return result;
  };

  // Until the first alert is out, consumer groups are still settling: that start-up is not what the phases measure.
  t = Date.now();
  log('pipeline: waiting for the first alert end to end');
  // A probe every 2 s: one lone event may fall in a gap no phase depends on (a batch before a rebalance settled).
  let through = false;
  while (!through && Date.now() - t < 60_000) {
    const probe = await runLoad(1, 0, [ALERT_PATH]);
    through = await alerts.countWhenSettled(probe.pid, 1, 2_000, 2_000) > 0;
  }
  if (!through) throw new Error(`no alert came through within 60 s; ${await diagnose(svc)}`);
  const firstAlertS = (Date.now() - t) / 1000;

  const phases: PhaseResult[] = [];
  for (const phase of opts.phases) {
    const paths = [ALERT_PATH, ...Array.from({ length: phase.alertEvery - 1 }, (_, i) => BENIGN[i % BENIGN.length]!)];
    // End on an /etc/shadow open, so the last alert marks the moment the whole load has gone through.
    let count = Math.round(phase.ratePerS * phase.seconds);
    count += (1 - (count % paths.length) + paths.length) % paths.length;
    const expected = opensOfPath(count, paths.length, 0);
    log(`pipeline: phase ${phase.name}: ${count} opens at ${phase.ratePerS}/s, ${expected} of ${ALERT_PATH}`);

    const cpuBefore = await Promise.all(STAGES.map((s) => scrape(svc[s].metricsPort, 'process_cpu_seconds_total')));
    const lostBefore = await collectorLosses(svc.collector.metricsPort);
    const startMs = Date.now();
    const v0 = await carried.sampleNow();
    const load = await runLoad(count, phase.ratePerS, paths);
    const received = await alerts.countWhenSettled(load.pid, expected, 3_000, 30_000);
    const mine = alerts.of(load.pid);
    const endMs = mine.reduce((m, a) => Math.max(m, a.receivedMs), startMs);
    const v1 = await carried.valueAt(endMs);
    const cpuAfter = await Promise.all(STAGES.map((s) => scrape(svc[s].metricsPort, 'process_cpu_seconds_total')));
    const lostAfter = await collectorLosses(svc.collector.metricsPort);
    const lost: Record<string, number> = {};
    for (const [r, v] of Object.entries(lostAfter)) if (v - (lostBefore[r] ?? 0) > 0) lost[r] = v - (lostBefore[r] ?? 0);
    const windowS = (endMs - startMs) / 1000;
    const loadS = Number(load.endNs - load.startNs) / 1e9;
    phases.push({
      name: phase.name,
      load_opens: load.opens,
      load_seconds: loadS,
      offered_per_s: load.opens / loadS,
      alerts_expected: expected,
      alerts_received: received,
      window_seconds: windowS,
      events_carried: v1 - v0,
      carried_per_s: windowS > 0 ? (v1 - v0) / windowS : Number.NaN,
      latency_ms: distribution(mine.map((a) => a.receivedMs - a.eventMs)),
      collector_lost: Object.values(lost).reduce((a, b) => a + b, 0),
      collector_lost_by_reason: lost,
      cpu_s: perStage((s) => cpuAfter[STAGES.indexOf(s)]! - cpuBefore[STAGES.indexOf(s)]!),
    });
  }

  const rss = await Promise.all(STAGES.map((s) => scrape(svc[s].metricsPort, 'process_resident_memory_bytes')));
  const byName = (name: string): PhaseResult => {
    const p = phases.find((x) => x.name === name);
    if (!p) throw new Error(`no pipeline phase named ${name}`);
    return p;
  };
  return {
    events_per_s: byName(opts.throughputPhase).carried_per_s,
    latency_ms: byName(opts.latencyPhase).latency_ms,
    phases,
    rss_mib: perStage((s) => rss[STAGES.indexOf(s)]! / 2 ** 20),
    kafka_start_s: kafkaStartS,
    services_start_s: servicesStartS,
    first_alert_s: firstAlertS,
  };
}
