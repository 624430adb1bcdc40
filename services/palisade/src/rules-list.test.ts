import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runRules } from './rules-list.js';

const dir = mkdtempSync(join(tmpdir(), 'palisade-rules-list-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// A policy build's metadata.json, as scripts/build-policies.mjs writes it.
const policyDir = join(dir, 'policies');
mkdirSync(policyDir);
const rule = (id: string, title: string, severity: string, mitre: string, kinds: string[]) =>
  ({ id, title, description: '', severity, mitre, actions: [], event_kinds: kinds, package: `palisade.rules.${id}`, file: '' });
writeFileSync(join(policyDir, 'metadata.json'), JSON.stringify({ entrypoint: 'palisade/main/alerts', rules: [
  rule('PAL-002', 'Shell spawned', 'critical', 'T1059.004', ['exec']),
  rule('PAL-001', 'Credential file opened', 'high', 'T1003.008', ['file_open']),
  rule('PAL-004', 'Denied port', 'medium', 'T1571', ['net_connect']),
] }));

const tuningDir = join(dir, 'tuning');
mkdirSync(tuningDir);
writeFileSync(join(tuningDir, 'ci.yaml'), `apiVersion: palisade.dev/v1alpha1
kind: RuleTuning
rules:
  PAL-002:
    severity: low
    exceptions:
      - name: build-jobs
        reason: make runs recipes through sh
        namespace: ci
        parent: [make, find]
  PAL-004: { enabled: false }
exceptions:
  - name: scanner
    rules: [PAL-001]
    image: registry.example.com/sec/scanner
`);

async function run(argv: string[]): Promise<string> {
  let text = '';
  await runRules({ env: {}, argv }, (t) => { text += t; });
  return text;
}

test('rules list shows every rule, its severity and the tuned one, enabled or not and why, and its exceptions', async () => {
  const out = await run(['list', '--policy-dir', policyDir, '--tuning', tuningDir]);
  const file = join(tuningDir, 'ci.yaml');
  assert.deepEqual(out.split('\n'), [
    'ID       ENABLED  SEVERITY         MITRE      KINDS        TITLE',
    'PAL-001  yes      high             T1003.008  file_open    Credential file opened',
    '         enabled: default',
    `         exception scanner: image=registry.example.com/sec/scanner  [${file}: exceptions[0]]`,
    'PAL-002  yes      critical -> low  T1059.004  exec         Shell spawned',
    '         enabled: default',
    `         severity: ${file}: rules.PAL-002.severity`,
    `         exception build-jobs: namespace=ci parent=make|find (make runs recipes through sh)  [${file}: rules.PAL-002.exceptions[0]]`,
    'PAL-004  no       medium           T1571      net_connect  Denied port',
    `         disabled: ${file}: rules.PAL-004.enabled`,
    '',
    `3 rules, 2 enabled, 2 exceptions; tuning ${tuningDir}: ${file} (sha256 ${out.match(/sha256 ([0-9a-f]{12})/)?.[1]})`,
    '',
  ]);
});

test('rules list --json gives the same facts to scripts; without tuning every rule is on by default', async () => {
  const tuned = JSON.parse(await run(['list', '--policy-dir', policyDir, '--tuning', tuningDir, '--json'])) as {
    rules: { id: string; enabled: boolean; why: string; severity: string; defaultSeverity: string; exceptions: { name: string }[] }[];
  };
  assert.deepEqual(tuned.rules.map((r) => [r.id, r.enabled, r.severity, r.defaultSeverity, r.exceptions.map((x) => x.name)]), [
    ['PAL-001', true, 'high', 'high', ['scanner']],
    ['PAL-002', true, 'low', 'critical', ['build-jobs']],
    ['PAL-004', false, 'medium', 'medium', []],
  ]);
  assert.equal(tuned.rules[2]?.why, `${join(tuningDir, 'ci.yaml')}: rules.PAL-004.enabled`);
  const plain = JSON.parse(await run(['list', '--policy-dir', policyDir, '--json'])) as typeof tuned;
  assert.ok(plain.rules.every((r) => r.enabled && r.why === 'default' && r.exceptions.length === 0));
});

test('rules list refuses a tuning the evaluator would refuse, with the same message', async () => {
  const bad = join(dir, 'bad.yaml');
  writeFileSync(bad, 'apiVersion: palisade.dev/v1alpha1\nkind: RuleTuning\nrules:\n  PAL-003: {enabled: false}\n');
  await assert.rejects(run(['list', '--policy-dir', policyDir, '--tuning', bad]),
    (err: unknown) => (err as { code?: string }).code === 'CONFIG_INVALID' &&
      /rules\.PAL-003: unknown rule id \(the loaded policy has PAL-001, PAL-002, PAL-004\)/.test(String(err)));
  await assert.rejects(run(['show']), /unknown rules command "show"/);
});

test('the palisade CLI runs it: `palisade rules list` on the installation\'s built policies', () => {
  const main = fileURLToPath(new URL('./main.js', import.meta.url));
  const r = spawnSync(process.execPath, [main, 'rules', 'list', '--policy-dir', policyDir, '--json'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual((JSON.parse(r.stdout) as { rules: { id: string }[] }).rules.map((x) => x.id), ['PAL-001', 'PAL-002', 'PAL-004']);
});
