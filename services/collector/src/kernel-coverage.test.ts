// Coverage: for every event kind, make the real syscall from a child in a fresh cgroup v2 and find its event with
// the right fields (issue 3, item 7). Without BPF, python3 or root a test skips saying why, and fails when CI=true.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { pb, type palisade } from '@palisade/common';
import { DEFAULT_CGROUP2_ROOT } from './cgroup-resolver.js';
import { need, waitFor } from '@palisade/common/testing';
import { KernelSource } from './kernel-source.js';
import { bpfUnavailable, needBpf, removeCgroup } from './kernel-test-support.js';

type RawEvent = palisade.v1.IRawEvent;
const K = pb.EventKind;
const python = ['/usr/bin/python3', ...(process.env.PATH ?? '').split(':').map((d) => join(d, 'python3'))].find(
  (p) => existsSync(p),
);

/** BPF, and python3 unless the test makes its syscalls otherwise. */
function needKernel(t: TestContext, needPython = true): boolean {
  return needBpf(t) && (!needPython || need(t, python !== undefined, 'python3 not found'));
}

let cgDir = '';
let cgId = 0;
let source: KernelSource | undefined;
const events: RawEvent[] = [];
const work = mkdtempSync(join(tmpdir(), 'palisade-cov-'));

before(() => {
  if (bpfUnavailable !== undefined) return;
  cgDir = join(DEFAULT_CGROUP2_ROOT, `palisade-cov-${randomBytes(4).toString('hex')}`);
  mkdirSync(cgDir);
  cgId = Number(statSync(cgDir, { bigint: true }).ino);
  const ours = cgId;
  source = new KernelSource({ cgroupWalkIntervalMs: 0 });
  source.start((batch) => events.push(...batch.filter((e) => e.process?.cgroupId === ours)));
});

after(async () => {
  source?.close();
  rmSync(work, { recursive: true, force: true });
  if (cgDir !== '') await removeCgroup(cgDir);
});

interface Run {
  pid: number;
  code: number | null;
  out: string;
}

/** Runs a shell script inside the test cgroup; stdout is returned (scripts print the ids the test needs). */
function sh(script: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', `echo $$ > ${cgDir}/cgroup.procs || exit 1; ${script}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ pid: child.pid ?? 0, code, out }));
  });
}

/** Runs a python3 program (written to a file: no quoting games) inside the test cgroup. */
function py(code: string): Promise<Run> {
  const file = join(work, `s-${randomBytes(4).toString('hex')}.py`);
  writeFileSync(file, `import ctypes, os, socket, struct, sys\nlibc = ctypes.CDLL(None, use_errno=True)\n${code}\n`);
  return sh(`exec ${python ?? 'python3'} ${file}`);
}

/** The first event of `kind` that satisfies `pred`, once it has arrived. */
function find(kind: palisade.v1.EventKind, pred: (e: RawEvent) => boolean, what: string): Promise<RawEvent> {
  return waitFor(what, () => events.find((x) => x.kind === kind && pred(x)));
}

function nsInode(kind: string): number {
  return Number(statSync(`/proc/self/ns/${kind}`, { bigint: true }).ino);
}

test('exec: cwd, capabilities, namespaces, loginuid', async (t) => {
  if (!needKernel(t, false)) return;
  const r = await sh(`cd ${work} && exec cat /etc/hostname > /dev/null`);
  const e = await find(K.EVENT_KIND_PROCESS_EXEC, (x) => x.process?.pid === r.pid, 'exec');
  assert.equal(e.exec?.cwd, work);
  assert.equal(e.exec?.cwdTruncated, false);
  assert.equal(e.exec?.fromMemfd, false);
  assert.equal(e.exec?.pidNs, nsInode('pid'));
  assert.equal(e.exec?.mntNs, nsInode('mnt'));
  assert.equal(e.exec?.netNs, nsInode('net'));
  if (process.geteuid?.() === 0) assert.ok(Number(e.exec?.capEffective) > 0, 'root has effective capabilities');
  assert.equal(typeof e.exec?.loginuid, 'number');
});

test('exec: secrets on the command line are redacted before the event leaves the collector', async (t) => {
  if (!needKernel(t)) return;
  const r = await sh('exec /bin/true --password=hunter2 --token s3cr3t https://bob:pw123@example.com/x KEEP=me');
  const e = await find(K.EVENT_KIND_PROCESS_EXEC, (x) => x.process?.pid === r.pid, 'exec of true');
  assert.deepEqual(e.exec?.argv,
    ['/bin/true', '--password=[REDACTED]', '--token', '[REDACTED]', 'https://bob:[REDACTED]@example.com/x', 'KEEP=me']);
});

test('memfd_create and exec from the memfd', async (t) => {
  if (!needKernel(t)) return;
  const r = await py(`
fd = os.memfd_create("palmemfd", 0)
os.write(fd, open("/bin/true", "rb").read())
print(fd, flush=True)
os.execve(fd, ["true"], {})`);
  const m = await find(K.EVENT_KIND_MEMFD_CREATE, (x) => x.process?.pid === r.pid, 'memfd_create');
  assert.deepEqual(m.memfdCreate, { name: 'palmemfd', flags: 0, result: Number(r.out.trim()) });
  const e = await find(K.EVENT_KIND_PROCESS_EXEC, (x) => x.process?.pid === r.pid && x.exec?.fromMemfd === true,
    'exec from memfd');
  assert.deepEqual(e.exec?.argv, ['true']);
});

test('userfaultfd: flags and the fd it returned', async (t) => {
  if (!needKernel(t)) return;
  // x86_64 __NR_userfaultfd = 323; O_CLOEXEC | O_NONBLOCK = 0o2004000.
  const r = await py(`
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
print(libc.syscall(323, 0o2004000), flush=True)`);
  const e = await find(K.EVENT_KIND_USERFAULTFD, (x) => x.process?.pid === r.pid, 'userfaultfd');
  assert.deepEqual(e.userfaultfd, { syscall: 'userfaultfd', flags: 0o2004000, result: Number(r.out.trim()) });
});

test('fork: parent pid and child pid, threads not reported', async (t) => {
  if (!needKernel(t)) return;
  const r = await py(`
import threading
th = threading.Thread(target=lambda: None); th.start(); th.join()
pid = os.fork()
if pid == 0: os._exit(0)
os.waitpid(pid, 0)
print(pid)`);
  const child = Number(r.out.trim());
  const e = await find(K.EVENT_KIND_PROCESS_FORK, (x) => x.process?.pid === r.pid, 'fork');
  assert.deepEqual(e.fork, { childPid: child, exitSignal: 17 });
  assert.equal(events.filter((x) => x.kind === K.EVENT_KIND_PROCESS_FORK && x.process?.pid === r.pid).length, 1,
    'the thread was not reported as a fork');
});

test('file open: a relative path is made absolute with the cwd; writes under /etc are flagged', async (t) => {
  if (!needKernel(t, false)) return;
  const name = `rel-${randomBytes(3).toString('hex')}`;
  writeFileSync(join(work, name), 'x');
  const etc = `/etc/palisade-cov-${randomBytes(3).toString('hex')}`;
  try {
    const r = await sh(`cd ${work} && cat ${name} > /dev/null && echo x > ${etc}`);
    const rel = await find(K.EVENT_KIND_FILE_OPEN, (x) => x.process?.pid !== undefined &&
      x.fileOpen?.path === join(work, name), 'relative open');
    assert.equal(rel.fileOpen?.sensitiveWrite, false);
    const w = await find(K.EVENT_KIND_FILE_OPEN, (x) => x.process?.pid === r.pid && x.fileOpen?.path === etc,
      'write under /etc');
    assert.equal(w.fileOpen?.sensitiveWrite, true);
  } finally {
    rmSync(etc, { force: true });
  }
});

test('file ops: rename, unlink, chmod, chown with paths, ids and results', async (t) => {
  if (!needKernel(t)) return;
  const a = join(work, `a-${randomBytes(3).toString('hex')}`);
  const b = `${a}-renamed`;
  const r = await py(`
open("${a}", "w").close()
os.chmod("${a}", 0o640)
os.chown("${a}", 1234, 5678)
os.rename("${a}", "${b}")
os.unlink("${b}")
try: os.unlink("${b}")
except FileNotFoundError: pass`);
  const ops = (): RawEvent[] => events.filter((x) => x.kind === K.EVENT_KIND_FILE_OP && x.process?.pid === r.pid);
  const rename = await find(K.EVENT_KIND_FILE_OP, (x) => x.process?.pid === r.pid && x.fileOp?.newPath === b, 'rename');
  assert.match(rename.fileOp?.syscall ?? '', /^rename(at2?)?$/);
  assert.equal(rename.fileOp?.path, a);
  assert.equal(rename.fileOp?.result, 0);
  const chmod = await find(K.EVENT_KIND_FILE_OP, (x) => x.process?.pid === r.pid && /chmod/.test(x.fileOp?.syscall ?? ''), 'chmod');
  assert.equal(chmod.fileOp?.path, a);
  assert.equal(chmod.fileOp?.mode, 0o640);
  const chown = await find(K.EVENT_KIND_FILE_OP, (x) => x.process?.pid === r.pid && /chown/.test(x.fileOp?.syscall ?? ''), 'chown');
  assert.deepEqual([chown.fileOp?.path, chown.fileOp?.uid, chown.fileOp?.gid, chown.fileOp?.result], [a, 1234, 5678, 0]);
  await find(K.EVENT_KIND_FILE_OP, (x) => x.process?.pid === r.pid && /unlink/.test(x.fileOp?.syscall ?? '') &&
    x.fileOp?.result === -2, 'failed unlink');
  const unlinks = ops().filter((x) => /unlink/.test(x.fileOp?.syscall ?? '') && x.fileOp?.path === b);
  assert.deepEqual(unlinks.map((x) => x.fileOp?.result), [0, -2]);
});

test('net: bind, listen, accept (TCP, IPv4 and IPv6) and UDP sendto', async (t) => {
  if (!needKernel(t)) return;
  const r = await py(`
for fam, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    s = socket.socket(fam, socket.SOCK_STREAM); s.bind((host, 0)); s.listen(7)
    port = s.getsockname()[1]
    c = socket.socket(fam, socket.SOCK_STREAM); c.connect((host, port))
    a, _ = s.accept()
    print(port, c.getsockname()[1])
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(b"x", ("127.0.0.1", 9))`);
  const lines = r.out.trim().split('\n').map((l) => l.split(' ').map(Number));
  for (const [i, fam, host] of [[0, pb.AddressFamily.ADDRESS_FAMILY_INET, '127.0.0.1'],
    [1, pb.AddressFamily.ADDRESS_FAMILY_INET6, '::1']] as const) {
    const [port, cport] = lines[i] ?? [];
    const op = (name: string): Promise<RawEvent> => find(K.EVENT_KIND_NET_SOCKET, (x) => x.process?.pid === r.pid &&
      x.netSocket?.syscall?.startsWith(name) === true && x.netSocket.family === fam, `${name} ${host}`);
    // The socket's own family, type and protocol (socket_* fields, also what socket(2) of an uncommon one reports).
    const kind = { socketFamily: fam === pb.AddressFamily.ADDRESS_FAMILY_INET ? 'inet' : 'inet6', socketType: 'stream',
      socketTypeFlags: 0, socketProtocol: 6 };
    assert.deepEqual((await op('bind')).netSocket, { syscall: 'bind', family: fam, addr: host, port: 0, protocol: 'tcp', backlog: 0, result: 0, ...kind });
    assert.deepEqual((await op('listen')).netSocket, { syscall: 'listen', family: fam, addr: host, port, protocol: 'tcp', backlog: 7, result: 0, ...kind });
    const acc = await op('accept');
    assert.equal(acc.netSocket?.addr, host);
    assert.equal(acc.netSocket?.port, cport, 'the peer port');
    assert.ok((acc.netSocket?.result ?? -1) >= 0);
  }
  const udp = await find(K.EVENT_KIND_NET_SOCKET, (x) => x.process?.pid === r.pid && x.netSocket?.syscall === 'sendto', 'udp sendto');
  assert.deepEqual(udp.netSocket, {
    syscall: 'sendto', family: pb.AddressFamily.ADDRESS_FAMILY_INET, addr: '127.0.0.1', port: 9, protocol: 'udp', backlog: 0, result: 1,
    socketFamily: 'inet', socketType: 'dgram', socketTypeFlags: 0, socketProtocol: 17,
  });
});

test('dns: the query name and type from sendto and from a connected send', async (t) => {
  if (!needKernel(t)) return;
  const r = await py(`
def q(name, qtype):
    return struct.pack(">HHHHHH", 0x4242, 0x100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\\0" + struct.pack(">HH", qtype, 1)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.sendto(q("palisade-test.example", 28), ("127.0.0.1", 53))
v = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); v.connect(("::1", 53)); v.send(q("second.example.org", 1))`);
  const a = await find(K.EVENT_KIND_DNS_QUERY, (x) => x.process?.pid === r.pid && x.dnsQuery?.name === 'palisade-test.example', 'dns sendto');
  assert.deepEqual(a.dnsQuery, {
    name: 'palisade-test.example', qtype: 28, qtypeName: 'AAAA', id: 0x4242,
    family: pb.AddressFamily.ADDRESS_FAMILY_INET, daddr: '127.0.0.1', dport: 53, syscall: 'sendto',
  });
  const b = await find(K.EVENT_KIND_DNS_QUERY, (x) => x.process?.pid === r.pid && x.dnsQuery?.name === 'second.example.org', 'dns send');
  assert.equal(b.dnsQuery?.daddr, '::1');
  assert.equal(b.dnsQuery?.qtypeName, 'A');
});

test('priv_setid: old -> requested -> new ids and the result', async (t) => {
  if (!needKernel(t)) return;
  if (!need(t, process.geteuid?.() === 0, 'needs root to change ids')) return;
  const r = await py(`
os.setgid(4321)
os.setresuid(1000, 1000, 1000)
try: os.setuid(0)
except PermissionError: pass`);
  const g = await find(K.EVENT_KIND_PRIV_SETID, (x) => x.process?.pid === r.pid && x.privSetid?.syscall === 'setgid', 'setgid');
  assert.deepEqual([g.privSetid?.requestedReal, g.privSetid?.newReal, g.privSetid?.newEffective, g.privSetid?.result], [4321, 4321, 4321, 0]);
  const u = await find(K.EVENT_KIND_PRIV_SETID, (x) => x.process?.pid === r.pid && x.privSetid?.syscall === 'setresuid', 'setresuid');
  assert.deepEqual(u.privSetid, {
    syscall: 'setresuid', requestedReal: 1000, requestedEffective: 1000, requestedSaved: 1000, oldReal: 0,
    oldEffective: 0, oldSaved: 0, newReal: 1000, newEffective: 1000, result: 0,
  });
  const back = await find(K.EVENT_KIND_PRIV_SETID, (x) => x.process?.pid === r.pid && x.privSetid?.syscall === 'setuid', 'setuid');
  assert.equal(back.privSetid?.result, -1, '-EPERM');
  assert.equal(back.privSetid?.newEffective, 1000);
});

test('capset: the capability sets asked for', async (t) => {
  if (!needKernel(t)) return;
  const r = await py(`
hdr = struct.pack("Ii", 0x20080522, 0)
data = ctypes.create_string_buffer(24)
assert libc.capget(hdr, data) == 0
e0, p0, i0, e1, p1, i1 = struct.unpack("6I", data.raw)
e0 &= ~(1 << 13)
new = struct.pack("6I", e0, p0, i0, e1, p1, i1)
print(libc.capset(hdr, new), e0 | (e1 << 32), p0 | (p1 << 32))`);
  const [res, eff, perm] = r.out.trim().split(' ').map(Number);
  const e = await find(K.EVENT_KIND_CAPSET, (x) => x.process?.pid === r.pid, 'capset');
  assert.equal(e.capset?.result, res);
  assert.equal(Number(e.capset?.effective), eff);
  assert.equal(Number(e.capset?.permitted), perm);
  assert.equal(e.capset?.targetPid, 0);
});

test('ptrace: attach to another process, request and target pid', async (t) => {
  if (!needKernel(t)) return;
  const r = await py(`
import subprocess
p = subprocess.Popen(["sleep", "5"])
res = libc.ptrace(16, p.pid, None, None)
os.waitpid(p.pid, 0)
libc.ptrace(17, p.pid, None, None)
p.kill(); p.wait()
print(p.pid, res)`);
  const [target, res] = r.out.trim().split(' ').map(Number);
  const e = await find(K.EVENT_KIND_PTRACE, (x) => x.process?.pid === r.pid && x.ptrace?.request === 16, 'ptrace attach');
  assert.deepEqual(e.ptrace, { request: 16, requestName: 'PTRACE_ATTACH', targetPid: target, result: res });
});

test('namespace, mount and umount: unshare, setns, mount of a tmpfs and its umount2', async (t) => {
  if (!needKernel(t)) return;
  if (!need(t, process.geteuid?.() === 0, 'needs root to unshare and mount')) return;
  const dir = join(work, 'mnt');
  mkdirSync(dir, { recursive: true });
  const r = await py(`
assert libc.unshare(0x20000) == 0
assert libc.mount(None, b"/", None, 0x4000 | 0x40000, None) == 0
fd = os.open("/proc/self/ns/net", os.O_RDONLY)
print(libc.setns(fd, 0x40000000), fd)
assert libc.mount(b"paltmp", b"${dir}", b"tmpfs", 0, None) == 0
assert libc.umount2(b"${dir}", 0) == 0`);
  assert.equal(r.code, 0);
  const [setnsRes, fd] = r.out.trim().split(' ').map(Number);
  const u = await find(K.EVENT_KIND_NAMESPACE, (x) => x.process?.pid === r.pid && x.namespace?.syscall === 'unshare', 'unshare');
  assert.deepEqual(u.namespace, { syscall: 'unshare', flags: 0x20000, fd: -1, result: 0 });
  const s = await find(K.EVENT_KIND_NAMESPACE, (x) => x.process?.pid === r.pid && x.namespace?.syscall === 'setns', 'setns');
  assert.deepEqual(s.namespace, { syscall: 'setns', flags: 0x40000000, fd, result: setnsRes });
  const m = await find(K.EVENT_KIND_MOUNT, (x) => x.process?.pid === r.pid && x.mount?.fstype === 'tmpfs', 'mount');
  assert.deepEqual(m.mount, { syscall: 'mount', source: 'paltmp', target: dir, fstype: 'tmpfs', flags: 0, result: 0 });
  const um = await find(K.EVENT_KIND_MOUNT, (x) => x.process?.pid === r.pid && x.mount?.syscall === 'umount2', 'umount2');
  assert.deepEqual(um.mount, { syscall: 'umount2', source: '', target: dir, fstype: '', flags: 0, result: 0 });
});

test('bpf(BPF_PROG_LOAD): program type, instruction count and name', async (t) => {
  if (!needKernel(t)) return;
  const r = await py(`
insns = struct.pack("<BBhi", 0xb7, 0, 0, 0) + struct.pack("<BBhi", 0x95, 0, 0, 0)
ibuf = ctypes.create_string_buffer(insns, len(insns)); lic = ctypes.create_string_buffer(b"GPL")
attr = struct.pack("<IIQQIIQII16s", 1, 2, ctypes.addressof(ibuf), ctypes.addressof(lic), 0, 0, 0, 0, 0, b"palprobe")
abuf = ctypes.create_string_buffer(attr + bytes(128 - len(attr)), 128)
libc.syscall.restype = ctypes.c_long
print(libc.syscall(321, 5, abuf, 128))`);
  const fd = Number(r.out.trim());
  const e = await find(K.EVENT_KIND_BPF_PROG_LOAD, (x) => x.process?.pid === r.pid, 'bpf prog load');
  assert.deepEqual(e.bpfProgLoad, { progType: 1, insnCount: 2, progName: 'palprobe', result: fd });
  assert.ok(fd >= 0);
});

test('signal: kill of another process with the target and the signal', async (t) => {
  if (!needKernel(t, false)) return;
  const r = await sh('sleep 5 & echo $!; kill -TERM $!; wait');
  const target = Number(r.out.trim());
  const e = await find(K.EVENT_KIND_SIGNAL, (x) => x.signal?.targetPid === target, 'kill');
  assert.deepEqual(e.signal, { syscall: 'kill', targetPid: target, targetTgid: 0, signal: 15, result: 0 });
  assert.equal(e.process?.pid, r.pid);
});

test('module load: finit_module and init_module from a pod are seen, from the module tracepoints or, without them, raw_syscalls', async (t) => {
  if (!needKernel(t)) return;
  const tracefs = existsSync('/sys/kernel/tracing/events') ? '/sys/kernel/tracing' : '/sys/kernel/debug/tracing';
  const hooked = existsSync(`${tracefs}/events/syscalls/sys_enter_finit_module`);
  // finit_module(fd of a file that is no module, "pal=1", 0) and init_module of 64 zero bytes: refused by the kernel
  // (ENOEXEC, or EPERM without CAP_SYS_MODULE), or ENOSYS on a kernel built without CONFIG_MODULES. The attempt is
  // the signal, so it is seen either way.
  const r = await py(`
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open("/etc/hostname", os.O_RDONLY)
a = libc.syscall(313, fd, b"pal=1", 0)
ea = ctypes.get_errno()
buf = ctypes.create_string_buffer(64)
b = libc.syscall(175, buf, 64, b"pal=2")
print(a, ea, fd, b, ctypes.get_errno(), flush=True)`);
  const [ret, errno, fd, ret2, errno2] = r.out.trim().split(' ').map(Number);
  assert.equal(ret, -1, 'no module was loaded from /etc/hostname');
  assert.equal(ret2, -1, 'no module was loaded from zeroes');
  const programs = source?.programs() ?? [];
  const attached = programs.filter((p) => p.kind === 'module_load' && p.attached).map((p) => p.name).sort();
  if (hooked) {
    assert.deepEqual(attached, ['pal_finit_module_in', 'pal_finit_module_out', 'pal_init_module_in', 'pal_init_module_out']);
    for (const name of ['pal_module_raw_in', 'pal_module_raw_out']) {
      const p = programs.find((q) => q.name === name);
      assert.match(p?.reason ?? '', /^not needed: this kernel has tracepoint syscalls\/sys_enter_finit_module$/, `${name} is left out`);
    }
  } else {
    // CONFIG_MODULES=n: the syscalls are sys_ni (ENOSYS) and have no tracepoints; the raw_syscalls fallback sees them.
    assert.equal(errno, 38, 'ENOSYS without module syscalls');
    assert.deepEqual(attached, ['pal_module_raw_in', 'pal_module_raw_out']);
    assert.ok(programs.some((p) => p.name === 'pal_finit_module_in' && /no tracepoint/.test(p.reason)));
  }
  const e = await find(K.EVENT_KIND_MODULE_LOAD, (x) => x.process?.pid === r.pid && x.moduleLoad?.syscall === 'finit_module', 'finit_module');
  assert.deepEqual(e.moduleLoad, {
    syscall: 'finit_module', params: 'pal=1', fileName: 'hostname', fd, flags: 0, result: -(errno ?? 0),
  });
  const e2 = await find(K.EVENT_KIND_MODULE_LOAD, (x) => x.process?.pid === r.pid && x.moduleLoad?.syscall === 'init_module', 'init_module');
  assert.equal(e2.moduleLoad?.params, 'pal=2');
  assert.equal(e2.moduleLoad?.result, -(errno2 ?? 0));
});

test('process_kill: a SIGKILL filter kill is reported as kind 5 with its reason, rule, syscall and path', async (t) => {
  if (!needKernel(t, false) || source === undefined) return;
  const guarded = join(work, `guarded-${randomBytes(3).toString('hex')}`);
  mkdirSync(guarded);
  source.setFilter({ binaries: [], pathPrefixes: [{ prefix: `${guarded}/`, action: 'sigkill' }], emitKillEvents: true });
  try {
    const r = await sh(`exec cat ${guarded}/f`);
    const e = await find(K.EVENT_KIND_PROCESS_KILL, (x) => x.process?.pid === r.pid, 'process_kill');
    assert.deepEqual(e.processKill, { signal: 9, reason: 'path_prefix', rule: 0, syscall: 'openat', path: `${guarded}/f`, late: false });
  } finally {
    source.setFilter({ binaries: [], pathPrefixes: [] });
  }
});

test('no decode errors over all of the above', (t) => {
  if (!needKernel(t, false) || source === undefined) return;
  assert.equal(source.stats().decodeErrors, 0);
});
