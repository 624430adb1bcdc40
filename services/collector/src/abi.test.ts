// The ABI registry (bpf/include/palisade.h) against everything that restates it: the generated ABI module, the
// proto contract, the TracingPolicy kinds, the Rego kinds of the policy build, and the counters a session reports.
// Adding a kind or counter to the registry without its other half fails here, naming what is missing.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { ABI } from '@palisade/common';
import { BpfSession } from './bpf-session.js';
import { EVENT_KIND_IDS, parseTracingPolicy } from './filter-policy.js';
import { needBpf } from './kernel-test-support.js';
import { abi, DEFAULT_ADDON_PATH } from './native.js';

const repo = (p: string): string => fileURLToPath(new URL(`../../../${p}`, import.meta.url));

test('the generated ABI module is what the addon exports now (regenerate: node scripts/gen-abi.mjs)', () => {
  assert.ok(existsSync(DEFAULT_ADDON_PATH), `the addon is not built at ${DEFAULT_ADDON_PATH}`);
  assert.deepEqual(abi(), ABI);
  assert.deepEqual(JSON.parse(readFileSync(repo('build/abi.json'), 'utf8')), ABI);
});

test('ids and names are unique, and kind ids fit the in-kernel kind mask', () => {
  for (const [what, ids] of [['kind id', ABI.kinds.map((k) => k.id)], ['kind name', ABI.kinds.map((k) => k.name)],
    ['op id', ABI.ops.map((o) => o.id)], ['counter', ABI.stats.map((s) => s.name)]] as const) {
    const seen = new Set<unknown>();
    for (const v of ids) {
      assert.ok(!seen.has(v), `duplicate ${what} ${String(v)}`);
      seen.add(v);
    }
  }
  for (const k of ABI.kinds) assert.ok(k.id >= 1 && k.id < ABI.constants.filterKinds, `kind ${k.name} id ${k.id}`);
  const kernel = ABI.stats.filter((s) => s.source === 'kernel').map((s) => s.id);
  assert.deepEqual(kernel, kernel.map((_, i) => i), 'kernel counter ids are the pal_stats indexes 0..n-1');
});

test('proto EventKind and the RawEvent payload oneof name exactly the registry kinds', () => {
  const root = new protobuf.Root().loadSync(repo('proto/palisade/v1/events.proto'), { keepCase: true });
  const values = root.lookupEnum('palisade.v1.EventKind').values;
  const expected: Record<string, number> = { EVENT_KIND_UNSPECIFIED: 0 };
  for (const k of ABI.kinds) expected[`EVENT_KIND_${k.cName}`] = k.id;
  assert.deepEqual({ ...values }, expected);
  const oneof = root.lookupType('palisade.v1.RawEvent').oneofs['payload'];
  assert.ok(oneof, 'RawEvent has no oneof payload');
  assert.deepEqual([...oneof.oneof].sort(), ABI.kinds.map((k) => k.name).sort(),
    'each kind is a RawEvent.payload field named like its registry row');
});

test('a TracingPolicy can name every registry kind, and only those', () => {
  assert.deepEqual(EVENT_KIND_IDS, Object.fromEntries(ABI.kinds.map((k) => [k.name, k.id])));
  const yaml = (kinds: string): string =>
    `apiVersion: palisade.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: t}\nspec:\n  kinds: [${kinds}]\n  selectors: []\n`;
  const all = parseTracingPolicy(yaml(ABI.kinds.map((k) => k.name).join(', ')));
  assert.deepEqual(all.filter.kinds, ABI.kinds.map((k) => k.id));
  assert.throws(() => parseTracingPolicy(yaml('exec, no_such_kind')), /no_such_kind/);
});

test('the policy build takes the registry kinds, and every built rule names only those', () => {
  const { rules } = JSON.parse(readFileSync(repo('build/policies/metadata.json'), 'utf8')) as
    { rules: { id: string; event_kinds: string[] }[] };
  assert.ok(rules.length > 0, 'no rules in build/policies/metadata.json');
  const names = new Set<string>(ABI.kinds.map((k) => k.name));
  for (const r of rules) for (const k of r.event_kinds) assert.ok(names.has(k), `${r.id} names unknown kind ${k}`);
  const script = readFileSync(repo('scripts/build-policies.mjs'), 'utf8');
  assert.match(script, /build\/abi\.json/, 'build-policies reads the registry, not a list of its own');
});

test('a session reports exactly the registry counters', (t) => {
  if (!needBpf(t)) return;
  const session = BpfSession.open();
  try {
    assert.deepEqual(Object.keys(session.stats()).sort(), ABI.stats.map((s) => s.name).sort());
  } finally {
    session.close();
  }
});

test('ids are append-only: every id in bpf/abi-ids.json keeps its number, and every registry id is recorded there', () => {
  const lock = JSON.parse(readFileSync(repo('bpf/abi-ids.json'), 'utf8')) as Record<'kinds' | 'ops' | 'stats', Record<string, number>>;
  const now = {
    kinds: Object.fromEntries(ABI.kinds.map((k) => [k.cName, k.id])),
    ops: Object.fromEntries(ABI.ops.map((o) => [o.cName, o.id])),
    stats: Object.fromEntries(ABI.stats.filter((s) => s.source === 'kernel').map((s) => [s.name, s.id])),
  };
  for (const table of ['kinds', 'ops', 'stats'] as const) {
    for (const [name, id] of Object.entries(lock[table])) {
      assert.equal(now[table][name], id, `${table} ${name} was ${id} in a release: never renumber or remove an id`);
    }
    const taken = new Set(Object.values(lock[table]));
    for (const [name, id] of Object.entries(now[table])) {
      if (name in lock[table]) continue;
      assert.ok(!taken.has(id), `${table} ${name} reuses id ${id}`);
      assert.fail(`${table} ${name} = ${id} is new: append it to bpf/abi-ids.json`);
    }
  }
});
