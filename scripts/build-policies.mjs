#!/usr/bin/env node
// Compiles policies/ into what the evaluator loads, under build/policies/ (gitignored):
//   bundle.tar.gz   `opa build -t wasm -e palisade/main/alerts` output, with the rule metadata below added to its
//                   .manifest as `metadata.palisade` and a content revision: what --policy-bundle loads, from a file
//                   or a bundle server (services/evaluator/src/bundle.ts); `opa inspect` still reads it
//   policy.wasm     extracted from the bundle; PolicyEngine.load({ wasmPath })
//   data.json       the bundle's base data (policies/data.json; `{}` when there is none); the wasm does not embed it,
//                   the engine passes it to setData()
//   kinds/*.rego    generated: one package per event kind (palisade.kinds.<kind>), compiled into the wasm as the
//                   entrypoints palisade/kinds/<kind>/alerts; kept for reading, the bundle carries them too
//   metadata.json   per rule: id, title, description, severity, mitre, actions, event_kinds, package, file, read from
//                   the rules' `# METADATA` blocks with `opa inspect -a`; PolicyEngine.load({ metadataPath })
// Every build first runs `opa check --strict` over the same files `opa test` reads (the build's, plus the _test.rego
// files): an unused variable or import, a shadowed keyword or a deprecated builtin fails the build with opa's message.
// Idempotent: does nothing when every output is newer than every input (.rego/.json under policies/, this script,
// the wasm SDK's capabilities). Keep the entrypoint and output names in sync with
// services/evaluator/src/policy-engine.ts.
//
// Usage: node scripts/build-policies.mjs [--test] [--force] [--quiet] [--verbose] [--opa <path>]
//                                        [--policies <dir>] [--out <dir>]
//   --test      also run `opa test` on policies/ (always, even when the build is up to date)
//   --opa       the opa binary; else $OPA_BIN, else $GOPATH/bin/opa (GOPATH defaults to ~/go), else `opa` on PATH
//   --policies  the Rego sources (default policies/); --out where the outputs go (default build/policies/)
// Exit codes: 0 ok, 1 check/test/build failed, 3 no opa binary found.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';

export const ENTRYPOINT = 'palisade/main/alerts';
// One more entrypoint per event kind some rule reads: palisade/kinds/<kind>/alerts, the alerts of only the rules whose
// event_kinds name it, tuned as main.rego tunes them. Generated from the metadata (kindsRego below) into <out>/kinds/
// and compiled into the same wasm, so the bundle carries them. PolicyEngine groups a batch by kind and calls each
// kind's entrypoint: an event is evaluated by the rules that read it, not by all of them.
export const KIND_ENTRYPOINT_PREFIX = 'palisade/kinds/';
const RULES_PACKAGE = ['palisade', 'rules'];
const SEVERITIES = ['info', 'low', 'medium', 'high', 'critical'];
// The kinds a rule's event_kinds may name: the ABI registry's (bpf/include/palisade.h, written to build/abi.json by
// scripts/gen-abi.mjs, which setup runs before this script).
const abiJson = join(dirname(fileURLToPath(import.meta.url)), '..', 'build/abi.json');
if (!existsSync(abiJson)) {
  process.stderr.write(`build-policies: ${abiJson} is missing: run node scripts/gen-abi.mjs (setup does)\n`);
  process.exit(1);
}
const EVENT_KINDS = JSON.parse(readFileSync(abiJson, 'utf8')).kinds.map((k) => k.name);
const EXIT_NO_OPA = 3;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sdkCapabilities = join(root, 'node_modules/@open-policy-agent/opa-wasm/capabilities.json');

/**
 * What `opa check` and `opa test` read under a policies directory: everything but tracing/, the collector's
 * TracingPolicy YAML. `opa build` reads the same without the *_test.rego files. scripts/test.mjs uses this too.
 */
export function opaSources(policiesDir) {
  return ['--ignore', 'tracing', policiesDir];
}

function layoutOf(policiesDir, outDir) {
  return {
    policiesDir,
    outDir,
    outputs: {
      bundle: join(outDir, 'bundle.tar.gz'),
      wasm: join(outDir, 'policy.wasm'),
      data: join(outDir, 'data.json'),
      metadata: join(outDir, 'metadata.json'),
    },
  };
}

class BuildError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

function parseArgs(argv) {
  const opts = {
    test: false, force: false, quiet: false, verbose: false, opa: undefined,
    policies: join(root, 'policies'), out: join(root, 'build/policies'),
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--test') opts.test = true;
    else if (a === '--force') opts.force = true;
    else if (a === '--quiet') opts.quiet = true;
    else if (a === '--verbose' || a === '-v') opts.verbose = true;
    else if (a === '--opa' && argv[i + 1] !== undefined) opts.opa = argv[++i];
    else if (a.startsWith('--opa=')) opts.opa = a.slice('--opa='.length);
    else if ((a === '--policies' || a === '--out') && argv[i + 1] !== undefined) opts[a.slice(2)] = resolve(argv[++i]);
    else throw new BuildError(`unknown argument ${a}`);
  }
  return opts;
}

function findOpa(explicit) {
  const candidates = [];
  if (explicit) candidates.push(explicit);
  else if (process.env.OPA_BIN) candidates.push(process.env.OPA_BIN);
  else {
    candidates.push(join(process.env.GOPATH || join(homedir(), 'go'), 'bin/opa'));
    candidates.push('opa');
  }
  for (const bin of candidates) {
    const r = spawnSync(bin, ['version'], { encoding: 'utf8' });
    if (r.status === 0) return { bin, version: /^Version: (.*)$/m.exec(r.stdout)?.[1] ?? 'unknown' };
  }
  throw new BuildError(`no opa binary: tried ${candidates.join(', ')} (pass --opa <path> or set OPA_BIN)`, EXIT_NO_OPA);
}

function opa(bin, args, { capture = false } = {}) {
  const r = spawnSync(bin, args, { cwd: root, encoding: 'utf8', stdio: capture ? 'pipe' : 'inherit', maxBuffer: 64 << 20 });
  if (r.error) throw new BuildError(`opa ${args[0]}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new BuildError(`opa ${args.join(' ')} exited with ${r.status}${capture ? `\n${r.stderr}${r.stdout}` : ''}`);
  }
  return r.stdout;
}

function filesUnder(dir, keep) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...filesUnder(p, keep));
    else if (keep(entry.name)) out.push(p);
  }
  return out;
}

function upToDate({ policiesDir, outputs }) {
  const inputs = [
    ...filesUnder(policiesDir, (n) => n.endsWith('.rego') || n.endsWith('.json')),
    fileURLToPath(import.meta.url),
    sdkCapabilities,
  ];
  let newestInput = 0;
  for (const f of inputs) newestInput = Math.max(newestInput, statSync(f).mtimeMs);
  for (const f of Object.values(outputs)) {
    if (!existsSync(f) || statSync(f).mtimeMs <= newestInput) return false;
  }
  return true;
}

// The builtins the JS SDK can run: natively in the wasm or in its JS builtins. Restricting `opa build` to them turns
// "not implemented: built-in function" at evaluation time into a compile error. The SDK's file has no `features`
// (Rego v1 needs them), so they come from the opa binary in use.
function wasmCapabilities(bin) {
  const current = JSON.parse(opa(bin, ['capabilities', '--current'], { capture: true }));
  const sdk = JSON.parse(readFileSync(sdkCapabilities, 'utf8'));
  const allowed = new Set(sdk.builtins.map((b) => b.name));
  return { ...current, builtins: current.builtins.filter((b) => allowed.has(b.name)) };
}

// A ustar/pax reader, enough for what `opa build` writes (regular files, pax headers for long names).
export function readTar(buf) {
  const files = new Map();
  let offset = 0;
  let paxPath;
  const str = (start, len) => {
    const s = buf.subarray(start, start + len);
    const nul = s.indexOf(0);
    return s.subarray(0, nul === -1 ? s.length : nul).toString('utf8');
  };
  while (offset + 512 <= buf.length) {
    const header = buf.subarray(offset, offset + 512);
    if (header.every((b) => b === 0)) break;
    if (header[124] & 0x80) throw new BuildError('tar: base-256 sizes are not supported');
    const size = parseInt(str(offset + 124, 12).trim() || '0', 8);
    const type = String.fromCharCode(header[156] || 0x30);
    const magic = str(offset + 257, 6);
    const prefix = magic.startsWith('ustar') ? str(offset + 345, 155) : '';
    const name = prefix ? `${prefix}/${str(offset, 100)}` : str(offset, 100);
    const body = buf.subarray(offset + 512, offset + 512 + size);
    if (body.length !== size) throw new BuildError(`tar: ${name} is truncated`);
    if (type === 'x') {
      // Records are "<len> <key>=<value>\n".
      for (const rec of body.toString('utf8').split('\n')) {
        const m = /^\d+ path=(.*)$/.exec(rec);
        if (m) paxPath = m[1];
      }
    } else if (type === '0' || type === '\0') {
      files.set((paxPath ?? name).replace(/^\/+/, ''), Buffer.from(body));
      paxPath = undefined;
    } else {
      paxPath = undefined;
    }
    offset += 512 + Math.ceil(size / 512) * 512;
  }
  return files;
}

// A ustar writer for the repacked bundle: regular files only, names split into prefix/name when over 100 bytes.
// Keep what it writes readable by readTar above and by services/evaluator/src/bundle.ts.
export function writeTar(files) {
  const blocks = [];
  for (const [path, body] of files) {
    const header = Buffer.alloc(512);
    let name = path;
    let prefix = '';
    if (Buffer.byteLength(name) > 100) {
      const cut = name.lastIndexOf('/', 155);
      if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new BuildError(`tar: name too long: ${path}`);
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
    }
    header.write(name, 0, 100, 'utf8');
    header.write('0000600\0', 100);
    header.write('0000000\0', 108);
    header.write('0000000\0', 116);
    header.write(`${body.length.toString(8).padStart(11, '0')}\0`, 124);
    header.write('00000000000\0', 136);
    header.write('        ', 148); // checksum is computed over spaces here
    header.write('0', 156);
    header.write('ustar\0', 257);
    header.write('00', 263);
    header.write(prefix, 345, 155, 'utf8');
    let sum = 0;
    for (const b of header) sum += b;
    header.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
    blocks.push(header, body, Buffer.alloc((512 - (body.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function fail(where, message) {
  throw new BuildError(`${where}: ${message}`);
}

// Rule metadata from the package-scoped `# METADATA` blocks of data.palisade.rules.*, validated so that the evaluator
// can trust it: a rule the engine cannot describe is a build error, not a runtime surprise.
function ruleMetadata(inspected) {
  const rules = [];
  for (const entry of inspected.annotations ?? []) {
    const path = (entry.path ?? []).map((p) => p.value);
    const pkg = path.slice(1);
    if (pkg.length !== 3 || pkg[0] !== RULES_PACKAGE[0] || pkg[1] !== RULES_PACKAGE[1]) continue;
    const a = entry.annotations ?? {};
    const file = (entry.location?.file ?? '').replace(/^\/+/, '');
    const where = file || pkg.join('.');
    if (a.scope !== 'package') continue;
    const c = a.custom ?? {};
    if (typeof c.id !== 'string' || !/^PAL-\d{3}$/.test(c.id)) fail(where, `custom.id must look like PAL-001, got ${c.id}`);
    const slug = c.id.toLowerCase().replace('-', '_');
    if (pkg[2] !== slug) fail(where, `package must be palisade.rules.${slug} for ${c.id}`);
    if (!file.split('/').pop()?.startsWith(`${slug}_`)) fail(where, `file name must be ${slug}_<slug>.rego`);
    if (typeof a.title !== 'string' || a.title === '') fail(where, 'title is required');
    if (!SEVERITIES.includes(c.severity)) fail(where, `custom.severity must be one of ${SEVERITIES.join(', ')}`);
    // "none" is for rules that record enforcement rather than detect a technique (PAL-005: a kill the policy made).
    if (typeof c.mitre !== 'string' || !(c.mitre === 'none' || /^T\d{4}(\.\d{3})?$/.test(c.mitre))) {
      fail(where, 'custom.mitre must be a technique id (T1059.004) or "none"');
    }
    if (!Array.isArray(c.actions) || !c.actions.every((x) => typeof x === 'string')) fail(where, 'custom.actions must be a list of strings');
    if (!Array.isArray(c.event_kinds) || c.event_kinds.length === 0 || !c.event_kinds.every((k) => EVENT_KINDS.includes(k))) {
      fail(where, `custom.event_kinds must be a non-empty list of ${EVENT_KINDS.join(', ')}`);
    }
    rules.push({
      id: c.id,
      title: a.title,
      description: typeof a.description === 'string' ? a.description : '',
      severity: c.severity,
      mitre: c.mitre === 'none' ? '' : c.mitre,
      actions: c.actions,
      event_kinds: c.event_kinds,
      package: pkg.join('.'),
      file,
    });
  }
  const ids = new Set();
  for (const r of rules) {
    if (ids.has(r.id)) fail(r.file, `duplicate rule id ${r.id}`);
    ids.add(r.id);
  }
  // A package under palisade.rules without a METADATA block would evaluate but have no severity or actions.
  for (const ns of Object.keys(inspected.namespaces ?? {})) {
    const m = /^data\.palisade\.rules\.([^.]+)$/.exec(ns);
    if (m && !rules.some((r) => r.package === `palisade.rules.${m[1]}`)) fail(ns, 'rule package has no package-scoped METADATA block');
  }
  return rules.sort((x, y) => x.id.localeCompare(y.id));
}

/**
 * The generated Rego of the per-kind entrypoints: for every kind some rule's event_kinds names, a package
 * palisade.kinds.<kind> whose `alerts` is the union of those rules' alerts with the tuning applied, exactly as
 * main.rego applies it. Returns [kind, source] pairs, by kind name.
 */
export function kindsRego(rules) {
  const byKind = new Map();
  for (const r of rules) {
    for (const k of r.event_kinds) {
      if (!byKind.has(k)) byKind.set(k, []);
      byKind.get(k).push(r);
    }
  }
  return [...byKind].sort(([a], [b]) => a.localeCompare(b)).map(([kind, rs]) => [kind, [
    '# Generated by scripts/build-policies.mjs from the rules\' event_kinds; do not edit. The entrypoint',
    `# ${KIND_ENTRYPOINT_PREFIX}${kind}/alerts: main.rego's alerts, for the rules that read ${kind} events only.`,
    `package palisade.kinds.${kind}`,
    '',
    'import data.palisade.lib.tuning',
    '',
    ...rs.flatMap((r) => [
      `# ${r.id}`,
      'alerts contains tuning.decide(alert, input.events[alert.index]) if {',
      `\tsome alert in data.${r.package}.alerts`,
      '\ttuning.enabled(alert.rule_id)',
      '}',
      '',
    ]),
  ].join('\n')]);
}

function writeAtomic(path, content) {
  writeFileSync(`${path}.tmp`, content);
  renameSync(`${path}.tmp`, path);
}

function build(bin, version, { policiesDir, outDir, outputs }) {
  mkdirSync(outDir, { recursive: true });
  const caps = join(outDir, 'capabilities.json');
  writeAtomic(caps, JSON.stringify(wasmCapabilities(bin)));
  const bundleTmp = `${outputs.bundle}.tmp`;
  opa(bin, [
    'build', '-t', 'wasm', '-e', ENTRYPOINT, '--capabilities', relative(root, caps), '--ignore', '*_test.rego',
    ...opaSources(relative(root, policiesDir)), '-o', relative(root, bundleTmp),
  ]);
  const inspected = JSON.parse(opa(bin, ['inspect', '-a', '--format', 'json', relative(root, bundleTmp)], { capture: true }));
  const rules = ruleMetadata(inspected);
  if (rules.length === 0) fail('policies/', 'no rules under data.palisade.rules');
  // Second pass, now that the metadata says which rules read which kinds: the same sources plus the generated kind
  // packages, with every kind's entrypoint.
  const kindsDir = join(outDir, 'kinds');
  rmSync(kindsDir, { recursive: true, force: true });
  mkdirSync(kindsDir, { recursive: true });
  const kinds = kindsRego(rules);
  for (const [kind, source] of kinds) writeFileSync(join(kindsDir, `${kind}.rego`), source);
  opa(bin, [
    'build', '-t', 'wasm', '-e', ENTRYPOINT, ...kinds.flatMap(([kind]) => ['-e', `${KIND_ENTRYPOINT_PREFIX}${kind}/alerts`]),
    '--capabilities', relative(root, caps), '--ignore', '*_test.rego',
    ...opaSources(relative(root, policiesDir)), relative(root, kindsDir), '-o', relative(root, bundleTmp),
  ]);
  const files = readTar(gunzipSync(readFileSync(bundleTmp)));
  const wasm = files.get('policy.wasm') ?? fail(bundleTmp, 'no policy.wasm in the bundle');
  const data = files.get('data.json') ?? Buffer.from('{}');
  const metadata = { entrypoint: ENTRYPOINT, opa_version: version, rules };
  // The bundle carries its rule metadata in the .manifest (OPA keeps `metadata` as arbitrary JSON), so that policy,
  // data and metadata travel, and are swapped, as one file. The revision is a digest of what the evaluator runs.
  const manifestBytes = files.get('.manifest') ?? fail(bundleTmp, 'no .manifest in the bundle');
  const manifest = JSON.parse(manifestBytes.toString('utf8'));
  const revision = createHash('sha256').update(wasm).update(data).update(JSON.stringify(rules)).digest('hex').slice(0, 16);
  files.set('.manifest', Buffer.from(JSON.stringify({ ...manifest, revision, metadata: { ...manifest.metadata, palisade: metadata } })));
  writeFileSync(bundleTmp, gzipSync(writeTar([...files].map(([p, b]) => [`/${p}`, b]))));
  // opa must still read the repacked bundle as its own.
  opa(bin, ['inspect', '--format', 'json', relative(root, bundleTmp)], { capture: true });
  renameSync(bundleTmp, outputs.bundle);
  writeAtomic(outputs.wasm, wasm);
  writeAtomic(outputs.data, data);
  // Last, so that an interrupted build leaves metadata.json older than its inputs and the next run rebuilds.
  writeAtomic(outputs.metadata, `${JSON.stringify(metadata, null, 2)}\n`);
  return rules;
}

function main() {
  const opts = parseArgs(process.argv.slice(2));
  const log = (msg) => {
    if (!opts.quiet) console.log(`build-policies: ${msg}`);
  };
  const layout = layoutOf(opts.policies, opts.out);
  // Up-to-date outputs need no opa: a checkout with a build/ but no Go toolchain still runs.
  if (!opts.test && !opts.force && upToDate(layout)) {
    log('up to date');
    return;
  }
  const { bin, version } = findOpa(opts.opa);
  const sources = opaSources(relative(root, layout.policiesDir));
  // Captured, so that opa's findings are in the error that setup and the tests print.
  opa(bin, ['check', '--strict', ...sources], { capture: true });
  if (opts.test) {
    opa(bin, ['test', ...(opts.verbose ? ['-v'] : []), ...sources]);
    if (!opts.force && upToDate(layout)) {
      log('tests passed; outputs up to date');
      return;
    }
  }
  const rules = build(bin, version, layout);
  const { outputs } = layout;
  log(`built ${relative(root, outputs.wasm)} with ${rules.length} rules (${rules.map((r) => r.id).join(', ')}) using opa ${version}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    main();
  } catch (err) {
    console.error(`build-policies: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = err instanceof BuildError ? err.exitCode : 1;
  }
}
