#!/usr/bin/env node
// Builds the kernel half and the addon half of the collector:
//   bpf/progs/*.bpf.c + bpf/license.bpf.c --clang--> build/bpf/obj/*.o --bpftool gen object--> build/bpf/palisade.bpf.o
//   native/ --node-gyp (--nodedir=/usr: local headers, never a download)--> native/build/Release/palisade.node
// build/bpf/vmlinux.h is generated from the running kernel's BTF and never committed.
// Idempotent: a step runs only when an output is missing or older than one of its inputs. --force rebuilds all.
//
// Why separate compilation units linked by bpftool (and not one .c that #includes every hook): each hook stays a
// self-contained file whose maps come from the one shared header as __weak definitions, which libbpf's static
// linker (1.1 here) merges; a mismatched definition fails the link instead of silently creating a second map.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const force = process.argv.includes('--force');
const out = join(root, 'build', 'bpf');
const objDir = join(out, 'obj');
const vmlinuxH = join(out, 'vmlinux.h');
const bpfObject = join(out, 'palisade.bpf.o');
const addonDir = join(root, 'native');
const addon = join(addonDir, 'build', 'Release', 'palisade.node');

function log(msg) {
  process.stderr.write(`build-native: ${msg}\n`);
}

function run(cmd, args, opts = {}) {
  log([cmd, ...args].join(' '));
  execFileSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
}

function files(dir, suffixes) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => suffixes.some((s) => f.endsWith(s)))
    .map((f) => join(dir, f));
}

function mtime(path) {
  return existsSync(path) ? statSync(path).mtimeMs : -1;
}

/** True when some output is missing or older than the newest input. */
function stale(outputs, inputs) {
  if (force) return true;
  const oldestOut = Math.min(...outputs.map(mtime));
  if (oldestOut < 0) return true;
  return inputs.some((i) => mtime(i) > oldestOut);
}

function requireTool(cmd, hint) {
  try {
    execFileSync(cmd, ['--version'], { stdio: 'ignore' });
  } catch {
    log(`${cmd} not found: ${hint}`);
    process.exit(1);
  }
}

function buildBpf() {
  requireTool('clang', 'apt-get install clang llvm');
  requireTool('bpftool', 'apt-get install bpftool');
  mkdirSync(objDir, { recursive: true });

  if (force || !existsSync(vmlinuxH)) {
    log('generating build/bpf/vmlinux.h from /sys/kernel/btf/vmlinux');
    const header = execFileSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], {
      maxBuffer: 512 * 1024 * 1024,
    });
    writeFileSync(vmlinuxH, header);
  }

  const headers = [...files(join(root, 'bpf', 'include'), ['.h']), vmlinuxH];
  const sources = [...files(join(root, 'bpf', 'progs'), ['.bpf.c']), join(root, 'bpf', 'license.bpf.c')];
  const objects = [];
  for (const src of sources) {
    const obj = join(objDir, basename(src).replace(/\.c$/, '.o'));
    objects.push(obj);
    if (!stale([obj], [src, ...headers])) continue;
    run('clang', [
      '-O2', '-g', '-target', 'bpf', '-D__TARGET_ARCH_x86', '-Wall', '-Werror',
      '-I', out, '-I', join(root, 'bpf', 'include'),
      '-c', src, '-o', obj,
    ]);
  }
  if (stale([bpfObject], objects)) run('bpftool', ['gen', 'object', bpfObject, ...objects]);
  else log('build/bpf/palisade.bpf.o is up to date');

  // Test objects (never loaded in production): the real programs plus one file of bpf/test/ each, for the tests of
  // optional and required programs (native.test.ts).
  const testDir = join(out, 'test');
  mkdirSync(testDir, { recursive: true });
  for (const src of files(join(root, 'bpf', 'test'), ['.bpf.c'])) {
    const name = basename(src).replace(/\.bpf\.c$/, '').replace(/_/g, '-');
    const obj = join(testDir, basename(src).replace(/\.c$/, '.o'));
    if (stale([obj], [src, ...headers])) {
      run('clang', [
        '-O2', '-g', '-target', 'bpf', '-D__TARGET_ARCH_x86', '-Wall', '-Werror',
        '-I', out, '-I', join(root, 'bpf', 'include'), '-c', src, '-o', obj,
      ]);
    }
    const linked = join(testDir, `palisade-${name}.bpf.o`);
    if (stale([linked], [obj, ...objects])) run('bpftool', ['gen', 'object', linked, ...objects, obj]);
  }
}

function buildAddon() {
  const inputs = [
    ...files(join(addonDir, 'src'), ['.cc', '.h']),
    join(addonDir, 'binding.gyp'),
    join(root, 'bpf', 'include', 'palisade.h'),
  ];
  if (!stale([addon], inputs)) {
    log('native/build/Release/palisade.node is up to date');
    return;
  }
  const gyp = join(root, 'node_modules', '.bin', 'node-gyp');
  const gypArgs = ['--nodedir=/usr'];
  if (force) {
    run(gyp, ['rebuild', ...gypArgs], { cwd: addonDir });
    return;
  }
  // A Makefile older than binding.gyp lacks its new sources (and would link an addon with undefined symbols).
  if (stale([join(addonDir, 'build', 'Makefile')], [join(addonDir, 'binding.gyp')])) {
    run(gyp, ['configure', ...gypArgs], { cwd: addonDir });
  }
  run(gyp, ['build', ...gypArgs], { cwd: addonDir });
}

buildBpf();
buildAddon();
