// The alert lines embedded mode prints: what users grep and pipe into jq.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pb, type palisade } from '@palisade/common';
import { alertToJson } from './alert-json.js';

const t0 = 1_700_000_000_123_456_000;

function sampleAlert(): palisade.v1.IAlert {
  return {
    id: 'PAL-001:node-1:42:1700000000123456000', ruleId: 'PAL-001', title: 'Shadow file read',
    severity: pb.Severity.SEVERITY_HIGH, mitreTechnique: 'T1003.008', actions: ['quarantine'],
    message: 'cat read /etc/shadow', timeUnixNano: t0 + 1_000,
    event: {
      node: 'node-1', status: pb.EnrichmentStatus.ENRICHMENT_STATUS_ENRICHED,
      pod: { namespace: 'shop', name: 'web-1', uid: 'uid-1', labels: { app: 'web' }, owner: { kind: 'Deployment', name: 'web' } },
      event: {
        kind: pb.EventKind.EVENT_KIND_FILE_OPEN, timeUnixNano: t0,
        process: { pid: 42, comm: 'cat', cgroupId: 12345 },
        fileOpen: { path: '/etc/shadow', result: 3 },
      },
    },
  };
}

test('an alert is one line of JSON with proto3 JSON names and enums as their names', () => {
  const line = alertToJson(sampleAlert());
  assert.ok(!line.includes('\n'), 'one alert, one line');
  const j = JSON.parse(line);
  assert.equal(j.ruleId, 'PAL-001');
  assert.equal(j.mitreTechnique, 'T1003.008');
  assert.equal(j.severity, 'SEVERITY_HIGH');
  assert.equal(j.event.status, 'ENRICHMENT_STATUS_ENRICHED');
  assert.equal(j.event.event.kind, 'EVENT_KIND_FILE_OPEN');
  assert.deepEqual(j.actions, ['quarantine']);
  assert.deepEqual(j.event.pod.labels, { app: 'web' });
  assert.deepEqual(j.event.pod.owner, { kind: 'Deployment', name: 'web' });
  assert.equal(j.event.event.fileOpen.path, '/etc/shadow');
  assert.equal(j.event.event.process.comm, 'cat');
});

test('64-bit fields print as numbers, and unset fields are omitted', () => {
  const j = JSON.parse(alertToJson(sampleAlert()));
  assert.equal(typeof j.event.event.timeUnixNano, 'number');
  assert.equal(j.event.event.process.cgroupId, 12345);
  assert.equal(j.event.event.fileOpen.flags, undefined);
  assert.equal(j.event.event.fileOpen.result, 3);
  assert.equal(j.event.event.process.tid, undefined);
});

test('a decoded alert prints the same as the object it came from', () => {
  const a = sampleAlert();
  const decoded = pb.Alert.decode(pb.Alert.encode(a).finish());
  assert.equal(alertToJson(decoded), alertToJson(a));
});

test('an enum value this build does not know still prints, as its number', () => {
  const a = { ...sampleAlert(), severity: 9 as palisade.v1.Severity };
  const j = JSON.parse(alertToJson(a));
  assert.equal(j.severity, 9);
});
