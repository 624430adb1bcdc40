// Tuning files: parsing, validation, merging a folder, provenance; and the tuning applied by the real rules in OPA
// wasm (policies/lib/tuning.rego): severity override, disabled rules, exceptions that stay on their own rule.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PalisadeError, pb, type palisade } from '@palisade/common';
import { PolicyEngine } from './policy-engine.js';
import { loadTuning, parseTuning, ruleStatuses, tuningData, tuningFiles, type Tuning } from './tuning.js';
import { buildPolicies } from './built-policies.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const BUILT = { wasmPath: join(ROOT, 'build/policies/policy.wasm'), metadataPath: join(ROOT, 'build/policies/metadata.json') };
const KNOWN = new Set(['PAL-001', 'PAL-002', 'PAL-003', 'PAL-004', 'PAL-005', 'PAL-006', 'PAL-031']);
const HEAD = 'apiVersion: palisade.dev/v1alpha1\nkind: RuleTuning\n';

const dir = mkdtempSync(join(tmpdir(), 'palisade-tuning-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function parse(text: string, file = 'a.yaml'): Tuning {
  return parseTuning([{ file, text }], KNOWN);
}

/** The CONFIG_INVALID message of a tuning that must be refused. */
function refused(text: string | { file: string; text: string }[]): string {
  try {
    if (typeof text === 'string') parse(text); else parseTuning(text, KNOWN);
  } catch (err) {
    assert.ok(err instanceof PalisadeError && err.code === 'CONFIG_INVALID', String(err));
    return err.message;
  }
  assert.fail('the tuning was accepted');
}

describe('parseTuning', () => {
  it('reads enabled, severity and exceptions, with where each came from, and normalises values to lists', () => {
    const t = parse(`${HEAD}rules:
  PAL-004: { enabled: false }
  PAL-002:
    severity: medium
    exceptions:
      - name: build-jobs
        reason: CI runs make in these pods
        namespace: ci
        parent: [make, /usr/bin/find]
        user: [root, 1000, "1001"]
exceptions:
  - name: scanner
    rules: [PAL-001, PAL-004]
    image: registry.example.com/sec/scanner
`, 'team.yaml');
    assert.deepEqual(tuningData(t), {
      rules: {
        'PAL-004': { enabled: false, exceptions: [] },
        'PAL-002': {
          severity: 'medium',
          exceptions: [{
            name: 'build-jobs', reason: 'CI runs make in these pods', namespace: ['ci'], parent: ['make', '/usr/bin/find'],
            user: [0, 1000, 1001],
          }],
        },
        'PAL-001': { exceptions: [] },
      },
      exceptions: [{ name: 'scanner', rules: ['PAL-001', 'PAL-004'], image: ['registry.example.com/sec/scanner'] }],
    });
    const status = new Map(ruleStatuses([
      { id: 'PAL-004', title: 'x', description: '', severity: 'medium', mitre: 'T1571', actions: [], eventKinds: ['net_connect'], package: '' },
      { id: 'PAL-003', title: 'y', description: '', severity: 'high', mitre: 'T1548.001', actions: [], eventKinds: ['exec'], package: '' },
    ], t).map((s) => [s.id, s]));
    assert.equal(status.get('PAL-004')?.enabled, false);
    assert.equal(status.get('PAL-004')?.why, 'team.yaml: rules.PAL-004.enabled');
    assert.deepEqual(status.get('PAL-004')?.exceptions.map((x) => [x.name, x.source.key]), [['scanner', 'exceptions[0]']]);
    assert.equal(status.get('PAL-003')?.enabled, true);
    assert.equal(status.get('PAL-003')?.why, 'default');
  });

  it('refuses unknown keys at every level, unknown rule ids and bad values, listing every problem at once', () => {
    const msg = refused(`${HEAD}rules:
  PAL-002:
    enabled: "no"
    severity: urgent
    exeptions: []
  PAL-999: { enabled: false }
  PAL-001:
    exceptions:
      - name: a
        namespce: ci
      - name: b
      - namespace: ci
      - name: c
        user: www-data
      - name: d
        path: var/log
      - name: e
        binary: "/usr/bin/[ab"
      - name: f
        image: []
colour: blue
metadata: { name: x, owner: me }
`);
    for (const want of [
      'rules.PAL-002.enabled: must be true or false',
      'rules.PAL-002.severity: must be one of info, low, medium, high, critical, got "urgent"',
      'rules.PAL-002.exeptions: unknown key',
      'rules.PAL-999: unknown rule id (the loaded policy has PAL-001, PAL-002, PAL-003, PAL-004, PAL-005, PAL-006, PAL-031)',
      'rules.PAL-001.exceptions[0].namespce: unknown key',
      'rules.PAL-001.exceptions[1]: matches nothing: give at least one of namespace, workload, image, binary, path, parent, user',
      'rules.PAL-001.exceptions[2].name: required',
      'rules.PAL-001.exceptions[3].user: "www-data": a uid (a number) or "root"',
      'rules.PAL-001.exceptions[4].path: "var/log": an absolute path',
      'rules.PAL-001.exceptions[5].binary: "/usr/bin/[ab": unbalanced [ ] in the glob',
      'rules.PAL-001.exceptions[6].image: an empty list matches nothing',
      'a.yaml: colour: unknown key',
      'a.yaml: metadata.owner: unknown key',
    ]) assert.ok(msg.includes(want), `missing ${JSON.stringify(want)} in:\n${msg}`);
  });

  it('needs apiVersion and kind, and refuses what is not YAML or JSON', () => {
    assert.match(refused('rules: {}\n'), /apiVersion: must be palisade\.dev\/v1alpha1, got undefined[\s\S]*kind: must be RuleTuning/);
    assert.match(refused(`${HEAD}rules: [PAL-001]\n`), /rules: must be a mapping of rule id/);
    assert.match(refused(`${HEAD}rules:\n  PAL-001: {enabled: false\n`), /a\.yaml: document 1 is not YAML/);
    assert.match(refused([{ file: 'b.json', text: '{"apiVersion": ' }]), /b\.json: not JSON/);
  });

  it('a global exception must list its rules: there is no wildcard', () => {
    assert.match(refused(`${HEAD}exceptions:\n  - name: all\n    namespace: ci\n`), /exceptions\[0\]\.rules: required: the rule ids this exception applies to \(a list; there is no wildcard\)/);
    assert.match(refused(`${HEAD}exceptions:\n  - name: all\n    rules: ["*"]\n    namespace: ci\n`), /exceptions\[0\]\.rules: unknown rule id \*/);
  });

  it('merges several files and documents; the same setting twice is fine, a contradiction or a reused name is not', () => {
    const t = parseTuning([
      { file: 'a.yaml', text: `${HEAD}rules:\n  PAL-004: {enabled: false}\n---\n${HEAD}rules:\n  PAL-002:\n    exceptions: [{name: x, namespace: ci}]\n` },
      { file: 'b.json', text: JSON.stringify({ apiVersion: 'palisade.dev/v1alpha1', kind: 'RuleTuning', rules: { 'PAL-004': { enabled: false }, 'PAL-002': { exceptions: [{ name: 'y', user: 0 }] } } }) },
      { file: 'c.yaml', text: '# nothing yet\n' },
    ], KNOWN);
    assert.deepEqual(t.files, ['a.yaml', 'b.json', 'c.yaml']);
    assert.equal(t.rules.get('PAL-004')?.enabled?.source.file, 'a.yaml (document 1)', 'the first file that said it');
    assert.deepEqual(t.rules.get('PAL-002')?.exceptions.map((x) => x.name), ['x', 'y']);

    assert.match(refused([
      { file: 'a.yaml', text: `${HEAD}rules:\n  PAL-004: {enabled: false}\n` },
      { file: 'b.yaml', text: `${HEAD}rules:\n  PAL-004: {enabled: true}\n` },
    ]), /b\.yaml: rules\.PAL-004\.enabled: true contradicts false set in a\.yaml \(rules\.PAL-004\.enabled\)/);
    assert.match(refused([
      { file: 'a.yaml', text: `${HEAD}rules:\n  PAL-001:\n    exceptions: [{name: x, namespace: ci}]\n` },
      { file: 'b.yaml', text: `${HEAD}exceptions: [{name: x, rules: [PAL-001], user: 0}]\n` },
    ]), /b\.yaml: exceptions\[0\]: exception name x is already used for PAL-001 in a\.yaml \(rules\.PAL-001\.exceptions\[0\]\)/);
  });
});

describe('deploy/tuning/example.yaml', () => {
  it('is a valid tuning for the rules in policies/ (it is what the docs show)', () => {
    const t = loadTuning(join(ROOT, 'deploy/tuning'), KNOWN);
    assert.equal(t.rules.get('PAL-004')?.enabled?.value, false);
    assert.deepEqual(t.rules.get('PAL-002')?.exceptions.map((x) => x.name), ['ci-build-shells', 'notebook-terminals']);
    assert.deepEqual(t.globalExceptions.map((x) => [x.name, x.rules]), [['security-scanner', ['PAL-001', 'PAL-004']]]);
  });
});

describe('tuningFiles and loadTuning', () => {
  it('a folder is its *.yaml, *.yml and *.json by name, symlinks followed, dot entries and other files left out', () => {
    const d = join(dir, 'cm');
    mkdirSync(join(d, '..2026_01_01'), { recursive: true });
    writeFileSync(join(d, '..2026_01_01', 'b.yaml'), `${HEAD}rules:\n  PAL-004: {enabled: false}\n`);
    symlinkSync('..2026_01_01', join(d, '..data'));
    symlinkSync(join('..data', 'b.yaml'), join(d, 'b.yaml'));
    writeFileSync(join(d, 'a.yml'), `${HEAD}rules:\n  PAL-002: {severity: low}\n`);
    writeFileSync(join(d, 'c.json'), JSON.stringify({ apiVersion: 'palisade.dev/v1alpha1', kind: 'RuleTuning' }));
    writeFileSync(join(d, 'README.md'), 'not tuning');
    writeFileSync(join(d, '.hidden.yaml'), 'not: tuning');
    mkdirSync(join(d, 'sub.yaml'));
    assert.deepEqual(tuningFiles(d), ['a.yml', 'b.yaml', 'c.json'].map((n) => join(d, n)));
    const t = loadTuning(d, KNOWN);
    assert.equal(t.rules.get('PAL-004')?.enabled?.value, false);
    assert.equal(t.rules.get('PAL-002')?.severity?.value, 'low');
    assert.deepEqual(tuningFiles(join(d, 'a.yml')), [join(d, 'a.yml')]);
    assert.throws(() => loadTuning(join(dir, 'nope'), KNOWN), /cannot read tuning .*nope/);
  });
});

// --- the tuning applied by the compiled rules ---

const POD: palisade.v1.IPod = {
  namespace: 'shop', name: 'web-7d9f8c6b5-x2x4q', uid: '6a1f', owner: { kind: 'Deployment', name: 'web' },
  containerId: 'c0ffee', containerName: 'web', image: 'registry.example.com/shop/web:1.4.2', node: 'node-a',
};

function inPod(event: palisade.v1.IRawEvent, pod: palisade.v1.IPod = POD): palisade.v1.IEnrichedEvent {
  return { node: 'node-a', status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED, pod, event };
}

/** bash -p started by nginx with euid 0 for uid 1000: PAL-006 and PAL-003 on one event. */
const twoRules = inPod({
  kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, timeUnixNano: 1_700_000_000_000_000_000,
  process: { pid: 4242, ppid: 4200, uid: 1000, euid: 0, comm: 'bash', parentComm: 'nginx', binary: '/bin/bash', cgroupId: 7 },
  exec: { filename: '/bin/bash', argv: ['bash', '-p'] },
});

const shadow = (pod?: palisade.v1.IPod): palisade.v1.IEnrichedEvent => inPod({
  kind: pb.EventKind.EVENT_KIND_FILE_OPEN, timeUnixNano: 1_700_000_000_000_000_000,
  process: { pid: 4243, ppid: 4200, uid: 1000, euid: 1000, comm: 'cat', parentComm: 'sh', binary: '/usr/bin/cat', cgroupId: 7 },
  fileOpen: { path: '/etc/shadow', flags: 0, result: 3, syscall: 'openat' },
}, pod);

const connect4444 = inPod({
  kind: pb.EventKind.EVENT_KIND_NET_CONNECT, timeUnixNano: 1_700_000_000_000_000_000,
  process: { pid: 4244, comm: 'curl', binary: '/usr/bin/curl', cgroupId: 7 },
  netConnect: { family: pb.AddressFamily.ADDRESS_FAMILY_INET, daddr: '203.0.113.7', dport: 4444, result: 0 },
});


describe('tuning applied by the compiled rules', { skip: buildPolicies() }, () => {
  let engine: PolicyEngine;
  const excepted: string[] = [];
  before(async () => {
    engine = await PolicyEngine.load({ ...BUILT, onExcepted: (rule, name) => excepted.push(`${rule}/${name}`) });
  });
  const fired = (events: palisade.v1.IEnrichedEvent[]): string[] => engine.evaluate(events, 1).map((a) => a.ruleId ?? '');

  it('an exception on one rule never silences another rule firing on the same event', () => {
    engine.setTuning(EMPTY);
    assert.deepEqual(fired([twoRules]), ['PAL-003', 'PAL-006']);
    excepted.length = 0;
    engine.setTuning(parse(`${HEAD}rules:\n  PAL-003:\n    exceptions:\n      - {name: web-setuid, namespace: shop, workload: Deployment/web}\n`));
    assert.deepEqual(fired([twoRules]), ['PAL-006']);
    assert.deepEqual(excepted, ['PAL-003/web-setuid'], 'the silenced alert is reported to the counter');
    // The same exception filed globally for PAL-003 only: still PAL-003 only.
    engine.setTuning(parse(`${HEAD}exceptions:\n  - {name: web, rules: [PAL-003], image: registry.example.com/shop/web}\n`));
    assert.deepEqual(fired([twoRules]), ['PAL-006']);
  });

  it('fields are ANDed and values ORed; a near miss does not silence', () => {
    engine.setTuning(parse(`${HEAD}rules:\n  PAL-001:\n    exceptions:\n      - {name: x, namespace: [ci, shop], binary: [cat, /usr/bin/head]}\n`));
    assert.deepEqual(fired([shadow()]), []);
    assert.deepEqual(fired([shadow({ ...POD, namespace: 'prod' })]), ['PAL-001'], 'namespace differs');
    engine.setTuning(parse(`${HEAD}rules:\n  PAL-001:\n    exceptions:\n      - {name: x, namespace: shop, binary: head}\n`));
    assert.deepEqual(fired([shadow()]), ['PAL-001'], 'binary differs');
  });

  it('a severity override changes the alert\'s severity; the other rules keep theirs', () => {
    engine.setTuning(parse(`${HEAD}rules:\n  PAL-006: {severity: low}\n`));
    const alerts = engine.evaluate([twoRules], 1);
    assert.deepEqual(alerts.map((a) => [a.ruleId, a.severity]), [
      ['PAL-003', pb.Severity.SEVERITY_HIGH], ['PAL-006', pb.Severity.SEVERITY_LOW],
    ]);
  });

  it('a disabled rule produces nothing, and kinds only disabled rules read no longer reach OPA', () => {
    // PAL-031 is the only rule that reads userfaultfd: with it off, that kind stops reaching OPA.
    engine.setTuning(parse(`${HEAD}rules:\n  PAL-006: {enabled: false}\n  PAL-004: {enabled: false}\n  PAL-031: {enabled: false}\n`));
    assert.deepEqual(fired([twoRules, connect4444, shadow()]), ['PAL-003', 'PAL-001']);
    assert.ok(!engine.eventKinds.has('userfaultfd'));
    assert.ok(engine.eventKinds.has('exec'), 'PAL-003 still reads exec');
    engine.setTuning(EMPTY);
    assert.ok(engine.eventKinds.has('userfaultfd'));
    assert.deepEqual(fired([twoRules, connect4444]), ['PAL-003', 'PAL-006', 'PAL-004']);
  });

  it('keeps the bundle\'s data under the tuning (denied_ports still applies)', async () => {
    const e = await PolicyEngine.load({ ...BUILT, data: { palisade: { config: { denied_ports: [4444] } } },
      tuning: parse(`${HEAD}rules:\n  PAL-001: {enabled: false}\n`) });
    assert.deepEqual(e.evaluate([connect4444, shadow()], 1).map((a) => a.ruleId), ['PAL-004']);
  });
});

const EMPTY = parseTuning([], KNOWN);
