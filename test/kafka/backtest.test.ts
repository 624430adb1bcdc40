// `palisade policy backtest` as a user runs it, on a real Kafka 3.9.1 broker: enriched events are published at known
// times (some the current rules alert on, some only a candidate rule does, some too old for --since), then the command
// runs as its own process with a candidate rule folder (the repository's rules, minus PAL-004, plus a PAL-900 rule,
// with PAL-003's severity raised). The report's per-rule counts, workloads and diff, the shadow topic and the JSONL
// file are checked, and that nothing reached palisade.alerts and the run's consumer group is gone afterwards. The same
// candidate as a bundle.tar.gz and as an unpacked bundle folder gives the same diff; the shipped bundle
// (build/policies/bundle.tar.gz) against the current rules gives none; a bad bundle is refused with the reason.
// Without java, the Kafka jars or opa the suite skips locally and fails under CI=true.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import { BACKTEST_DEFAULTS, TOPICS, aclPlan, applyAclPlan, createBus, createLogger, loadConfig, pb, topicConfigs, topicKeys, type palisade } from '@palisade/common';
import { need, skipUnless, waitFor } from '@palisade/common/testing';
import { REPO_ROOT } from '../support/service-process.js';
import { kafkaUnavailableReason, secureKafkaUnavailableReason, startKafka, type RunningKafka } from './broker.js';

const HOUR = 3_600_000;
const CLI = join(REPO_ROOT, 'services/palisade/dist/main.js');
/** The bundle scripts/build-policies.mjs writes beside the built folder: the shipped rules as an OPA bundle. */
const SHIPPED_BUNDLE = join(REPO_ROOT, 'build/policies/bundle.tar.gz');

function opaUnavailableReason(): string | undefined {
  const candidates = [join(homedir(), 'go/bin/opa'), 'opa'];
  if (!candidates.some((bin) => spawnSync(bin, ['version'], { stdio: 'ignore' }).status === 0)) {
    return 'no opa binary (node scripts/setup.mjs builds it)';
  }
  if (!existsSync(join(REPO_ROOT, 'build/policies/policy.wasm')) || !existsSync(SHIPPED_BUNDLE)) {
    return 'build/policies is not built (node scripts/setup.mjs)';
  }
  return undefined;
}

const unavailable = kafkaUnavailableReason() ?? opaUnavailableReason();
const skip = skipUnless(unavailable === undefined, `needs Kafka and opa: ${unavailable ?? ''}`);

interface Run { code: number | null; stdout: string; stderr: string }

function backtest(args: string[]): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'policy', 'backtest', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

// ---- The events

const SHOP_WEB = { namespace: 'shop', name: 'web-7d9f8c6b5-x2x9z', uid: 'uid-web', owner: { kind: 'Deployment', name: 'web' },
  containerId: 'a'.repeat(64), containerName: 'web', image: 'nginx:1.27' };
const BATCH_ETL = { namespace: 'batch', name: 'etl-29xk1', uid: 'uid-etl', owner: { kind: 'Job', name: 'etl' },
  containerId: 'b'.repeat(64), containerName: 'etl', image: 'python:3.12' };
type PodShape = typeof SHOP_WEB;

let pid = 1000;
function event(pod: PodShape, timeMs: number, raw: Omit<palisade.v1.IRawEvent, 'process' | 'timeUnixNano'>,
  proc: { uid?: number; euid?: number; comm?: string } = {}): palisade.v1.IEnrichedEvent {
  pid++;
  return {
    node: 'node-1', status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED, pod,
    event: {
      ...raw, timeUnixNano: timeMs * 1e6 + pid,
      process: { pid, ppid: 1, uid: proc.uid ?? 0, euid: proc.euid ?? proc.uid ?? 0, comm: proc.comm ?? 'cat', parentComm: 'sh',
        binary: `/usr/bin/${proc.comm ?? 'cat'}`, cgroupId: 77 },
    },
  };
}
const open = (pod: PodShape, t: number, path: string): palisade.v1.IEnrichedEvent =>
  event(pod, t, { kind: pb.EventKind.EVENT_KIND_FILE_OPEN, fileOpen: { path, result: 3, syscall: 'openat' } });
const connect = (pod: PodShape, t: number, dport: number): palisade.v1.IEnrichedEvent =>
  event(pod, t, { kind: pb.EventKind.EVENT_KIND_NET_CONNECT, netConnect: { daddr: '203.0.113.7', dport, protocol: 'tcp' } },
    { comm: 'curl' });
const setuidExec = (pod: PodShape, t: number): palisade.v1.IEnrichedEvent =>
  event(pod, t, { kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, exec: { filename: '/usr/bin/passwd', argv: ['passwd'] } },
    { uid: 1000, euid: 0, comm: 'passwd' });

const TOKEN = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * The rules this test is about. The library's other rules may fire on its events too (a service-account token read
 * is PAL-012's); they are the same on both sides, so the test counts only these.
 */
const WATCHED = ['PAL-001', 'PAL-003', 'PAL-004', 'PAL-900'];

function only(counts: Record<string, number>, ids: readonly string[]): Record<string, number> {
  return Object.fromEntries(Object.entries(counts).filter(([k]) => ids.includes(k)));
}

function shippedRuleCount(): number {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'build/policies/metadata.json'), 'utf8')) as { rules: unknown[] }).rules.length;
}

// A candidate rule only the candidate folder has.
const PAL_900 = `# METADATA
# title: Service-account token read
# description: A candidate rule for the backtest test.
# scope: package
# custom:
#   id: PAL-900
#   severity: medium
#   mitre: T1528
#   actions: []
#   event_kinds: [file_open]
package palisade.rules.pal_900

alerts contains {"index": i, "rule_id": "PAL-900", "message": msg} if {
	some i, e in input.events
	e.kind == "file_open"
	e.container != null
	startswith(e.file_open.path, "/var/run/secrets/kubernetes.io/serviceaccount/")
	msg := sprintf("%s read %s", [e.process.comm, e.file_open.path])
}
`;

/** Unpacks a bundle.tar.gz (ustar, as opa and build-policies.mjs write it) into a folder: an OPA bundle folder. */
function unpackBundle(tarGz: string, into: string): void {
  const tar = gunzipSync(readFileSync(tarGz));
  for (let off = 0; off + 512 <= tar.length;) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) return;
    const field = (at: number, len: number): string => h.subarray(at, at + len).toString('utf8').replace(/\0.*$/s, '');
    const size = parseInt(field(124, 12).trim() || '0', 8);
    const prefix = field(257, 6).startsWith('ustar') ? field(345, 155) : '';
    const name = (prefix ? `${prefix}/` : '') + field(0, 100);
    if (String.fromCharCode(h[156] || 0x30) === '0') {
      const to = join(into, name.replace(/^\/+/, ''));
      mkdirSync(dirname(to), { recursive: true });
      writeFileSync(to, tar.subarray(off + 512, off + 512 + size));
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`${tarGz}: no end-of-archive marker`);
}

interface RuleRow {
  ruleId: string; severity: string; inCandidate: boolean; inCurrent: boolean; candidate: number; current: number;
  new: number; gone: number; changed: number; workloads: { workload: string; count: number }[];
}
interface Report {
  group: string; records: number; events: number; retentionMs: number | null; rules: RuleRow[];
  candidate: { rules: number; buildMs: number | null; form: string; revision: string | null };
  current: { rules: number; form: string };
  alertsWritten: { topic: string | null; file: string | null; count: number };
}

async function topicRecords(kafka: Kafka, admin: Admin, topic: string): Promise<{ ruleId: string; run: string }[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const total = offsets.reduce((n, o) => n + Number(o.high) - Number(o.low), 0);
  const out: { ruleId: string; run: string }[] = [];
  if (total === 0) return out;
  const consumer = kafka.consumer({ groupId: `backtest-test-reader-${Math.random().toString(16).slice(2)}`, maxWaitTimeInMs: 500 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => {
        const a = pb.Alert.decode(message.value ?? Buffer.alloc(0));
        out.push({ ruleId: a.ruleId, run: message.headers?.['palisade-backtest-run']?.toString() ?? '' });
      },
    });
    await waitFor(`${total} records on ${topic}`, () => out.length >= total, { timeoutMs: 60_000 });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** What the candidate (PAL-004 removed, PAL-900 added, PAL-003 raised) gives over the recent events, in any form. */
function assertCandidateDiff(report: Report, stdout: string): void {
  const rule = (id: string): RuleRow => {
    const r = report.rules.find((x) => x.ruleId === id);
    assert.ok(r, `rule ${id} in the report: ${stdout}`);
    return r;
  };
  const shape = (r: RuleRow) => ({ candidate: r.candidate, current: r.current, new: r.new, gone: r.gone, changed: r.changed });
  assert.deepEqual(shape(rule('PAL-001')), { candidate: 3, current: 3, new: 0, gone: 0, changed: 0 });
  assert.deepEqual(rule('PAL-001').workloads, [{ workload: 'shop/Deployment/web', count: 3 }]);
  assert.deepEqual(shape(rule('PAL-003')), { candidate: 2, current: 2, new: 0, gone: 0, changed: 2 }, 'severity raised: changed');
  assert.equal(rule('PAL-003').severity, 'critical');
  assert.deepEqual(rule('PAL-003').workloads, [{ workload: 'batch/Job/etl', count: 2 }]);
  assert.deepEqual(shape(rule('PAL-004')), { candidate: 0, current: 2, new: 0, gone: 2, changed: 0 });
  assert.deepEqual([rule('PAL-004').inCandidate, rule('PAL-004').inCurrent], [false, true]);
  assert.deepEqual(shape(rule('PAL-900')), { candidate: 3 + 1, current: 0, new: 4, gone: 0, changed: 0 });
  assert.deepEqual([rule('PAL-900').inCandidate, rule('PAL-900').inCurrent], [true, false]);
  assert.deepEqual(rule('PAL-900').workloads, [{ workload: 'shop/Deployment/web', count: 3 }, { workload: 'batch/Job/etl', count: 1 }]);
  for (const id of ['PAL-002', 'PAL-005']) assert.deepEqual(shape(rule(id)), { candidate: 0, current: 0, new: 0, gone: 0, changed: 0 });
}

const countBy = (xs: string[]): Record<string, number> => {
  const m: Record<string, number> = {};
  for (const x of xs) m[x] = (m[x] ?? 0) + 1;
  return m;
};

describe('palisade policy backtest on a real broker', { skip, timeout: 600_000 }, () => {
  let broker: RunningKafka;
  let kafka: Kafka;
  let admin: Admin;
  const dir = mkdtempSync(join(tmpdir(), 'palisade-backtest-test-'));
  const candidateDir = join(dir, 'candidate');
  const now = Date.now();

  before(async () => {
    broker = await startKafka();
    kafka = new Kafka({ brokers: broker.brokers, clientId: 'backtest-test', logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();

    // The candidate: the repository's rules without PAL-004, with PAL-900, and PAL-003 raised to critical.
    cpSync(join(REPO_ROOT, 'policies'), candidateDir, { recursive: true });
    for (const f of readdirSync(join(candidateDir, 'rules'))) {
      if (f.startsWith('pal_004_')) rmSync(join(candidateDir, 'rules', f));
    }
    writeFileSync(join(candidateDir, 'rules/pal_900_token_read.rego'), PAL_900);
    const pal003 = join(candidateDir, 'rules/pal_003_setuid_root_exec.rego');
    writeFileSync(pal003, readFileSync(pal003, 'utf8').replace('#   severity: high', '#   severity: critical'));

    // The topic as the enricher creates it (its retention from the config key's default), then the events.
    const bus = createBus({ brokers: broker.brokers, clientId: 'backtest-test-setup', logger: createLogger({ level: 'warn' }),
      topicConfigs: topicConfigs(loadConfig(topicKeys, { env: {}, argv: [] })) });
    await bus.ensureTopics([{ topic: TOPICS.enriched }]);
    await bus.close();
    const recent = now - 1 * HOUR;
    const old = now - 8 * HOUR;
    const records: { events: palisade.v1.IEnrichedEvent[]; at: number }[] = [
      // Recent (inside --since 6h): what both rule sets see.
      { at: recent, events: [open(SHOP_WEB, recent, '/etc/shadow'), open(SHOP_WEB, recent, '/etc/hostname')] },
      { at: recent, events: [open(SHOP_WEB, recent, '/etc/shadow'), open(SHOP_WEB, recent, '/etc/shadow')] },
      { at: recent, events: [setuidExec(BATCH_ETL, recent), setuidExec(BATCH_ETL, recent)] },
      { at: recent, events: [connect(SHOP_WEB, recent, 4444), connect(SHOP_WEB, recent, 443), connect(SHOP_WEB, recent, 4444)] },
      { at: recent, events: [open(SHOP_WEB, recent, TOKEN), open(SHOP_WEB, recent, TOKEN)] },
      { at: recent, events: [open(SHOP_WEB, recent, TOKEN), open(BATCH_ETL, recent, TOKEN), open(BATCH_ETL, recent, '/tmp/x')] },
      // Old (8 h ago): outside --since 6h.
      { at: old, events: [open(SHOP_WEB, old, '/etc/shadow'), open(BATCH_ETL, old, TOKEN)] },
    ];
    const producer = kafka.producer();
    await producer.connect();
    for (const [i, r] of records.entries()) {
      await producer.send({ topic: TOPICS.enriched, messages: [{
        key: `pod-${i}`, timestamp: String(r.at), value: Buffer.from(pb.EnrichedEventBatch.encode({ events: r.events, node: 'node-1' }).finish()),
      }] });
    }
    await producer.disconnect();
  });

  after(async () => {
    await admin?.disconnect().catch(() => undefined);
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const noBacktestGroups = async (): Promise<void> => {
    const { groups } = await admin.listGroups();
    assert.deepEqual(groups.filter((g) => g.groupId.startsWith('palisade-backtest-')), [], 'the run\'s consumer group is deleted');
  };
  const nothingOnAlerts = async (): Promise<void> => {
    const topics = await admin.listTopics();
    if (!topics.includes(TOPICS.alerts)) return;
    const offsets = await admin.fetchTopicOffsets(TOPICS.alerts);
    assert.equal(offsets.reduce((n, o) => n + Number(o.high), 0), 0, 'nothing reached palisade.alerts');
  };

  it('--since 6h with a Rego folder: per-rule counts, workloads and the diff; alerts to the file and the shadow topic', async () => {
    const out = join(dir, 'alerts.jsonl');
    const run = await backtest(['--kafka', broker.brokers.join(','), '--policy', candidateDir, '--since', '6h', '--out', out,
      '--shadow-topic', 'palisade.backtest.test', '--json', '--progress-interval-ms', '200']);
    assert.equal(run.code, 0, `backtest failed:\n${run.stderr}`);
    const report = JSON.parse(run.stdout) as Report;
    assert.equal(report.records, 6, 'the old record is left out by --since');
    assert.equal((report as unknown as { outsideTime: number }).outsideTime, 1, 'published after the recent ones, so in range but skipped by its timestamp');
    assert.equal(report.events, 14);
    assert.equal(report.retentionMs, 86_400_000, 'the enriched topic was created with the retention key\'s default');
    assert.ok(report.candidate.buildMs !== null && report.candidate.buildMs > 0, 'the Rego folder was built');
    assert.match(report.group, /^palisade-backtest-\d{8}T\d{6}Z-[0-9a-f]{8}$/);

    assertCandidateDiff(report, run.stdout);

    // The candidate's alerts, and only them, in the file and on the shadow topic.
    const lines = readFileSync(out, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { ruleId: string; event: { pod: { namespace: string } } });
    assert.deepEqual(only(countBy(lines.map((l) => l.ruleId)), WATCHED), { 'PAL-001': 3, 'PAL-003': 2, 'PAL-900': 4 });
    assert.equal(report.alertsWritten.count, lines.length);
    const shadow = await topicRecords(kafka, admin, 'palisade.backtest.test');
    assert.deepEqual(only(countBy(shadow.map((s) => s.ruleId)), WATCHED), { 'PAL-001': 3, 'PAL-003': 2, 'PAL-900': 4 });
    assert.equal(shadow.length, lines.length, 'the same alerts in the file and on the shadow topic');
    assert.ok(shadow.every((s) => s.run === report.group), 'each shadow record names its run');
    assert.match(run.stderr, /"msg":"backtest done"/, 'progress and the end are logged on stderr');

    await nothingOnAlerts();
    await noBacktestGroups();
  });

  it('a built folder, --since 10h --until 2h, as a table: only the old events; the default shadow topic', async () => {
    const built = join(dir, 'built');
    const b = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build-policies.mjs'), '--policies', candidateDir, '--out', built,
      '--quiet'], { encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    const run = await backtest(['--kafka', broker.brokers.join(','), '--policy', built, '--since', '10h', '--until', '2h']);
    assert.equal(run.code, 0, `backtest failed:\n${run.stderr}`);
    // As many rules on both sides: the candidate drops PAL-004 and adds PAL-900.
    const n = shippedRuleCount();
    assert.match(run.stdout, new RegExp(`\\(${n} rules, built folder\\) against \\S+ \\(${n} rules, built folder\\)`));
    assert.match(run.stdout, /: 1 records, 2 events/);
    assert.match(run.stdout, /^PAL-001\s+high\s+1\s+1\s+0\s+0\s+0\s+shop\/Deployment\/web 1$/m);
    assert.match(run.stdout, /^PAL-900 \(added\)\s+medium\s+1\s+0\s+1\s+0\s+0\s+batch\/Job\/etl 1$/m);
    assert.match(run.stdout, /^PAL-004 \(removed\)\s+medium\s+0\s+0\s+0\s+0\s+0$/m);
    const announced = Number(/candidate alerts: (\d+) -> topic palisade\.backtest\.alerts/.exec(run.stdout)?.[1]);
    const shadow = await topicRecords(kafka, admin, 'palisade.backtest.alerts');
    assert.equal(shadow.length, announced);
    assert.deepEqual(only(countBy(shadow.map((s) => s.ruleId)), WATCHED), { 'PAL-001': 1, 'PAL-900': 1 });
    await nothingOnAlerts();
    await noBacktestGroups();
  });

  it('the candidate as a bundle.tar.gz and as a bundle folder: the same diff as its Rego folder', async () => {
    const out = join(dir, 'candidate-bundle');
    const b = spawnSync(process.execPath, [join(REPO_ROOT, 'scripts/build-policies.mjs'), '--policies', candidateDir, '--out', out,
      '--quiet'], { encoding: 'utf8' });
    assert.equal(b.status, 0, b.stderr);
    const bundleDir = join(dir, 'candidate-bundle-dir');
    unpackBundle(join(out, 'bundle.tar.gz'), bundleDir);
    assert.ok(existsSync(join(bundleDir, '.manifest')) && !existsSync(join(bundleDir, 'metadata.json')),
      'the folder is a bundle: the rule metadata is only in its .manifest');
    for (const [policy, form] of [[join(out, 'bundle.tar.gz'), 'bundle'], [bundleDir, 'bundle-dir']] as const) {
      const run = await backtest(['--kafka', broker.brokers.join(','), '--policy', policy, '--since', '6h', '--out',
        join(dir, `alerts-${form}.jsonl`), '--json']);
      assert.equal(run.code, 0, `backtest of ${policy} failed:\n${run.stderr}`);
      const report = JSON.parse(run.stdout) as Report;
      assert.equal(report.candidate.form, form);
      assert.equal(report.candidate.buildMs, null, 'a bundle is not built');
      assert.match(report.candidate.revision ?? '', /^[0-9a-f]{16}$/, 'the revision build-policies.mjs wrote in the manifest');
      assert.equal(report.current.form, 'built');
      assert.equal(report.records, 6);
      assertCandidateDiff(report, run.stdout);
      const lines = readFileSync(join(dir, `alerts-${form}.jsonl`), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { ruleId: string });
      assert.deepEqual(only(countBy(lines.map((l) => l.ruleId)), WATCHED), { 'PAL-001': 3, 'PAL-003': 2, 'PAL-900': 4 });
    }
    await nothingOnAlerts();
    await noBacktestGroups();
  });

  it('the shipped bundle (build/policies/bundle.tar.gz) against the current rules: the same rules, no difference', async () => {
    const run = await backtest(['--kafka', broker.brokers.join(','), '--policy', SHIPPED_BUNDLE, '--since', '6h',
      '--out', join(dir, 'alerts-shipped.jsonl')]);
    assert.equal(run.code, 0, `backtest failed:\n${run.stderr}`);
    const n = shippedRuleCount();
    assert.match(run.stdout, new RegExp(`\\(${n} rules, bundle revision [0-9a-f]{16}\\) against \\S+ \\(${n} rules, built folder\\)`));
    assert.match(run.stdout, /^PAL-001\s+high\s+3\s+3\s+0\s+0\s+0\s+shop\/Deployment\/web 3$/m);
    assert.match(run.stdout, /^PAL-004\s+medium\s+2\s+2\s+0\s+0\s+0\s+shop\/Deployment\/web 2$/m);
    for (const line of run.stdout.split('\n').filter((l) => /^PAL-\d+/.test(l))) {
      assert.match(line, /^PAL-\d{3}\s+\w+\s+(\d+)\s+\1\s+0\s+0\s+0(\s|$)/, `no new, gone or changed alerts: ${line}`);
    }
    await nothingOnAlerts();
    await noBacktestGroups();
  });
});

const secureUnavailable = secureKafkaUnavailableReason() ?? opaUnavailableReason();
const secureSkip = skipUnless(secureUnavailable === undefined, `needs Kafka, openssl and opa: ${secureUnavailable ?? ''}`);

describe('palisade policy backtest on a SASL_SSL broker with the ACL plan', { skip: secureSkip, timeout: 600_000 }, () => {
  let broker: RunningKafka;
  let kafka: Kafka;
  let admin: Admin;

  before(async () => {
    broker = await startKafka({ secure: { users: [BACKTEST_DEFAULTS.user] } });
    const sec = broker.security;
    assert.ok(sec);
    kafka = new Kafka({ ...sec.client('admin'), clientId: 'backtest-test-admin', logLevel: logLevel.NOTHING });
    admin = kafka.admin();
    await admin.connect();
    // As the admin: the topics (the enriched one with its retention) and the ACLs, as `palisade kafka-acls --apply` does.
    await applyAclPlan(admin, aclPlan(), { partitions: 2, topicConfigs: topicConfigs(loadConfig(topicKeys, { env: {}, argv: [] })) });
    const producer = kafka.producer();
    await producer.connect();
    const t = Date.now() - HOUR;
    await producer.send({ topic: TOPICS.enriched, messages: [{
      key: 'pod', timestamp: String(t),
      value: Buffer.from(pb.EnrichedEventBatch.encode({ events: [open(SHOP_WEB, t, '/etc/shadow'), open(SHOP_WEB, t, '/etc/hostname')] }).finish()),
    }] });
    await producer.disconnect();
  });

  after(async () => {
    await admin?.disconnect().catch(() => undefined);
    await broker?.stop();
  });

  it('runs as its own principal: reads the enriched topic in its prefixed group, writes its shadow topic, deletes the group', async () => {
    const sec = broker.security;
    assert.ok(sec);
    const policy = join(REPO_ROOT, 'build/policies');
    const run = await backtest(['--kafka', broker.brokers.join(','), ...sec.serviceArgs(BACKTEST_DEFAULTS.user), '--policy', policy,
      '--since', '6h', '--json']);
    assert.equal(run.code, 0, `backtest failed:\n${run.stderr}`);
    const report = JSON.parse(run.stdout) as Report;
    assert.equal(report.records, 1);
    assert.equal(report.retentionMs, 86_400_000, 'retention.ms readable under the plan (DescribeConfigs)');
    const pal001 = report.rules.find((r) => r.ruleId === 'PAL-001');
    assert.deepEqual([pal001?.candidate, pal001?.current, pal001?.new, pal001?.gone, pal001?.changed], [1, 1, 0, 0, 0]);
    const shadow = await topicRecords(kafka, admin, BACKTEST_DEFAULTS.shadowTopic);
    assert.deepEqual(shadow.map((x) => x.ruleId), ['PAL-001']);
    const { groups } = await admin.listGroups();
    assert.deepEqual(groups.filter((g) => g.groupId.startsWith(BACKTEST_DEFAULTS.groupPrefix)), [], 'the run deleted its group');
  });

  it('a shadow topic outside the plan is refused by the broker, and says who creates it', async () => {
    const sec = broker.security;
    assert.ok(sec);
    const run = await backtest(['--kafka', broker.brokers.join(','), ...sec.serviceArgs(BACKTEST_DEFAULTS.user),
      '--policy', join(REPO_ROOT, 'build/policies'), '--since', '6h', '--shadow-topic', 'palisade.elsewhere']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /palisade kafka-acls --apply/);
    const { groups } = await admin.listGroups();
    assert.deepEqual(groups.filter((g) => g.groupId.startsWith(BACKTEST_DEFAULTS.groupPrefix)), []);
  });
});

describe('palisade policy backtest refuses what it cannot do', () => {
  it('on the embedded in-process bus (no --kafka): a clear error, before anything runs', async () => {
    const run = await backtest(['--kafka', '', '--policy', join(REPO_ROOT, 'policies'), '--since', '6h']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /backtest needs Kafka .*in-process bus keeps no events/);
  });

  it('never writes to a pipeline topic', async () => {
    const run = await backtest(['--kafka', '127.0.0.1:1', '--policy', join(REPO_ROOT, 'policies'), '--since', '6h',
      '--shadow-topic', TOPICS.alerts]);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /--shadow-topic palisade\.alerts is a pipeline topic/);
  });

  it('a bad bundle: refused before anything runs, saying what is wrong with it', async (t) => {
    const d = mkdtempSync(join(tmpdir(), 'palisade-backtest-bad-'));
    t.after(() => rmSync(d, { recursive: true, force: true }));
    const run = async (policy: string): Promise<Run> => backtest(['--kafka', '127.0.0.1:1', '--policy', policy, '--since', '6h']);
    const notGzip = join(d, 'not-gzip.tar.gz');
    writeFileSync(notGzip, 'this is no bundle\n');
    let r = await run(notGzip);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /--policy .*not-gzip\.tar\.gz.* is not a usable OPA bundle \(corrupt\): not a gzip stream/);
    assert.match(r.stderr, /bundle\.tar\.gz, as scripts\/build-policies\.mjs makes them/, 'it says which forms are read');

    if (!need(t, existsSync(SHIPPED_BUNDLE), 'build/policies/bundle.tar.gz is not built (node scripts/setup.mjs)')) return;
    const truncated = join(d, 'truncated.tar.gz');
    const tar = gunzipSync(readFileSync(SHIPPED_BUNDLE));
    writeFileSync(truncated, gzipSync(tar.subarray(0, Math.floor(tar.length / 2))));
    r = await run(truncated);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not a usable OPA bundle \(corrupt\): tar: /);

    // A plain `opa build` of someone's rules: no rule metadata in the manifest.
    const plain = join(d, 'plain');
    unpackBundle(SHIPPED_BUNDLE, plain);
    const manifest = JSON.parse(readFileSync(join(plain, '.manifest'), 'utf8')) as Record<string, unknown>;
    delete manifest.metadata;
    writeFileSync(join(plain, '.manifest'), JSON.stringify(manifest));
    r = await run(plain);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /is not a usable OPA bundle \(missing_metadata\): the bundle carries no rule metadata/);
  });
});
