// One fact in one place: the chart's values are described once, in values.schema.json; values.yaml holds the
// defaults (each with a comment for people reading it), and the README's table is generated from both.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, type Node, type YAMLMap } from 'yaml';
import { CHART_DIR } from '../support/helm.js';
import { README, defaults, leaves, valueAt, valuesSection } from './helm-values-doc.js';

test('the README\'s Helm values table is generated from the chart (node test/dist/docs/helm-values-doc.js --write)', () => {
  assert.ok(readFileSync(README, 'utf8').includes(valuesSection()), 'README.md Helm values section is stale: run node test/dist/docs/helm-values-doc.js --write');
});

test('values.yaml has a default for every value in the schema, and nothing the schema does not know', () => {
  const d = defaults();
  const documented = leaves();
  for (const { path } of documented) assert.notEqual(valueAt(d, path), undefined, `values.yaml has no ${path.join('.')}`);
  // Every leaf of values.yaml is a schema leaf or inside one (resources, lists, maps).
  const known = documented.map((l) => l.path.join('.'));
  const walk = (v: unknown, at: string[]): void => {
    const here = at.join('.');
    if (known.includes(here)) return;
    assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `values.yaml ${here} is not in values.schema.json`);
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) walk(x, [...at, k]);
  };
  walk(d, []);
});

test('every key of values.yaml carries a comment', () => {
  const doc = parseDocument(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8'));
  const missing: string[] = [];
  const walk = (node: Node | null, at: string[]): void => {
    if (!isMap(node)) return;
    (node as YAMLMap).items.forEach((pair, i) => {
      const key = isScalar(pair.key) ? String(pair.key.value) : '?';
      const path = [...at, key];
      // A comment sits before the key (on the pair's key node, or for the first key of a map on the map itself).
      const before = (isScalar(pair.key) ? pair.key.commentBefore : undefined) ?? (i === 0 ? node.commentBefore : undefined)
        ?? (i === 0 && at.length === 0 ? doc.commentBefore : undefined);
      if (before === undefined || before === null || before.trim() === '') missing.push(path.join('.'));
      if (!isSeq(pair.value)) walk(pair.value as Node | null, path);
    });
  };
  walk(doc.contents, []);
  // Within resources, tolerations and the like the keys are Kubernetes' own: documented once, on the parent.
  assert.deepEqual(missing.filter((p) => !/\.resources\.|\.tolerations\./.test(p)), []);
});
