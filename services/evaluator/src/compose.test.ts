// The evaluator as composed from its config (what `palisade evaluator` and embedded mode run), with --tuning: the
// real rules in OPA wasm over the in-process bus, tuned from a folder that changes while it runs.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { MemoryBus, Metrics, TOPICS, pb, silentLogger, type palisade } from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { composeEvaluator } from './compose.js';
import { loadEvaluatorConfig } from './config.js';
import { buildPolicies } from './built-policies.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HEAD = 'apiVersion: palisade.dev/v1alpha1\nkind: RuleTuning\n';
const dir = mkdtempSync(join(tmpdir(), 'palisade-compose-'));
after(() => rmSync(dir, { recursive: true, force: true }));


const POD = { namespace: 'shop', name: 'web-1', uid: 'uid-web', owner: { kind: 'Deployment', name: 'web' }, containerId: 'c1',
  image: 'registry.example.com/shop/web:1.4.2', node: 'node-a' };

let pid = 5000;
/** bash -p by nginx, euid 0 for uid 1000 (PAL-003 + PAL-006), and a connect to 4444 (PAL-004). */
function batch(): palisade.v1.IEnrichedEventBatch {
  const ev = (event: palisade.v1.IRawEvent): palisade.v1.IEnrichedEvent =>
    ({ node: 'node-a', status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED, pod: POD, event });
  return { node: 'node-a', events: [
    ev({ kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, timeUnixNano: Date.now() * 1e6,
      process: { pid: ++pid, ppid: 1, uid: 1000, euid: 0, comm: 'bash', parentComm: 'nginx', binary: '/bin/bash', cgroupId: 9 },
      exec: { filename: '/bin/bash', argv: ['bash', '-p'] } }),
    ev({ kind: pb.EventKind.EVENT_KIND_NET_CONNECT, timeUnixNano: Date.now() * 1e6,
      process: { pid: ++pid, comm: 'curl', binary: '/usr/bin/curl', cgroupId: 9 },
      netConnect: { family: pb.AddressFamily.ADDRESS_FAMILY_INET, daddr: '203.0.113.7', dport: 4444, result: 0 } }),
  ] };
}

async function start(t: TestContext, tuning: string) {
  const bus = new MemoryBus({ partitions: 1 });
  t.after(() => bus.close());
  const metrics = new Metrics();
  // Dedup off: every round repeats the same sentinel alert, which a window would fold into the first.
  const cfg = loadEvaluatorConfig({ env: {}, argv: ['--tuning', tuning, '--tuning-check-interval-ms', '100',
    '--alert-dedup-window-ms', '0'] });
  const { service, tuning: watcher } = await composeEvaluator(cfg, { bus, metrics, logger: silentLogger });
  t.after(() => watcher?.stop());
  await service.start();
  t.after(() => service.stop());
  const alerts: palisade.v1.Alert[] = [];
  await bus.consume({ groupId: 'reader', topics: [TOPICS.alerts], handler: async (b) => { alerts.push(...b.map((m) => pb.Alert.decode(m.value))); } });
  /** Publishes one batch and returns the alerts it raised, as [rule, severity name]. */
  const round = async (): Promise<string[][]> => {
    const before = alerts.length;
    const marker = pid + 1;
    await bus.producer().send(TOPICS.enriched, [{ key: POD.uid, value: pb.EnrichedEventBatch.encode(batch()).finish() }]);
    // Every round ends with the same sentinel alert: a shadow read, which no tuning here touches.
    await bus.producer().send(TOPICS.enriched, [{ key: POD.uid, value: pb.EnrichedEventBatch.encode({ node: 'node-a', events: [{
      node: 'node-a', status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED, pod: POD,
      event: { kind: pb.EventKind.EVENT_KIND_FILE_OPEN, timeUnixNano: Date.now() * 1e6,
        process: { pid: ++pid, comm: 'cat', binary: '/usr/bin/cat', cgroupId: 9 }, fileOpen: { path: '/etc/shadow', result: 3 } },
    }] }).finish() }]);
    await waitFor('the sentinel alert', () => alerts.slice(before).some((a) => a.ruleId === 'PAL-001'));
    return alerts.slice(before).filter((a) => (a.event?.event?.process?.pid ?? 0) >= marker && a.ruleId !== 'PAL-001')
      .map((a) => [a.ruleId, pb.Severity[a.severity].replace('SEVERITY_', '').toLowerCase()]);
  };
  const metric = async (name: string, labels: Record<string, string> = {}): Promise<number> => {
    const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === name);
    return m?.values.find((v) => Object.entries(labels).every(([k, want]) => v.labels[k] === want))?.value ?? 0;
  };
  return { round, metric, watcher };
}

describe('composeEvaluator with --tuning', { skip: buildPolicies() }, () => {
  test('a single file tunes the published alerts', async (t) => {
    const file = join(dir, 'tuning.yaml');
    writeFileSync(file, `${HEAD}rules:\n  PAL-004: {enabled: false}\n  PAL-006: {severity: low}\n`);
    const { round } = await start(t, file);
    assert.deepEqual(await round(), [['PAL-003', 'high'], ['PAL-006', 'low']]);
  });

  test('a folder is merged, re-applied when it changes, and a bad change keeps the previous tuning', async (t) => {
    const folder = join(dir, 'tuning.d');
    mkdirSync(folder);
    writeFileSync(join(folder, '10-off.yaml'), `${HEAD}rules:\n  PAL-004: {enabled: false}\n`);
    writeFileSync(join(folder, '20-web.yaml'),
      `${HEAD}rules:\n  PAL-003:\n    exceptions:\n      - {name: web-sudo, workload: Deployment/web, user: 1000}\n`);
    const { round, metric } = await start(t, folder);
    // The exception on PAL-003 leaves PAL-006 on the very same event alone.
    assert.deepEqual(await round(), [['PAL-006', 'medium']]);
    assert.equal(await metric('palisade_evaluator_alerts_excepted_total', { rule_id: 'PAL-003', exception: 'web-sudo' }), 1);

    // Live change: PAL-004 back on (its file removed), PAL-006 lowered.
    rmSync(join(folder, '10-off.yaml'));
    writeFileSync(join(folder, '30-sev.json'), JSON.stringify({ apiVersion: 'palisade.dev/v1alpha1', kind: 'RuleTuning',
      rules: { 'PAL-006': { severity: 'low' } } }));
    await waitFor('the new tuning', () => metric('palisade_evaluator_tuning_reloads_total'));
    await waitFor('the folder settles', async () => (await metric('palisade_evaluator_tuning_reloads_total')) >= 1 &&
      JSON.stringify(await round()) === JSON.stringify([['PAL-006', 'low'], ['PAL-004', 'medium']]));

    // A bad file: refused, counted, and the tuning in force stays.
    writeFileSync(join(folder, '40-bad.yaml'), `${HEAD}rules:\n  PAL-999: {enabled: false}\n`);
    await waitFor('the refusal counted', async () => (await metric('palisade_evaluator_tuning_reload_errors_total')) === 1);
    assert.deepEqual(await round(), [['PAL-006', 'low'], ['PAL-004', 'medium']]);
  });

  test('a tuning that does not load stops the start as a config error', async () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, `${HEAD}rules:\n  PAL-002: {enabled: maybe}\n`);
    const cfg = loadEvaluatorConfig({ env: {}, argv: ['--tuning', file] });
    await assert.rejects(composeEvaluator(cfg, { bus: new MemoryBus(), metrics: new Metrics(), logger: silentLogger }),
      (err: unknown) => (err as { code?: string }).code === 'CONFIG_INVALID' && /rules\.PAL-002\.enabled: must be true or false/.test(String(err)));
  });
});
