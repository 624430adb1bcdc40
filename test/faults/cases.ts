// The fault drills' cases, one function per drill, run by the test files in this folder (one broker and pipeline per
// file, so that each file stays within the test runner's per-file timeout). Each offers a known set of alertable opens,
// breaks one thing mid-stream, and asserts: no open without its alert (or, for the collector, without a
// visibility_gap record covering it), every alert audited on palisade.actions, and no Kubernetes object written twice.
// Each prints one `drill: {...}` line with its counts (test/README.md shows them).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { skipUnless } from '@palisade/common/testing';
import { kafkaUnavailableReason } from '../kafka/broker.js';
import { kubeUnavailableReason } from '../support/kube-cluster.js';
import { canUseKernel } from '../support/pod-cgroup.js';
import { Drill, report, type DrillCounts, type DrillPod, type Offer, type Stage } from './drill.js';

const kernel = canUseKernel();
const kafkaMissing = kafkaUnavailableReason();
const kubeMissing = kubeUnavailableReason();
/** The skip option of every drill: they need root (cgroups, BPF), Kafka and the API server. */
export const skip = skipUnless(kernel.ok, kernel.why) || skipUnless(kafkaMissing === undefined, `needs Kafka: ${kafkaMissing ?? ''}`) ||
  skipUnless(kubeMissing === undefined, kubeMissing ?? '');

// Per pod: 1,200 opens 10 ms apart, 12 s of stream; two pods per drill. Long enough that the kill, made once 5 % are
// alerted, comes while the opens still flow even when the machine is busy and the pipeline seconds behind.
const OPENS = 1_200;
const INTERVAL_MS = 10;

/** One pipeline for the file: started before its tests, stopped after. */
export function useDrill(): () => Drill {
  let drill: Drill | undefined;
  before(async () => {
    if (skip) return;
    drill = new Drill();
    await drill.start();
  });
  after(async () => {
    await drill?.stop();
  });
  return () => {
    assert.ok(drill, 'the drill pipeline did not start');
    return drill;
  };
}

function assertNoDuplicateWrites(c: DrillCounts, opts: { exactRequests: boolean }): void {
  for (const [pod, n] of Object.entries(c.podPatches)) assert.ok(n <= 1, `pod ${pod} was patched ${n} times`);
  for (const [ns, n] of Object.entries(c.policyWrites)) assert.ok(n <= 1, `the NetworkPolicy in ${ns} was written ${n} times`);
  for (const [pod, q] of Object.entries(c.quarantined)) assert.ok(q, `pod ${pod} is not quarantined`);
  for (const [ns, n] of Object.entries(c.policyWrites)) assert.equal(n, 1, `no NetworkPolicy in ${ns}`);
  if (!opts.exactRequests) return;
  // Without injected faults, not even a refused write (a create answered 409 AlreadyExists) may be attempted again.
  for (const [pod, n] of Object.entries(c.podWriteRequests)) assert.equal(n, 1, `pod ${pod}: ${n} patch requests`);
  for (const [ns, n] of Object.entries(c.policyWriteRequests)) assert.equal(n, 1, `${ns}: ${n} NetworkPolicy write requests`);
}

/**
 * No open without its alert. The one excuse is a loss the collector counted (its kernel ring overflowing when another
 * process on a shared machine floods it: counted in-band, never silent), and only as many as it counted while the
 * drill ran; the report names them.
 */
function assertComplete(c: DrillCounts, collectorCounted = 0): void {
  const excused = Math.min(c.lost, Math.max(0, collectorCounted));
  assert.equal(c.lost - excused, 0, `${c.lost} of ${c.offered} opens have no alert (the collector counted ${collectorCounted} ` +
    `lost meanwhile), e.g. ${JSON.stringify(c.missing.slice(0, 3))}`);
  assert.equal(c.distinctAlerts + excused, c.offered);
  assert.equal(c.alertsWithoutAudit, 0, `${c.alertsWithoutAudit} alerts have no action record`);
  assert.ok((c.outcomes['done'] ?? 0) >= 1, `no done action: ${JSON.stringify(c.outcomes)}`);
}

/** Two pods of their own, each offering OPENS opens. */
export async function offerAll(d: Drill, tag: string, pods?: readonly DrillPod[]): Promise<Offer[]> {
  return (pods ?? await d.addPods(`drill-${tag}`, 2)).map((p) => d.offer(p, tag, OPENS, INTERVAL_MS));
}

/** kill -9 a consuming stage mid-stream and restart it: no alert lost, every alert audited, no write twice. */
export async function killStage(drill: Drill, stage: Exclude<Stage, 'collector'>): Promise<void> {
    const before = await drill.stageCounters();
    const offers = await offerAll(drill, stage);
    await drill.waitAlerted(offers, 0.05);
    const killedAt = Date.now();
    const alertedAtKill = (await drill.count(offers, [])).distinctAlerts;
    await drill.kill9(stage);
    await drill.restart(stage);
    const restartedMs = Date.now() - killedAt;
    const c = await drill.settle(offers);
    const lastOpen = Math.max(...(await Promise.all(offers.map((o) => o.done))).map((t) => t.at(-1) ?? 0));
    const counted = (await drill.stageCounters()).collectorLost - before.collectorLost;
    report(`kill9-${stage}`, c, { restartedMs, alertedAtKill, killedBeforeLastOpenMs: lastOpen - killedAt, collectorCountedLost: counted });
    // Mid-stream: most of the drill's alerts were still to come when the stage died (on a busy machine the opens may
    // all have been made by then, the pipeline seconds behind them; what matters is what was in flight).
    assert.ok(alertedAtKill < c.offered / 2, `${alertedAtKill} of ${c.offered} were alerted before the kill: not mid-stream`);
    assertComplete(c, counted);
    assertNoDuplicateWrites(c, { exactRequests: true });
    assert.equal(c.restarts[stage] ?? 0, 0, `the ${stage} exited on its own after the restart`);
}

/** kill -9 the collector mid-stream and restart it: every open is alerted or inside the visibility gap it reports. */
export async function killCollector(drill: Drill): Promise<void> {
  const offers = await offerAll(drill, 'collector');
  await drill.waitAlerted(offers, 0.05);
  const killedAt = Date.now();
  await drill.kill9('collector');
  await drill.restart('collector');
  const gaps = await drill.visibilityGaps(killedAt - 10_000, (g) => g.toMs >= killedAt);
  const gap = gaps.find((g) => g.toMs >= killedAt);
  assert.ok(gap, `no visibility_gap after the kill: ${JSON.stringify(gaps)}`);
  const inGap = (m: { atMs: number }): boolean => m.atMs >= gap.fromMs && m.atMs <= gap.toMs;
  const c = await drill.settle(offers, 90_000, inGap);
  report('kill9-collector', c, { gap: { ...gap, seconds: (gap.toMs - gap.fromMs) / 1000 }, killedAtMs: killedAt,
    missingOutsideGap: c.missing.filter((m) => !inGap(m)).length });
  const outside = c.missing.filter((m) => !inGap(m));
  assert.deepEqual(outside.slice(0, 5), [], `${outside.length} opens lost outside the reported gap ` +
    `[${gap.fromMs}, ${gap.toMs}]`);
  assert.ok(c.distinctAlerts > 0);
  assert.equal(c.alertsWithoutAudit, 0, `${c.alertsWithoutAudit} alerts have no action record`);
  assertNoDuplicateWrites(c, { exactRequests: true });
}

/** kill -9 the broker mid-stream and restart it on the same data: no alert lost, no write twice. */
export async function killBroker(drill: Drill): Promise<void> {
  const before = await drill.stageCounters();
  const offers = await offerAll(drill, 'broker');
  await drill.waitAlerted(offers, 0.05);
  const killedAt = Date.now();
  await drill.broker.kill9();
  await drill.broker.restart();
  const backMs = Date.now() - killedAt;
  const c = await drill.settle(offers, 120_000);
  // A collector that exited meanwhile (a restart) starts counting from zero: then nothing is excused.
  const counted = drill.restarts['collector'] ? 0 : (await drill.stageCounters()).collectorLost - before.collectorLost;
  report('kill9-broker', c, { brokerBackMs: backMs, collectorCountedLost: counted });
  assertComplete(c, counted);
  assertNoDuplicateWrites(c, { exactRequests: false });
}

/** A Kubernetes API brownout (500s, hangs, answers lost after the write) while the responder acts. */
export async function kubeBrownout(drill: Drill): Promise<void> {
  const before = await drill.stageCounters();
  const proxy = drill.proxy;
  const pods = await drill.addPods('drill-brownout', 2);
  const ns = pods[0]!.namespace;
  // In the order the responder meets them. Every hang costs one request deadline (2 s here).
  proxy.failNext({ method: 'GET', pathIncludes: `/namespaces/${ns}/pods/`, watch: false, status: 'hang', count: 2 });
  proxy.failNext({ method: 'PATCH', pathIncludes: `/namespaces/${ns}/pods/`, status: 500, count: 5 });
  proxy.failNext({ method: 'PATCH', pathIncludes: `/namespaces/${ns}/pods/`, status: 'hang', apply: true, count: 1 });
  proxy.failNext({ method: 'GET', pathIncludes: `/namespaces/${ns}/networkpolicies`, status: 'hang', count: 1 });
  proxy.failNext({ method: 'POST', pathIncludes: `/namespaces/${ns}/networkpolicies`, status: 503, count: 2 });
  proxy.failNext({ method: 'POST', pathIncludes: `/namespaces/${ns}/networkpolicies`, status: 'hang', apply: true, count: 1 });
  const offers = await offerAll(drill, 'brownout', pods);
  const c = await drill.settle(offers);
  const injected = proxy.requests.filter((r) => r.injected && r.path.includes(`/namespaces/${ns}/`)).length;
  const counted = (await drill.stageCounters()).collectorLost - before.collectorLost;
  report('kube-brownout', c, { injectedFaults: injected, collectorCountedLost: counted });
  assertComplete(c, counted);
  assert.equal(injected, 12, 'not every injected fault was met');
  assert.ok((c.outcomes['failed'] ?? 0) >= 1, `the brownout failed no action: ${JSON.stringify(c.outcomes)}`);
  assertNoDuplicateWrites(c, { exactRequests: false });
  assert.equal(drill.restarts['responder'] ?? 0, 0, 'the responder exited during the brownout');
}
