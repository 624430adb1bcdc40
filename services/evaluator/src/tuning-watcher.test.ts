// The tuning watcher on real files: a file, a folder, changes picked up by themselves (in place, by rename, and by a
// ConfigMap's ..data symlink swap), and a bad change refused, counted once and the previous tuning kept.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { Metrics, PalisadeError, silentLogger } from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import type { Tuning } from './tuning.js';
import { TuningWatcher } from './tuning-watcher.js';

const dir = mkdtempSync(join(tmpdir(), 'palisade-tuning-watch-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const KNOWN = new Set(['PAL-001', 'PAL-002', 'PAL-004']);

function doc(rules: string): string {
  return `apiVersion: palisade.dev/v1alpha1\nkind: RuleTuning\nrules:\n${rules}`;
}
const disable = (id: string): string => doc(`  ${id}: {enabled: false}\n`);

function setup(path: string, opts: { checkIntervalMs?: number; apply?: (t: Tuning) => void } = {}) {
  const metrics = new Metrics();
  const applied: Tuning[] = [];
  const watcher = new TuningWatcher({
    path, knownRules: () => KNOWN, logger: silentLogger, metrics, debounceMs: 10, checkIntervalMs: opts.checkIntervalMs ?? 0,
    apply: opts.apply ?? ((t) => applied.push(t)),
  });
  const metric = async (name: string): Promise<string> =>
    (await metrics.registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#')).join('\n');
  return { watcher, applied, metric };
}

const disabled = (t: Tuning | undefined): string[] =>
  [...(t?.rules ?? [])].filter(([, r]) => r.enabled?.value === false).map(([id]) => id).sort();

test('a file: start applies it and names its hash; unchanged content is not applied again', async () => {
  const file = join(dir, 'one.yaml');
  writeFileSync(file, disable('PAL-004'));
  const { watcher, applied, metric } = setup(file);
  const t = watcher.start();
  assert.deepEqual(disabled(t), ['PAL-004']);
  assert.equal(await metric('palisade_evaluator_tuning_info'), `palisade_evaluator_tuning_info{sha256="${t.sha256}"} 1`);
  assert.equal(watcher.reload(), false);
  assert.equal(applied.length, 1);
  watcher.stop();
});

test('a bad tuning at start throws; a bad change later is refused, counted once, and the previous tuning stays', async () => {
  const file = join(dir, 'two.yaml');
  writeFileSync(file, disable('PAL-999'));
  assert.throws(() => setup(file).watcher.start(),
    (err: unknown) => err instanceof PalisadeError && err.code === 'CONFIG_INVALID' && /rules\.PAL-999: unknown rule id/.test(err.message));
  assert.throws(() => setup(join(dir, 'missing.yaml')).watcher.start(), /cannot read tuning/);

  writeFileSync(file, disable('PAL-001'));
  const { watcher, applied, metric } = setup(file);
  watcher.start();
  writeFileSync(file, doc('  PAL-002: {enabled: nope}\n'));
  assert.equal(watcher.reload(), false);
  assert.equal(watcher.reload(), false);
  assert.deepEqual(disabled(watcher.current), ['PAL-001']);
  assert.equal(applied.length, 1);
  assert.equal(await metric('palisade_evaluator_tuning_reload_errors_total'), 'palisade_evaluator_tuning_reload_errors_total 1');
  rmSync(file);
  assert.equal(watcher.reload(), false, 'a deleted file keeps the tuning too');
  assert.equal(await metric('palisade_evaluator_tuning_reload_errors_total'), 'palisade_evaluator_tuning_reload_errors_total 2');

  writeFileSync(file, disable('PAL-002'));
  assert.equal(watcher.reload(), true);
  assert.deepEqual(disabled(watcher.current), ['PAL-002']);
  assert.equal(await metric('palisade_evaluator_tuning_reloads_total'), 'palisade_evaluator_tuning_reloads_total 1');
  watcher.stop();
});

test('what apply refuses is a refused reload too', async () => {
  const file = join(dir, 'three.yaml');
  writeFileSync(file, disable('PAL-001'));
  let fail = false;
  const { watcher, metric } = setup(file, { apply: () => { if (fail) throw new PalisadeError('POLICY_LOAD_FAILED', 'setData failed'); } });
  watcher.start();
  fail = true;
  writeFileSync(file, disable('PAL-002'));
  assert.equal(watcher.reload(), false);
  assert.deepEqual(disabled(watcher.current), ['PAL-001']);
  assert.equal(await metric('palisade_evaluator_tuning_reload_errors_total'), 'palisade_evaluator_tuning_reload_errors_total 1');
  watcher.stop();
});

test('a file\'s changes are picked up by themselves: in-place writes and replace-by-rename', async () => {
  const file = join(dir, 'four.yaml');
  writeFileSync(file, disable('PAL-001'));
  const { watcher } = setup(file, { checkIntervalMs: 100 });
  watcher.start();
  writeFileSync(file, disable('PAL-002'));
  await waitFor('in-place write applied', () => disabled(watcher.current)[0] === 'PAL-002');
  writeFileSync(`${file}.tmp`, disable('PAL-004'));
  renameSync(`${file}.tmp`, file);
  await waitFor('renamed file applied', () => disabled(watcher.current)[0] === 'PAL-004');
  watcher.stop();
  writeFileSync(file, disable('PAL-001'));
  await sleep(250);
  assert.deepEqual(disabled(watcher.current), ['PAL-004'], 'nothing after stop()');
});

/** A folder laid out as the kubelet mounts a ConfigMap: keys are symlinks through ..data to a timestamped folder. */
function configMap(root: string, version: string, files: Record<string, string>): void {
  const v = join(root, `..${version}`);
  mkdirSync(v, { recursive: true });
  for (const [name, text] of Object.entries(files)) {
    writeFileSync(join(v, name), text);
    try { symlinkSync(join('..data', name), join(root, name)); } catch { /* the key's link exists from an older version */ }
  }
  // The kubelet's atomic swap: a new link, renamed over ..data.
  symlinkSync(`..${version}`, join(root, '..data_tmp'));
  renameSync(join(root, '..data_tmp'), join(root, '..data'));
}

test('a folder merges its files and follows a ConfigMap update (the ..data symlink swap) without a restart', async () => {
  const root = join(dir, 'configmap');
  mkdirSync(root);
  configMap(root, '2026_01_01_00_00_00.1', { 'a.yaml': disable('PAL-001'), 'b.yaml': disable('PAL-002') });
  const { watcher, metric } = setup(root, { checkIntervalMs: 100 });
  watcher.start();
  assert.deepEqual(disabled(watcher.current), ['PAL-001', 'PAL-002']);

  configMap(root, '2026_01_01_00_01_00.2', { 'a.yaml': disable('PAL-004'), 'b.yaml': doc('  PAL-002: {severity: low}\n') });
  await waitFor('the swapped ConfigMap applied', () => disabled(watcher.current).join() === 'PAL-004');
  assert.equal(watcher.current?.rules.get('PAL-002')?.severity?.value, 'low');

  // A bad version of one key: the whole folder is refused and the last good tuning stays.
  configMap(root, '2026_01_01_00_02_00.3', { 'a.yaml': disable('PAL-004'), 'b.yaml': doc('  PAL-002: {colour: red}\n') });
  await waitFor('the bad update counted', async () =>
    (await metric('palisade_evaluator_tuning_reload_errors_total')) === 'palisade_evaluator_tuning_reload_errors_total 1');
  assert.equal(watcher.current?.rules.get('PAL-002')?.severity?.value, 'low');

  // A new key added to the ConfigMap.
  configMap(root, '2026_01_01_00_03_00.4', { 'a.yaml': disable('PAL-004'), 'b.yaml': doc('  PAL-002: {severity: low}\n'),
    'c.yaml': disable('PAL-001') });
  await waitFor('the new key applied', () => disabled(watcher.current).join() === 'PAL-001,PAL-004');
  watcher.stop();
});
