// The per-principal ACLs on a real broker (SASL_SSL, StandardAuthorizer): applied with `palisade kafka-acls --apply`
// as the admin, then each stage's principal, connected exactly as its service connects (the shared config keys through
// createBus), may write its own outputs and nothing else.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  TOPICS, aclPlan, commonKeys, createBus, createLogger, errorCode, loadConfig, stageUser, type Bus, type StageName,
} from '@palisade/common';
import { skipUnless, waitFor } from '@palisade/common/testing';
import { runKafkaAcls } from '@palisade/cli/dist/kafka-acls.js';
import { secureKafkaUnavailableReason, startKafka, type RunningKafka } from './broker.js';

const missing = secureKafkaUnavailableReason();
const skip = skipUnless(missing === undefined, `needs Kafka and openssl: ${missing ?? ''}`);
const STAGE_USERS = (['collector', 'enricher', 'evaluator', 'responder'] as StageName[]).map((s) => stageUser(s));

let kafka: RunningKafka | undefined;
const buses: Bus[] = [];
const quiet = createLogger({ level: 'error', base: { test: 'acl' } });

/** A bus connected as a service with these flags would connect. */
function busFor(argv: string[], brokers?: string[]): Bus {
  const cfg = loadConfig(commonKeys, { argv: ['--kafka', (brokers ?? kafka?.brokers ?? []).join(','), ...argv], env: {} });
  const bus = createBus({ brokers: cfg.kafka, clientId: 'acl-test', logger: quiet, security: cfg });
  buses.push(bus);
  return bus;
}
const as = (user: string): Bus => busFor(kafka?.security?.serviceArgs(user) ?? []);

async function sendError(bus: Bus, topic: string): Promise<string | undefined> {
  try {
    await bus.producer().send(topic, [{ key: 'k', value: Buffer.from('acl test') }]);
    return undefined;
  } catch (err) {
    return errorCode(err);
  }
}

before(async () => {
  if (skip) return;
  kafka = await startKafka({ secure: { users: STAGE_USERS } });
  const sec = kafka.security;
  assert.ok(sec);
  const lines: string[] = [];
  await runKafkaAcls({ argv: ['--apply', '--kafka', kafka.brokers.join(','), ...sec.serviceArgs('admin')], env: {} },
    (l) => lines.push(l));
  assert.match(lines.join('\n'), /"kafka acls applied"/);
});

after(async () => {
  for (const b of buses) await b.close().catch(() => undefined);
  await kafka?.stop();
});

describe('per-principal topic ACLs on a SASL_SSL broker', { skip }, () => {
  test('each stage may write its own outputs and the dead-letter topic', async () => {
    const own: Record<string, string> = {
      'palisade-collector': TOPICS.raw, 'palisade-enricher': TOPICS.enriched,
      'palisade-evaluator': TOPICS.alerts, 'palisade-responder': TOPICS.actions,
    };
    for (const [user, topic] of Object.entries(own)) {
      const bus = as(user);
      assert.equal(await sendError(bus, topic), undefined, `${user} -> ${topic}`);
      assert.equal(await sendError(bus, TOPICS.deadLetter), undefined, `${user} -> dead letters`);
      assert.ok(await bus.maxMessageBytes(topic) > 0);
    }
  });

  test('a collector cannot write palisade.alerts; only the evaluator can', async () => {
    assert.equal(await sendError(as('palisade-collector'), TOPICS.alerts), 'BUS_FORBIDDEN');
    assert.equal(await sendError(as('palisade-enricher'), TOPICS.alerts), 'BUS_FORBIDDEN');
    assert.equal(await sendError(as('palisade-responder'), TOPICS.alerts), 'BUS_FORBIDDEN');
    assert.equal(await sendError(as('palisade-evaluator'), TOPICS.alerts), undefined);
  });

  test('an enricher cannot write actions, nor forge raw events; an evaluator cannot write actions', async () => {
    assert.equal(await sendError(as('palisade-enricher'), TOPICS.actions), 'BUS_FORBIDDEN');
    assert.equal(await sendError(as('palisade-enricher'), TOPICS.raw), 'BUS_FORBIDDEN');
    assert.equal(await sendError(as('palisade-evaluator'), TOPICS.actions), 'BUS_FORBIDDEN');
    assert.equal(await sendError(as('palisade-collector'), TOPICS.enriched), 'BUS_FORBIDDEN');
  });

  test('a stage reads only its input, in its own group', async () => {
    // The enricher's principal subscribing to alerts (in its own group) is refused by the broker.
    let refused: unknown;
    void as('palisade-enricher').consume({
      groupId: 'palisade-enricher', topics: [TOPICS.alerts], handler: async () => { throw new Error('read alerts'); },
      onFatal: (e) => { refused = e; },
    }).catch((e: unknown) => { refused = e; });
    const err = await waitFor('the refused subscription', () => refused, { timeoutMs: 60_000 });
    assert.match(String((err as Error).message ?? err), /authoriz/i);
    // Its own input in its own group is fine: the consumer joins (no fatal error) and reads what the collector wrote.
    assert.equal(await sendError(as('palisade-collector'), TOPICS.raw), undefined);
    const got: string[] = [];
    const ok = await as('palisade-enricher').consume({
      groupId: 'palisade-enricher', topics: [TOPICS.raw],
      handler: async (batch) => { for (const m of batch) got.push(m.value.toString()); },
      onFatal: (e) => got.push(`fatal: ${String(e)}`),
    });
    await waitFor('the collector\'s record, read by the enricher', () => got.includes('acl test') || got.find((g) => g.startsWith('fatal')),
      { timeoutMs: 60_000 });
    assert.deepEqual(got.filter((g) => g.startsWith('fatal')), []);
    await ok.stop();
  });

  test('a wrong password is refused at connect with BUS_FORBIDDEN, not retried as an outage', async () => {
    const bus = busFor(['--kafka-security-protocol', 'SASL_SSL', '--kafka-ca-file', kafka?.security?.caFile ?? '',
      '--kafka-username', 'palisade-collector', '--kafka-password', 'wrong']);
    await assert.rejects(bus.connect(), (err: unknown) => errorCode(err) === 'BUS_FORBIDDEN');
  });

  test('mutual TLS: a client certificate\'s CN is the principal, under the same ACLs', async () => {
    const sec = kafka?.security;
    assert.ok(sec);
    const cert = sec.issueClientCert('palisade-collector');
    const bus = busFor(['--kafka-security-protocol', 'SSL', '--kafka-ca-file', sec.caFile, '--kafka-cert-file', cert.certFile,
      '--kafka-key-file', cert.keyFile], sec.mtlsBrokers);
    assert.equal(await sendError(bus, TOPICS.raw), undefined);
    assert.equal(await sendError(bus, TOPICS.alerts), 'BUS_FORBIDDEN');
  });

  test('the plan grants no principal more than its row: nobody but the evaluator on alerts', () => {
    const writers = aclPlan().filter((g) => g.name === TOPICS.alerts && g.operation === 'WRITE').map((g) => g.principal);
    assert.deepEqual(writers, ['User:palisade-evaluator']);
    const actionWriters = aclPlan().filter((g) => g.name === TOPICS.actions && g.operation === 'WRITE').map((g) => g.principal);
    assert.deepEqual(actionWriters, ['User:palisade-responder']);
  });
});
