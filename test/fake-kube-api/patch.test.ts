import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonPatch, mergePatch, PatchError, strategicMergePatch } from './patch.js';

test('merge patch: objects merge, null deletes, lists replace', () => {
  assert.deepEqual(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] }), { a: { c: 2, d: 3 }, l: [3] });
  assert.deepEqual(mergePatch({ a: 1 }, 'x'), 'x');
});

test('strategic merge patch: labels merge like a merge patch; $patch directives', () => {
  const pod = { metadata: { labels: { app: 'web' } }, spec: { x: { y: 1 } } };
  assert.deepEqual(strategicMergePatch(pod, { metadata: { labels: { q: 'true' } } }), { metadata: { labels: { app: 'web', q: 'true' } }, spec: { x: { y: 1 } } });
  assert.deepEqual(strategicMergePatch(pod, { spec: { x: { $patch: 'replace', z: 2 } } }), { metadata: { labels: { app: 'web' } }, spec: { x: { z: 2 } } });
  assert.deepEqual(strategicMergePatch(pod, { spec: { x: { $patch: 'delete' } } }), { metadata: { labels: { app: 'web' } }, spec: {} });
  assert.deepEqual(strategicMergePatch(pod, { '$setElementOrder/x': [], metadata: { labels: { app: null } } }), { metadata: { labels: {} }, spec: { x: { y: 1 } } });
  assert.throws(() => strategicMergePatch(pod, { $patch: 'explode' }), PatchError);
});

test('json patch: add, remove, replace, move, copy, test', () => {
  const doc = { a: { b: 1 }, l: [1, 2] };
  assert.deepEqual(
    jsonPatch(doc, [
      { op: 'add', path: '/a/c', value: 2 },
      { op: 'add', path: '/l/-', value: 3 },
      { op: 'remove', path: '/l/0' },
      { op: 'replace', path: '/a/b', value: 10 },
      { op: 'copy', from: '/a/b', path: '/d' },
      { op: 'move', from: '/a/c', path: '/e' },
      { op: 'test', path: '/d', value: 10 },
      { op: 'add', path: '/x~1y', value: true },
    ]),
    { a: { b: 10 }, l: [2, 3], d: 10, e: 2, 'x/y': true },
  );
  assert.deepEqual(doc, { a: { b: 1 }, l: [1, 2] }, 'input untouched');
  assert.throws(() => jsonPatch(doc, [{ op: 'test', path: '/a/b', value: 2 }]), (e: unknown) => e instanceof PatchError && e.status === 422);
  assert.throws(() => jsonPatch(doc, [{ op: 'remove', path: '/nope' }]), PatchError);
  assert.throws(() => jsonPatch(doc, [{ op: 'add', path: '/l/5', value: 1 }]), PatchError);
  assert.throws(() => jsonPatch(doc, { op: 'add' }), (e: unknown) => e instanceof PatchError && e.status === 400);
});
