import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { pb } from '@palisade/common';
import { DEFAULT_POLICY_DIR } from '@palisade/evaluator';
import { PolicyEngine } from '@palisade/evaluator/dist/policy-engine.js';
import { buildEventMix, DEFAULT_MIX } from './event-mix.js';

test('the mix has the advertised shares of each kind and is the same for the same seed', () => {
  const events = buildEventMix({ count: 20_000, seed: 3 });
  const share = (kind: number): number => events.filter((e) => e.event?.kind === kind).length / events.length;
  assert.ok(Math.abs(share(pb.EventKind.EVENT_KIND_FILE_OPEN) - DEFAULT_MIX.file_open) < 0.02);
  assert.ok(Math.abs(share(pb.EventKind.EVENT_KIND_PROCESS_EXEC) - DEFAULT_MIX.exec) < 0.02);
  assert.ok(Math.abs(share(pb.EventKind.EVENT_KIND_NET_CONNECT) - DEFAULT_MIX.net_connect) < 0.02);
  assert.ok(Math.abs(share(pb.EventKind.EVENT_KIND_PROCESS_EXIT) - DEFAULT_MIX.exit) < 0.02);
  const t = 1_700_000_000_000_000_000;
  assert.deepEqual(buildEventMix({ count: 100, seed: 3, startUnixNano: t }), buildEventMix({ count: 100, seed: 3, startUnixNano: t }));
});

// The bench is only honest if the alert path (rule hit -> Alert message) is part of what it times.
test('with the shipped rules, the mix fires every rule and only on its suspicious share', async () => {
  const engine = await PolicyEngine.load({
    wasmPath: join(DEFAULT_POLICY_DIR, 'policy.wasm'), metadataPath: join(DEFAULT_POLICY_DIR, 'metadata.json'),
  });
  const events = buildEventMix({ count: 20_000, seed: 5, suspicious: 0.01 });
  const alerts = engine.evaluate(events, Date.now() * 1e6);
  // The rules whose attacks the mix's suspicious share holds (event-mix.ts: a shadow read, a shell from a server
  // that pipes curl into sh, a setuid su, a denied port). The library's other rules read these kinds too, but the mix
  // has none of their attacks, so they must stay silent.
  assert.deepEqual(new Set(alerts.map((a) => a.ruleId)), new Set(['PAL-001', 'PAL-003', 'PAL-004', 'PAL-006', 'PAL-033']));
  const benign = buildEventMix({ count: 5_000, seed: 5, suspicious: 0 });
  assert.deepEqual(engine.evaluate(benign, Date.now() * 1e6), []);
});
