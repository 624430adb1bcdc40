import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pb, type palisade } from '@palisade/common';
import { BacktestReportBuilder, MAX_WORKLOADS_PER_RULE, OTHER_WORKLOADS, rulesTable, workloadOf } from './backtest-report.js';
import { parseTimeArg, partitionRanges } from './backtest.js';

function alert(ruleId: string, pid: number, opts: { ns?: string; owner?: string; kind?: string; message?: string;
  severity?: palisade.v1.Severity; node?: string } = {}): palisade.v1.IAlert {
  const node = opts.node ?? 'node-1';
  return {
    id: `${ruleId}:${node}:${pid}:1000`, ruleId, title: ruleId, message: opts.message ?? `${ruleId} fired for ${pid}`,
    severity: opts.severity ?? pb.Severity.SEVERITY_HIGH, actions: ['quarantine'],
    event: {
      node,
      ...(opts.ns !== undefined && { pod: { namespace: opts.ns, name: `${opts.owner ?? 'x'}-abc`, owner: { kind: opts.kind ?? 'Deployment', name: opts.owner ?? 'x' } } }),
      event: { process: { pid } },
    },
  };
}

const rules = (...ids: string[]) => ids.map((id) => ({ id, title: `title ${id}`, severity: 'high' }));

test('per rule: counts, new / gone / changed against the current rules, matched by alert id', () => {
  const b = new BacktestReportBuilder(rules('PAL-001', 'PAL-003', 'PAL-900'), rules('PAL-001', 'PAL-003', 'PAL-004'));
  // batch 1: PAL-001 the same on both sides, PAL-900 only in the candidate, PAL-004 only in the current rules
  b.add([alert('PAL-001', 1, { ns: 'shop', owner: 'web' }), alert('PAL-900', 2, { ns: 'shop', owner: 'web' })],
    [alert('PAL-001', 1, { ns: 'shop', owner: 'web' }), alert('PAL-004', 3, { ns: 'shop', owner: 'web' })]);
  // batch 2: PAL-003 with another severity (changed) and another message (changed); PAL-900 on another workload
  b.add([alert('PAL-003', 4, { ns: 'batch', owner: 'etl', kind: 'Job', severity: pb.Severity.SEVERITY_CRITICAL }),
    alert('PAL-003', 5, { ns: 'batch', owner: 'etl', kind: 'Job', message: 'other' }), alert('PAL-900', 6, { ns: 'shop', owner: 'web' }),
    alert('PAL-900', 7)],
  [alert('PAL-003', 4, { ns: 'batch', owner: 'etl', kind: 'Job' }), alert('PAL-003', 5, { ns: 'batch', owner: 'etl', kind: 'Job' })]);
  const byId = Object.fromEntries(b.rules().map((r) => [r.ruleId, r]));
  assert.deepEqual(b.rules().map((r) => r.ruleId), ['PAL-001', 'PAL-003', 'PAL-900', 'PAL-004'], 'candidate rules first, then removed ones');
  assert.deepEqual({ ...byId['PAL-001'], workloads: undefined }, { ruleId: 'PAL-001', title: 'title PAL-001', severity: 'high',
    inCandidate: true, inCurrent: true, candidate: 1, current: 1, new: 0, gone: 0, changed: 0, workloads: undefined, workloadsDistinct: 1 });
  assert.deepEqual([byId['PAL-003']?.candidate, byId['PAL-003']?.current, byId['PAL-003']?.new, byId['PAL-003']?.gone,
    byId['PAL-003']?.changed], [2, 2, 0, 0, 2]);
  assert.deepEqual([byId['PAL-900']?.candidate, byId['PAL-900']?.current, byId['PAL-900']?.new, byId['PAL-900']?.gone,
    byId['PAL-900']?.inCurrent], [3, 0, 3, 0, false]);
  assert.deepEqual(byId['PAL-900']?.workloads, [{ workload: 'shop/Deployment/web', count: 2 }, { workload: 'node node-1 (no pod)', count: 1 }]);
  assert.deepEqual([byId['PAL-004']?.candidate, byId['PAL-004']?.current, byId['PAL-004']?.gone, byId['PAL-004']?.inCandidate,
    byId['PAL-004']?.workloads], [0, 1, 1, false, []]);
});

test('an alert id seen in another batch does not match: the diff is per batch of the same events', () => {
  const b = new BacktestReportBuilder(rules('PAL-001'), rules('PAL-001'));
  b.add([alert('PAL-001', 1)], []);
  b.add([], [alert('PAL-001', 1)]);
  const [r] = b.rules();
  assert.deepEqual([r?.new, r?.gone], [1, 1]);
});

test('rules that never fired are listed with zeros; top N caps the workloads and says how many there were', () => {
  const b = new BacktestReportBuilder(rules('PAL-001', 'PAL-002'), rules('PAL-001'));
  for (let i = 0; i < 7; i++) b.add(Array.from({ length: i + 1 }, (_, j) => alert('PAL-001', i * 100 + j, { ns: `ns${i}`, owner: 'w' })), []);
  const [one, two] = b.rules(3);
  assert.deepEqual(one?.workloads.map((w) => w.workload), ['ns6/Deployment/w', 'ns5/Deployment/w', 'ns4/Deployment/w']);
  assert.equal(one?.workloadsDistinct, 7);
  assert.deepEqual([two?.ruleId, two?.candidate, two?.current, two?.inCurrent], ['PAL-002', 0, 0, false]);
  const table = rulesTable(b.rules(3));
  assert.match(table, /^rule\s+severity\s+candidate\s+current\s+new\s+gone\s+changed\s+top workloads$/m);
  assert.match(table, /^PAL-001\s+high\s+28\s+0\s+28\s+0\s+0\s+ns6\/Deployment\/w 7, ns5\/Deployment\/w 6, ns4\/Deployment\/w 5 \(\+4 more\)$/m);
  assert.match(table, /^PAL-002 \(added\)\s+high\s+0\s+0\s+0\s+0\s+0$/m);
});

test('distinct workloads per rule are bounded; the rest are counted together', () => {
  const b = new BacktestReportBuilder(rules('PAL-001'), []);
  const n = MAX_WORKLOADS_PER_RULE + 5;
  b.add(Array.from({ length: n }, (_, i) => alert('PAL-001', i, { ns: `ns${i}`, owner: 'w' })), []);
  const [r] = b.rules(1);
  assert.equal(r?.candidate, n);
  assert.equal(r?.workloadsDistinct, MAX_WORKLOADS_PER_RULE + 1);
  assert.deepEqual(r?.workloads, [{ workload: OTHER_WORKLOADS, count: 5 }]);
});

test('workload names: namespace/kind/name, the pod itself without an owner, the node without a pod', () => {
  assert.equal(workloadOf({ pod: { namespace: 'a', name: 'p', owner: { kind: 'DaemonSet', name: 'ds' } } }), 'a/DaemonSet/ds');
  assert.equal(workloadOf({ pod: { namespace: 'a', name: 'p' } }), 'a/Pod/p');
  assert.equal(workloadOf({ node: 'n1' }), 'node n1 (no pod)');
});

test('--since and --until: durations before now and ISO times; anything else is a config error', () => {
  const now = Date.parse('2026-12-02T12:00:00Z');
  assert.equal(parseTimeArg('--since', '6h', now), now - 6 * 3_600_000);
  assert.equal(parseTimeArg('--since', '90m', now), now - 90 * 60_000);
  assert.equal(parseTimeArg('--since', '2d', now), now - 2 * 86_400_000);
  assert.equal(parseTimeArg('--until', '2026-12-02T08:00:00Z', now), Date.parse('2026-12-02T08:00:00Z'));
  for (const bad of ['6', 'yesterday', '-1h', '6 hours']) {
    assert.throws(() => parseTimeArg('--since', bad, now), (e: unknown) => (e as { code?: string }).code === 'CONFIG_INVALID', bad);
  }
});

test('partition ranges run from the offset at --since to the end offset, never backwards', () => {
  assert.deepEqual(partitionRanges([{ partition: 1, offset: '5' }, { partition: 0, offset: '10' }],
    [{ partition: 0, offset: '12' }, { partition: 1, offset: '3' }]),
  [{ partition: 0, start: 10, end: 12 }, { partition: 1, start: 5, end: 5 }]);
});
