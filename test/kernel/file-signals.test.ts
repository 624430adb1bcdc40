// File signals (issue 8, item 3; bpf/README.md "File signals"): hard links and symlinks over /etc/shadow, truncate
// and ftruncate, and the write intent and truncation facts of opens, each made for real from a kubelet-style pod
// cgroup with the default TracingPolicy in force, and found with the paths resolved the way rules match them.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { pb, type palisade } from '@palisade/common';
import { need, skipUnless, waitFor } from '@palisade/common/testing';
import { parseTracingPolicy } from '@palisade/collector/dist/filter-policy.js';
import { KernelSource } from '@palisade/collector/dist/kernel-source.js';
import { canUseKernel, createPodCgroup, type PodCgroup } from '../support/pod-cgroup.js';

type RawEvent = palisade.v1.IRawEvent;

const kernel = canUseKernel();
const skip = skipUnless(kernel.ok, kernel.why);
const DEFAULT_POLICY = join(dirname(fileURLToPath(import.meta.url)), '../../../policies/tracing/default.yaml');
/** The dirfd forms (linkat/symlinkat with a directory fd, truncate(2) itself) need a caller that makes them. */
const PYTHON = ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => existsSync(p));

let pod: PodCgroup | undefined;
let source: KernelSource | undefined;
const events: RawEvent[] = [];
const scratch = join(tmpdir(), `palisade-files-${randomBytes(4).toString('hex')}`);

function defaultFilter(): Parameters<KernelSource['setFilter']>[0] {
  const policy = parseTracingPolicy(readFileSync(DEFAULT_POLICY, 'utf8'), DEFAULT_POLICY);
  return { ...policy.filter, emitKillEvents: true };
}

before(() => {
  if (skip) return;
  mkdirSync(scratch, { recursive: true });
  pod = createPodCgroup();
  const ours = pod.cgroupId;
  source = new KernelSource({ cgroupWalkIntervalMs: 0 });
  source.start((batch) => events.push(...batch.filter((e) => e.process?.cgroupId === ours)));
  // The policy the collector runs with by default: it must keep every one of these events.
  source.setFilter(defaultFilter());
});

after(() => {
  source?.close();
  pod?.remove();
  rmSync(scratch, { recursive: true, force: true });
});

async function run(argv: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  assert.ok(pod);
  return pod.run(argv);
}

/** Runs a python3 program in the pod (written to a file: no quoting games). */
async function py(program: string): Promise<string> {
  const file = join(scratch, `prog-${randomBytes(4).toString('hex')}.py`);
  writeFileSync(file, `import os\n${program}\n`);
  const r = await run([PYTHON ?? 'python3', file]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

function fileOp(what: string, pred: (o: palisade.v1.IFileOp) => boolean): Promise<palisade.v1.IFileOp> {
  return waitFor(what, () => events.find((e) => e.kind === pb.EventKind.EVENT_KIND_FILE_OP && e.fileOp != null &&
    pred(e.fileOp))?.fileOp, { timeoutMs: 20_000 });
}

function fileOpen(what: string, pred: (o: palisade.v1.IFileOpen) => boolean): Promise<palisade.v1.IFileOpen> {
  return waitFor(what, () => events.find((e) => e.kind === pb.EventKind.EVENT_KIND_FILE_OPEN && e.fileOpen != null &&
    pred(e.fileOpen))?.fileOpen, { timeoutMs: 20_000 });
}

const isLink = (o: palisade.v1.IFileOp): boolean => o.syscall === 'link' || o.syscall === 'linkat';
const isSymlink = (o: palisade.v1.IFileOp): boolean => o.syscall === 'symlink' || o.syscall === 'symlinkat';

test('a hard link to /etc/shadow names /etc/shadow as its target', { skip }, async () => {
  const hard = join(scratch, 'hard-shadow');
  const r = await run(['ln', '/etc/shadow', hard]);
  const o = await fileOp('the link of /etc/shadow', (x) => isLink(x) && x.newPath === hard);
  assert.equal(o.path, '/etc/shadow');
  assert.equal(o.pathResolution, pb.PathResolution.PATH_RESOLUTION_NORMALISED);
  // The attempt is the signal; it succeeds when the scratch dir shares /etc's filesystem (else EXDEV, -18).
  if (r.code === 0) assert.equal(Number(o.result), 0);
  else assert.equal(Number(o.result), -18, r.stderr);
});

test('a relative hard link after chdir("/etc") is made absolute from the kernel-resolved cwd', { skip }, async () => {
  const hard = join(scratch, 'hard-rel');
  await run(['sh', '-c', `cd /etc && exec ln shadow ${hard}`]);
  const o = await fileOp('the relative link', (x) => isLink(x) && x.newPath === hard);
  assert.equal(o.path, '/etc/shadow');
  assert.equal(o.requestedPath, 'shadow');
});

test('linkat with directory fds: both names are joined with their dirfd\'s kernel-resolved path', { skip }, async (t: TestContext) => {
  if (!need(t, PYTHON !== undefined, 'python3 not found')) return;
  const dir = join(scratch, 'dirfd');
  mkdirSync(dir);
  writeFileSync(join(scratch, 'victim'), 'x');
  await py(`d = os.open(${JSON.stringify(dir)}, os.O_RDONLY | os.O_DIRECTORY)
os.chdir('/')
os.link('../victim', 'linked', src_dir_fd=d, dst_dir_fd=d, follow_symlinks=False)`);
  const o = await fileOp('the linkat', (x) => x.syscall === 'linkat' && x.newPath === join(dir, 'linked'));
  assert.equal(o.path, join(scratch, 'victim'));
  assert.equal(o.requestedPath, '../victim');
  assert.equal(o.requestedNewPath, 'linked');
  assert.equal(Number(o.result), 0);
  assert.ok((o.dfd ?? -100) >= 0, 'the dirfd is reported');
});

test('a symlink to /etc/shadow keeps its text and says it points to /etc/shadow', { skip }, async () => {
  const link = join(scratch, 'innocent.txt');
  const r = await run(['ln', '-s', '/etc/shadow', link]);
  assert.equal(r.code, 0, r.stderr);
  const o = await fileOp('the symlink', (x) => isSymlink(x) && x.newPath === link);
  assert.equal(o.symlinkText, '/etc/shadow');
  assert.equal(o.path, '/etc/shadow');
  assert.equal(Number(o.result), 0);
});

test('a relative symlink (symlinkat with a dirfd) is read from the link\'s directory, not the cwd', { skip }, async (t: TestContext) => {
  if (!need(t, PYTHON !== undefined, 'python3 not found')) return;
  const dir = join(scratch, 'deep', 'er');
  mkdirSync(dir, { recursive: true });
  // Enough ".." to climb from any scratch dir to "/": the kernel stops at the root, and so does the fold.
  const up = '../'.repeat(dir.split('/').length + 2);
  await py(`d = os.open(${JSON.stringify(dir)}, os.O_RDONLY | os.O_DIRECTORY)
os.chdir('/usr')
os.symlink(${JSON.stringify(`${up}etc/shadow`)}, 'to-shadow', dir_fd=d)
os.symlink('../victim2', 'to-victim', dir_fd=d)`);
  const s = await fileOp('the symlinkat to /etc/shadow', (x) => x.syscall === 'symlinkat' && x.newPath === join(dir, 'to-shadow'));
  assert.equal(s.symlinkText, `${up}etc/shadow`);
  assert.equal(s.path, '/etc/shadow');
  const v = await fileOp('the symlinkat to ../victim2', (x) => x.syscall === 'symlinkat' && x.newPath === join(dir, 'to-victim'));
  assert.equal(v.path, join(scratch, 'deep', 'victim2'), 'relative to the link\'s directory, whatever the cwd (/usr)');
  assert.equal(v.symlinkText, '../victim2');
});

test('truncate(2) of a relative path: absolute path and the length', { skip }, async (t: TestContext) => {
  if (!need(t, PYTHON !== undefined, 'python3 not found')) return;
  const file = join(scratch, 'auth.log');
  writeFileSync(file, 'Dec  2 sshd[1]: Accepted password for root\n');
  await py(`os.chdir(${JSON.stringify(scratch)})
os.truncate('./auth.log', 0)`);
  const o = await fileOp('the truncate', (x) => x.syscall === 'truncate' && x.path === file);
  assert.equal(Number(o.length), 0);
  assert.equal(o.requestedPath, './auth.log');
  assert.equal(Number(o.result), 0);
  assert.equal(readFileSync(file, 'utf8'), '');
});

test('ftruncate (truncate -s0): the fd\'s file resolved in the kernel, through a symlink, with the length', { skip }, async () => {
  const file = join(scratch, 'secure.log');
  writeFileSync(file, 'some history\n');
  const link = join(scratch, 'log-link');
  symlinkSync(file, link);
  const r = await run(['truncate', '-s', '3', link]);
  assert.equal(r.code, 0, r.stderr);
  const o = await fileOp('the ftruncate', (x) => x.syscall === 'ftruncate' && x.path === file);
  assert.equal(Number(o.length), 3);
  assert.equal(o.pathResolution, pb.PathResolution.PATH_RESOLUTION_KERNEL);
  assert.ok((o.fd ?? -1) >= 0);
  assert.equal(Number(o.result), 0);
});

test('opens: "> existing" is truncated_existing, "> new" is created, ">>" appends, a read has no write intent', { skip }, async () => {
  const existing = join(scratch, 'wipe-me.log');
  writeFileSync(existing, 'evidence\n');
  const fresh = join(scratch, `new-${randomBytes(3).toString('hex')}.log`);
  const appended = join(scratch, 'append.log');
  writeFileSync(appended, 'a\n');
  const r = await run(['sh', '-c', `: > ${existing} && : > ${fresh} && echo b >> ${appended} && cat ${appended} >/dev/null`]);
  assert.equal(r.code, 0, r.stderr);
  const wipe = await fileOpen('the > of an existing file', (o) => o.path === existing);
  assert.deepEqual([wipe.writeIntent, wipe.oTrunc, wipe.created, wipe.truncatedExisting, wipe.oAppend],
    [true, true, false, true, false]);
  const made = await fileOpen('the > of a new file', (o) => o.path === fresh);
  assert.deepEqual([made.writeIntent, made.oTrunc, made.created, made.truncatedExisting], [true, true, true, false]);
  const app = await fileOpen('the >>', (o) => o.path === appended && o.oAppend === true);
  assert.deepEqual([app.writeIntent, app.oTrunc, app.truncatedExisting], [true, false, false]);
  const read = await fileOpen('the read', (o) => o.path === appended && o.oAppend !== true);
  assert.deepEqual([read.writeIntent, read.oTrunc, read.created, read.truncatedExisting], [false, false, false, false]);
});

test('the in-kernel filter: a Drop prefix matches an ftruncate\'s resolved path, never a path-only op', { skip }, async () => {
  const dropped = join(scratch, 'dropped');
  mkdirSync(dropped);
  const quiet = join(dropped, 'noise.log');
  writeFileSync(quiet, 'x\n');
  const link = join(scratch, 'into-dropped');
  symlinkSync(quiet, link);
  const kept = join(scratch, 'kept.log');
  writeFileSync(kept, 'x\n');
  const policy = defaultFilter();
  source?.setFilter({ ...policy, pathPrefixes: [...(policy.pathPrefixes ?? []), { prefix: `${dropped}/`, action: 'drop' as const }] });
  try {
    // Through a symlink outside the prefix: only the resolved path is under it.
    const r = await run(['sh', '-c', `truncate -s0 ${link} && ln -s /etc/shadow ${dropped}/s && truncate -s0 ${kept}`]);
    assert.equal(r.code, 0, r.stderr);
    await fileOp('the ftruncate outside the prefix', (x) => x.syscall === 'ftruncate' && x.path === kept);
    await fileOp('the symlink into the prefix (path-only ops are not matched)', (x) =>
      isSymlink(x) && x.newPath === `${dropped}/s`);
    assert.equal(events.some((e) => e.fileOp?.syscall === 'ftruncate' && e.fileOp.path === quiet), false,
      'the ftruncate of a file under the Drop prefix was dropped in the kernel');
  } finally {
    source?.setFilter(defaultFilter());
  }
});
