// Bundles as scripts/build-policies.mjs makes them (build/policies/bundle.tar.gz), and the ways one can be wrong.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { need } from '@palisade/common/testing';
import { BundleError, digestOf, parseBundle, readTarGz, writeTarGz, type BundleFiles } from './bundle.js';
import { buildPolicies } from './built-policies.js';
import { PolicyEngine } from './policy-engine.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const BUNDLE = join(root, 'build/policies/bundle.tar.gz');


function built(): BundleFiles {
  return readTarGz(readFileSync(BUNDLE));
}

function manifestOf(files: BundleFiles): Record<string, unknown> {
  return JSON.parse(files.get('.manifest')!.toString('utf8')) as Record<string, unknown>;
}

function withManifest(files: BundleFiles, change: (m: Record<string, unknown>) => Record<string, unknown>): BundleFiles {
  const out = new Map(files);
  out.set('.manifest', Buffer.from(JSON.stringify(change(manifestOf(files)))));
  return out;
}

function refused(files: BundleFiles, reason: string, message: RegExp): void {
  assert.throws(() => parseBundle(files), (err: unknown) => {
    assert.ok(err instanceof BundleError, String(err));
    assert.equal(err.reason, reason);
    assert.equal(err.code, 'POLICY_LOAD_FAILED');
    assert.match(err.message, message);
    return true;
  });
}

/** The rules the build shipped (build/policies/metadata.json), whatever their number. */
function shippedRules(): { id: string; event_kinds: string[] }[] {
  return (JSON.parse(readFileSync(join(root, 'build/policies/metadata.json'), 'utf8')) as
    { rules: { id: string; event_kinds: string[] }[] }).rules;
}

describe('the bundle scripts/build-policies.mjs makes', { skip: buildPolicies() }, () => {
  it('carries the wasm, the data and the rule metadata in its manifest, with a content revision', () => {
    const files = built();
    const m = manifestOf(files);
    assert.match(String(m.revision), /^[0-9a-f]{16}$/);
    // The one wasm, with main's entrypoint and one per event kind the rules read, so a bundle dispatches by kind too.
    const kinds = [...new Set(shippedRules().flatMap((r) => r.event_kinds))].sort();
    assert.deepEqual(m.wasm, [
      { entrypoint: 'palisade/main/alerts', module: '/policy.wasm' },
      ...kinds.map((k) => ({ entrypoint: `palisade/kinds/${k}/alerts`, module: '/policy.wasm' })),
    ]);
    const b = parseBundle(files);
    assert.equal(b.revision, m.revision);
    assert.deepEqual(b.rules.map((r) => r.id), shippedRules().map((r) => r.id));
    assert.ok(b.rules.length >= 40, `${b.rules.length} rules`);
    assert.deepEqual(b.rules.find((r) => r.id === 'PAL-004')?.eventKinds, ['net_connect', 'net_socket']);
    assert.deepEqual(b.data, JSON.parse(readFileSync(join(root, 'build/policies/data.json'), 'utf8')));
    assert.equal(Buffer.compare(b.wasm, readFileSync(join(root, 'build/policies/policy.wasm'))), 0);
  });

  it('makes an engine that dispatches by kind', async () => {
    const b = parseBundle(built());
    const engine = await PolicyEngine.create({ wasm: b.wasm, rules: b.rules, data: b.data, where: 'bundle' });
    assert.equal(engine.dispatch, 'kind');
  });

  it('is read back by opa itself', (t) => {
    const opa = spawnSync(join(homedir(), 'go/bin/opa'), ['inspect', '--format', 'json', BUNDLE], { encoding: 'utf8' });
    if (!need(t, opa.error === undefined, 'no opa binary at ~/go/bin/opa')) return;
    assert.equal(opa.status, 0, opa.stderr);
    const out = JSON.parse(opa.stdout) as { manifest: { revision: string; metadata: { palisade: { rules: unknown[] } } } };
    assert.equal(out.manifest.metadata.palisade.rules.length, shippedRules().length);
  });

  it('has one digest whatever its container: a repacked tarball of the same files digests the same', () => {
    const files = built();
    assert.equal(digestOf(readTarGz(writeTarGz(files))), digestOf(files));
    assert.equal(parseBundle(readTarGz(writeTarGz(files))).digest, parseBundle(files).digest);
  });

  it('data.json files below the root land at their directory\'s path', () => {
    const files = new Map(built());
    files.set('extra/lists/data.json', Buffer.from('{"shells":["sh"]}'));
    assert.deepEqual((parseBundle(files).data.extra as Record<string, unknown>).lists, { shells: ['sh'] });
  });

  it('build/policies/ itself is a bundle directory: metadata.json stands in for the manifest', () => {
    const dir = new Map<string, Buffer>([
      ['policy.wasm', readFileSync(join(root, 'build/policies/policy.wasm'))],
      ['data.json', readFileSync(join(root, 'build/policies/data.json'))],
      ['metadata.json', readFileSync(join(root, 'build/policies/metadata.json'))],
    ]);
    assert.equal(parseBundle(dir).rules.length, shippedRules().length);
    assert.equal(parseBundle(dir).revision, '');
  });
});

describe('a bad bundle is refused with the reason', { skip: buildPolicies() }, () => {
  it('corrupt: not gzip, a truncated tarball, a bad header checksum', () => {
    const gz = readFileSync(BUNDLE);
    assert.throws(() => readTarGz(Buffer.from('not a bundle')), (e: unknown) => e instanceof BundleError && e.reason === 'corrupt');
    const tar = readTarGz(gz); // sanity
    assert.ok(tar.size > 0);
    const raw = (): Buffer => Buffer.from(spawnSync('gzip', ['-dc', BUNDLE], { maxBuffer: 64 << 20 }).stdout);
    assert.throws(() => readTarGz(gzipSync(raw().subarray(0, 2000))), (e: unknown) => e instanceof BundleError && e.reason === 'corrupt');
    const flipped = raw();
    flipped[10] = flipped[10]! ^ 0x20; // inside the first header's name
    assert.throws(() => readTarGz(gzipSync(flipped)), /bad header checksum/);
  });

  it('missing_metadata: a third-party bundle without metadata.palisade', () => {
    refused(withManifest(built(), ({ metadata: _m, ...rest }) => rest), 'missing_metadata', /no rule metadata.*build-policies/);
  });

  it('bad_metadata: a rule id twice', () => {
    refused(withManifest(built(), (m) => {
      const meta = (m.metadata as { palisade: { rules: unknown[] } }).palisade;
      return { ...m, metadata: { palisade: { ...meta, rules: [...meta.rules, meta.rules[0]] } } };
    }), 'bad_metadata', /duplicate rule id PAL-001/);
  });

  it('wrong_entrypoint: wasm built for another entrypoint, or the entrypoint outside the roots', () => {
    refused(withManifest(built(), (m) => ({ ...m, wasm: [{ entrypoint: 'authz/allow', module: '/policy.wasm' }] })),
      'wrong_entrypoint', /built for authz\/allow, not palisade\/main\/alerts/);
    refused(withManifest(built(), (m) => ({ ...m, roots: ['authz'] })), 'wrong_entrypoint', /outside the bundle's roots/);
  });

  it('bad_wasm: no module; bad_data: data that is not JSON or outside the roots', () => {
    const noWasm = new Map(built());
    noWasm.delete('policy.wasm');
    refused(noWasm, 'bad_wasm', /no \/policy\.wasm/);
    const badData = new Map(built());
    badData.set('data.json', Buffer.from('{"palisade":'));
    refused(badData, 'bad_data', /data\.json is not JSON/);
    refused(withManifest(built(), (m) => ({ ...m, roots: ['palisade/main', 'palisade/rules'] })), 'bad_data', /outside the bundle's roots/);
  });
});
