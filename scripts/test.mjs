#!/usr/bin/env node
// Runs the tests after setup: `opa test` for the policies, then every compiled *.test.js with Node's test runner,
// one file at a time (they share the kernel, a Kafka broker port range and the cgroup tree). The full run then boots
// Debian's Linux 6.1 in qemu and runs the kernel matrix's quick set there (scripts/test-kernels.mjs --quick --kernel
// 6.1), so every CI run loads and attaches every program on the kernel most nodes run, not only on this host's. When
// qemu or that kernel is missing, that stage fails when CI=true and is skipped, saying so, elsewhere.
//
// One real Kubernetes control plane (etcd + kube-apiserver, test/support/kube-cluster.ts) serves every test file
// of the run: it starts here, its handle goes to the files through PALISADE_TEST_KUBE, and it stops at the end.
// Without the binaries the files that need it start (or fail to start) their own, and say why.
//
//   node scripts/test.mjs [--unit | --e2e | --no-kernels] [extra node --test flags]
//   --unit, --e2e: subsets, without the 6.1 stage      --no-kernels: everything but the 6.1 stage
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { opaSources } from './build-policies.mjs';
import { opaPath } from './toolchain.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const unit = args.includes('--unit');
const e2e = args.includes('--e2e');
const kernels = !unit && !e2e && !args.includes('--no-kernels');
const extra = args.filter((a) => a !== '--unit' && a !== '--e2e' && a !== '--no-kernels');

function find(dir, out = []) {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (e === 'node_modules') continue;
    if (statSync(p).isDirectory()) find(p, out);
    else if (e.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const all = [
  ...readdirSync(join(root, 'services')).flatMap((s) => find(join(root, 'services', s, 'dist'))),
  ...find(join(root, 'test/dist')),
].sort();
const isE2e = (f) => relative(root, f).startsWith('test/dist/e2e/');
const files = all.filter((f) => (e2e ? isE2e(f) : unit ? !isE2e(f) : true));

if (!e2e) {
  process.stderr.write('test: opa test policies/\n');
  const r = spawnSync(opaPath(), ['test', '-v', ...opaSources(join(root, 'policies'))], { stdio: 'inherit' });
  if (r.status !== 0) { process.stderr.write('test: opa test failed\n'); process.exit(r.status ?? 1); }
}
if (files.length === 0) { process.stderr.write('test: no test files found; did the build run?\n'); process.exit(1); }
const kube = await import(join(root, 'test/dist/support/kube-cluster.js'));
let cluster;
const env = { ...process.env };
const kubeWhy = kube.kubeUnavailableReason();
if (kubeWhy === undefined) {
  process.stderr.write('test: starting the shared Kubernetes API server (etcd + kube-apiserver)\n');
  cluster = await kube.startKubeCluster();
  const dir = mkdtempSync(join(tmpdir(), 'palisade-kube-handle-'));
  kube.writeHandle(cluster, join(dir, 'handle.json'));
  env[kube.SHARED_KUBE_ENV] = join(dir, 'handle.json');
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
} else {
  process.stderr.write(`test: no shared Kubernetes API server: ${kubeWhy}\n`);
}
// Not spawnSync: a signal to this process must still reach the cluster's exit handlers.
const r = await new Promise((resolve) => {
  const child = spawn(process.execPath, [
    '--test', '--test-concurrency=1', '--test-timeout=600000', '--test-reporter=spec', ...extra, ...files,
  ], { stdio: 'inherit', cwd: root, env });
  child.on('exit', (code, signal) => resolve({ status: code ?? (signal === null ? 1 : 128) }));
});
await cluster?.stop();
let status = r.status ?? 1;
if (kernels) {
  process.stderr.write('test: the kernel matrix\'s quick set on Linux 6.1 in qemu (scripts/test-kernels.mjs)\n');
  const k = spawnSync(process.execPath, [
    join(root, 'scripts/test-kernels.mjs'), '--quick', '--kernel', '6.1', '--skip-missing',
  ], { stdio: 'inherit', cwd: root });
  if (k.status !== 0) {
    process.stderr.write('test: the kernel matrix failed on 6.1\n');
    if (status === 0) status = k.status ?? 1;
  }
}
process.exit(status);
