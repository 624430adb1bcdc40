import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pb, type palisade } from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { exeInRoot, parseProcStat, ProcessCache, readBootId } from './process-cache.js';

type RawEvent = palisade.v1.IRawEvent;

const SELF_BINARY = readlinkSync('/proc/self/exe');

function fileOpen(pid: number, ppid: number, comm = 'x', parentComm = 'y'): RawEvent {
  return {
    kind: pb.EventKind.EVENT_KIND_FILE_OPEN,
    timeUnixNano: 1_700_000_000_000_000_000,
    process: { pid, tid: pid, ppid, comm, parentComm },
    fileOpen: { path: '/etc/hostname' },
  };
}

function exec(pid: number, ppid: number, filename: string, timeUnixNano: number): RawEvent {
  const comm = filename.slice(filename.lastIndexOf('/') + 1);
  return { kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, timeUnixNano, process: { pid, tid: pid, ppid, comm }, exec: { filename } };
}

function exit(pid: number, ppid: number): RawEvent {
  return { kind: pb.EventKind.EVENT_KIND_PROCESS_EXIT, process: { pid, tid: pid, ppid }, exit: { exitCode: 0 } };
}

describe('parseProcStat', () => {
  it('reads ppid, comm and start time even when the comm holds ") " and spaces', () => {
    const fields = ['S', '4200', ...Array.from({ length: 17 }, (_, i) => String(i)), '987654', '0', '0'];
    assert.deepEqual(parseProcStat(`4242 (a) (b c) ${fields.join(' ')}`), { ppid: 4200, comm: 'a) (b c', startTimeTicks: 987654 });
    assert.equal(parseProcStat('4242 (cut'), undefined);
    assert.equal(parseProcStat('4242 (x) S'), undefined);
  });

  it('agrees with this process\' own /proc/self/stat', () => {
    const s = parseProcStat(readFileSync('/proc/self/stat', 'utf8'));
    assert.equal(s?.ppid, process.ppid);
    assert.equal(s?.comm, readFileSync('/proc/self/comm', 'utf8').trim());
    assert.ok((s?.startTimeTicks ?? 0) > 0);
  });
});

describe('ProcessCache on the real /proc', () => {
  let child: ChildProcess | undefined;
  let pid = 0;

  before(async () => {
    // Long enough to outlive the tests however slow the machine is; after() kills it.
    child = spawn('sh', ['-c', 'exec sleep 600'], { stdio: 'ignore' });
    pid = child.pid ?? 0;
    // The spawn returns after fork; wait until the child's exec of sleep is done.
    await waitFor('the child to exec sleep', () => readlinkSync(`/proc/${pid}/exe`).endsWith('/sleep'));
  });

  after(() => {
    child?.kill('SIGKILL');
  });

  it('finds a running child at start-up, with its parent (this test) and grandparent as ancestors', () => {
    const cache = new ProcessCache();
    assert.ok(cache.scanProc() > 2);
    const entry = cache.get(pid);
    assert.match(entry?.binary ?? '', /\/sleep$/);
    assert.equal(entry?.comm, 'sleep');
    assert.equal(entry?.ppid, process.pid);
    const ticks = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.startTimeTicks;
    assert.equal(entry?.execId, `${readBootId()}:${pid}:p${ticks}`);

    const lookupsAfterScan = cache.stats().procLookups;
    const ev = fileOpen(pid, process.pid);
    cache.annotate(ev);
    assert.equal(ev.process?.binary, entry?.binary);
    assert.equal(ev.process?.execId, entry?.execId);
    const [parent, grandparent, ...rest] = ev.process?.ancestors ?? [];
    assert.equal(parent?.pid, process.pid);
    assert.equal(parent?.binary, SELF_BINARY);
    assert.equal(parent?.comm, readFileSync('/proc/self/comm', 'utf8').trim());
    assert.match(parent?.execId ?? '', new RegExp(`^[0-9a-f]{8}:${process.pid}:p\\d+$`));
    assert.equal(grandparent?.pid, process.ppid);
    assert.equal(grandparent?.binary, readlinkSync(`/proc/${process.ppid}/exe`));
    assert.deepEqual(rest, []);
    assert.equal(cache.stats().procLookups, lookupsAfterScan, 'everything came from the start-up scan');
    assert.ok(cache.stats().hits >= 3);
  });

  it('gives the same exec ids after a restart, so ids published before and after agree', () => {
    const a = new ProcessCache();
    const b = new ProcessCache();
    a.scanProc();
    assert.equal(b.get(pid)?.execId, a.get(pid)?.execId);
    assert.equal(b.get(process.pid)?.execId, a.get(process.pid)?.execId);
  });

  it('looks up a pid no scan or event introduced in /proc once, then answers from memory', () => {
    const cache = new ProcessCache();
    const ev = fileOpen(pid, process.pid);
    cache.annotate(ev);
    assert.match(ev.process?.binary ?? '', /\/sleep$/);
    assert.equal(ev.process?.ancestors?.[0]?.binary, SELF_BINARY);
    const s1 = cache.stats();
    assert.equal(s1.misses, 3, 'self, parent, grandparent');
    assert.equal(s1.procLookups, 3);
    cache.annotate(fileOpen(pid, process.pid));
    const s2 = cache.stats();
    assert.equal(s2.procLookups, 3);
    assert.equal(s2.hits, s1.hits + 3);
  });
});

describe('ProcessCache from events', () => {
  // No /proc: every lookup fails, so what the cache knows comes from the events alone.
  let empty = '';
  let now = 0;
  const make = (maxEntries = 1000): ProcessCache =>
    new ProcessCache({ procRoot: empty, bootId: 'deadbeef', exitGraceMs: 1000, maxEntries, now: () => now });

  before(() => {
    empty = mkdtempSync(join(tmpdir(), 'palisade-noproc-'));
  });
  after(() => rmSync(empty, { recursive: true, force: true }));

  it('builds ancestry from exec events: "a web server spawned a shell"', () => {
    const cache = make();
    cache.setBootToRealtimeOffsetNs(1_000_000_000_000_000_000n);
    for (const ev of [exec(1, 0, '/sbin/init', 1e18 + 1e9), exec(20, 1, '/usr/sbin/nginx', 1e18 + 2e9)]) cache.annotate(ev);
    const sh = exec(30, 20, '/bin/sh', 1e18 + 3e9);
    cache.annotate(sh);
    assert.equal(sh.process?.binary, '/bin/sh');
    assert.equal(sh.process?.execId, 'deadbeef:30:k3000000000');
    assert.deepEqual(sh.process?.ancestors, [
      { pid: 20, binary: '/usr/sbin/nginx', comm: 'nginx', execId: 'deadbeef:20:k2000000000' },
      { pid: 1, binary: '/sbin/init', comm: 'init', execId: 'deadbeef:1:k1000000000' },
    ]);
    // The shell exec's another program in the same pid: a new exec id, the same ancestors.
    const id = exec(30, 20, '/usr/bin/id', 1e18 + 4e9);
    cache.annotate(id);
    assert.equal(id.process?.execId, 'deadbeef:30:k4000000000');
    assert.equal(id.process?.ancestors?.[0]?.binary, '/usr/sbin/nginx');
    const open = fileOpen(30, 20);
    cache.annotate(open);
    assert.equal(open.process?.binary, '/usr/bin/id');
    assert.equal(open.process?.execId, 'deadbeef:30:k4000000000');
  });

  it('keeps an exited process resolvable for the grace period, then forgets it', () => {
    const cache = make();
    cache.annotate(exec(20, 1, '/usr/sbin/nginx', 2e9));
    cache.annotate(exec(30, 20, '/bin/sh', 3e9));
    cache.annotate(exit(20, 1));
    now = 999;
    cache.expire();
    const late = fileOpen(30, 20, 'sh', 'nginx');
    cache.annotate(late);
    assert.equal(late.process?.ancestors?.[0]?.binary, '/usr/sbin/nginx', 'within the grace');
    now = 1000;
    cache.expire();
    assert.equal(cache.get(20), undefined);
    const after = fileOpen(30, 20, 'sh', 'nginx');
    cache.annotate(after);
    assert.deepEqual(after.process?.ancestors, [{ pid: 20, binary: '', comm: 'nginx', execId: '' }],
      'a parent nobody can read any more keeps the comm the event carries');
    const lookups = cache.stats().procLookups;
    cache.annotate(fileOpen(30, 20, 'sh', 'nginx'));
    assert.equal(cache.stats().procLookups, lookups, 'and costs one /proc lookup, not one per event');
    // The kernel reparents the orphan; the cache follows what the events say.
    const reparented = fileOpen(30, 1);
    cache.annotate(reparented);
    assert.deepEqual(reparented.process?.ancestors?.map((a) => a.pid), [1]);
    now = 0;
  });

  it('gives a reused pid a new exec id, and does not let a forked newcomer inherit an exited binary', () => {
    const cache = make();
    const first = exec(40, 1, '/bin/a', 5e9);
    cache.annotate(first);
    cache.annotate(exit(40, 1));
    const second = exec(40, 7, '/bin/b', 6e9);
    cache.annotate(second);
    assert.notEqual(second.process?.execId, first.process?.execId);
    now = 2000;
    cache.expire();
    assert.equal(cache.get(40)?.binary, '/bin/b', 'the expiry of the exited one must not remove its successor');
    now = 0;

    cache.annotate(exit(40, 7));
    // Same pid, other parent, no exec yet: not the process that exited.
    const forked = fileOpen(40, 9, 'c');
    cache.annotate(forked);
    assert.equal(forked.process?.binary, '');
    assert.equal(forked.process?.execId, '');
  });

  it('remembers a pid that vanished before /proc could be read, so it costs one lookup', () => {
    const cache = make();
    const a = fileOpen(50, 0, 'ghost');
    cache.annotate(a);
    cache.annotate(fileOpen(50, 0, 'ghost'));
    assert.equal(a.process?.binary, '');
    assert.equal(a.process?.execId, '');
    assert.deepEqual(a.process?.ancestors, []);
    const s = cache.stats();
    assert.equal(s.procLookups, 1);
    assert.equal(s.procLookupsFailed, 1);
  });

  it('stays within maxEntries, and a process looked up recently outlives one that was not', () => {
    const cache = make(4);
    for (let pid = 101; pid <= 104; pid++) cache.annotate(exec(pid, 0, `/bin/p${pid}`, pid));
    assert.equal(cache.get(101)?.binary, '/bin/p101');
    cache.annotate(exec(105, 0, '/bin/p105', 105));
    assert.equal(cache.stats().entries, 4);
    assert.equal(cache.stats().evictions, 1);
    assert.equal(cache.get(101)?.binary, '/bin/p101', 'referenced: a second chance');
    assert.equal(cache.get(102), undefined, 'the oldest unreferenced one went');
    for (let pid = 200; pid < 300; pid++) cache.annotate(exec(pid, 0, '/bin/x', pid));
    assert.equal(cache.stats().entries, 4);
  });
});

describe('process.binary is the executable in the process\' own root', () => {
  it('a /proc exe below the process\' root is cut to its root; a host process keeps it', () => {
    const rootfs = '/run/containerd/io.containerd.runtime.v2.task/k8s.io/3f4e/rootfs';
    assert.equal(exeInRoot(`${rootfs}/usr/bin/curl`, rootfs), '/usr/bin/curl');
    assert.equal(exeInRoot(`${rootfs}/usr/bin/curl`, `${rootfs}/`), '/usr/bin/curl');
    assert.equal(exeInRoot('/usr/bin/curl', '/'), '/usr/bin/curl');
    // Outside the root (an fd passed in, or a root the collector cannot see): left as read.
    assert.equal(exeInRoot('/usr/bin/curl', rootfs), '/usr/bin/curl');
    assert.equal(exeInRoot(`${rootfs}x/usr/bin/curl`, rootfs), `${rootfs}x/usr/bin/curl`);
  });

  it('an exec sets the kernel-resolved path, not the string passed to execve', () => {
    const cache = new ProcessCache({ procRoot: mkdtempSync(join(tmpdir(), 'palisade-noproc-')), bootId: '00000000' });
    const ev: RawEvent = {
      kind: pb.EventKind.EVENT_KIND_PROCESS_EXEC, timeUnixNano: 1_700_000_000_000_000_000,
      process: { pid: 77001, tid: 77001, ppid: 1, comm: 'python3' },
      exec: { filename: './python3', resolvedFilename: '/usr/bin/python3.11' },
    };
    cache.annotate(ev);
    assert.equal(ev.process?.binary, '/usr/bin/python3.11');
  });
});
