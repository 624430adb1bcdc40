// The dedup windows on a clock the test holds: what is published at once, what is counted, what the update says.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pb, type palisade } from '@palisade/common';
import { AlertDeduper, dedupKeyOf, defaultKey } from './alert-dedup.js';

const T0 = 1_700_000_000_000;

function alert(n: number, over: { pod?: string; path?: string; rule?: string; key?: string; binary?: string; cgroup?: number } = {}): palisade.v1.IAlert {
  const rule = over.rule ?? 'PAL-001';
  const path = over.path ?? '/etc/shadow';
  return pb.Alert.create({
    id: `${rule}:node-a:${1000 + n}:${n}`, ruleId: rule, title: 't', severity: pb.Severity.SEVERITY_HIGH, actions: ['quarantine'],
    message: `cat (pid ${1000 + n}) opened ${path}`, ...(over.key !== undefined && { dedupKey: over.key }),
    event: {
      node: 'node-a',
      ...(over.pod !== undefined && { pod: { uid: over.pod, name: over.pod, namespace: 'shop' } }),
      event: {
        kind: pb.EventKind.EVENT_KIND_FILE_OPEN, process: { pid: 1000 + n, binary: over.binary ?? '/usr/bin/cat', cgroupId: over.cgroup ?? 7 },
        fileOpen: { path },
      },
    },
  });
}

describe('AlertDeduper', () => {
  it('1000 identical firings: the first published at once, 999 counted, one update with the count at the window end', () => {
    const d = new AlertDeduper({ windowMs: 60_000, maxKeys: 100 });
    const first = d.admit([alert(0, { pod: 'p1' })], T0);
    assert.equal(first.publish.length, 1);
    const rest = d.admit(Array.from({ length: 999 }, (_, i) => alert(i + 1, { pod: 'p1' })), T0 + 10_000);
    assert.equal(rest.publish.length, 0);
    assert.equal(rest.suppressed.length, 999);
    assert.equal(d.size, 1);
    assert.deepEqual(d.expire(T0 + 59_999), [], 'not before the window ends');
    assert.equal(d.nextDeadline(), T0 + 60_000);
    const [u, ...more] = d.expire(T0 + 60_000);
    assert.equal(more.length, 0);
    assert.ok(u);
    assert.equal(u.updateOf, first.publish[0]?.id);
    assert.equal(u.id, `${first.publish[0]?.id}/suppressed`);
    assert.equal(Number(u.suppressed), 999);
    assert.equal(u.dedupKey, 'PAL-001|p1|/usr/bin/cat|/etc/shadow');
    assert.equal(u.dedupWindowMs, 60_000);
    assert.equal(Number(u.firstSeenUnixNano), T0 * 1e6);
    assert.equal(Number(u.lastSeenUnixNano), (T0 + 10_000) * 1e6);
    assert.equal(u.event?.event?.process?.pid, 1999, 'the update carries the last counted event');
    assert.match(u.message ?? '', /^suppressed 999: PAL-001 fired 999 more times within 60 s after alert PAL-001:node-a:1000:0; the last: cat \(pid 1999\)/);
    assert.deepEqual(u.actions, ['quarantine']);
    assert.equal(d.size, 0);
    // After the window, the same firing is a new detection.
    assert.equal(d.admit([alert(2000, { pod: 'p1' })], T0 + 60_001).publish[0]?.updateOf, '');
  });

  it('a window that counted nothing ends without an update', () => {
    const d = new AlertDeduper({ windowMs: 1000, maxKeys: 10 });
    d.admit([alert(0, { pod: 'p1' })], T0);
    assert.deepEqual(d.expire(T0 + 1000), []);
    assert.equal(d.size, 0);
  });

  it('keys: pods apart, rules apart, what the event is about apart; the message (pid) never matters', () => {
    const d = new AlertDeduper({ windowMs: 60_000, maxKeys: 100 });
    const out = d.admit([
      alert(1, { pod: 'p1' }), alert(2, { pod: 'p2' }), alert(3, { pod: 'p1', rule: 'PAL-009' }),
      alert(4, { pod: 'p1', path: '/etc/gshadow' }), alert(5, { pod: 'p1', binary: '/usr/bin/python3' }),
      alert(6, { pod: 'p1' }), alert(7, { cgroup: 8 }), alert(8, { cgroup: 9 }), alert(9, { cgroup: 8 }),
    ], T0);
    assert.deepEqual(out.publish.map((a) => a.event?.event?.process?.pid), [1001, 1002, 1003, 1004, 1005, 1007, 1008]);
    assert.deepEqual(out.suppressed.map((a) => a.event?.event?.process?.pid), [1006, 1009]);
    assert.equal(dedupKeyOf(alert(7, { cgroup: 8 })), 'PAL-001|node-a/cgroup/8|/usr/bin/cat|/etc/shadow');
  });

  it('a rule-given key replaces the default key', () => {
    const d = new AlertDeduper({ windowMs: 60_000, maxKeys: 100 });
    const out = d.admit([
      alert(1, { pod: 'p1', path: '/a', key: 'k' }), alert(2, { pod: 'p1', path: '/b', key: 'k' }), alert(3, { pod: 'p1', path: '/c', key: 'other' }),
    ], T0);
    assert.deepEqual(out.publish.map((a) => a.dedupKey), ['PAL-001|p1|k', 'PAL-001|p1|other']);
    assert.equal(out.suppressed.length, 1);
  });

  it('defaultKey per kind', () => {
    const ev = (event: palisade.v1.IRawEvent): palisade.v1.IEnrichedEvent => ({ event });
    assert.equal(defaultKey(ev({ process: { comm: 'nc' }, netConnect: { daddr: '1.2.3.4', dport: 4444 } })), 'nc|1.2.3.4:4444');
    assert.equal(defaultKey(ev({ process: { binary: '/bin/bash' }, exec: { filename: '/bin/sh' } })), '/bin/bash|/bin/sh');
    assert.equal(defaultKey(ev({ process: { binary: '/x' }, dnsQuery: { name: 'pool.example' } })), '/x|pool.example');
    assert.equal(defaultKey(ev({ kind: pb.EventKind.EVENT_KIND_PTRACE, process: { binary: '/x' }, ptrace: { targetPid: 9 } })), '/x|EVENT_KIND_PTRACE');
  });

  it('bounded: a new key beyond maxKeys closes the oldest window early with its count, never drops it', () => {
    const d = new AlertDeduper({ windowMs: 60_000, maxKeys: 2 });
    d.admit([alert(1, { pod: 'p1' }), alert(2, { pod: 'p1' }), alert(3, { pod: 'p1' })], T0);
    d.admit([alert(4, { pod: 'p2' })], T0 + 1);
    const out = d.admit([alert(5, { pod: 'p3' })], T0 + 2);
    assert.equal(d.size, 2);
    assert.equal(out.publish.length, 2);
    const [u, a] = out.publish;
    assert.equal(u?.updateOf, 'PAL-001:node-a:1001:1');
    assert.equal(Number(u?.suppressed), 2);
    assert.ok(u && out.overflowed.has(u));
    assert.equal(a?.event?.pod?.uid, 'p3');
    // p2's window had nothing to report: closing it for p4 publishes only p4.
    assert.deepEqual(d.admit([alert(6, { pod: 'p4' })], T0 + 3).publish.map((x) => x.event?.pod?.uid), ['p4']);
  });

  it('drain closes every window with its count (shutdown)', () => {
    const d = new AlertDeduper({ windowMs: 60_000, maxKeys: 10 });
    d.admit([alert(1, { pod: 'p1' }), alert(2, { pod: 'p1' }), alert(3, { pod: 'p2' })], T0);
    const out = d.drain(T0 + 5);
    assert.deepEqual(out.map((u) => [u.event?.pod?.uid, Number(u.suppressed)]), [['p1', 1]]);
    assert.equal(d.size, 0);
  });

  it('window 0 or maxKeys 0: dedup off, everything published as it is', () => {
    for (const opts of [{ windowMs: 0, maxKeys: 10 }, { windowMs: 1000, maxKeys: 0 }]) {
      const d = new AlertDeduper(opts);
      const out = d.admit([alert(1, { pod: 'p1' }), alert(2, { pod: 'p1' })], T0);
      assert.equal(out.publish.length, 2);
      assert.equal(out.publish[0]?.dedupKey, '');
      assert.equal(d.size, 0);
    }
  });
});
