// Runs the real rules: policies/ compiled by scripts/build-policies.mjs (a no-op when build/policies/ is up to date).
// Without an opa binary the build cannot run: these tests then skip locally and fail when CI=true.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { errorCode, pb, type palisade } from '@palisade/common';
import { PolicyEngine, mergeData, parseMetadata, type PolicyEngineOptions } from './policy-engine.js';
import { buildPolicies } from './built-policies.js';
import { readTarGz } from './bundle.js';
import { need } from '@palisade/common/testing';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const built = {
  wasmPath: join(root, 'build/policies/policy.wasm'),
  metadataPath: join(root, 'build/policies/metadata.json'),
};
const NO_OPA_EXIT = 3; // scripts/build-policies.mjs

/** The skip option: false once the policies are built; without an opa binary, the reason (or a failure on CI). */
const skip = buildPolicies();

const NODE = 'node-a';
const TIME = 1_700_000_000_000_000_000;
const NOW = 1_700_000_000_500_000_000;
const CONTAINER_ID = '3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f';
const POD: palisade.v1.IPod = {
  namespace: 'shop',
  name: 'web-7d9f8c6b5-x2x4q',
  uid: '6a1f2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d',
  labels: { app: 'web' },
  owner: { kind: 'Deployment', name: 'web' },
  containerId: CONTAINER_ID,
  containerName: 'web',
  image: 'registry.example.com/shop/web:1.4.2',
  node: NODE,
  runtime: 'containerd',
};

type Where = 'pod' | 'host';

function enriched(where: Where, event: palisade.v1.IRawEvent): palisade.v1.IEnrichedEvent {
  return where === 'pod'
    ? { node: NODE, status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED, pod: POD, event }
    : { node: NODE, status: pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST, event };
}

function proc(pid: number, over: palisade.v1.IProcess = {}): palisade.v1.IProcess {
  return {
    pid,
    tid: pid,
    ppid: 4200,
    uid: 1000,
    euid: 1000,
    gid: 1000,
    comm: 'cat',
    parentComm: 'python3',
    cgroupId: 73912,
    binary: '/usr/bin/cat',
    ...over,
  };
}

function fileOpen(where: Where, path: string, pid = 4242, time = TIME): palisade.v1.IEnrichedEvent {
  return enriched(where, {
    kind: pb.EventKind.EVENT_KIND_FILE_OPEN,
    timeUnixNano: time,
    process: proc(pid),
    fileOpen: { path, flags: 0, result: 3, syscall: 'openat' },
  });
}

function exec(where: Where, filename: string, over: palisade.v1.IProcess, pid = 4242): palisade.v1.IEnrichedEvent {
  return enriched(where, {
    kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC,
    timeUnixNano: TIME,
    process: proc(pid, { binary: filename, ...over }),
    exec: { filename, argv: [filename] },
  });
}

/** A reverse shell: bash whose stdin is a TCP connection (PAL-002). */
function reverseShell(where: Where, pid = 4242): palisade.v1.IEnrichedEvent {
  return enriched(where, {
    kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC,
    timeUnixNano: TIME,
    process: proc(pid, { comm: 'bash', parentComm: 'bash', binary: '/bin/bash' }),
    exec: { filename: '/bin/bash', argv: ['bash', '-i'], stdioSockets: [
      { fd: 0, family: 'inet', type: 'stream', protocol: 6, peerAddr: '203.0.113.7', peerPort: 4444, connected: true },
    ] },
  });
}

function connect(where: Where, dport: number, pid = 4242): palisade.v1.IEnrichedEvent {
  return enriched(where, {
    kind: pb.EventKind.EVENT_KIND_NET_CONNECT,
    timeUnixNano: TIME,
    process: proc(pid, { comm: 'curl' }),
    netConnect: { family: pb.AddressFamily.ADDRESS_FAMILY_INET, daddr: '203.0.113.7', dport, result: 0 },
  });
}

function exit(where: Where, pid = 4242): palisade.v1.IEnrichedEvent {
  return enriched(where, {
    kind: pb.EventKind.EVENT_KIND_PROCESS_EXIT,
    timeUnixNano: TIME,
    process: proc(pid),
    exit: { exitCode: 0, signal: 0 },
  });
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal(errorCode(err), code);
    return true;
  });
}

describe('PolicyEngine with the compiled policies', { skip }, () => {
  let engine: PolicyEngine;
  before(async () => {
    engine = await PolicyEngine.load(built);
  });

  it('raises exactly one PAL-001 alert for /etc/shadow read in a container', () => {
    const ev = fileOpen('pod', '/etc/shadow');
    const alerts = engine.evaluate([ev], NOW);
    assert.equal(alerts.length, 1);
    const [a] = alerts;
    assert.deepEqual(
      { ...a, event: undefined },
      {
        id: `PAL-001:${NODE}:4242:${TIME}`,
        ruleId: 'PAL-001',
        title: 'Credential file opened in a container',
        severity: pb.Severity.SEVERITY_HIGH,
        mitreTechnique: 'T1003.008',
        actions: ['quarantine'],
        message: 'cat (pid 4242, uid 1000) opened /etc/shadow in pod shop/web-7d9f8c6b5-x2x4q',
        event: undefined,
        timeUnixNano: NOW,
      },
    );
    assert.equal(a?.event, ev);
    // It is a well-formed Alert on the wire.
    const wire = pb.Alert.decode(pb.Alert.encode(a ?? {}).finish());
    assert.equal(wire.event?.event?.fileOpen?.path, '/etc/shadow');
  });

  it('raises nothing for /etc/hostname or for a host process', () => {
    assert.deepEqual(engine.evaluate([fileOpen('pod', '/etc/hostname')], NOW), []);
    assert.deepEqual(engine.evaluate([fileOpen('host', '/etc/shadow')], NOW), []);
  });

  it('fires each rule on its case, with its metadata', () => {
    const cases: [palisade.v1.IEnrichedEvent, string, palisade.v1.Severity, string, string[]][] = [
      [fileOpen('pod', '/etc/sudoers.d/90-cloud-init-users'), 'PAL-001', pb.Severity.SEVERITY_HIGH, 'T1003.008', ['quarantine']],
      [reverseShell('pod'), 'PAL-002', pb.Severity.SEVERITY_CRITICAL, 'T1059.004', ['quarantine']],
      [exec('pod', '/bin/bash', { comm: 'bash', parentComm: 'nginx' }), 'PAL-006', pb.Severity.SEVERITY_MEDIUM, 'T1059.004', []],
      [exec('pod', '/usr/bin/passwd', { comm: 'passwd', parentComm: 'bash', uid: 1000, euid: 0 }), 'PAL-003', pb.Severity.SEVERITY_HIGH, 'T1548.001', ['quarantine']],
      [connect('pod', 31337), 'PAL-004', pb.Severity.SEVERITY_MEDIUM, 'T1571', ['deny_egress']],
    ];
    for (const [ev, ruleId, severity, mitre, actions] of cases) {
      const alerts = engine.evaluate([ev], NOW);
      assert.deepEqual(
        alerts.map((a) => [a.ruleId, a.severity, a.mitreTechnique, a.actions]),
        [[ruleId, severity, mitre, actions]],
        ruleId,
      );
      // The same events from a host process never fire.
      assert.deepEqual(engine.evaluate([{ ...ev, status: pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST, pod: null }], NOW), []);
    }
    assert.deepEqual(engine.evaluate([exec('pod', '/bin/bash', { comm: 'bash', parentComm: 'bash' })], NOW), []);
    assert.deepEqual(engine.evaluate([connect('pod', 443)], NOW), []);
  });

  it('turns a kill the in-kernel policy made into a PAL-005 alert, on the host too', () => {
    const kill = enriched('pod', {
      kind: pb.EventKind.EVENT_KIND_PROCESS_KILL, timeUnixNano: TIME, process: proc(4242, { comm: 'xmrig' }),
      processKill: { signal: 9, reason: 'binary', syscall: 'openat', path: '/tmp/pool.conf' },
    });
    for (const ev of [kill, { ...kill, status: pb.EnrichmentStatus.ENRICHMENT_STATUS_HOST, pod: null }]) {
      const alerts = engine.evaluate([ev], NOW);
      assert.deepEqual(alerts.map((a) => [a.ruleId, a.severity, a.mitreTechnique, a.actions]),
        [['PAL-005', pb.Severity.SEVERITY_HIGH, '', []]]);
      assert.match(alerts[0]?.message ?? '', /xmrig \(pid 4242\) was killed with signal 9 in openat: its binary matched/);
    }
  });

  it('fires for a container whose pod the enricher did not find', () => {
    const ev: palisade.v1.IEnrichedEvent = {
      node: NODE,
      status: pb.EnrichmentStatus.ENRICHMENT_STATUS_UNENRICHED,
      pod: { containerId: CONTAINER_ID },
      event: fileOpen('pod', '/etc/gshadow').event ?? null,
    };
    const [a, ...rest] = engine.evaluate([ev], NOW);
    assert.equal(rest.length, 0);
    assert.equal(a?.message, `cat (pid 4242, uid 1000) opened /etc/gshadow in container ${CONTAINER_ID}`);
  });

  it('maps alerts in a batch of 1000 mixed events back to their events', () => {
    const events: palisade.v1.IEnrichedEvent[] = [];
    const want: string[] = [];
    let exits = 0;
    for (let i = 0; i < 1000; i++) {
      const pid = 10_000 + i;
      const time = TIME + i * 1000;
      switch (i % 7) {
        case 0:
          events.push(fileOpen('pod', '/etc/shadow', pid, time));
          want.push(`PAL-001:${NODE}:${pid}:${time}`);
          break;
        case 1:
          events.push(fileOpen('host', '/etc/shadow', pid, time));
          break;
        case 2:
          events.push(fileOpen('pod', '/etc/hostname', pid, time));
          break;
        case 3:
          events.push(exit('pod', pid));
          exits++;
          break;
        case 4:
          if (i % 3 === 0) {
            events.push(connect('pod', 4444, pid));
            want.push(`PAL-004:${NODE}:${pid}:${TIME}`);
          } else {
            events.push(connect('pod', 443, pid));
          }
          break;
        case 5:
          events.push(exec('pod', '/bin/sh', { comm: 'sh', parentComm: 'nginx', uid: 33, euid: 0 }, pid));
          want.push(`PAL-003:${NODE}:${pid}:${TIME}`, `PAL-006:${NODE}:${pid}:${TIME}`);
          break;
        default:
          events.push(exec('pod', '/bin/ls', { comm: 'ls', parentComm: 'sh' }, pid));
      }
    }
    const before = { evaluations: engine.evaluations, evaluated: engine.eventsEvaluated, skipped: engine.eventsSkipped };
    const alerts = engine.evaluate(events, NOW);
    assert.deepEqual(alerts.map((a) => a.id), want);
    for (const a of alerts) {
      // The alert carries the very event it names.
      assert.equal(a.id, `${a.ruleId}:${NODE}:${a.event?.event?.process?.pid}:${a.event?.event?.timeUnixNano}`);
      assert.ok(events.includes(a.event ?? {}));
    }
    // No rule reads exit events: they never reach OPA. The rest go by kind, each kind in chunks of 512.
    assert.equal(engine.eventsSkipped - before.skipped, exits);
    assert.equal(engine.eventsEvaluated - before.evaluated, 1000 - exits);
    const byKind = new Map<unknown, number>();
    for (const e of events) {
      const kind = e.event?.kind;
      if (kind !== pb.EventKind.EVENT_KIND_PROCESS_EXIT) byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
    }
    assert.equal(engine.dispatch, 'kind');
    assert.equal(engine.evaluations - before.evaluations, [...byKind.values()].reduce((n, c) => n + Math.ceil(c / 512), 0));
  });

  it('counts alerts per rule and skips batches no rule reads without calling OPA', async () => {
    const fresh = await PolicyEngine.load(built);
    // The kinds the shipped rules' METADATA names, no more: every other kind is skipped before OPA.
    const meta = JSON.parse(readFileSync(built.metadataPath, 'utf8')) as { rules: { event_kinds: string[] }[] };
    assert.deepEqual([...fresh.eventKinds].sort(), [...new Set(meta.rules.flatMap((r) => r.event_kinds))].sort());
    assert.ok(!fresh.eventKinds.has('exit') && !fresh.eventKinds.has('fork'), 'no rule reads exit or fork');
    assert.deepEqual(fresh.evaluate([exit('pod'), exit('host'), { node: NODE }], NOW), []);
    assert.equal(fresh.evaluations, 0);
    assert.equal(fresh.eventsSkipped, 3);
    fresh.evaluate([fileOpen('pod', '/etc/shadow'), fileOpen('pod', '/etc/sudoers'), connect('pod', 4444)], NOW);
    assert.deepEqual(Object.fromEntries(fresh.alertsByRule), { 'PAL-001': 2, 'PAL-004': 1 });
    // One call for the file opens' entrypoint, one for the connect's.
    assert.equal(fresh.evaluations, 2);
    assert.equal(fresh.eventsEvaluated, 3);
    assert.deepEqual(fresh.evaluate([], NOW), []);
    assert.equal(fresh.evaluations, 2);
  });

  it('takes the denied ports from data, overridable at load', async () => {
    const custom = await PolicyEngine.load({ ...built, data: { palisade: { config: { denied_ports: [8080] } } } });
    assert.deepEqual(custom.evaluate([connect('pod', 4444), connect('pod', 8080, 7)], NOW).map((a) => a.id), [
      `PAL-004:${NODE}:7:${TIME}`,
    ]);
  });

  it('calls main\'s entrypoint once per chunk with dispatch "single", with the same alerts', async () => {
    const single = await PolicyEngine.load({ ...built, dispatch: 'single' });
    assert.equal(single.dispatch, 'single');
    const events = [fileOpen('pod', '/etc/shadow', 1), connect('pod', 4444, 2), fileOpen('pod', '/etc/sudoers', 3),
      exec('pod', '/bin/sh', { comm: 'sh', parentComm: 'nginx', uid: 33, euid: 0 }, 4)];
    const want = engine.evaluate(events, NOW).map((a) => a.id);
    assert.deepEqual(single.evaluate(events, NOW).map((a) => a.id), want);
    assert.equal(want.length, 5);
    assert.equal(single.evaluations, 1);
  });

  it('falls back to main\'s entrypoint for a wasm built without the kind entrypoints', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-policy-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    // What a user gets from the README's plain `opa build -t wasm -e palisade/main/alerts`.
    const opa = spawnSync(join(homedir(), 'go/bin/opa'), ['build', '-t', 'wasm', '-e', 'palisade/main/alerts', '--ignore',
      '*_test.rego', '--ignore', 'tracing', join(root, 'policies'), '-o', join(dir, 'bundle.tar.gz')], { encoding: 'utf8' });
    if (!need(t, opa.error === undefined, 'no opa binary at ~/go/bin/opa')) return;
    assert.equal(opa.status, 0, opa.stderr);
    const wasm = readTarGz(readFileSync(join(dir, 'bundle.tar.gz'))).get('policy.wasm');
    assert.ok(wasm, 'opa build wrote no policy.wasm');
    writeFileSync(join(dir, 'policy.wasm'), wasm);
    const plain = { ...built, wasmPath: join(dir, 'policy.wasm'), dataPath: join(root, 'build/policies/data.json') };
    const fallback = await PolicyEngine.load(plain);
    assert.equal(fallback.dispatch, 'single');
    const events = [fileOpen('pod', '/etc/shadow', 1), connect('pod', 4444, 2)];
    assert.deepEqual(fallback.evaluate(events, NOW).map((a) => a.id), engine.evaluate(events, NOW).map((a) => a.id));
    await rejectsWith(PolicyEngine.load({ ...plain, dispatch: 'kind' }), 'POLICY_LOAD_FAILED');
  });

  it('chunks at batchSize and keeps indexes across chunks', async () => {
    const small = await PolicyEngine.load({ ...built, batchSize: 2 });
    const events = [
      fileOpen('pod', '/etc/hostname', 1),
      fileOpen('pod', '/etc/hostname', 2),
      fileOpen('pod', '/etc/hostname', 3),
      fileOpen('pod', '/etc/shadow', 4),
      fileOpen('pod', '/etc/shadow', 5),
    ];
    assert.deepEqual(small.evaluate(events, NOW).map((a) => a.event?.event?.process?.pid), [4, 5]);
    assert.equal(small.evaluations, 3);
  });

  it('still delivers an alert whose rule has no metadata, with no severity and no actions', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-policy-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const meta = JSON.parse(readFileSync(built.metadataPath, 'utf8')) as { rules: { id: string }[] };
    // PAL-003 reads exec events, which PAL-002 and PAL-006 also read, so they still reach OPA.
    meta.rules = meta.rules.filter((r) => r.id !== 'PAL-003');
    const metadataPath = join(dir, 'metadata.json');
    writeFileSync(metadataPath, JSON.stringify(meta));
    const partial = await PolicyEngine.load({ ...built, metadataPath, dataPath: join(root, 'build/policies/data.json') });
    const [a, ...rest] = partial.evaluate([exec('pod', '/usr/bin/passwd', { comm: 'passwd', parentComm: 'bash', euid: 0 })], NOW);
    assert.equal(rest.length, 0);
    assert.equal(a?.ruleId, 'PAL-003');
    assert.equal(a?.severity, pb.Severity.SEVERITY_UNSPECIFIED);
    assert.deepEqual(a?.actions, []);
  });

  it('fails evaluation with POLICY_EVAL_FAILED when the batch does not fit in memory', async () => {
    const tiny = await PolicyEngine.load({ ...built, maxMemoryPages: 32 });
    const huge = exec('pod', '/bin/sh', { comm: 'sh', parentComm: 'nginx' });
    huge.event = { ...huge.event, exec: { filename: '/bin/sh', argv: ['x'.repeat(4 << 20)] } };
    assert.throws(() => tiny.evaluate([huge], NOW), (err: unknown) => {
      assert.equal(errorCode(err), 'POLICY_EVAL_FAILED');
      return true;
    });
    // One bad batch does not break the engine for the next.
    assert.deepEqual(tiny.evaluate([fileOpen('pod', '/etc/shadow')], NOW).map((a) => a.ruleId), ['PAL-001']);
  });

  it('fails to load with POLICY_LOAD_FAILED', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-policy-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const opts = (over: Partial<PolicyEngineOptions>): PolicyEngineOptions => ({ ...built, ...over });
    await rejectsWith(PolicyEngine.load(opts({ wasmPath: join(dir, 'missing.wasm') })), 'POLICY_LOAD_FAILED');
    const notWasm = join(dir, 'policy.wasm');
    writeFileSync(notWasm, 'not wasm');
    writeFileSync(join(dir, 'data.json'), '{}');
    await rejectsWith(PolicyEngine.load(opts({ wasmPath: notWasm })), 'POLICY_LOAD_FAILED');
    const badMeta = join(dir, 'metadata.json');
    writeFileSync(badMeta, JSON.stringify({ rules: [{ id: 'PAL-009', title: 't', severity: 'high', mitre: 'T1', actions: [], event_kinds: ['mmap'] }] }));
    await rejectsWith(PolicyEngine.load(opts({ metadataPath: badMeta })), 'POLICY_LOAD_FAILED');
    await rejectsWith(PolicyEngine.load(opts({ batchSize: 0 })), 'POLICY_LOAD_FAILED');
  });
});

describe('parseMetadata', () => {
  const rule = { id: 'PAL-001', title: 'T', severity: 'high', mitre: 'T1003.008', actions: ['quarantine'], event_kinds: ['file_open'] };

  it('reads the build output shape', () => {
    const [r] = parseMetadata({ entrypoint: 'palisade/main/alerts', rules: [{ ...rule, package: 'palisade.rules.pal_001' }] });
    assert.deepEqual(r?.eventKinds, ['file_open']);
    assert.equal(r?.package, 'palisade.rules.pal_001');
  });

  it('rejects what the engine could not act on', () => {
    const bad: unknown[] = [
      { rules: [{ ...rule, severity: 'urgent' }] },
      { rules: [{ ...rule, event_kinds: [] }] },
      { rules: [{ ...rule, actions: 'quarantine' }] },
      { rules: [rule, rule] },
      { entrypoint: 'other/entry', rules: [rule] },
      { rules: null },
    ];
    for (const m of bad) assert.throws(() => parseMetadata(m), (e: unknown) => errorCode(e) === 'POLICY_LOAD_FAILED', JSON.stringify(m));
  });
});

describe('mergeData', () => {
  it('merges objects and replaces lists', () => {
    assert.deepEqual(
      mergeData({ palisade: { config: { denied_ports: [1, 2], other: true } } }, { palisade: { config: { denied_ports: [3] } } }),
      { palisade: { config: { denied_ports: [3], other: true } } },
    );
  });
});

describe('scripts/build-policies.mjs', { skip }, () => {
  const build = (policies: string, out: string) => spawnSync(process.execPath,
    [join(root, 'scripts/build-policies.mjs'), '--quiet', '--policies', policies, '--out', out], { encoding: 'utf8' });

  it('runs opa check --strict first: a strict-mode error in a rule or in a test fails the build with opa\'s message', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'palisade-strict-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const policies = join(dir, 'policies');
    cpSync(join(root, 'policies'), policies, { recursive: true });
    const ok = build(policies, join(dir, 'ok'));
    assert.equal(ok.status, 0, ok.stderr);
    assert.ok(existsSync(join(dir, 'ok', 'policy.wasm')), 'the copy builds as it is');

    const edit = (file: string, change: (text: string) => string): (() => void) => {
      const before = readFileSync(file, 'utf8');
      writeFileSync(file, change(before));
      return () => writeFileSync(file, before);
    };
    // An unused assignment: opa test and opa build accept it, strict mode does not.
    const rule = join(policies, 'rules/pal_004_denied_port_connect.rego');
    const restore = edit(rule, (text) => text.replace('\tnot macros.loopback(e.net_connect.daddr)\n',
      '\tnot macros.loopback(e.net_connect.daddr)\n\tunused := e.process.pid\n'));
    const inRule = build(policies, join(dir, 'rule'));
    assert.equal(inRule.status, 1, inRule.stderr);
    assert.match(inRule.stderr, /opa check --strict/);
    assert.match(inRule.stderr, /pal_004_denied_port_connect\.rego:\d+: rego_compile_error: assigned var unused unused/);
    assert.equal(existsSync(join(dir, 'rule')), false, 'nothing was built');
    restore();

    // The check reads what opa test reads: the _test.rego files too.
    edit(join(policies, 'rules/pal_004_denied_port_connect_test.rego'), (text) =>
      `${text}\ntest_strict_probe if {\n\tleftover := 1\n\ttrue\n}\n`);
    const inTest = build(policies, join(dir, 'test'));
    assert.equal(inTest.status, 1, inTest.stderr);
    assert.match(inTest.stderr, /pal_004_denied_port_connect_test\.rego:\d+: rego_compile_error: assigned var leftover unused/);
  });
});
