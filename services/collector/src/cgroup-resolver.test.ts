import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { test, type TestContext } from 'node:test';
import { need } from '@palisade/common/testing';
import { CgroupResolver, DEFAULT_CGROUP2_ROOT } from './cgroup-resolver.js';

const ino = (p: string): number => Number(statSync(p, { bigint: true }).ino);

test('resolves directory inodes to paths below the root, and walks again on a miss', () => {
  const root = mkdtempSync(join(tmpdir(), 'pal-cg-'));
  try {
    mkdirSync(join(root, 'kubepods.slice', 'pod1'), { recursive: true });
    const resolver = new CgroupResolver({ root, minWalkIntervalMs: 0, newIdWalkIntervalMs: 0 });
    assert.equal(resolver.resolve(ino(root)), '/');
    assert.equal(resolver.resolve(ino(join(root, 'kubepods.slice', 'pod1'))), '/kubepods.slice/pod1');
    mkdirSync(join(root, 'late'));
    assert.equal(resolver.resolve(ino(join(root, 'late'))), '/late', 'a miss walks the tree again');
    assert.equal(resolver.resolve(123456789123), '');
    const s = resolver.stats();
    assert.equal(s.entries, 4);
    assert.ok(s.hits >= 1);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('walks are rate-limited: a miss within the interval does not walk', () => {
  const root = mkdtempSync(join(tmpdir(), 'pal-cg-'));
  let now = 1000;
  try {
    const resolver = new CgroupResolver({ root, minWalkIntervalMs: 500, now: () => now });
    assert.equal(resolver.resolve(1), '');
    assert.equal(resolver.stats().walks, 1);
    mkdirSync(join(root, 'new'));
    assert.equal(resolver.resolve(ino(join(root, 'new'))), '', 'too soon after the last walk');
    assert.equal(resolver.stats().walks, 1);
    now += 500;
    assert.equal(resolver.resolve(ino(join(root, 'new'))), '/new');
    assert.equal(resolver.stats().walks, 2);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a real cgroup v2 directory resolves by its id', (t: TestContext) => {
  if (!need(t, process.getuid?.() === 0, 'creating a cgroup needs root')) return;
  const name = `palisade-test-${randomBytes(4).toString('hex')}`;
  const dir = join(DEFAULT_CGROUP2_ROOT, name);
  mkdirSync(dir);
  try {
    const resolver = new CgroupResolver({ minWalkIntervalMs: 0 });
    assert.equal(resolver.resolve(ino(dir)), `/${name}`);
    assert.equal(resolver.resolve(1), '/', 'the cgroup2 root has id 1');
  } finally {
    rmdirSync(dir);
  }
});

test('a cgroup id never looked for walks again soon; one a walk failed to find waits the long interval', () => {
  const root = mkdtempSync(join(tmpdir(), 'pal-cg-'));
  let now = 1000;
  try {
    const resolver = new CgroupResolver({ root, minWalkIntervalMs: 1000, newIdWalkIntervalMs: 20, now: () => now });
    assert.equal(resolver.resolve(987654321), '', 'unknown id');
    assert.equal(resolver.stats().walks, 1);
    now += 20;
    assert.equal(resolver.resolve(987654321), '', 'known-missing id');
    assert.equal(resolver.stats().walks, 1, 'an id a walk already missed must not walk again before minWalkIntervalMs');
    // A pod that starts now: its first event must resolve, or the enricher would take it for a host process.
    mkdirSync(join(root, 'kubepods.slice', 'new-pod'), { recursive: true });
    assert.equal(resolver.resolve(ino(join(root, 'kubepods.slice', 'new-pod'))), '/kubepods.slice/new-pod');
    assert.equal(resolver.stats().walks, 2);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a container removed before any walk saw it is still named by the leaf its exec carried', () => {
  const root = mkdtempSync(join(tmpdir(), 'pal-cg-'));
  try {
    const resolver = new CgroupResolver({ root, minWalkIntervalMs: 0, newIdWalkIntervalMs: 0 });
    const leaf = `cri-containerd-${'ab'.repeat(32)}.scope`;
    const gone = 987654321987;
    assert.equal(resolver.resolve(gone), '', 'unknown, and no leaf learned yet');
    resolver.learnLeaf(gone, leaf);
    assert.equal(resolver.resolve(gone), leaf, 'the leaf alone, which names the container');
    // A walk that finds the directory wins over the leaf.
    const dir = join(root, 'kubepods.slice', leaf);
    mkdirSync(dir, { recursive: true });
    resolver.learnLeaf(ino(dir), leaf);
    assert.equal(resolver.resolve(ino(dir)), `/kubepods.slice/${leaf}`);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a cgroup a walk found keeps its path after it is removed and a later walk no longer sees it', () => {
  // A throwaway pod: its first event made the walk that found it; its last events are read after its directory is
  // gone and another pod's first event has made the resolver walk again. They must still name the pod.
  const root = mkdtempSync(join(tmpdir(), 'pal-cg-'));
  try {
    const resolver = new CgroupResolver({ root, minWalkIntervalMs: 0, newIdWalkIntervalMs: 0 });
    const leaf = `cri-containerd-${'cd'.repeat(32)}.scope`;
    const pod = join(root, 'kubepods.slice', 'kubepods-besteffort-pod1.slice');
    const dir = join(pod, leaf);
    mkdirSync(dir, { recursive: true });
    const id = ino(dir);
    const path = `/kubepods.slice/kubepods-besteffort-pod1.slice/${leaf}`;
    resolver.learnLeaf(id, leaf);
    assert.equal(resolver.resolve(id), path);
    mkdirSync(join(root, 'next-pod'));
    rmdirSync(dir);
    rmdirSync(pod);
    assert.equal(resolver.resolve(ino(join(root, 'next-pod'))), '/next-pod', 'the next pod made a walk');
    assert.equal(resolver.stats().entries, 3, 'the walk no longer sees the removed cgroup');
    const walks = resolver.stats().walks;
    assert.equal(resolver.resolve(id), path, 'the removed pod\'s late event keeps its full path (pod and container)');
    resolver.learnLeaf(id, leaf);
    assert.equal(resolver.resolve(id), path, 'a late exec\'s leaf does not replace the full path');
    assert.equal(resolver.stats().walks, walks, 'and costs no walk');
    assert.equal(resolver.stats().removed, 2, 'the container and its pod slice');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a removed real cgroup keeps its path after the next walk', (t: TestContext) => {
  if (!need(t, process.getuid?.() === 0, 'creating a cgroup needs root')) return;
  const name = `palisade-test-${randomBytes(4).toString('hex')}`;
  const dir = join(DEFAULT_CGROUP2_ROOT, name);
  const next = `${dir}-next`;
  mkdirSync(dir);
  try {
    const resolver = new CgroupResolver({ minWalkIntervalMs: 0, newIdWalkIntervalMs: 0 });
    const id = ino(dir);
    assert.equal(resolver.resolve(id), `/${name}`);
    rmdirSync(dir);
    mkdirSync(next);
    assert.notEqual(ino(next), id, 'cgroupfs gives a new cgroup a new id');
    assert.equal(resolver.resolve(ino(next)), `/${name}-next`);
    assert.equal(resolver.resolve(id), `/${name}`);
  } finally {
    for (const d of [dir, next]) if (existsSync(d)) rmdirSync(d);
  }
});
