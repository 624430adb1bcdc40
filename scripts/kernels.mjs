#!/usr/bin/env node
// Fetches what the kernel matrix (scripts/test-kernels.mjs) boots: Debian's Linux 6.1 as a package, unpacked into
// .cache/kernels/<release>/ (never installed: no /boot change, no initramfs hook), a minimal initramfs for it, and
// the Debian packages that run it (qemu-system-x86, busybox-static). Records the result in .cache/kernels/6.1.json.
// Idempotent: a stamp holds the hash of everything the cache was made from, so a second run takes milliseconds.
// Uses only Node's standard library: setup.mjs runs it before `npm ci`.
//
//   node scripts/kernels.mjs [--quiet] [--force]
// The pin is PALISADE_KERNEL_6_1 (scripts/setup.mjs passes PINS.kernel). When that ABI is no longer served (Debian
// drops an ABI from the archive once a security update bumps it), the newest served
// linux-image-6.1.0-<abi>-amd64-unsigned is fetched instead, and said on stderr.
//
// Why an own initramfs and not virtme-ng: on a fresh machine everything here comes from Debian's archive, which set-up
// already uses (the kernel, qemu, busybox-static), and the guest's whole start is the one shell script below, which
// mounts exactly what the tests need (cgroup2 at /sys/fs/cgroup/unified as on the nodes, bpffs, tracefs) and reports
// the exit status with a marker. virtme-ng would add PyPI, a venv and Python on the path to every run, still need
// busybox and the 9p/virtio modules taken out of the .deb (it finds no modules for a kernel that is not installed),
// and its own guest init decides the mounts and the environment, which we would have to override flag by flag.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quiet = args.includes('--quiet');
const force = args.includes('--force');
const say = (msg) => process.stderr.write(`kernels: ${msg}\n`);
const note = (msg) => { if (!quiet) say(msg); };
const die = (msg) => {
  say(`FAILED: ${msg}`);
  process.exit(1);
};

/** Debian packages that boot the guest. qemu 7.2 in bookworm; busybox-static is the initramfs' only program. */
const PACKAGES = ['qemu-system-x86', 'busybox-static'];
const BUSYBOX = '/bin/busybox';

/**
 * Modules the initramfs loads (with their dependencies, read from each .ko's .modinfo): virtio-pci for the 9p
 * device, 9p over virtio for the host's root, overlay for a writable layer on top of it. Everything else the tests
 * use (BPF, tracefs, cgroup2, tmpfs, IPv4/IPv6) is built into Debian's kernel.
 */
const MODULE_ROOTS = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

/**
 * The guest's /init (busybox sh, PID 1). Mounts the host's root read-only over 9p, puts a tmpfs overlay on it so tests
 * may write anywhere (the writes vanish with the guest), mounts what the collector and the tests need, switches root
 * and runs stage 2 (below) as PID 1 of the real root: a plain chroot would make unshare(CLONE_NEWUSER) fail (EPERM for
 * a chrooted caller), and the tests create namespaces. Any failure prints `palisade-guest: FAILED ...` and powers off.
 * Parameters come on the kernel command line: palisade.run (the marker's nonce), palisade.job (host path of the job).
 */
const INIT = `#!/bin/busybox sh
/bin/busybox mkdir -p /bin /proc /sys /dev /lower /upper /newroot
/bin/busybox --install -s /bin
export PATH=/bin
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t proc proc /proc
mount -t sysfs sysfs /sys
arg() { for w in $(cat /proc/cmdline); do case "$w" in "$1"=*) echo "\${w#*=}";; esac; done; }
RUN=$(arg palisade.run); JOB=$(arg palisade.job)
fail() { echo "palisade-guest: FAILED $*"; echo "PALISADE-GUEST-EXIT $RUN 125"; sync; poweroff -f; sleep 5; reboot -f; }
for m in $(cat /modules/order); do insmod /modules/$m.ko || fail "insmod $m"; done
# msize: 256 KiB per 9p message (the virtio transport's limit is 512 KiB); cache=loose: the share is read-only and
# the host does not change it during a run, so the guest may cache; both matter under TCG, where node reads many files.
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /lower || fail "mount 9p hostroot"
mount -t tmpfs -o mode=755 tmpfs /upper || fail "tmpfs /upper"
mkdir -p /upper/data /upper/work
mount -t overlay overlay -o lowerdir=/lower,upperdir=/upper/data,workdir=/upper/work /newroot || fail "mount overlay"
N=/newroot
mount -t proc proc $N/proc || fail "mount proc"
mount -t sysfs sysfs $N/sys || fail "mount sysfs"
mount -t devtmpfs devtmpfs $N/dev || fail "mount devtmpfs"
mkdir -p $N/dev/pts $N/dev/shm
mount -t devpts -o ptmxmode=666 devpts $N/dev/pts
mount -t tmpfs tmpfs $N/dev/shm
# No tmpfs on /tmp: the overlay already makes it writable, and the project may live under /tmp (CI clones there).
mount -t tmpfs -o mode=755 tmpfs $N/run
mount -t tmpfs -o mode=755 tmpfs $N/sys/fs/cgroup || fail "tmpfs /sys/fs/cgroup"
mkdir -p $N/sys/fs/cgroup/unified
mount -t cgroup2 cgroup2 $N/sys/fs/cgroup/unified || fail "mount cgroup2"
mount -t bpf bpf $N/sys/fs/bpf || fail "mount bpffs"
mount -t tracefs tracefs $N/sys/kernel/tracing || fail "mount tracefs"
mount -t debugfs debugfs $N/sys/kernel/debug || fail "mount debugfs"
ip link set lo up || fail "lo up"
hostname palisade-guest
mkdir -p $N/.palisade
cp /bin/busybox /stage2 $N/.palisade/ || fail "copy stage 2"
cp "/lower$JOB" $N/.palisade/job.sh || fail "job $JOB not visible in the guest"
echo "$RUN" > $N/.palisade/run
exec switch_root $N /.palisade/busybox sh /.palisade/stage2
`;

/** Stage 2, PID 1 on the overlay root: runs the job, prints its exit status with the nonce, powers off. */
const STAGE2 = `B=/.palisade/busybox
RUN=$($B cat /.palisade/run)
echo "PALISADE-GUEST-START $RUN $($B cut -d' ' -f1 /proc/uptime)"
$B sh /.palisade/job.sh </dev/null
code=$?
echo "PALISADE-GUEST-EXIT $RUN $code"
$B sync
$B poweroff -f
$B sleep 5
$B reboot -f
`;

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  return r;
}

function check(cmd, argv, opts = {}) {
  const r = run(cmd, argv, opts);
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trim();
    throw new Error(`${cmd} ${argv.join(' ')} exited with ${r.status}${out ? `:\n${out}` : ''}`);
  }
  return r.stdout;
}

const aptEnv = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };

function ensurePackages() {
  const missing = PACKAGES.filter((p) => {
    const r = run('dpkg-query', ['-W', '-f=${Status}', p]);
    return r.status !== 0 || !r.stdout.includes('install ok installed');
  });
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing Debian packages (${missing.join(' ')}); run as root`);
  say(`installing Debian packages: ${missing.join(' ')}`);
  const install = ['install', '-y', '-qq', '--no-install-recommends', ...missing];
  // setup's packages step has usually just refreshed the lists; update only when the install cannot find them.
  if (run('apt-get', install, { env: aptEnv, stdio: ['ignore', 'inherit', 'inherit'] }).status !== 0) {
    check('apt-get', ['update', '-qq'], { env: aptEnv });
    check('apt-get', install, { env: aptEnv, stdio: ['ignore', 'inherit', 'inherit'] });
  }
}

const packageOf = (abi) => `linux-image-${abi}-amd64-unsigned`;

function served(pkg) {
  const r = run('apt-cache', ['show', '--no-all-versions', pkg]);
  return r.status === 0 && /^Package: /m.test(r.stdout);
}

function newestServed() {
  const names = (run('apt-cache', ['pkgnames', 'linux-image-6.1.0-']).stdout ?? '').split('\n');
  const abis = names.map((n) => /^linux-image-(6\.1\.0-(\d+))-amd64-unsigned$/.exec(n.trim()))
    .filter((m) => m !== null).sort((a, b) => Number(b[2]) - Number(a[2]));
  return abis[0]?.[1];
}

/** The ABI to fetch: the pin when served, else the newest served 6.1 (said on stderr). */
function resolveAbi(pin) {
  if (served(packageOf(pin))) return pin;
  check('apt-get', ['update', '-qq'], { env: aptEnv });
  if (served(packageOf(pin))) return pin;
  const newest = newestServed();
  if (!newest) throw new Error(`neither ${packageOf(pin)} nor any linux-image-6.1.0-*-amd64-unsigned is served`);
  say(`the pinned ${packageOf(pin)} is not served any more; using the newest served, ${packageOf(newest)} `
    + `(update PINS.kernel in scripts/setup.mjs)`);
  return newest;
}

/** A .ko's `depends=` from its .modinfo section (NUL-separated key=value strings), without kmod. */
function moduleDepends(file) {
  const text = readFileSync(file).toString('latin1');
  const m = /\0depends=([^\0]*)\0/.exec(text);
  return m?.[1] ? m[1].split(',').filter(Boolean) : [];
}

/** The root modules and their dependencies, dependencies first. */
function moduleOrder(modDir) {
  const byName = new Map();
  const walk = (d) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ko')) byName.set(e.name.slice(0, -3).replace(/-/g, '_'), p);
    }
  };
  walk(modDir);
  const order = [];
  const visit = (name, path) => {
    const key = name.replace(/-/g, '_');
    if (order.some((o) => o.name === key)) return;
    const file = byName.get(key);
    if (!file) throw new Error(`module ${key} (${path.join(' <- ')}) is not in the package`);
    for (const dep of moduleDepends(file)) visit(dep, [...path, key]);
    order.push({ name: key, file });
  };
  for (const m of MODULE_ROOTS) visit(m, []);
  return order;
}

/** An uncompressed newc cpio archive (what the kernel unpacks as initramfs), from [path, mode, data?, rdev?] rows. */
function cpio(entries) {
  const parts = [];
  const pad = (n) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n) => n.toString(16).padStart(8, '0');
  let ino = 1;
  for (const [name, mode, data = Buffer.alloc(0), rdev = [0, 0]] of [...entries, ['TRAILER!!!', 0]]) {
    const nameBuf = Buffer.from(`${name}\0`);
    const fields = [ino++, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], nameBuf.length, 0];
    const header = Buffer.from(`070701${fields.map(hex).join('')}`);
    parts.push(header, nameBuf, pad(header.length + nameBuf.length), data, pad(data.length));
  }
  return Buffer.concat(parts);
}

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFCHR = 0o020000;

function buildInitramfs(order) {
  const entries = [
    ['bin', S_IFDIR | 0o755], ['dev', S_IFDIR | 0o755], ['proc', S_IFDIR | 0o755], ['sys', S_IFDIR | 0o755],
    ['modules', S_IFDIR | 0o755],
    // The kernel opens /dev/console for init's stdio before anything is mounted: it must be in the archive.
    ['dev/console', S_IFCHR | 0o600, undefined, [5, 1]],
    ['bin/busybox', S_IFREG | 0o755, readFileSync(BUSYBOX)],
    ['init', S_IFREG | 0o755, Buffer.from(INIT)],
    ['stage2', S_IFREG | 0o755, Buffer.from(STAGE2)],
    ['modules/order', S_IFREG | 0o644, Buffer.from(order.map((m) => m.name).join('\n') + '\n')],
    ...order.map((m) => [`modules/${m.name}.ko`, S_IFREG | 0o644, readFileSync(m.file)]),
  ];
  return cpio(entries);
}

/** Fetches, unpacks and prepares one kernel; returns the record test-kernels.mjs reads. */
function fetchKernel(abi, stamp, dir) {
  const release = `${abi}-amd64`;
  const cache = join(root, '.cache/kernels');
  const staging = join(cache, `.staging-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  const started = Date.now();
  try {
    say(`fetching ${packageOf(abi)} (apt-get download, unpacked into ${relative(root, dir)}; not installed)`);
    check('apt-get', ['download', '-q', packageOf(abi)], { cwd: staging, env: aptEnv });
    const deb = readdirSync(staging).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error('apt-get download left no .deb');
    const debVersion = check('dpkg-deb', ['-f', join(staging, deb), 'Version']).trim();
    const tree = join(staging, 'tree');
    check('dpkg-deb', ['-x', join(staging, deb), tree]);
    const vmlinuz = join(tree, 'boot', `vmlinuz-${release}`);
    if (!existsSync(vmlinuz)) throw new Error(`${deb} has no boot/vmlinuz-${release}`);
    const config = readFileSync(join(tree, 'boot', `config-${release}`), 'utf8');
    for (const want of ['CONFIG_DEBUG_INFO_BTF=y', 'CONFIG_FTRACE_SYSCALLS=y', 'CONFIG_BPF_SYSCALL=y']) {
      if (!config.includes(`\n${want}\n`)) throw new Error(`${release} lacks ${want}`);
    }
    const order = moduleOrder(join(tree, 'lib/modules', release));
    const out = join(staging, 'out');
    mkdirSync(out);
    copyFileSync(vmlinuz, join(out, 'vmlinuz'));
    copyFileSync(join(tree, 'boot', `config-${release}`), join(out, 'config'));
    writeFileSync(join(out, 'initramfs.cpio'), buildInitramfs(order));
    const record = {
      abi, release, package: packageOf(abi), debVersion,
      kernel: join(dir, 'vmlinuz'), initrd: join(dir, 'initramfs.cpio'), modules: order.map((m) => m.name), stamp,
    };
    writeFileSync(join(out, 'kernel.json'), JSON.stringify(record, null, 2) + '\n');
    writeFileSync(join(out, '.fetched'), `${stamp}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(out, dir);
    say(`${release} (${debVersion}) ready in ${((Date.now() - started) / 1000).toFixed(1)} s: vmlinuz, `
      + `initramfs with busybox + ${order.length} modules`);
    return record;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function main() {
  const pin = process.env.PALISADE_KERNEL_6_1;
  if (!pin) die('PALISADE_KERNEL_6_1 is not set; run `node scripts/setup.mjs --only kernels` (it passes PINS.kernel)');
  if (!/^6\.1\.0-\d+$/.test(pin)) die(`PINS.kernel ${pin} is not a Debian 6.1 ABI like 6.1.0-50`);
  ensurePackages();
  if (!existsSync(BUSYBOX)) die(`${BUSYBOX} is missing although busybox-static is installed`);

  const cache = join(root, '.cache/kernels');
  const recordFile = join(cache, '6.1.json');
  // What the cache is made from: the pin, the guest's init, its modules. A change to any of them rebuilds it.
  const stampOf = (abi) => createHash('sha256')
    .update([abi, INIT, STAGE2, MODULE_ROOTS.join(','), statSync(BUSYBOX).size].join('\0')).digest('hex');

  let record;
  try { record = JSON.parse(readFileSync(recordFile, 'utf8')); } catch { record = undefined; }
  const fetched = (dir) => { try { return readFileSync(join(dir, '.fetched'), 'utf8').trim(); } catch { return ''; } };
  const current = (r) => r && r.pin === pin && r.stamp === stampOf(r.abi) && existsSync(r.kernel)
    && existsSync(r.initrd) && fetched(dirname(r.kernel)) === r.stamp;
  if (!force && current(record)) {
    if (record.abi !== pin) say(`using ${record.release}: the pinned ${pin} was not served when it was fetched`);
    note(`${record.release} (${record.debVersion}) present in ${relative(root, dirname(record.kernel))}, nothing to do`);
    return;
  }
  const abi = resolveAbi(pin);
  const dir = join(cache, `${abi}-amd64`);
  let kernel;
  try { kernel = { ...JSON.parse(readFileSync(join(dir, 'kernel.json'), 'utf8')), pin }; } catch { kernel = undefined; }
  if (force || !current(kernel)) kernel = { pin, ...fetchKernel(abi, stampOf(abi), dir) };
  writeFileSync(recordFile, JSON.stringify(kernel, null, 2) + '\n');
  note(`${kernel.release} recorded in ${relative(root, recordFile)}`);
  // Kernels of earlier pins: 11 MiB each, never booted again.
  for (const e of readdirSync(cache)) {
    if (/^6\.1\.0-\d+-amd64$/.test(e) && e !== kernel.release) rmSync(join(cache, e), { recursive: true, force: true });
  }
}

try {
  main();
} catch (err) {
  die(err instanceof Error ? err.message : String(err));
}
