// The process cache behind KernelSource, against the real kernel: exec events of real children carry their ancestry,
// and the ancestors' exec ids are the ones their own exec events carried.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { after, before, test } from 'node:test';
import { pb, type palisade } from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { KernelSource } from './kernel-source.js';
import { readBootId } from './process-cache.js';
import { bpfUnavailable, needBpf } from './kernel-test-support.js';

type RawEvent = palisade.v1.IRawEvent;

function run(script: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', script], { stdio: 'ignore' });
    child.once('error', reject);
    child.once('exit', () => resolve(child.pid ?? 0));
  });
}

let source: KernelSource | undefined;
const execs: RawEvent[] = [];

before(() => {
  if (bpfUnavailable !== undefined) return;
  source = new KernelSource();
  source.start((batch) => execs.push(...batch.filter((e) => e.kind === pb.EventKind.EVENT_KIND_PROCESS_EXEC)));
});

after(() => source?.close());

const execOf = (pid: number, filename: RegExp): RawEvent | undefined =>
  execs.find((e) => e.process?.pid === pid && filename.test(e.exec?.filename ?? ''));

test('exec: the process carries an exec id and its parent and grandparent (found in /proc at start)', async (t) => {
  if (!needBpf(t)) return;
  const pid = await run('exec cat /etc/hostname');
  const ev = await waitFor('exec of cat', () => execOf(pid, /\/cat$/));
  assert.match(ev.process?.execId ?? '', new RegExp(`^${readBootId()}:${pid}:k\\d+$`));
  assert.equal(ev.process?.binary, ev.exec?.resolvedFilename || ev.exec?.filename, 'the executable as the kernel resolved it');
  const [parent, grandparent, ...rest] = ev.process?.ancestors ?? [];
  assert.equal(parent?.pid, process.pid);
  assert.equal(parent?.binary, readlinkSync('/proc/self/exe'));
  assert.equal(parent?.comm, readFileSync('/proc/self/comm', 'utf8').trim());
  assert.match(parent?.execId ?? '', new RegExp(`^[0-9a-f]{8}:${process.pid}:p\\d+$`));
  assert.equal(grandparent?.pid, process.ppid);
  assert.equal(grandparent?.binary, readlinkSync(`/proc/${process.ppid}/exe`));
  assert.deepEqual(rest, []);
});

test('exec: a grandchild\'s parent is the shell whose exec we saw, with that exec\'s id', async (t) => {
  if (!needBpf(t)) return;
  // Two commands, so the shell forks for cat instead of exec'ing it.
  const shPid = await run('cat /etc/hostname > /dev/null; true');
  const sh = await waitFor('exec of sh', () => execOf(shPid, /sh$/));
  const cat = await waitFor('exec of cat',
    () => execs.find((e) => e.process?.ppid === shPid && /\/cat$/.test(e.exec?.filename ?? '')));
  const [parent, grandparent] = cat.process?.ancestors ?? [];
  assert.equal(parent?.pid, shPid);
  assert.equal(parent?.binary, sh.exec?.resolvedFilename || sh.exec?.filename);
  assert.equal(parent?.execId, sh.process?.execId);
  assert.notEqual(cat.process?.execId, sh.process?.execId);
  assert.equal(grandparent?.pid, process.pid);
  const stats = source?.stats().processCache;
  assert.ok((stats?.hits ?? 0) > 0 && (stats?.entries ?? 0) > 0, JSON.stringify(stats));
});
