// The in-kernel filter against the real kernel: DROP by binary name, SIGKILL by path prefix and by binary, the kind
// mask, binary prefixes, cgroups, ports, Post rate limits, and filter changes on a running session (map writes
// only; the programs stay attached), including through the TracingPolicy file watcher. Raw records are read here,
// not decoded protos, with the registry's layout (LAYOUT): the test sees exactly what the kernel wrote.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Metrics, silentLogger } from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { DEFAULT_CGROUP2_ROOT } from './cgroup-resolver.js';
import { ABI } from '@palisade/common';
import { BpfSession } from './bpf-session.js';
import { LAYOUT } from './event-decoder.js';
import { PolicyWatcher } from './policy-watcher.js';
import { bpfUnavailable, needBpf, removeCgroup } from './kernel-test-support.js';

interface RawRecord {
  kind: number;
  pid: number;
  comm: string;
  cgroupId: number;
  /** net_connect: destination port. */
  dport?: number;
  /** file_open and process_kill: the path. */
  path?: string;
  kill?: { signal: number; reason: number; rule: number; late: number };
}

function cString(buf: Buffer, off: number, max: number): string {
  const end = buf.indexOf(0, off);
  return buf.toString('utf8', off, end === -1 || end > off + max ? off + max : end);
}

function parseBatch(batch: Buffer, l: typeof LAYOUT = LAYOUT): RawRecord[] {
  const h = l.header.fields;
  const fo = l.fileOpen.fields;
  const k = l.processKill.fields;
  const at = (fields: Readonly<Record<string, number>>, name: string): number => {
    const v = fields[name];
    if (v === undefined) throw new Error(`layout has no ${name}`);
    return v;
  };
  const out: RawRecord[] = [];
  for (let off = 0; off + l.header.sizeof <= batch.length; ) {
    const rec = batch.subarray(off);
    const size = rec.readUInt16LE(at(h, 'size'));
    if (size < l.header.sizeof) break;
    const r: RawRecord = {
      kind: rec.readUInt16LE(at(h, 'kind')),
      pid: rec.readUInt32LE(at(h, 'pid')),
      comm: cString(rec, at(h, 'comm'), 16),
      cgroupId: Number(rec.readBigUInt64LE(at(h, 'cgroup_id'))),
    };
    if (r.kind === 3) r.path = cString(rec, at(fo, 'path'), size - at(fo, 'path'));
    if (r.kind === 4) r.dport = rec.readUInt16LE(at(l.netConnect.fields, 'dport'));
    if (r.kind === ABI.constants.kindProcessKill) {
      r.path = cString(rec, at(k, 'path'), size - at(k, 'path'));
      r.kill = {
        signal: rec.readUInt32LE(at(k, 'signal')),
        reason: rec.readUInt16LE(at(k, 'reason')),
        rule: rec.readUInt32LE(at(k, 'rule')),
        late: rec.readUInt16LE(at(k, 'late')),
      };
    }
    out.push(r);
    off += size;
  }
  return out;
}

function run(file: string, args: string[]): Promise<{ pid: number; code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve({ pid: child.pid ?? 0, code, signal }));
  });
}

let session: BpfSession | undefined;
let dir = '';
const records: RawRecord[] = [];
/** Test cgroups: their events are kept whatever their comm or path. */
const testCgroups = new Set<number>();

before(() => {
  if (bpfUnavailable !== undefined) return;
  dir = mkdtempSync(join(tmpdir(), 'palisade-filter-'));
  session = BpfSession.open();
  session.start(
    (batch) => records.push(...parseBatch(batch).filter((r) => r.kind === ABI.constants.kindProcessKill || r.path?.startsWith(dir) ||
      r.comm.startsWith('pal') || testCgroups.has(r.cgroupId))),
    (err) => assert.fail(err),
  );
});

after(() => {
  session?.close();
  if (dir !== '') rmSync(dir, { recursive: true, force: true });
});

/** A copy of cat under a fresh name: its comm is that name, which nothing else on the machine has. */
function uniqueCat(prefix: string): { path: string; comm: string } {
  const comm = `${prefix}${randomBytes(3).toString('hex')}`;
  const path = join(dir, comm);
  copyFileSync('/bin/cat', path);
  chmodSync(path, 0o755);
  return { path, comm };
}

/**
 * Runs an unfiltered open of a fresh marker and waits for its event: everything emitted before it is in. With a filter
 * that passes only some cgroups, the marker is opened in `cgroupDir`.
 */
async function sentinel(cgroupDir?: string): Promise<void> {
  const marker = join(dir, `sentinel-${randomBytes(4).toString('hex')}`);
  await run('/bin/sh', ['-c', `${cgroupDir === undefined ? '' : `echo $$ > ${cgroupDir}/cgroup.procs && `}: > ${marker}`]);
  await waitFor(`sentinel open of ${marker}`, () => records.find((r) => r.kind === 3 && r.path === marker));
}

function stat(name: string): number {
  const v = session?.stats()[name];
  assert.equal(typeof v, 'number', `stats() has ${name}`);
  return v ?? 0;
}

test('DROP by binary: its opens never reach userspace and are counted; clearing the filter brings them back', async (t) => {
  if (!needBpf(t) || session === undefined) return;
  const cat = uniqueCat('paldrop');
  const target = join(dir, 'drop-target');
  await run('/bin/sh', ['-c', `: > ${target}`]);
  const opensOf = (pid: number): RawRecord[] => records.filter((r) => r.pid === pid && r.kind === 3 && r.path === target);

  // Unfiltered first: proves the open is seen at all, so its absence below means something.
  const before1 = await run(cat.path, [target]);
  await waitFor('open of the unfiltered run', () => opensOf(before1.pid)[0]);

  session.setFilter({ binaries: [{ comm: cat.comm, action: 'drop' }], pathPrefixes: [] });
  const filteredBefore = stat('filtered');
  const dropped = await run(cat.path, [target]);
  assert.equal(dropped.code, 0, 'DROP does not affect the process');
  await sentinel();
  assert.deepEqual(records.filter((r) => r.pid === dropped.pid), [], 'no record at all (exec, opens, exit) of the dropped binary');
  // exec + every open (loader, libc, locale, target) + exit: several, at least the exec and the target open.
  assert.ok(stat('filtered') - filteredBefore >= 2, `filtered grew by ${stat('filtered') - filteredBefore}`);

  session.setFilter({ binaries: [], pathPrefixes: [] });
  const after1 = await run(cat.path, [target]);
  await waitFor('open after the filter was cleared', () => opensOf(after1.pid)[0]);
});

test('DROP by path prefix: matching opens are counted, not delivered; other opens of the process still are', async (t) => {
  if (!needBpf(t) || session === undefined) return;
  const quiet = join(dir, `quiet-${randomBytes(3).toString('hex')}`);
  const loud = join(dir, `loud-${randomBytes(3).toString('hex')}`);
  session.setFilter({ binaries: [], pathPrefixes: [{ prefix: quiet, action: 'drop' }] });
  const filteredBefore = stat('filtered');
  const r = await run('/bin/sh', ['-c', `: > ${quiet}; : > ${loud}`]);
  await waitFor('the unfiltered open', () => records.find((x) => x.pid === r.pid && x.path === loud));
  assert.equal(records.find((x) => x.path === quiet), undefined);
  assert.ok(stat('filtered') > filteredBefore);
  session.setFilter({ binaries: [], pathPrefixes: [] });
});

test('SIGKILL by path prefix: killed in the open, nothing after it runs, and the kill is counted and reported', async (t) => {
  if (!needBpf(t) || session === undefined) return;
  const guarded = join(dir, `guarded-${randomBytes(3).toString('hex')}`);
  const file = join(guarded, 'f');
  const afterMarker = join(dir, `after-${randomBytes(3).toString('hex')}`);
  await run('/bin/mkdir', [guarded]);
  session.setFilter({
    binaries: [{ comm: 'paldummy', action: 'drop' }],
    pathPrefixes: [{ prefix: `${guarded}/`, action: 'sigkill' }],
    emitKillEvents: true,
  });
  const killedBefore = stat('killed');
  const r = await run('/bin/sh', ['-c', `echo data > ${file}; echo after > ${afterMarker}`]);

  assert.equal(r.signal, 'SIGKILL');
  assert.ok(stat('killed') >= killedBefore + 1);
  assert.equal(stat('kill_failed'), 0);
  // A tracepoint cannot fail the syscall, so an O_CREAT open still creates the file (bpf/README.md); but the
  // process never returned from it: the write that follows the open did not happen, nor did anything later.
  assert.ok(!existsSync(file) || statSync(file).size === 0, 'no data was written through the opened fd');
  assert.equal(existsSync(afterMarker), false, 'the shell did not run past the open');

  const kill = await waitFor('process_kill record', () => records.find((x) => x.kind === ABI.constants.kindProcessKill && x.pid === r.pid));
  assert.deepEqual(kill.kill, { signal: 9, reason: ABI.constants.killReasonPathPrefix, rule: 0, late: 0 });
  assert.equal(kill.path, file);
  assert.equal(kill.comm, 'sh');
  assert.equal(records.find((x) => x.kind === 3 && x.path === file), undefined, 'the open itself is not reported');
  session.setFilter({ binaries: [], pathPrefixes: [] });
});

test('path prefixes match the resolved path: ".." out of a Drop prefix is delivered, a symlink into it is dropped', async (t) => {
  if (!needBpf(t) || session === undefined) return;
  const quiet = join(dir, `quiet-${randomBytes(3).toString('hex')}`);
  const loud = join(dir, `loud-${randomBytes(3).toString('hex')}`);
  const link = join(dir, `link-${randomBytes(3).toString('hex')}`);
  await run('/bin/mkdir', [quiet]);
  await run('/bin/sh', ['-c', `: > ${loud}; : > ${quiet}/f; ln -s ${quiet}/f ${link}`]);
  session.setFilter({ binaries: [], pathPrefixes: [{ prefix: `${quiet}/`, action: 'drop' }] });
  const filteredBefore = stat('filtered');
  // As passed, the first starts with the Drop prefix; resolved, it is `loud`. The second is the other way round.
  const escape = `${quiet}/../${loud.slice(dir.length + 1)}`;
  const r = await run('/bin/sh', ['-c', `: < ${escape}; : < ${link}`]);
  await waitFor('the open that left the prefix with ..', () => records.find((x) => x.pid === r.pid && x.path === loud));
  await sentinel();
  assert.equal(records.find((x) => x.pid === r.pid && x.path === `${quiet}/f`), undefined, 'the symlink into the prefix');
  assert.ok(stat('filtered') > filteredBefore);
  session.setFilter({ binaries: [], pathPrefixes: [] });
});

test('SIGKILL by path prefix on the resolved path: a spelling that dodges it at sys_enter is killed at sys_exit', async (t) => {
  if (!needBpf(t) || session === undefined) return;
  const guarded = join(dir, `guarded-${randomBytes(3).toString('hex')}`);
  const file = join(guarded, 'f');
  const afterMarker = join(dir, `after-${randomBytes(3).toString('hex')}`);
  await run('/bin/mkdir', [guarded]);
  session.setFilter({ binaries: [], pathPrefixes: [{ prefix: `${guarded}/`, action: 'sigkill' }], emitKillEvents: true });
  const killedBefore = stat('killed');
  const dodge = `${dir}/./${guarded.slice(dir.length + 1)}//f`;
  const r = await run('/bin/sh', ['-c', `echo data > ${dodge}; echo after > ${afterMarker}`]);
  assert.equal(r.signal, 'SIGKILL');
  assert.ok(stat('killed') >= killedBefore + 1);
  // Killed on the way back from the open: the fd exists, but the write after it never ran, nor anything later.
  assert.ok(!existsSync(file) || statSync(file).size === 0, 'no data was written through the opened fd');
  assert.equal(existsSync(afterMarker), false, 'the shell did not run past the open');
  const kill = await waitFor('process_kill record', () => records.find((x) => x.kind === ABI.constants.kindProcessKill && x.pid === r.pid));
  assert.deepEqual(kill.kill, { signal: 9, reason: ABI.constants.killReasonPathPrefix, rule: 0, late: 1 });
  assert.equal(kill.path, file, 'the kill names the resolved path');
  session.setFilter({ binaries: [], pathPrefixes: [] });
});

test('SIGKILL by binary: killed at its first open; swapping the filter on the running session spares the next run', async (t) => {
  if (!needBpf(t) || session === undefined) return;
  const cat = uniqueCat('palkill');
  session.setFilter({ binaries: [{ comm: cat.comm, action: 'sigkill' }], pathPrefixes: [], emitKillEvents: true });
  const killedBefore = stat('killed');
  const r = await run(cat.path, ['/etc/hostname']);
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(stat('killed'), killedBefore + 1, 'one kill: the process died in its first open');
  const kill = await waitFor('process_kill record', () => records.find((x) => x.kind === ABI.constants.kindProcessKill && x.pid === r.pid));
  assert.equal(kill.kill?.reason, ABI.constants.killReasonBinary);
  assert.equal(kill.comm, cat.comm);

  session.setFilter({ binaries: [], pathPrefixes: [] });
  const spared = await run(cat.path, ['/etc/hostname']);
  assert.equal(spared.code, 0);
  assert.equal(stat('killed'), killedBefore + 1);
});

function makeCgroup(): { dir: string; id: number } {
  const d = join(DEFAULT_CGROUP2_ROOT, `palisade-filter-${randomBytes(4).toString('hex')}`);
  mkdirSync(d);
  const id = Number(statSync(d, { bigint: true }).ino);
  testCgroups.add(id);
  return { dir: d, id };
}

/** A copy of `bin` under a fresh name starting with `prefix`. */
function uniqueCopy(bin: string, prefix: string): { path: string; comm: string } {
  const comm = `${prefix}${randomBytes(3).toString('hex')}`;
  const path = join(dir, comm);
  copyFileSync(bin, path);
  chmodSync(path, 0o755);
  return { path, comm };
}

const ALL_KINDS_BUT_FILE_OPEN = Array.from({ length: 63 }, (_, i) => i + 1).filter((k) => k !== 3);

test('kind mask: an unselected kind is dropped in the kernel and counted, selected kinds of the same process pass', async (t) => {
  if (!needBpf(t) || session === undefined) return;
  const cat = uniqueCat('palkind');
  const target = join(dir, 'kind-target');
  await run('/bin/sh', ['-c', `: > ${target}`]);
  session.setFilter({ binaries: [], pathPrefixes: [], kinds: ALL_KINDS_BUT_FILE_OPEN });
  const filteredBefore = stat('filtered');
  const r = await run(cat.path, [target]);
  await waitFor('exit of the process (kind 2 is selected)', () => records.find((x) => x.pid === r.pid && x.kind === 2));
  assert.ok(records.some((x) => x.pid === r.pid && x.kind === 1), 'its exec (kind 1) passed');
  assert.deepEqual(records.filter((x) => x.pid === r.pid && x.kind === 3), [], 'no file_open at all');
  assert.ok(stat('filtered') - filteredBefore >= 2, 'its opens were counted');
  session.setFilter({ binaries: [], pathPrefixes: [] });
  const back = await run(cat.path, [target]);
  await waitFor('open once every kind is selected again', () => records.find((x) => x.pid === back.pid && x.kind === 3 && x.path === target));
});

test('binary prefix: every comm starting with it is dropped, others are not; a selector narrowed by kinds drops only those', async (t) => {
  if (!needBpf(t) || session === undefined) return;
  const dropped = uniqueCat('palpfx');
  const other = uniqueCat('palother');
  const target = join(dir, 'prefix-target');
  await run('/bin/sh', ['-c', `: > ${target}`]);
  session.setFilter({ binaries: [], pathPrefixes: [], binaryPrefixes: [{ prefix: 'palpfx', action: 'drop' }] });
  const d = await run(dropped.path, [target]);
  const o = await run(other.path, [target]);
  await waitFor('open of the other binary', () => records.find((x) => x.pid === o.pid && x.path === target));
  await sentinel();
  assert.deepEqual(records.filter((x) => x.pid === d.pid), [], 'nothing of the prefixed binary');

  session.setFilter({ binaries: [], pathPrefixes: [], binaryPrefixes: [{ prefix: 'palpfx', action: 'drop', kinds: [3] }] });
  const k = await run(dropped.path, [target]);
  await waitFor('its exit (not narrowed)', () => records.find((x) => x.pid === k.pid && x.kind === 2));
  assert.ok(records.some((x) => x.pid === k.pid && x.kind === 1), 'its exec');
  assert.deepEqual(records.filter((x) => x.pid === k.pid && x.kind === 3), [], 'but not its opens');
  session.setFilter({ binaries: [], pathPrefixes: [] });
});

test('cgroup selector: a dropped cgroup\'s events stay in the kernel while another cgroup\'s pass; "only these cgroups" inverts it', async (t) => {
  if (!needBpf(t) || session === undefined) return;
  const a = makeCgroup();
  const b = makeCgroup();
  const target = join(dir, 'cgroup-target');
  await run('/bin/sh', ['-c', `: > ${target}`]);
  // The shell moves itself, then execs cat: the exec and the target open happen inside the cgroup.
  const inCgroup = (cg: { dir: string }): Promise<{ pid: number }> =>
    run('/bin/sh', ['-c', `echo $$ > ${cg.dir}/cgroup.procs && exec /bin/cat ${target}`]);
  try {
    session.setFilter({ binaries: [], pathPrefixes: [], cgroups: [{ id: a.id, action: 'drop' }] });
    const ra = await inCgroup(a);
    const rb = await inCgroup(b);
    await waitFor('open in the passing cgroup', () => records.find((x) => x.pid === rb.pid && x.cgroupId === b.id && x.path === target));
    await sentinel();
    assert.deepEqual(records.filter((x) => x.cgroupId === a.id), [], 'nothing from the dropped cgroup');
    assert.equal(records.some((x) => x.pid === ra.pid && x.kind === 1), false);

    session.setFilter({ binaries: [], pathPrefixes: [], onlyCgroups: [a.id] });
    const before = records.length;
    const ra2 = await inCgroup(a);
    const rb2 = await inCgroup(b);
    await waitFor('open in the only cgroup seen', () => records.find((x) => x.pid === ra2.pid && x.cgroupId === a.id && x.path === target));
    await sentinel(a.dir);
    assert.deepEqual(records.slice(before).filter((x) => x.cgroupId === b.id || x.pid === rb2.pid), [], 'nothing from outside it');
  } finally {
    session.setFilter({ binaries: [], pathPrefixes: [] });
    testCgroups.delete(a.id);
    testCgroups.delete(b.id);
    await removeCgroup(a.dir);
    await removeCgroup(b.dir);
  }
});

test('port selector: connects to a dropped destination port are counted, not delivered; other ports pass', async (t) => {
  if (!needBpf(t) || session === undefined) return;
  const bash = uniqueCopy('/usr/bin/bash', 'palconn');
  // Closed local ports: the connect fails with ECONNREFUSED, and an attempt is still an event.
  const connect = (port: number): Promise<{ pid: number }> =>
    run(bash.path, ['-c', `exec 3<>/dev/tcp/127.0.0.1/${port} || true`]);
  session.setFilter({ binaries: [], pathPrefixes: [], ports: [{ port: 39_001, action: 'drop' }] });
  const filteredBefore = stat('filtered');
  const dropped = await connect(39_001);
  const passed = await connect(39_002);
  await waitFor('connect to the other port', () => records.find((x) => x.pid === passed.pid && x.kind === 4 && x.dport === 39_002));
  await sentinel();
  assert.deepEqual(records.filter((x) => x.pid === dropped.pid && x.kind === 4), []);
  assert.ok(stat('filtered') > filteredBefore);
  session.setFilter({ binaries: [], pathPrefixes: [] });
});

test('Post rate limit: N events of a process pass, the rest are dropped in the kernel and counted rate_limited', async (t) => {
  if (!needBpf(t) || session === undefined) return;
  const sh = uniqueCopy('/bin/sh', 'palrate');
  const script = Array.from({ length: 8 }, (_, i) => `: > ${join(dir, `rate-${i}`)}`).join('; ');
  const opensOf = (pid: number): RawRecord[] => records.filter((x) => x.pid === pid && x.kind === 3);
  // Unfiltered first: how many opens one run makes (loader, libc, then the 8 targets).
  const free = await run(sh.path, ['-c', script]);
  await waitFor('exit of the unfiltered run', () => records.find((x) => x.pid === free.pid && x.kind === 2));
  const total = opensOf(free.pid).length;
  assert.ok(total >= 8, `the unfiltered run made ${total} opens`);

  session.setFilter({
    binaries: [{ comm: sh.comm, action: 'post', rateLimit: { events: 3, seconds: 3600 }, kinds: [3] }], pathPrefixes: [],
  });
  const limitedBefore = stat('rate_limited');
  const limited = await run(sh.path, ['-c', script]);
  await waitFor('exit of the limited run (exit is not limited)', () => records.find((x) => x.pid === limited.pid && x.kind === 2));
  assert.equal(opensOf(limited.pid).length, 3, 'exactly the burst passed');
  assert.equal(stat('rate_limited') - limitedBefore, total - 3, 'every other open was counted');
  // The bucket is per process: a new run starts with a full one.
  const next = await run(sh.path, ['-c', script]);
  await waitFor('exit of the next run', () => records.find((x) => x.pid === next.pid && x.kind === 2));
  assert.equal(opensOf(next.pid).length, 3);
  session.setFilter({ binaries: [], pathPrefixes: [] });
});

test('hot reload through the policy file: a change applies without reloading the programs; a broken file keeps the old policy', async (t) => {
  if (!needBpf(t) || session === undefined) return;
  const live = session;
  const cat = uniqueCat('palhot');
  const target = join(dir, 'hot-target');
  await run('/bin/sh', ['-c', `: > ${target}`]);
  const policyDir = join(dir, 'policy');
  mkdirSync(policyDir);
  const file = join(policyDir, 'policy.yaml');
  const policy = (name: string, selectors: string): string =>
    `apiVersion: palisade.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: ${name}}\nspec:\n  selectors:${selectors}\n`;
  writeFileSync(file, policy('drop-it', `\n    - comms: [${cat.comm}]\n      action: Drop`));
  const metrics = new Metrics();
  const value = async (name: string): Promise<number> => (await metrics.registry.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;
  let applied = 0;
  const watcher = new PolicyWatcher({
    path: file, logger: silentLogger, metrics, debounceMs: 20, checkIntervalMs: 100,
    apply: (p) => {
      live.setFilter({ ...p.filter, emitKillEvents: true });
      applied++;
    },
  });
  const seen = async (): Promise<boolean> => {
    const r = await run(cat.path, [target]);
    await sentinel();
    return records.some((x) => x.pid === r.pid && x.path === target);
  };
  try {
    watcher.start();
    assert.equal(await seen(), false, 'the first policy drops the binary');

    writeFileSync(file, 'apiVersion: palisade.dev/v1alpha1\nkind: TracingPolicy\nspec: [unclosed');
    await waitFor('the broken file to be counted', async () => (await value('palisade_collector_policy_reload_errors_total')) >= 1);
    assert.equal(await value('palisade_collector_policy_reload_errors_total'), 1, 'the broken file is counted once');
    assert.equal(await seen(), false, 'the previous policy is still in force');
    assert.equal(watcher.current?.name, 'drop-it');

    writeFileSync(file, policy('let-it-be', ' []'));
    await waitFor('the fixed file to be applied', async () => (await value('palisade_collector_policy_reloads_total')) >= 1);
    assert.equal(await value('palisade_collector_policy_reloads_total'), 1);
    assert.equal(watcher.current?.name, 'let-it-be');
    assert.equal(await seen(), true, 'the new policy applies to the running programs');
    assert.equal(applied, 2);
    assert.equal(await value('palisade_collector_policy_reload_errors_total'), 1, 'the bad content was not counted again');
  } finally {
    watcher.stop();
    live.setFilter({ binaries: [], pathPrefixes: [] });
  }
});
