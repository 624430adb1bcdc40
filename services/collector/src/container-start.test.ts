// ContainerStartCache against a fake /proc and cgroup tree: the oldest live process of a container cgroup dates the
// container, once per cgroup id; host cgroups get 0; an exec's ctime after that start marks the binary as changed.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { palisade } from '@palisade/common';
import { ContainerStartCache, isContainerCgroup } from './container-start.js';

const root = mkdtempSync(join(tmpdir(), 'palisade-cstart-'));
const proc = join(root, 'proc');
const cg = join(root, 'cgroup');
after(() => rmSync(root, { recursive: true, force: true }));

const SCOPE = `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-podx.slice/cri-containerd-${'a'.repeat(64)}.scope`;
const OFFSET = 1_700_000_000_000_000_000n; // boot at this Unix time

function fakeProc(pid: number, startTicks: number): void {
  mkdirSync(join(proc, String(pid)), { recursive: true });
  // Field 22 (starttime) is the 20th after the comm's ")".
  const after = ['S', '1', ...Array.from({ length: 17 }, () => '0'), String(startTicks), '0'];
  writeFileSync(join(proc, String(pid), 'stat'), `${pid} (sh) ${after.join(' ')}\n`);
}

function fakeCgroup(path: string, pids: number[]): void {
  mkdirSync(join(cg, path), { recursive: true });
  writeFileSync(join(cg, path, 'cgroup.procs'), pids.map((p) => `${p}\n`).join(''));
}

function exec(cgroupId: number, cgroupPath: string, pid: number, ctimeNs: number, time: number): palisade.v1.IRawEvent {
  return {
    timeUnixNano: time, process: { pid, cgroupId, cgroupPath },
    exec: { filename: '/x', exeCtimeUnixNano: ctimeNs },
  };
}

test('container cgroups are recognised by their scope or bare id, host cgroups are not', () => {
  assert.equal(isContainerCgroup(SCOPE), true);
  assert.equal(isContainerCgroup(`/kubepods/besteffort/podx/${'b'.repeat(64)}`), true);
  assert.equal(isContainerCgroup(`/system.slice/docker-${'c'.repeat(64)}.scope/kubepods/x`), true);
  assert.equal(isContainerCgroup('/system.slice/containerd.service'), false);
  assert.equal(isContainerCgroup('/'), false);
  assert.equal(isContainerCgroup(''), false);
});

test('the oldest live process of the cgroup dates the container; ctime after it marks the binary', () => {
  fakeProc(100, 5_000); // 50 s after boot: the container's init
  fakeProc(200, 9_000);
  fakeCgroup(SCOPE, [200, 100]);
  const cache = new ContainerStartCache({ procRoot: proc, cgroupRoot: cg });
  cache.setBootToRealtimeOffsetNs(OFFSET);
  const start = Number(OFFSET) + 50e9;
  const written = exec(7, SCOPE, 200, start + 30e9, start + 40e9);
  cache.annotate(written);
  assert.equal(written.exec?.containerStartUnixNano, start);
  assert.equal(written.exec?.exeModifiedAfterContainerStart, true);
  const image = exec(7, SCOPE, 200, start - 86_400e9, start + 41e9);
  cache.annotate(image);
  assert.equal(image.exec?.exeModifiedAfterContainerStart, false);
  assert.equal(cache.lookups, 1, 'one look-up per cgroup id');
});

test('an empty cgroup falls back to the exec\'s own process, then to the event time; host cgroups get 0', () => {
  const path = `/kubepods/pody/${'d'.repeat(64)}`;
  fakeCgroup(path, []);
  fakeProc(300, 20_000);
  const cache = new ContainerStartCache({ procRoot: proc, cgroupRoot: cg });
  cache.setBootToRealtimeOffsetNs(OFFSET);
  assert.equal(cache.startOf(8, path, 300, Number(OFFSET) + 500e9), Number(OFFSET) + 200e9);
  assert.equal(cache.startOf(9, `/kubepods/podz/${'e'.repeat(64)}`, 999, 1234), 1234, 'nothing readable: the event time');
  const host = exec(10, '/system.slice/sshd.service', 300, Number(OFFSET) + 900e9, Number(OFFSET) + 901e9);
  cache.annotate(host);
  assert.equal(host.exec?.containerStartUnixNano, 0);
  assert.equal(host.exec?.exeModifiedAfterContainerStart, false);
});

test('the cache is bounded', () => {
  const cache = new ContainerStartCache({ procRoot: proc, cgroupRoot: cg, maxEntries: 2 });
  for (let id = 1; id <= 3; id++) cache.startOf(id, SCOPE, 0, 1);
  const before = cache.lookups;
  cache.startOf(3, SCOPE, 0, 1);
  assert.equal(cache.lookups, before, 'the newest stays');
  cache.startOf(1, SCOPE, 0, 1);
  assert.equal(cache.lookups, before + 1, 'the oldest was dropped');
});
