#!/usr/bin/env node
// Runs the tests after setup: `opa test` for the policies, then every compiled *.test.js with Node's test runner,
// one file at a time (they share the kernel, a Kafka broker port range and the cgroup tree).
//
//   node scripts/test.mjs [--unit | --e2e] [extra node --test flags]
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { opaSources } from './build-policies.mjs';
import { opaPath } from './toolchain.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const unit = args.includes('--unit');
const e2e = args.includes('--e2e');
const extra = args.filter((a) => a !== '--unit' && a !== '--e2e');

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
const r = spawnSync(process.execPath, [
  '--test', '--test-concurrency=1', '--test-timeout=300000', '--test-reporter=spec', ...extra, ...files,
], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
