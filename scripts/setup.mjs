#!/usr/bin/env node
// Sets up whatever is missing, then builds: system packages, the OPA compiler, the Kafka jars, npm dependencies,
// generated protobuf code, the BPF objects and the addon, the ABI registry code, the policies (Rego -> wasm), the
// TypeScript build, the tests' Kubernetes control plane (scripts/fetch-kube.mjs), and the kernels of the kernel matrix (Debian's 6.1 and qemu to boot it: scripts/kernels.mjs).
// Every step checks first and does nothing when its output is current, so a second run takes seconds.
// Uses only Node's standard library: it runs before `npm ci` on a fresh clone.
//
//   node scripts/setup.mjs [--quiet] [--only <step>[,<step>...]]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { goBin, opaPath } from './toolchain.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quiet = args.includes('--quiet');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? new Set((args[onlyIdx + 1] ?? '').split(',')) : undefined;

/** Pinned versions. Change them here only. */
export const PINS = {
  opa: 'v1.22.0',
  kafka: '3.9.1',
  /** Debian 12's Linux 6.1 ABI that the kernel matrix boots (linux-image-<this>-amd64-unsigned). */
  kernel: '6.1.0-50',
  /** The tests' control plane (scripts/fetch-kube.mjs builds them with this machine's Go). */
  kubernetes: 'v1.37.2',
  etcd: 'v3.7.3',
  helm: 'v3.22.0',
};

/**
 * Debian packages the build and the tests need (the BPF toolchain, and the peers the benchmark measures against).
 * packages() adds clang's sanitizer runtime, libclang-rt-<clang's major>-dev, for the libFuzzer targets.
 */
const APT_PACKAGES = [
  'clang', 'llvm', 'libbpf-dev', 'bpftool', 'libelf-dev', 'zlib1g-dev', 'pkg-config', 'make', 'g++',
  'libbpf-tools', 'bpftrace',
  // The benign workload corpus (test/benign/) rotates logs with the real tool.
  'logrotate',
];

const say = (msg) => process.stderr.write(`setup: ${msg}\n`);
const note = (msg) => { if (!quiet) say(msg); };

function run(cmd, argv, opts = {}) {
  const r = spawnSync(cmd, argv, { stdio: ['ignore', 'inherit', 'inherit'], cwd: root, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${argv.join(' ')} exited with ${r.status}`);
}

function output(cmd, argv) {
  const r = spawnSync(cmd, argv, { encoding: 'utf8', cwd: root });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** Newest mtime (ms) of the files below the paths, 0 if none. */
function newest(paths, filter = () => true) {
  let max = 0;
  const walk = (p) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) {
      for (const e of readdirSync(p)) if (e !== 'node_modules' && e !== 'dist' && e !== 'build') walk(join(p, e));
    } else if (filter(p)) max = Math.max(max, st.mtimeMs);
  };
  for (const p of paths) walk(p);
  return max;
}

function mtime(p) { return existsSync(p) ? statSync(p).mtimeMs : 0; }

const steps = {
  packages() {
    const installed = (p) => output('dpkg-query', ['-W', '-f=${Status}', p])?.includes('install ok installed') ?? false;
    const install = (missing, updated) => {
      if (process.getuid?.() !== 0) throw new Error(`missing Debian packages (${missing.join(' ')}); run setup as root`);
      say(`installing Debian packages: ${missing.join(' ')}`);
      const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
      if (!updated) run('apt-get', ['update', '-qq'], { env });
      run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { env });
    };
    const missing = APT_PACKAGES.filter((p) => !installed(p));
    if (missing.length > 0) install(missing, false);
    // clang's libFuzzer/ASan/UBSan runtime (native/fuzz/) is packaged per clang version: libclang-rt-<major>-dev.
    const major = /clang version (\d+)/.exec(output('clang', ['--version']) ?? '')?.[1];
    if (major === undefined) throw new Error('clang --version names no version');
    const runtime = `libclang-rt-${major}-dev`;
    if (!installed(runtime)) install([runtime], missing.length > 0);
    else if (missing.length === 0) note('system packages present');
  },

  mounts() {
    // The collector needs bpffs and tracefs; on a VM without systemd mounting them, do it here.
    if (process.getuid?.() !== 0) return note('not root: skipping bpffs/tracefs mounts');
    const mounts = readFileSync('/proc/mounts', 'utf8');
    const want = [['bpf', '/sys/fs/bpf'], ['tracefs', '/sys/kernel/tracing'], ['debugfs', '/sys/kernel/debug']];
    for (const [type, where] of want) {
      if (mounts.split('\n').some((l) => l.split(' ')[1] === where)) continue;
      mkdirSync(where, { recursive: true });
      const r = spawnSync('mount', ['-t', type, type, where], { stdio: 'inherit' });
      if (r.status === 0) say(`mounted ${type} at ${where}`);
      else say(`could not mount ${type} at ${where} (exit ${r.status})`);
    }
  },

  opa() {
    const bin = opaPath();
    const have = existsSync(bin) ? output(bin, ['version']) : undefined;
    if (have && have.includes(`Version: ${PINS.opa.slice(1)}`)) return note(`opa ${PINS.opa} present`);
    say(`building the OPA compiler ${PINS.opa} with go install (a few minutes, once per machine)`);
    run(goBin(), ['install', `github.com/open-policy-agent/opa@${PINS.opa}`], { cwd: '/' });
  },

  npm() {
    const stamp = join(root, 'node_modules/.package-lock.json');
    // The lockfile decides: editing a script in package.json must not reinstall everything.
    if (mtime(stamp) >= mtime(join(root, 'package-lock.json'))) {
      return note('npm dependencies current');
    }
    say('installing npm dependencies (npm ci)');
    run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
  },

  proto() {
    const out = join(root, 'services/common/dist/gen/palisade.js');
    if (mtime(out) >= newest([join(root, 'proto')])) return note('protobuf code current');
    say('generating protobuf code');
    run(process.execPath, [join(root, 'scripts/gen-proto.mjs')]);
  },

  native() {
    run(process.execPath, [join(root, 'scripts/build-native.mjs'), ...(quiet ? ['--quiet'] : [])]);
  },

  abi() {
    const out = join(root, 'services/common/src/gen/abi.ts');
    const addon = join(root, 'native/build/Release/palisade.node');
    if (mtime(out) >= mtime(addon) && mtime(out) >= mtime(join(root, 'scripts/gen-abi.mjs'))) {
      return note('ABI registry code current');
    }
    say('generating the ABI registry code (services/common/src/gen/abi.ts)');
    run(process.execPath, [join(root, 'scripts/gen-abi.mjs')]);
  },

  policies() {
    run(process.execPath, [join(root, 'scripts/build-policies.mjs'), ...(quiet ? ['--quiet'] : [])],
      { env: { ...process.env, OPA_BIN: opaPath() } });
  },

  kafka() {
    run(process.execPath, [join(root, 'scripts/fetch-kafka.mjs'), ...(quiet ? ['--quiet'] : [])],
      { env: { ...process.env, PALISADE_KAFKA_VERSION: PINS.kafka } });
  },

  kube() {
    // kube-apiserver, etcd, kubectl, helm for the tests' real control plane (test/support/kube-cluster.ts).
    run(process.execPath, [join(root, 'scripts/fetch-kube.mjs'), ...(quiet ? ['--quiet'] : [])], {
      env: { ...process.env, PALISADE_KUBERNETES_VERSION: PINS.kubernetes, PALISADE_ETCD_VERSION: PINS.etcd,
        PALISADE_HELM_VERSION: PINS.helm },
    });
  },

  kernels() {
    run(process.execPath, [join(root, 'scripts/kernels.mjs'), ...(quiet ? ['--quiet'] : [])],
      { env: { ...process.env, PALISADE_KERNEL_6_1: PINS.kernel } });
  },

  build() {
    const stamp = join(root, '.cache/tsc.stamp');
    const src = newest(['services', 'test'].map((d) => join(root, d)), (p) => p.endsWith('.ts') || p.endsWith('.json'));
    if (mtime(stamp) >= src && mtime(stamp) >= mtime(join(root, 'services/common/dist/gen/palisade.js'))) {
      return note('TypeScript build current');
    }
    say('compiling TypeScript');
    run(join(root, 'node_modules/.bin/tsc'), ['-b']);
    mkdirSync(dirname(stamp), { recursive: true });
    writeFileSync(stamp, new Date().toISOString() + '\n');
  },
};

const order = ['packages', 'mounts', 'opa', 'npm', 'proto', 'native', 'abi', 'policies', 'kafka', 'kube', 'kernels', 'build'];
const t0 = Date.now();
try {
  for (const name of order) {
    if (only && !only.has(name)) continue;
    steps[name]();
  }
  note(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
} catch (err) {
  say(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
