// Kernel-resolved paths (bpf/README.md "Kernel-resolved paths"): every spelling of /etc/shadow a process can pass,
// opened for real from a kubelet-style pod cgroup, arrives as path "/etc/shadow" with the string as passed kept in
// requested_path, and the default TracingPolicy's Drop prefixes cannot be escaped with "..".
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pb, type palisade } from '@palisade/common';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { parseTracingPolicy } from '@palisade/collector/dist/filter-policy.js';
import { KernelSource } from '@palisade/collector/dist/kernel-source.js';
import { canUseKernel, createPodCgroup, type PodCgroup } from '../support/pod-cgroup.js';

type RawEvent = palisade.v1.IRawEvent;

const kernel = canUseKernel();
const skip = skipUnless(kernel.ok, kernel.why);
const DEFAULT_POLICY = join(dirname(fileURLToPath(import.meta.url)), '../../../policies/tracing/default.yaml');

let pod: PodCgroup | undefined;
let source: KernelSource | undefined;
const events: RawEvent[] = [];
const scratch = join(tmpdir(), `palisade-paths-${randomBytes(4).toString('hex')}`);

before(() => {
  if (skip) return;
  mkdirSync(scratch, { recursive: true });
  pod = createPodCgroup();
  const ours = pod.cgroupId;
  source = new KernelSource({ cgroupWalkIntervalMs: 0 });
  source.start((batch) => events.push(...batch.filter((e) => e.process?.cgroupId === ours)));
  // The policy the collector runs with by default: its Drop prefixes (/proc/self/, /sys/fs/cgroup/, ...) are active.
  const policy = parseTracingPolicy(readFileSync(DEFAULT_POLICY, 'utf8'), DEFAULT_POLICY);
  source.setFilter({ ...policy.filter, emitKillEvents: true });
});

after(() => {
  source?.close();
  pod?.remove();
  rmSync(scratch, { recursive: true, force: true });
});

function opens(pred: (o: palisade.v1.IFileOpen) => boolean): RawEvent | undefined {
  return events.find((e) => e.kind === pb.EventKind.EVENT_KIND_FILE_OPEN && e.fileOpen != null && pred(e.fileOpen));
}

/** Runs argv in the pod and waits for its open whose string as passed was `requested`. */
async function openedAs(argv: string[], requested: string): Promise<palisade.v1.IFileOpen> {
  assert.ok(pod);
  const r = await pod.run(argv);
  assert.equal(r.code, 0, `${argv.join(' ')}: ${r.stderr}`);
  const e = await waitFor(`the open of ${JSON.stringify(requested)}`, () =>
    opens((o) => o.requestedPath === requested || (o.requestedPath === '' && o.path === requested)),
  { timeoutMs: 20_000 });
  assert.ok(e.fileOpen);
  return e.fileOpen;
}

const SPELLINGS = [
  '//etc/shadow',
  '/etc//shadow',
  '/etc/./shadow',
  '/etc/../etc/shadow',
  '/proc/self/root/etc/shadow',
  '/proc/thread-self/root/etc/shadow',
  // A Drop prefix of the default policy, left with "..": must not be dropped.
  '/sys/fs/cgroup/../../../etc/shadow',
];

for (const spelling of SPELLINGS) {
  test(`${spelling} resolves to /etc/shadow (kernel-resolved, the string as passed kept)`, { skip }, async () => {
    const o = await openedAs(['cat', spelling], spelling);
    assert.equal(o.path, '/etc/shadow');
    assert.equal(o.requestedPath, spelling);
    assert.equal(o.pathResolution, pb.PathResolution.PATH_RESOLUTION_KERNEL);
    assert.equal(o.pathTruncated, false);
    assert.ok((Number(o.result ?? -1)) >= 0, 'the open succeeded');
  });
}

test('a symlink to /etc/shadow resolves to /etc/shadow', { skip }, async () => {
  const link = join(scratch, 'innocent.txt');
  symlinkSync('/etc/shadow', link);
  const o = await openedAs(['cat', link], link);
  assert.equal(o.path, '/etc/shadow');
  assert.equal(o.pathResolution, pb.PathResolution.PATH_RESOLUTION_KERNEL);
});

test('a relative path after chdir("/etc") resolves to /etc/shadow', { skip }, async () => {
  const o = await openedAs(['sh', '-c', 'cd /etc && exec cat shadow'], 'shadow');
  assert.equal(o.path, '/etc/shadow');
  assert.equal(o.requestedPath, 'shadow');
});

test('a plain path is the same both ways: requested_path stays empty', { skip }, async () => {
  const o = await openedAs(['cat', '/etc/hostname'], '/etc/hostname');
  assert.equal(o.path, '/etc/hostname');
  assert.equal(o.requestedPath, '');
  assert.equal(o.pathResolution, pb.PathResolution.PATH_RESOLUTION_KERNEL);
});

test('a failed open is normalised, and ".." out of a Drop prefix still reaches userspace', { skip }, async () => {
  assert.ok(pod);
  const missing = `/sys/fs/cgroup/../../../etc/palisade-missing-${randomBytes(4).toString('hex')}`;
  await pod.run(['cat', missing]);
  const e = await waitFor('the failed open', () => opens((o) => o.requestedPath === missing), { timeoutMs: 20_000 });
  assert.equal(e.fileOpen?.path, missing.replace('/sys/fs/cgroup/../../..', ''));
  assert.equal(e.fileOpen?.pathResolution, pb.PathResolution.PATH_RESOLUTION_NORMALISED);
  assert.equal(Number(e.fileOpen?.result), -2);
});

test('a process\' own /proc entries resolve as /proc/self/, in its own pid namespace too', { skip }, async () => {
  // /proc/self is a symlink to /proc/<pid>; the walk names the process' own pid directory "self", so /proc/self/
  // selectors keep meaning "its own entries" (and the default policy's Drop of them applies to the resolved path).
  source?.setFilter({ binaries: [], pathPrefixes: [], emitKillEvents: true });
  try {
    const status = await openedAs(['cat', '/proc/self/status'], '/proc/self/status');
    assert.equal(status.path, '/proc/self/status');
    const inNs = await openedAs(['unshare', '--pid', '--fork', '--mount-proc', 'cat', '/proc/self/stat'],
      '/proc/self/stat');
    assert.equal(inNs.path, '/proc/self/stat');
    // Another process' entry keeps its pid.
    const other = await openedAs(['cat', '/proc/1/comm'], '/proc/1/comm');
    assert.equal(other.path, '/proc/1/comm');
  } finally {
    const policy = parseTracingPolicy(readFileSync(DEFAULT_POLICY, 'utf8'), DEFAULT_POLICY);
    source?.setFilter({ ...policy.filter, emitKillEvents: true });
  }
});

test('a chrooted process sees its own root-relative path, as a container does', { skip }, async () => {
  const root = join(scratch, 'rootfs');
  mkdirSync(join(root, 'bin'), { recursive: true });
  mkdirSync(join(root, 'etc'), { recursive: true });
  copyFileSync('/bin/busybox', join(root, 'bin/busybox'));
  chmodSync(join(root, 'bin/busybox'), 0o755);
  writeFileSync(join(root, 'etc/shadow'), 'root:*:1:0:99999:7:::\n');
  const o = await openedAs(['chroot', root, '/bin/busybox', 'cat', '/etc/../etc/shadow'], '/etc/../etc/shadow');
  assert.equal(o.path, '/etc/shadow');
  assert.equal(o.pathOutsideRoot, false);
});

test('exec: the binary the kernel ran, resolved through symlinks', { skip }, async () => {
  assert.ok(pod);
  const link = join(scratch, 'looks-harmless');
  symlinkSync('/bin/busybox', link);
  await pod.run([link, 'true']);
  const e = await waitFor('the exec through the symlink', () =>
    events.find((x) => x.kind === pb.EventKind.EVENT_KIND_PROCESS_EXEC && x.exec?.filename === link), { timeoutMs: 20_000 });
  assert.equal(e.exec?.resolvedFilename, realpathSync('/bin/busybox'));
  assert.equal(e.exec?.resolvedFilenameTruncated, false);
  // A #! script: the file the kernel loaded is its interpreter.
  const script = join(scratch, 'script.sh');
  writeFileSync(script, '#!/bin/sh\nexit 0\n');
  chmodSync(script, 0o755);
  await pod.run([script]);
  const s = await waitFor('the exec of the script', () =>
    events.find((x) => x.kind === pb.EventKind.EVENT_KIND_PROCESS_EXEC && x.exec?.filename === script), { timeoutMs: 20_000 });
  assert.equal(s.exec?.resolvedFilename, realpathSync('/bin/sh'));
});

test('file ops: unlink and chmod paths are made absolute and normalised', { skip }, async () => {
  const victim = join(scratch, 'victim');
  writeFileSync(victim, 'x');
  const rel = `../${scratch.split('/').pop() ?? ''}/victim`;
  assert.ok(pod);
  await pod.run(['sh', '-c', `cd ${scratch} && chmod 600 ./${rel} && rm ${rel}`]);
  const find = (syscall: string): RawEvent | undefined => events.find((x) =>
    x.kind === pb.EventKind.EVENT_KIND_FILE_OP && (x.fileOp?.syscall ?? '').startsWith(syscall) &&
    x.fileOp?.path === victim);
  const chmod = await waitFor('the chmod', () => find('fchmodat'), { timeoutMs: 20_000 });
  assert.equal(chmod.fileOp?.requestedPath, `./${rel}`);
  assert.equal(chmod.fileOp?.pathResolution, pb.PathResolution.PATH_RESOLUTION_NORMALISED);
  const unlink = await waitFor('the unlink', () => find('unlink'), { timeoutMs: 20_000 });
  assert.equal(unlink.fileOp?.requestedPath, rel);
});
