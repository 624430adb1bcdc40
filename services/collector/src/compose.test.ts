import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { Metrics, silentLogger } from '@palisade/common';
import { PolicedSource, type FilterableSource } from './compose.js';
import { loadCollectorConfig } from './config.js';
import type { KernelFilter } from './kernel-filter-compile.js';

test('--cgroup-root: the TracingPolicy\'s cgroup paths resolve below it (a pod sees the host\'s cgroup2 where it is mounted)', () => {
  const root = mkdtempSync(join(tmpdir(), 'palisade-cgroot-'));
  try {
    mkdirSync(join(root, 'kubepods.slice', 'pod-a'), { recursive: true });
    const policy = join(root, 'policy.yaml');
    writeFileSync(policy, 'apiVersion: palisade.dev/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: t\nspec:\n  selectors:\n' +
      '    - cgroups: [/kubepods.slice/pod-a]\n      action: Drop\n');
    const cfg = loadCollectorConfig({ argv: [], env: { PALISADE_CGROUP_ROOT: root } });
    assert.equal(cfg.cgroupRoot, root);
    assert.equal(loadCollectorConfig({ argv: [], env: {} }).cgroupRoot, '/sys/fs/cgroup/unified');
    const filters: KernelFilter[] = [];
    const inner: FilterableSource = {
      start: () => undefined, close: () => undefined, setFilter: (f) => { filters.push(f); },
      stats: () => ({ events: 0, lost: 0 } as unknown as ReturnType<FilterableSource['stats']>),
    };
    const source = new PolicedSource(inner, { path: policy, checkIntervalMs: 0, logger: silentLogger,
      metrics: new Metrics(), parse: { cgroupRoot: cfg.cgroupRoot } });
    source.start(() => undefined);
    source.close();
    assert.deepEqual(filters[0]?.cgroups, [{ id: statSync(join(root, 'kubepods.slice', 'pod-a')).ino, action: 'drop' }]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
