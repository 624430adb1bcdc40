import assert from 'node:assert/strict';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, test } from 'node:test';
import { Metrics, PalisadeError, silentLogger } from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import type { TracingPolicy } from './filter-policy.js';
import { PolicyWatcher } from './policy-watcher.js';

const dir = mkdtempSync(join(tmpdir(), 'palisade-watch-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function policy(name: string, comm = 'kubelet'): string {
  return `apiVersion: palisade.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: ${name}}\nspec:\n  selectors:\n    - comms: [${comm}]\n      action: Drop\n`;
}

function setup(file: string, opts: { checkIntervalMs?: number; apply?: (p: TracingPolicy) => void } = {}) {
  const metrics = new Metrics();
  const applied: TracingPolicy[] = [];
  const watcher = new PolicyWatcher({
    path: file, logger: silentLogger, metrics, debounceMs: 10, checkIntervalMs: opts.checkIntervalMs ?? 0,
    apply: opts.apply ?? ((p) => applied.push(p)),
  });
  const metric = async (name: string): Promise<string> => (await metrics.registry.getSingleMetricAsString(name)).split('\n').filter((l) => !l.startsWith('#')).join('\n');
  return { watcher, applied, metric };
}

test('start applies the file and exposes its name and hash; the same content is not applied twice', async () => {
  const file = join(dir, 'a.yaml');
  writeFileSync(file, policy('first'));
  const { watcher, applied, metric } = setup(file);
  const active = watcher.start();
  assert.equal(active.name, 'first');
  assert.match(active.sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(applied.map((p) => p.filter.binaries), [[{ comm: 'kubelet', action: 'drop' }]]);
  assert.equal(await metric('palisade_collector_policy_info'), `palisade_collector_policy_info{name="first",sha256="${active.sha256}"} 1`);
  assert.equal(watcher.reload(), false);
  assert.equal(applied.length, 1);
  assert.equal(await metric('palisade_collector_policy_reloads_total'), 'palisade_collector_policy_reloads_total 0');
  watcher.stop();
});

test('a bad file at start throws (no previous policy to keep); a bad file later is refused, counted once, and the old policy stays', async () => {
  const file = join(dir, 'b.yaml');
  writeFileSync(file, 'apiVersion: nope');
  assert.throws(() => setup(file).watcher.start(), (err: unknown) => err instanceof PalisadeError && err.code === 'CONFIG_INVALID' && /apiVersion/.test(err.message));
  assert.throws(() => setup(join(dir, 'missing.yaml')).watcher.start(), /cannot read TracingPolicy/);

  writeFileSync(file, policy('good'));
  const { watcher, applied, metric } = setup(file);
  watcher.start();
  writeFileSync(file, policy('bad', 'a-name-far-too-long-for-comm'));
  assert.equal(watcher.reload(), false);
  assert.equal(watcher.reload(), false);
  assert.equal(watcher.current?.name, 'good');
  assert.equal(applied.length, 1);
  assert.equal(await metric('palisade_collector_policy_reload_errors_total'), 'palisade_collector_policy_reload_errors_total 1');

  writeFileSync(file, policy('better'));
  assert.equal(watcher.reload(), true);
  assert.equal(watcher.current?.name, 'better');
  assert.equal(await metric('palisade_collector_policy_reloads_total'), 'palisade_collector_policy_reloads_total 1');
  assert.match(await metric('palisade_collector_policy_info'), /^palisade_collector_policy_info\{name="better",sha256="[0-9a-f]{64}"\} 1$/);
  watcher.stop();
});

test('a policy the kernel side rejects (apply throws) is a refused reload too', async () => {
  const file = join(dir, 'c.yaml');
  writeFileSync(file, policy('one'));
  let fail = false;
  const { watcher, metric } = setup(file, { apply: () => { if (fail) throw new PalisadeError('NATIVE_ERROR', 'map full'); } });
  watcher.start();
  fail = true;
  writeFileSync(file, policy('two'));
  assert.equal(watcher.reload(), false);
  assert.equal(watcher.current?.name, 'one');
  assert.equal(await metric('palisade_collector_policy_reload_errors_total'), 'palisade_collector_policy_reload_errors_total 1');
  watcher.stop();
});

test('changes are picked up by themselves: in-place writes and replace-by-rename (how editors and ConfigMaps save)', async () => {
  const file = join(dir, 'd.yaml');
  writeFileSync(file, policy('v1'));
  const { watcher } = setup(file, { checkIntervalMs: 100 });
  watcher.start();
  writeFileSync(file, policy('v2'));
  await waitFor('in-place write applied', () => watcher.current?.name === 'v2');
  writeFileSync(join(dir, 'd.yaml.tmp'), policy('v3'));
  renameSync(join(dir, 'd.yaml.tmp'), file);
  await waitFor('renamed file applied', () => watcher.current?.name === 'v3');
  watcher.stop();
  writeFileSync(file, policy('v4'));
  await sleep(250);
  assert.equal(watcher.current?.name, 'v3', 'nothing after stop()');
});
