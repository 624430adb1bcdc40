// The policy swapped while it runs: from a directory, a bundle.tar.gz, and a bundle server this test starts, polled
// with ETags. A bad bundle is refused and counted, and the old policy keeps evaluating.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Metrics, pb, silentLogger, type palisade } from '@palisade/common';
import { waitFor } from '@palisade/common/testing';
import { ActivePolicy, type ActivePolicyOptions } from './active-policy.js';
import { readTarGz, writeTarGz, type BundleFiles } from './bundle.js';
import { bundleSource } from './bundle-source.js';
import { buildPolicies } from './built-policies.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const BUNDLE = join(root, 'build/policies/bundle.tar.gz');


/** The built bundle with PAL-004's denied ports replaced and its own revision. */
function variant(revision: string, deniedPorts: number[]): BundleFiles {
  const files = new Map(readTarGz(readFileSync(BUNDLE)));
  const manifest = JSON.parse(files.get('.manifest')!.toString('utf8')) as Record<string, unknown>;
  files.set('.manifest', Buffer.from(JSON.stringify({ ...manifest, revision })));
  files.set('data.json', Buffer.from(JSON.stringify({ palisade: { config: { denied_ports: deniedPorts } } })));
  return files;
}

function writeDir(dir: string, files: BundleFiles): void {
  rmSync(dir, { recursive: true, force: true });
  for (const [path, body] of files) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), body);
  }
}

const POD: palisade.v1.IPod = { namespace: 'shop', name: 'web-1', uid: 'uid-1', containerId: 'c1', containerName: 'web', node: 'node-a' };

/** A connect from a container to port `port`: PAL-004 fires when the port is denied. */
function connect(port: number): palisade.v1.IEnrichedEvent {
  return {
    node: 'node-a', status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED, pod: POD,
    event: {
      kind: pb.EventKind.EVENT_KIND_NET_CONNECT, timeUnixNano: 1_700_000_000_000_000_000,
      process: { pid: 42, comm: 'nc', binary: '/usr/bin/nc', cgroupId: 7 },
      netConnect: { family: pb.AddressFamily.ADDRESS_FAMILY_INET, daddr: '203.0.113.7', dport: port, result: 0 },
    },
  };
}

/** The ports out of `ports` that PAL-004 fires on under the active policy. */
function firesOn(p: ActivePolicy, ports: number[]): number[] {
  return p.evaluate(ports.map(connect), 0).filter((a) => a.ruleId === 'PAL-004')
    .map((a) => a.event?.event?.netConnect?.dport ?? 0);
}

async function loads(metrics: Metrics, result: string): Promise<number> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'palisade_evaluator_bundle_loads_total');
  return m?.values.find((v) => v.labels.result === result)?.value ?? 0;
}

async function infoRevision(metrics: Metrics): Promise<string[]> {
  const m = (await metrics.registry.getMetricsAsJSON()).find((x) => x.name === 'palisade_evaluator_bundle_info');
  return (m?.values ?? []).filter((v) => v.value === 1).map((v) => String(v.labels.revision));
}

async function start(t: TestContext, location: string, over: Partial<ActivePolicyOptions> = {}) {
  const metrics = new Metrics();
  const policy = await ActivePolicy.start({
    source: bundleSource(location, { timeoutMs: 10_000 }), pollMs: 0, logger: silentLogger, metrics, ...over,
  });
  t.after(() => policy.close());
  return { policy, metrics };
}

function tmp(t: TestContext): string {
  const d = mkdtempSync(join(tmpdir(), 'palisade-bundle-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

describe('ActivePolicy', { skip: buildPolicies() }, () => {
  it('loads a bundle directory and swaps in its new content; an unchanged directory is not reloaded', async (t) => {
    const dir = join(tmp(t), 'bundle');
    writeDir(dir, variant('r1', [4444]));
    const { policy, metrics } = await start(t, dir);
    assert.equal(policy.revision, 'r1');
    assert.deepEqual(firesOn(policy, [4444, 9999]), [4444]);
    assert.equal(await policy.poll(), 'unchanged');
    writeDir(dir, variant('r2', [9999]));
    assert.equal(await policy.poll(), 'activated');
    assert.equal(policy.revision, 'r2');
    assert.deepEqual(firesOn(policy, [4444, 9999]), [9999]);
    assert.equal(await loads(metrics, 'activated'), 2);
    assert.equal(await loads(metrics, 'unchanged'), 1);
    assert.deepEqual(await infoRevision(metrics), ['r2']);
  });

  it('loads a bundle.tar.gz; a corrupt one written over it is refused, counted, and the old policy keeps evaluating', async (t) => {
    const file = join(tmp(t), 'bundle.tar.gz');
    writeFileSync(file, writeTarGz(variant('r1', [4444])));
    const { policy, metrics } = await start(t, file);
    assert.deepEqual(firesOn(policy, [4444]), [4444]);
    const good = readFileSync(file);
    writeFileSync(file, good.subarray(0, good.length >> 1)); // a half-written copy
    assert.equal(await policy.poll(), 'corrupt');
    assert.equal(policy.revision, 'r1');
    assert.deepEqual(firesOn(policy, [4444]), [4444]);
    assert.equal(await loads(metrics, 'corrupt'), 1);
    assert.equal(await policy.poll(), 'unchanged', 'the same bad file is refused once, not on every poll');
    assert.equal(await loads(metrics, 'corrupt'), 1);
    const detail = policy.detail() as { revision: string; lastRefused?: { reason: string } };
    assert.equal(detail.revision, 'r1');
    assert.equal(detail.lastRefused?.reason, 'corrupt');
    // A wasm that does not load.
    const broken = variant('r3', [1]);
    broken.set('policy.wasm', Buffer.from('\0asm but not really'));
    writeFileSync(file, writeTarGz(broken));
    assert.equal(await policy.poll(), 'bad_wasm');
    assert.deepEqual(firesOn(policy, [4444]), [4444]);
    // A good one clears the refusal.
    writeFileSync(file, writeTarGz(variant('r4', [9999])));
    assert.equal(await policy.poll(), 'activated');
    assert.equal((policy.detail() as { lastRefused?: unknown }).lastRefused, undefined);
    assert.deepEqual(firesOn(policy, [4444, 9999]), [9999]);
  });

  it('a bundle server: 200 with an ETag, then 304 for If-None-Match, then a new ETag swaps; a corrupt one is refused', async (t) => {
    let current = { etag: '"r1"', body: writeTarGz(variant('r1', [4444])) };
    const seen: IncomingHttpHeaders[] = [];
    const server = createServer((req, res) => {
      seen.push(req.headers);
      if (req.headers['if-none-match'] === current.etag) { res.writeHead(304, { etag: current.etag }).end(); return; }
      res.writeHead(200, { 'content-type': 'application/gzip', etag: current.etag }).end(current.body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bundles/palisade.tar.gz`;
    // Polling for real, every 50 ms: the swap must happen between evaluations without anyone calling poll().
    const { policy, metrics } = await start(t, url, { pollMs: 50 });
    assert.equal(policy.revision, 'r1');
    assert.equal(seen[0]?.['if-none-match'], undefined);
    await waitFor('a 304 poll', async () => (await loads(metrics, 'unchanged')) >= 2);
    assert.ok(seen.slice(1).every((h) => h['if-none-match'] === '"r1"'), 'every later poll sends the ETag');
    assert.deepEqual(firesOn(policy, [4444, 9999]), [4444]);

    current = { etag: '"r2"', body: writeTarGz(variant('r2', [9999])) };
    await waitFor('r2 active', () => policy.revision === 'r2');
    assert.deepEqual(firesOn(policy, [4444, 9999]), [9999]);
    assert.equal((policy.detail() as { etag?: string }).etag, '"r2"');

    const good = current.body;
    current = { etag: '"r3"', body: good.subarray(0, good.length - 100) };
    await waitFor('the corrupt bundle refused', async () => (await loads(metrics, 'corrupt')) >= 1);
    assert.equal(policy.revision, 'r2');
    assert.deepEqual(firesOn(policy, [4444, 9999]), [9999], 'the old policy keeps evaluating');
    await waitFor('more polls after the refusal', async () => (await loads(metrics, 'unchanged')) >= 5);
    assert.equal(await loads(metrics, 'corrupt'), 1, 'refused once: its ETag is not downloaded again');

    current = { etag: '"r4"', body: writeTarGz(variant('r4', [4444, 9999])) };
    await waitFor('r4 active', () => policy.revision === 'r4');
    assert.deepEqual(firesOn(policy, [4444, 9999]), [4444, 9999]);
  });

  it('a bundle server that is down or answers 500 keeps the old policy, counted as fetch_failed', async (t) => {
    let fail = false;
    const server = createServer((_req, res) => {
      if (fail) { res.writeHead(500).end('boom'); return; }
      res.writeHead(200, { etag: '"r1"' }).end(writeTarGz(variant('r1', [4444])));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    t.after(() => server.close());
    const { policy, metrics } = await start(t, `http://127.0.0.1:${(server.address() as AddressInfo).port}/b`);
    fail = true;
    assert.equal(await policy.poll(), 'fetch_failed');
    assert.equal(await loads(metrics, 'fetch_failed'), 1);
    assert.deepEqual(firesOn(policy, [4444]), [4444]);
  });

  it('data merged over the bundle (tuning) is kept across a swap, and can be changed on the running bundle', async (t) => {
    const file = join(tmp(t), 'bundle.tar.gz');
    writeFileSync(file, writeTarGz(variant('r1', [4444])));
    const { policy } = await start(t, file, { overlay: { palisade: { config: { denied_ports: [7777] } } } });
    assert.deepEqual(firesOn(policy, [4444, 7777]), [7777]);
    writeFileSync(file, writeTarGz(variant('r2', [9999])));
    assert.equal(await policy.poll(), 'activated');
    assert.equal(policy.revision, 'r2');
    assert.deepEqual(firesOn(policy, [4444, 7777, 9999]), [7777], 'the overlay still wins over the new bundle\'s data');
    await policy.setOverlay(undefined);
    assert.deepEqual(firesOn(policy, [4444, 7777, 9999]), [9999]);
  });

  it('a first bundle that cannot be loaded stops the start with its reason', async (t) => {
    const file = join(tmp(t), 'bundle.tar.gz');
    writeFileSync(file, 'garbage');
    await assert.rejects(start(t, file), (err: unknown) => (err as { reason?: string }).reason === 'corrupt');
    await assert.rejects(start(t, join(tmp(t), 'missing.tar.gz')), (err: unknown) => (err as { reason?: string }).reason === 'fetch_failed');
  });
});
