// values.schema.json refuses bad values before anything renders: one case per class of mistake, each asserting that
// helm's message names the field (its JSON pointer) and what is wrong, so a user can fix the value from the error.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipUnless } from '@palisade/common/testing';
import { CHART_DIR, helmTemplate, helmUnavailableReason } from '../support/helm.js';

const why = helmUnavailableReason();
const opts = { skip: skipUnless(why === undefined, why ?? '') };

interface Case { what: string; values: Record<string, unknown>; field: string; says: RegExp }

const CASES: Case[] = [
  { what: 'a string where a number goes', values: { collector: { metricsPort: '9464' } }, field: '/collector/metricsPort', says: /got string, want integer/ },
  { what: 'a fraction where an integer goes', values: { enricher: { replicas: 1.5 } }, field: '/enricher/replicas', says: /want integer/ },
  { what: 'a number where a boolean goes', values: { responder: { dryRun: 0 } }, field: '/responder/dryRun', says: /want boolean/ },
  { what: 'a string where a list goes', values: { kafka: { brokers: 'a:9092,b:9092' } }, field: '/kafka/brokers', says: /got string, want array/ },
  { what: 'an unknown key at the top', values: { replicas: 3 }, field: "additional properties 'replicas' not allowed", says: /additional properties/ },
  { what: 'an unknown key in a stage (a typo)', values: { evaluator: { replica: 3 } }, field: '/evaluator', says: /additional properties 'replica' not allowed/ },
  { what: 'an unknown key deep down', values: { kafka: { tls: { caFile: '/x' } } }, field: '/kafka/tls', says: /additional properties 'caFile' not allowed/ },
  { what: 'a port above 65535', values: { responder: { metricsPort: 70000 } }, field: '/responder/metricsPort', says: /maximum: got 70,000, want 65,535/ },
  { what: 'zero replicas', values: { evaluator: { replicas: 0 } }, field: '/evaluator/replicas', says: /minimum: got 0, want 1/ },
  { what: 'a negative PDB budget', values: { enricher: { pdbMaxUnavailable: -1 } }, field: '/enricher/pdbMaxUnavailable', says: /minimum: got -1, want 0/ },
  { what: 'a ring buffer below a page', values: { collector: { ringBufferBytes: 100 } }, field: '/collector/ringBufferBytes', says: /minimum: got 100, want 4,096/ },
  { what: 'an unknown pull policy', values: { image: { pullPolicy: 'Sometimes' } }, field: '/image/pullPolicy', says: /value must be one of 'Always', 'IfNotPresent', 'Never'/ },
  { what: 'an unknown SASL mechanism', values: { kafka: { sasl: { mechanism: 'GSSAPI' } } }, field: '/kafka/sasl/mechanism', says: /value must be one of 'scram-sha-512', 'scram-sha-256', 'plain'/ },
  { what: 'an unknown log level', values: { logLevel: 'verbose' }, field: '/logLevel', says: /value must be one of/ },
  { what: 'an unknown buffer mode', values: { collector: { bufferMode: 'pipe' } }, field: '/collector/bufferMode', says: /value must be one of 'ringbuf', 'perfbuf'/ },
  { what: 'a capability the collector is not meant to hold', values: { collector: { capabilities: ['BPF', 'SYS_MODULE'] } }, field: '/collector/capabilities/1', says: /value must be one of/ },
  { what: 'privileged as the collector\'s capability list', values: { collector: { capabilities: 'privileged' } }, field: '/collector/capabilities', says: /want array/ },
  { what: 'a Pod Security enforce level that would refuse the collector', values: { namespace: { podSecurity: { enforce: 'baseline' } } }, field: '/namespace/podSecurity/enforce', says: /value must be 'privileged'|const/ },
  { what: 'a malformed image repository (upper case, a tag in it)', values: { image: { repository: 'GHCR.io/Palisade:1.0' } }, field: '/image/repository', says: /does not match pattern/ },
  { what: 'a malformed digest', values: { image: { digest: 'sha256:abc' } }, field: '/image/digest', says: /does not match pattern/ },
  { what: 'a malformed tag', values: { image: { tag: 'v1 beta' } }, field: '/image/tag', says: /does not match pattern/ },
  { what: 'a broker without a port', values: { kafka: { brokers: ['kafka.svc'] } }, field: '/kafka/brokers/0', says: /does not match pattern/ },
  { what: 'no brokers at all', values: { kafka: { brokers: [] } }, field: '/kafka/brokers', says: /minItems/ },
  { what: 'a relative host path', values: { collector: { hostPaths: { btf: 'sys/kernel/btf' } } }, field: '/collector/hostPaths/btf', says: /does not match pattern/ },
  { what: 'a Secret name that is not a DNS name', values: { kafka: { tls: { caSecret: 'Kafka_CA' } } }, field: '/kafka/tls/caSecret', says: /does not match pattern/ },
  { what: 'a resource quantity that is no quantity', values: { enricher: { resources: { limits: { memory: '1 gig' } } } }, field: '/enricher/resources/limits/memory', says: /oneOf|does not match pattern/ },
  { what: 'a toleration with an unknown operator', values: { collector: { tolerations: [{ operator: 'Maybe' }] } }, field: '/collector/tolerations/0/operator', says: /value must be one of 'Exists', 'Equal'/ },
];

for (const c of CASES) {
  test(`the schema refuses ${c.what}, naming ${c.field}`, opts, () => {
    const r = helmTemplate({ values: c.values });
    assert.notEqual(r.status, 0, `rendered although ${JSON.stringify(c.values)} is bad`);
    assert.match(r.stderr, /values don't meet the specifications of the schema/);
    const line = r.stderr.split('\n').find((l) => l.includes(c.field));
    assert.ok(line !== undefined, `no error line names ${c.field}:\n${r.stderr}`);
    assert.match(r.stderr, c.says);
  });
}

test('the schema is strict everywhere: every object refuses unknown keys, every value has a type and a description', opts, () => {
  const schema = JSON.parse(readFileSync(join(CHART_DIR, 'values.schema.json'), 'utf8')) as Node;
  interface Node { type?: string; oneOf?: Node[]; description?: string; additionalProperties?: unknown; properties?: Record<string, Node>; items?: Node }
  const walk = (n: Node, at: string, leafNeedsDoc: boolean): void => {
    if (leafNeedsDoc) assert.ok(n.description !== undefined && n.description.length > 0, `${at}: no description`);
    assert.ok(n.type !== undefined || n.oneOf !== undefined, `${at}: no type`);
    if (n.type === 'object' && n.properties !== undefined) {
      assert.equal(n.additionalProperties, false, `${at}: additionalProperties must be false`);
      for (const [k, v] of Object.entries(n.properties)) walk(v, `${at}/${k}`, leafNeedsDoc);
    }
    if (n.items !== undefined) walk(n.items, `${at}/items`, false);
  };
  walk({ ...schema, description: 'root' }, '', true);
});

test('values that are right pass: a registry with a port, a digest, Exists and Equal tolerations, quantities as numbers', opts, () => {
  const r = helmTemplate({ values: {
    image: { repository: 'registry.example:5000/sec/palisade', digest: `sha256:${'a'.repeat(64)}` },
    collector: { tolerations: [{ operator: 'Exists' }, { key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' }] },
    enricher: { resources: { requests: { cpu: 0.5, memory: '300Mi' }, limits: { cpu: 2, memory: '1.5Gi' } } },
  } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`image: registry.example:5000/sec/palisade@sha256:${'a'.repeat(64)}`));
});
