// Binaries by their executable, not their comm (bpf/README.md "In-kernel filter and enforcement", bpf/include/exe.bpf.h):
// real processes in a kubelet-style pod cgroup, copies of real binaries under a scratch directory so that their
// executable paths are ours alone. A process that renames itself (prctl PR_SET_NAME, /proc/self/comm) is still
// matched by the path it runs, no longer by its old comm, and the rename is an event of its own.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pb, type palisade } from '@palisade/common';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { parseTracingPolicy } from '@palisade/collector/dist/filter-policy.js';
import type { KernelFilter } from '@palisade/collector/dist/kernel-filter-compile.js';
import { KernelSource } from '@palisade/collector/dist/kernel-source.js';
import { canUseKernel, createPodCgroup, type PodCgroup } from '../support/pod-cgroup.js';

type RawEvent = palisade.v1.IRawEvent;

const kernel = canUseKernel();
const skip = skipUnless(kernel.ok, kernel.why);
const TIMEOUT = { timeoutMs: 30_000 };

let pod: PodCgroup | undefined;
let source: KernelSource | undefined;
const events: RawEvent[] = [];
const tag = randomBytes(3).toString('hex');
const scratch = join(tmpdir(), `palisade-exe-${tag}`);
const bin = join(scratch, 'bin');
/** Copies of python3, each its own executable path; basenames within the 15-byte comm. */
const PY = { rename: join(bin, `palpy-${tag}`), early: join(scratch, 'old', `palold-${tag}`) };
const CAT = join(bin, 'cat');
const marker = join(scratch, 'marker');
const sentinel = join(scratch, 'sentinel');
const stop = join(scratch, 'stop');
let early: Promise<{ code: number | null }> | undefined;

function copyBinary(from: string, to: string): void {
  copyFileSync(realpathSync(from), to);
  chmodSync(to, 0o755);
}

function policy(selectors: string): KernelFilter {
  const yaml = `apiVersion: palisade.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: exe-test}\nspec:\n  selectors:\n${selectors}`;
  return { ...parseTracingPolicy(yaml, 'exe-test').filter, emitKillEvents: true };
}

/** python3 (a copy) that renames itself to `name` with prctl(PR_SET_NAME), then reads the marker. */
function renameAndRead(py: string, name: string, file: string): string[] {
  return [py, '-c', `import ctypes; ctypes.CDLL(None).prctl(15, b'${name}', 0, 0, 0); open('${file}').read()`];
}

/** Whether a running process' executable is `exe` (read from /proc, as a process list would). */
function running(exe: string): boolean {
  return readdirSync('/proc').some((pid) => {
    try {
      return /^\d+$/.test(pid) && readlinkSync(`/proc/${pid}/exe`) === exe;
    } catch {
      return false;
    }
  });
}

before(async () => {
  if (skip) return;
  mkdirSync(bin, { recursive: true });
  mkdirSync(join(scratch, 'old'), { recursive: true });  // outside bin/, which a binaryPrefixes Sigkill covers
  writeFileSync(marker, 'm');
  writeFileSync(sentinel, 's');
  copyBinary('/usr/bin/python3', PY.rename);
  copyBinary('/usr/bin/python3', PY.early);
  copyBinary('/bin/cat', CAT);
  pod = createPodCgroup();
  // Started before the source attaches: no exec of it is ever seen, so the kernel can only learn its executable
  // lazily (current->mm->exe_file at its first filtered event).
  early = pod.run([PY.early, '-c', `import os, time\nwhile not os.path.exists('${stop}'):\n  open('${marker}').read()\n  time.sleep(0.1)`]);
  await waitFor('the early process to have exec\'d', () => running(PY.early), TIMEOUT);
  const ours = pod.cgroupId;
  source = new KernelSource({ cgroupWalkIntervalMs: 0 });
  source.start((batch) => events.push(...batch.filter((e) => e.process?.cgroupId === ours)));
});

after(async () => {
  source?.close();
  // The early process is killed by its test; if that test did not run, it stops when it sees this file.
  if (early !== undefined) {
    writeFileSync(stop, '');
    await early;
  }
  pod?.remove();
  rmSync(scratch, { recursive: true, force: true });
});

function find(kind: palisade.v1.EventKind, pred: (e: RawEvent) => boolean): RawEvent | undefined {
  return events.find((e) => e.kind === kind && pred(e));
}

function openOf(pid: number, path: string): RawEvent | undefined {
  return find(pb.EventKind.EVENT_KIND_FILE_OPEN, (e) => e.process?.pid === pid && e.fileOpen?.path === path);
}

/** The pid of the process that exec'd `exe` (its exec event, seen after `since` events). */
async function execOf(exe: string, since: number): Promise<number> {
  const e = await waitFor(`the exec of ${exe}`, () =>
    events.slice(since).find((x) => x.kind === pb.EventKind.EVENT_KIND_PROCESS_EXEC && x.exec?.resolvedFilename === exe), TIMEOUT);
  return e.process?.pid ?? 0;
}

async function exitOf(pid: number): Promise<RawEvent> {
  return waitFor(`the exit of ${pid}`, () => find(pb.EventKind.EVENT_KIND_PROCESS_EXIT, (e) => e.process?.pid === pid), TIMEOUT);
}

/** A later process' open of the sentinel: everything the kernel emitted before it has been read by then. */
async function barrier(): Promise<void> {
  assert.ok(pod);
  const since = events.length;
  await pod.run(['cat', sentinel]);
  await waitFor('the sentinel open', () =>
    events.slice(since).find((e) => e.kind === pb.EventKind.EVENT_KIND_FILE_OPEN && e.fileOpen?.path === sentinel), TIMEOUT);
}

test('a binary renamed with prctl to "kubelet" is still matched by its exe path, and no longer by its old comm', { skip }, async () => {
  assert.ok(pod && source);
  const oldComm = `palpy-${tag}`;
  // 1. By executable: Drop its opens. The rename changes nothing.
  source.setFilter(policy(`    - binaries: [${PY.rename}]\n      kinds: [file_open]\n      action: Drop\n`));
  let since = events.length;
  let r = await pod.run(renameAndRead(PY.rename, 'kubelet', marker));
  assert.equal(r.code, 0, r.stderr);
  let pid = await execOf(PY.rename, since);
  await exitOf(pid);
  await barrier();
  const rename = find(pb.EventKind.EVENT_KIND_PROCESS_RENAME, (e) => e.process?.pid === pid);
  assert.ok(rename, 'the rename itself is reported (the Drop is narrowed to file_open)');
  assert.equal(rename.processRename?.newComm, 'kubelet');
  assert.equal(openOf(pid, marker), undefined, 'its open after the rename was dropped by the exe selector');

  // 2. By its old comm: the rename escapes a comm selector (which is why binaries match the executable).
  source.setFilter(policy(`    - comms: [${oldComm}]\n      kinds: [file_open]\n      action: Drop\n`));
  since = events.length;
  r = await pod.run(renameAndRead(PY.rename, 'kubelet', marker));
  assert.equal(r.code, 0, r.stderr);
  pid = await execOf(PY.rename, since);
  const open = await waitFor('the open after the rename', () => openOf(pid, marker), TIMEOUT);
  assert.equal(open.process?.comm, 'kubelet');
  assert.equal(open.process?.binary, PY.rename, 'process.binary is the executable, whatever the comm says');
});

test('a binaryPrefixes Sigkill kills by executable path, reason "exe"', { skip }, async () => {
  assert.ok(pod && source);
  source.setFilter(policy(`    - binaryPrefixes: [${bin}/]\n      action: Sigkill\n`));
  try {
    const since = events.length;
    const r = await pod.run([CAT, '/etc/hostname']);
    assert.equal(r.code, null, `killed by a signal, not exited (${r.code}): ${r.stdout}`);
    const kill = await waitFor('the kill record', () =>
      events.slice(since).find((e) => e.kind === pb.EventKind.EVENT_KIND_PROCESS_KILL && e.process?.comm === 'cat'), TIMEOUT);
    assert.equal(kill.processKill?.reason, 'exe');
    // The real cat, outside the prefix, is left alone.
    const ok = await pod.run(['cat', '/etc/hostname']);
    assert.equal(ok.code, 0, ok.stderr);
  } finally {
    source.setFilter({ binaries: [], pathPrefixes: [], emitKillEvents: true });
  }
});

test('a rename is an event: prctl(PR_SET_NAME) and a write to /proc/self/comm, none for a plain exec', { skip }, async () => {
  assert.ok(pod && source);
  source.setFilter({ binaries: [], pathPrefixes: [], emitKillEvents: true });
  let since = events.length;
  let r = await pod.run(renameAndRead(PY.rename, 'innocent', marker));
  assert.equal(r.code, 0, r.stderr);
  const pyPid = await execOf(PY.rename, since);
  const viaPrctl = await waitFor('the prctl rename', () =>
    find(pb.EventKind.EVENT_KIND_PROCESS_RENAME, (e) => e.process?.pid === pyPid), TIMEOUT);
  assert.deepEqual(
    { ...viaPrctl.processRename },
    { oldComm: `palpy-${tag}`, newComm: 'innocent', exe: PY.rename, via: 'prctl', targetPid: pyPid, targetTid: pyPid, exeTruncated: false },
  );

  since = events.length;
  r = await pod.run(['sh', '-c', 'printf renamed > /proc/self/comm && cat /proc/self/comm']);
  assert.equal(r.code, 0, r.stderr);
  const shPid = await execOf(realpathSync('/bin/sh'), since);
  const viaProc = await waitFor('the /proc/self/comm rename', () =>
    find(pb.EventKind.EVENT_KIND_PROCESS_RENAME, (e) => e.process?.pid === shPid), TIMEOUT);
  assert.equal(viaProc.processRename?.via, 'comm_write');
  assert.equal(viaProc.processRename?.oldComm, 'sh');
  assert.equal(viaProc.processRename?.newComm, 'renamed');
  assert.equal(viaProc.processRename?.exe, realpathSync('/bin/sh'));

  // exec renames the task to the new binary's name: that is the exec event, not a rename.
  since = events.length;
  r = await pod.run([CAT, sentinel]);
  assert.equal(r.code, 0, r.stderr);
  const catPid = await execOf(CAT, since);
  await exitOf(catPid);
  await barrier();
  assert.equal(find(pb.EventKind.EVENT_KIND_PROCESS_RENAME, (e) => e.process?.pid === catPid || e.processRename?.targetPid === catPid),
    undefined, 'no rename event for exec');
});

test('a process started before the source attached is matched by its executable (lazy exe_file walk)', { skip }, async () => {
  assert.ok(pod && source && early);
  // It is running and seen, with process.binary known although its exec was never seen (/proc, cut to its root).
  const open = await waitFor('an open of the early process', () =>
    find(pb.EventKind.EVENT_KIND_FILE_OPEN, (e) => e.process?.comm === `palold-${tag}` && e.fileOpen?.path === marker), TIMEOUT);
  assert.equal(open.process?.binary, PY.early);
  const since = events.length;
  source.setFilter(policy(`    - binaries: [${PY.early}]\n      action: Sigkill\n`));
  try {
    const r = await early;
    assert.equal(r.code, null, 'killed by a signal at its next open');
    const kill = await waitFor('the kill record', () =>
      events.slice(since).find((e) => e.kind === pb.EventKind.EVENT_KIND_PROCESS_KILL && e.process?.pid === open.process?.pid), TIMEOUT);
    assert.equal(kill.processKill?.reason, 'exe');
  } finally {
    source.setFilter({ binaries: [], pathPrefixes: [], emitKillEvents: true });
  }
});
