import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCgroupPath, parseContainerScope } from './cgroup-path.js';

const ID = 'a3f1c2d4e5b60718293a4b5c6d7e8f90112233445566778899aabbccddeeff00';
const UID = '1b2c3d4e-5f60-4718-9a2b-3c4d5e6f7a8b';
const UID_US = UID.replaceAll('-', '_');
const STATIC_UID = '5e6c3f0b9a8d7c6b5a4f3e2d1c0b9a8f';

test('systemd driver, all QoS classes and runtimes', () => {
  assert.deepEqual(
    parseCgroupPath(
      `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_US}.slice/cri-containerd-${ID}.scope`,
    ),
    { podUid: UID, qos: 'besteffort', containerId: ID, runtime: 'containerd' },
  );
  assert.deepEqual(
    parseCgroupPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_US}.slice/crio-${ID}.scope`),
    { podUid: UID, qos: 'burstable', containerId: ID, runtime: 'cri-o' },
  );
  assert.deepEqual(parseCgroupPath(`/kubepods.slice/kubepods-pod${UID_US}.slice/docker-${ID}.scope`), {
    podUid: UID,
    qos: 'guaranteed',
    containerId: ID,
    runtime: 'docker',
  });
});

test('cgroupfs driver: bare container id, no runtime', () => {
  assert.deepEqual(parseCgroupPath(`/kubepods/besteffort/pod${UID}/${ID}`), {
    podUid: UID,
    qos: 'besteffort',
    containerId: ID,
  });
  assert.deepEqual(parseCgroupPath(`/kubepods/burstable/pod${UID}/${ID}`), {
    podUid: UID,
    qos: 'burstable',
    containerId: ID,
  });
  assert.deepEqual(parseCgroupPath(`/kubepods/pod${UID}/${ID}`), { podUid: UID, qos: 'guaranteed', containerId: ID });
});

test('static pods have 32-hex uids', () => {
  assert.deepEqual(parseCgroupPath(`/kubepods/burstable/pod${STATIC_UID}/${ID}`), {
    podUid: STATIC_UID,
    qos: 'burstable',
    containerId: ID,
  });
  assert.deepEqual(
    parseCgroupPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${STATIC_UID}.slice/crio-${ID}.scope`),
    { podUid: STATIC_UID, qos: 'burstable', containerId: ID, runtime: 'cri-o' },
  );
});

test('pod level without a container, and non-container children of a pod', () => {
  assert.deepEqual(parseCgroupPath(`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_US}.slice`), {
    podUid: UID,
    qos: 'besteffort',
  });
  // CRI-O's monitor runs in the pod's slice but outside the container.
  assert.deepEqual(parseCgroupPath(`/kubepods.slice/kubepods-pod${UID_US}.slice/crio-conmon-${ID}.scope`), {
    podUid: UID,
    qos: 'guaranteed',
  });
});

test('nested below another cgroup (kind nodes) and sub-cgroups inside a container', () => {
  const node = 'b'.repeat(64);
  assert.deepEqual(
    parseCgroupPath(`/system.slice/docker-${node}.scope/kubepods/besteffort/pod${UID}/${ID}`),
    { podUid: UID, qos: 'besteffort', containerId: ID },
  );
  assert.deepEqual(parseCgroupPath(`/kubepods.slice/kubepods-pod${UID_US}.slice/crio-${ID}.scope/container`), {
    podUid: UID,
    qos: 'guaranteed',
    containerId: ID,
    runtime: 'cri-o',
  });
  assert.deepEqual(parseCgroupPath(`/sys/fs/cgroup/kubepods/pod${UID}/${ID}`), {
    podUid: UID,
    qos: 'guaranteed',
    containerId: ID,
  });
});

test('leaf cgroup name alone', () => {
  assert.deepEqual(parseCgroupPath(`cri-containerd-${ID}.scope`), { containerId: ID, runtime: 'containerd' });
  assert.deepEqual(parseCgroupPath(`crio-${ID}.scope`), { containerId: ID, runtime: 'cri-o' });
  assert.deepEqual(parseCgroupPath(`docker-${ID}.scope`), { containerId: ID, runtime: 'docker' });
  assert.deepEqual(parseCgroupPath(ID), { containerId: ID });
  assert.deepEqual(parseContainerScope(`cri-containerd-${ID}.scope`), { containerId: ID, runtime: 'containerd' });
});

test('a container outside Kubernetes has no pod', () => {
  assert.deepEqual(parseCgroupPath(`/system.slice/docker-${ID}.scope`), { containerId: ID, runtime: 'docker' });
});

test('host processes are null', () => {
  for (const path of [
    '',
    '/',
    '/init.scope',
    '/system.slice/sshd.service',
    '/system.slice/containerd.service',
    '/user.slice/user-1000.slice/session-3.scope',
    '/kubepods.slice',
    '/kubepods.slice/kubepods-besteffort.slice',
    '/kubepods/burstable',
    'session-3.scope',
  ]) {
    assert.equal(parseCgroupPath(path), null, path);
  }
});

test('near misses are rejected', () => {
  const cases: Array<[string, string]> = [
    [`cri-containerd-${ID.slice(1)}.scope`, '63 hex'],
    [`cri-containerd-${ID}0.scope`, '65 hex'],
    [`cri-containerd-${ID.toUpperCase()}.scope`, 'uppercase hex'],
    [`cri-containerd-${ID}.scope.bak`, 'trailing suffix'],
    [`cri-containerd-${ID}`, 'no .scope'],
    [`containerd-${ID}.scope`, 'unknown prefix'],
    [`crio-conmon-${ID}.scope`, 'conmon is not a container'],
    [`${'g'.repeat(64)}`, 'not hex'],
    ['/kubepods.slice/kubepods-besteffort.slice/garbage', 'no pod slice'],
    // systemd reads '-' in a unit name as a hierarchy separator, so a real pod slice never has dashes in the uid.
    [`/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID}.slice/cri-containerd-${ID}.scope`, 'dashed uid'],
    // The pod slice must repeat its parent's QoS.
    [`/kubepods.slice/kubepods-besteffort.slice/kubepods-burstable-pod${UID_US}.slice/cri-containerd-${ID}.scope`, 'qos mismatch'],
    [`/kubepods.slice/kubepods-besteffort-pod${UID_US}.slice/cri-containerd-${ID}.scope`, 'qos slice missing'],
    [`/kubepods.slice/kubepods-guaranteed.slice/kubepods-guaranteed-pod${UID_US}.slice`, 'no guaranteed level'],
    [`/kubepods/besteffort/pod${UID_US}/${ID}`, 'underscores in cgroupfs'],
    [`/kubepods/besteffort/pod${UID.slice(0, -1)}/${ID}`, 'short uid'],
    [`/kubepods/besteffort/pod${UID.toUpperCase()}/${ID}`, 'uppercase uid'],
    [`/kubepods/besteffort/${UID}/${ID}`, 'no pod prefix'],
    [`/kubepods/guaranteed/pod${UID}/${ID}`, 'no guaranteed level in cgroupfs'],
    [`/kubepods.slice.bak/kubepods-pod${UID_US}.slice`, 'root near miss'],
  ];
  for (const [path, why] of cases) {
    assert.equal(parseCgroupPath(path), null, why);
  }
});

test('an unrecognised leaf below a valid pod keeps the pod but names no container', () => {
  assert.deepEqual(parseCgroupPath(`/kubepods/besteffort/pod${UID}/${ID.slice(1)}`), { podUid: UID, qos: 'besteffort' });
});
