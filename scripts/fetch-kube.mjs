#!/usr/bin/env node
// Builds the pinned Kubernetes control plane the tests run against (issue 10): kube-apiserver and kubectl from
// k8s.io/kubernetes, etcd from go.etcd.io/etcd/server/v3, and helm, with this machine's Go from the Go module proxy,
// into .cache/kube/<stamp>/bin, recorded in .cache/kube/current. Once per machine: a marker holds the pins the
// binaries came from, so a second run takes milliseconds and a changed pin builds again.
//
//   node scripts/setup.mjs --only kube      (or: PALISADE_{KUBERNETES,ETCD,HELM}_VERSION=... node scripts/fetch-kube.mjs
//                                            [--quiet] [--force] [--only kube-apiserver,kubectl,etcd,helm])
//
// Why wrapper modules: `go install k8s.io/kubernetes/cmd/kube-apiserver@v` is refused, because Kubernetes' go.mod
// replaces its 33 staging modules (k8s.io/api, k8s.io/apiserver, ...) with ./staging/src directories. A wrapper
// module that requires k8s.io/kubernetes and replaces each staging module with its published version
// (k8s.io/X v0.<minor>.<patch>) builds the same commands. etcd's server module is a main package of its own, built
// through a wrapper that requires it. The -X ldflags make the binaries report their real versions.
// Cold: about 5 minutes on 2 cores, 2.4 GB peak RSS, ~1 GB of module downloads (kept in Go's module cache).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { goBin } from './toolchain.mjs';

// The pins live in scripts/setup.mjs (PINS), which passes them here; run alone, this script needs them set.
const KUBE_PINS = {
  kubernetes: process.env.PALISADE_KUBERNETES_VERSION,
  etcd: process.env.PALISADE_ETCD_VERSION,
  helm: process.env.PALISADE_HELM_VERSION,
};
const TOOLS = ['kube-apiserver', 'kubectl', 'etcd', 'helm'];

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const quiet = args.includes('--quiet');
const force = args.includes('--force');
const onlyIdx = args.indexOf('--only');
const only = onlyIdx >= 0 ? (args[onlyIdx + 1] ?? '').split(',') : TOOLS;
const say = (msg) => process.stderr.write(`kube: ${msg}\n`);
const die = (msg) => {
  process.stderr.write(`fetch-kube: ${msg}\n`);
  process.exit(1);
};
for (const [k, v] of Object.entries(KUBE_PINS)) {
  if (!v) die(`no ${k} version: run node scripts/setup.mjs --only kube (it passes the pins), or set PALISADE_${k.toUpperCase()}_VERSION`);
}
for (const t of only) if (!TOOLS.includes(t)) die(`unknown tool ${JSON.stringify(t)} (one of ${TOOLS.join(', ')})`);

const go = goBin();
const cache = join(root, '.cache/kube');
const stamp = createHash('sha256').update(JSON.stringify(KUBE_PINS)).digest('hex').slice(0, 16);
const home = join(cache, stamp);
const bin = join(home, 'bin');
const current = join(cache, 'current');

function markerOf(tool) {
  return join(bin, `.${tool}.built`);
}

function run(argv, opts) {
  const r = spawnSync(go, argv, { stdio: quiet ? ['ignore', 'ignore', 'inherit'] : 'inherit', ...opts });
  if (r.error) die(`${go} ${argv.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) die(`${go} ${argv.join(' ')} failed (exit ${r.status}) in ${opts.cwd}`);
}

function goOut(argv, cwd) {
  const r = spawnSync(go, argv, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) die(`${go} ${argv.join(' ')} failed (exit ${r.status})`);
  return r.stdout;
}

/** A fresh wrapper module directory with this go.mod. */
function wrapper(name, goMod) {
  const dir = join(home, 'src', name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'go.mod'), goMod);
  return dir;
}

/** Go build of pkg in dir into bin/<tool>, via a staging name so an interrupted build leaves nothing half-written. */
function build(dir, pkg, tool, ldflags) {
  const out = join(bin, `${tool}.partial`);
  const env = { ...process.env, GOFLAGS: '-mod=mod', CGO_ENABLED: '0' };
  run(['build', '-trimpath', '-ldflags', `-s -w ${ldflags}`, '-o', out, pkg], { cwd: dir, env });
  renameSync(out, join(bin, tool));
  writeFileSync(markerOf(tool), `${new Date().toISOString()}\n`);
}

/** Kubernetes' own staging replace lines, read from its go.mod in the module cache. */
function stagingModules(version) {
  const info = JSON.parse(goOut(['mod', 'download', '-json', `k8s.io/kubernetes@${version}`], '/'));
  const gomod = readFileSync(info.GoMod, 'utf8');
  const mods = [...gomod.matchAll(/^\s*(k8s\.io\/[\w.-]+)\s*=>\s*\.\/staging\/src\/\S+/gm)].map((m) => m[1]);
  if (mods.length === 0) die(`no staging replace lines in k8s.io/kubernetes@${version}'s go.mod`);
  return mods;
}

function versionFlags(version) {
  const m = /^v(\d+)\.(\d+)\.(\d+)$/.exec(version);
  if (!m) die(`Kubernetes version ${version} is not vMAJOR.MINOR.PATCH`);
  const pkg = 'k8s.io/component-base/version';
  const pairs = { gitVersion: version, gitMajor: m[1], gitMinor: m[2], gitTreeState: 'clean', buildDate: '1970-01-01T00:00:00Z' };
  return { staging: `v0.${m[2]}.${m[3]}`, ldflags: Object.entries(pairs).map(([k, v]) => `-X ${pkg}.${k}=${v}`).join(' ') };
}

const todo = only.filter((t) => force || !existsSync(markerOf(t)) || !existsSync(join(bin, t)));
if (todo.length === 0) {
  if (!quiet) say(`${only.join(', ')} present in ${relative(root, bin)} (${JSON.stringify(KUBE_PINS)}), nothing to do`);
} else {
  mkdirSync(bin, { recursive: true });
  const t0 = Date.now();
  const k8sTools = todo.filter((t) => t === 'kube-apiserver' || t === 'kubectl');
  if (k8sTools.length > 0) {
    const v = KUBE_PINS.kubernetes;
    const { staging, ldflags } = versionFlags(v);
    const mods = stagingModules(v);
    say(`building ${k8sTools.join(', ')} ${v} (${mods.length} staging modules replaced by ${staging}; minutes, once)`);
    const dir = wrapper('kubernetes', [
      'module palisade.local/kube', '', 'go 1.26.0', '', `require k8s.io/kubernetes ${v}`, '',
      ...mods.map((m) => `replace ${m} => ${m} ${staging}`), '',
    ].join('\n'));
    for (const t of k8sTools) build(dir, `k8s.io/kubernetes/cmd/${t}`, t, ldflags);
  }
  if (todo.includes('etcd')) {
    const v = KUBE_PINS.etcd;
    say(`building etcd ${v}`);
    const dir = wrapper('etcd', ['module palisade.local/etcd', '', 'go 1.26.0', '', `require go.etcd.io/etcd/server/v3 ${v}`, ''].join('\n'));
    build(dir, 'go.etcd.io/etcd/server/v3', 'etcd', `-X go.etcd.io/etcd/api/v3/version.GitSHA=${v}`);
  }
  if (todo.includes('helm')) {
    const v = KUBE_PINS.helm;
    const major = /^v(\d+)\./.exec(v)?.[1] ?? '3';
    say(`building helm ${v}`);
    const dir = wrapper('helm', ['module palisade.local/helm', '', 'go 1.26.0', '', `require helm.sh/helm/v${major} ${v}`, ''].join('\n'));
    build(dir, `helm.sh/helm/v${major}/cmd/helm`, 'helm', `-X helm.sh/helm/v${major}/internal/version.version=${v}`);
  }
  say(`built ${todo.join(', ')} in ${((Date.now() - t0) / 1000).toFixed(0)} s into ${relative(root, bin)}`);
}
writeFileSync(current, `${stamp}\n`);
