// The fault drills' harness: the real pipeline as four processes on a real broker, the real API server (the run's
// shared one) behind the fault proxy, pods that are real cgroups, and a user's consumer on the alerts and actions
// topics. The enricher and the responder each run as a ServiceAccount of their own with only the calls they make. A drill offers a known set of
// alertable events (opens of /etc/sudoers.d/drill-<tag>-<i> from processes in its pods, so every alert names the open
// that caused it), breaks something while they flow, and then counts:
//   offered      opens made, with the wall time of each
//   alerts       records on palisade.alerts for them, distinct by path (redeliveries are allowed, loss is not)
//   audit        ActionRecords on palisade.actions: every distinct alert id must have one
//   kube writes  requests through the proxy that the server stored (2xx PATCH/POST/PUT, answered or not), per object
// Stages run under a supervisor that restarts a process that exits on its own, as the kubelet would, and counts it:
// a crash loop shows as restarts.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Kafka, logLevel, type Consumer } from 'kafkajs';
import { TOPICS, pb, type palisade } from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { startKafka, type RunningKafka } from '../kafka/broker.js';
import { writeAlertKeys, type AlertKeyFiles } from '../support/alert-keys.js';
import { sharedKubeCluster, uniqueNamespace, type KubeCluster } from '../support/kube-cluster.js';
import { startFaultProxy, type FaultProxy, type RequestRecord } from '../support/kube-fault-proxy.js';
import { getPod } from '../support/kube-pods.js';
import type { PodCgroup } from '../support/pod-cgroup.js';
import { workloadPodInCgroup } from '../support/pod-fixture.js';
import { stageToken } from '../support/stage-rbac.js';
import { REPO_ROOT, scrape, startService, type ServiceProcess } from '../support/service-process.js';

export const STAGES = ['responder', 'evaluator', 'enricher', 'collector'] as const;
export type Stage = (typeof STAGES)[number];

/** The node the drill's collector and enricher are on; unique, as the shared server holds other suites' pods. */
const NODE = uniqueNamespace('drill-node');
const OPEN_PATHS = join(REPO_ROOT, 'test/dist/faults/open-paths.js');
const PATH_ROOT = '/etc/sudoers.d/drill-';

export interface DrillPod {
  cgroup: PodCgroup;
  namespace: string;
  name: string;
  uid: string;
}

/** One stream of opens from one pod. */
export interface Offer {
  pod: DrillPod;
  prefix: string;
  count: number;
  /** Resolves with the wall time (ms) of each open once the stream is over. */
  done: Promise<number[]>;
}

export interface VisibilityGap {
  instanceId: string;
  fromMs: number;
  toMs: number;
}

export interface StageRun {
  svc: ServiceProcess;
  /** Set while the drill itself kills the process, so the supervisor does not count it. */
  expectedExit: boolean;
}

export interface DrillCounts {
  offered: number;
  alertRecords: number;
  distinctAlerts: number;
  lost: number;
  /** Offered opens without an alert, by index per prefix. */
  missing: { prefix: string; index: number; atMs: number }[];
  auditRecords: number;
  alertsWithoutAudit: number;
  outcomes: Record<string, number>;
  /** Per pod: stored label patches; per namespace: stored NetworkPolicy creates/replaces. */
  podPatches: Record<string, number>;
  policyWrites: Record<string, number>;
  /**
   * Write requests the server answered (stored or refused, e.g. a create that got 409 AlreadyExists), per pod and
   * per namespace: more than the stored writes means a write was attempted on what was already there.
   */
  podWriteRequests: Record<string, number>;
  policyWriteRequests: Record<string, number>;
  /** Every write request that reached the proxy (injected faults included), for the report. */
  writeRequests: number;
  quarantined: Record<string, boolean>;
  restarts: Record<string, number>;
}

export class Drill {
  broker!: RunningKafka;
  kube!: KubeCluster;
  /** Between the stages and the server: the brownout arms its faults here, and its log counts the writes. */
  proxy!: FaultProxy;
  readonly dir: string;
  readonly stateDir: string;
  readonly stages = new Map<Stage, StageRun>();
  readonly restarts: Record<string, number> = {};
  readonly alerts: palisade.v1.Alert[] = [];
  readonly actions: palisade.v1.ActionRecord[] = [];
  private consumer: Consumer | undefined;
  private readonly pods: DrillPod[] = [];
  private stopping = false;
  /** The evaluator signs alerts with this key pair and the responder trusts only it, as in a deployment. */
  private readonly keys: AlertKeyFiles;

  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'palisade-drill-'));
    this.stateDir = join(this.dir, 'collector-state');
    mkdirSync(this.stateDir);
    this.keys = writeAlertKeys(this.dir);
  }

  async start(): Promise<void> {
    this.broker = await startKafka();
    this.kube = await sharedKubeCluster();
    this.proxy = await startFaultProxy(this.kube);
    const palisadeNs = uniqueNamespace('palisade');
    for (const stage of ['enricher', 'responder'] as const) {
      this.proxy.writeKubeconfig(this.kubeconfigOf(stage), { token: await stageToken(this.kube, palisadeNs, [stage]) });
    }
    // Consumers before producers: the stages create the topics they use.
    for (const stage of STAGES) await this.startStage(stage);
    const kafka = new Kafka({ brokers: this.broker.brokers, clientId: 'drill-user', logLevel: logLevel.NOTHING,
      retry: { retries: 30, initialRetryTime: 300, maxRetryTime: 5_000 } });
    this.consumer = kafka.consumer({ groupId: 'drill-user', maxWaitTimeInMs: 200 });
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: [TOPICS.alerts, TOPICS.actions], fromBeginning: true });
    await this.consumer.run({
      eachMessage: async ({ topic, message }) => {
        const v = message.value ?? Buffer.alloc(0);
        try {
          if (topic === TOPICS.alerts) this.alerts.push(pb.Alert.decode(v));
          else this.actions.push(pb.ActionRecord.decode(v));
        } catch {
          // nothing here writes garbage; a record that does not decode is simply not counted
        }
      },
    });
  }

  private kubeconfigOf(stage: 'enricher' | 'responder'): string {
    return join(this.dir, `kubeconfig-${stage}`);
  }

  private args(stage: Stage): string[] {
    const common = ['--kafka', this.broker.brokers.join(','), '--log-level', 'warn'];
    switch (stage) {
      case 'responder':
        return [...common, '--kubeconfig', this.kubeconfigOf('responder'), '--dry-run=false', '--max-actions-per-minute', '100000',
          '--kube-request-timeout-ms', '2000', '--kube-attempts', '4', ...this.keys.responderArgs];
      case 'evaluator':
        // Every open must give its own alert here (the drills count them), so alert dedup is off.
        return [...common, '--alert-dedup-window-ms', '0', ...this.keys.evaluatorArgs];
      case 'enricher':
        return [...common, '--kubeconfig', this.kubeconfigOf('enricher'), '--node', NODE];
      case 'collector':
        return [...common, '--node', NODE, '--state-dir', this.stateDir];
    }
  }

  async startStage(stage: Stage): Promise<StageRun> {
    const svc = await startService(stage, `services/${stage}/dist/main.js`, this.args(stage), { readyTimeoutMs: 120_000 });
    const run: StageRun = { svc, expectedExit: false };
    this.stages.set(stage, run);
    svc.child.once('exit', () => {
      if (run.expectedExit || this.stopping || this.stages.get(stage) !== run) return;
      // Exited on its own: restart it as the kubelet would (after a short back-off), and count it.
      this.restarts[stage] = (this.restarts[stage] ?? 0) + 1;
      setTimeout(() => {
        if (this.stopping || this.stages.get(stage) !== run) return;
        this.startStage(stage).catch(() => undefined);
      }, 1_000);
    });
    return run;
  }

  /** kill -9 the stage's process and wait until it is gone. */
  async kill9(stage: Stage): Promise<void> {
    const run = this.stages.get(stage);
    if (!run) throw new Error(`no ${stage} runs`);
    run.expectedExit = true;
    const child = run.svc.child;
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await gone;
    }
  }

  async restart(stage: Stage): Promise<StageRun> {
    return this.startStage(stage);
  }

  /** The stage's current process, once it answers /readyz (after a supervisor restart too). */
  async running(stage: Stage): Promise<ServiceProcess> {
    return waitFor(`${stage} to run`, async () => {
      const run = this.stages.get(stage);
      if (!run || run.svc.child.exitCode !== null || run.svc.child.signalCode !== null) return undefined;
      return (await fetch(`http://127.0.0.1:${run.svc.metricsPort}/readyz`)).status === 200 ? run.svc : undefined;
    }, { timeoutMs: 120_000, intervalMs: 250 });
  }

  /**
   * A Deployment's pods in a namespace of their own (unique: a deleted namespace stays Terminating on this server),
   * on the server before any event of theirs, each with the cgroup its events come from.
   */
  async addPods(prefix: string, n: number): Promise<DrillPod[]> {
    const namespace = uniqueNamespace(prefix);
    const out: DrillPod[] = [];
    for (let i = 0; i < n; i++) {
      const wp = await workloadPodInCgroup(this.kube, { namespace, deployment: 'web', node: NODE });
      const pod = { cgroup: wp.cgroup, namespace, name: wp.name, uid: wp.uid };
      out.push(pod);
      this.pods.push(pod);
    }
    return out;
  }

  /** Starts `count` opens from the pod, one every intervalMs. */
  offer(pod: DrillPod, tag: string, count: number, intervalMs: number): Offer {
    const prefix = `${PATH_ROOT}${tag}-${pod.name}-`;
    const done = pod.cgroup.run([process.execPath, OPEN_PATHS, prefix, String(count), String(intervalMs)]).then((r) => {
      if (r.code !== 0) throw new Error(`open-paths exited ${r.code}: ${r.stderr}`);
      return JSON.parse(r.stdout) as number[];
    });
    return { pod, prefix, count, done };
  }

  /** Alerts for this offer's opens (all records, redeliveries included). */
  alertsFor(offers: readonly Offer[]): palisade.v1.Alert[] {
    return this.alerts.filter((a) => {
      const path = a.event?.event?.fileOpen?.path ?? '';
      return a.ruleId === 'PAL-001' && offers.some((o) => path.startsWith(o.prefix));
    });
  }

  /** Distinct alerted open indexes per offer. */
  private alerted(offers: readonly Offer[]): Map<string, Set<number>> {
    const seen = new Map<string, Set<number>>(offers.map((o) => [o.prefix, new Set<number>()]));
    for (const a of this.alertsFor(offers)) {
      const path = a.event?.event?.fileOpen?.path ?? '';
      const o = offers.find((x) => path.startsWith(x.prefix));
      if (o) seen.get(o.prefix)?.add(Number(path.slice(o.prefix.length)));
    }
    return seen;
  }

  /**
   * What the stages counted, for a drill's report when something is missing: the collector's losses (all reasons,
   * since its current start) and the events the enricher and evaluator handled.
   */
  async stageCounters(): Promise<{ collectorLost: number; enricherEvents: number; evaluatorEvents: number }> {
    const get = async (stage: Stage, name: string): Promise<number> => {
      const run = this.stages.get(stage);
      return run ? scrape(run.svc.metricsPort, name).catch(() => NaN) : NaN;
    };
    return {
      collectorLost: await get('collector', 'palisade_collector_lost_events_total'),
      enricherEvents: await get('enricher', 'palisade_enricher_events_total'),
      evaluatorEvents: await get('evaluator', 'palisade_evaluator_events_total'),
    };
  }

  /** Waits until at least `fraction` of the offered opens have an alert: the pipeline is mid-stream. */
  async waitAlerted(offers: readonly Offer[], fraction: number, timeoutMs = 120_000): Promise<void> {
    const total = offers.reduce((n, o) => n + o.count, 0);
    await waitFor(`${Math.round(fraction * 100)} % of ${total} opens alerted`, () => {
      let n = 0;
      for (const s of this.alerted(offers).values()) n += s.size;
      return n >= fraction * total;
    }, { timeoutMs, intervalMs: 100 });
  }

  /** Waits until every open has an alert and every alert an action record, or the deadline; then counts. */
  async settle(offers: readonly Offer[], timeoutMs = 90_000, allowMissing = (_m: DrillCounts['missing'][number]) => false): Promise<DrillCounts> {
    const times = await Promise.all(offers.map((o) => o.done));
    const total = offers.reduce((n, o) => n + o.count, 0);
    await waitFor('every open alerted (or excused) and every alert audited', async () => {
      const c = await this.count(offers, times);
      return c.missing.every(allowMissing) && c.alertsWithoutAudit === 0 && c.distinctAlerts + c.missing.length === total;
    }, { timeoutMs, intervalMs: 250 }).catch(() => undefined);
    return this.count(offers, times);
  }

  async count(offers: readonly Offer[], times: number[][]): Promise<DrillCounts> {
    const alerts = this.alertsFor(offers);
    const alerted = this.alerted(offers);
    const missing: DrillCounts['missing'] = [];
    offers.forEach((o, k) => {
      const seen = alerted.get(o.prefix) ?? new Set<number>();
      for (let i = 0; i < o.count; i++) if (!seen.has(i)) missing.push({ prefix: o.prefix, index: i, atMs: times[k]?.[i] ?? 0 });
    });
    const ids = new Set(alerts.map((a) => a.id));
    const audited = new Set(this.actions.filter((r) => ids.has(r.alertId)).map((r) => r.alertId));
    const records = this.actions.filter((r) => ids.has(r.alertId));
    const outcomes: Record<string, number> = {};
    for (const r of records) {
      const k = (pb.ActionOutcome[r.outcome] ?? String(r.outcome)).replace('ACTION_OUTCOME_', '').toLowerCase();
      outcomes[k] = (outcomes[k] ?? 0) + 1;
    }
    const pods = [...new Map(offers.map((o) => [o.pod.uid, o.pod])).values()];
    const namespaces = [...new Set(pods.map((p) => p.namespace))];
    // A withheld answer (a hang after the write) was the server's; the client got nothing.
    const stored = (r: RequestRecord): boolean => {
      const code = r.withheld === true ? (r.upstreamStatus ?? 0) : r.injected ? 0 : r.status;
      return code >= 200 && code < 300;
    };
    const answered = (r: RequestRecord): boolean => !r.injected || r.withheld === true;
    const requests = this.proxy.requests;
    const podPatches: Record<string, number> = {};
    const podWriteRequests: Record<string, number> = {};
    const quarantined: Record<string, boolean> = {};
    for (const p of pods) {
      const path = `/api/v1/namespaces/${p.namespace}/pods/${p.name}`;
      podPatches[p.name] = requests.filter((r) => r.method === 'PATCH' && r.path === path && stored(r)).length;
      podWriteRequests[p.name] = requests.filter((r) => r.method === 'PATCH' && r.path === path && answered(r)).length;
      const meta = (await getPod(this.kube, p.namespace, p.name))?.['metadata'] as { labels?: Record<string, string> } | undefined;
      quarantined[p.name] = meta?.labels?.['quarantined'] === 'true';
    }
    const policyWrites: Record<string, number> = {};
    const policyWriteRequests: Record<string, number> = {};
    for (const ns of namespaces) {
      const base = `/apis/networking.k8s.io/v1/namespaces/${ns}/networkpolicies`;
      const writes = requests.filter((r) => (r.method === 'POST' || r.method === 'PUT') && r.path.startsWith(base));
      policyWrites[ns] = writes.filter(stored).length;
      policyWriteRequests[ns] = writes.filter(answered).length;
    }
    const nsSet = new Set(namespaces);
    const writeRequests = requests.filter((r) => r.method !== 'GET' &&
      [...nsSet].some((ns) => r.path.includes(`/namespaces/${ns}/`))).length;
    return {
      offered: offers.reduce((n, o) => n + o.count, 0),
      alertRecords: alerts.length,
      distinctAlerts: [...alerted.values()].reduce((n, s) => n + s.size, 0),
      lost: missing.length,
      missing,
      auditRecords: records.length,
      alertsWithoutAudit: ids.size - audited.size,
      outcomes,
      podPatches,
      policyWrites,
      podWriteRequests,
      policyWriteRequests,
      writeRequests,
      quarantined,
      restarts: { ...this.restarts },
    };
  }

  /**
   * The visibility_gap LossRecords on the raw topic from records written since sinceMs: what a restarted collector
   * says it did not see. Read with a consumer of its own from the offsets of that moment.
   */
  async visibilityGaps(sinceMs: number, want: (g: VisibilityGap) => boolean): Promise<VisibilityGap[]> {
    const kafka = new Kafka({ brokers: this.broker.brokers, clientId: 'drill-gaps', logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsetsByTimestamp(TOPICS.raw, sinceMs);
    await admin.disconnect();
    const gaps: VisibilityGap[] = [];
    const consumer = kafka.consumer({ groupId: `drill-gaps-${sinceMs}`, maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topics: [TOPICS.raw], fromBeginning: false });
    await consumer.run({
      eachMessage: async ({ message }) => {
        try {
          const b = pb.RawEventBatch.decode(message.value ?? Buffer.alloc(0));
          for (const l of b.losses) {
            if (l.source !== 'visibility_gap') continue;
            gaps.push({ instanceId: b.instanceId, fromMs: Number(l.fromUnixNano) / 1e6, toMs: Number(l.toUnixNano) / 1e6 });
          }
        } catch {
          // not a batch: not ours to judge here
        }
      },
    });
    for (const o of offsets) consumer.seek({ topic: TOPICS.raw, partition: o.partition, offset: o.offset });
    try {
      await waitFor('the restarted collector\'s visibility_gap record', () => gaps.some(want), { timeoutMs: 60_000, intervalMs: 200 });
    } finally {
      await consumer.disconnect().catch(() => undefined);
    }
    return gaps;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.consumer?.disconnect().catch(() => undefined);
    for (const stage of [...STAGES].reverse()) {
      const run = this.stages.get(stage);
      if (run) await run.svc.stop().catch(() => undefined);
    }
    for (const p of this.pods) p.cgroup.remove();
    await this.proxy?.stop();
    await this.broker?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** One line a drill prints for the report: `drill: {json}`. */
export function report(name: string, c: DrillCounts, extra: Record<string, unknown> = {}): void {
  const { missing, ...rest } = c;
  process.stdout.write(`drill: ${JSON.stringify({ drill: name, ...rest, missingSample: missing.slice(0, 5), ...extra })}\n`);
}
